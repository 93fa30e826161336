"""Headless rig commands: find the cameras, run one command on the rig, print, exit 0 / 1.

Human output is a compact table or one line per camera; `--json` puts only JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from rigtui.config import Config
from rigtui.gopro.discovery import DiscoveryError, Endpoint, discover, save_cache
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.offload import Offload, OffloadError, OffloadOptions, unverified_files
from rigtui.gopro.rig import Report, Rig, RigSettings
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.userstate import UserState

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1


class RigUsageError(Exception):
    """Arguments that name no usable camera; one line for the user (exit 2)."""


def rig_settings(config: Config) -> RigSettings:
    cfg = config.rig
    return RigSettings(
        poll_interval_s=1 / cfg.poll_hz,
        request_timeout_s=cfg.request_timeout_s,
        min_battery_percent=cfg.min_battery_percent,
        min_sd_minutes=cfg.min_sd_minutes,
    )


async def find_cameras(args: argparse.Namespace, config: Config) -> tuple[list[Endpoint], bool]:
    """(endpoints, discovered): `--camera` skips discovery; otherwise config, USB, cache and mDNS."""
    try:
        if args.camera:
            return [Endpoint.parse(text) for text in args.camera], False
        static = [Endpoint.parse(text) for text in config.rig.cameras]
    except DiscoveryError as exc:
        raise RigUsageError(str(exc)) from None
    interfaces = args.mdns_interface or config.rig.mdns_interfaces
    found = await discover(
        static=static,
        mdns_interfaces=interfaces if config.rig.mdns else None,
        usb=config.rig.usb_scan,
        timeout_s=config.rig.discovery_seconds,
    )
    return found, True


def run(args: argparse.Namespace, config: Config, command: Callable[[Rig], Awaitable[int]]) -> int:
    async def main() -> int:
        endpoints, discovered = await find_cameras(args, config)
        if not endpoints:
            print("rigtui: no cameras found (check USB, or name them with --camera HOST[:PORT])", file=sys.stderr)
            return EXIT_FAILED
        rig = Rig(rig_settings(config))
        try:
            await rig.add(endpoints)
            for link in rig.cameras():
                if link.endpoint.source == "cache" and not link.online:
                    await rig.remove(link)  # a cache entry is a hint; unverified, it is no camera
            for line in rig.collisions():
                log.warning("%s", line)
            if discovered:
                save_cache(
                    Endpoint(link.endpoint.host, link.endpoint.port, link.serial)
                    for link in rig.cameras()
                    if link.online
                )
            missing = rig.unmatched(args.select or [])
            if missing:
                raise RigUsageError(f"no camera matches {', '.join(missing)}")
            return await command(rig)
        finally:
            await rig.close()

    return asyncio.run(main())


# -- output -----------------------------------------------------------------------------------------
def emit_json(data: object) -> None:
    print(json.dumps(data, indent=1))


def _gb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024 / 1024:.1f}"


def status_table(snapshots: list[CameraSnapshot]) -> str:
    header = f"{'CAMERA':21} {'MODEL':7} {'ONLINE':6} {'BATT':>5} {'SD GB':>6} {'MIN':>5} {'TEMP':5} {'REC':>6} BUSY"
    lines = [header]
    for s in snapshots:
        battery = "-" if s.battery_percent is None else f"{s.battery_percent}%" + ("+" if s.charging else "")
        temp = "HOT" if s.hot else "COLD" if s.cold else "ok" if s.online else "-"
        rec = f"{s.recording_seconds}s" if s.recording else "-"
        minutes = "-" if s.minutes_left is None else str(s.minutes_left)
        line = (
            f"{s.key:21} {s.model or '?':7} {'yes' if s.online else 'NO':6} {battery:>5} "
            f"{_gb(s.sd_remaining_kb):>6} {minutes:>5} {temp:5} {rec:>6} {'yes' if s.busy else '-'}"
        )
        if s.last_error and not s.online:
            line += f"  {s.last_error}"
        lines.append(line)
    return "\n".join(lines)


def print_report(report: Report, args: argparse.Namespace, verb: str) -> int:
    if args.json:
        emit_json(
            {
                "ok": report.ok,
                "outcomes": [o.to_json() for o in report.outcomes],
                "problems": report.problems,
                "dispatch_spread_ms": report.dispatch_spread_ms,
                **report.extra,
            }
        )
    else:
        for problem in report.problems:
            print(f"not ready  {problem}")
        if report.problems:
            print(f"{verb}: refused; fix the above or pass --force")
        for outcome in report.outcomes:
            mark = "ok    " if outcome.ok else "FAILED"
            timing = f" ({outcome.response_ms:g} ms)" if outcome.response_ms is not None else ""
            print(f"{mark} {outcome.key:21} {outcome.detail}{timing}")
        if report.dispatch_spread_ms is not None and report.outcomes:
            print(f"dispatch spread {report.dispatch_spread_ms:.3f} ms across {len(report.outcomes)} cameras")
        failed = sum(not o.ok for o in report.outcomes)
        if failed:
            print(f"{verb}: {failed} of {len(report.outcomes)} cameras failed")
    return EXIT_OK if report.ok else EXIT_FAILED


# -- commands ---------------------------------------------------------------------------------------
def command_for(args: argparse.Namespace, config: Config) -> Callable[[Rig], Awaitable[int]]:
    # --from, else the prime chosen in the TUI (`p`), else config.toml's
    prime = getattr(args, "from_", None) or UserState.load().prime or config.rig.prime or None

    async def status(rig: Rig) -> int:
        snaps = [link.snapshot() for link in rig.cameras(args.select)]
        if args.json:
            emit_json([s.to_json() for s in snaps])
        else:
            print(status_table(snaps))
            for line in rig.collisions():
                print(f"warning: {line}")
        return EXIT_OK if all(s.online for s in snaps) else EXIT_FAILED

    async def record(rig: Rig) -> int:
        check = prime if args.check_settings else None
        if args.check_settings and not check:
            raise RigUsageError("--check-settings needs a prime: set [rig] prime or pass --from")
        return print_report(await rig.record(args.select, force=args.force, prime=check), args, "record")

    async def stop(rig: Rig) -> int:
        return print_report(await rig.stop(args.select), args, "stop")

    async def sync_time(rig: Rig) -> int:
        return print_report(await rig.sync_time(args.select), args, "sync-time")

    async def copy_settings(rig: Rig) -> int:
        if not prime:
            raise RigUsageError("copy-settings needs a prime camera: --from SERIAL or [rig] prime in config.toml")
        return print_report(await rig.copy_settings(prime, args.select), args, "copy-settings")

    async def preset(rig: Rig) -> int:
        return print_report(await rig.load_preset(args.preset, args.select), args, "preset")

    async def power_off(rig: Rig) -> int:
        return print_report(await rig.power_off(args.select), args, "power-off")

    async def offload(rig: Rig) -> int:
        return await run_offload(rig, args, config)

    async def format_cards(rig: Rig) -> int:
        return await run_format(rig, args, config)

    commands = {
        "offload": offload,
        "format": format_cards,
        "status": status,
        "record": record,
        "stop": stop,
        "sync-time": sync_time,
        "copy-settings": copy_settings,
        "preset": preset,
        "power-off": power_off,
    }
    return commands[args.command]


# -- offload and format ------------------------------------------------------------------------------
def offload_options(config: Config, dest: Path, args: argparse.Namespace) -> OffloadOptions:
    cfg = config.offload
    return OffloadOptions(
        dest=dest,
        prefix=getattr(args, "prefix", None) or cfg.prefix,
        sidecars=cfg.sidecars and not getattr(args, "no_sidecars", False),
        tolerance_s=cfg.tolerance_s,
        per_camera=cfg.per_camera,
        photogrammetry=(getattr(args, "layout", None) or cfg.layout) == "photogrammetry",
        retries=cfg.retries,
        read_timeout_s=cfg.read_timeout_s,
    )


def open_ledger(config: Config) -> Ledger:
    return Ledger(Path(config.offload.ledger).expanduser() if config.offload.ledger else None)


async def run_offload(rig: Rig, args: argparse.Namespace, config: Config) -> int:
    dest = Path(args.dest)
    job = Offload(rig, offload_options(config, dest, args), open_ledger(config), args.select)
    try:
        plan = await job.prepare()
    except OffloadError as exc:
        raise RigUsageError(str(exc)) from None
    if not args.json:
        for camera, why in sorted(plan.unreachable.items()):
            print(f"FAILED {camera}: {why}")
        for camera, lines in sorted(plan.rejected.items()):
            for line in lines:
                print(f"FAILED {camera}: left out {line}")
        print(
            f"offload to {job.root}: {len(plan.tasks)} files ({plan.bytes_total / 1e9:.2f} GB) in "
            f"{len(plan.takes)} takes; {plan.already} already verified"
        )
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout carries only the JSON
    await OffloadProgress(job, plain=not out.isatty(), out=out).follow(job.run())
    failed = [t for t in plan.tasks if t.state != "verified"]
    ok = not failed and not plan.unreachable and not plan.rejected
    if args.json:
        emit_json(
            {
                "ok": ok,
                "dest": str(job.root),
                "already_verified": plan.already,
                "takes": [
                    {
                        "number": t.number,
                        "folder": t.folder(job.options.prefix),
                        "kind": t.kind,
                        "cameras": sorted(t.members),
                    }
                    for t in plan.takes
                ],
                "files": [
                    {
                        "camera": t.camera,
                        "path": t.file.path,
                        "dest": t.relative,
                        "state": t.state,
                        "size": t.done,
                        "error": t.error,
                    }
                    for t in plan.tasks
                ],
                "unreachable": plan.unreachable,
                "rejected": plan.rejected,
                "manifests": [str(p) for p in job.sealed],
            }
        )
        return EXIT_OK if ok else EXIT_FAILED
    for task in failed:
        print(f"FAILED {task.camera} {task.file.path}: {task.error}")
    verified = len(plan.tasks) - len(failed)
    seconds = max(job.finished - job.started, 1e-6)
    done = sum(t.done for t in plan.tasks if t.state == "verified")
    print(
        f"offload: {verified} of {len(plan.tasks)} files verified ({done / 1e9:.2f} GB, "
        f"{done / seconds / 1e6:.0f} MB/s), {len(failed)} failed; {len(job.sealed)} take manifests written"
    )
    return EXIT_OK if ok else EXIT_FAILED


class OffloadProgress:
    """Progress on a terminal (a bar per camera and one overall), plain lines elsewhere."""

    def __init__(self, job: Offload, *, plain: bool, out: TextIO) -> None:
        self.job, self.plain, self.out = job, plain, out
        self._reported: set[int] = set()

    async def follow(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        if self.plain:
            while not task.done():
                self._print_finished()
                await asyncio.wait({task}, timeout=0.5)
            self._print_finished()
            await task
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            TextColumn("{task.description:24}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=False, console=Console(file=self.out)) as bars:
            rows = {c: bars.add_task(c, total=p.bytes_total or 1) for c, p in self.job.progress.items()}
            overall = bars.add_task("all cameras", total=self.job.plan.bytes_total if self.job.plan else 1)
            while not task.done():
                for camera, row in rows.items():
                    p = self.job.progress[camera]
                    bars.update(row, completed=p.bytes_done, total=max(p.bytes_total, 1))
                bars.update(
                    overall,
                    completed=sum(p.bytes_done for p in self.job.progress.values()),
                    total=max(sum(p.bytes_total for p in self.job.progress.values()), 1),
                )
                await asyncio.wait({task}, timeout=0.25)
        await task

    def _print_finished(self) -> None:
        for task in self.job.plan.tasks if self.job.plan else []:
            if task.state in ("verified", "failed") and id(task) not in self._reported:
                self._reported.add(id(task))
                if task.state == "verified":
                    line = f"verified {task.camera} {task.file.path} -> {task.relative} ({task.done} bytes)"
                    print(line, file=self.out, flush=True)


async def run_format(rig: Rig, args: argparse.Namespace, config: Config) -> int:
    """Erase cards only when every file on them is verified in the ledger; forcing takes a typed
    confirmation; and the erase itself is asked on a terminal (`--yes` answers for scripts)."""
    unverified = await unverified_files(rig, open_ledger(config), args.select)
    blocked = {camera: files for camera, files in unverified.items() if files}
    targets = [link.key for link in rig.cameras(args.select)]
    if blocked:
        for camera, files in sorted(blocked.items()):
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            print(f"not verified  {camera}: {len(files)} file{'s' if len(files) != 1 else ''}: {shown}")
        if not args.force:
            print("format: refused; offload these files first (rigtui offload DEST), or pass --force")
            return EXIT_FAILED
        if not sys.stdin.isatty():
            raise RigUsageError("--force needs a typed confirmation, so a terminal")
        answer = input(f"Unverified footage will be lost. Type the number of cameras to erase ({len(targets)}): ")
        if answer.strip() != str(len(targets)):
            print("format: not confirmed; nothing erased")
            return EXIT_FAILED
    contents = await rig.card_contents(args.select)
    for camera, held in sorted(contents.items()):
        print(f"will erase  {camera}: {held if isinstance(held, str) else held.describe()}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise RigUsageError("format asks before erasing: pass --yes when there is no terminal")
        if input(f"Erase the SD cards of {len(targets)} cameras? [y/N] ").strip().lower() not in ("y", "yes"):
            print("format: cancelled; nothing erased")
            return EXIT_FAILED
    return print_report(await rig.erase(args.select), args, "format")
