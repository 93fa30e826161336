"""One camera's Open GoPro client: every endpoint path rigtui uses, one connection policy, typed
replies and typed errors.

Two connections per camera, both owned here: a warm socket (gopro/warm.py) for the hot paths
(state, keep-alive, shutter, date and time) and a pooled httpx client for the rest (settings,
presets, the media list) and for downloads. Every reply is capped in size; nothing a camera sends
can crash the caller: transport failures, bad status codes and replies that are not the JSON we
expect all become CameraError subclasses with a one-line reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from rigtui.gopro.errors import (
    CameraHTTPError,
    CameraOffline,
    CameraProtocolError,
    CameraTimeout,
)
from rigtui.gopro.protocol import DEFAULT_PORT, OGP_VERSION, Status
from rigtui.gopro.replies import (
    DateTime,
    Ignored,
    Info,
    MediaListing,
    Presets,
    State,
    Version,
    decode,
)
from rigtui.gopro.stream import get_stream
from rigtui.gopro.warm import WarmConnection, WarmReply
from rigtui.text import shown

T = TypeVar("T")


MAX_REPLY_BYTES = 1024 * 1024
MAX_MEDIA_LIST_BYTES = 32 * 1024 * 1024  # thousands of files on a big card
MAX_DOWNLOADS = 8  # [offload] per_camera allows at most this many at once
DOWNLOAD_BLOCK = 1 << 20


@dataclass(frozen=True)
class ClientPolicy:
    """How long to wait for a camera, for commands and for downloads."""

    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    media_list_timeout_s: float = 30.0
    erase_timeout_s: float = 60.0
    download_read_timeout_s: float = 20.0


@dataclass(frozen=True)
class CameraState:
    """/gopro/camera/state with integer keys; values the client does not understand are dropped."""

    status: dict[int, int | str] = field(default_factory=dict)
    settings: dict[int, int] = field(default_factory=dict)

    def flag(self, status_id: int) -> bool:
        return self.status.get(status_id) == 1

    def number(self, status_id: int) -> int | None:
        value = self.status.get(status_id)
        return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Preset:
    id: int
    title_id: int | None
    mode: int | None
    custom_name: str


@dataclass(frozen=True)
class MediaStream:
    """A download in flight: the camera's status code and its body, block by block."""

    status: int
    blocks: AsyncIterator[bytes]


# Status values are whole numbers or short strings; anything else (or out of this range) is dropped.
STATUS_RANGE = (-(2**31), 2**63 - 1)
# The statuses rigtui acts on, and what their values can mean; a value outside its range is dropped.
STATUS_RANGES: dict[int, tuple[int, int]] = {
    Status.BATTERY_BARS: (0, 4),
    Status.HOT: (0, 1),
    Status.BUSY: (0, 1),
    Status.ENCODING: (0, 1),
    Status.VIDEO_SECONDS: (0, 2**31 - 1),
    Status.SD_STATE: (-1, 255),
    Status.VIDEO_MINUTES_REMAINING: (0, 2**31 - 1),
    Status.SD_REMAINING_KB: (0, 2**53),
    Status.MIN_POLL_PERIOD_MS: (0, 10_000),  # the poller waits this long between ticks
    Status.BATTERY_PERCENT: (0, 100),
    Status.COLD: (0, 1),
    Status.SD_CAPACITY_KB: (0, 2**53),
}
# Every action waits for or checks these (a camera is ready only when both read 0): a state without
# them readable is no state.
REQUIRED_STATUSES = (Status.BUSY, Status.ENCODING)


def parse_state(state: State) -> CameraState:
    """The statuses and settings rigtui can use; unknown keys and odd values are left out. Raises
    CameraProtocolError when busy (8) or encoding (10) cannot be read."""
    status: dict[int, int | str] = {}
    for key, value in state.status.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 6):
            continue
        low, high = STATUS_RANGES.get(int(key), STATUS_RANGE)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            status[int(key)] = value
        elif isinstance(value, str) and int(key) not in STATUS_RANGES:
            status[int(key)] = shown(value, 64)
    if any(required not in status for required in REQUIRED_STATUSES):
        raise CameraProtocolError("state reply has no readable busy (8) or encoding (10) status")
    high = STATUS_RANGE[1]
    settings = {
        int(key): value
        for key, value in state.settings.items()
        if key.isascii()
        and key.isdigit()
        and len(key) <= 6
        and isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= high
    }
    return CameraState(status, settings)


def query(path: str, params: list[tuple[str, object]] | None = None) -> str:
    """A request target with parameters in the given order and `/` left unescaped, as cameras expect."""
    if not params:
        return path
    return path + "?" + "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params)


class CameraClient:
    """Client of one camera. `trust_env=False`: a system proxy must never see camera traffic."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, policy: ClientPolicy | None = None) -> None:
        self.host, self.port = host, port
        self.address = f"{host}:{port}"
        self.policy = policy or ClientPolicy()
        self.warm = WarmConnection(host, port)
        self._http = httpx.AsyncClient(
            base_url=f"http://{host}:{port}",
            trust_env=False,
            headers={"Accept-Encoding": "identity"},
            timeout=httpx.Timeout(self.policy.request_timeout_s, connect=self.policy.connect_timeout_s),
            limits=httpx.Limits(max_connections=MAX_DOWNLOADS + 2, max_keepalive_connections=4, keepalive_expiry=30),
        )

    async def close(self) -> None:
        await self.warm.close()
        await self._http.aclose()

    # -- the two ways a request travels ---------------------------------------------------------
    async def request(
        self,
        path: str,
        params: list[tuple[str, object]] | None = None,
        kind: type[T] = Ignored,  # type: ignore[assignment]
        *,
        timeout: float | None = None,
        max_body: int = MAX_REPLY_BYTES,
    ) -> T:
        """GET an endpoint over the pooled connection; its reply decoded as `kind`."""
        limit = timeout or self.policy.request_timeout_s
        async with self._deadline(limit), self._http.stream("GET", query(path, params), timeout=limit) as reply:
            refuse_encoded(path, reply.headers.get("content-encoding", "identity"))
            body = bytearray()
            async for block in reply.aiter_raw():
                body += block
                if len(body) > max_body:
                    raise CameraProtocolError(f"{path}: reply longer than {max_body} bytes")
            return decode(path, reply.status_code, bytes(body), kind)

    async def warm_request(
        self,
        path: str,
        kind: type[T] = Ignored,
        params: list[tuple[str, object]] | None = None,  # type: ignore[assignment]
    ) -> T:
        """GET an endpoint over the warm socket (the hot paths); its reply decoded as `kind`."""
        reply = await self.warm.request(query(path, params), self.policy.request_timeout_s)
        return decode(path, reply.status, reply.body, kind)

    @contextlib.contextmanager
    def _transport_errors(self) -> Any:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise CameraTimeout(f"no answer from {self.address} in time ({type(exc).__name__})") from None
        except (httpx.TransportError, OSError) as exc:
            raise CameraOffline(f"{self.address} unreachable ({type(exc).__name__})") from None

    @contextlib.asynccontextmanager
    async def _deadline(self, seconds: float) -> AsyncIterator[None]:
        """One time limit on a whole exchange, transport failures as CameraErrors: httpx's time-outs
        are per read, and a camera sending a byte now and then would never reach one."""
        try:
            async with asyncio.timeout(seconds):
                with self._transport_errors():
                    yield
        except TimeoutError:
            raise CameraTimeout(f"no complete answer from {self.address} within {seconds:g} s") from None

    # -- bring-up -------------------------------------------------------------------------------
    async def enable_wired_control(self) -> None:
        await self.request("/gopro/camera/control/wired_usb", [("p", 1)])

    async def set_client_info(self) -> None:
        await self.request("/gopro/camera/analytics/set_client_info")

    async def version(self) -> str:
        return shown((await self.request("/gopro/version", kind=Version)).version, 40)

    async def info(self) -> Info | None:
        """Hardware info (HERO12 and later); None where the model has no such endpoint."""
        try:
            return await self.request("/gopro/camera/info", kind=Info)
        except CameraHTTPError as exc:
            if exc.status in (404, 501):
                return None
            raise

    async def turbo_transfer(self, on: bool) -> None:
        await self.request("/gopro/media/turbo_transfer", [("p", int(on))])

    # -- hot paths (warm socket) ----------------------------------------------------------------
    async def state(self) -> CameraState:
        return parse_state(await self.warm_request("/gopro/camera/state", State))

    async def wait_idle(self, *, busy_only: bool = False, limit_s: float = 3.0) -> CameraState:
        """Poll until the camera is not busy (and not encoding, unless busy_only); the last state."""
        deadline = time.monotonic() + limit_s
        while True:
            state = await self.state()
            idle = not state.flag(Status.BUSY) and (busy_only or not state.flag(Status.ENCODING))
            if idle or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(0.1)

    async def keep_alive(self) -> None:
        await self.warm_request("/gopro/camera/keep_alive")

    async def get_date_time(self) -> datetime:
        """The camera's clock (camera-local wall time, no zone)."""
        reply = await self.warm_request("/gopro/camera/get_date_time", DateTime)
        try:
            return datetime.strptime(f"{reply.date} {reply.time}", "%Y_%m_%d %H_%M_%S")
        except ValueError:
            shown_as = shown(f"{reply.date} {reply.time}", 40)
            raise CameraProtocolError(f"date/time reply {shown_as!r} is not YYYY_MM_DD HH_MM_SS") from None

    def shutter_target(self, start: bool) -> str:
        """The request a release sends to start or stop recording."""
        return f"/gopro/camera/shutter/{'start' if start else 'stop'}"

    def set_date_time_target(self, local: datetime, *, with_zone: bool) -> str:
        """The request a release sends to set the clock (HERO10 takes no time zone)."""
        params: list[tuple[str, object]] = [("date", local.strftime("%Y_%m_%d")), ("time", local.strftime("%H_%M_%S"))]
        if with_zone:
            offset = local.utcoffset()
            params += [("tzone", int(offset.total_seconds() // 60) if offset else 0), ("dst", int(bool(local.dst())))]
        return query("/gopro/camera/set_date_time", params)

    def check_release(self, reply: WarmReply, target: str) -> None:
        """A released request's reply, checked as any other (its content does not matter)."""
        decode(target.split("?")[0], reply.status, reply.body, Ignored)

    # -- settings and presets -------------------------------------------------------------------
    async def set_setting(self, setting_id: int, option: int) -> None:
        await self.request("/gopro/camera/setting", [("setting", setting_id), ("option", option)])

    async def presets(self) -> list[Preset]:
        reply = await self.request("/gopro/camera/presets/get", kind=Presets)
        return [
            Preset(p.id, p.titleId, p.mode, shown(p.customName, 40))
            for group in reply.presetGroupArray
            for p in group.presetArray
        ]

    async def load_preset(self, preset_id: int) -> None:
        await self.request("/gopro/camera/presets/load", [("id", preset_id)])

    async def load_preset_group(self, group_id: int) -> None:
        await self.request("/gopro/camera/presets/set_group", [("id", group_id)])

    # -- media ----------------------------------------------------------------------------------
    async def media_list(self) -> MediaListing:
        return await self.request(
            "/gopro/media/list",
            kind=MediaListing,
            timeout=self.policy.media_list_timeout_s,
            max_body=MAX_MEDIA_LIST_BYTES,
        )

    @contextlib.asynccontextmanager
    async def media_stream(self, path: str, offset: int = 0) -> AsyncIterator[MediaStream]:
        """GET a file on the card (`DIR/NAME`) from byte `offset`, on a connection of its own (see
        gopro/stream.py); transport failures while the body streams become CameraOffline /
        CameraTimeout too (the caller's own failures, such as a full disk, stay what they are)."""
        headers = [("Range", f"bytes={offset}-")] if offset else []
        stream = get_stream(
            self.host,
            self.port,
            _media_url(path),
            headers,
            connect_s=self.policy.request_timeout_s * 2,
            read_s=self.policy.download_read_timeout_s,
            block=DOWNLOAD_BLOCK,
        )
        async with stream as (head, blocks):
            refuse_encoded(path, head.headers.get("content-encoding", "identity"))
            yield MediaStream(head.status, blocks)

    async def media_length(self, path: str) -> int:
        """The camera's own length of a file (HEAD)."""
        async with self._deadline(self.policy.request_timeout_s):
            reply = await self._http.head(_media_url(path))
        length = reply.headers.get("content-length", "")
        if reply.status_code != 200 or not length.isdigit():
            raise CameraHTTPError(reply.status_code, f"HEAD {path}", "no length")
        return int(length)

    async def delete_file(self, path: str) -> None:
        """Delete one listed file (`DIR/NAME`; a video chapter goes with its proxies)."""
        await self.request("/gopro/media/delete/file", [("path", path)], timeout=self.policy.erase_timeout_s)

    async def delete_all(self) -> None:
        """Erase the whole card (only when every file on it is known to be one the operator chose)."""
        await self.request("/gp/gpControl/command/storage/delete/all", timeout=self.policy.erase_timeout_s)

    async def delete_group(self, first: str) -> None:
        """Delete a photo group (burst, lapse) by its listed first file."""
        await self.request(
            "/gp/gpControl/command/storage/delete/group", [("p", first)], timeout=self.policy.erase_timeout_s
        )

    # -- power ----------------------------------------------------------------------------------
    async def sleep(self) -> None:
        await self.request("/gp/gpControl/command/system/sleep")


def refuse_encoded(path: str, encoding: str) -> None:
    """rigtui asks for identity encoding and never decompresses: a compressed reply could expand
    without bound, so it is refused."""
    if encoding.strip().lower() not in ("", "identity"):
        raise CameraProtocolError(f"{path}: reply is compressed ({shown(encoding, 20)}); rigtui asked for none")


def _media_url(path: str) -> str:
    return f"/videos/DCIM/{quote(path, safe='/')}"


def check_version(version: str) -> None:
    if version != OGP_VERSION:
        raise CameraProtocolError(f"camera speaks Open GoPro {version}, rigtui speaks {OGP_VERSION}")
