"""The shot log: what rigtui itself started and stopped, when (by the host's clock), on which
cameras, and which media each camera produced. Offload forms takes from it; a camera's own clock is
only the fallback for footage rigtui did not shoot.

A take is opened before any shutter is sent: each camera's media list is kept beside the log
(`open-takes/TAKE.json`) and a `start` line is appended; `started` lines add what each camera
confirmed and its clock offset; a `stop` line closes the take with the media that appeared since.
The log survives `rigtui record` and `rigtui stop` being separate processes, and a crash between
them: the open take stays open until a later command closes it (the `stop` line then says it was
repaired). The log is rigtui.files.JsonLines: synced appends, checked lines, damage set aside.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rigtui.files import JsonLines, set_aside, write_atomically
from rigtui.gopro.media import RANGES
from rigtui.paths import data_dir

log = logging.getLogger(__name__)

EVENTS = ("start", "started", "stop", "note")
TAKE_ID = re.compile(r"\d{8}T\d{6}\.\d{3}Z(-\d+)?")
MAX_CAMERAS = 10_000
MAX_MEDIA = 100_000  # entries one camera can add in one take, at most
MAX_SETTINGS = 200
MAX_TEXT = 120  # characters of a model, firmware, setting or option name


@dataclass(frozen=True)
class CameraAtStart:
    """A camera as rigtui read it just before it released the take's shutter (for the custody
    report); None: not known (HERO10/11 do not tell their firmware)."""

    model: str | None = None
    firmware: str | None = None
    battery_percent: int | None = None
    charging: bool | None = None
    hot: bool | None = None
    cold: bool | None = None
    settings: dict[str, str] = field(default_factory=dict)  # setting -> option, by name (meaning), not id


@dataclass(frozen=True)
class ShotCamera:
    """One camera in one line of the log (which fields mean something depends on the event)."""

    was_recording: bool = False  # start: it already recorded, so this take did not start it
    confirmed: bool | None = None  # started: its status confirmed the capture
    offset_s: float | None = None  # started: its clock minus the host's, in seconds
    media: tuple[tuple[str, int], ...] = ()  # stop: (DIR/NAME, cre) of each entry that appeared
    notes: tuple[str, ...] = ()  # note: what it did during the take ("stopped recording on its own ...")
    at_start: CameraAtStart | None = None  # start: how it was set (None in logs of older rigtui)


@dataclass(frozen=True)
class ShotLine:
    event: str  # start | started | stop | note
    take: str  # the take's id: its start, host UTC
    utc: float  # when this happened, host clock
    cameras: dict[str, ShotCamera] = field(default_factory=dict)
    repaired: bool = False  # stop: written by a later command, not by `stop`


@dataclass
class LoggedTake:
    id: str
    started: float  # host UTC
    stopped: float | None = None
    repaired: bool = False
    cameras: dict[str, ShotCamera] = field(default_factory=dict)  # merged over the take's lines
    notes: list[tuple[float, str, str]] = field(default_factory=list)  # (host UTC, camera, text), in order

    @property
    def anchor(self) -> int:
        """The take's start as the host's local wall time written as an epoch (as take folders and
        camera `cre` values are)."""
        return int(self.started + time.localtime(self.started).tm_gmtoff)

    @property
    def closed(self) -> bool:
        return self.stopped is not None


def take_id(utc: float) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(utc)) + f".{int(utc * 1000) % 1000:03d}Z"


class ShotLog:
    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or data_dir()
        self.path = folder / "shotlog.jsonl"
        self.open_folder = folder / "open-takes"
        self._file = JsonLines(self.path, "shot log", _line, asdict)

    # -- reading ----------------------------------------------------------------------------------
    def takes(self) -> list[LoggedTake]:
        """Every take in the log, oldest first, each camera's facts merged over its lines."""
        takes: dict[str, LoggedTake] = {}
        for line in self._file.load():
            take = takes.setdefault(line.take, LoggedTake(line.take, line.utc))
            if line.event == "start":
                take.started = line.utc
            elif line.event == "stop":
                take.stopped, take.repaired = line.utc, line.repaired
            for key, camera in line.cameras.items():
                known = take.cameras.get(key, ShotCamera())
                take.cameras[key] = ShotCamera(
                    known.was_recording or camera.was_recording,
                    camera.confirmed if camera.confirmed is not None else known.confirmed,
                    camera.offset_s if camera.offset_s is not None else known.offset_s,
                    known.media + camera.media,
                    known.notes + camera.notes,
                    camera.at_start or known.at_start,
                )
                take.notes += [(line.utc, key, note) for note in camera.notes]
        return sorted(takes.values(), key=lambda t: t.started)

    def open_takes(self) -> list[tuple[LoggedTake, dict[str, set[str]]]]:
        """Takes started and not yet closed, oldest first, each with every camera's media list as it
        was when the take started."""
        found = []
        for take in self.takes():
            if take.closed:
                continue
            before = self._before(take.id)
            if before is None:
                continue  # its lists are gone: nothing can be told apart; the footage falls back to clocks
            found.append((take, before))
        return found

    def _before(self, take: str) -> dict[str, set[str]] | None:
        path = self.open_folder / f"{take}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
                for k, v in data.items()
            ):
                raise ValueError("not an object of lists of names")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            set_aside(path, "open take's media lists", str(exc))
            return None
        return {camera: set(names) for camera, names in data.items()}

    # -- writing ----------------------------------------------------------------------------------
    def open(
        self, before: dict[str, list[str]], recording: set[str], at_start: dict[str, CameraAtStart] | None = None
    ) -> str:
        """Open a take: keep every camera's media list as it is now, then log the start with how each
        camera was set. Raises OSError when the log cannot be written (nothing is started then)."""
        utc = time.time()
        take = take_id(utc)
        write_atomically(self.open_folder / f"{take}.json", json.dumps(before).encode())
        facts = at_start or {}
        cameras = {key: ShotCamera(was_recording=key in recording, at_start=facts.get(key)) for key in before}
        self._file.append(ShotLine("start", take, utc, cameras))
        return take

    def started(self, take: str, confirmed: dict[str, bool], offsets: dict[str, float | None]) -> None:
        cameras = {key: ShotCamera(confirmed=ok, offset_s=offsets.get(key)) for key, ok in confirmed.items()}
        self._file.append(ShotLine("started", take, time.time(), cameras))

    def note(self, take: str, camera: str, text: str) -> None:
        """Something a camera did during an open take (it stopped early, went away, came back)."""
        at = time.time()
        self._file.append(ShotLine("note", take, at, {camera: ShotCamera(notes=(text,))}))

    def close(self, take: str, media: dict[str, list[tuple[str, int]]], *, repaired: bool) -> None:
        cameras = {key: ShotCamera(media=tuple(entries)) for key, entries in media.items()}
        self._file.append(ShotLine("stop", take, time.time(), cameras, repaired))
        (self.open_folder / f"{take}.json").unlink(missing_ok=True)


# -- checking a line --------------------------------------------------------------------------------
def _line(data: object) -> ShotLine:
    """A log line's object, every field checked; ValueError or TypeError says why."""
    if not isinstance(data, dict) or set(data) != {"event", "take", "utc", "cameras", "repaired"}:
        raise ValueError("not a shot-log line")
    event, take, utc, cameras, repaired = (data[k] for k in ("event", "take", "utc", "cameras", "repaired"))
    if event not in EVENTS or not isinstance(take, str) or not TAKE_ID.fullmatch(take):
        raise ValueError("bad event or take id")
    if not _number(utc) or not 0 <= utc < 2**40 or type(repaired) is not bool:
        raise ValueError("bad time or repaired flag")
    if not isinstance(cameras, dict) or len(cameras) > MAX_CAMERAS:
        raise ValueError("cameras is not an object")
    return ShotLine(event, take, float(utc), {_key(k): _camera(v) for k, v in cameras.items()}, repaired)


def _key(key: object) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= 80 or "\0" in key:
        raise ValueError("bad camera key")
    return key


def _camera(data: object) -> ShotCamera:
    optional = {"notes", "at_start"}  # absent from lines of older rigtui
    if not isinstance(data, dict) or set(data) - optional != {"was_recording", "confirmed", "offset_s", "media"}:
        raise ValueError("not a camera's facts")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or len(notes) > MAX_MEDIA or not all(isinstance(n, str) for n in notes):
        raise ValueError("notes is not a list of strings")
    offset = data["offset_s"]
    if type(data["was_recording"]) is not bool or data["confirmed"] not in (None, True, False):
        raise ValueError("bad flags")
    if offset is not None and not (_number(offset) and abs(offset) < 2**40):
        raise ValueError("bad clock offset")
    media = data["media"]
    if not isinstance(media, list) or len(media) > MAX_MEDIA:
        raise ValueError("media is not a list")
    low, high = RANGES["cre"]
    entries = []
    for item in media:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and type(item[1]) is int):
            raise ValueError("a media entry is not [name, cre]")
        if not low <= item[1] <= high:
            raise ValueError("a media entry's cre is out of range")
        entries.append((item[0], item[1]))
    offset = None if offset is None else float(offset)
    at_start = data.get("at_start")
    at_start = None if at_start is None else _at_start(at_start)
    return ShotCamera(data["was_recording"], data["confirmed"], offset, tuple(entries), tuple(notes), at_start)


def _at_start(data: object) -> CameraAtStart:
    names = ("model", "firmware", "battery_percent", "charging", "hot", "cold", "settings")
    if not isinstance(data, dict) or set(data) != set(names):
        raise ValueError("not a camera's facts at the start")
    for name in ("model", "firmware"):
        if data[name] is not None and not _text(data[name]):
            raise ValueError(f"{name} is not a name")
    battery = data["battery_percent"]
    if battery is not None and not (type(battery) is int and 0 <= battery <= 100):
        raise ValueError("battery_percent is not a percentage")
    if any(data[name] is not None and type(data[name]) is not bool for name in ("charging", "hot", "cold")):
        raise ValueError("bad flags at the start")
    settings = data["settings"]
    if not isinstance(settings, dict) or len(settings) > MAX_SETTINGS:
        raise ValueError("settings is not an object")
    if not all(_text(k) and _text(v) for k, v in settings.items()):
        raise ValueError("a setting is not a pair of names")
    return CameraAtStart(**{**data, "settings": dict(settings)})


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and "\0" not in value


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)
