"""Footage safety through the real commands: nothing a camera, a disk or a typo does can put footage
outside the destination, fake its verification, or erase what is not safely copied."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import cameras_of, run_rigtui, url
from test_offload import BASE, card_files, environment, offloaded, rigtui, sha, shoot, start_offload

from rigtui.sim.rig import SimRig


def files_outside(root: Path, *inside: Path) -> set[Path]:
    """Files under root but not under `inside` (nor the config the test writes)."""
    return {
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != "config.toml" and not any(p.is_relative_to(i) for i in inside)
    }


@pytest.mark.rig(cameras=1, models=("HERO12",))
@pytest.mark.parametrize("prefix", ["../escaped", "/tmp/escaped", "a/b", "take\n01", ""])
async def test_a_take_prefix_that_is_not_a_name_is_refused(rig: SimRig, tmp_path: Path, prefix: str) -> None:
    await shoot(rig)
    dest = tmp_path / "footage"
    before = files_outside(tmp_path, dest, tmp_path / "xdg_data_home", tmp_path / "xdg_state_home")
    code, out, err = await rigtui(tmp_path, "offload", str(dest), "--prefix", prefix, *cameras_of(rig))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "take prefix" in err
    assert files_outside(tmp_path, dest, tmp_path / "xdg_data_home", tmp_path / "xdg_state_home") == before
    assert not dest.exists() or not any(dest.rglob("*.MP4"))


@pytest.mark.rig(cameras=1, models=("HERO12",))
async def test_a_part_file_with_bytes_nobody_vouches_for_is_fetched_again(rig: SimRig, tmp_path: Path) -> None:
    """A .part rigtui has no record of (or whose bytes changed) is never resumed: resuming would hash
    the wrong bytes into a "verified" copy, and format would then erase the only good one."""
    await shoot(rig, size=3_000_000)
    serial = rig.servers[0].camera.serial
    original = card_files(rig.servers[0])["GX010001.MP4"]
    folder = tmp_path / "footage" / time.strftime("take01_%Y_%m_%d_%H_%M_%S", time.gmtime(BASE + 600))
    folder.mkdir(parents=True)
    damaged = bytearray(original.read_bytes()[:1_500_000])
    damaged[1000] ^= 0xFF
    (folder / f"{serial}_GX010001.MP4.part").write_bytes(damaged)
    code, out, err = await rigtui(tmp_path, "offload", str(tmp_path / "footage"), *cameras_of(rig))
    assert code == 0, err + out
    assert sha(folder / f"{serial}_GX010001.MP4") == sha(original)


@pytest.mark.rig(cameras=1, models=("HERO12",), throttle_mbps=8.0)
@pytest.mark.parametrize("where", ["before the last checkpoint", "after the last checkpoint"])
async def test_a_resumed_part_is_trusted_only_as_far_as_its_recorded_hashes(
    rig: SimRig, tmp_path: Path, where: str
) -> None:
    """Killed mid-file, then the .part's bytes change on disk: the rerun still ends with the camera's
    exact bytes (cut back to the last checkpoint that matches, or started over)."""
    await rig.servers[0].camera.add_recording(duration=20, cre=BASE + 600, size=40_000_000)
    original = card_files(rig.servers[0])["GX010001.MP4"]
    dest = tmp_path / "footage"
    proc = await start_offload(tmp_path, dest, rig, "[offload]\nsidecars = false\n")
    deadline = time.monotonic() + 60
    part = None
    while time.monotonic() < deadline:
        part = next(dest.rglob("*.MP4.part"), None)
        if part is not None and part.stat().st_size > 20_000_000:
            break
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert part is not None and part.with_name(part.name + ".xxh").read_text(), "checkpoints were recorded"
    damaged = bytearray(part.read_bytes())
    damaged[1000 if where.startswith("before") else len(damaged) - 10] ^= 0xFF
    part.write_bytes(damaged)
    code, out, err = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 0, err + out
    (copy,) = [p for p in offloaded(dest) if p.suffix == ".MP4"]
    assert sha(copy) == sha(original)
    assert not list(dest.rglob("*.part")) and not list(dest.rglob("*.xxh"))


@pytest.mark.rig(cameras=1, models=("HERO12",))
async def test_a_download_never_grows_past_the_listed_size(rig: SimRig, tmp_path: Path) -> None:
    """The list says 1 MB; the camera's file is bigger: rigtui stops at the listed size and says so,
    and the copy never counts as verified."""
    server = rig.servers[0]
    await server.camera.add_recording(duration=20, cre=BASE + 600, size=1_000_000)
    original = card_files(server)["GX010001.MP4"]
    with open(original, "ab") as grow:  # the card's file grows behind the list's back
        grow.write(os.urandom(5_000_000))
    dest = tmp_path / "footage"
    code, out, err = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 1 and "more than the 1000000 bytes it listed" in out, err + out
    assert all(p.stat().st_size <= 1_000_000 for p in dest.rglob("*.MP4*"))
    assert not list(dest.rglob("*.MP4")), "never under its final name"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_disk_that_fills_up_mid_offload_ends_those_files_with_a_clear_error(
    rig: SimRig, tmp_path: Path
) -> None:
    """The space check passed, then something else filled the disk: each file that cannot be written
    fails with one line, no half file stands under a final name, no traceback, and what was verified
    before stays verified."""
    fast, slow = rig.servers
    await fast.camera.add_recording(duration=5, cre=BASE + 600, size=200_000)
    await slow.camera.add_recording(duration=5, cre=BASE + 600, size=6_000_000)
    slow.throttle_mbps = 1.0
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        dest = disk / "footage"
        config = "[offload]\nretries = 1\nread_timeout_s = 2.0\n"
        proc = await start_offload(tmp_path, dest, rig, config, output=asyncio.subprocess.PIPE)
        deadline = time.monotonic() + 30
        fast_copy = f"{fast.camera.serial}_GX010001.MP4"
        while not (
            any(p.name.startswith(slow.camera.serial) for p in dest.rglob("*.part"))
            and any(p.name == fast_copy for p in dest.rglob("*"))
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the fast camera's proxies and ledger records finish too
        with open(disk / "filler", "wb") as filler:  # everything left, in one go
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            filler.write(bytes(free))
        out, err = (text.decode() for text in await asyncio.wait_for(proc.communicate(), 60))
        assert proc.returncode == 1, out + err
        assert "Traceback" not in out + err
        failed = [line for line in out.splitlines() if line.startswith("FAILED")]
        assert failed and all("No space left on device" in line for line in failed), out
        assert any(slow.camera.serial in line for line in failed), out
        finals = [p for p in dest.rglob(f"{slow.camera.serial}_*") if not p.name.endswith((".part", ".xxh"))]
        assert not [p for p in finals if p.name.endswith(".MP4")], "its clip never came whole"
        async with httpx.AsyncClient(trust_env=False) as http:  # a sidecar that did come is whole
            for final in finals:
                name = final.name.split("_", 1)[1]
                reply = await http.get(url(slow, f"/videos/DCIM/100GOPRO/{name}"))
                while reply.status_code == 503:  # still busy with the cut-off download
                    await asyncio.sleep(0.2)
                    reply = await http.get(url(slow, f"/videos/DCIM/100GOPRO/{name}"))
                assert reply.content == final.read_bytes(), f"half a file under a final name: {final}"
        assert any(p.name == fast_copy for p in dest.rglob("*")), "verified stays"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.rig(cameras=1, models=("HERO12",))
async def test_a_copy_edited_in_place_no_longer_counts_as_verified(rig: SimRig, tmp_path: Path) -> None:
    """Same size, other bytes: format re-checks copies by content and refuses to erase the card."""
    await shoot(rig)
    dest = tmp_path / "footage"
    assert (await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig)))[0] == 0
    copy = next(p for p in offloaded(dest) if p.name.endswith("GX010001.MP4"))
    data = bytearray(copy.read_bytes())
    data[500] ^= 0xFF
    copy.write_bytes(data)
    code, out, _ = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig))
    assert code == 1 and "format: refused" in out and "100GOPRO/GX010001.MP4" in out
    assert rig.servers[0].camera.media.items, "nothing erased"


@pytest.mark.rig(cameras=1, models=("HERO12",))
@pytest.mark.parametrize("damage", ["a bad byte", "wrong types", "a folder"])
async def test_a_damaged_ledger_is_set_aside_and_never_read_as_verified(
    rig: SimRig, tmp_path: Path, damage: str
) -> None:
    await shoot(rig)
    dest = tmp_path / "footage"
    assert (await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig)))[0] == 0
    ledger = tmp_path / "xdg_data_home" / "rigtui" / "ledger.jsonl"
    if damage == "a folder":
        ledger.unlink()
        (ledger / "inside").mkdir(parents=True)
    else:  # every record of one footage file is damaged; the others stay good
        lines = ledger.read_bytes().splitlines(keepends=True)
        for number, line in enumerate(lines):
            if b"GX010001.MP4" in line:
                lines[number] = (
                    b"\xff" + line[1:] if damage == "a bad byte" else line.replace(b'"size":', b'"size":"x","s":')
                )
        ledger.write_bytes(b"".join(lines))
    code, out, err = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig))
    assert "Traceback" not in out + err
    assert "set aside as" in err and len(err.strip().splitlines()) == 1, err
    assert list(ledger.parent.glob("ledger.jsonl.damaged-*")), "kept for the operator to look at"
    assert rig.servers[0].camera.media.items, "a damaged record never vouches for a copy"
    assert code == 1 and "not verified" in out and "100GOPRO/GX010001.MP4" in out


@pytest.mark.rig(cameras=1, models=("HERO12",), throttle_mbps=2.0)
async def test_a_second_offload_into_the_same_destination_is_refused_naming_the_first(
    rig: SimRig, tmp_path: Path
) -> None:
    await shoot(rig, size=2_000_000)
    dest = tmp_path / "footage"
    first = await start_offload(tmp_path, dest, rig, "")
    try:
        deadline = time.monotonic() + 30
        while not list(dest.rglob("*.part")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        code, out, err = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
        assert code == 2 and out == "", out
        assert f"PID {first.pid}" in err and "is offloading into" in err and len(err.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    code, out, err = await rigtui(tmp_path, "offload", str(dest), *cameras_of(rig))
    assert code == 0, err + out


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
async def test_a_config_number_that_is_not_finite_stops_rigtui_with_one_line(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[rig]\npoll_hz = {value}\n")
    code, out, err = await run_rigtui("--config", str(config), "status", env=environment(tmp_path))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"rigtui: {config}:2: [rig] poll_hz: expected a number from 0.05 to 2"), err
