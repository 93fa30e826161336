"""rigtui's own files under damage: the offload ledger, state.toml and the camera cache are set aside
(never crash, never "verified" by accident), the ledger trusts a copy by its content, a full disk is
one clear line, and two offloads never write the same destination or ledger at once."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rigtui.files import Locked, ledger_lock, offload_lock
from rigtui.gopro import ledger as ledger_module
from rigtui.gopro.discovery import Endpoint, load_cache, save_cache
from rigtui.gopro.download import hash_file
from rigtui.gopro.ledger import Ledger, LedgerEntry, LedgerError
from rigtui.userstate import UserState

BASE = 1_790_000_000
SERIAL = "C3501324645504"


@pytest.fixture(autouse=True)
def own_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may touch the user's real folders."""
    for variable in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))


def fields(folder: Path, number: int = 1, **changes: object) -> dict[str, Any]:
    """A ledger line's fields, as rigtui writes them, with `changes` on top (`...` drops a key)."""
    values: dict[str, Any] = {
        "camera": SERIAL,
        "path": f"100GOPRO/GX01{number:04d}.MP4",
        "cre": BASE + number,
        "size": 11,
        "xxh64": "0123456789abcdef",
        "dest": str(folder / "take01" / f"{SERIAL}_GX01{number:04d}.MP4"),
        "root": str(folder),
        "take": 1,
        "anchor": BASE,
        "kind": "video",
        "in_manifest": False,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not ...}


def line(folder: Path, number: int = 1, **changes: object) -> bytes:
    return json.dumps(fields(folder, number, **changes)).encode() + b"\n"


def copy_on_disk(root: Path, number: int = 1, content: bytes = b"footage 001") -> LedgerEntry:
    """A real verified copy under `root`, and the entry that says so."""
    dest = root / "take01" / f"{SERIAL}_GX01{number:04d}.MP4"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(content)
    return LedgerEntry(**fields(root, number, size=len(content), xxh64=hash_file(dest).hexdigest()))


def set_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".damaged-*"))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- 1. a damaged ledger ----------------------------------------------------------------------------


def test_one_bad_byte_costs_one_line_and_the_damaged_ledger_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.jsonl"
    root = tmp_path / "footage"
    damaged = b"".join(line(root, n) for n in (1, 2, 3)) + b'{"camera": "\xff"}\n' + line(root, 4) + line(root, 5)
    path.write_bytes(damaged)
    ledger = Ledger(path)
    assert sorted(e.path for e in ledger.entries.values()) == [f"100GOPRO/GX01000{n}.MP4" for n in (1, 2, 3, 4, 5)]
    [aside] = set_aside(path)
    assert aside.read_bytes() == damaged, "the damaged file is kept as it was"
    assert Ledger(path).entries == ledger.entries and b"\xff" not in path.read_bytes()
    assert set_aside(path) == [aside], "the fresh ledger is sound"
    [warning] = warnings(caplog)
    assert str(aside) in warning and "1 bad line" in warning and "5 kept" in warning
    assert "\n" not in warning


def test_a_directory_in_place_of_the_ledger_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.jsonl"
    (path / "inside").mkdir(parents=True)
    ledger = Ledger(path)
    assert ledger.entries == {}
    [aside] = set_aside(path)
    assert (aside / "inside").is_dir() and path.is_file()
    [warning] = warnings(caplog)
    assert str(aside) in warning
    ledger.record(LedgerEntry(**fields(tmp_path)))
    assert len(Ledger(path).entries) == 1


@pytest.mark.parametrize(
    ("changes", "raw"),
    [
        ({"size": "12"}, None),
        ({"size": True}, None),
        ({"size": -1}, None),
        ({"size": float("nan")}, None),
        ({"cre": 12.0}, None),
        ({"camera": 5}, None),
        ({"camera": ""}, None),
        ({"path": ...}, None),
        ({"xxh64": 7}, None),
        ({"xxh64": "0123456789ABCDEF"}, None),
        ({"xxh64": "0123456789abcde"}, None),
        ({"dest": "take01/GX010001.MP4"}, None),
        ({"dest": "/footage/take01/GX01\x000001.MP4"}, None),
        ({"dest": "/somewhere/else/GX010001.MP4"}, None),
        ({"root": 3}, None),
        ({"take": 0}, None),
        ({"anchor": 2**62}, None),
        ({"kind": "audio"}, None),
        ({"in_manifest": "yes"}, None),
        ({"copy_stat": {"dev": 1}}, None),
        ({"surprise": 1}, None),
        ({}, b"[1, 2, 3]\n"),
        ({}, b"not json at all\n"),
        ({}, b"\n"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_line_of_the_wrong_shape_is_damage_never_an_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, changes: dict[str, object], raw: bytes | None
) -> None:
    path = tmp_path / "ledger.jsonl"
    root = tmp_path / "footage"
    path.write_bytes(line(root, 1) + (raw if raw is not None else line(root, 2, **changes)))
    ledger = Ledger(path)
    assert list(ledger.entries) == [(SERIAL, "100GOPRO/GX010001.MP4", BASE + 1)]
    assert ledger.get(SERIAL, "100GOPRO/GX010002.MP4", BASE + 2) is None
    assert len(set_aside(path)) == 1
    [warning] = warnings(caplog)
    assert "1 bad line" in warning and "1 kept" in warning


def test_a_sound_ledger_of_an_older_rigtui_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.jsonl"
    root = tmp_path / "footage"
    old = line(root, 1, in_manifest=...) + line(root, 2) + line(root, 1, size=12)  # later lines win
    path.write_bytes(old)
    ledger = Ledger(path)
    assert len(ledger.entries) == 2 and ledger.entries[(SERIAL, "100GOPRO/GX010001.MP4", BASE + 1)].size == 12
    assert path.read_bytes() == old and set_aside(path) == [] and warnings(caplog) == []


# -- 2. verified by content, not size ---------------------------------------------------------------


def test_a_copy_edited_in_place_is_not_verified_even_with_its_times_put_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    entry = copy_on_disk(tmp_path / "footage")
    ledger.record_verified(entry)
    assert ledger.verified(SERIAL, entry.path, entry.cre, entry.size) is not None
    dest = Path(entry.dest)
    before = dest.stat()
    with open(dest, "r+b") as copy:
        copy.write(b"F")  # same size, other bytes
    os.utime(dest, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert dest.stat().st_size == entry.size and dest.stat().st_mtime_ns == before.st_mtime_ns
    assert ledger.verified(SERIAL, entry.path, entry.cre, entry.size) is None
    assert Ledger(ledger.path).verified(SERIAL, entry.path, entry.cre, entry.size) is None


def test_a_copy_recorded_by_an_older_rigtui_is_checked_by_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    good, edited = copy_on_disk(tmp_path / "footage", 1), copy_on_disk(tmp_path / "footage", 2)
    old = ({k: v for k, v in e.__dict__.items() if k != "copy_stat"} for e in (good, edited))  # no stat recorded
    path.write_bytes(b"".join(json.dumps(values).encode() + b"\n" for values in old))
    Path(edited.dest).write_bytes(b"FOOTAGE 002")
    ledger = Ledger(path)
    assert ledger.verified(SERIAL, good.path, good.cre, good.size) == good
    assert ledger.verified(SERIAL, edited.path, edited.cre, edited.size) is None


def test_an_unchanged_copy_is_trusted_without_reading_it_and_a_touched_one_after_a_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    entry = copy_on_disk(tmp_path / "footage")
    ledger.record_verified(entry)
    recorded = json.loads(ledger.path.read_text())["copy_stat"]
    stat = os.stat(entry.dest)
    assert recorded == {
        "dev": stat.st_dev,
        "ino": stat.st_ino,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
    }
    hashed: list[Path] = []
    monkeypatch.setattr(ledger_module, "hash_file", lambda p: hashed.append(p) or hash_file(p))
    assert Ledger(ledger.path).verified(SERIAL, entry.path, entry.cre, entry.size) is not None
    assert hashed == []
    os.utime(entry.dest, (BASE, BASE))  # touched, same bytes: trusted after reading it again
    on_disk = ledger.path.read_bytes()
    assert Ledger(ledger.path).verified(SERIAL, entry.path, entry.cre, entry.size) is not None
    assert hashed == [Path(entry.dest)] and ledger.path.read_bytes() == on_disk
    os.unlink(entry.dest)
    assert Ledger(ledger.path).verified(SERIAL, entry.path, entry.cre, entry.size) is None


# -- 3. a full disk or an I/O error while recording -------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs for a real ENOSPC needs root")
def test_a_full_disk_is_one_typed_line_and_leaves_no_half_line(tmp_path: Path) -> None:
    disk = tmp_path / "tiny"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        ledger = Ledger(disk / "ledger.jsonl")
        root = Path("/footage/" + "long-folder-name/" * 40)  # lines of ~900 bytes: one straddles a page
        with pytest.raises(LedgerError) as full:
            for number in range(1, 100):
                ledger.record(LedgerEntry(**fields(root, number)))
        recorded = number - 1
        assert full.value.errno == errno.ENOSPC
        message = str(full.value)
        assert "\n" not in message and str(disk / "ledger.jsonl") in message and "No space left" in message
        assert len(ledger.entries) == recorded and recorded > 3
        assert ledger.path.read_bytes().endswith(b"\n"), "the half line is trimmed"
        assert Ledger(ledger.path).entries == ledger.entries and set_aside(ledger.path) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_an_io_error_while_recording_is_typed_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.record(LedgerEntry(**fields(tmp_path, 1)))
    before = ledger.path.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with monkeypatch.context() as patched, pytest.raises(LedgerError) as failed:
        patched.setattr(os, "fsync", failing_fsync)
        ledger.record(LedgerEntry(**fields(tmp_path, 2)))
    assert failed.value.errno == errno.EIO and str(ledger.path) in str(failed.value)
    assert len(ledger.entries) == 1 and ledger.path.read_bytes() == before


def test_a_half_last_line_is_set_aside_and_the_next_record_is_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.jsonl"
    root = tmp_path / "footage"
    path.write_bytes(line(root, 1) + line(root, 2)[:40])  # a write cut short by a crash or a full disk
    ledger = Ledger(path)
    assert len(ledger.entries) == 1 and len(set_aside(path)) == 1
    assert "1 bad line" in warnings(caplog)[0]
    ledger.record(LedgerEntry(**fields(root, 3)))
    assert len(Ledger(path).entries) == 2 and len(set_aside(path)) == 1


# -- 4. state files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [b'prime = "\xff"\n', b"prime = [\n", b"prime = 5\n", b'nicknames = "x"\n', b"[nicknames]\na = 1\n", None],
    ids=["bad-utf8", "bad-toml", "prime-int", "nicknames-str", "nickname-int", "directory"],
)
def test_a_damaged_state_file_is_set_aside_not_overwritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: bytes | None
) -> None:
    path = tmp_path / "state.toml"
    if text is None:
        path.mkdir()
    else:
        path.write_bytes(text)
    state = UserState.load(path)
    assert (state.prime, state.nicknames) == ("", {})
    [aside] = set_aside(path)
    [warning] = warnings(caplog)
    assert str(aside) in warning
    state.prime = SERIAL
    state.save()
    assert text is None or aside.read_bytes() == text
    assert UserState.load(path).prime == SERIAL


def test_saving_state_is_atomic_and_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.toml"
    UserState(prime="C1", path=path).save()
    synced: list[int] = []
    real_fsync = os.fsync
    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
        UserState(prime="C2", path=path).save()
    assert synced, "written to disk before it replaces the old file"

    def failing_replace(source: object, target: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    with monkeypatch.context() as patched, pytest.raises(OSError):
        patched.setattr(os, "replace", failing_replace)
        UserState(prime="C3", path=path).save()
    assert UserState.load(path).prime == "C2" and sorted(p.name for p in tmp_path.iterdir()) == ["state.toml"]


@pytest.mark.parametrize(
    "entries",
    [
        b"[{",
        b'{"host": "127.0.0.1"}',
        b'[{"host": "127.0.0.1", "port": "x", "serial": null}]',
        b'[{"host": "127.0.0.1", "port": "8080", "serial": null}]',
        b'[{"host": "127.0.0.1", "port": 99999, "serial": null}]',
        b'[{"host": "127.0.0.1", "port": true, "serial": null}]',
        b'[{"host": 5, "port": 8080, "serial": null}]',
        b'[{"host": "127.0.0.1", "port": 8080, "serial": 7}]',
        b'[{"port": 8080, "serial": null}]',
        b'[{"host": "127.0.0.1", "port": 8080, "serial": "\xff"}]',
    ],
)
def test_a_damaged_camera_cache_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture, entries: bytes) -> None:
    path = tmp_path / "cameras.json"
    path.write_bytes(entries)
    assert load_cache(path) == []
    [aside] = set_aside(path)
    assert aside.read_bytes() == entries
    [warning] = warnings(caplog)
    assert str(aside) in warning
    save_cache([Endpoint("172.21.145.51", 8080, SERIAL)], path)
    assert load_cache(path) == [Endpoint("172.21.145.51", 8080, SERIAL, "cache")]
    assert aside.read_bytes() == entries


# -- 5. one offload at a time -----------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from rigtui.files import offload_lock
with offload_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_offload_into_a_destination_is_refused_until_the_first_is_killed(tmp_path: Path) -> None:
    dest = tmp_path / "day1"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(dest)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(Locked) as refused, offload_lock(dest):
            pytest.fail("two offloads wrote into one destination")
        message = str(refused.value)
        assert f"PID {holder.pid}" in message and str(dest) in message and "\n" not in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    with offload_lock(dest):  # the kernel released it: a stale lock file never blocks
        assert f'"pid": {os.getpid()}' in (dest / ".rigtui-offload.lock").read_text()


def test_two_offloads_sharing_a_ledger_are_refused_even_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with ledger_lock(path):
        with pytest.raises(Locked) as refused, ledger_lock(path):
            pytest.fail("two offloads recorded into one ledger")
        assert f"PID {os.getpid()}" in str(refused.value) and str(path) in str(refused.value)
    with ledger_lock(path):
        assert (tmp_path / "ledger.jsonl.lock").exists() and not path.exists()
