"""One camera file to disk, verified: streamed to NAME.part with xxh64 computed on the way, never
past the length the camera listed, resumed with HTTP Range where the camera honours it (restarted
where it does not), renamed atomically without ever replacing another file, then read back and
hashed again.

A resumed .part is trusted only as far as its bytes still hash to what was recorded while they
streamed in: every few MiB the hash of the prefix so far is appended to NAME.part.xxh; on resume
the .part is hashed again and cut back to the last checkpoint that still matches (to nothing if
none does, or if there is no record), so bytes changed on disk are fetched again, never trusted.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import xxhash

from rigtui.gopro.client import CameraClient
from rigtui.gopro.errors import CameraBusy, CameraError, CameraOffline

CHUNK = 1 << 20
UNLISTED_LIMIT = 256 << 20  # the most a file whose size the list leaves out may be (thumbnails, burst frames)
CHECKPOINT_BYTES = 16 << 20  # how far apart the hashes of a .part's prefix are recorded
JOURNAL_SUFFIX = ".xxh"


class DownloadError(Exception):
    """A file could not be fetched and verified; str() says why, in one line."""


class DestinationTaken(DownloadError):
    """A different file already stands under the final name; it is left untouched."""


class _Retry(DownloadError):
    """A failure worth another attempt (the camera said no for now, or the link dropped)."""


class SharedRate:
    """A transfer rate shared by many downloads (a USB hub's bandwidth): each block waits its turn."""

    def __init__(self, mbps: float) -> None:
        self.bytes_per_s = mbps * 1e6
        self._next = time.monotonic()

    async def take(self, count: int) -> None:
        now = time.monotonic()
        start = max(self._next, now)
        self._next = start + count / self.bytes_per_s
        if start > now:
            await asyncio.sleep(start - now)


@dataclass(frozen=True)
class Fetched:
    size: int
    xxh64: str


def hash_file(path: Path, upto: int | None = None) -> xxhash.xxh64:
    """xxh64 of a file's first `upto` bytes (all of it by default), read in chunks."""
    hasher = xxhash.xxh64()
    remaining = upto
    with open(path, "rb") as source:
        while remaining is None or remaining > 0:
            block = source.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not block:
                break
            hasher.update(block)
            if remaining is not None:
                remaining -= len(block)
    return hasher


def _finish(part: Path, dest: Path) -> None:
    """fsync, then move into place without ever replacing an existing file."""
    with open(part, "rb+") as out:
        os.fsync(out.fileno())
    try:
        os.link(part, dest)  # fails if dest exists: no clobbering, even in a race
    except FileExistsError:
        raise DestinationTaken(f"{dest} appeared while downloading; left untouched") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if dest.exists():  # file systems without hard links (exFAT drives): check, then rename
            raise DestinationTaken(f"{dest} appeared while downloading; left untouched") from None
        os.rename(part, dest)
        return
    os.unlink(part)


@dataclass
class _Partial:
    """What the .part file holds: its length, the hash of exactly those bytes, and where the hash of
    its prefix was last recorded."""

    offset: int
    hasher: xxhash.xxh64
    recorded: int = 0

    def restart(self) -> None:
        self.offset, self.hasher, self.recorded = 0, xxhash.xxh64(), 0


def _journal(part: Path) -> Path:
    return part.with_name(part.name + JOURNAL_SUFFIX)


def _checkpoints(journal: Path) -> list[tuple[int, str]]:
    """(offset, xxh64 of the first offset bytes) as recorded; damaged lines end the record."""
    found: list[tuple[int, str]] = []
    try:
        lines = journal.read_bytes()[: 1 << 20].split(b"\n")
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit() or len(fields[1]) != 16:
            break
        offset = int(fields[0])
        if found and offset <= found[-1][0]:
            break
        found.append((offset, fields[1].decode("ascii", "replace")))
    return found


def resume_point(part: Path) -> _Partial:
    """How much of a .part can be trusted: the longest prefix whose hash matches a checkpoint
    recorded while it streamed in. The .part and its record are cut back to it."""
    journal = _journal(part)
    trusted = _Partial(0, xxhash.xxh64())
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        journal.unlink(missing_ok=True)
        return trusted
    kept: list[tuple[int, str]] = []
    hasher, position = xxhash.xxh64(), 0
    with open(part, "rb") as source:
        for offset, digest in _checkpoints(journal):
            if offset > size:
                break
            while position < offset:
                block = source.read(min(CHUNK, offset - position))
                if not block:
                    break
                hasher.update(block)
                position += len(block)
            if position != offset or hasher.hexdigest() != digest:
                break
            kept.append((offset, digest))
            trusted = _Partial(offset, hasher.copy(), offset)
    os.truncate(part, trusted.offset)
    journal.write_text("".join(f"{offset} {digest}\n" for offset, digest in kept))
    return trusted


async def fetch(
    client: CameraClient,
    path: str,
    dest: Path,
    expected: int | None,
    *,
    progress: Callable[[int], None] = lambda n: None,
    retries: int = 5,
    backoff_s: float = 1.0,
    rate: SharedRate | None = None,
) -> Fetched:
    """Fetch the camera's file `path` (DIR/NAME) into `dest`, verified. `expected` is the listed size
    (None: ask with HEAD). `progress` gets byte counts as they arrive (negative when a restart
    discards bytes). Dropped links, stalls, short bodies and busy cameras are retried with backoff."""
    if dest.exists():
        raise DestinationTaken(f"{dest} already exists and is not this file's verified copy; left untouched")
    part = dest.with_name(dest.name + ".part")
    state = await asyncio.to_thread(resume_point, part)
    progress(state.offset)
    size_checked = False
    attempt = 0
    while True:
        try:
            if expected is None:  # the listing has no size: the camera's own length caps the download
                expected, size_checked = await client.media_length(path), True
                if expected > UNLISTED_LIMIT:
                    raise DownloadError(f"{path}: {expected} bytes for a file the list gives no size; not taken")
            if state.offset > expected:
                progress(-state.offset)
                state.restart()
                await asyncio.to_thread(_trim, part, 0)
            await _stream(client, path, part, state, expected, progress, rate)
            if state.offset != expected and not size_checked:
                # Shorter than listed: ask the camera itself (lists have been seen to be wrong).
                expected, size_checked = min(expected, await client.media_length(path)), True
            if state.offset == expected:
                break
            raise _Retry(f"got {state.offset} of {expected} bytes")
        except (_Retry, CameraOffline, CameraBusy) as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"{path}: {exc} (after {attempt} attempts)") from None
            if not await asyncio.to_thread(_trim, part, state.offset):
                progress(-state.offset)  # bytes the hash covers are gone: start over
                state.restart()
                await asyncio.to_thread(_trim, part, 0)
            await asyncio.sleep(min(backoff_s * 2 ** (attempt - 1), 30))
        except CameraError as exc:
            raise DownloadError(f"{path}: {exc}") from None
    await asyncio.to_thread(_finish, part, dest)
    await asyncio.to_thread(_journal(part).unlink, missing_ok=True)
    digest = state.hasher.hexdigest()
    readback = (await asyncio.to_thread(hash_file, dest)).hexdigest()
    if readback != digest:
        bad = dest.with_name(dest.name + ".bad")
        await asyncio.to_thread(os.replace, dest, bad)
        raise DownloadError(f"{dest}: read-back hash {readback} differs from the stream's {digest}; moved to {bad}")
    return Fetched(state.offset, digest)


def _write_hashed(out: BinaryIO, journal: Path, state: _Partial, block: bytes) -> None:
    """Append a block to the .part, hash it, and every CHECKPOINT_BYTES record the prefix's hash.
    The hash moves on only once the block is on its way to the disk (a full disk raises here)."""
    out.write(block)
    out.flush()
    state.hasher.update(block)
    state.offset += len(block)
    if state.offset - state.recorded >= CHECKPOINT_BYTES:
        out.flush()
        with open(journal, "a", encoding="ascii") as record:
            record.write(f"{state.offset} {state.hasher.hexdigest()}\n")
        state.recorded = state.offset


def _trim(part: Path, length: int) -> bool:
    """Cut the .part file back to the bytes the hash covers (a write may have outrun a failure);
    at 0 its record of checkpoints goes too. False when it holds less than that (never padded)."""
    size = part.stat().st_size if part.exists() else 0
    if size > length:
        os.truncate(part, length)
    if length == 0:
        _journal(part).unlink(missing_ok=True)
    return size >= length


async def _stream(
    client: CameraClient,
    path: str,
    part: Path,
    state: _Partial,
    expected: int,
    progress: Callable[[int], None],
    rate: SharedRate | None = None,
) -> None:
    """One GET from the partial file's end; `state` advances with every block written, so a failure
    half-way keeps what arrived (restarts from zero when the camera ignores Range). Nothing past
    `expected` bytes is ever written: a camera that sends more is an error."""
    async with client.media_stream(path, state.offset) as reply:
        if reply.status == 416:
            return  # nothing more to send: the length check decides
        if reply.status == 404:
            raise DownloadError("the camera no longer has this file (404)")
        if reply.status not in (200, 206):
            raise _Retry(f"HTTP {reply.status}")
        if state.offset and reply.status == 200:
            progress(-state.offset)  # Range ignored: the whole file comes again
            state.restart()
            await asyncio.to_thread(_trim, part, 0)
        journal = _journal(part)
        out = await asyncio.to_thread(open, part, "ab" if state.offset else "wb")
        try:
            async for block in reply.blocks:
                room = expected - state.offset
                if rate is not None:
                    await rate.take(len(block))
                await asyncio.to_thread(_write_hashed, out, journal, state, block[:room])
                progress(min(len(block), room))
                if len(block) > room:
                    raise DownloadError(f"the camera sent more than the {expected} bytes it listed; stopped there")
        finally:
            await asyncio.to_thread(out.close)
