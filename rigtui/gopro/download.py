"""One camera file to disk, verified: streamed to NAME.part with xxh64 computed on the way, its
length checked, resumed with HTTP Range where the camera honours it (restarted where it does not),
renamed atomically without ever replacing another file, then read back and hashed again.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import xxhash

from rigtui.gopro.client import CameraClient
from rigtui.gopro.errors import CameraBusy, CameraError, CameraOffline

CHUNK = 1 << 20


class DownloadError(Exception):
    """A file could not be fetched and verified; str() says why, in one line."""


class DestinationTaken(DownloadError):
    """A different file already stands under the final name; it is left untouched."""


class _Retry(DownloadError):
    """A failure worth another attempt (the camera said no for now, or the link dropped)."""


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
    """What the .part file holds: its length and the hash of exactly those bytes."""

    offset: int
    hasher: xxhash.xxh64

    def restart(self) -> None:
        self.offset, self.hasher = 0, xxhash.xxh64()


async def fetch(
    client: CameraClient,
    path: str,
    dest: Path,
    expected: int | None,
    *,
    progress: Callable[[int], None] = lambda n: None,
    retries: int = 5,
    backoff_s: float = 1.0,
) -> Fetched:
    """Fetch the camera's file `path` (DIR/NAME) into `dest`, verified. `expected` is the listed size
    (None: ask with HEAD). `progress` gets byte counts as they arrive (negative when a restart
    discards bytes). Dropped links, stalls, short bodies and busy cameras are retried with backoff."""
    if dest.exists():
        raise DestinationTaken(f"{dest} already exists and is not this file's verified copy; left untouched")
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    state = _Partial(offset, await asyncio.to_thread(hash_file, part, offset) if offset else xxhash.xxh64())
    progress(offset)
    size_checked = False
    attempt = 0
    while True:
        try:
            if expected is not None and state.offset > expected:
                progress(-state.offset)
                state.restart()
                await asyncio.to_thread(part.write_bytes, b"")
            await _stream(client, path, part, state, progress)
            if expected is None or (state.offset != expected and not size_checked):
                # The listing has no size, or disagrees with what came: ask the camera itself.
                expected, size_checked = await client.media_length(path), True
            if state.offset == expected:
                break
            raise _Retry(f"got {state.offset} of {expected} bytes")
        except (_Retry, CameraOffline, CameraBusy) as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"{path}: {exc} (after {attempt} attempts)") from None
            await asyncio.to_thread(_trim, part, state.offset)
            await asyncio.sleep(min(backoff_s * 2 ** (attempt - 1), 30))
        except CameraError as exc:
            raise DownloadError(f"{path}: {exc}") from None
    await asyncio.to_thread(_finish, part, dest)
    digest = state.hasher.hexdigest()
    readback = (await asyncio.to_thread(hash_file, dest)).hexdigest()
    if readback != digest:
        bad = dest.with_name(dest.name + ".bad")
        await asyncio.to_thread(os.replace, dest, bad)
        raise DownloadError(f"{dest}: read-back hash {readback} differs from the stream's {digest}; moved to {bad}")
    return Fetched(state.offset, digest)


def _write_hashed(out: BinaryIO, hasher: xxhash.xxh64, block: bytes) -> None:
    out.write(block)
    hasher.update(block)


def _trim(part: Path, length: int) -> None:
    """Cut the .part file back to the bytes the hash covers (a write may have outrun a failure)."""
    if part.exists() and part.stat().st_size != length:
        os.truncate(part, length)


async def _stream(
    client: CameraClient, path: str, part: Path, state: _Partial, progress: Callable[[int], None]
) -> None:
    """One GET from the partial file's end; `state` advances with every block written, so a failure
    half-way keeps what arrived (restarts from zero when the camera ignores Range)."""
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
        out = await asyncio.to_thread(open, part, "ab" if state.offset else "wb")
        try:
            async for block in reply.blocks:
                await asyncio.to_thread(_write_hashed, out, state.hasher, block)
                state.offset += len(block)
                progress(len(block))
        finally:
            await asyncio.to_thread(out.close)
