"""rigtui's own files: one writer at a time (an exclusive lock), whole or not at all (atomic
replacement, synced appends), and a damaged one kept for the operator rather than overwritten (set
aside).

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
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

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


class JsonLines(Generic[T]):
    """An append-only file of JSON lines, one record each, later records winning where they share a
    key: a crash can lose at most the line being written, never what was written before.

    Every line is checked (`parse` raises ValueError or TypeError); a file with any damaged line is
    set aside whole for the operator and its good lines are written into a fresh one, so damage is
    never read as a record."""

    def __init__(self, path: Path, what: str, parse: Callable[[object], T], dump: Callable[[T], object]) -> None:
        self.path, self.what, self._parse, self._dump = path, what, parse, dump

    def load(self) -> list[T]:
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a folder, or a FIFO that would block
                self._repair([], 0, "not a regular file")
                return []
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:  # unreadable, not damaged: nothing is read, and nothing is moved
            log.warning("cannot read the %s %s (%s): none of it is used", self.what, self.path, exc.strerror or exc)
            return []
        lines = data.split(b"\n")
        last = lines.pop()  # b"" when the file ends with a newline, as every whole write does
        good: list[T] = []
        bad, why = 0, ""
        for number, raw in enumerate(lines, 1):
            try:
                good.append(self._parse(json.loads(raw.decode("utf-8", errors="strict"))))
            # decoding errors are ValueErrors; a line of "[[[[..." raises RecursionError
            except (ValueError, TypeError, RecursionError) as exc:
                bad, why = bad + 1, why or f"line {number}: {exc}"
        if last:  # a write cut short: the next append would glue its line onto it
            bad, why = bad + 1, why or f"line {len(lines) + 1}: no newline, a write cut short"
        if bad:
            self._repair(good, bad, why)
        return good

    def _repair(self, good: list[T], bad: int, why: str) -> None:
        """Set the damaged file aside and write its good lines into a fresh one."""
        outcome = f": {bad} bad line{'' if bad == 1 else 's'}, {len(good)} kept in a fresh {self.path.name}"
        if not set_aside(self.path, self.what, why, outcome):
            return
        try:
            write_atomically(self.path, b"".join(self._line(record) for record in good))
        except OSError as exc:
            log.warning("cannot write a fresh %s %s: %s", self.what, self.path, exc.strerror or exc)

    def _line(self, record: T) -> bytes:
        return json.dumps(self._dump(record), separators=(",", ":")).encode() + b"\n"

    def append(self, record: T) -> None:
        """Append one record and sync it to disk; raises OSError (the file unchanged) when it cannot."""
        line = self._line(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            end = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(line):
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            except OSError:
                # no half line may stay: trim back to where it began (if even that fails, the next
                # load sets the file aside as damaged, keeping every whole line)
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                    os.fsync(fd)
                raise
        finally:
            os.close(fd)
