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

import httpx
import xxhash

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
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    expected: int | None,
    *,
    progress: Callable[[int], None] = lambda n: None,
    retries: int = 5,
    backoff_s: float = 1.0,
) -> Fetched:
    """Fetch `url` into `dest`, verified. `expected` is the listed size (None: ask with HEAD).
    `progress` gets byte counts as they arrive (negative when a restart discards bytes)."""
    if dest.exists():
        raise DestinationTaken(f"{dest} already exists and is not this file's verified copy; left untouched")
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    state = _Partial(offset, await asyncio.to_thread(hash_file, part, offset) if offset else xxhash.xxh64())
    progress(offset)
    size_checked = False
    attempt = 0
    while True:
        if expected is not None and state.offset > expected:
            progress(-state.offset)
            state.restart()
            await asyncio.to_thread(part.write_bytes, b"")
        try:
            await _stream(http, url, part, state, progress)
        except (httpx.TransportError, DownloadError) as exc:
            attempt += 1
            if (isinstance(exc, DownloadError) and not isinstance(exc, _Retry)) or attempt > retries:
                raise DownloadError(f"{url}: {exc or type(exc).__name__} (after {attempt} attempts)") from None
            await asyncio.to_thread(_trim, part, state.offset)
            await asyncio.sleep(min(backoff_s * 2 ** (attempt - 1), 30))
            continue
        if expected is None or (state.offset != expected and not size_checked):
            # The listing has no size, or disagrees with what came: ask the camera itself.
            expected, size_checked = await _head_length(http, url), True
        if state.offset == expected:
            break
        attempt += 1
        if attempt > retries:
            raise DownloadError(f"{url}: got {state.offset} of {expected} bytes (after {attempt} attempts)")
        await asyncio.sleep(min(backoff_s * 2 ** (attempt - 1), 30))
    await asyncio.to_thread(_finish, part, dest)
    digest = state.hasher.hexdigest()
    readback = (await asyncio.to_thread(hash_file, dest)).hexdigest()
    if readback != digest:
        bad = dest.with_name(dest.name + ".bad")
        os.replace(dest, bad)
        raise DownloadError(f"{dest}: read-back hash {readback} differs from the stream's {digest}; moved to {bad}")
    return Fetched(state.offset, digest)


def _trim(part: Path, length: int) -> None:
    """Cut the .part file back to the bytes the hash covers (a write may have outrun a failure)."""
    if part.exists() and part.stat().st_size != length:
        os.truncate(part, length)


async def _head_length(http: httpx.AsyncClient, url: str) -> int:
    try:
        reply = await http.head(url)
    except httpx.TransportError as exc:
        raise _Retry(f"HEAD failed ({type(exc).__name__})") from None
    length = reply.headers.get("content-length", "")
    if reply.status_code != 200 or not length.isdigit():
        raise DownloadError(f"HEAD answered {reply.status_code} without a length")
    return int(length)


async def _stream(
    http: httpx.AsyncClient, url: str, part: Path, state: _Partial, progress: Callable[[int], None]
) -> None:
    """One GET from the partial file's end; `state` advances with every block written, so a failure
    half-way keeps what arrived (restarts from zero when the camera ignores Range)."""
    headers = {"Range": f"bytes={state.offset}-"} if state.offset else {}
    async with http.stream("GET", url, headers=headers) as reply:
        if reply.status_code == 416:
            return  # nothing more to send: the length check decides
        if reply.status_code == 404:
            raise DownloadError("the camera no longer has this file (404)")
        if reply.status_code not in (200, 206):
            raise _Retry(f"HTTP {reply.status_code}")
        if state.offset and reply.status_code == 200:
            progress(-state.offset)  # Range ignored: the whole file comes again
            state.restart()
        out = await asyncio.to_thread(open, part, "ab" if state.offset else "wb")
        try:
            async for block in reply.aiter_raw(CHUNK):
                await asyncio.to_thread(out.write, block)
                state.hasher.update(block)
                state.offset += len(block)
                progress(len(block))
        finally:
            await asyncio.to_thread(out.close)
