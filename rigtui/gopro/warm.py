"""A camera's warm connection: one open HTTP/1.1 socket for the requests that must be quick or must
reach every camera at the same moment (state, keep-alive, shutter, date and time).

A request through a full HTTP client stack costs a few hundred microseconds of Python before its
bytes leave; across a hundred cameras that is tens of milliseconds of start skew. Here requests are
serialized (by h11) before a release, and the release is one tight loop of transport writes.
Replies are parsed by h11 afterwards, with a cap on every reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import h11

from rigtui.gopro.errors import CameraError, CameraOffline, CameraProtocolError, CameraTimeout

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
READ_BLOCK = 64 * 1024


@dataclass(frozen=True)
class WarmReply:
    status: int
    body: bytes


class WarmConnection:
    """One camera's warm socket; one request in flight at a time (`lock`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.address = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.lock = asyncio.Lock()  # replies must not interleave

    @property
    def is_open(self) -> bool:
        return (
            self._writer is not None
            and self._reader is not None
            and not self._writer.is_closing()
            and not self._reader.at_eof()
        )

    async def ensure_open(self, timeout: float) -> None:
        if self.is_open:
            return
        await self.close()
        try:
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        except (OSError, TimeoutError) as exc:
            raise CameraOffline(f"{self.address} unreachable ({type(exc).__name__})") from None
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)

    def prepare(self, target: str) -> bytes:
        """The bytes of a GET for `target`, ready to be written (the connection must be open and idle)."""
        request = h11.Request(
            method="GET", target=target, headers=[("Host", self.address), ("Accept", "application/json")]
        )
        return self._http.send(request) + self._http.send(h11.EndOfMessage())  # type: ignore[operator]

    def write(self, data: bytes) -> int:
        """Hand prepared bytes to the socket now (no await); returns time.time_ns() just after."""
        if self._writer is None:
            raise CameraOffline(f"{self.address}: no open connection")
        self._writer.write(data)
        return time.time_ns()

    async def read_reply(self, timeout: float, max_body: int = MAX_BODY_BYTES) -> WarmReply:
        """The reply to the request written last; the connection closes on any failure."""
        try:
            return await asyncio.wait_for(self._read_reply(max_body), timeout)
        except TimeoutError:
            await self.close()
            raise CameraTimeout(f"no answer from {self.address} in time") from None
        except (OSError, h11.ProtocolError) as exc:
            await self.close()
            raise CameraOffline(f"{self.address}: connection lost ({type(exc).__name__})") from None
        except CameraError:
            await self.close()
            raise

    async def _read_reply(self, max_body: int) -> WarmReply:
        assert self._reader is not None
        status, body = 0, bytearray()
        while True:
            event = self._http.next_event()
            if event is h11.NEED_DATA:
                self._http.receive_data(await self._reader.read(READ_BLOCK))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > max_body:
                    raise CameraProtocolError(f"{self.address}: reply longer than {max_body} bytes")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("closed before the reply ended")
        if self._http.our_state is h11.DONE and self._http.their_state is h11.DONE:
            self._http.start_next_cycle()
        else:  # the camera asked to close (or spoke HTTP/1.0)
            await self.close()
        return WarmReply(status, bytes(body))

    async def request(self, target: str, timeout: float, max_body: int = MAX_BODY_BYTES) -> WarmReply:
        """Send one request and read its reply (keep-alives travel this way, keeping the link warm)."""
        async with self.lock:
            await self.ensure_open(timeout)
            self.write(self.prepare(target))
            return await self.read_reply(timeout, max_body)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass(frozen=True)
class Release:
    """What a release measured: when each request left, and the spread first to last."""

    sent_ns: dict[int, int]  # index in the released list -> time.time_ns() after its write
    first_ns: int
    last_ns: int
    replied_ns: dict[int, int]  # index -> time.time_ns() when its reply was complete

    @property
    def spread_ms(self) -> float:
        return (self.last_ns - self.first_ns) / 1e6

    def response_ms(self, index: int) -> float | None:
        """Time from a request's write to its complete reply."""
        if index not in self.replied_ns:
            return None
        return round((self.replied_ns[index] - self.sent_ns[index]) / 1e6, 3)


async def release(
    connections: list[WarmConnection],
    targets: list[str],
    *,
    timeout: float,
    connect_timeout: float,
    at: float | None = None,
    delays: list[float] | None = None,
) -> tuple[Release, list[WarmReply | CameraError]]:
    """Open every connection and prepare its request, write them all back to back (at `at`, a
    time.time(), if given; each request `delays[i]` seconds after the first, if given), then collect
    the replies. Per-camera failures come back in place of replies, never raised."""
    async with contextlib.AsyncExitStack() as stack:
        for connection in connections:
            await stack.enter_async_context(connection.lock)
        opened = await asyncio.gather(*(c.ensure_open(connect_timeout) for c in connections), return_exceptions=True)
        results: list[WarmReply | CameraError] = [
            r if isinstance(r, CameraError) else CameraOffline("not sent") for r in opened
        ]
        ready = {i: connections[i].prepare(targets[i]) for i, r in enumerate(opened) if r is None}
        if at is not None:
            await _sleep_until(at)
        sent: dict[int, int] = {}
        first = time.time_ns()
        for index in sorted(ready, key=lambda i: delays[i]) if delays else ready:
            if delays and delays[index] > 0:
                await _sleep_until(first / 1e9 + delays[index])
            sent[index] = connections[index].write(ready[index])
        last = max(sent.values(), default=first)
        replied: dict[int, int] = {}

        async def collect(index: int) -> None:
            try:
                results[index] = await connections[index].read_reply(timeout)
                replied[index] = time.time_ns()
            except CameraError as exc:
                results[index] = exc

        await asyncio.gather(*(collect(i) for i in sent))
    return Release(sent, first, last, replied), results


async def _sleep_until(when: float) -> None:
    """Sleep until time.time() reaches `when`; the last 2 ms are spun for precision."""
    remaining = when - time.time()
    if remaining > 0.002:
        await asyncio.sleep(remaining - 0.002)
    while time.time() < when:
        time.sleep(0)  # spin, letting other threads run
