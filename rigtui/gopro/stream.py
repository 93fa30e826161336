"""A download's own connection: one GET, its head and body framed by h11, the body read in large blocks.

Downloads are where an offload spends its time. Through a general HTTP client every 64 KiB of body
passes several layers of Python; here each read takes what the socket holds (up to a block), h11
still frames the body (length, chunks, a close), every read has its own time limit, and the head
is capped. Transport failures become CameraOffline / CameraTimeout, as on every other path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11

from rigtui.gopro.errors import CameraOffline, CameraTimeout

MAX_HEAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class Head:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value


@contextlib.asynccontextmanager
async def get_stream(
    host: str, port: int, target: str, headers: list[tuple[str, str]], *, connect_s: float, read_s: float, block: int
) -> AsyncIterator[tuple[Head, AsyncIterator[bytes]]]:
    """GET `target` on a connection of its own (closed when the block ends): the reply's head, and
    its body block by block."""
    address = f"{host}:{port}"
    try:
        async with asyncio.timeout(connect_s):
            reader, writer = await asyncio.open_connection(host, port, limit=block)  # pauses at 2 blocks
    except (OSError, TimeoutError) as exc:
        raise CameraOffline(f"{address} unreachable ({type(exc).__name__})") from None
    http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    request = h11.Request(
        method="GET",
        target=target,
        headers=[("Host", address), ("Accept-Encoding", "identity"), ("Connection", "close"), *headers],
    )
    try:
        writer.write(http.send(request) + http.send(h11.EndOfMessage()))  # type: ignore[operator]
        events = _events(http, reader, read_s, block, address)
        async with contextlib.aclosing(events):
            first = await anext(events)
            if not isinstance(first, h11.Response):
                raise CameraOffline(f"{address}: connection lost before the reply")
            names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in first.headers}
            yield Head(first.status_code, names), _body(events, address)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _events(
    http: h11.Connection, reader: asyncio.StreamReader, read_s: float, block: int, address: str
) -> AsyncIterator[object]:
    while True:
        try:
            event = http.next_event()
            if event is h11.NEED_DATA:
                async with asyncio.timeout(read_s):
                    http.receive_data(await reader.read(block))
                continue
        except TimeoutError:
            raise CameraTimeout(f"no answer from {address} in time (read)") from None
        except (h11.RemoteProtocolError, OSError) as exc:  # garbage or a cut body: retried like a drop
            raise CameraOffline(f"{address} unreachable ({type(exc).__name__})") from None
        yield event


async def _body(events: AsyncIterator[object], address: str) -> AsyncIterator[bytes]:
    async for event in events:
        if isinstance(event, h11.Data):
            yield event.data
        elif isinstance(event, h11.EndOfMessage):
            return
        elif isinstance(event, h11.ConnectionClosed):
            break
    raise CameraOffline(f"{address}: connection lost (the reply ended early)")
