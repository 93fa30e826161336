"""Facts of the Open GoPro HTTP API over USB that both the client and the simulator rely on.

Only facts live here (paths, ids, models, the address rule, file naming); no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rigtui.gopro.spec_tables import MODELS, SETTINGS, STATUSES

__all__ = ["MODELS", "SETTINGS", "STATUSES"]

DEFAULT_PORT = 8080
MDNS_SERVICE = "_gopro-web._tcp.local."
OGP_VERSION = "2.0"


@dataclass(frozen=True)
class ModelInfo:
    key: str  # "HERO12"
    spec_name: str  # the name GoPro's spec uses in x-supported-cameras
    info_name: str  # model_name as /gopro/camera/info reports it
    model_number: int
    firmware: str
    serial_prefix: str
    has_camera_info: bool  # /gopro/camera/info exists (HERO12+)
    has_timezone: bool  # set_date_time honours tzone/dst (HERO11+)
    has_sd_capacity: bool  # status 117 (HERO11+)


MODEL_INFO: dict[str, ModelInfo] = {
    "HERO10": ModelInfo("HERO10", "HERO10 Black", "HERO10 Black", 57, "H21.01.01.62.00", "C3441", False, False, False),
    "HERO11": ModelInfo("HERO11", "HERO11 Black", "HERO11 Black", 58, "H22.01.02.32.00", "C3461", False, True, True),
    "HERO12": ModelInfo("HERO12", "HERO12 Black", "Hero12 Black", 62, "H23.01.02.32.00", "C3501", True, True, True),
    "HERO13": ModelInfo("HERO13", "HERO13 Black", "HERO13 Black", 65, "H24.01.02.02.00", "C3531", True, True, True),
}


@dataclass(frozen=True)
class FirmwareFloor:
    """The oldest firmware of a model that a USB rig can rely on, and what older firmware gets wrong.
    A version is (major, minor, patch): "H23.01.02.20.00" from /gopro/camera/info is v02.20.00."""

    minimum: tuple[int, int, int]
    why: str


# From the field notes (opengopro-notes.md 1.4 and 7.10). HERO10/11 do not tell their firmware over
# the API (no /gopro/camera/info), so theirs can only be checked by hand on the camera.
MIN_FIRMWARE: dict[str, FirmwareFloor] = {
    "HERO10": FirmwareFloor((1, 30, 0), "older firmware has no wired USB control (status 116)"),
    "HERO11": FirmwareFloor((1, 20, 0), "v01.10.00 has broken wired USB control (OGP #230)"),
    "HERO12": FirmwareFloor((2, 20, 0), "older firmware sends malformed HTTP replies (OGP #437)"),
    "HERO13": FirmwareFloor((1, 10, 0), "the first HERO13 firmware"),
}

# Firmware that works over USB but has a quirk the operator should know of: a warning, not a refusal.
FIRMWARE_QUIRKS: dict[tuple[str, tuple[int, int, int]], str] = {
    ("HERO13", (1, 10, 0)): "does not advertise itself over mDNS: it is found only on its USB link or with --camera",
}


class Status:
    """Status ids a rig dashboard reads from /gopro/camera/state."""

    BATTERY_PRESENT = 1
    BATTERY_BARS = 2  # 4 means charging
    HOT = 6
    BUSY = 8
    ENCODING = 10
    VIDEO_SECONDS = 13
    AP_SSID = 30  # "GP" and the last 8 digits of the serial: HERO10/11 tell their serial nowhere else
    SD_STATE = 33
    PHOTOS_REMAINING = 34
    VIDEO_MINUTES_REMAINING = 35
    PHOTOS_ON_CARD = 38
    VIDEOS_ON_CARD = 39
    SD_REMAINING_KB = 54
    MIN_POLL_PERIOD_MS = 60
    BATTERY_PERCENT = 70
    READY = 82
    COLD = 85
    FLAT_MODE = 89
    PRESET_GROUP = 96
    PRESET = 97
    TURBO_TRANSFER = 113
    CONTROL_OWNER = 114
    USB_CONNECTED = 115
    USB_CONTROLLED = 116
    SD_CAPACITY_KB = 117


class Setting:
    RESOLUTION = 2
    FPS = 3
    AUTO_POWER_DOWN = 59
    LED = 91
    ASPECT_RATIO = 108
    LENS = 121
    ANTI_FLICKER = 134
    HYPERSMOOTH = 135
    FRAMING = 193
    FRAME_RATE_V2 = 234


class PresetGroup:
    VIDEO = 1000
    PHOTO = 1001
    TIMELAPSE = 1002


SD_STATES = {-1: "unknown", 0: "ok", 1: "full", 2: "removed", 3: "format error", 4: "busy", 8: "swapped"}

# Query parameters the camera expects, in the order it expects them (OGP: "arguments must be given in
# the order outlined").
QUERY_ORDER: dict[str, tuple[str, ...]] = {
    "/gopro/camera/setting": ("setting", "option"),
    "/gopro/camera/set_date_time": ("date", "time", "tzone", "dst"),
    "/gopro/media/hilight/file": ("path", "ms"),
}


def camera_address(serial: str) -> str:
    """The camera's USB address: 172.2X.1YZ.51 from the last three digits of the serial."""
    x, y, z = serial[-3:]
    if not (x + y + z).isdigit():
        raise ValueError(f"serial {serial!r} does not end in three digits")
    return f"172.2{x}.1{y}{z}.51"


def camera_address_from_local(local_ip: str) -> str | None:
    """The camera behind a host address on a camera's USB link (172.2X.1YZ.5N), or None."""
    match = re.fullmatch(r"172\.2(\d)\.1(\d\d)\.5(\d)", local_ip)
    if not match or match.group(3) == "1":
        return None
    return f"172.2{match.group(1)}.1{match.group(2)}.51"


def supported_options(setting_id: int, model: str) -> dict[int, str]:
    """Option id -> name of a setting on a model, per GoPro's spec (empty when unsupported)."""
    spec = SETTINGS.get(setting_id)
    if spec is None or model not in spec.models:
        return {}
    return {opt: o.name for opt, o in spec.options.items() if model in o.models}
