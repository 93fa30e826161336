"""One camera's Open GoPro HTTP client: a pooled keep-alive connection, typed replies, typed errors.

Nothing a camera sends can crash the caller: transport failures, bad status codes and replies that
are not the JSON we expect all become CameraError subclasses with a one-line reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from rigtui.gopro.protocol import DEFAULT_PORT, OGP_VERSION


class CameraError(Exception):
    """A request to a camera failed; str() is a short reason for an operator."""


class CameraOffline(CameraError):
    """The camera did not answer (refused, reset, unreachable)."""


class CameraTimeout(CameraOffline):
    """The camera accepted the request but did not answer in time."""


class CameraBusy(CameraError):
    """503: the camera refuses the request for now (e.g. the media list while recording)."""


class MalformedReply(CameraError):
    """The reply is not what the API says it should be."""


class CameraHTTPError(CameraError):
    def __init__(self, status: int, path: str, body: str) -> None:
        self.status = status
        detail = f": {body[:80]}" if body else ""
        super().__init__(f"HTTP {status} on {path}{detail}")


class SettingRejected(CameraError):
    """403 on a setting: the option is not available; `supported` lists what the camera offers now."""

    def __init__(self, setting_id: int, option: int, error: int | None, supported: dict[int, str]) -> None:
        self.setting_id, self.option, self.error, self.supported = setting_id, option, error, supported
        reasons = {1: "setting not available", 2: "no such setting", 3: "option not available now", 4: "no such option"}
        super().__init__(f"setting {setting_id} option {option}: {reasons.get(error or 0, 'rejected')}")


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
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def query(path: str, params: list[tuple[str, object]] | None = None) -> str:
    """A request target with parameters in the given order and `/` left unescaped, as cameras expect."""
    if not params:
        return path
    return path + "?" + "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params)


class CameraClient:
    """HTTP client of one camera. `trust_env=False`: a system proxy must never see camera traffic."""

    def __init__(
        self, host: str, port: int = DEFAULT_PORT, *, timeout: float = 5.0, connect_timeout: float = 2.0
    ) -> None:
        self.host, self.port = host, port
        self.address = f"{host}:{port}"
        self._http = httpx.AsyncClient(
            base_url=f"http://{host}:{port}",
            trust_env=False,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=30),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self, path: str, params: list[tuple[str, object]] | None = None, *, timeout: float | None = None
    ) -> Any:
        """GET a JSON endpoint; returns the decoded body ({} for empty replies)."""
        target = query(path, params)
        extra = {} if timeout is None else {"timeout": timeout}
        try:
            reply = await self._http.get(target, **extra)
        except httpx.TimeoutException as exc:
            raise CameraTimeout(f"no answer from {self.address} in time ({type(exc).__name__})") from None
        except (httpx.TransportError, OSError) as exc:
            raise CameraOffline(f"{self.address} unreachable ({type(exc).__name__})") from None
        return self._decode(path, reply)

    def _decode(self, path: str, reply: httpx.Response) -> Any:
        text = reply.text
        try:
            body = json.loads(text) if text.strip() else {}
        except ValueError:
            body = None
        if reply.status_code == 503:
            message = body.get("message") if isinstance(body, dict) else None
            raise CameraBusy(str(message or "camera is busy"))
        if reply.status_code == 403 and isinstance(body, dict) and "setting_id" in body:
            supported = {}
            for item in body.get("supported_options") or []:
                if isinstance(item, dict) and _int(item.get("id")) is not None:
                    supported[_int(item["id"])] = str(item.get("display_name", ""))
            raise SettingRejected(
                _int(body.get("setting_id")) or 0, _int(body.get("option_id")) or 0, _int(body.get("error")), supported
            )  # type: ignore[arg-type]
        if reply.status_code >= 400:
            raise CameraHTTPError(reply.status_code, path, text.strip().replace("\n", " "))
        if body is None:
            raise MalformedReply(f"{path}: reply is not JSON")
        return body

    # -- endpoints ------------------------------------------------------------------------------
    async def version(self) -> str:
        body = await self.request("/gopro/version")
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise MalformedReply("version reply has no version")
        return body["version"]

    async def state(self) -> CameraState:
        return parse_state(await self.request("/gopro/camera/state"))

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
        return {k: str(v) for k, v in body.items() if isinstance(v, str | int)}

    async def enable_wired_control(self) -> None:
        await self.request("/gopro/camera/control/wired_usb", [("p", 1)])

    async def set_client_info(self) -> None:
        await self.request("/gopro/camera/analytics/set_client_info")

    async def turbo_transfer(self, on: bool) -> None:
        await self.request("/gopro/media/turbo_transfer", [("p", int(on))])

    async def set_setting(self, setting_id: int, option: int) -> None:
        await self.request("/gopro/camera/setting", [("setting", setting_id), ("option", option)])

    async def presets(self) -> dict[str, Any]:
        body = await self.request("/gopro/camera/presets/get")
        if not isinstance(body, dict) or not isinstance(body.get("presetGroupArray"), list):
            raise MalformedReply("presets reply has no presetGroupArray")
        return body

    async def load_preset(self, preset_id: int) -> None:
        await self.request("/gopro/camera/presets/load", [("id", preset_id)])

    async def load_preset_group(self, group_id: int) -> None:
        await self.request("/gopro/camera/presets/set_group", [("id", group_id)])

    async def get_date_time(self) -> dict[str, Any]:
        body = await self.request("/gopro/camera/get_date_time")
        if not isinstance(body, dict) or not {"date", "time"} <= set(body):
            raise MalformedReply("date/time reply lacks date or time")
        return body

    async def media_list(self) -> dict[str, Any]:
        body = await self.request("/gopro/media/list", timeout=30)
        if not isinstance(body, dict) or not isinstance(body.get("media"), list):
            raise MalformedReply("media list reply has no media array")
        return body

    async def sleep(self) -> None:
        await self.request("/gp/gpControl/command/system/sleep")


def check_version(version: str) -> None:
    if version != OGP_VERSION:
        raise MalformedReply(f"camera speaks Open GoPro {version}, rigtui speaks {OGP_VERSION}")
