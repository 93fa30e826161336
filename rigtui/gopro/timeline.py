"""An editor's timeline of one take (OpenTimelineIO): one video track per camera, each camera's recording
starting where the sync audit measured it.

Placement: the timeline's global start time is the earliest measured offset and each track opens
with a gap of (its offset - the earliest), so a camera's first clip starts, in timeline time, exactly
at its measured offset from the reference camera (global start + the clip's range in its track).
The chapters of a recording follow each other on its track, each as long as its file.

Times are at each clip's own frame rate with fractional values: an editor sees the footage's rate,
and the measured sub-frame offset survives in the value (an exporter to a frame-only format rounds
it to a frame). The timeline's rate is the reference camera's.

Media references are paths relative to the .otio file, so a take folder that moves still links.
Clips the audit could not align are left off the tracks (placing them would be a guess) and listed,
with the reason, in the timeline's metadata under "rigtui" / "unaligned"; an aligned clip whose
timecode disagrees carries a marker saying so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from rigtui.files import write_atomically
from rigtui.gopro.audiosync import AudioUnreadable, ClipInfo, ClipOffset, SyncExtraMissing, TakeSync, probe_clip

NO_VIDEO_RATE = 48_000.0  # a clip without video is placed at the audio's rate


def _otio() -> ModuleType:
    try:
        import opentimelineio
    except ImportError as exc:
        raise SyncExtraMissing("the editor timeline needs OpenTimelineIO: pip install 'rigtui[sync]'") from exc
    return opentimelineio


def write_timeline(path: Path, take_name: str, cameras: Mapping[str, Sequence[Path]], sync: TakeSync) -> Path:
    """Write `path` (.otio) for a take: `cameras` maps each camera's name to its chapters in order (the
    first is the clip `sync` measured). Returns `path`. Raises SyncExtraMissing without the extra."""
    timeline = build_timeline(path.parent, take_name, cameras, sync)
    write_atomically(path, _otio().adapters.write_to_string(timeline, "otio_json").encode())
    return path


def build_timeline(folder: Path, take_name: str, cameras: Mapping[str, Sequence[Path]], sync: TakeSync) -> Any:
    """The timeline (an opentimelineio Timeline) as written to a file in `folder`: media paths are relative to it."""
    otio = _otio()
    measured = {clip.camera: clip for clip in sync.clips}
    earliest = min((c.offset_s for c in sync.clips if c.offset_s is not None and c.camera in cameras), default=0.0)
    unaligned: list[dict[str, Any]] = []
    timeline = otio.schema.Timeline(name=take_name)
    for camera, chapters in cameras.items():
        clip = measured.get(camera)
        if clip is None or clip.offset_s is None:
            flag, detail = (clip.flag, clip.detail) if clip else ("not_audited", "not in the sync audit")
            unaligned += [_listing(folder, camera, chapter, flag, detail) for chapter in chapters]
            continue
        track, left_out = _track(otio, folder, camera, chapters, clip, clip.offset_s - earliest)
        timeline.tracks.append(track)
        unaligned += left_out
    rates = {t.name: t.find_clips()[0].source_range.duration.rate for t in timeline.tracks if t.find_clips()}
    rate = rates.get(sync.reference) or next(iter(rates.values()), NO_VIDEO_RATE)  # the reference's, if placed
    timeline.global_start_time = otio.opentime.from_seconds(earliest, rate)
    timeline.metadata["rigtui"] = {
        "take": take_name,
        "reference": sync.reference,
        "spread_s": sync.spread_s,
        "unaligned": unaligned,
    }
    return timeline


def _probe(path: Path) -> ClipInfo | None:
    try:
        return probe_clip(path)
    except AudioUnreadable:
        return None


def _track(
    otio: ModuleType, folder: Path, camera: str, chapters: Sequence[Path], measured: ClipOffset, lead_s: float
) -> tuple[Any, list[dict[str, Any]]]:
    """A camera's track: a gap of `lead_s`, then its chapters back to back up to the first that cannot
    be read (its length is unknown, so nothing after it can be placed); those are listed instead."""
    track = otio.schema.Track(name=camera, kind=otio.schema.TrackKind.Video)
    for index, chapter in enumerate(chapters):
        info = _probe(chapter)
        if info is None:
            detail = f"chapter {index + 1} cannot be read: its length, and where later chapters go, is unknown"
            return track, [_listing(folder, camera, c, "unreadable", detail) for c in chapters[index:]]
        rate = info.fps or NO_VIDEO_RATE
        if index == 0 and lead_s > 0:
            track.append(otio.schema.Gap(duration=otio.opentime.from_seconds(lead_s, rate)))
        track.append(_clip(otio, folder, chapter, info, rate, measured, index))
    return track, []


def _clip(
    otio: ModuleType, folder: Path, chapter: Path, info: ClipInfo, rate: float, measured: ClipOffset, index: int
) -> Any:
    start = otio.opentime.RationalTime(0, rate)
    whole = otio.opentime.TimeRange(start, otio.opentime.from_seconds(info.duration_s, rate))
    reference = otio.schema.ExternalReference(target_url=_relative(folder, chapter), available_range=whole)
    clip = otio.schema.Clip(name=chapter.name, media_reference=reference, source_range=whole)
    clip.metadata["rigtui"] = {"chapter": index + 1, **measured.to_json(), "path": _relative(folder, chapter)}
    if index == 0 and measured.flag:
        marked = otio.opentime.TimeRange(start, otio.opentime.RationalTime(0, rate))
        clip.markers.append(otio.schema.Marker(name=f"{measured.flag}: {measured.detail}", marked_range=marked))
    return clip


def _relative(folder: Path, chapter: Path) -> str:
    """The chapter's path from the .otio file's folder ('/' separated), or a file URL where none exists."""
    try:
        return Path(os.path.relpath(chapter.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return chapter.resolve().as_uri()


def _listing(folder: Path, camera: str, chapter: Path, flag: str | None, detail: str) -> dict[str, Any]:
    return {"camera": camera, "path": _relative(folder, chapter), "flag": flag, "detail": detail}
