"""The sync audit measures each camera's true start from the room sound, flags what it cannot align,
and writes an editor timeline that places every camera at its measured offset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="the sync audit decodes clips with PyAV (the rigtui[sync] extra)")
otio = pytest.importorskip("opentimelineio", reason="the editor timeline needs OpenTimelineIO (the rigtui[sync] extra)")

from rigtui.gopro.audiosync import (  # noqa: E402 - after the extra is known to be there
    NO_MATCH,
    SILENT,
    TIMECODE_DISAGREES,
    TOO_SHORT,
    UNREADABLE,
    SyncExtraMissing,
    SyncOptions,
    audit_take,
    correlate,
    read_audio,
    timecode_seconds,
)
from rigtui.gopro.timeline import write_timeline  # noqa: E402
from rigtui.sim.clips import AUDIO_RATE, RoomSound, timecode, write_clip  # noqa: E402

pytestmark = pytest.mark.xdist_group("audiosync")  # one worker builds the take once

T0 = 1_790_000_000.0  # the start request, wall clock
ROOM = RoomSound(seed=3)
FPS = 30.0
# camera -> (start after the request, seconds recorded): sub-millisecond fractions, one before the reference
GOOD = {
    "C3001": (0.137, 30.0),
    "C3002": (0.162, 20.0),
    "C3003": (0.1734567, 12.0),
    "C3004": (0.1900123, 25.0),
    "C3005": (0.1000401, 15.0),
}


def clip(folder: Path, camera: str, start: float, seconds: float, **kwargs: object) -> Path:
    path = folder / f"{camera}_GX010001.MP4"
    options: dict[str, object] = {"room": ROOM, "timecode": timecode(T0 + start, FPS)} | kwargs
    size = int(seconds * 8_000) + 100_000  # room for 32 kb/s of AAC, and a tiny video
    write_clip(path, start_wall=T0 + start, duration_s=seconds, disk_bytes=size, fill_seed=1, fps=FPS, **options)
    return path


def video_only(path: Path) -> Path:
    """A valid MP4 without an audio track."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((36, 64, 3), np.uint8), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("take01")
    clips = {camera: clip(folder, camera, start, seconds) for camera, (start, seconds) in GOOD.items()}
    clips["SILENT"] = clip(folder, "SILENT", 0.15, 20.0, room=None)
    clips["SHORT"] = clip(folder, "SHORT", 0.15, 5.0)
    clips["OTHERROOM"] = clip(folder, "OTHERROOM", 0.15, 20.0, room=RoomSound(seed=99))
    clips["LATE"] = clip(folder, "LATE", 0.137 + 3.0, 20.0)  # beyond the ±2 s searched
    clips["BADTC"] = clip(folder, "BADTC", 0.155, 20.0, timecode=timecode(T0 + 0.155 + 0.4, FPS))
    clips["UNSYNCED"] = clip(folder, "UNSYNCED", 0.145, 20.0, timecode=timecode(T0 + 0.145 + 3600, FPS))
    clips["GARBAGE"] = folder / "GARBAGE_GX010001.MP4"
    clips["GARBAGE"].write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a movie" * 300)
    clips["EMPTY"] = folder / "EMPTY_GX010001.MP4"
    clips["EMPTY"].write_bytes(b"")
    clips["TRUNCATED"] = folder / "TRUNCATED_GX010001.MP4"
    clips["TRUNCATED"].write_bytes(clips["C3001"].read_bytes()[:20_000])  # the header says 30 s, ~3 s are there
    clips["NOAUDIO"] = video_only(folder / "NOAUDIO_GX010001.MP4")
    clips["MISSING"] = folder / "MISSING_GX010001.MP4"
    return clips


@pytest.fixture(scope="module")
def audit(take: dict[str, Path]):
    sync = audit_take(take)
    return {c.camera: c for c in sync.clips}, sync


def truth(camera: str, reference: str = "C3001") -> float:
    return GOOD[camera][0] - GOOD[reference][0]


def test_every_audible_clip_is_placed_to_a_tenth_of_a_millisecond(audit) -> None:
    clips, sync = audit
    assert sync.reference == "C3001"
    for camera in GOOD:
        assert clips[camera].flag is None, clips[camera]
        assert clips[camera].offset_s == pytest.approx(truth(camera), abs=1e-4), camera
    assert clips["C3001"].offset_s == 0.0
    assert clips["C3002"].confidence is not None and clips["C3002"].confidence > 10


def test_offsets_from_the_earliest_clip_and_the_spread(audit) -> None:
    clips, sync = audit
    assert clips["C3005"].from_earliest_s == 0.0  # started first, before the reference
    assert clips["C3004"].from_earliest_s == pytest.approx(GOOD["C3004"][0] - GOOD["C3005"][0], abs=1e-4)
    aligned = [c.offset_s for c in sync.aligned if c.offset_s is not None]
    assert sync.spread_s == pytest.approx(max(aligned) - min(aligned))
    assert sync.spread_s == pytest.approx(GOOD["C3004"][0] - GOOD["C3005"][0], abs=1e-4)


@pytest.mark.parametrize(
    ("camera", "flag", "reason"),
    [
        ("SILENT", SILENT, "no sound"),
        ("SHORT", TOO_SHORT, "needs 9.0 s"),
        ("OTHERROOM", NO_MATCH, "confidence"),
        ("LATE", NO_MATCH, ""),
        ("GARBAGE", UNREADABLE, "cannot read"),
        ("EMPTY", UNREADABLE, "cannot read"),
        ("TRUNCATED", UNREADABLE, "cut short"),
        ("NOAUDIO", UNREADABLE, "no audio track"),
        ("MISSING", UNREADABLE, "not found"),
    ],
)
def test_a_clip_that_cannot_be_aligned_is_flagged_not_guessed(audit, camera: str, flag: str, reason: str) -> None:
    clips, sync = audit
    assert (clips[camera].flag, clips[camera].offset_s, clips[camera].from_earliest_s) == (flag, None, None)
    assert clips[camera].detail and reason in clips[camera].detail
    assert clips[camera] in sync.flagged and clips[camera] not in sync.aligned


def test_timecodes_cross_check_the_audio_without_overriding_it(audit) -> None:
    clips, _ = audit
    for camera in GOOD:  # consistent timecodes: reported, no flag
        assert clips[camera].timecode_offset_s == pytest.approx(truth(camera), abs=1.01 / FPS)
    assert clips["BADTC"].flag == TIMECODE_DISAGREES
    assert clips["BADTC"].offset_s == pytest.approx(0.155 - 0.137, abs=1e-4)  # the audio offset stands
    assert clips["BADTC"].timecode_offset_s == pytest.approx(0.155 + 0.4 - 0.137, abs=1.01 / FPS)
    # Most cameras' clocks agree with the sound: one an hour off is flagged too (its audio offset stands).
    assert clips["UNSYNCED"].flag == TIMECODE_DISAGREES
    assert clips["UNSYNCED"].offset_s == pytest.approx(0.145 - 0.137, abs=1e-4)
    assert clips["UNSYNCED"].timecode_offset_s == pytest.approx(3600, abs=0.1)


def test_cameras_whose_clocks_were_not_synced_have_their_timecodes_reported_not_flagged(tmp_path: Path) -> None:
    clock_off = {"C3001": 0.0, "C3002": 1.3, "C3003": -47.0, "C3004": 0.8, "C3005": 612.0}  # unsynced, as cameras are
    clips = {
        camera: clip(tmp_path, camera, start, 12.0, timecode=timecode(T0 + start + clock_off[camera], FPS))
        for camera, (start, _) in GOOD.items()
    }
    sync = audit_take(clips)
    assert len(sync.aligned) == len(GOOD) and not sync.flagged, [c.detail for c in sync.flagged]
    found = {c.camera: c.timecode_offset_s for c in sync.clips}
    assert found["C3003"] == pytest.approx(truth("C3003") - 47.0, abs=1.01 / FPS)


def test_timecode_in_seconds() -> None:
    assert timecode_seconds("00:00:01:15", 30.0) == 1.5
    assert timecode_seconds("01:00:00;00", 30000 / 1001) == pytest.approx(3600, abs=0.01)  # drop-frame: real time
    assert timecode_seconds("not a timecode", 30.0) is None


def test_a_chosen_reference_camera_and_a_bad_one(take: dict[str, Path]) -> None:
    good = {camera: take[camera] for camera in GOOD}
    chosen = audit_take(good, SyncOptions(reference="C3003"))
    assert chosen.reference == "C3003"
    for clip in chosen.clips:
        assert clip.offset_s == pytest.approx(truth(clip.camera, "C3003"), abs=1e-4)
    silent_first = audit_take({"SILENT": take["SILENT"], **good}, SyncOptions(reference="SILENT"))
    assert silent_first.reference == "C3001"  # the first clip with sound stands in


def test_the_result_is_plain_json(audit) -> None:
    _, sync = audit
    loaded = json.loads(json.dumps(sync.to_json(), allow_nan=False))
    assert loaded["reference"] == "C3001"
    assert {c["camera"]: c["flag"] for c in loaded["clips"]}["SILENT"] == SILENT


def test_nothing_usable_gives_no_reference(take: dict[str, Path]) -> None:
    sync = audit_take([take["SILENT"], take["GARBAGE"]])
    assert (sync.reference, sync.spread_s, [c.flag for c in sync.clips]) == (None, None, [SILENT, UNREADABLE])


def test_a_window_of_a_long_clip_decodes_only_that_window(tmp_path: Path) -> None:
    start = 0.2
    path = clip(tmp_path, "LONG", start, 600.0)
    window = read_audio(path, 590.0104, 1.0)
    # 600 s of AAC is ~28,000 frames of 1024 samples; one second is 47, plus the lead-in after the seek.
    assert window.frames_decoded < 60
    assert window.rate == AUDIO_RATE and len(window.samples) == AUDIO_RATE
    # Sample 0 is the sound at exactly that time of the clip (rounded to a sample), not a packet earlier.
    margin = 480
    heard = ROOM.samples(T0 + start + window.start_s - margin / AUDIO_RATE, AUDIO_RATE + 2 * margin)
    lag, confidence = correlate(window.samples, heard, AUDIO_RATE)
    assert lag == pytest.approx(margin, abs=0.2) and confidence > 5


def test_without_the_extra_it_says_how_to_get_it(take: dict[str, Path], audit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(SyncExtraMissing, match=r"needs PyAV: pip install 'rigtui\[sync\]'"):
        audit_take([take["C3001"]])
    monkeypatch.setitem(sys.modules, "opentimelineio", None)
    with pytest.raises(SyncExtraMissing, match=r"needs OpenTimelineIO: pip install 'rigtui\[sync\]'"):
        write_timeline(take["C3001"].parent / "none.otio", "take01", {}, audit[1])


def test_the_timeline_places_each_camera_at_its_measured_offset(take: dict[str, Path], audit) -> None:
    clips, sync = audit
    folder = take["C3001"].parent
    cameras = {camera: [take[camera]] for camera in (*GOOD, "SILENT", "BADTC")}
    cameras["C3002"] = [take["C3002"], take["C3003"]]  # two chapters of one recording
    written = write_timeline(folder / "take01.otio", "take01", cameras, sync)
    timeline = otio.adapters.read_from_file(str(written))
    tracks = {track.name: track for track in timeline.tracks}
    assert set(tracks) == {*GOOD, "BADTC"}
    for name, track in tracks.items():
        first = track.find_clips()[0]
        placed = timeline.global_start_time + first.range_in_parent().start_time
        assert placed.to_seconds() == pytest.approx(clips[name].offset_s, abs=1e-6), name
        assert first.media_reference.target_url == take[name].name  # relative to the .otio file
        assert first.media_reference.available_range.duration.to_seconds() == pytest.approx(GOOD.get(name, (0, 20))[1])
    chapters = tracks["C3002"].find_clips()
    assert [c.name for c in chapters] == [take["C3002"].name, take["C3003"].name]
    assert chapters[1].range_in_parent().start_time == chapters[0].range_in_parent().end_time_exclusive()
    assert [m.name.split(":")[0] for m in tracks["BADTC"].find_clips()[0].markers] == [TIMECODE_DISAGREES]
    left_out = timeline.metadata["rigtui"]["unaligned"]
    assert [(u["camera"], u["flag"], u["path"]) for u in left_out] == [("SILENT", SILENT, take["SILENT"].name)]


def test_the_timeline_links_from_another_folder(take: dict[str, Path], audit, tmp_path: Path) -> None:
    _, sync = audit
    written = write_timeline(tmp_path / "edit" / "take01.otio", "take01", {"C3001": [take["C3001"]]}, sync)
    target = otio.adapters.read_from_file(str(written)).find_clips()[0].media_reference.target_url
    assert not Path(target).is_absolute() and (written.parent / target).resolve() == take["C3001"].resolve()
