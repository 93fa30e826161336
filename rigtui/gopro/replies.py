"""The parse boundary for camera replies: every body a camera sends is decoded here, once, into a
typed object (msgspec validates types while decoding), or becomes a CameraError naming the endpoint
and the problem in one line.

Caps: the body's size is capped where it is read (client.py, warm.py) and nothing is decompressed
(rigtui asks for identity encoding and refuses anything else); JSON nesting is bounded by msgspec's
recursion guard and the body cap; numbers are range-checked where they are used; text kept from a
reply is cut short and rid of control characters before an operator sees it.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import msgspec

from rigtui.gopro.errors import CameraBusy, CameraError, CameraHTTPError, CameraProtocolError, SettingRejected
from rigtui.text import shown

T = TypeVar("T")
STUCK = "communication with settings controller"

# Unicode categories a terminal must not get from a camera: controls (C0, C1: escape sequences, new
# lines), format characters (bidi overrides, zero-width), lone surrogates, line and paragraph separators.
# JSON values a reply may hold, counted before decoding: msgspec builds every value of a list before it
# checks the list, so a body of tiny values ("0,0,0,...") would cost far more memory than its bytes.
MAX_VALUES = 100_000
MAX_MEDIA_ENTRIES = 100_000  # 500 GB of 5 MB photos; each entry costs rigtui up to 1.5 KB of memory
MAX_MEDIA_FOLDERS = 1000  # 100GOPRO ... 999GOPRO


class Strict(msgspec.Struct, forbid_unknown_fields=False):
    """A reply: the fields rigtui reads, typed; the camera's other keys are ignored."""

    max_values: ClassVar[int] = MAX_VALUES


class Version(Strict):
    version: str


class Info(Strict):
    model_number: str | int = ""
    model_name: str = ""
    firmware_version: str = ""
    serial_number: str = ""


class State(Strict):
    status: dict[str, Any]
    settings: dict[str, Any] = {}


class DateTime(Strict):
    date: str
    time: str
    tzone: int | None = None
    dst: int | None = None


class PresetItem(Strict):
    id: int
    mode: int | None = None
    titleId: int | None = None
    customName: str = ""


class PresetGroupItem(Strict):
    presetArray: list[PresetItem] = []


class Presets(Strict):
    presetGroupArray: list[PresetGroupItem]


class MediaFolder(Strict):
    d: str
    fs: list[msgspec.Raw] = []  # entries are decoded one by one: one bad entry is left out, not the list


class MediaListing(Strict):
    media: list[MediaFolder]
    id: str = ""

    max_values: ClassVar[int] = 8 * MAX_MEDIA_ENTRIES  # a real entry holds 5 to 7 values

    def __post_init__(self) -> None:
        entries = sum(len(folder.fs) for folder in self.media)
        if entries > MAX_MEDIA_ENTRIES or len(self.media) > MAX_MEDIA_FOLDERS:
            raise ValueError(f"{entries} entries in {len(self.media)} folders: more than a camera holds")


class MediaEntry(Strict):
    """One entry of a media list; the spec sends every value as a string, some cameras numbers."""

    n: str
    cre: str | int = ""
    s: str | int = ""
    glrv: str | int | None = None
    ls: str | int | None = None
    g: str | int | None = None
    b: str | int | None = None
    l: str | int | None = None  # noqa: E741 (the camera's name)
    m: list[str | int] = []
    raw: str | int | None = None  # "1": a GPR raw file beside the JPG


class _Busy(Strict):
    message: str = ""


class _Option(Strict):
    id: int
    display_name: str = ""


class _Rejection(Strict):
    setting_id: int
    option_id: int = 0
    error: int | None = None
    supported_options: list[_Option] = []


def _json(body: bytes, kind: type[T]) -> T:
    """msgspec's decode, once the body is known to hold few enough values for `kind` (an upper bound:
    every value but the outermost follows a comma or opens an array or object)."""
    limit = getattr(kind, "max_values", MAX_VALUES)
    if body.count(b",") + body.count(b"[") + body.count(b"{") >= limit:
        raise msgspec.ValidationError(f"more than {limit} values")
    return msgspec.json.decode(body, type=kind)


def _lenient(body: bytes, kind: type[T]) -> T | None:
    try:
        return _json(body, kind)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def decode(path: str, status: int, body: bytes, kind: type[T]) -> T:
    """A reply as `kind`, or the typed error its status code or its bytes mean."""
    if status == 503:
        busy = _lenient(body, _Busy)
        raise CameraBusy(shown(busy.message if busy and busy.message else "camera is busy"))
    if status == 403 and (rejection := _lenient(body, _Rejection)) is not None:
        supported = {o.id: shown(o.display_name, 40) for o in rejection.supported_options}
        raise SettingRejected(rejection.setting_id, rejection.option_id, rejection.error, supported)
    if not 200 <= status < 300:
        text = shown(body[:200].decode("utf-8", "replace").strip(), 80)
        if STUCK in text.lower():  # HERO13: only a power cycle brings its settings controller back
            raise CameraError(f"its settings controller is stuck: power-cycle this camera ({path}: HTTP {status})")
        raise CameraHTTPError(status, path, text)
    try:
        return _json(body.strip() or b"{}", kind)
    except RecursionError:
        raise CameraProtocolError(f"{path}: reply nested too deeply") from None
    except msgspec.ValidationError as exc:
        raise CameraProtocolError(f"{path}: {shown(str(exc))}") from None
    except msgspec.DecodeError:
        raise CameraProtocolError(f"{path}: reply is not JSON") from None


def decode_entry(raw: msgspec.Raw) -> MediaEntry:
    """One media-list entry; ValueError with the reason when it is not one."""
    try:
        return msgspec.json.decode(raw, type=MediaEntry)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise ValueError(shown(str(exc))) from None


Ignored = msgspec.Raw  # a reply whose content does not matter, only that it came
