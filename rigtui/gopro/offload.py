"""Offload: every camera's footage into take folders, every byte verified, every take manifested.

A file counts as offloaded only when it was streamed to NAME.part and hashed on the way, its length
matched the camera's, it was renamed into place, read back with the same hash, and recorded in the
ledger. Interrupted offloads resume; re-running one adds new takes without touching old ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rigtui.gopro.client import CameraClient
from rigtui.gopro.download import DestinationTaken, DownloadError, Fetched, SharedRate, fetch, hash_file
from rigtui.gopro.errors import CameraBusy, CameraError
from rigtui.gopro.ledger import Ledger, LedgerEntry
from rigtui.gopro.media import MediaFile, Recording, parse_media_list
from rigtui.gopro.mhl import HashedFile, add_generation
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.takes import Take, camera_label, cluster, take_kind
from rigtui.gopro.takes import destination as take_path
from rigtui.paths import NameClaims, UnsafePath, destination

log = logging.getLogger(__name__)

IDLE_BUSY_ANSWERS = 2  # a camera that keeps saying busy while it shows idle is given up on
SPACE_MARGIN = 64 * 1024 * 1024


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


@dataclass
class TakeSources:
    """What forms takes besides the ledger: the shot log's takes ((camera label, DIR/NAME, cre) ->
    (take id, its start on the host's clock)), each camera's clock offset (for footage rigtui did not
    shoot), and each camera's index in the photogrammetry layout."""

    shots: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)  # camera label -> its clock minus the host's
    index_of: Callable[[str], int] | None = None  # camera label -> its index (None: in name order)


@dataclass
class FileTask:
    camera: str
    link: CameraLink
    recording: Recording
    file: MediaFile
    take: Take
    relative: str  # destination, relative to the offload folder
    dest: Path  # where it goes (rigtui.paths.destination: never outside the offload folder)
    estimate: int  # expected size, or a guess when the list does not tell
    done: int = 0
    state: str = "pending"  # pending | running | verified | failed
    error: str | None = None


@dataclass
class CameraProgress:
    camera: str
    files: int = 0
    files_done: int = 0
    files_failed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    current: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class OffloadPlan:
    tasks: list[FileTask]
    takes: list[Take]
    already: int  # files already verified by an earlier offload
    rejected: dict[str, list[str]]  # camera -> media-list entries left out, with why
    unreachable: dict[str, str]  # camera -> why its media list could not be read

    @property
    def bytes_total(self) -> int:
        return sum(t.estimate for t in self.tasks)


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
    ) -> None:
        self.rig, self.options, self.ledger, self.selection = rig, options, ledger, selection
        self.root = options.dest.expanduser().resolve()
        self.on_change = on_change
        self.on_file_done = on_file_done
        self.sources = sources or TakeSources()
        self.busy: dict[str, CameraLink] = {}  # camera label -> a camera whose media list said busy
        self._slots = asyncio.Semaphore(options.max_parallel)
        self._rate = SharedRate(options.bandwidth_mbps) if options.bandwidth_mbps else None
        self.plan: OffloadPlan | None = None
        self.progress: dict[str, CameraProgress] = {}
        self.started = self.finished = 0.0
        self.sealed: list[Path] = []
        self.unsealed: list[str] = []  # take folders whose manifest could not be written, and why

    # -- planning -------------------------------------------------------------------------------
    def _check_destination(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".rigtui-write-test-") as probe:
                probe.write(b"rigtui")
                probe.flush()
        except OSError as exc:
            raise OffloadError(f"cannot write to {self.root}: {exc.strerror or exc}") from None

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
            progress = self.progress.setdefault(task.camera, CameraProgress(task.camera))
            progress.files += 1
            progress.bytes_total += task.estimate
        return plan

    def _plan(
        self,
        found: list[tuple[str, CameraLink, Recording]],
        unreachable: dict[str, str],
        rejected: dict[str, list[str]],
    ) -> OffloadPlan:
        takes = self._existing_takes()
        by_number = {t.number: t for t in takes}
        by_shot = {t.shot: t for t in takes if t.shot}
        formed: dict[str, Take] = {}  # new takes from the shot log, by its take id
        to_cluster: list[tuple[str, Recording, int]] = []
        owner: dict[tuple[str, str, int], CameraLink] = {}
        sources = self.sources
        for label, link, recording in found:
            owner[(label, recording.first.path, recording.cre)] = link
            # any of its files (a proxy counts too) tells the take an earlier, interrupted run chose
            known = [self.ledger.get(label, f.path, recording.cre) for f in recording.all_files(True)]
            take_number = next((e.take for e in known if e is not None and e.root == str(self.root)), None)
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
        takes = cluster(to_cluster, self.options.tolerance_s, takes, list(formed.values()))
        cameras = sorted({label for label, _, _ in found} | set(unreachable))
        index_of = sources.index_of or (lambda label: cameras.index(label) + 1)
        claims = NameClaims()
        capacity = shutil.disk_usage(self.root).total
        tasks, already = [], 0
        for take in takes:
            for label, recording in take.members.items():
                if recording is None:
                    continue
                link = owner[(label, recording.first.path, recording.cre)]
                for media_file in recording.all_files(self.options.sidecars):
                    if self.ledger.verified(label, media_file.path, recording.cre, media_file.size):
                        already += 1
                        continue
                    relative = take_path(
                        take,
                        self.options.prefix,
                        label,
                        media_file,
                        index_of(label),
                        self.options.photogrammetry,
                    )
                    try:
                        claims.claim(relative)
                        dest = destination(self.root, relative)
                    except UnsafePath as exc:
                        rejected.setdefault(label, []).append(f"{media_file.path}: {exc}")
                        continue
                    estimate = _estimate(recording, media_file)
                    if estimate > capacity:  # a camera's lie must not stop the others' offload
                        why = f"listed as {estimate / 1e9:.0f} GB, more than the whole destination disk"
                        rejected.setdefault(label, []).append(f"{media_file.path}: {why}")
                        continue
                    tasks.append(FileTask(label, link, recording, media_file, take, relative, dest, estimate))
        return OffloadPlan(tasks, takes, already, rejected, unreachable)

    def _existing_takes(self) -> list[Take]:
        takes: dict[int, Take] = {}
        for entry in self.ledger.in_root(self.root):
            take = takes.setdefault(
                entry.take, Take(entry.take, entry.anchor, entry.kind, existing=True, shot=entry.shot)
            )
            take.members.setdefault(entry.camera, None)
        return list(takes.values())

    def _check_space(self, plan: OffloadPlan) -> None:
        parts = [t.dest.with_name(t.dest.name + ".part") for t in plan.tasks]
        partial = sum(part.stat().st_size for part in parts if part.exists())
        needed = plan.bytes_total - partial + SPACE_MARGIN
        free = shutil.disk_usage(self.root).free
        if plan.tasks and free < needed:
            raise OffloadError(
                f"{self.root} has {free / 1e9:.2f} GB free; this offload needs {needed / 1e9:.2f} GB: "
                "free some space or choose another destination"
            )

    # -- running --------------------------------------------------------------------------------
    async def run(self) -> OffloadPlan:
        """Fetch every planned file (cameras in parallel, a few files per camera at once), then write
        each take's manifest. Per-file failures are recorded on the task, never raised."""
        plan = self.plan or await self.prepare()
        self.started = time.monotonic()
        await asyncio.to_thread(self.seal_manifests)  # files verified by a run that was cut short
        await self._fetch(plan.tasks)
        await self._finish_busy(plan)
        await asyncio.to_thread(self.seal_manifests)
        self.finished = time.monotonic()
        self.on_change()
        return plan

    async def _fetch(self, tasks: list[FileTask]) -> None:
        by_camera: dict[str, list[FileTask]] = {}
        for task in tasks:
            by_camera.setdefault(task.camera, []).append(task)
        await asyncio.gather(*(self._camera(camera_tasks) for camera_tasks in by_camera.values()))

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
            known = {t.number for t in plan.takes}
            plan.takes += [t for t in more.takes if t.number not in known]
            plan.takes.sort(key=lambda t: t.number)
            self.on_change()
            await self._fetch(more.tasks)
        for label in self.busy:
            plan.unreachable[label] = f"still busy after {self.options.busy_wait_s:g} s (recording?): not offloaded"

    async def _camera(self, tasks: list[FileTask]) -> None:
        limit = asyncio.Semaphore(self.options.per_camera)

        async def one(task: FileTask) -> None:
            async with limit, self._slots:
                await self._file(task)

        await asyncio.gather(*(one(task) for task in tasks))

    async def _file(self, task: FileTask) -> None:
        progress = self.progress[task.camera]
        progress.current = task.file.name
        task.state = "running"
        dest, client = task.dest, task.link.client

        def advance(count: int) -> None:
            task.done += count
            progress.bytes_done += count
            self.on_change()

        try:
            await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
            try:
                fetched = await fetch(
                    client,
                    task.file.path,
                    dest,
                    task.file.size,
                    progress=advance,
                    retries=self.options.retries,
                    rate=self._rate,
                )
            except DestinationTaken:
                fetched = await self._adopt_existing(client, dest, task, advance)
        except DownloadError as exc:
            return self._failed(task, str(exc))
        except OSError as exc:  # the destination disk: full, failing, unplugged
            return self._failed(task, f"cannot write {task.relative}: {exc.strerror or exc}")
        except Exception as exc:  # one file's surprise must not stop the others; the log has the detail
            log.debug("offload of %s %s failed", task.camera, task.file.path, exc_info=True)  # -v shows where
            return self._failed(task, f"internal error: {type(exc).__name__}: {exc}")
        entry = LedgerEntry(
            task.camera,
            task.file.path,
            task.recording.cre,
            fetched.size,
            fetched.xxh64,
            str(dest),
            str(self.root),
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
        progress.bytes_total += fetched.size - task.estimate
        task.estimate = fetched.size
        progress.files_done += 1
        self.on_file_done(task)
        self.on_change()

    def _failed(self, task: FileTask, why: str) -> None:
        task.state, task.error = "failed", why
        progress = self.progress[task.camera]
        progress.files_failed += 1
        progress.errors.append(f"{task.file.path}: {why}")
        self.on_file_done(task)
        self.on_change()

    async def _adopt_existing(
        self, client: CameraClient, dest: Path, task: FileTask, advance: Callable[[int], None]
    ) -> Fetched:
        """A file already stands where this one goes (a ledger lost, a copy made by hand): fetch
        the camera's file beside it and keep the existing one only if it is the same, byte for byte."""
        check = dest.with_name(dest.name + ".check")
        check.unlink(missing_ok=True)
        try:
            fetched = await fetch(
                client, task.file.path, check, task.file.size, progress=advance, retries=self.options.retries
            )
            existing = (await asyncio.to_thread(hash_file, dest)).hexdigest()
            if existing != fetched.xxh64 or dest.stat().st_size != fetched.size:
                raise DestinationTaken(f"{dest} already exists with other contents; left untouched")
            return fetched
        finally:
            check.unlink(missing_ok=True)

    def seal_manifests(self) -> None:
        """Add an ASC MHL generation to every take folder holding verified files not yet listed."""
        pending: dict[Path, list[LedgerEntry]] = {}
        for entry in self.ledger.in_root(self.root):
            if not entry.in_manifest and os.path.exists(entry.dest):
                folder = self.root / Path(entry.dest).relative_to(self.root).parts[0]
                pending.setdefault(folder, []).append(entry)
        now = time.time()
        for folder, entries in sorted(pending.items()):
            try:
                files = [
                    HashedFile(Path(e.dest).relative_to(folder).as_posix(), e.size, os.stat(e.dest).st_mtime, e.xxh64)
                    for e in entries
                ]
                self.sealed.append(add_generation(folder, files, now))
                for entry in entries:
                    self.ledger.record(LedgerEntry(**{**entry.__dict__, "in_manifest": True}))
            except OSError as exc:  # a full or failing disk: the files stay verified; the next run seals them
                self.unsealed.append(f"{folder.name}: manifest not written ({exc.strerror or exc})")


def _estimate(recording: Recording, media_file: MediaFile) -> int:
    """Bytes to expect: the listed size, else a share of the recording (proxies: a little)."""
    if media_file.size is not None:
        return media_file.size
    if media_file.sidecar:
        return 0
    return recording.size // max(1, len(recording.files))
