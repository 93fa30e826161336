"""What can go wrong talking to a camera: typed errors whose str() is a short reason for an operator."""

from __future__ import annotations


class CameraError(Exception):
    """A request to a camera failed; str() is a short reason for an operator."""


class CameraOffline(CameraError):
    """The camera did not answer (refused, reset, unreachable)."""


class CameraRebooted(CameraOffline):
    """The camera answers but forgot its wired control: it restarted and needs bring-up again."""


class CameraTimeout(CameraOffline):
    """The camera accepted the request but did not answer in time."""


class CameraBusy(CameraError):
    """503: the camera refuses the request for now (e.g. the media list while recording)."""


class CameraProtocolError(CameraError):
    """The reply is not what the API says it should be (bad JSON, wrong types, out of range)."""


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
