"""`rigtui offload`, `rigtui copies` and `rigtui format`: footage into take folders, verified, on one
disk or several; what each card's files have in copies; cards erased only when what they hold is
safe. The rules are rigtui.ops's; this module prints, shows progress and asks."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from rigtui.cli.common import confirmed_erase, emit_json, global_options, print_lines
from rigtui.cli.rig import add_rig_command, print_report
from rigtui.config import Config
from rigtui.gopro.offload import FileTask
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.copies import list_copies
from rigtui.ops.format import execute_format, plan_format
from rigtui.ops.offload import CameraIndexes, OffloadRun, file_line, offload_options, open_ledger
from rigtui.ops.rig import RigSession
from rigtui.ops.sync_audit import report_lines, sync_ok, take_folder, take_sync
from rigtui.userstate import UserState

COMMANDS = {
    "offload": "download every camera's footage into take folders, verified (to one destination or several)",
    "copies": "list each camera file with its verified copies and where they are",
    "format": "erase SD cards whose every file has its verified copies ([offload] min_copies)",
    "sync-report": "when each camera of a take really started, measured from its clips' audio",
}


def register(commands: argparse._SubParsersAction) -> None:
    offload = add_rig_command(commands, "offload", COMMANDS["offload"], offload_rig, hold=True)
    offload.add_argument(
        "dest",
        metavar="DEST",
        nargs="*",
        help="folder(s) the take folders go in, each file read once for all (default: [offload] destinations)",
    )
    offload.add_argument(
        "--cascade",
        action="store_true",
        default=None,
        help="write the first DEST at camera speed, let the cameras go, then copy from it to the others",
    )
    offload.add_argument("--prefix", help="take folder prefix (default: [offload] prefix, 'take')")
    offload.add_argument("--no-sidecars", action="store_true", help="leave LRV proxies and THM thumbnails")
    offload.add_argument(
        "--layout",
        choices=("flat", "photogrammetry"),
        help="photo takes as <take>/rig/<camera index>/<frame>.JPG with photogrammetry",
    )
    add_rig_command(commands, "copies", COMMANDS["copies"], copies_rig)
    erase = add_rig_command(commands, "format", COMMANDS["format"], format_rig, hold=True)
    erase.add_argument("--yes", action="store_true", help="answer the 'erase?' question (never the gate)")
    erase.add_argument(
        "--force", action="store_true", help="erase unverified footage too, after typing the number of cameras"
    )
    report = commands.add_parser(
        "sync-report",
        help=COMMANDS["sync-report"],
        description="A take's sync audit: each clip's start after the reference camera's and after the earliest "
        "clip's, measured by matching the room sound every camera heard (the offload measures each new video "
        "take; this shows it, or measures it when it was not). Clips that cannot be matched are flagged.",
    )
    global_options(report, defaults=False)
    report.add_argument("take", metavar="TAKE", help="a take folder, or its name in an [offload] destination")
    report.add_argument("--again", action="store_true", help="measure again (e.g. with another --reference)")
    report.add_argument("--reference", metavar="CAMERA", help="the camera the others are measured against")
    report.set_defaults(run=sync_report)


async def offload_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    options = offload_options(
        config,
        args.dest,
        prefix=args.prefix,
        sidecars=False if args.no_sidecars else None,
        layout=args.layout,
        cascade=args.cascade,
    )
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout carries only the JSON
    plain = not out.isatty()

    def file_done(task: FileTask) -> None:
        line = file_line(task)
        if plain and not line.problem:  # failures are listed once, at the end
            print(line.text, file=out, flush=True)

    ledger = await asyncio.to_thread(open_ledger, config)
    indexes = CameraIndexes(config.rig.order, UserState.load())

    def cameras_done() -> None:
        line = run.cameras_done()
        if plain and line is not None:  # on a terminal, the bars show it
            print(line.text, file=out, flush=True)

    run = OffloadRun(
        session.rig,
        options,
        ledger,
        args.select,
        on_file_done=file_done,
        log=ShotLog(),
        indexes=indexes,
        on_cameras_done=cameras_done,
    )
    planned = await run.prepare()
    if not args.json:
        print_lines(planned)
    work = asyncio.ensure_future(run.run())
    if not plain:
        await show_bars(run, work, out)
    report = await work
    if args.json:
        emit_json(report.to_json(options.prefix))
    else:
        print_lines(report.lines())
    return report.ok


async def copies_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    """Each card's footage with its verified copies; fails when a file has fewer than format needs."""
    ledger = await asyncio.to_thread(open_ledger, config)
    report = await list_copies(session.rig, ledger, args.select)
    if args.json:
        emit_json(report.to_json())
    else:
        print_lines(report.lines())
    return report.ok


async def show_bars(run: OffloadRun, work: asyncio.Future[object], out: TextIO) -> None:
    """A bar per camera and one overall, on a terminal, until the offload ends."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description:24}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, console=Console(file=out)) as bars:
        rows = {camera: bars.add_task(camera, total=p.bytes_total or 1) for camera, p in run.progress.items()}
        overall = bars.add_task("all cameras", total=1)
        while not work.done():
            for camera, row in rows.items():
                progress = run.progress[camera]
                bars.update(row, completed=progress.bytes_done, total=max(progress.bytes_total, 1))
            done = sum(p.bytes_done for p in run.progress.values())
            bars.update(overall, completed=done, total=max(sum(p.bytes_total for p in run.progress.values()), 1))
            await asyncio.wait({work}, timeout=0.25)


async def format_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    """Plan, show what each card holds, ask (typed count when footage would be lost), then erase."""
    ledger = await asyncio.to_thread(open_ledger, config)
    plan = await plan_format(session.rig, ledger, args.select, force=args.force, log=ShotLog())
    if not confirmed_erase(plan, args.yes):
        return False
    return print_report(await execute_format(session.rig, ledger, plan), args)


def sync_report(args: argparse.Namespace, config: Config) -> bool:
    """A take's sync audit (measured now when it has none); fails when a clip is flagged."""
    folder = take_folder(args.take, [config.offload.dest, *config.offload.destinations])
    data = take_sync(folder, again=args.again, reference=args.reference)
    if args.json:
        emit_json(data)
    else:
        print_lines(report_lines(data))
    return sync_ok(data)
