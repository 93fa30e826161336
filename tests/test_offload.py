"""Offload end to end against simulated cameras with real files: layout, bytes, manifests, faults,
interruptions, the format gate, and bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cameras_of, run_rigtui

from rigtui.files import DEST_LOCK
from rigtui.gopro.custody import HTML_NAME, JSON_NAME, SYNC_NAME
from rigtui.gopro.media import parse_media_list
from rigtui.gopro.replies import MediaListing, decode
from rigtui.sim.rig import SimRig
from rigtui.sim.server import CameraServer

ASCMHL = shutil.which("ascmhl")
BASE = 1_790_000_000  # camera-local creation times of the takes below


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        **{
            name: str(tmp_path / name.lower())
            for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
        },
    }


async def rigtui(tmp_path: Path, *args: str, config: str = "", timeout: float = 120) -> tuple[int, str, str]:
    config_file = tmp_path / "config.toml"
    config_file.write_text("[offload]\nread_timeout_s = 1.0\nretries = 8\n" + config)
    return await run_rigtui("--config", str(config_file), *args, env=environment(tmp_path), timeout=timeout)


async def start_offload(
    tmp_path: Path, dest: Path, rig: SimRig, config: str, *, output: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """`rigtui offload DEST` running in the background (to interrupt, or to run beside another)."""
    (tmp_path / "config.toml").write_text(config)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        "--config",
        str(tmp_path / "config.toml"),
        "offload",
        str(dest),
        *cameras_of(rig),
        stdout=output,
        stderr=output,
        env=environment(tmp_path),
    )


async def shoot(
    rig: SimRig, skip: dict[int, set[int]] | None = None, long_take: tuple[int, int] | None = None, size: int = 600_000
) -> None:
    """Three takes on every camera (camera index -> takes it missed; (camera, take) recorded long)."""
    for index, server in enumerate(rig.servers):
        for take in (1, 2, 3):
            if take in (skip or {}).get(index, set()):
                continue
            long = long_take == (index, take)
            await server.camera.add_recording(
                duration=900 if long else 20, cre=BASE + take * 600 + index % 3, size=size * (3 if long else 1)
            )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_files(server: CameraServer) -> dict[str, Path]:
    """Every file on a simulated card, by name."""
    return {p.name: p for p in server.camera.media.dcim.rglob("*") if p.is_file()}


def take_folders(dest: Path) -> list[Path]:
    """The take folders in `dest`."""
    return sorted(p for p in dest.iterdir() if p.is_dir())


def offloaded(dest: Path) -> list[Path]:
    """The files an offload put in `dest` (not its manifests, custody reports and sync audits, nor the
    lock saying who writes there)."""
    return sorted(
        p
        for p in dest.rglob("*")
        if p.is_file()
        and "ascmhl" not in p.parts
        and p.name not in (DEST_LOCK, HTML_NAME, JSON_NAME, SYNC_NAME)
        and p.suffix != ".otio"
    )


@pytest.mark.rig(cameras=6, models=("HERO12", "HERO13"))
async def test_three_takes_on_six_cameras_land_verified_and_manifested(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, skip={2: {2}}, long_take=(4, 3))
    dest = tmp_path / "footage"
    code, out, err = await rigtui(tmp_path, "offload", str(dest), "--json", *cameras_of(rig))
    assert code == 0, err + out
    report = json.loads(out)
    folders = sorted(p.name for p in take_folders(dest))
    assert [f[:7] for f in folders] == ["take01_", "take02_", "take03_"]
    takes = {t["number"]: t for t in report["takes"]}
    serials = sorted(s.camera.serial for s in rig.servers)
    assert takes[1]["cameras"] == serials and takes[3]["cameras"] == serials
    assert takes[2]["cameras"] == sorted(set(serials) - {rig.servers[2].camera.serial}), "camera 3 missed take 2"
    long = rig.servers[4].camera.serial
    assert sorted(p.name for p in (dest / folders[2]).glob(f"{long}_GX0*.MP4")) == [
        f"{long}_GX010003.MP4",
        f"{long}_GX020003.MP4",
        f"{long}_GX030003.MP4",
    ], "a long take's chapters stay together"
    for server in rig.servers:
        originals = card_files(server)
        mine = [p for p in offloaded(dest) if p.name.startswith(server.camera.serial + "_")]
        assert len(mine) == len(originals)
        for copy in mine:
            assert sha(copy) == sha(originals[copy.name.split("_", 1)[1]])
    assert not list(dest.rglob("*.part"))
    if ASCMHL:
        for folder in take_folders(dest):
            result = subprocess.run([ASCMHL, "create", "-h", "xxh64", str(folder)], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout + result.stderr
        victim = next((dest / folders[0]).glob("*.MP4"))
        data = bytearray(victim.read_bytes())
        data[1000] ^= 0xFF
        victim.write_bytes(bytes(data))
        result = subprocess.run(
            [ASCMHL, "create", "-h", "xxh64", str(dest / folders[0])], capture_output=True, text=True
        )
        assert result.returncode != 0 and "hash mismatch" in result.stdout + result.stderr


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_rerun_adds_new_takes_without_renumbering_or_touching_old_ones(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, skip={0: {3}, 1: {3}, 2: {3}})
    dest = tmp_path / "footage"
    assert (await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig)))[0] == 0
    before = {p: (p.stat().st_mtime_ns, sha(p)) for p in dest.rglob("*") if p.is_file() and p.name != DEST_LOCK}
    for server in rig.servers:
        await server.camera.add_recording(duration=20, cre=BASE + 3 * 600, size=300_000)
    code, out, _ = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 0, out
    assert sorted(p.name[:7] for p in take_folders(dest)) == ["take01_", "take02_", "take03_"]
    assert all((p.stat().st_mtime_ns, sha(p)) == state for p, state in before.items()), "old takes untouched"
    code, out, _ = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 0 and "offload: 0 of 0 files verified" in out, "nothing twice"


@pytest.mark.rig(cameras=3, models=("HERO12", "HERO13"))
async def test_stall_short_body_and_link_down_mid_file_still_end_verified(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=3_000_000)
    stall, short, flaky = rig.servers
    stall.set_fault("stall", 90, times=2)
    short.set_fault("short", 50_000, times=2)
    flaky.throttle_mbps = 4.0

    async def cut_link_mid_file() -> None:
        while not any(r["path"].startswith("/videos/") for r in flaky.requests):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        flaky.link_down(1.5)

    cutter = asyncio.create_task(cut_link_mid_file())
    dest = tmp_path / "footage"
    code, out, err = await rigtui(tmp_path, "offload", str(dest), "--json", *cameras_of(rig))
    await cutter
    assert code == 0, err + out
    assert all(f["state"] == "verified" for f in json.loads(out)["files"])
    for server in rig.servers:
        originals = card_files(server)
        for copy in (p for p in offloaded(dest) if p.name.startswith(server.camera.serial)):
            assert sha(copy) == sha(originals[copy.name.split("_", 1)[1]])
    assert not list(dest.rglob("*.part"))
    ranges = [r for r in flaky.requests if r["path"].startswith("/videos/")]
    assert len(ranges) > len(card_files(flaky)), "the cut file was fetched again (resumed)"


@pytest.mark.rig(cameras=2, models=("HERO12",), throttle_mbps=2.0)
async def test_kill_9_mid_offload_then_rerun_verifies_everything_once(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=1_500_000)
    dest = tmp_path / "footage"
    proc = await start_offload(tmp_path, dest, rig, "[offload]\nread_timeout_s = 2.0\n")
    deadline = time.monotonic() + 60
    while not (list(dest.rglob("*.MP4")) and list(dest.rglob("*.part"))) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert list(dest.rglob("*.part")), "killed mid-file"
    code, out, err = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 0, err + out
    assert not list(dest.rglob("*.part")) and not list(dest.rglob("*.check"))
    names = [p.name for p in offloaded(dest)]
    assert len(names) == len(set(names)) == sum(len(card_files(s)) for s in rig.servers), "each file once"
    for server in rig.servers:
        originals = card_files(server)
        for copy in (p for p in offloaded(dest) if p.name.startswith(server.camera.serial)):
            assert sha(copy) == sha(originals[copy.name.split("_", 1)[1]])
    if ASCMHL:
        for folder in take_folders(dest):
            result = subprocess.run([ASCMHL, "create", "-h", "xxh64", str(folder)], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.rig(cameras=3, models=("HERO12", "HERO13"))
async def test_format_refuses_until_everything_is_verified_then_erases(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig)
    code, out, _ = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig))
    assert code == 1 and "format: refused" in out
    assert all(s.camera.media.items for s in rig.servers), "nothing erased"
    first = rig.servers[0].camera.serial
    assert f"not verified  {first}: 3 files: 100GOPRO/GX010001.MP4" in out
    dest = tmp_path / "footage"
    assert (await rigtui(tmp_path, "offload", str(dest), "--select", first, *cameras_of(rig)))[0] == 0
    code, out, _ = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig))
    assert code == 1 and first not in out.split("format: refused")[0].replace(f"will erase  {first}", "")
    code, out, err = await rigtui(tmp_path, "format", "--yes", "--select", first, *cameras_of(rig))
    assert code == 0, out + err
    assert not rig.servers[0].camera.media.items and rig.servers[1].camera.media.items
    code, _, err = await rigtui(tmp_path, "format", "--select", first, *cameras_of(rig))
    assert code == 2 and "pass --yes when there is no terminal" in err


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_hostile_names_are_refused_and_nothing_lands_outside(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig)
    rig.servers[0].set_fault("hostile-names", None)
    dest = tmp_path / "deep" / "footage"
    code, out, _ = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 1
    assert "left out 100GOPRO/../../escape.MP4: name '../../escape.MP4' is not a camera file name" in out
    assert "left out ../../GX01" not in out and "folder '../..' is not a camera folder name" in out
    assert not (tmp_path / "escape.MP4").exists() and not (tmp_path / "deep" / "escape.MP4").exists()
    assert out.count("verified ") >= 2 * 9, "the good files still came"


async def test_unwritable_destination_is_one_clear_line(rig: SimRig, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = await rigtui(tmp_path, "offload", str(blocker / "footage"), *cameras_of(rig))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"rigtui: cannot write to {blocker / 'footage'}: Not a directory"]


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_different_file_under_the_final_name_is_never_overwritten(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig)
    dest = tmp_path / "footage"
    serial = rig.servers[0].camera.serial
    folder = dest / time.strftime("take01_%Y_%m_%d_%H_%M_%S", time.gmtime(BASE + 600))
    folder.mkdir(parents=True)
    squatter = folder / f"{serial}_GX010001.MP4"
    squatter.write_bytes(b"precious footage from another day")
    code, out, _ = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 1 and f"{squatter} already exists with other contents; left untouched" in out
    assert squatter.read_bytes() == b"precious footage from another day"
    identical = folder / f"{rig.servers[1].camera.serial}_GX010001.MP4"
    assert identical.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_full_disk_is_refused_before_anything_is_written(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=3_000_000)
    disk = tmp_path / "tiny"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        code, _, err = await rigtui(tmp_path, "offload", str(disk / "footage"), *cameras_of(rig))
        assert code == 2 and "GB free; this offload needs" in err and len(err.strip().splitlines()) == 1
        assert not any(p.is_file() and p.name != DEST_LOCK for p in (disk / "footage").rglob("*"))
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_photo_takes_in_the_photogrammetry_layout(rig: SimRig, tmp_path: Path) -> None:
    for server in rig.servers:
        await server.camera.add_photo(cre=BASE)
    dest = tmp_path / "scan"
    code, out, err = await rigtui(
        tmp_path, "offload", str(dest), "--layout", "photogrammetry", "--prefix", "scene", *cameras_of(rig)
    )
    assert code == 0, err + out
    (take,) = take_folders(dest)
    assert take.name.startswith("scene01_")
    assert sorted(str(p.relative_to(take)) for p in take.rglob("*.JPG")) == [
        "rig/001/GOPR0001.JPG",
        "rig/002/GOPR0001.JPG",
    ]
    body = json.dumps(rig.servers[0].camera.media.media_list()).encode()
    listing = parse_media_list(decode("/gopro/media/list", 200, body, MediaListing))
    assert listing.recordings[0].kind == "photo"


@pytest.mark.rig(cameras=1, models=("HERO12",))
async def test_a_camera_that_ignores_range_has_the_file_restarted(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=2_000_000)
    camera = rig.servers[0]
    camera.set_fault("no-range", None)
    camera.set_fault("short", 100_000, times=1)
    dest = tmp_path / "footage"
    code, out, err = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 0, err + out
    gets = [r for r in camera.requests if r["path"].startswith("/videos/") and r["method"] == "GET"]
    assert len(gets) == len(card_files(camera)) + 1, "one file came short once, then came whole again"
    originals = card_files(camera)
    for copy in offloaded(dest):
        assert sha(copy) == sha(originals[copy.name.split("_", 1)[1]])
