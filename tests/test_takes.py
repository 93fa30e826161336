"""Takes are right whatever the cameras' clocks say: through the real commands, against simulated
cameras whose clocks start up to two minutes off (as real ones drift), nothing synced first."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from conftest import UNSYNCED, cameras_of, run_rigtui, url

from rigtui.sim.rig import SimRig

CAMERAS = {"cameras": 3, "models": ("HERO12", "HERO13"), "tuning": UNSYNCED}


async def rigtui(rig: SimRig, *args: str) -> tuple[int, str, str]:
    code, out, err = await run_rigtui(*args, *cameras_of(rig))
    assert "Traceback" not in out + err, out + err
    return code, out, err


async def take(rig: SimRig, *select: str, seconds: float = 1.2) -> None:
    """`rigtui record`, a little footage, `rigtui stop`: two processes, as an operator runs them."""
    selection = [arg for camera in select for arg in ("--select", camera)]
    code, out, err = await rigtui(rig, "record", *selection)
    assert code == 0, out + err
    await asyncio.sleep(seconds)
    code, out, err = await rigtui(rig, "stop", *selection)
    assert code == 0, out + err


def clips(dest: Path) -> list[list[str]]:
    """Each take folder's camera files (footage only), take by take."""
    folders = sorted(p for p in dest.iterdir() if p.is_dir())
    return [sorted(p.name for p in folder.iterdir() if p.suffix in (".MP4", ".JPG")) for folder in folders]


async def offload(rig: SimRig, dest: Path) -> str:
    code, out, err = await rigtui(rig, "offload", str(dest), "--no-sidecars")
    assert code == 0, out + err
    return out


@pytest.mark.rig(**CAMERAS)
async def test_two_takes_on_unsynced_cameras_are_two_folders_of_three(rig: SimRig, tmp_path: Path) -> None:
    offsets = [s.camera.clock_offset for s in rig.servers]
    assert max(offsets) - min(offsets) > 5, "the clocks really are further apart than a take allows"
    await take(rig)
    await take(rig)
    out = await offload(rig, tmp_path / "footage")
    assert [len(files) for files in clips(tmp_path / "footage")] == [3, 3]
    assert "grouped by camera clocks" not in out


@pytest.mark.rig(**CAMERAS)
async def test_record_unsynced_then_sync_then_record_is_two_takes(rig: SimRig, tmp_path: Path) -> None:
    code, out, _ = await rigtui(rig, "record")
    assert code == 0 and "warning: camera clocks are up to" in out, "the spread is said before the take"
    await asyncio.sleep(1.2)
    assert (await rigtui(rig, "stop"))[0] == 0
    code, out, _ = await rigtui(rig, "sync-time")
    assert code == 0 and "(was " in out, "the sync says each clock's offset before and after"
    await take(rig)
    await offload(rig, tmp_path / "footage")
    assert [len(files) for files in clips(tmp_path / "footage")] == [3, 3]


@pytest.mark.rig(**CAMERAS)
async def test_a_camera_left_out_of_a_take_leaves_a_gap_and_shifts_nothing(rig: SimRig, tmp_path: Path) -> None:
    await take(rig)
    left_out = rig.servers[1].camera.serial
    await take(rig, rig.servers[0].camera.serial, rig.servers[2].camera.serial)
    await take(rig)
    await offload(rig, tmp_path / "footage")
    files = clips(tmp_path / "footage")
    assert [len(f) for f in files] == [3, 2, 3]
    assert not any(name.startswith(left_out) for name in files[1])


@pytest.mark.rig(**CAMERAS)
async def test_a_take_left_open_by_a_crash_is_closed_by_the_next_command(rig: SimRig, tmp_path: Path) -> None:
    """`rigtui record` ran; whatever was to stop the take died before it could log the stop, and the
    cameras were stopped by hand. The next offload closes the take, says so, and files it whole."""
    assert (await rigtui(rig, "record"))[0] == 0
    await asyncio.sleep(1.2)
    async with httpx.AsyncClient(trust_env=False) as http:
        for server in rig.servers:
            assert (await http.get(url(server, "/gopro/camera/shutter/stop"))).status_code == 200
    await asyncio.sleep(0.5)
    out = await offload(rig, tmp_path / "footage")
    assert "that an earlier record left open: 3 files" in out
    assert [len(files) for files in clips(tmp_path / "footage")] == [3]


@pytest.mark.rig(**CAMERAS)
async def test_photos_count_as_captured_and_each_lands_in_its_take(rig: SimRig, tmp_path: Path) -> None:
    assert (await rigtui(rig, "preset", "photo"))[0] == 0
    for _ in range(2):
        code, out, err = await rigtui(rig, "record")
        assert code == 0, out + err
        assert out.count("recording") == 3
        await asyncio.sleep(0.5)
    await offload(rig, tmp_path / "scan")
    assert [[name.endswith(".JPG") for name in files] for files in clips(tmp_path / "scan")] == [[True] * 3] * 2


@pytest.mark.rig(**CAMERAS)
async def test_footage_rigtui_did_not_shoot_is_grouped_by_each_camera_clock(rig: SimRig, tmp_path: Path) -> None:
    """Shot by hand, each file stamped by its own camera's clock (minutes apart): one take still,
    once each camera's measured offset is taken out, and the offload says how it was grouped."""
    for server in rig.servers:
        await server.camera.add_recording(duration=10, cre=int(server.camera.camera_time()) - 600)
    out = await offload(rig, tmp_path / "footage")
    assert [len(files) for files in clips(tmp_path / "footage")] == [3]
    assert "not shot by rigtui, grouped by camera clocks" in out


@pytest.mark.rig(**CAMERAS)
async def test_status_shows_every_clock_and_warns_when_they_drift_apart(rig: SimRig, tmp_path: Path) -> None:
    code, out, _ = await rigtui(rig, "status", "--json")
    assert code == 0
    offsets = {row["key"]: row["clock_offset_s"] for row in json.loads(out)}
    for server in rig.servers:
        truth = server.camera.clock_offset - time.localtime().tm_gmtoff  # its clock against the host's
        assert abs(offsets[server.camera.serial] - truth) <= 1.5
    code, out, _ = await rigtui(rig, "status")
    assert code == 0 and "CLOCK" in out.splitlines()[0] and "warning: camera clocks are up to" in out
    assert (await rigtui(rig, "sync-time"))[0] == 0
    code, out, _ = await rigtui(rig, "status")
    assert code == 0 and "warning: camera clocks" not in out


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_a_camera_keeps_its_photogrammetry_index_from_take_to_take(rig: SimRig, tmp_path: Path) -> None:
    """Its index never follows which cameras happen to be found: the first camera missing from the
    second take leaves its folder empty there, and the others keep theirs."""
    _first, second, third = sorted(rig.servers, key=lambda s: s.camera.serial)  # the first in name order
    assert (await rigtui(rig, "preset", "photo"))[0] == 0
    assert (await rigtui(rig, "record"))[0] == 0
    await asyncio.sleep(0.5)
    code, out, err = await rigtui(rig, "offload", str(tmp_path / "scan"), "--layout", "photogrammetry")
    assert code == 0, out + err
    others = ["--camera", f"{second.host}:{second.port}", "--camera", f"{third.host}:{third.port}"]
    assert (await run_rigtui("record", *others))[0] == 0
    await asyncio.sleep(0.5)
    code, out, err = await run_rigtui("offload", str(tmp_path / "scan"), "--layout", "photogrammetry", *others)
    assert code == 0, out + err
    take1, take2 = sorted(p for p in (tmp_path / "scan").iterdir() if p.is_dir())
    assert sorted(p.name for p in (take1 / "rig").iterdir()) == ["001", "002", "003"]
    assert sorted(p.name for p in (take2 / "rig").iterdir()) == ["002", "003"]


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_rig_order_in_config_sets_the_photogrammetry_index(rig: SimRig, tmp_path: Path) -> None:
    order = [rig.servers[2].camera.serial, rig.servers[0].camera.serial]
    config = tmp_path / "config.toml"
    config.write_text(f"[rig]\norder = {json.dumps(order)}\n")
    assert (await rigtui(rig, "--config", str(config), "preset", "photo"))[0] == 0
    assert (await rigtui(rig, "--config", str(config), "record"))[0] == 0
    await asyncio.sleep(0.5)
    args = ("--config", str(config), "offload", str(tmp_path / "scan"), "--layout", "photogrammetry")
    code, out, err = await rigtui(rig, *args)
    assert code == 0, out + err
    (take,) = [p for p in (tmp_path / "scan").iterdir() if p.is_dir()]
    verified = [line.split() for line in out.splitlines() if line.startswith("verified ")]
    index = {words[1]: words[4].split("/")[2] for words in verified}
    assert index[order[0]] == "001" and index[order[1]] == "002" and index[rig.servers[1].camera.serial] == "003"
    assert take.exists()


@pytest.mark.rig(**CAMERAS)
async def test_sync_before_record_in_config_syncs_the_clocks_first(rig: SimRig, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[rig]\nsync_before_record = true\n")
    code, out, err = await rigtui(rig, "--config", str(config), "record")
    assert code == 0 and "warning: clocks synced first" in out, out + err
    host = time.time() + time.localtime().tm_gmtoff
    assert all(abs(s.camera.camera_time() - host) < 2 for s in rig.servers)
    assert (await rigtui(rig, "stop"))[0] == 0


@pytest.mark.rig(**CAMERAS)
async def test_a_damaged_shot_log_is_set_aside_and_its_good_takes_kept(rig: SimRig, tmp_path: Path) -> None:
    await take(rig)
    await take(rig)
    log = Path(os.environ["XDG_DATA_HOME"]) / "rigtui" / "shotlog.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines) + b'{"event": "stop", "take": "x\\u0000", "utc": NaN}\n' + b"\xff\xfe\n")
    code, out, err = await run_rigtui("offload", str(tmp_path / "footage"), "--no-sidecars", *cameras_of(rig))
    assert code == 0 and "Traceback" not in out + err, out + err
    assert "damaged shot log set aside" in err and list(log.parent.glob("shotlog.jsonl.damaged-*"))
    assert [len(files) for files in clips(tmp_path / "footage")] == [3, 3], "the good lines still tell the takes"
