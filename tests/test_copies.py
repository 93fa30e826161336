"""Two copies before any erase: several destinations in one pass, --cascade, the ledger of copies,
`rigtui copies`, and the format gate's [offload] min_copies, through the real commands."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import xxhash
from conftest import cameras_of
from test_offload import ASCMHL, card_files, offloaded, rigtui, sha, shoot, take_folders

from rigtui.config import parse
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.download import Copy, copy_verified
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.offload import Offload
from rigtui.ops.offload import offload_options, open_ledger
from rigtui.ops.rig import RigSession, rig_options
from rigtui.sim.rig import SimRig
from rigtui.sim.server import CameraServer


@contextmanager
def volume(folder: Path, size: str = "200m") -> Iterator[Path]:
    """`folder` as a file system of its own (a tmpfs): another volume, as a second disk would be."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("a second volume needs a tmpfs mount, which needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def relative_files(dest: Path) -> dict[str, str]:
    """Every offloaded file under `dest`, by its path there, with its hash."""
    return {str(p.relative_to(dest)): sha(p) for p in offloaded(dest)}


def camera_gets(server: CameraServer) -> list[str]:
    return [str(r["path"]) for r in server.requests if str(r["path"]).startswith("/videos/") and r["method"] == "GET"]


def assert_camera_bytes(rig: SimRig, dest: Path) -> None:
    """`dest` holds every file of every card, byte for byte, and nothing half-written."""
    for server in rig.servers:
        originals = card_files(server)
        mine = [p for p in offloaded(dest) if p.name.startswith(server.camera.serial + "_")]
        assert len(mine) == len(originals), dest
        for copy in mine:
            assert sha(copy) == sha(originals[copy.name.split("_", 1)[1]])
    assert not list(dest.rglob("*.part")) and not list(dest.rglob("*.xxh"))


def assert_manifests_verify(dest: Path) -> None:
    """The reference ascmhl tool accepts every take folder (`ascmhl create` verifies what is listed)."""
    if not ASCMHL:
        pytest.skip("the reference ascmhl tool is not installed")
    for folder in take_folders(dest):
        result = subprocess.run([ASCMHL, "create", "-h", "xxh64", str(folder)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.rig(cameras=2, models=("HERO12", "HERO13"))
async def test_two_destinations_in_one_pass_then_format_with_two_copies(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig)
    first = tmp_path / "ssd1"
    with volume(tmp_path / "ssd2") as second:
        code, out, err = await rigtui(tmp_path, "offload", str(first), str(second), "--json", *cameras_of(rig))
        assert code == 0, err + out
        report = json.loads(out)
        assert [d["verified"] for d in report["destinations"]] == [18, 18]
        for dest in (first, second):
            assert_camera_bytes(rig, dest)
            assert_manifests_verify(dest)
        assert relative_files(first) == relative_files(second), "the same take folders and names on both"
        for server in rig.servers:
            gets = camera_gets(server)
            assert len(gets) == len(set(gets)) == len(card_files(server)), "each camera file read once"

        code, out, _ = await rigtui(tmp_path, "copies", "--json", *cameras_of(rig), config="min_copies = 2\n")
        assert code == 0, out
        files = [f for camera in json.loads(out)["cameras"] for f in camera["files"]]
        assert len(files) == 6 and all(f["copies"] == 2 and f["volumes"] == 2 for f in files)
        assert {w["root"] for f in files for w in f["where"]} == {str(first), str(second)}

        code, out, err = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig), config="min_copies = 2\n")
        assert code == 0, out + err
        assert not any(server.camera.media.items for server in rig.servers)


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_one_copy_is_refused_by_min_copies_2_until_a_new_destination_gets_everything(
    rig: SimRig, tmp_path: Path
) -> None:
    await shoot(rig)
    first = tmp_path / "ssd1"
    assert (await rigtui(tmp_path, "offload", str(first), *cameras_of(rig)))[0] == 0
    code, out, _ = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig), config="min_copies = 2\n")
    assert code == 1 and "format: refused; every file needs 2 verified copies on distinct volumes" in out, out
    serial = rig.servers[0].camera.serial
    assert f"too few copies  {serial}: 3 files: 100GOPRO/GX010001.MP4 (1 of 2: {first})" in out, out
    assert all(server.camera.media.items for server in rig.servers), "nothing erased"

    code, out, _ = await rigtui(tmp_path, "offload", str(first), *cameras_of(rig))
    assert code == 0 and "offload: 0 of 0 files verified" in out, "verified there: skipped"
    same_disk = tmp_path / "ssd1-again"
    code, out, _ = await rigtui(tmp_path, "offload", str(same_disk), *cameras_of(rig))
    assert code == 0 and f"offload to {same_disk}: 18 files" in out, "verified elsewhere is not skipped"
    assert relative_files(first) == relative_files(same_disk)
    code, out, _ = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig), config="min_copies = 2\n")
    assert code == 1 and f"(1 of 2: {first}, {same_disk})" in out, "two copies on one volume count once"

    with volume(tmp_path / "ssd3") as third:
        code, out, err = await rigtui(tmp_path, "offload", str(third), *cameras_of(rig))
        assert code == 0 and f"offload to {third}: 18 files" in out, err + out
        assert_camera_bytes(rig, third)
        code, out, err = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig), config="min_copies = 2\n")
        assert code == 0, out + err
    assert not any(server.camera.media.items for server in rig.servers)


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_destination_that_fills_up_ends_alone_and_the_card_is_not_erased(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=3_000_000)
    for server in rig.servers:
        server.throttle_mbps = 2.0
    big = tmp_path / "big"
    with volume(tmp_path / "small", "90m") as small:
        config = f'destinations = ["{small}", "{big}"]\n'
        task = asyncio.create_task(rigtui(tmp_path, "offload", "--json", *cameras_of(rig), config=config))
        deadline = time.monotonic() + 30
        while not list(small.rglob("*.MP4.part")):
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.05)
        with open(small / "filler", "wb") as filler:  # something else takes the disk's space
            stat = os.statvfs(small)
            filler.write(bytes(stat.f_bavail * stat.f_frsize))
        code, out, err = await task
        assert code == 1 and "Traceback" not in out + err, err
        report = json.loads(out)
        assert [d["failed"] for d in report["destinations"]] == ["No space left on device", None]
        assert_camera_bytes(rig, big)
        assert not [p for p in small.rglob("*.MP4") if sha(p) not in {sha(q) for q in offloaded(big)}]
        code, out, _ = await rigtui(tmp_path, "format", "--yes", *cameras_of(rig), config="min_copies = 2\n")
        assert code == 1 and "format: refused" in out
        assert all(server.camera.media.items for server in rig.servers), "nothing erased"


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_free_space_is_checked_per_destination_up_front(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=3_000_000)
    big = tmp_path / "big"
    with volume(tmp_path / "small", "2m") as small:
        with open(small / "filler", "wb") as filler:  # the space check passes, then the disk is full
            filler.write(bytes(1_200_000))
        code, out, err = await rigtui(tmp_path, "offload", str(small), str(big), *cameras_of(rig))
    assert code == 2 and "has 0.00 GB free; this offload needs" in err and str(small) in err, err + out
    assert not big.exists() or not list(big.rglob("*.MP4")), "refused up front: nothing written anywhere"


@pytest.mark.rig(cameras=2, models=("HERO12",), throttle_mbps=8.0)
async def test_cascade_lets_the_cameras_go_before_the_later_copies(rig: SimRig, tmp_path: Path) -> None:
    await shoot(rig, size=1_500_000)
    first, second = tmp_path / "fast", tmp_path / "slow"
    code, out, err = await rigtui(tmp_path, "offload", "--cascade", str(first), str(second), *cameras_of(rig))
    assert code == 0, err + out
    lines = out.splitlines()
    done = lines.index(f"offload: cameras done; copying from {first} to the other destinations")
    into_second = [n for n, line in enumerate(lines) if line.startswith("verified") and f"-> {second}/" in line]
    into_first = [n for n, line in enumerate(lines) if line.startswith("verified") and f"-> {first}/" in line]
    assert len(into_second) == len(into_first) == 18 and max(into_first) < done < min(into_second)
    last_read = max(int(r["t_ns"]) for s in rig.servers for r in s.requests if str(r["path"]).startswith("/videos/"))
    assert last_read < min(p.stat().st_mtime_ns for p in offloaded(second)), "the cameras were done first"
    for server in rig.servers:
        assert len(camera_gets(server)) == len(card_files(server)), "each camera file read once"
    for dest in (first, second):
        assert_camera_bytes(rig, dest)
    assert relative_files(first) == relative_files(second)


@pytest.mark.rig(cameras=1, models=("HERO12",))
async def test_cascade_refuses_a_first_copy_changed_before_it_is_copied_on(rig: SimRig, tmp_path: Path) -> None:
    """The later copies are checked against the camera's hash: a first copy damaged between the two
    phases gives no second copy (and nothing under its final name)."""
    await shoot(rig)
    config = parse(f'[offload]\nledger = "{tmp_path / "ledger.jsonl"}"\n')
    first, second = tmp_path / "a", tmp_path / "b"
    options = offload_options(config, [first, second], cascade=True)
    session = RigSession(rig_options(config, endpoints=[Endpoint(s.host, s.port) for s in rig.servers]))
    await session.open()
    damaged: list[Path] = []
    try:
        job: Offload | None = None

        def damage_between_phases() -> None:
            if job is not None and job.cameras_done and not damaged:
                victim = next(p for p in offloaded(first) if p.name.endswith("GX010001.MP4"))
                data = bytearray(victim.read_bytes())
                data[100] ^= 0xFF
                victim.write_bytes(data)
                damaged.append(victim)

        job = Offload(session.rig, options, open_ledger(config), on_change=damage_between_phases)
        plan = await job.run()
    finally:
        await session.close()
    (victim,) = damaged
    later = {t.relative: t for t in plan.tasks if t.root == second.resolve()}
    refused = later[str(victim.relative_to(first))]
    assert refused.state == "failed" and "not copied" in (refused.error or "")
    assert not (second / victim.relative_to(first)).exists()
    assert sum(t.state == "verified" for t in later.values()) == len(later) - 1, "the others were copied"


async def test_a_copy_from_a_source_that_is_not_the_cameras_bytes_is_refused(tmp_path: Path) -> None:
    """copy_verified checks what it copies against the camera's hash, not the source's: same size,
    same stat trick or not, a changed source gives no copy, and nothing half-copied is kept."""
    original = os.urandom(3_000_000)
    camera_hash = xxhash.xxh64(original).hexdigest()
    source = tmp_path / "a" / "GX010001.MP4"
    source.parent.mkdir()
    changed = bytearray(original)
    changed[2_999_000] ^= 0x01
    source.write_bytes(changed)
    copy = Copy(tmp_path / "b" / "GX010001.MP4")
    copy.dest.parent.mkdir()
    await copy_verified(source, [copy], len(original), camera_hash)
    assert copy.failure is not None and "no longer holds the camera's bytes" in str(copy.failure)
    assert not copy.dest.exists() and (not copy.part.exists() or copy.part.stat().st_size == 0)
    source.write_bytes(original)
    good = Copy(tmp_path / "b" / "GX010001.MP4")
    await copy_verified(source, [good], len(original), camera_hash)
    assert good.failure is None and good.dest.read_bytes() == original and not good.part.exists()


def test_old_ledger_records_still_load_and_count_as_one_copy(tmp_path: Path) -> None:
    """A record written by an older rigtui (no volume, no time) is one copy, on the volume it is on now."""
    root = tmp_path / "footage"
    dest = root / "take01_2026_03_21_15_30_45" / "C3501324645504_GX010001.MP4"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"camera bytes")
    record = {
        "camera": "C3501324645504",
        "path": "100GOPRO/GX010001.MP4",
        "cre": 1_790_000_600,
        "size": 12,
        "xxh64": xxhash.xxh64(b"camera bytes").hexdigest(),
        "dest": str(dest),
        "root": str(root),
        "take": 1,
        "anchor": 1_790_000_600,
        "kind": "video",
        "in_manifest": True,
    }
    path = tmp_path / "ledger.jsonl"
    path.write_text(json.dumps(record) + "\n")
    ledger = Ledger(path, min_copies=2)
    (found,) = ledger.verified_copies("C3501324645504", "100GOPRO/GX010001.MP4", 1_790_000_600, 12)
    assert found.entry.dest == str(dest) and found.volume
    assert not list(tmp_path.glob("ledger.jsonl.damaged-*"))
