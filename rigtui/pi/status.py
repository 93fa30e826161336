"""A Pi's status: one typed shape for the service that builds it, the line it is sent as, and the
operator's side that reads it.

`PiStatus.from_json` is the parse boundary for bytes from a Pi: unknown keys are ignored, a known
field of the wrong JSON type is refused naming the field, and what is kept is bounded (list and string
lengths; control characters and lone surrogates replaced) so a hostile Pi can neither grow the
operator's memory nor write to the operator's terminal through it. Imports nothing heavy: the
operator's side imports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from rigtui.text import shown

MAX_ITEMS = 32  # last-save paths and night changes kept (the first ones)
MAX_TEXT = 4096  # characters kept of any string (PATH_MAX)
MAX_WHOLE = 2**63 - 1  # larger numbers are refused (a huge int does not even convert to a float)

T = TypeVar("T")


@dataclass(frozen=True)
class RingStatus:
    frames: int
    capacity: int
    seconds: float


@dataclass(frozen=True)
class LastSave:
    paths: tuple[str, ...]  # the first MAX_ITEMS files written
    time: float  # epoch seconds
    reason: str

    @classmethod
    def of(cls, paths: list[str], time: float, reason: str) -> LastSave:
        """A save as the service records it, kept to what a status line carries."""
        return cls(tuple(paths[:MAX_ITEMS]), round(time, 3), reason)


@dataclass(frozen=True)
class PiStatus:
    """The fields in wire order; `X | None` ones may be missing or null on the wire."""

    night: bool
    level: float | None  # None before the first frame
    dark_threshold: float
    bright_threshold: float
    ring: RingStatus
    fps: float
    exposure_us: float | None
    gain: float | None
    frame_id: int | None
    last_save: LastSave | None
    disk_free_mb: int | None
    uptime_s: float
    backend: str
    export_dir: str | None  # absolute, on the Pi; older services do not send it
    changes: tuple[str, ...]  # what the last day/night switch changed
    dropped: int
    error: str | None
    rss_mb: int | None = None  # the service process's memory, filled by the line server
    swap_pct: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form (the keys and nesting of the service's `status` line)."""
        return asdict(self, dict_factory=_wire)

    @classmethod
    def from_json(cls, data: object) -> PiStatus:
        """A decoded status line as a PiStatus; ValueError naming the field if it is not one."""
        s = _Object(data, "status")
        return cls(
            night=s.need(_flag, "night"),
            level=s.may(_amount, "level"),
            dark_threshold=s.need(_number, "dark_threshold"),
            bright_threshold=s.need(_number, "bright_threshold"),
            ring=s.need(_ring, "ring"),
            fps=s.need(_amount, "fps"),
            exposure_us=s.may(_amount, "exposure_us"),
            gain=s.may(_amount, "gain"),
            frame_id=s.may(_whole, "frame_id"),
            last_save=s.may(_last_save, "last_save"),
            disk_free_mb=s.may(_whole, "disk_free_mb"),
            uptime_s=s.need(_amount, "uptime_s"),
            backend=s.need(_text, "backend"),
            export_dir=s.may(_text, "export_dir"),
            changes=s.need(_texts, "changes"),
            dropped=s.need(_whole, "dropped"),
            error=s.may(_text, "error"),
            rss_mb=s.may(_whole, "rss_mb"),
            swap_pct=s.may(_whole, "swap_pct"),
        )


def decode_status(line: bytes | str) -> PiStatus:
    """One status line from a Pi as a PiStatus; ValueError (one line, naming the problem) if not."""
    try:
        data = json.loads(line)
    except ValueError:  # JSONDecodeError, bad UTF-8, an integer of too many digits
        raise ValueError("not JSON") from None
    except RecursionError:
        raise ValueError("not JSON (nested too deeply)") from None
    return PiStatus.from_json(data)


def _wire(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in items}


def _ring(value: object, name: str) -> RingStatus:
    ring = _Object(value, name)
    return RingStatus(ring.need(_whole, "frames"), ring.need(_whole, "capacity"), ring.need(_amount, "seconds"))


def _last_save(value: object, name: str) -> LastSave:
    last = _Object(value, name)
    return LastSave(last.need(_texts, "paths"), last.need(_number, "time"), last.need(_text, "reason"))


class _Object:
    """The fields of one JSON object, each read with a checker that names it on failure."""

    def __init__(self, data: object, where: str) -> None:
        self.data, self.where = _object(data, where), where

    def need(self, read: Callable[[object, str], T], key: str) -> T:
        value = self.data.get(key)
        if value is None:
            raise ValueError(f"{self._name(key)}: missing")
        return read(value, self._name(key))

    def may(self, read: Callable[[object, str], T], key: str) -> T | None:
        value = self.data.get(key)
        return None if value is None else read(value, self._name(key))

    def _name(self, key: str) -> str:
        return key if self.where == "status" else f"{self.where}.{key}"


def _kind(value: object) -> str:
    """The JSON type of a decoded value, for messages (never the value itself: it is hostile)."""
    kinds = ((bool, "a boolean"), (int | float, "a number"), (str, "a string"), (list, "a list"), (dict, "an object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "null")


def _object(value: object, name: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object, got {_kind(value)}")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {_kind(value)}")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {_kind(value)}")
    if isinstance(value, int) and abs(value) > MAX_WHOLE:
        raise ValueError(f"{name}: too large")
    if not math.isfinite(value):
        raise ValueError(f"{name}: not a finite number")
    return float(value)


def _amount(value: object, name: str) -> float:
    """A number that cannot be negative (a rate, a duration, a level)."""
    number = _number(value, name)
    if number < 0:
        raise ValueError(f"{name}: negative")
    return number


def _whole(value: object, name: str) -> int:
    """A count or an id: a whole number, not negative."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected a whole number, got {_kind(value)}")
    if value < 0:
        raise ValueError(f"{name}: negative")
    if value > MAX_WHOLE:
        raise ValueError(f"{name}: too large")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {_kind(value)}")
    return shown(value, MAX_TEXT)


def _texts(value: object, name: str) -> tuple[str, ...]:
    """A list of strings; only the first MAX_ITEMS are kept (and checked)."""
    if not isinstance(value, list):
        raise ValueError(f"{name}: expected a list, got {_kind(value)}")
    return tuple(_text(item, f"{name}[{i}]") for i, item in enumerate(value[:MAX_ITEMS]))
