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
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from rigtui.gopro.errors import (
    CameraBusy,
    CameraError,
    CameraHTTPError,
    CameraOffline,
    CameraTimeout,
    MalformedReply,
    SettingRejected,
)
from rigtui.gopro.protocol import DEFAULT_PORT, OGP_VERSION, Status
from rigtui.gopro.warm import WarmConnection, WarmReply

__all__ = [
    "CameraBusy",
    "CameraClient",
    "CameraError",
    "CameraHTTPError",
    "CameraOffline",
    "CameraState",
    "CameraTimeout",
    "ClientPolicy",
    "MalformedReply",
    "Preset",
    "SettingRejected",
]

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


def parse_state(data: Any) -> CameraState:
    if not isinstance(data, dict) or not isinstance(data.get("status"), dict):
        raise MalformedReply("state reply has no status object")
    status: dict[int, int | str] = {}
    for key, value in data["status"].items():
        if isinstance(key, str) and key.isdigit() and isinstance(value, int | str) and not isinstance(value, bool):
            status[int(key)] = value
    settings: dict[int, int] = {}
    raw_settings = data.get("settings")
    if isinstance(raw_settings, dict):
        for key, value in raw_settings.items():
            if isinstance(key, str) and key.isdigit() and isinstance(value, int) and not isinstance(value, bool):
                settings[int(key)] = value
    return CameraState(status, settings)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def query(path: str, params: list[tuple[str, object]] | None = None) -> str:
    """A request target with parameters in the given order and `/` left unescaped, as cameras expect."""
    if not params:
        return path
    return path + "?" + "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params)


def decode(path: str, status: int, body: bytes) -> Any:
    """A camera's reply as JSON ({} for an empty body), or the typed error its status code means."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):
        data = None
    if status == 503:
        message = data.get("message") if isinstance(data, dict) else None
        raise CameraBusy(str(message or "camera is busy")[:120])
    if status == 403 and isinstance(data, dict) and "setting_id" in data:
        supported = {}
        for item in data.get("supported_options") or []:
            option = _int(item.get("id")) if isinstance(item, dict) else None
            if option is not None:
                supported[option] = str(item.get("display_name", ""))[:80]
        raise SettingRejected(
            _int(data.get("setting_id")) or 0, _int(data.get("option_id")) or 0, _int(data.get("error")), supported
        )
    if status >= 400 or status < 200:
        raise CameraHTTPError(status, path, text.strip().replace("\n", " "))
    if data is None:
        raise MalformedReply(f"{path}: reply is not JSON")
    return data


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
        *,
        timeout: float | None = None,
        max_body: int = MAX_REPLY_BYTES,
    ) -> Any:
        """GET a JSON endpoint over the pooled connection; returns the decoded body."""
        target = query(path, params)
        with self._transport_errors():
            async with self._http.stream("GET", target, timeout=timeout or self.policy.request_timeout_s) as reply:
                body = bytearray()
                async for block in reply.aiter_bytes():
                    body += block
                    if len(body) > max_body:
                        raise MalformedReply(f"{path}: reply longer than {max_body} bytes")
                return decode(path, reply.status_code, bytes(body))

    async def warm_request(self, path: str, params: list[tuple[str, object]] | None = None) -> Any:
        """GET a JSON endpoint over the warm socket (the hot paths)."""
        reply = await self.warm.request(query(path, params), self.policy.request_timeout_s)
        return decode(path, reply.status, reply.body)

    @contextlib.contextmanager
    def _transport_errors(self) -> Any:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise CameraTimeout(f"no answer from {self.address} in time ({type(exc).__name__})") from None
        except (httpx.TransportError, OSError) as exc:
            raise CameraOffline(f"{self.address} unreachable ({type(exc).__name__})") from None

    # -- bring-up -------------------------------------------------------------------------------
    async def enable_wired_control(self) -> None:
        await self.request("/gopro/camera/control/wired_usb", [("p", 1)])

    async def set_client_info(self) -> None:
        await self.request("/gopro/camera/analytics/set_client_info")

    async def version(self) -> str:
        body = await self.request("/gopro/version")
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise MalformedReply("version reply has no version")
        return body["version"][:40]

    async def info(self) -> dict[str, str] | None:
        """Hardware info (HERO12 and later); None where the model has no such endpoint."""
        try:
            body = await self.request("/gopro/camera/info")
        except CameraHTTPError as exc:
            if exc.status in (404, 501):
                return None
            raise
        if not isinstance(body, dict):
            raise MalformedReply("info reply is not an object")
        return {str(k)[:40]: str(v)[:80] for k, v in body.items() if isinstance(v, str | int)}

    async def turbo_transfer(self, on: bool) -> None:
        await self.request("/gopro/media/turbo_transfer", [("p", int(on))])

    # -- hot paths (warm socket) ----------------------------------------------------------------
    async def state(self) -> CameraState:
        return parse_state(await self.warm_request("/gopro/camera/state"))

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
        body = await self.warm_request("/gopro/camera/get_date_time")
        if not isinstance(body, dict):
            raise MalformedReply("date/time reply is not an object")
        date, time_of_day = str(body.get("date", ""))[:20], str(body.get("time", ""))[:20]
        try:
            return datetime.strptime(f"{date} {time_of_day}", "%Y_%m_%d %H_%M_%S")
        except ValueError:
            raise MalformedReply(f"date/time reply {date!r} {time_of_day!r} is not YYYY_MM_DD HH_MM_SS") from None

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

    def decode_release(self, reply: WarmReply, target: str) -> Any:
        """A released request's reply, decoded as any other."""
        return decode(target.split("?")[0], reply.status, reply.body)

    # -- settings and presets -------------------------------------------------------------------
    async def set_setting(self, setting_id: int, option: int) -> None:
        await self.request("/gopro/camera/setting", [("setting", setting_id), ("option", option)])

    async def presets(self) -> list[Preset]:
        body = await self.request("/gopro/camera/presets/get")
        if not isinstance(body, dict) or not isinstance(body.get("presetGroupArray"), list):
            raise MalformedReply("presets reply has no presetGroupArray")
        found = []
        for group in body["presetGroupArray"]:
            items = group.get("presetArray") if isinstance(group, dict) else None
            for item in items if isinstance(items, list) else []:
                preset_id = _int(item.get("id")) if isinstance(item, dict) else None
                if preset_id is not None:
                    found.append(
                        Preset(
                            preset_id,
                            _int(item.get("titleId")),
                            _int(item.get("mode")),
                            str(item.get("customName") or "")[:80],
                        )
                    )
        return found

    async def load_preset(self, preset_id: int) -> None:
        await self.request("/gopro/camera/presets/load", [("id", preset_id)])

    async def load_preset_group(self, group_id: int) -> None:
        await self.request("/gopro/camera/presets/set_group", [("id", group_id)])

    # -- media ----------------------------------------------------------------------------------
    async def media_list(self) -> dict[str, Any]:
        body = await self.request(
            "/gopro/media/list", timeout=self.policy.media_list_timeout_s, max_body=MAX_MEDIA_LIST_BYTES
        )
        if not isinstance(body, dict) or not isinstance(body.get("media"), list):
            raise MalformedReply("media list reply has no media array")
        return body

    @contextlib.asynccontextmanager
    async def media_stream(self, path: str, offset: int = 0) -> AsyncIterator[MediaStream]:
        """GET a file on the card (`DIR/NAME`) from byte `offset`; transport failures while the body
        streams become CameraOffline / CameraTimeout too."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        timeout = httpx.Timeout(self.policy.request_timeout_s * 2, read=self.policy.download_read_timeout_s)
        with self._transport_errors():
            async with self._http.stream("GET", _media_url(path), headers=headers, timeout=timeout) as reply:
                yield MediaStream(reply.status_code, reply.aiter_raw(DOWNLOAD_BLOCK))

    async def media_length(self, path: str) -> int:
        """The camera's own length of a file (HEAD)."""
        with self._transport_errors():
            reply = await self._http.head(_media_url(path))
        length = reply.headers.get("content-length", "")
        if reply.status_code != 200 or not length.isdigit():
            raise CameraHTTPError(reply.status_code, f"HEAD {path}", "no length")
        return int(length)

    async def erase_all(self) -> None:
        await self.request("/gp/gpControl/command/storage/delete/all", timeout=self.policy.erase_timeout_s)

    # -- power ----------------------------------------------------------------------------------
    async def sleep(self) -> None:
        await self.request("/gp/gpControl/command/system/sleep")


def _media_url(path: str) -> str:
    return f"/videos/DCIM/{quote(path, safe='/')}"


def check_version(version: str) -> None:
    if version != OGP_VERSION:
        raise MalformedReply(f"camera speaks Open GoPro {version}, rigtui speaks {OGP_VERSION}")
