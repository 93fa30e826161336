"""A fake camera for hostile-reply tests: a real HTTP server on a loopback address that answers
what rigtui asks (bring-up, state, keep-alive, shutter, presets, date/time, media list, downloads,
deletes) like a HERO12 with one video on its card, until a test swaps any endpoint's reply for a
hostile one. It records every request it gets.

Valid replies go through aiohttp. A hostile reply is written to the socket by hand (status line,
headers, body, then the connection closes), so it can break any rule: bodies longer than their
Content-Length, endless chunked bodies, gzip bombs, bytes that are not HTTP at all. Bodies that would
be large are generated block by block as the client reads them, never held in memory.

Only facts come from rigtui (protocol ids, preset titles); nothing of the simulator's camera logic.
"""

from __future__ import annotations

import asyncio
import errno
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from rigtui.gopro.protocol import MODEL_INFO, PresetGroup, Status

BLOCK = 64 * 1024
MODEL = MODEL_INFO["HERO12"]
VIDEO = "100GOPRO/GX010001.MP4"
THUMBNAIL = "100GOPRO/GX010001.THM"
CINEMATIC_TITLE_ID = 2  # PRESET_TITLES[2] == "Cinematic"


# -- hostile replies ----------------------------------------------------------------------------------
Blocks = Callable[[], AsyncIterator[bytes]]


@dataclass(frozen=True)
class Reply:
    """An HTTP reply written by hand. `body` is bytes or a factory of an async block iterator.
    `length`: the Content-Length to claim (None: the body's real length for bytes, chunked for a
    stream); `extra`: bytes sent after the body, beyond any framing."""

    body: bytes | Blocks = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    length: int | None = None
    extra: bytes = b""


@dataclass(frozen=True)
class NotHTTP:
    """Bytes that are not an HTTP reply, written as they are (forever, if `endless`), then the
    connection closes."""

    data: bytes
    endless: bool = False


Hostile = Reply | NotHTTP


def json_reply(value: object, status: int = 200) -> Reply:
    """`value` as JSON (Python's encoder: NaN and infinities come out as bare NaN / Infinity)."""
    return Reply(json.dumps(value).encode(), status)


def text_reply(text: str | bytes, status: int = 200) -> Reply:
    """A JSON body given as text, for what json.dumps cannot write (1e999, raw control bytes)."""
    return Reply(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text, status)


def nested(depth: int, around: tuple[bytes, bytes] = (b"", b"")) -> bytes:
    """`depth` nested arrays, placed between the two halves of `around`."""
    return around[0] + b"[" * depth + b"]" * depth + around[1]


def repeated(block: bytes, total: int | None) -> Blocks:
    """`block` over and over, `total` bytes in all (forever when None)."""

    async def blocks() -> AsyncIterator[bytes]:
        sent = 0
        while total is None or sent < total:
            piece = block if total is None else block[: total - sent]
            sent += len(piece)
            yield piece

    return blocks


def endless(block: bytes = b" " * BLOCK) -> Reply:
    """A chunked body that never ends."""
    return Reply(repeated(block, None))


def framed(head: bytes, block: bytes, count: int, tail: bytes) -> Reply:
    """`head`, `block` `count` times, `tail`, with an honest Content-Length; made as the client reads."""

    async def blocks() -> AsyncIterator[bytes]:
        yield head
        for _ in range(count):
            yield block
        yield tail

    return Reply(blocks, length=len(head) + count * len(block) + len(tail))


def padded_state(size: int) -> Reply:
    """A valid state reply of about `size` bytes (a huge string pads it)."""
    return framed(b'{"status":{"8":0,"10":0},"pad":"', b"x" * BLOCK, size // BLOCK, b'"}')


def dripping(every_s: float) -> Reply:
    """A reply whose body comes one byte every `every_s` seconds, forever."""

    async def blocks() -> AsyncIterator[bytes]:
        yield b"{"
        while True:
            await asyncio.sleep(every_s)
            yield b" "

    return Reply(blocks, length=1 << 20)


def gzip_bomb(expanded_mib: int = 8 << 10) -> Reply:
    """`Content-Encoding: gzip`, chunked: a valid gzip stream of `expanded_mib` MiB of zeros (8 GiB
    by default) in about 1/1000 of that. Zeros are compressed 1 MiB at a time with a full flush, so
    every MiB after the first compresses to the same bytes: one MiB is compressed, its bytes repeated
    as the client reads; the trailer's CRC is computed only if a client ever reads that far."""

    async def blocks() -> AsyncIterator[bytes]:
        zeros = bytes(1 << 20)
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        mib = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
        yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip header: deflate, no name, no time
        for _ in range(0, expanded_mib, 64):
            yield mib * 64
        crc = 0
        for _ in range(expanded_mib // 64 * 64):
            crc = zlib.crc32(zeros, crc)
        yield packer.flush(zlib.Z_FINISH) + struct.pack("<II", crc, (expanded_mib << 20) & 0xFFFFFFFF)

    return Reply(blocks, headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip")))


# -- the camera ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str


@dataclass
class HostileCamera:
    """A HERO12 on host:port (port 0: any free one). `hostile` maps "PATH", "METHOD PATH" or "*"
    to the reply that replaces the valid one (or to a function making it, called per request)."""

    host: str = "127.0.3.1"
    port: int = 0
    serial: str = "C3501999999901"
    files: dict[str, bytes] = field(
        default_factory=lambda: {VIDEO: bytes(range(256)) * 160, THUMBNAIL: b"\xff\xd8thumbnail\xff\xd9"}
    )
    hostile: dict[str, Hostile | Callable[[], Hostile]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    recording_since: float | None = None
    cre: int = field(default_factory=lambda: int(time.time()))

    _runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def deletes(self) -> list[Request]:
        return [r for r in self.requests if "delete" in r.path]

    async def __aenter__(self) -> HostileCamera:
        app = web.Application(middlewares=[self._middleware], handler_args={"access_log": None})
        routes: dict[str, Callable[[web.Request], Any]] = {
            "/gopro/camera/control/wired_usb": lambda r: {},
            "/gopro/camera/analytics/set_client_info": lambda r: {},
            "/gopro/version": lambda r: {"version": "2.0"},
            "/gopro/camera/info": lambda r: self.info(),
            "/gopro/media/turbo_transfer": lambda r: {},
            "/gopro/camera/state": lambda r: self.state(),
            "/gopro/camera/keep_alive": lambda r: {},
            "/gopro/camera/shutter/start": lambda r: self.shutter(True),
            "/gopro/camera/shutter/stop": lambda r: self.shutter(False),
            "/gopro/camera/presets/get": lambda r: self.presets(),
            "/gopro/camera/presets/load": lambda r: {},
            "/gopro/camera/presets/set_group": lambda r: {},
            "/gopro/camera/get_date_time": lambda r: self.date_time(),
            "/gopro/camera/set_date_time": lambda r: {},
            "/gopro/media/list": lambda r: self.media_list(),
            "/gopro/media/delete/file": lambda r: self.delete([r.query.get("path", "")]),
            "/gp/gpControl/command/storage/delete/group": lambda r: self.delete([r.query.get("p", "")]),
            "/gp/gpControl/command/storage/delete/all": lambda r: self.delete(list(self.files)),
        }
        for path, answer in routes.items():
            app.router.add_get(path, self._json(answer))
        app.router.add_get("/videos/DCIM/{directory}/{name}", self.download)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
        except OSError as exc:  # an OS that routes only 127.0.0.1
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            self.host = "127.0.0.1"
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- valid replies ----------------------------------------------------------------------------
    def info(self) -> dict[str, object]:
        return {
            "model_number": str(MODEL.model_number),
            "model_name": MODEL.info_name,
            "firmware_version": MODEL.firmware,
            "serial_number": self.serial,
            "ap_ssid": f"GP{self.serial[-8:]}",
            "ap_mac_addr": "065747046ceb",
        }

    def state(self) -> dict[str, object]:
        seconds = int(time.monotonic() - self.recording_since) if self.recording_since is not None else 0
        status = {
            Status.BATTERY_PRESENT: 1,
            Status.BATTERY_BARS: 4,
            Status.HOT: 0,
            Status.BUSY: 0,
            Status.ENCODING: int(self.recording_since is not None),
            Status.VIDEO_SECONDS: seconds,
            Status.SD_STATE: 0,
            Status.VIDEO_MINUTES_REMAINING: 300,
            Status.SD_REMAINING_KB: 50_000_000,
            Status.MIN_POLL_PERIOD_MS: 500,
            Status.BATTERY_PERCENT: 88,
            Status.COLD: 0,
            Status.USB_CONTROLLED: 1,
            Status.SD_CAPACITY_KB: 60_000_000,
        }
        return {"status": {str(k): v for k, v in status.items()}, "settings": {"2": 1, "3": 8, "121": 0}}

    def shutter(self, start: bool) -> dict[str, object]:
        if start and self.recording_since is None:
            self.recording_since = time.monotonic()
        elif not start:
            self.recording_since = None
        return {}

    def presets(self) -> dict[str, object]:
        preset = {"id": 65536, "mode": 12, "titleId": CINEMATIC_TITLE_ID, "customName": "", "settingArray": []}
        return {"presetGroupArray": [{"id": PresetGroup.VIDEO, "presetArray": [preset]}]}

    def date_time(self) -> dict[str, object]:
        now = datetime.now()
        return {"date": now.strftime("%Y_%m_%d"), "time": now.strftime("%H_%M_%S"), "tzone": 0, "dst": 0}

    def media_list(self) -> dict[str, object]:
        entries = [
            {"n": path.split("/")[1], "cre": str(self.cre), "mod": str(self.cre), "s": str(len(data)), "ls": "-1"}
            for path, data in self.files.items()
            if path.endswith(".MP4")
        ]
        return {"id": "1", "media": [{"d": "100GOPRO", "fs": entries}] if entries else []}

    def delete(self, paths: Iterable[str]) -> dict[str, object]:
        for path in paths:
            stem = path.rsplit(".", 1)[0]
            for name in [p for p in self.files if p.rsplit(".", 1)[0] == stem]:
                del self.files[name]
        return {}

    async def download(self, request: web.Request) -> web.Response:
        data = self.files.get(f"{request.match_info['directory']}/{request.match_info['name']}")
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _json(self, answer: Callable[[web.Request], object]) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(answer(request))

        return handler

    # -- hostile replies --------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        self.requests.append(Request(request.method, request.path, request.query_string))
        reply = (
            self.hostile.get(f"{request.method} {request.path}")
            or self.hostile.get(request.path)
            or self.hostile.get("*")
        )
        if reply is None:
            return await handler(request)
        if callable(reply):
            reply = reply()
        transport = request.transport
        assert transport is not None
        try:
            if isinstance(reply, NotHTTP):
                await _write(transport, reply.data)
                while reply.endless and not transport.is_closing():
                    await _write(transport, reply.data)
            else:
                await _send(transport, reply, head_only=request.method == "HEAD")
        except ConnectionError:
            pass
        finally:
            transport.close()
        return web.Response()  # never sent: the connection is closed


async def _write(transport: asyncio.BaseTransport, data: bytes) -> None:
    """Write, then wait while the client is behind (a body generated block by block stays small)."""
    assert isinstance(transport, asyncio.WriteTransport)
    if transport.is_closing():
        raise ConnectionResetError("the client left")
    transport.write(data)
    while transport.get_write_buffer_size() > 4 * BLOCK:
        if transport.is_closing():
            raise ConnectionResetError("the client left")
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)


async def _send(transport: asyncio.BaseTransport, reply: Reply, *, head_only: bool) -> None:
    streamed = callable(reply.body)
    length = reply.length if reply.length is not None or streamed else len(reply.body)  # type: ignore[arg-type]
    headers = [*list(reply.headers), ("Connection", "close")]
    headers.append(("Content-Length", str(length)) if length is not None else ("Transfer-Encoding", "chunked"))
    head = f"HTTP/1.1 {reply.status} Hostile\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    await _write(transport, head.encode("latin-1"))
    if head_only:
        return
    if callable(reply.body):
        async for block in reply.body():
            if block:
                await _write(transport, block if length is not None else b"%x\r\n%s\r\n" % (len(block), block))
        if length is None:
            await _write(transport, b"0\r\n\r\n")
    else:
        await _write(transport, reply.body)
    if reply.extra:
        await _write(transport, reply.extra)
