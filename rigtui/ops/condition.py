"""Each camera's condition in one word, worst first: what its row says, what the summary counts, what
the filter and the default sort go by. A camera that should record and does not is the worst."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rigtui.gopro.rig import Rig
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.report import Line


@dataclass(frozen=True)
class Condition:
    word: str  # what the row and the summary say; also a filter word (`/not rec`)
    glyph: str  # reads without colour (16 colours, NO_COLOR, a monochrome terminal)
    rank: int  # 0 is the loudest; problems sort first
    problem: bool


NOT_REC = Condition("NOT REC", "✖", 0, True)
OFFLINE = Condition("OFFLINE", "✖", 1, True)
CLASH = Condition("CLASH", "⚠", 2, True)
SD_ERR = Condition("SD ERR", "⚠", 3, True)
HOT = Condition("HOT", "▲", 4, True)
COLD = Condition("COLD", "▼", 5, True)
LOW_BAT = Condition("LOW BAT", "▼", 6, True)
SD_LOW = Condition("SD LOW", "▼", 7, True)
BUSY = Condition("BUSY", "…", 8, True)
REC = Condition("REC", "●", 9, False)
READY = Condition("READY", "✓", 10, False)
CONDITIONS = (NOT_REC, OFFLINE, CLASH, SD_ERR, HOT, COLD, LOW_BAT, SD_LOW, BUSY, REC, READY)
CLOCK_OFF = Condition("CLOCK OFF", "◷", 8, True)  # not a row's word (its Clock cell says it): counted above


def condition(snap: CameraSnapshot) -> Condition:
    """The one word that matters most about this camera now."""
    if snap.should_record and not snap.recording:
        return NOT_REC
    if not snap.online:
        return OFFLINE
    if snap.clash:
        return CLASH
    if snap.sd_state not in (None, "ok"):
        return SD_ERR
    if snap.hot:
        return HOT
    if snap.cold:
        return COLD
    if snap.recording:
        return REC  # low battery or card while recording shows in their own columns
    if snap.battery_low:
        return LOW_BAT
    if snap.sd_low:
        return SD_LOW
    if snap.busy or snap.control_owner == 1:  # writing, or someone in its menus: it refuses commands
        return BUSY
    return READY


def problems_first(snapshots: Iterable[CameraSnapshot]) -> list[CameraSnapshot]:
    """The default order: the loudest condition first, then by key (stable from tick to tick)."""
    return sorted(snapshots, key=lambda s: (condition(s).rank, s.key))


def has_condition(snap: CameraSnapshot, text: str) -> bool:
    """Whether a filter names this camera's condition (`not rec`, `hot`, `offline`, `problem`)."""
    needle = " ".join(text.lower().split())
    found = condition(snap)
    return needle == found.word.lower() or (needle in ("problem", "problems") and found.problem)


def summary_parts(snapshots: list[CameraSnapshot], name: Callable[[str], str]) -> list[tuple[str, Condition | None]]:
    """The rig in a few words: online and recording counts, then every problem class there is, with
    the cameras that should record and do not named, briefly (the three first)."""
    by_word: dict[str, list[CameraSnapshot]] = {}
    for snap in snapshots:
        by_word.setdefault(condition(snap).word, []).append(snap)
    online = sum(s.online for s in snapshots)
    parts: list[tuple[str, Condition | None]] = [(f"ONLINE {online}/{len(snapshots)}", None)]
    taking = [s for s in snapshots if s.should_record or s.recording]
    if taking:
        parts.append((f"REC {sum(s.recording for s in taking)}/{len(taking)}", REC))
    for found in CONDITIONS:
        cameras = by_word.get(found.word, [])
        if not found.problem or not cameras:
            continue
        if found is NOT_REC:
            names = ", ".join(short(s.key, name(s.key)) for s in cameras[:3]) + (" …" if len(cameras) > 3 else "")
            parts.append((f"NOT REC: {names}", found))
        else:
            parts.append((f"{found.word} {len(cameras)}", found))
    clocks_off = sum(s.clock_off for s in snapshots if s.online)
    if clocks_off:
        parts.append((f"CLOCK OFF {clocks_off}", CLOCK_OFF))
    return parts


def short(key: str, name: str) -> str:
    """A camera in few characters: its nickname, else its serial's start and end (C35…4645)."""
    return name if name != key or len(key) <= 10 else f"{key[:3]}…{key[-4:]}"


def acknowledge(rig: Rig, selection: Iterable[str] | None = None) -> list[Line]:
    """The operator has seen the trouble: cameras that should record and do not leave the take (they
    are no longer NOT REC), and failures shown in rows are cleared."""
    lines = []
    for link in rig.cameras(selection):
        if link.should_record and not (link.online and link.snapshot().recording):
            link.should_record = False
            lines.append(Line(f"{link.key}: not recording, acknowledged"))
        if link.online and link.last_error:
            link.last_error = None
    return lines
