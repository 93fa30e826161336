"""The sync audit of a take: when each camera really started, measured from its clips' audio.

Cameras start recording 100-200 ms after their start request, each with its own latency and some
jitter; editors line the clips up by the room sound. After an offload every video take folder is
audited once (rigtui.gopro.audiosync): its `sync.json`, an editor timeline `TAKE.otio` with each
camera's clip at its measured start (rigtui.gopro.timeline), and a section of its custody report.
`rigtui sync-report TAKE` shows it, the app's take list shows each take's spread, and each camera's
mean latency over the audited takes can shift its next start request (`[record] start_compensation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigtui import __version__
from rigtui.files import write_atomically
from rigtui.gopro.audiosync import SyncExtraMissing, SyncOptions, TakeSync, audit_take, probe_clip
from rigtui.gopro.custody import JSON_NAME, SYNC_NAME, add_sync, local_time
from rigtui.gopro.timeline import write_timeline
from rigtui.ops.errors import UsageError
from rigtui.ops.report import Line
from rigtui.paths import state_dir
from rigtui.text import shown

FORMAT = "rigtui-sync/1"
# A take folder's clips: CAMERA_GXccnnnn.MP4 (rigtui.gopro.takes.destination): chapter cc of recording nnnn.
CLIP = re.compile(r"(?P<camera>[A-Za-z0-9-]{1,64})_G[A-Z](?P<chapter>[0-9]{2})(?P<media>[0-9]{4})\.MP4")
MAX_CLIPS = 1000  # cameras of one take the audit reads (a folder is not trusted to be small)
HISTORY_NAME = "start-latency.json"
HISTORY_FORMAT = "rigtui-start-latency/1"
MAX_HISTORY = 1000  # audited takes (and compensated records) remembered


def take_clips(folder: Path) -> dict[str, list[Path]]:
    """Each camera's recording in a take folder, its chapters in order (a camera holds one recording
    per take; should it hold more, its first). Only plain files named as the offload names them."""
    found: dict[str, dict[str, list[tuple[str, Path]]]] = {}
    for path in sorted(folder.iterdir()):
        match = CLIP.fullmatch(path.name)
        if match is None or path.is_symlink() or not path.is_file():
            continue
        recordings = found.setdefault(match["camera"], {})
        recordings.setdefault(match["media"], []).append((match["chapter"], path))
        if len(found) > MAX_CLIPS:
            break
    return {
        camera: [path for _, path in sorted(recordings[min(recordings)])]
        for camera, recordings in sorted(found.items())
    }


@dataclass(frozen=True)
class TakeAudit:
    """One take folder's audit: the measured offsets and the files written, or why there are none."""

    folder: Path
    sync: TakeSync | None
    error: str | None = None
    timeline: Path | None = None
    skipped: bool = False  # the `rigtui[sync]` extra is not installed: nothing was measured

    def to_json(self) -> dict[str, Any]:
        """sync.json: the offsets, clip paths relative to the take folder."""
        clips = []
        for clip in self.sync.clips if self.sync else ():
            item = clip.to_json()
            item["path"] = clip.path.name
            clips.append(item)
        return {
            "format": FORMAT,
            "take": self.folder.name,
            "audited_at": local_time(time.time()),
            "rigtui": __version__,
            "reference": self.sync.reference if self.sync else None,
            "spread_s": self.sync.spread_s if self.sync else None,
            "timeline": self.timeline.name if self.timeline else None,
            "error": self.error,
            "clips": clips,
        }


def audit_take_folder(folder: Path, reference: str | None = None) -> TakeAudit:
    """Audit a take folder and write what it found: sync.json, TAKE.otio and the custody report's
    sync section. Blocking (callers run it in a thread); a clip that cannot be aligned is flagged,
    never guessed; without PyAV (the `rigtui[sync]` extra) the error says what to install."""
    try:
        clips = take_clips(folder)
    except OSError as exc:
        return TakeAudit(folder, None, f"cannot read {folder}: {exc.strerror or exc}")
    if not clips:
        return TakeAudit(folder, None, "no video clips in this take folder")
    try:
        durations = [_duration(chapters[0]) for chapters in clips.values()]
        known = [d for d in durations if d is not None]
        options = SyncOptions.fitted(statistics.median(known) if known else 0.0, reference=reference)
        sync = audit_take({camera: chapters[0] for camera, chapters in clips.items()}, options)
        timeline = write_timeline(folder / f"{folder.name}.otio", folder.name, clips, sync)
    except SyncExtraMissing as exc:
        return TakeAudit(folder, None, str(exc), skipped=True)
    except OSError as exc:
        return TakeAudit(folder, None, f"cannot write the timeline in {folder}: {exc.strerror or exc}")
    audit = TakeAudit(folder, sync, None, timeline)
    data = audit.to_json()
    try:
        write_atomically(folder / SYNC_NAME, (json.dumps(data, indent=1) + "\n").encode())
        add_sync(folder, data)
    except OSError as exc:
        return TakeAudit(folder, sync, f"cannot write {SYNC_NAME} in {folder}: {exc.strerror or exc}", timeline)
    return audit


def _duration(path: Path) -> float | None:
    try:
        return probe_clip(path).audio_s
    except Exception:  # an unreadable clip is flagged by the audit itself
        return None


def read_sync(folder: Path) -> dict[str, Any] | None:
    """A take folder's sync.json, or None when it has none rigtui wrote (it is anyone's file)."""
    try:
        data = json.loads((folder / SYNC_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("clips"), list):
        return None
    return data


def take_sync(folder: Path, *, again: bool = False, reference: str | None = None) -> dict[str, Any]:
    """A take folder's sync audit: its sync.json, or measured now when it has none (or `again`, or
    against another reference camera)."""
    data = None if again or reference else read_sync(folder)
    if data is None:
        audit = audit_take_folder(folder, reference)
        keep_audit(audit)
        data = read_sync(folder) if audit.error is None else None
        data = data or audit.to_json()
    return data


def sync_ok(data: dict[str, Any]) -> bool:
    """Every clip aligned, none flagged, nothing in the way."""
    clips = data.get("clips")
    return (
        not data.get("error")
        and isinstance(clips, list)
        and all(isinstance(c, dict) and not c.get("flag") for c in clips)
    )


def spread_ms(folder: Path) -> float | None:
    """A take's measured start spread (ms), when it was audited."""
    data = read_sync(folder)
    spread = _seconds(data.get("spread_s")) if data else None
    return None if spread is None else spread * 1000


def take_folder(text: str, roots: Iterable[str | Path] = ()) -> Path:
    """TAKE on the command line: a take folder's path, or its name in one of `roots` ([offload]
    destinations)."""
    given = Path(text).expanduser()
    candidates = [given, *(Path(root).expanduser() / text for root in roots if not given.is_absolute())]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UsageError(f"no take folder {shown(text, 200)!r} (give its path, or its name in an [offload] destination)")


def report_lines(data: dict[str, Any]) -> list[Line]:
    """sync.json for the operator: a line on the take, then one per clip, the flagged ones as trouble.
    The file is anyone's: every value is checked as it is shown."""
    clips = [c for c in data.get("clips", []) if isinstance(c, dict)]
    take = shown(str(data.get("take")), 200)
    if data.get("error"):
        return [Line(f"sync {take}: not audited: {shown(str(data['error']), 300)}", True)]
    aligned = [c for c in clips if _seconds(c.get("offset_s")) is not None]
    spread = _ms(data.get("spread_s"))
    lines = [
        Line(
            f"sync {take}: {len(aligned)} of {len(clips)} clips aligned, spread {spread} "
            f"(reference {shown(str(data.get('reference')), 80)})",
            len(aligned) < len(clips),
        ),
        Line(f"  {'camera':24} {'after reference':>16} {'after earliest':>15} {'confidence':>10}  timecode"),
    ]
    for clip in clips:
        camera = shown(str(clip.get("camera")), 24)
        why = f"{shown(str(clip.get('flag')), 40)}: {shown(str(clip.get('detail')), 200)}" if clip.get("flag") else ""
        offset = _seconds(clip.get("offset_s"))
        if offset is None:
            lines.append(Line(f"  {camera:24} FLAGGED {why}", True))
            continue
        confidence = _seconds(clip.get("confidence"))
        timecode = _seconds(clip.get("timecode_offset_s"))
        lines.append(
            Line(
                f"  {camera:24} {offset * 1000:+13.3f} ms {_ms(clip.get('from_earliest_s')):>15} "
                f"{'reference' if confidence is None else f'{confidence:.1f}':>10}  "
                f"{'-' if timecode is None else f'{timecode * 1000:+.1f} ms'}" + (f"  {why}" if why else ""),
                bool(why),
            )
        )
    if data.get("timeline"):
        lines.append(Line(f"  timeline for the editor: {shown(str(data['timeline']), 200)}"))
    return lines


def _seconds(value: object) -> float | None:
    """A number from sync.json, if it is a plain finite one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 1e9:
        return None
    return float(value) if math.isfinite(value) else None


def _ms(seconds: object) -> str:
    value = _seconds(seconds)
    return "-" if value is None else f"{value * 1000:.3f} ms"


def keep_audit(audit: TakeAudit, copies: Iterable[Path] = ()) -> None:
    """After a take's audit: its cameras' latencies learnt, its sync.json, timeline and custody section
    also in the same take folder of the other destinations (the clips there are the same files)."""
    if audit.sync is None:
        return
    with contextlib.suppress(OSError):  # an unwritable state folder costs only the compensation
        learn_latencies(audit)
    for folder in copies:
        try:
            for name in (SYNC_NAME, audit.timeline.name if audit.timeline else None):
                if name:
                    write_atomically(folder / name, (audit.folder / name).read_bytes())
            data = read_sync(folder)
            if data is not None:
                add_sync(folder, data)
        except OSError:  # that destination failed: the offload's report says so already
            continue


async def audit_takes(folders: Iterable[Path]) -> list[TakeAudit]:
    """Audit take folders one after another, off the event loop (each already uses both cores)."""
    return [await asyncio.to_thread(audit_take_folder, folder) for folder in folders]


def audit_lines(audits: list[TakeAudit]) -> list[Line]:
    """One line per audited take (a missing extra said once)."""
    lines = []
    for audit in audits:
        if audit.skipped:  # an optional extra, said once: the footage is not at stake
            return [*lines, Line(f"sync audit skipped: {audit.error}")]
        if audit.sync is None:
            lines.append(Line(f"sync {audit.folder.name}: not audited: {audit.error}", True))
            continue
        flagged = len(audit.sync.flagged)
        spread = f"{audit.sync.spread_s * 1000:.1f} ms" if audit.sync.spread_s is not None else "-"
        lines.append(
            Line(
                f"sync {audit.folder.name}: {len(audit.sync.aligned)} of {len(audit.sync.clips)} clips aligned, "
                f"start spread {spread}" + (f", {flagged} flagged (rigtui sync-report)" if flagged else ""),
                bool(flagged) or audit.error is not None,
            )
        )
    return lines


# -- start compensation ---------------------------------------------------------------------------------
def history_path() -> Path:
    return state_dir() / HISTORY_NAME


def _load_history(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("format") != HISTORY_FORMAT:
        data = {"format": HISTORY_FORMAT}
    for key in ("takes", "delays"):
        if not isinstance(data.get(key), dict):
            data[key] = {}
    return data


def _save_history(path: Path, data: dict[str, Any]) -> None:
    for key in ("takes", "delays"):
        data[key] = dict(list(data[key].items())[-MAX_HISTORY:])
    write_atomically(path, (json.dumps(data, indent=1) + "\n").encode())


def _numbers(value: object) -> dict[str, float]:
    """A {camera: seconds} table from a file: anything else in it is left out."""
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float) and abs(v) < 60}


def note_delays(take_id: str, delays: dict[str, float], path: Path | None = None) -> None:
    """The start delays a compensated record gave its cameras (its shot log take): the audit takes
    them off the measured offsets, so the latencies it learns are the cameras' own."""
    path = path or history_path()
    data = _load_history(path)
    data["delays"][take_id] = delays
    _save_history(path, data)


def learn_latencies(audit: TakeAudit, path: Path | None = None) -> None:
    """Each aligned camera's start, relative to the take's mean start, less any delay rigtui gave it."""
    if audit.sync is None or len(audit.sync.aligned) < 2:
        return
    path = path or history_path()
    data = _load_history(path)
    shot = _shot_take(audit.folder)
    delays = _numbers(data["delays"].get(shot)) if shot else {}
    starts = {c.camera: c.offset_s - delays.get(c.camera, 0.0) for c in audit.sync.aligned if c.offset_s is not None}
    mean = statistics.fmean(starts.values())
    data["takes"][str(audit.folder.resolve())] = {camera: start - mean for camera, start in starts.items()}
    _save_history(path, data)


def _shot_take(folder: Path) -> str | None:
    """The shot log take a take folder holds, from its custody report."""
    try:
        report = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
        shot = report["take"]["shot_log_take"]
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return None
    return shot if isinstance(shot, str) else None


def start_delays(cameras: Iterable[str], takes: int, path: Path | None = None) -> dict[str, float]:
    """How long to hold back each camera's start request so that all start together: the slowest
    starter (by its mean over the last `takes` audited takes) gets none, the others the difference.
    Cameras with no audited take get none; fewer than two known cameras: no compensation."""
    data = _load_history(path or history_path())
    recent = [_numbers(t) for t in list(data["takes"].values())[-takes:]]
    means = {}
    for camera in cameras:
        seen = [t[camera] for t in recent if camera in t]
        if seen:
            means[camera] = statistics.fmean(seen)
    if len(means) < 2:
        return {}
    slowest = max(means.values())
    return {camera: round(slowest - mean, 6) for camera, mean in means.items()}
