"""One camera file to disk, verified: streamed to NAME.part with xxh64 computed on the way, never
past the length the camera listed, resumed with HTTP Range where the camera honours it (restarted
where it does not), renamed atomically without ever replacing another file, then read back and
hashed again.

One stream can feed several destinations (copies): the camera's bytes are read and hashed once, and
each copy is written by its own writer (on its destination's own threads) behind a bounded queue,
so a slow destination holds the stream back by at most that queue and a failing one ends alone.
Each copy is read back and hashed on its own. A verified copy can also feed more copies later
(`copy_verified`), checked against the hash the camera's stream had, never only against the source.

A resumed .part is trusted only as far as its bytes still hash to what was recorded while they
streamed in: every few MiB the hash of the prefix so far is appended to NAME.part.xxh; on resume
the .part is hashed again and cut back to the last checkpoint that still matches (to nothing if
none does, or if there is no record), so bytes changed on disk are fetched again, never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import xxhash

from rigtui.gopro.client import CameraClient
from rigtui.gopro.errors import CameraBusy, CameraError, CameraOffline

CHUNK = 1 << 20
UNLISTED_LIMIT = 256 << 20  # the most a file whose size the list leaves out may be (thumbnails, burst frames)
CHECKPOINT_BYTES = 16 << 20  # how far apart the hashes of a .part's prefix are recorded
JOURNAL_SUFFIX = ".xxh"
WRITE_QUEUE_BLOCKS = 2  # per copy: a slow destination holds the stream back by at most 2 blocks (2 MiB)
STALL_S = 120.0  # a destination that takes no block for this long is given up on (a hung disk or share)

T = TypeVar("T")


class DownloadError(Exception):
    """A file could not be fetched and verified; str() says why, in one line."""


class DestinationTaken(DownloadError):
    """A different file already stands under the final name; it is left untouched."""


class _Retry(DownloadError):
    """A failure worth another attempt (the camera said no for now, or the link dropped)."""


class _Abandoned(Exception):
    """Every copy has failed: nobody takes the bytes any more."""


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
    buffer = memoryview(bytearray(CHUNK))  # one buffer per file: many threads hashing keep memory flat
    with open(path, "rb", buffering=0) as source:
        while remaining is None or remaining > 0:
            count = source.readinto(buffer if remaining is None or remaining >= CHUNK else buffer[:remaining])
            if not count:
                break
            hasher.update(buffer[:count])
            if remaining is not None:
                remaining -= count
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


def resume_point(part: Path, upto: int | None = None) -> _Partial:
    """How much of a .part can be trusted: the longest prefix (of at most `upto` bytes) whose hash
    matches a checkpoint recorded while it streamed in. The .part and its record are cut back to it."""
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
            if offset > size or (upto is not None and offset > upto):
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


@dataclass(eq=False)
class Copy:
    """One destination of a file: its NAME.part while the bytes come in, then the verified file.
    `failure` says why this copy ended (its disk's OSError, a DownloadError); the others go on."""

    dest: Path
    executor: Executor | None = None  # the destination's own threads (None: asyncio's default ones)
    progress: Callable[[int], None] = lambda count: None  # bytes done (negative when a restart discards them)
    existing: bool = False  # a file already stands under the final name: compared, never written
    failure: Exception | None = None
    offset: int = 0  # bytes of the stream this copy holds
    recorded: int = 0  # where the hash of its prefix was last recorded
    out: BinaryIO | None = None

    @property
    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")

    @property
    def live(self) -> bool:
        return self.failure is None

    @property
    def writes(self) -> bool:
        return self.live and not self.existing

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on this destination's threads: a hung disk holds up only its own copies."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


async def fetch(
    client: CameraClient,
    path: str,
    copies: list[Copy],
    expected: int | None,
    *,
    progress: Callable[[int], None] = lambda n: None,
    retries: int = 5,
    backoff_s: float = 1.0,
    rate: SharedRate | None = None,
    on_retry: Callable[[str], None] = lambda why: None,
) -> Fetched:
    """Fetch the camera's file `path` (DIR/NAME) into every copy, reading the camera once.
    `expected` is the listed size (None: ask with HEAD). `progress` gets the stream's byte counts
    (negative when a restart discards bytes). Dropped links, stalls, short bodies and busy cameras
    are retried with backoff (`on_retry` hears why of each); what the camera does wrong raises
    DownloadError (no copy is made), what a destination does wrong ends that copy alone
    (`Copy.failure`). Returns the stream's size and hash; each copy without a failure is verified
    against them."""
    state = await _begin(copies)
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
                await _restart(copies)
            await _stream(client, path, copies, state, expected, progress, rate)
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
            on_retry(str(exc))
            if not await _trim_all(copies, state.offset):
                progress(-state.offset)  # bytes the hash covers are gone: start over
                state.restart()
                await _restart(copies)
            await asyncio.sleep(min(backoff_s * 2 ** (attempt - 1), 30))
        except CameraError as exc:
            raise DownloadError(f"{path}: {exc}") from None
        except _Abandoned:
            return Fetched(state.offset, state.hasher.hexdigest())
    fetched = Fetched(state.offset, state.hasher.hexdigest())
    await _settle(copies, fetched)
    return fetched


async def copy_verified(
    source: Path, copies: list[Copy], size: int, xxh64: str, *, executor: Executor | None = None
) -> None:
    """Copy a verified file into more copies. What they get is checked against `xxh64`, the hash
    the camera's stream had, not against the source: a source changed on disk since it was verified
    is caught, and the copies made from it are not kept."""
    state = await _begin(copies)
    reader = Copy(source, executor)
    try:
        async with contextlib.aclosing(_file_blocks(reader, state.offset, size)) as blocks:
            await _pump(blocks, copies, state, size, lambda count: None, None)
    except _Abandoned:
        return
    except OSError as exc:
        return _fail_all(copies, DownloadError(f"cannot read {source}: {exc.strerror or exc}"))
    if state.offset != size or state.hasher.hexdigest() != xxh64:
        await _restart(copies)  # the bytes came from a copy that is no longer the camera's: none is kept
        why = f"{source} no longer holds the camera's bytes (xxh64 {xxh64}); nothing copied from it"
        return _fail_all(copies, DownloadError(why))
    await _settle(copies, Fetched(size, xxh64))


def _fail_all(copies: list[Copy], why: Exception) -> None:
    for copy in copies:
        if copy.live:
            copy.failure = why


async def _begin(copies: list[Copy]) -> _Partial:
    """Where the stream starts: the copies already under their final name are compared, the others
    resume from the longest prefix every one of them still vouches for (their recorded hashes)."""
    for copy in copies:
        try:
            copy.existing = await copy.run(copy.dest.exists)
        except OSError as exc:
            copy.failure = exc
    writers = [copy for copy in copies if copy.writes]
    upto: int | None = None
    states: list[_Partial] = []
    while writers:
        found = await asyncio.gather(*(c.run(resume_point, c.part, upto) for c in writers), return_exceptions=True)
        for copy, result in zip(writers, found, strict=True):
            if isinstance(result, OSError):
                copy.failure = result
            elif isinstance(result, BaseException):
                raise result
        states = [s for s in found if isinstance(s, _Partial)]
        writers = [copy for copy in writers if copy.live]
        low = min((s.offset for s in states), default=0)
        if all(s.offset == low for s in states):
            break
        upto = low  # cut the others back to it
    start = _Partial(0, xxhash.xxh64())
    if states and len({s.hasher.hexdigest() for s in states}) == 1:
        start = _Partial(states[0].offset, states[0].hasher.copy(), states[0].offset)
    for copy in copies:
        if copy.live:
            copy.offset = copy.recorded = start.offset
            copy.progress(start.offset)
    if not start.offset:
        await _restart(copies)  # records that disagree are trusted by none
    return start


async def _restart(copies: list[Copy]) -> None:
    """Every copy back to nothing (the stream starts over)."""
    for copy in copies:
        if copy.live:
            copy.progress(-copy.offset)
            copy.offset = copy.recorded = 0
            if copy.writes:
                try:
                    await copy.run(_trim, copy.part, 0)
                except OSError as exc:
                    copy.failure = exc


async def _trim_all(copies: list[Copy], length: int) -> bool:
    """Every writing copy cut back to the stream's `length`; False when one holds less (start over)."""
    whole = True
    for copy in copies:
        if copy.writes:
            try:
                whole = await copy.run(_trim, copy.part, length) and copy.offset == length and whole
            except OSError as exc:
                copy.failure = exc
    return whole


async def _settle(copies: list[Copy], fetched: Fetched) -> None:
    """Each copy into place and read back (in parallel, each on its destination's threads)."""
    await asyncio.gather(*(_settle_one(copy, fetched) for copy in copies if copy.live))


async def _settle_one(copy: Copy, fetched: Fetched) -> None:
    dest = copy.dest
    try:
        if copy.existing:  # a file already there (a ledger lost, a copy made by hand) is kept only if identical
            size = (await copy.run(dest.stat)).st_size
            if size != fetched.size or (await copy.run(hash_file, dest)).hexdigest() != fetched.xxh64:
                raise DestinationTaken(f"{dest} already exists with other contents; left untouched")
            return
        await copy.run(_finish, copy.part, dest)
        await copy.run(partial(_journal(copy.part).unlink, missing_ok=True))
        readback = (await copy.run(hash_file, dest)).hexdigest()
        if readback != fetched.xxh64:
            bad = dest.with_name(dest.name + ".bad")
            await copy.run(os.replace, dest, bad)
            raise DownloadError(
                f"{dest}: read-back hash {readback} differs from the stream's {fetched.xxh64}; moved to {bad}"
            )
    except (DownloadError, OSError) as exc:
        copy.failure = exc


def _append(copy: Copy, block: bytes, digest: str) -> None:
    """Append a block to the copy's .part (opened with its first block); every CHECKPOINT_BYTES
    record the prefix's hash (the stream's, taken right after this block). A full disk raises here."""
    if copy.out is None:
        copy.out = open(copy.part, "ab" if copy.offset else "wb")  # noqa: SIM115 (closed when the stream ends)
    copy.out.write(block)
    copy.out.flush()
    copy.offset += len(block)
    if copy.offset - copy.recorded >= CHECKPOINT_BYTES:
        with open(_journal(copy.part), "a", encoding="ascii") as record:
            record.write(f"{copy.offset} {digest}\n")
        copy.recorded = copy.offset


class _Writers:
    """The writers of one stream: each writing copy's .part open for appending, fed through its own
    bounded queue by its own task. Leaving drains every queue (the bytes in it are good) and closes."""

    def __init__(self, copies: list[Copy]) -> None:
        self.copies = copies
        self.queues: dict[Copy, asyncio.Queue[tuple[bytes, str] | None]] = {}
        self.tasks: dict[Copy, asyncio.Task[None]] = {}
        self.stalled: list[Copy] = []

    async def __aenter__(self) -> _Writers:
        for copy in self.copies:
            if not copy.writes:
                continue
            self.queues[copy] = asyncio.Queue(WRITE_QUEUE_BLOCKS)
            self.tasks[copy] = asyncio.create_task(self._write(copy, self.queues[copy]))
        return self

    @staticmethod
    async def _write(copy: Copy, queue: asyncio.Queue[tuple[bytes, str] | None]) -> None:
        while (item := await queue.get()) is not None:
            if copy.live:  # after a failure the queue is only emptied
                try:
                    await copy.run(_append, copy, *item)
                except OSError as exc:
                    copy.failure = exc
                else:
                    copy.progress(len(item[0]))

    async def put(self, block: bytes, digest: str) -> None:
        for copy, queue in self.queues.items():
            if copy.live:
                await self._offer(copy, queue, (block, digest))

    async def _offer(self, copy: Copy, queue: asyncio.Queue[tuple[bytes, str] | None], item: Any) -> None:
        try:
            await asyncio.wait_for(queue.put(item), STALL_S)
        except TimeoutError:
            copy.failure = OSError(errno.ETIMEDOUT, f"the destination took nothing for {STALL_S:g} s")
            self.tasks.pop(copy).cancel()  # its thread may stay stuck in the disk: nothing waits for it
            self.stalled.append(copy)

    @property
    def live(self) -> bool:
        return any(copy.live for copy in self.copies)

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        for copy, queue in list(self.queues.items()):
            if copy in self.tasks:
                if kind is None or not issubclass(kind, asyncio.CancelledError):
                    await self._offer(copy, queue, None)
                else:
                    self.tasks[copy].cancel()
        if self.tasks:
            await asyncio.wait(self.tasks.values())
        for copy in self.tasks:
            out, copy.out = copy.out, None
            if out is not None:
                try:
                    await copy.run(out.close)
                except OSError as exc:
                    copy.failure = copy.failure or exc
        for copy in self.stalled:  # closed whenever its disk lets go
            if copy.out is not None:
                asyncio.get_running_loop().run_in_executor(copy.executor, copy.out.close)


async def _pump(
    blocks: AsyncIterator[bytes],
    copies: list[Copy],
    state: _Partial,
    expected: int,
    progress: Callable[[int], None],
    rate: SharedRate | None,
) -> None:
    """Hash each block once and hand it to every copy. Nothing past `expected` bytes is ever taken."""
    async with _Writers(copies) as writers:
        async for block in blocks:
            room = expected - state.offset
            if rate is not None:
                await rate.take(len(block))
            taken = block[:room]
            state.hasher.update(taken)
            state.offset += len(taken)
            await writers.put(taken, state.hasher.hexdigest())
            progress(len(taken))
            for copy in copies:
                if copy.existing and copy.live:
                    copy.offset += len(taken)
                    copy.progress(len(taken))
            if len(block) > room:
                raise DownloadError(f"the camera sent more than the {expected} bytes it listed; stopped there")
            if copies and not any(copy.live for copy in copies):
                raise _Abandoned


async def _file_blocks(reader: Copy, offset: int, limit: int) -> AsyncIterator[bytes]:
    """A file's bytes from `offset`, never past `limit`, read on its destination's threads."""
    source = await reader.run(open, reader.dest, "rb")
    try:
        await reader.run(source.seek, offset)
        while offset < limit:
            block = await reader.run(source.read, min(CHUNK, limit - offset))
            if not block:
                return
            offset += len(block)
            yield block
    finally:
        await reader.run(source.close)


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
    copies: list[Copy],
    state: _Partial,
    expected: int,
    progress: Callable[[int], None],
    rate: SharedRate | None = None,
) -> None:
    """One GET from where the copies end; `state` advances with every block taken, so a failure
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
            await _restart(copies)
        await _pump(reply.blocks, copies, state, expected, progress, rate)
