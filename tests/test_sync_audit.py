"""The sync audit, through the real commands: takes recorded on the simulated rig (real MP4 clips, one
room sound, each camera starting after its own latency), offloaded, and each clip's start measured
from its audio against the simulator's truth; a silent clip flagged, never guessed; the editor
timeline placing each clip at its measured start."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from pathlib import Path

import httpx
import pytest
from conftest import cameras_of, run_rigtui, url

from rigtui.gopro.takes import camera_label
from rigtui.sim.rig import SimRig
from rigtui.sim.server import CameraServer

pytest.importorskip("av", reason="the sync audit needs the rigtui[sync] extra (PyAV)")
otio = pytest.importorskip("opentimelineio", reason="the editor timeline needs the rigtui[sync] extra")

CAMERAS = {"cameras": 5, "models": ("HERO11", "HERO12", "HERO13")}


async def rigtui(rig: SimRig, *args: str) -> tuple[int, str, str]:
    code, out, err = await run_rigtui(*args, *cameras_of(rig))
    assert "Traceback" not in out + err, out + err
    return code, out, err


async def take(rig: SimRig, seconds: float, *config: str) -> str:
    """`rigtui record`, `seconds` of footage, `rigtui stop`; what record said."""
    code, out, err = await rigtui(rig, *config, "record")
    assert code == 0, out + err
    await asyncio.sleep(seconds)
    assert (await rigtui(rig, *config, "stop"))[0] == 0
    return out


async def truth(rig: SimRig) -> dict[tuple[str, str], float]:
    """(camera, DIR/NAME of the first chapter) -> when its first sample was heard, from `/_sim/info`."""
    found = {}
    async with httpx.AsyncClient() as client:
        for server in rig.servers:
            info = (await client.get(url(server, "/_sim/info"))).json()
            for recording in info["recordings"]:
                for name in names(server):
                    found[(name, recording["path"])] = recording["start_wall"]
    return found


def names(server: CameraServer) -> set[str]:
    """What a camera may be called in a take folder: its serial, or (HERO11 and older: no serial in
    its status) its address as --camera named it."""
    return {server.camera.serial, camera_label(f"{server.host}:{server.port}")}


@pytest.mark.rig(**CAMERAS)
async def test_offload_measures_every_start_within_a_millisecond_and_flags_a_silent_clip(
    rig: SimRig, tmp_path: Path
) -> None:
    await take(rig, 3.0)
    async with httpx.AsyncClient() as client:  # the third camera's microphone fails for the next take
        await client.get(url(rig.servers[2], "/_sim/set?muted=1"))
    await take(rig, 3.0)
    dest = tmp_path / "footage"
    code, out, err = await rigtui(rig, "offload", str(dest))
    assert code == 0, out + err
    assert "5 of 5 clips aligned" in out and "4 of 5 clips aligned" in out and "1 flagged" in out, out

    starts = await truth(rig)
    folders = sorted(p for p in dest.iterdir() if p.is_dir())
    assert len(folders) == 2
    muted = names(rig.servers[2])
    for number, folder in enumerate(folders):
        sync = json.loads((folder / "sync.json").read_text())
        custody = json.loads((folder / "custody.json").read_text())
        assert custody["sync"]["clips"] == sync["clips"], "the custody report holds the audit"
        by_clip = {f["path"]: (f["camera"], f["camera_path"]) for f in custody["files"]}
        reference = next(c for c in sync["clips"] if c["camera"] == sync["reference"])
        ref_start = starts[by_clip[reference["path"]]]
        for clip in sync["clips"]:
            camera, camera_path = by_clip[clip["path"]]
            if number == 1 and camera in muted:
                assert clip["flag"] == "silent" and clip["offset_s"] is None, "flagged, not guessed"
                continue
            error_ms = abs(clip["offset_s"] - (starts[(camera, camera_path)] - ref_start)) * 1000
            assert error_ms < 1.0, (clip, error_ms)
            assert clip["flag"] is None
        assert sync["spread_s"] > 0.005, "cameras start 100-200 ms after the request, each its own way"

        timeline = otio.adapters.read_from_file(str(folder / sync["timeline"]))
        global_start = timeline.global_start_time.to_seconds() if timeline.global_start_time else 0.0
        placed = {}
        for track in timeline.tracks:
            clips = list(track.find_clips())
            if clips:
                start = track.range_of_child(clips[0]).start_time.to_seconds() + global_start
                placed[Path(clips[0].media_reference.target_url).name] = start
        aligned = {c["path"]: c["offset_s"] for c in sync["clips"] if c["offset_s"] is not None}
        assert set(placed) == set(aligned)
        assert all(abs(placed[p] - aligned[p]) < 1e-6 for p in aligned), (placed, aligned)

    code, out, _ = await run_rigtui("sync-report", str(folders[0]))
    assert code == 0 and "5 of 5 clips aligned" in out and "spread" in out, out
    code, out, _ = await run_rigtui("sync-report", str(folders[1]), "--json")
    assert code == 1, "a flagged clip fails the report"
    assert [c["flag"] for c in json.loads(out)["clips"]].count("silent") == 1


def spreads(dest: Path) -> list[float]:
    return [json.loads(sync.read_text())["spread_s"] for sync in sorted(dest.glob("*/sync.json"))]


@pytest.mark.rig(cameras=6, models=("HERO12", "HERO13"))
async def test_start_compensation_learns_each_cameras_latency_from_audited_takes_and_narrows_the_spread(
    rig: SimRig, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[record]\nstart_compensation = true\n")
    dest = tmp_path / "footage"
    for _ in range(2):  # nothing audited yet: nothing to compensate with
        assert "start compensation" not in await take(rig, 2.5, "--config", str(config))
    assert (await rigtui(rig, "--config", str(config), "offload", str(dest)))[0] == 0
    before = spreads(dest)
    said = await take(rig, 2.5, "--config", str(config))
    assert "start compensation: requests held back 0-" in said, said
    assert (await rigtui(rig, "--config", str(config), "offload", str(dest)))[0] == 0
    after = spreads(dest)[-1]
    assert after < 0.75 * statistics.fmean(before), (before, after)  # each camera's jitter (~10 ms) remains


async def test_a_take_of_hostile_files_is_flagged_clip_by_clip_and_never_crashes(tmp_path: Path) -> None:
    folder = tmp_path / "take01_2026_01_01_00_00_00"
    folder.mkdir()
    (folder / "C1_GX010001.MP4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 5000)
    (folder / "C2_GX010001.MP4").write_bytes(b"")
    (folder / "C3_GX010001.MP4").symlink_to("/etc/passwd")  # not a clip the offload wrote: left alone
    code, out, err = await run_rigtui("sync-report", str(folder))
    assert code == 1 and "Traceback" not in out + err, out + err
    assert "C1" in out and "C2" in out and "FLAGGED unreadable" in out and "C3" not in out, out

    code, out, err = await run_rigtui("sync-report", str(tmp_path / "nowhere"))
    assert code == 2 and err.count("\n") == 1 and "no take folder" in err, err


async def test_without_the_sync_extra_one_line_says_what_to_install(tmp_path: Path) -> None:
    folder = tmp_path / "take01_2026_01_01_00_00_00"
    folder.mkdir()
    (folder / "C1_GX010001.MP4").write_bytes(b"\x00" * 100)
    shadow = tmp_path / "shadow" / "av"  # PyAV as if not installed
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named av')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])}
    code, out, err = await run_rigtui("sync-report", str(folder), env=env)
    assert code == 1 and "Traceback" not in out + err, out + err
    assert out.strip().endswith("pip install 'rigtui[sync]'") and out.count("\n") == 1, out


async def test_a_hostile_sync_json_is_shown_safely(tmp_path: Path) -> None:
    folder = tmp_path / "take01_2026_01_01_00_00_00"
    folder.mkdir()
    (folder / "C1_GX010001.MP4").write_bytes(b"")
    clips = [
        {"camera": "\x1b[31mred", "offset_s": 10**400, "confidence": "\x1b]0;x\x07", "flag": None},
        {"camera": "C2", "offset_s": 0.01, "from_earliest_s": float("inf"), "timecode_offset_s": True, "flag": "x"},
        {"camera": ["a"], "offset_s": None, "flag": "\x07bell", "detail": {"deep": [1]}},
        "not a clip",
    ]
    text = json.dumps({"format": "rigtui-sync/1", "take": "\x1b[2J", "spread_s": "wide", "clips": clips})
    (folder / "sync.json").write_text(text)
    code, out, err = await run_rigtui("sync-report", str(folder))
    assert code == 1 and "Traceback" not in out + err and "\x1b" not in out and "\x07" not in out, out + err
    assert "3 clips" in out and "FLAGGED" in out, out
