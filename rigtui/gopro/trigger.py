"""Warm raw connections for commands that must reach every camera at the same moment.

A request through a full HTTP client stack costs a few hundred microseconds of Python before its
bytes leave; across a hundred cameras that is tens of milliseconds of start skew. Here each camera
keeps one open socket (kept warm by the keep-alives it carries), requests are serialized before the
release, and the release is one tight loop of socket writes. Replies are read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass

from rigtui.gopro.client import CameraError, CameraOffline, CameraTimeout

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024


def serialize(host: str, port: int, target: str) -> bytes:
    """A complete HTTP/1.1 GET request for `target`."""
    return f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode("ascii")


@dataclass(frozen=True)
class RawReply:
    status: int
    body: bytes


class TriggerLink:
    """One camera's warm socket for released requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._fd: int | None = None
        self.lock = asyncio.Lock()  # one request in flight: replies must not interleave

    @property
    def is_open(self) -> bool:
        return (
            self._writer is not None
            and self._reader is not None
            and not self._writer.is_closing()
            and not self._reader.at_eof()
        )

    async def ensure_open(self, timeout: float = 2.0) -> None:
        if self.is_open:
            return
        await self.close()
        try:
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        except (OSError, TimeoutError) as exc:
            raise CameraOffline(f"{self.host}:{self.port} unreachable ({type(exc).__name__})") from None

    def send(self, request: bytes) -> int:
        """Write a serialized request now (no await); returns time.time_ns() just after the write.

        With nothing queued in the transport, the bytes go straight to the socket (os.write on its
        descriptor): the asyncio write path costs several times more, and at a release every
        microsecond per camera adds to the start skew."""
        writer = self._writer
        if writer is None:
            raise CameraOffline(f"{self.host}:{self.port}: no open connection")
        written = 0
        if writer.transport.get_write_buffer_size() == 0 and self._fd is not None:
            try:
                written = os.write(self._fd, request)
            except (BlockingIOError, InterruptedError):
                written = 0
        if written < len(request):
            writer.write(request[written:])
        return time.time_ns()

    async def read_reply(self, timeout: float) -> RawReply:
        try:
            return await asyncio.wait_for(self._read_reply(), timeout)
        except TimeoutError:
            await self.close()
            raise CameraTimeout(f"no answer from {self.host}:{self.port} in time") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.close()
            raise CameraOffline(f"{self.host}:{self.port}: connection lost ({type(exc).__name__})") from None

    async def _read_reply(self) -> RawReply:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            raise ValueError("header too long")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError("bad status line")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            length = int(headers.get("content-length", "0"))
            if not 0 <= length <= MAX_BODY_BYTES:
                raise ValueError("body too large")
            body = await self._reader.readexactly(length)
        if headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            await self.close()
        return RawReply(int(parts[1]), body)

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        body = b""
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return body
            body += await self._reader.readexactly(size)
            await self._reader.readexactly(2)
            if len(body) > MAX_BODY_BYTES:
                raise ValueError("body too large")

    async def request(self, request: bytes, timeout: float) -> RawReply:
        """Send one request and read its reply (keep-alives travel this way, keeping the link warm)."""
        async with self.lock:
            await self.ensure_open()
            self.send(request)
            return await self.read_reply(timeout)

    async def close(self) -> None:
        writer, self._writer, self._reader, self._fd = self._writer, None, None, None
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


async def fire(
    links: list[TriggerLink], requests: list[bytes], *, timeout: float, release_at: float | None = None
) -> tuple[Release, list[RawReply | Exception]]:
    """Open every link, write all requests back to back (at `release_at`, a time.time(), if given),
    then collect the replies. Per-link failures are returned in place of replies, never raised."""
    async with contextlib.AsyncExitStack() as stack:
        for link in links:
            await stack.enter_async_context(link.lock)
        opened = await asyncio.gather(*(link.ensure_open() for link in links), return_exceptions=True)
        if release_at is not None:
            await _sleep_until(release_at)
        sent: dict[int, int] = {}
        results: list[RawReply | Exception] = [
            r if isinstance(r, Exception) else CameraOffline("not sent") for r in opened
        ]
        first = time.time_ns()
        for index, link in enumerate(links):
            if opened[index] is None:
                try:
                    sent[index] = link.send(requests[index])
                except (OSError, CameraOffline) as exc:
                    results[index] = exc
        last = max(sent.values(), default=first)
        replied: dict[int, int] = {}

        async def collect(index: int) -> None:
            try:
                results[index] = await links[index].read_reply(timeout)
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
