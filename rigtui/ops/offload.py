"""Offload: the options (config.toml's [offload] with the operator's overrides), the run with its
progress, and its report, the same for the CLI and the TUI. What "verified" means is the engine's
(rigtui.gopro.offload); this module decides what is asked of it and what the operator is told."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rigtui.config import Config
from rigtui.files import Locked, ledger_lock, offload_lock
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.offload import (
    CameraProgress,
    Counts,
    FileTask,
    Offload,
    OffloadError,
    OffloadOptions,
    OffloadPlan,
    TakeSources,
)
from rigtui.gopro.rig import Rig
from rigtui.gopro.shotlog import LoggedTake, ShotLog
from rigtui.gopro.takes import TAKE_PREFIX, camera_label
from rigtui.ops.errors import UsageError
from rigtui.ops.report import Line
from rigtui.ops.sync_audit import TakeAudit, audit_lines, audit_takes, keep_audit, spread_ms
from rigtui.ops.takes import close_takes
from rigtui.userstate import UserState

LAYOUTS = ("flat", "photogrammetry")
SHOWN_REJECTED = 5  # entries left out named per camera (a hostile list can have thousands)


def offload_options(
    config: Config,
    dest: str | Path | Sequence[str | Path],
    *,
    prefix: str | None = None,
    sidecars: bool | None = None,
    layout: str | None = None,
    cascade: bool | None = None,
) -> OffloadOptions:
    """[offload] of config.toml, with what the operator chose for this run on top. `dest` is one
    destination or several; none (empty) takes [offload] destinations."""
    cfg = config.offload
    named = [dest] if isinstance(dest, str | Path) else list(dest)
    dests = [d for d in named if str(d).strip()] or list(cfg.destinations)
    prefix = prefix if prefix is not None else cfg.prefix
    if not re.fullmatch(TAKE_PREFIX, prefix):
        raise UsageError(f"take prefix {prefix!r} must be 1 to 32 letters, digits, '_' or '-'")
    layout = layout or cfg.layout
    if layout not in LAYOUTS:
        raise UsageError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if not dests:
        raise UsageError("choose a destination folder for the take folders")
    cascade = cfg.cascade if cascade is None else cascade
    if cascade and len(dests) < 2:
        raise UsageError("--cascade copies from the first destination to the others: name two or more")
    return OffloadOptions(
        dest=Path(dests[0]).expanduser(),
        also=tuple(Path(d).expanduser() for d in dests[1:]),
        cascade=cascade,
        prefix=prefix,
        sidecars=cfg.sidecars if sidecars is None else sidecars,
        tolerance_s=cfg.tolerance_s,
        per_camera=cfg.per_camera,
        photogrammetry=layout == "photogrammetry",
        retries=cfg.retries,
        busy_wait_s=cfg.busy_wait_s,
        max_parallel=cfg.max_parallel,
        bandwidth_mbps=cfg.bandwidth_mbps,
        sync_audit=cfg.sync_audit,
    )


def open_ledger(config: Config) -> Ledger:
    """The ledger, with the number of copies `format` requires ([offload] min_copies)."""
    path = Path(config.offload.ledger).expanduser() if config.offload.ledger else None
    return Ledger(path, min_copies=config.offload.min_copies)


@dataclass(frozen=True)
class OffloadReport:
    root: Path
    plan: OffloadPlan
    manifests: list[Path]
    unsealed: list[str]  # take folders whose manifest could not be written
    seconds: float
    roots: tuple[Path, ...] = ()  # every destination (the first is `root`)
    broken: dict[Path, str] = field(default_factory=dict)  # destinations whose disk failed, and how
    audits: list[TakeAudit] = field(default_factory=list)  # the new video takes' sync audits

    @property
    def failed(self) -> list[FileTask]:
        return [t for t in self.plan.tasks if t.state != "verified"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.plan.unreachable and not self.plan.rejected and not self.unsealed

    def lines(self) -> list[Line]:
        """Every file that failed (a failed destination in one line), then the run in one line (and,
        with several destinations, one line each)."""
        lines = [file_line(t) for t in self.failed if t.root not in self.broken]
        for root, why in sorted(self.broken.items()):
            count = sum(1 for t in self.failed if t.root == root)
            lines.append(
                Line(f"FAILED {root}: {why}; {count} copies there not made (the other destinations go on)", True)
            )
        lines += [Line(f"FAILED {why}", True) for why in self.unsealed]
        verified = len(self.plan.tasks) - len(self.failed)
        done = sum(t.done for t in self.plan.tasks if t.state == "verified")
        rate = done / max(self.seconds, 1e-6) / 1e6
        if len(self.roots) > 1:
            for root in self.roots:
                tasks = self.plan.tasks_in(root)
                failed = sum(1 for t in tasks if t.state != "verified")
                lines.append(
                    Line(f"offload to {root}: {len(tasks) - failed} of {len(tasks)} files verified", bool(failed))
                )
        lines.append(
            Line(
                f"offload: {verified} of {len(self.plan.tasks)} files verified ({done / 1e9:.2f} GB, {rate:.0f} MB/s), "
                f"{len(self.failed)} failed; {len(self.manifests)} take manifests written",
                bool(self.failed),
            )
        )
        return lines + audit_lines(self.audits)

    def summary_lines(self) -> list[Line]:
        """The run in one line, then each take's sync audit."""
        return self.lines()[-1 - len(audit_lines(self.audits)) :]

    def to_json(self, prefix: str) -> dict[str, object]:
        plan = self.plan
        return {
            "ok": self.ok,
            "dest": str(self.root),
            "destinations": [
                {
                    "dest": str(root),
                    "files": len(plan.tasks_in(root)),
                    "verified": sum(1 for t in plan.tasks_in(root) if t.state == "verified"),
                    "already_verified": plan.already_in.get(root, 0),
                    "failed": self.broken.get(root),
                }
                for root in self.roots or (self.root,)
            ],
            "already_verified": plan.already,
            "takes": [
                {"number": t.number, "folder": t.folder(prefix), "kind": t.kind, "cameras": sorted(t.members)}
                for t in plan.takes
            ],
            "files": [
                {
                    "camera": t.camera,
                    "path": t.file.path,
                    "root": str(t.root),
                    "dest": t.relative,
                    "state": t.state,
                    "size": t.done,
                    "error": t.error,
                }
                for t in plan.tasks
            ],
            "unreachable": plan.unreachable,
            "rejected": plan.rejected,
            "manifests": [str(p) for p in self.manifests],
            "manifest_errors": self.unsealed,
            "sync": [audit.to_json() for audit in self.audits],
        }


class OffloadRun:
    """One offload: `prepare()` reads every card and plans, `run()` fetches and verifies. `progress`
    (per camera) can be read at any time; `on_file_done` hears of every file as it ends."""

    def __init__(
        self,
        rig: Rig,
        options: OffloadOptions,
        ledger: Ledger,
        selection: Iterable[str] | None = None,
        *,
        on_file_done: Callable[[FileTask], None] = lambda task: None,
        log: ShotLog | None = None,
        indexes: Callable[[str], int] | None = None,
        on_cameras_done: Callable[[], None] = lambda: None,
    ) -> None:
        self.options, self.rig, self.log = options, rig, log
        selected = list(selection or []) or None
        sources = TakeSources(index_of=indexes)
        self.job = Offload(
            rig, options, ledger, selected, on_file_done=on_file_done, sources=sources, on_cameras_done=on_cameras_done
        )
        self._locks = contextlib.ExitStack()
        self.spreads: dict[str, float | None] = {}  # take folder -> its measured start spread (ms), once audited

    @property
    def root(self) -> Path:
        return self.job.root

    @property
    def roots(self) -> list[Path]:
        return self.job.roots

    def _into(self) -> str:
        return " and ".join(str(root) for root in self.roots)

    @property
    def plan(self) -> OffloadPlan | None:
        return self.job.plan

    @property
    def progress(self) -> dict[str, CameraProgress]:
        return self.job.progress

    def interruption(self) -> str:
        """What stopping this offload now would interrupt, and how it picks up again."""
        plan = self.plan
        if plan is None:
            return f"The offload into {self._into()} stops while it reads the cards: nothing is copied yet."
        states = [task.state for task in plan.tasks]
        return (
            f"The offload into {self._into()} stops: {states.count('verified')} of {len(states)} files verified, "
            f"{states.count('running')} being copied. Nothing verified is lost; run the offload again and it "
            "resumes where it stopped (partial files continue from their last checked piece)."
        )

    async def prepare(self) -> list[Line]:
        """Take the destination and the ledger for this run alone, read every card and decide what
        goes where; the lines say what was found and left out."""
        lines: list[Line] = []
        try:
            await asyncio.to_thread(self._lock)
            if self.log is not None:  # takes a crash or a separate `record` left open are closed first
                lines += await close_takes(self.rig, self.log, repaired=True)
                takes = await asyncio.to_thread(self.log.takes)
                self.job.sources.shots = logged_files(takes)
                self.job.sources.logged = {take.id: take for take in takes}  # for the custody reports
            self.job.sources.offsets = {
                camera_label(link.key): link.clock_offset_s
                for link in self.rig.cameras()
                if link.clock_offset_s is not None
            }
            plan = await self.job.prepare()
            self.spreads = await asyncio.to_thread(self._spreads, plan)
        except (OffloadError, Locked) as exc:
            self._locks.close()
            raise UsageError(str(exc)) from None
        except OSError as exc:  # the lock file cannot be made: the destination is not writable
            self._locks.close()
            raise UsageError(f"cannot write to {self.root}: {exc.strerror or exc}") from None
        lines += [Line(f"FAILED {camera}: {why}", True) for camera, why in sorted(plan.unreachable.items())]
        for take in plan.takes:
            if take.clock_based and not take.existing:
                cameras = ", ".join(sorted(take.members))
                lines.append(
                    Line(
                        f"{take.folder(self.options.prefix)}: not shot by rigtui, grouped by camera clocks ({cameras})"
                    )
                )
        for camera, entries in sorted(plan.rejected.items()):
            lines += [Line(f"FAILED {camera}: left out {entry}", True) for entry in entries[:SHOWN_REJECTED]]
            if len(entries) > SHOWN_REJECTED:
                lines.append(Line(f"FAILED {camera}: left out {len(entries) - SHOWN_REJECTED} more entries", True))
        for root in self.roots:
            tasks = plan.tasks_in(root)
            lines.append(
                Line(
                    f"offload to {root}: {len(tasks)} files ({sum(t.estimate for t in tasks) / 1e9:.2f} GB) in "
                    f"{len(plan.takes_in.get(root, []))} takes; {plan.already_in.get(root, 0)} already verified"
                )
            )
        if len(self.roots) > 1:
            how = (
                f"first into {self.root} at camera speed, then copied from there to the others"
                if self.options.cascade
                else "each file read once from its camera and written to every destination in the same pass"
            )
            lines.append(Line(f"offload: {len(self.roots)} destinations, {how}"))
        return lines

    def cameras_done(self) -> Line | None:
        """With --cascade, once every camera's part of the run is over: what comes next."""
        if not (self.options.cascade and self.job.cameras_done):
            return None
        return Line(f"offload: cameras done; copying from {self.root} to the other destinations")

    @property
    def finished(self) -> bool:
        return bool(self.job.finished)

    def _lock(self) -> None:
        """Two offloads into one destination, or into one ledger, would fetch the same .part and
        destroy each other's copies: the second is refused, naming the first."""
        for root in self.roots:
            self._locks.enter_context(offload_lock(root))
        self._locks.enter_context(ledger_lock(self.job.ledger.path))

    async def run(self) -> OffloadReport:
        try:
            plan = await self.job.run()
        finally:
            self._locks.close()
        job = self.job
        audits = await self._audit(plan) if self.options.sync_audit else []
        return OffloadReport(
            self.root,
            plan,
            list(job.sealed),
            list(job.unsealed),
            job.finished - job.started,
            tuple(job.roots),
            dict(job.broken),
            audits,
        )

    def _spreads(self, plan: OffloadPlan) -> dict[str, float | None]:
        """The takes audited by earlier runs: their spreads, from their sync.json."""
        folders = [take.folder(self.options.prefix) for take in plan.takes if take.existing]
        return {folder: spread_ms(self.root / folder) for folder in folders}

    def take_list(self, last: int = 6) -> list[str]:
        """The run's latest takes: each with its cameras and, once audited, its measured start spread."""
        takes = self.plan.takes[-last:] if self.plan else []
        found = []
        for take in takes:
            folder = take.folder(self.options.prefix)
            spread = self.spreads.get(folder)
            audited = f", spread {spread:.1f} ms" if spread is not None else ""
            found.append(f"{folder} ({len(take.members)} cam{audited})")
        return found

    async def _audit(self, plan: OffloadPlan) -> list[TakeAudit]:
        """The sync audit of every video take folder this run sealed (in the first destination; its
        results are copied to the same take in the others), and what each teaches of the cameras'
        start latencies."""
        video = {take.folder(self.options.prefix) for take in plan.takes if take.kind == "video"}
        sealed = sorted({manifest.parent.parent for manifest in self.job.sealed})
        folders = [f for f in sealed if f.parent == self.root and f.name in video]
        audits = await audit_takes(folders)
        for audit in audits:
            spread = audit.sync.spread_s if audit.sync else None
            self.spreads[audit.folder.name] = None if spread is None else spread * 1000
            copies = [root / audit.folder.name for root in self.roots[1:] if (root / audit.folder.name).is_dir()]
            await asyncio.to_thread(keep_audit, audit, copies)
        return audits

    def rate(self) -> str:
        """Where the run stands: bytes done of all, speed, and the time left."""
        done = sum(p.bytes_done for p in self.progress.values())
        total = sum(p.bytes_total for p in self.progress.values())
        job = self.job
        if not job.started:
            return "preparing…"
        elapsed = (job.finished or time.monotonic()) - job.started
        speed = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / speed if speed > 0 and not job.finished else 0.0
        state = "finished" if job.finished else f"ETA {int(eta // 60)}:{int(eta % 60):02d}"
        return f"{done / 1e9:.2f} of {total / 1e9:.2f} GB  {speed / 1e6:.0f} MB/s  {state}"

    def by_destination(self) -> list[str]:
        """One line per destination of a run with several: its copies done, failed and bytes."""
        totals: dict[Path, Counts] = {}
        for progress in self.progress.values():
            for root, counts in progress.destinations.items():
                total = totals.setdefault(root, Counts())
                for name in ("files", "files_done", "files_failed", "bytes_total", "bytes_done"):
                    setattr(total, name, getattr(total, name) + getattr(counts, name))
        if len(totals) < 2:
            return []
        return [
            f"{root}: {c.files_done}/{c.files} files, {c.bytes_done / 1e9:.2f} of {c.bytes_total / 1e9:.2f} GB"
            + (f", {c.files_failed} failed" if c.files_failed else "")
            for root, c in totals.items()
        ]


def logged_files(takes: list[LoggedTake]) -> dict[tuple[str, str, int], tuple[str, int]]:
    """Every file the shot log saw a take produce: (camera label, DIR/NAME, cre) -> (take id, start)."""
    return {
        (camera_label(camera), name, cre): (take.id, take.anchor)
        for take in takes
        if take.closed
        for camera, facts in take.cameras.items()
        for name, cre in facts.media
    }


class CameraIndexes:
    """Each camera's index in the photogrammetry layout, the same from take to take and run to run:
    [rig] order first, then the index each other camera was first given (kept in the user's state),
    new cameras taking the next free one; never the order cameras happened to be found in."""

    def __init__(self, order: Iterable[str], state: UserState) -> None:
        self.order = [camera_label(serial) for serial in order]
        self.state = state

    def __call__(self, label: str) -> int:
        if label in self.order:
            return self.order.index(label) + 1
        kept = self.state.indexes.get(label)
        if kept is not None and kept > len(self.order):
            return kept
        taken = {index for camera, index in self.state.indexes.items() if camera != label}
        index = next(i for i in itertools.count(len(self.order) + 1) if i not in taken)
        self.state.indexes[label] = index
        self.state.save()
        return index


def file_line(task: FileTask) -> Line:
    """A file's end: verified where, or why it failed (naming the destination when there are several)."""
    where = str(task.dest) if task.named_root else task.relative
    if task.state == "verified":
        return Line(f"verified {task.camera} {task.file.path} -> {where} ({task.done} bytes)")
    into = f" -> {task.root}" if task.named_root else ""
    return Line(f"FAILED {task.camera} {task.file.path}{into}: {task.error}", True)
