"""rigtui's own files: one writer at a time (an exclusive lock), whole or not at all (atomic
replacement), and a damaged one kept for the operator rather than overwritten (set aside).

The lock is `flock` on a lock file: the kernel releases it when its holder exits, even by `kill -9`,
so a lock file left behind never blocks anyone. The file only tells a refused process who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

log = logging.getLogger(__name__)

DEST_LOCK = ".rigtui-offload.lock"  # in the offload's destination folder


class Locked(Exception):
    """Another process holds the lock; str() is one line naming it and what it is doing."""


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file `path` for the `with` block, or raise `Locked` at once (never wait).

    `what` says what the holder is doing, for the message another process gets: "offloading into
    /mnt/day1". A second holder in the same process is refused too (flock locks an open file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC: a child process (ssh, a shell) must not inherit the lock and keep it after we exit
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(f"another rigtui ({_holder(fd)}) is {what}: wait for it to finish") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "doing": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """'PID 1234 on studio, started 14:03:11' from the lock file, as far as it can be read."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        pid, host, started = int(holder["pid"]), str(holder["host"]), float(holder["started"])
    except (OSError, ValueError, TypeError, KeyError, OverflowError):
        return "PID unknown: it is starting, or its lock file is unreadable"
    same_day = time.localtime(started)[:3] == time.localtime()[:3]
    when = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", time.localtime(started))
    return f"PID {pid} on {host}, started {when}"


def offload_lock(dest: Path) -> AbstractContextManager[None]:
    """Only one offload writes into a destination folder at a time."""
    return exclusive(dest / DEST_LOCK, f"offloading into {dest}")


def ledger_lock(ledger: Path) -> AbstractContextManager[None]:
    """Only one offload records into a ledger at a time (the lock file sits beside the ledger)."""
    return exclusive(ledger.with_name(ledger.name + ".lock"), f"recording in the ledger {ledger}")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    _sync_folder(path.parent)


def set_aside(path: Path, what: str, why: str, outcome: str = "") -> bool:
    """Rename a damaged file (or folder) to `NAME.damaged-YYYYmmdd-HHMMSS` beside it, for the
    operator to look at, never replacing an earlier one; log one warning naming it. False when it
    could not be moved (then the caller must not write over it)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while aside.exists() or aside.is_symlink():
        number += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    try:
        os.rename(path, aside)
    except OSError as exc:
        log.warning("damaged %s %s (%s) could not be set aside: %s", what, path, why, exc.strerror or exc)
        return False
    _sync_folder(path.parent)
    log.warning("damaged %s set aside as %s (%s)%s", what, aside, why, outcome)
    return True


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (some file systems cannot sync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
