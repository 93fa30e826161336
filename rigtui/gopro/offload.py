"""Offload: every camera's footage into take folders, every byte verified, every take manifested.

A file counts as offloaded only when it was streamed to NAME.part and hashed on the way, its length
matched the camera's, it was renamed into place, read back with the same hash, and recorded in the
ledger. Interrupted offloads resume; re-running one adds new takes without touching old ones.

Several destinations: each camera file is read once and written to every destination that lacks a
verified copy, in the same pass; or, with `cascade`, to the first at camera speed and then copied
from there to the others (checked against the camera's hash). Each destination has its own take
folders, manifests and ledger records, and its own threads: one that fails ends only its copies.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rigtui.gopro.custody import CopyEvent, offload_run, take_facts, write_report
from rigtui.gopro.download import Copy, DownloadError, Fetched, SharedRate, copy_verified, fetch
from rigtui.gopro.errors import CameraBusy, CameraError
from rigtui.gopro.ledger import Ledger, LedgerEntry
from rigtui.gopro.media import MediaFile, Recording, parse_media_list
from rigtui.gopro.mhl import HashedFile, add_generation
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.shotlog import LoggedTake
from rigtui.gopro.takes import Take, camera_label, cluster, take_kind
from rigtui.gopro.takes import destination as take_path
from rigtui.paths import NameClaims, UnsafePath, destination

log = logging.getLogger(__name__)

IDLE_BUSY_ANSWERS = 2  # a camera that keeps saying busy while it shows idle is given up on
SPACE_MARGIN = 64 * 1024 * 1024
DISK_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENODEV, errno.ENXIO, errno.ETIMEDOUT)


class OffloadError(Exception):
    """The offload cannot start (destination unwritable, too little space); one line for the user."""


@dataclass(frozen=True)
class OffloadOptions:
    dest: Path
    prefix: str = "take"
    sidecars: bool = True
    tolerance_s: float = 5.0
    per_camera: int = 2
    photogrammetry: bool = False
    retries: int = 5
    busy_wait_s: float = 300.0  # how long a busy camera (still recording, writing) is waited for in a run
    max_parallel: int = 16  # downloads at once across the rig (keep-alives and polls travel apart)
    bandwidth_mbps: float = 0.0  # MB/s shared by every download of the rig (0: no cap)
    also: tuple[Path, ...] = ()  # more destinations: each gets every file too, read from the camera once
    cascade: bool = False  # write `dest` at camera speed first, then copy from it to `also`
    sync_audit: bool = True  # measure each new video take's start offsets from its clips (rigtui.ops.sync_audit)

    @property
    def destinations(self) -> tuple[Path, ...]:
        return (self.dest, *self.also)


@dataclass
class TakeSources:
    """What forms takes besides the ledger: the shot log's takes ((camera label, DIR/NAME, cre) ->
    (take id, its start on the host's clock)), each camera's clock offset (for footage rigtui did not
    shoot), and each camera's index in the photogrammetry layout."""

    shots: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)  # camera label -> its clock minus the host's
    index_of: Callable[[str], int] | None = None  # camera label -> its index (None: in name order)
    logged: dict[str, LoggedTake] = field(default_factory=dict)  # the shot log's takes by id (custody reports)


@dataclass
class FileTask:
    camera: str
    link: CameraLink
    recording: Recording
    file: MediaFile
    take: Take
    relative: str  # destination, relative to the offload folder
    dest: Path  # where it goes (rigtui.paths.destination: never outside the offload folder)
    root: Path  # the offload folder (destination) it goes in
    estimate: int  # expected size, or a guess when the list does not tell
    done: int = 0
    state: str = "pending"  # pending | running | verified | failed
    error: str | None = None
    named_root: bool = False  # the run has several destinations: lines name this one
    retries: list[str] = field(default_factory=list)  # why its download was retried, once per retry
    busy_wait_s: float = 0.0  # how long its camera was waited for (busy) before its card could be read

    @property
    def key(self) -> tuple[str, str, int]:
        """The camera file (one per copy of it)."""
        return (self.camera, self.file.path, self.recording.cre)


@dataclass
class Counts:
    """Copies of an offload: how many, done, failed, and their bytes."""

    files: int = 0
    files_done: int = 0
    files_failed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0


@dataclass
class CameraProgress:
    """A camera's copies (one per file and destination) and, in `destinations`, the same by destination."""

    camera: str
    files: int = 0
    files_done: int = 0
    files_failed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    current: str = ""
    errors: list[str] = field(default_factory=list)
    destinations: dict[Path, Counts] = field(default_factory=dict)

    def add(self, task: FileTask, name: str, amount: int) -> None:
        """Count `amount` more of `name` (files, files_done, ...) for the task's camera and destination."""
        setattr(self, name, getattr(self, name) + amount)
        counts = self.destinations.setdefault(task.root, Counts())
        setattr(counts, name, getattr(counts, name) + amount)


@dataclass
class OffloadPlan:
    tasks: list[FileTask]  # one per copy to make: a camera file and a destination
    takes: list[Take]  # the first destination's takes
    already: int  # copies already verified by an earlier offload (in the destinations of this run)
    rejected: dict[str, list[str]]  # camera -> media-list entries left out, with why
    unreachable: dict[str, str]  # camera -> why its media list could not be read
    takes_in: dict[Path, list[Take]] = field(default_factory=dict)  # every destination's takes
    already_in: dict[Path, int] = field(default_factory=dict)  # copies already verified, by destination

    @property
    def bytes_total(self) -> int:
        return sum(t.estimate for t in self.tasks)

    def tasks_in(self, root: Path) -> list[FileTask]:
        return [t for t in self.tasks if t.root == root]


class Offload:
    """One offload run. The UI reads `progress` and `plan`; the job runs in `run()`."""

    def __init__(
        self,
        rig: Rig,
        options: OffloadOptions,
        ledger: Ledger,
        selection: list[str] | None = None,
        on_change: Callable[[], None] = lambda: None,
        on_file_done: Callable[[FileTask], None] = lambda task: None,
        sources: TakeSources | None = None,
        on_cameras_done: Callable[[], None] = lambda: None,
    ) -> None:
        self.rig, self.options, self.ledger, self.selection = rig, options, ledger, selection
        self.on_cameras_done = on_cameras_done
        self.roots = [dest.expanduser().resolve() for dest in options.destinations]
        self.root = self.roots[0]
        self.on_change = on_change
        self.on_file_done = on_file_done
        self.sources = sources or TakeSources()
        self.busy: dict[str, CameraLink] = {}  # camera label -> a camera whose media list said busy
        self.busy_since: dict[str, float] = {}  # camera label -> when its media list first said busy
        self._slots = asyncio.Semaphore(options.max_parallel)
        self._rate = SharedRate(options.bandwidth_mbps) if options.bandwidth_mbps else None
        # each destination writes on threads of its own: a disk that hangs holds up only its copies
        self._threads = {
            root: ThreadPoolExecutor(options.max_parallel + 1, thread_name_prefix=f"rigtui-dest{number}")
            for number, root in enumerate(self.roots, 1)
        }
        self.broken: dict[Path, str] = {}  # destinations whose disk failed (several destinations only): why
        self.plan: OffloadPlan | None = None
        self.progress: dict[str, CameraProgress] = {}
        self.started = self.finished = self.cameras_done = 0.0
        self.sealed: list[Path] = []
        self.unsealed: list[str] = []  # take folders whose manifest could not be written, and why

    # -- planning -------------------------------------------------------------------------------
    def _check_destination(self) -> None:
        for root in self.roots:
            try:
                root.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=root, prefix=".rigtui-write-test-") as probe:
                    probe.write(b"rigtui")
                    probe.flush()
            except OSError as exc:
                raise OffloadError(f"cannot write to {root}: {exc.strerror or exc}") from None
        for number, root in enumerate(self.roots):
            for other in self.roots[number + 1 :]:
                if root.is_relative_to(other) or other.is_relative_to(root):
                    raise OffloadError(f"{root} and {other} are one destination or one inside the other")

    async def prepare(self) -> OffloadPlan:
        """Read every camera's media list, cluster takes, and decide what to fetch where."""
        await asyncio.to_thread(self._check_destination)  # a sleeping external drive may take seconds
        links = [link for link in self.rig.cameras(self.selection)]
        self.plan = await self._read_and_plan(links)
        await asyncio.to_thread(self._check_space, self.plan)
        return self.plan

    async def _read_and_plan(self, links: list[CameraLink]) -> OffloadPlan:
        """The plan for these cameras; a busy one (recording, writing its files) is noted to be read
        again later in the run."""
        unreachable = {camera_label(link.key): f"offline: {link.last_error}" for link in links if not link.online}
        rejected: dict[str, list[str]] = {}
        found: list[tuple[str, CameraLink, Recording]] = []

        async def read(link: CameraLink) -> None:
            label = camera_label(link.key)
            try:
                parsed = parse_media_list(await link.client.media_list())
            except CameraBusy as exc:
                self.busy[label] = link
                self.busy_since.setdefault(label, time.monotonic())
                unreachable[label] = f"busy ({exc}): read again later in this run"
                return
            except CameraError as exc:
                unreachable[label] = f"media list: {exc}"
                return
            self.busy.pop(label, None)
            if parsed.rejected:
                rejected[label] = parsed.rejected
            found.extend((label, link, r) for r in parsed.recordings)

        await asyncio.gather(*(read(link) for link in links if link.online))
        # Ledger checks may hash copies on disk and paths are checked against it: off the event loop.
        plan = await asyncio.to_thread(self._plan, found, unreachable, rejected)
        for task in plan.tasks:
            if task.camera in self.busy_since and task.camera not in self.busy:
                task.busy_wait_s = time.monotonic() - self.busy_since[task.camera]
            progress = self.progress.setdefault(task.camera, CameraProgress(task.camera))
            progress.add(task, "files", 1)
            progress.add(task, "bytes_total", task.estimate)
        return plan

    def _plan(
        self,
        found: list[tuple[str, CameraLink, Recording]],
        unreachable: dict[str, str],
        rejected: dict[str, list[str]],
    ) -> OffloadPlan:
        """Each destination on its own: its takes (from its own earlier offloads, so nothing there is
        renumbered) and the copies it lacks. Destinations with the same history get the same names."""
        owner = {(label, recording.first.path, recording.cre): link for label, link, recording in found}
        cameras = sorted({label for label, _, _ in found} | set(unreachable))
        index_of = self.sources.index_of or (lambda label: cameras.index(label) + 1)
        plan = OffloadPlan([], [], 0, rejected, unreachable)
        for root in self.roots:
            takes = self._takes(root, found)
            plan.takes_in[root] = takes
            plan.already_in[root] = 0
            claims = NameClaims()
            capacity = shutil.disk_usage(root).total
            for take in takes:
                for label, recording in take.members.items():
                    if recording is None:
                        continue
                    link = owner[(label, recording.first.path, recording.cre)]
                    for media_file in recording.all_files(self.options.sidecars):
                        if self.ledger.verified_in(root, label, media_file.path, recording.cre, media_file.size):
                            plan.already_in[root] += 1
                            continue
                        task = self._task(root, take, label, link, recording, media_file, claims, capacity, index_of)
                        if isinstance(task, str):
                            why = rejected.setdefault(label, [])
                            if task not in why:  # the same name is refused in every destination: said once
                                why.append(task)
                            continue
                        plan.tasks.append(task)
        plan.takes = plan.takes_in[self.root]
        plan.already = sum(plan.already_in.values())
        return plan

    def _task(
        self,
        root: Path,
        take: Take,
        label: str,
        link: CameraLink,
        recording: Recording,
        media_file: MediaFile,
        claims: NameClaims,
        capacity: int,
        index_of: Callable[[str], int],
    ) -> FileTask | str:
        """The copy of one camera file into `root`, or why it is left out."""
        options = self.options
        relative = take_path(take, options.prefix, label, media_file, index_of(label), options.photogrammetry)
        try:
            claims.claim(relative)
            dest = destination(root, relative)
        except UnsafePath as exc:
            return f"{media_file.path}: {exc}"
        estimate = _estimate(recording, media_file)
        if estimate > capacity:  # a camera's lie must not stop the others' offload
            return f"{media_file.path}: listed as {estimate / 1e9:.0f} GB, more than the whole destination disk"
        named = len(self.roots) > 1
        return FileTask(label, link, recording, media_file, take, relative, dest, root, estimate, named_root=named)

    def _takes(self, root: Path, found: list[tuple[str, CameraLink, Recording]]) -> list[Take]:
        """The takes of `root`: those it has, with the recordings they hold, and new ones."""
        takes = self._existing_takes(root)
        by_number = {t.number: t for t in takes}
        by_shot = {t.shot: t for t in takes if t.shot}
        formed: dict[str, Take] = {}  # new takes from the shot log, by its take id
        to_cluster: list[tuple[str, Recording, int]] = []
        sources = self.sources
        for label, _, recording in found:
            # any of its files (a proxy counts too) tells the take an earlier, interrupted run chose
            known = [self.ledger.copy_in(root, label, f.path, recording.cre) for f in recording.all_files(True)]
            take_number = next((e.take for e in known if e is not None), None)
            shot = sources.shots.get((label, recording.first.path, recording.cre))
            if take_number in by_number:
                by_number[take_number].members[label] = recording
            elif shot is not None and shot[0] in by_shot:
                by_shot[shot[0]].members[label] = recording
            elif shot is not None:
                take = formed.setdefault(shot[0], Take(0, shot[1], take_kind(recording), shot=shot[0]))
                take.members[label] = recording
            else:  # not shot by rigtui: when it started, as well as this camera's clock tells
                to_cluster.append((label, recording, recording.cre - round(sources.offsets.get(label, 0.0))))
        return cluster(to_cluster, self.options.tolerance_s, takes, list(formed.values()))

    def _existing_takes(self, root: Path) -> list[Take]:
        takes: dict[int, Take] = {}
        for entry in self.ledger.in_root(root):
            take = takes.setdefault(
                entry.take, Take(entry.take, entry.anchor, entry.kind, existing=True, shot=entry.shot)
            )
            take.members.setdefault(entry.camera, None)
        return list(takes.values())

    def _check_space(self, plan: OffloadPlan) -> None:
        """Each disk must hold what this run puts on it (destinations on one disk add up)."""
        by_disk: dict[int, list[Path]] = {}
        for root in self.roots:
            by_disk.setdefault(os.stat(root).st_dev, []).append(root)
        for roots in by_disk.values():
            tasks = [t for t in plan.tasks if t.root in roots]
            parts = [t.dest.with_name(t.dest.name + ".part") for t in tasks]
            partial = sum(part.stat().st_size for part in parts if part.exists())
            needed = sum(t.estimate for t in tasks) - partial + SPACE_MARGIN
            free = shutil.disk_usage(roots[0]).free
            if tasks and free < needed:
                where = " and ".join(str(root) for root in roots)
                raise OffloadError(
                    f"{where} has {free / 1e9:.2f} GB free; this offload needs {needed / 1e9:.2f} GB: "
                    "free some space or choose another destination"
                )

    # -- running --------------------------------------------------------------------------------
    async def run(self) -> OffloadPlan:
        """Fetch every planned file (cameras in parallel, a few files per camera at once), then write
        each take's manifest. Per-file failures are recorded on the task, never raised."""
        plan = self.plan or await self.prepare()
        self.started = time.monotonic()
        try:
            await asyncio.to_thread(self.seal_manifests)  # files verified by a run that was cut short
            await self._fetch(plan.tasks)
            await self._finish_busy(plan)
            self.cameras_done = time.monotonic()  # every camera's part is over: it may go
            self.on_cameras_done()
            self.on_change()
            if self.options.cascade:
                await self._cascade([t for t in plan.tasks if t.state == "pending"])
            await asyncio.to_thread(self.seal_manifests)
        finally:
            for threads in self._threads.values():
                threads.shutdown(wait=False)
        self.finished = time.monotonic()
        self.on_change()
        return plan

    async def _fetch(self, tasks: list[FileTask]) -> None:
        """Each camera file read once, into every destination that lacks it (only the first one
        with `cascade`)."""
        by_camera: dict[str, dict[tuple[str, str, int], list[FileTask]]] = {}
        for task in tasks:
            if not self.options.cascade or task.root == self.root:
                by_camera.setdefault(task.camera, {}).setdefault(task.key, []).append(task)
        await asyncio.gather(*(self._camera(list(files.values())) for files in by_camera.values()))

    async def _finish_busy(self, plan: OffloadPlan) -> None:
        """Cameras that were busy are read again with backoff, and offloaded in this same run as soon
        as they let go (up to [offload] busy_wait_s)."""
        deadline, wait = time.monotonic() + self.options.busy_wait_s, 1.0
        idle_answers: dict[str, int] = {}  # "busy" from a camera whose own state says idle: a few, then no more
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(wait * 2, 30.0)
            await self.rig.poll_once()
            for label, link in list(self.busy.items()):
                snap = link.snapshot()
                if snap.online and not (snap.recording or snap.busy):
                    idle_answers[label] = idle_answers.get(label, 0) + 1
                    if idle_answers[label] > IDLE_BUSY_ANSWERS:
                        del self.busy[label]
                        plan.unreachable[label] = "says busy while its state says idle: not offloaded"
            if not self.busy:
                break
            more = await self._read_and_plan(list(self.busy.values()))
            for label in list(plan.unreachable):
                if label not in more.unreachable:
                    del plan.unreachable[label]
            plan.unreachable.update(more.unreachable)
            plan.rejected.update(more.rejected)
            plan.tasks += more.tasks
            plan.already += more.already
            for root, takes in more.takes_in.items():
                mine = plan.takes_in.setdefault(root, [])
                known = {t.number for t in mine}
                mine += [t for t in takes if t.number not in known]
                mine.sort(key=lambda t: t.number)
                plan.already_in[root] = plan.already_in.get(root, 0) + more.already_in.get(root, 0)
            plan.takes = plan.takes_in[self.root]
            self.on_change()
            await self._fetch(more.tasks)
        for label in self.busy:
            plan.unreachable[label] = f"still busy after {self.options.busy_wait_s:g} s (recording?): not offloaded"

    async def _camera(self, files: list[list[FileTask]]) -> None:
        limit = asyncio.Semaphore(self.options.per_camera)

        async def one(copies: list[FileTask]) -> None:
            async with limit, self._slots:
                await self._file(copies)

        await asyncio.gather(*(one(copies) for copies in files))

    async def _file(self, tasks: list[FileTask]) -> None:
        """One camera file, read once, into each of its copies."""
        first = tasks[0]
        self.progress[first.camera].current = first.file.name
        copies = await self._start(tasks)
        if not copies:
            return
        try:
            fetched = await fetch(
                first.link.client,
                first.file.path,
                [copy for _, copy in copies],
                first.file.size,
                retries=self.options.retries,
                rate=self._rate,
                on_retry=lambda why: _retried(tasks, why),
            )
        except DownloadError as exc:
            return self._fail_all(copies, str(exc))
        except Exception as exc:  # one file's surprise must not stop the others; the log has the detail
            log.debug("offload of %s %s failed", first.camera, first.file.path, exc_info=True)  # -v shows where
            return self._fail_all(copies, f"internal error: {type(exc).__name__}: {exc}")
        await self._settled(copies, fetched)

    async def _cascade(self, tasks: list[FileTask]) -> None:
        """The other destinations, copied from the first one's verified copies (the cameras are done)."""
        by_file: dict[tuple[str, str, int], list[FileTask]] = {}
        for task in tasks:
            by_file.setdefault(task.key, []).append(task)

        async def one(copies: list[FileTask]) -> None:
            async with self._slots:
                await self._copy_on(copies)

        await asyncio.gather(*(one(copies) for copies in by_file.values()))

    async def _copy_on(self, tasks: list[FileTask]) -> None:
        first = tasks[0]
        self.progress[first.camera].current = first.file.name
        source = await asyncio.to_thread(
            self.ledger.verified_in, self.root, first.camera, first.file.path, first.recording.cre, first.file.size
        )
        if source is None:
            for task in tasks:
                self._failed(task, f"not copied: no verified copy in {self.root} to copy from")
            return
        copies = await self._start(tasks)
        if not copies:
            return
        try:
            await copy_verified(
                Path(source.dest),
                [copy for _, copy in copies],
                source.size,
                source.xxh64,
                executor=self._threads[self.root],
            )
        except Exception as exc:  # one file's surprise must not stop the others; the log has the detail
            log.debug("copy of %s failed", source.dest, exc_info=True)
            return self._fail_all(copies, f"internal error: {type(exc).__name__}: {exc}")
        await self._settled(copies, Fetched(source.size, source.xxh64))

    async def _start(self, tasks: list[FileTask]) -> list[tuple[FileTask, Copy]]:
        """A copy for each task whose destination still works, its folder made."""
        copies: list[tuple[FileTask, Copy]] = []
        for task in tasks:
            if task.root in self.broken:
                self._failed(task, f"not copied: {task.root} failed ({self.broken[task.root]})")
                continue
            task.state = "running"
            copy = Copy(task.dest, self._threads[task.root], self._advance(task))
            try:
                await copy.run(lambda dest=task.dest: dest.parent.mkdir(parents=True, exist_ok=True))
            except OSError as exc:
                self._failed(task, self._why(task, exc))
                continue
            copies.append((task, copy))
        return copies

    def _advance(self, task: FileTask) -> Callable[[int], None]:
        progress = self.progress[task.camera]

        def advance(count: int) -> None:
            task.done += count
            progress.add(task, "bytes_done", count)
            self.on_change()

        return advance

    async def _settled(self, copies: list[tuple[FileTask, Copy]], fetched: Fetched) -> None:
        for task, copy in copies:
            if copy.failure is not None:
                self._failed(task, self._why(task, copy.failure))
            else:
                await self._verified(task, fetched)

    def _why(self, task: FileTask, failure: Exception) -> str:
        """A copy's failure in one line; a failing disk (several destinations) takes its destination
        out of this run, so its other copies fail at once instead of one by one."""
        if isinstance(failure, DownloadError) or not isinstance(failure, OSError):
            return str(failure)
        if len(self.roots) > 1 and failure.errno in DISK_FAILURES:
            self.broken.setdefault(task.root, failure.strerror or str(failure))
        return f"cannot write {task.relative}: {failure.strerror or failure}"

    def _fail_all(self, copies: list[tuple[FileTask, Copy]], why: str) -> None:
        for task, _ in copies:
            self._failed(task, why)

    async def _verified(self, task: FileTask, fetched: Fetched) -> None:
        progress = self.progress[task.camera]
        entry = LedgerEntry(
            task.camera,
            task.file.path,
            task.recording.cre,
            fetched.size,
            fetched.xxh64,
            str(task.dest),
            str(task.root),
            task.take.number,
            task.take.anchor,
            task.take.kind,
            shot=task.take.shot,
        )
        try:
            await asyncio.to_thread(self.ledger.record_verified, entry)
        except OSError as exc:  # LedgerError says it all: copied, but not recorded, so it does not count
            return self._failed(task, str(exc))
        task.state = "verified"
        progress.add(task, "bytes_total", fetched.size - task.estimate)
        task.estimate = fetched.size
        progress.add(task, "files_done", 1)
        self.on_file_done(task)
        self.on_change()

    def _failed(self, task: FileTask, why: str) -> None:
        task.state, task.error = "failed", why
        progress = self.progress[task.camera]
        progress.add(task, "files_failed", 1)
        where = f" ({task.root})" if task.named_root else ""
        progress.errors.append(f"{task.file.path}{where}: {why}")
        self.on_file_done(task)
        self.on_change()

    def seal_manifests(self) -> None:
        """Add an ASC MHL generation to every take folder (of every destination) holding verified
        files not yet listed."""
        pending: dict[Path, list[LedgerEntry]] = {}
        held: dict[Path, list[LedgerEntry]] = {}  # every file of each take folder (its custody report)
        for root in self.roots:
            for entry in self.ledger.in_root(root):
                folder = root / Path(entry.dest).relative_to(root).parts[0]
                if os.path.exists(entry.dest):
                    held.setdefault(folder, []).append(entry)
                    if not entry.in_manifest:
                        pending.setdefault(folder, []).append(entry)
        now = time.time()
        for folder, entries in sorted(pending.items()):
            shown = folder if len(self.roots) > 1 else folder.name
            try:
                files = [
                    HashedFile(Path(e.dest).relative_to(folder).as_posix(), e.size, os.stat(e.dest).st_mtime, e.xxh64)
                    for e in entries
                ]
                manifest = add_generation(folder, files, now)
                self.sealed.append(manifest)
                for entry in entries:
                    self.ledger.record(LedgerEntry(**{**entry.__dict__, "in_manifest": True}))
            except OSError as exc:  # a full or failing disk: the files stay verified; the next run seals them
                self.unsealed.append(f"{shown}: manifest not written ({exc.strerror or exc})")
                continue
            try:
                self._write_custody(folder, held[folder], manifest.name, now)
            except OSError as exc:
                self.unsealed.append(f"{shown}: custody report not written ({exc.strerror or exc})")
            except Exception as exc:  # the footage is verified and manifested: a report's surprise ends only it
                log.debug("custody report of %s failed", folder, exc_info=True)
                self.unsealed.append(f"{shown}: custody report not written (internal error: {exc})")

    def _write_custody(self, folder: Path, entries: list[LedgerEntry], manifest: str, now: float) -> None:
        """The take folder's custody report: its files and their copies (the ledger), its take and
        cameras (the shot log), and what this run did for its files."""
        root = folder.parent
        shot = next((e.shot for e in entries if e.shot), None)
        copies = {e.key: list(self.ledger.copies.get(e.key, {}).values()) for e in entries}
        models = {camera_label(link.key): link.model for link in self.rig.cameras() if link.model}
        facts = take_facts(folder, entries, copies, self.sources.logged.get(shot) if shot else None, models)
        planned = self.plan.tasks if self.plan else []
        tasks = [t for t in planned if t.root == root and root / Path(t.relative).parts[0] == folder]
        write_report(folder, facts, offload_run(root, manifest, _events(tasks), now))


def _retried(tasks: list[FileTask], why: str) -> None:
    for task in tasks:
        task.retries.append(why)


def _events(tasks: list[FileTask]) -> list[CopyEvent]:
    """What this run did for these files besides copying them: busy waits, retries, failures."""
    events = []
    for task in tasks:
        if task.busy_wait_s >= 1:
            text = f"its camera was busy: waited {task.busy_wait_s:.0f} s before its card could be read"
            events.append(CopyEvent(task.camera, task.file.path, text))
        if task.retries:
            times = f"{len(task.retries)} time{'s' if len(task.retries) > 1 else ''}"
            text = f"download retried {times} ({'; '.join(dict.fromkeys(task.retries))})"
            events.append(CopyEvent(task.camera, task.file.path, text))
        if task.state == "failed":
            events.append(CopyEvent(task.camera, task.file.path, f"copy failed: {task.error}"))
    return events


def _estimate(recording: Recording, media_file: MediaFile) -> int:
    """Bytes to expect: the listed size, else a share of the recording (proxies: a little)."""
    if media_file.size is not None:
        return media_file.size
    if media_file.sidecar:
        return 0
    return recording.size // max(1, len(recording.files))
