"""The Pi camera service on the synthetic backend: ring, night mode, stacking, triggers, auto-save."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from rigtui.pi.backends import SCRIPTS, BackendError, OpenCVBackend, Phase, SyntheticBackend, make_backend
from rigtui.pi.export import ExportError, ExportSettings, stack
from rigtui.pi.night import NightSettings
from rigtui.pi.ring import RingBuffer
from rigtui.pi.service import PiService, PiSettings

FRAME_ID = re.compile(r"_f(\d{6})")


def service(
    tmp_path: Path, script: list[Phase], *, fps: float = 10.0, realtime: bool = False, **settings: object
) -> PiService:
    backend = SyntheticBackend(64, 48, fps, script, realtime=realtime, start_time=1_800_000_000.0)
    values: dict[str, object] = {
        "night": NightSettings(min_dark_frames=20, min_bright_frames=20),
        "export": ExportSettings(folder=tmp_path / "captures", min_free_mb=0),
    }
    values.update(settings)
    svc = PiService(PiSettings(**values), backend)  # type: ignore[arg-type]
    backend.open()
    return svc


def test_flicker_never_toggles_night(tmp_path: Path) -> None:
    svc = service(tmp_path, [Phase(3600, 25, flicker=45)])  # 25, 70, 25, 70: across both thresholds
    levels = []
    for _ in range(600):
        svc.step()
        levels.append(svc.night.level)
    assert min(levels) < 35 and max(levels) > 55
    assert not svc.night.night


def test_night_after_n_dark_frames_and_day_after_m_bright_ones(tmp_path: Path) -> None:
    svc = service(tmp_path, [Phase(10, 120), Phase(20, 0.1), Phase(20, 120)])  # 100 day, 200 night, day
    switched_at = []
    for frame in range(500):
        was = svc.night.night
        svc.step()
        if svc.night.night != was:
            switched_at.append((frame, svc.night.night))
    assert switched_at == [(119, True), (319, False)], "exactly min_dark_frames / min_bright_frames late"


def test_night_settings_are_applied_named_and_restored(tmp_path: Path) -> None:
    svc = service(tmp_path, SCRIPTS["cycle"])
    day = svc.backend.controls()
    while not svc.night.night:
        svc.step()
    night = svc.backend.controls()
    assert (night["AeEnable"], night["ExposureTime"], night["AnalogueGain"]) == (False, 2_000_000, 6.0)
    assert night["FrameDurationLimits"] == (2_000_000, 2_000_000), "long exposures need the limit raised"
    assert "ExposureTime 10000 -> 2000000" in svc.night.changes and "AeEnable True -> False" in svc.night.changes
    assert svc.night.level is not None and svc.night.level < 35, "the level is exposure-normalized"
    while svc.night.night:
        svc.step()
    assert svc.backend.controls() == day
    assert "AeEnable False -> True" in svc.night.changes


def test_stacking_lowers_noise_by_about_the_square_root_of_n(tmp_path: Path) -> None:
    backend = SyntheticBackend(160, 120, 10, [Phase(3600, 40)], noise=24, realtime=False, texture=False, variants=32)
    backend.open()
    backend.set_controls({"AeEnable": False, "ExposureTime": 10_000, "AnalogueGain": 1.0})
    frames = []
    for _ in range(32):
        out = np.empty((120, 160, 3), np.uint8)
        backend.read(out)
        frames.append(out)

    def noise(images: list[np.ndarray]) -> float:
        a, b = images[0].astype(np.float32), images[1].astype(np.float32)
        return float(np.std(a - b) / np.sqrt(2))

    single = noise(frames[:2])
    for count in (4, 16):
        stacked = noise([stack(frames[:count]), stack(frames[count : 2 * count])])
        assert single / stacked == pytest.approx(np.sqrt(count), rel=0.2), (count, single, stacked)


def test_pre_trigger_frames_land_in_the_saved_output(tmp_path: Path) -> None:
    svc = service(tmp_path, SCRIPTS["day"], fps=20.0, realtime=True, save_before_s=1.0, save_after_s=0.5)
    svc.start()
    try:
        time.sleep(1.6)
        trigger_id = svc.ring.last(1)[0].frame_id
        paths = svc.save(["npy"])
    finally:
        svc.stop()
    ids = sorted(int(FRAME_ID.search(p.name).group(1)) for p in paths)  # type: ignore[union-attr]
    before = [i for i in ids if i < trigger_id]
    after = [i for i in ids if i > trigger_id]
    assert len(before) >= 15, "about a second of frames from before the trigger, from the ring"
    assert len(after) >= 8, "and half a second of live frames after it"
    assert ids == list(range(ids[0], ids[-1] + 1)), "no frame missing in the window"
    assert len({p.parent for p in paths}) == 1 and paths[0].parent.name.startswith("trigger_")
    first = np.load(paths[0])
    assert first.shape == (48, 64, 3) and first.dtype == np.uint8


def test_auto_save_cadence_on_the_frames_clock(tmp_path: Path) -> None:
    svc = service(tmp_path, SCRIPTS["day"], auto_save_interval_s=5.0)
    for _ in range(101):  # 10 s of frames at 10 fps, produced at once
        svc.step()
    svc._exports.shutdown(wait=True)
    saved = sorted((tmp_path / "captures").glob("*.jpg"))
    assert len(saved) == 2 and svc.last_save is not None and svc.last_save.reason == "auto-save"


def test_auto_save_at_night_saves_the_stacked_frame(tmp_path: Path) -> None:
    svc = service(tmp_path, SCRIPTS["night"], auto_save_interval_s=5.0, stack_count=4)
    for _ in range(101):
        svc.step()
    svc._exports.shutdown(wait=True)
    assert svc.night.night
    names = [p.name for p in (tmp_path / "captures").glob("*.jpg")]
    assert names and all("_stack4" in n for n in names)


def test_disk_guard_refuses_and_retention_keeps_the_newest(tmp_path: Path) -> None:
    svc = service(tmp_path, SCRIPTS["day"], export=ExportSettings(folder=tmp_path / "c", min_free_mb=10**9))
    svc.step()
    with pytest.raises(ExportError, match="disk guard"):
        svc.save(["jpg"])
    assert not list((tmp_path / "c").glob("*.jpg"))
    svc = service(tmp_path, SCRIPTS["day"], export=ExportSettings(folder=tmp_path / "r", min_free_mb=0, max_files=3))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("not ours: never deleted")
    for _ in range(5):
        svc.step()
        svc.save(["png"])
    kept = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert len(kept) == 4 and "notes.txt" in kept
    assert [int(FRAME_ID.search(n).group(1)) for n in kept if n.endswith(".png")] == [2, 3, 4]  # type: ignore[union-attr]


def test_ring_push_is_a_copy_into_preallocated_slots() -> None:
    ring = RingBuffer(8, 4, frames=5)
    storage = ring.frames.ctypes.data
    frame = np.zeros((4, 8, 3), np.uint8)
    from rigtui.pi.backends import FrameInfo

    for value in range(12):
        frame[:] = value
        ring.push(frame, FrameInfo(float(value), 100.0, 1.0))
    assert ring.frames.ctypes.data == storage and len(ring) == 5
    slots = ring.last(3)
    assert [s.frame_id for s in slots] == [9, 10, 11]
    copy = ring.copy(slots[0])
    assert copy is not None and int(copy[0, 0, 0]) == 9
    old = slots[0]
    for value in range(5):
        ring.push(frame, FrameInfo(20.0 + value, 100.0, 1.0))
    assert ring.copy(old) is None, "an overwritten slot is never half-read"
    assert [s.frame_id for s in ring.since(22.0)] == [14, 15, 16]
    assert RingBuffer(640, 480, frames=1000, memory_cap_bytes=10 * 640 * 480 * 3).capacity == 10


def test_opencv_backend_reads_a_video_file(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for value in range(5):
        writer.write(np.full((48, 64, 3), value * 40, np.uint8))
    writer.release()
    backend = OpenCVBackend(str(path), 32, 24, 200.0)
    backend.open()
    out = np.empty((24, 32, 3), np.uint8)
    means = [round(float(out.mean())) if backend.read(out) else 0 for _ in range(7)]
    backend.close()
    assert means[:5] == pytest.approx([0, 40, 80, 120, 160], abs=4) and means[5] == pytest.approx(0, abs=4)
    with pytest.raises(BackendError, match="cannot open"):
        OpenCVBackend(str(tmp_path / "missing.avi"), 32, 24, 10).open()


def test_picamera2_absent_is_a_clear_error() -> None:
    backend = make_backend("picamera2", width=64, height=48, fps=10)
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match="python3-picamera2"):
            backend.open()
    with pytest.raises(BackendError, match="unknown backend"):
        make_backend("gopro", width=1, height=1, fps=1)
