"""Headless rig commands: find the cameras, run one action on the rig, print, succeed or fail.

Human output is a compact table or one line per camera; `--json` puts only JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from rigtui.cli.common import describe, emit_json, global_options, seconds_value
from rigtui.config import Config
from rigtui.gopro.shotlog import ShotLog
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.clock import sync_time
from rigtui.ops.power import power_off
from rigtui.ops.presets import load_preset
from rigtui.ops.report import Report
from rigtui.ops.rig import RigSession, rig_options, status
from rigtui.ops.settings import copy_settings, prime_of, require_prime
from rigtui.ops.shutter import record, record_for, record_options, stop
from rigtui.userstate import UserState

RigCommand = Callable[[RigSession, argparse.Namespace, Config], Awaitable[bool]]

COMMANDS = {
    "status": "show every camera's state",
    "record": "start recording on every camera at once (after a readiness check)",
    "stop": "stop recording on every camera at once",
    "sync-time": "set every camera's clock to this computer's local time",
    "copy-settings": "copy the prime camera's settings to the others",
    "preset": "load a preset by id, title (e.g. cinematic) or group (video, photo, timelapse)",
    "power-off": "put cameras to sleep (over USB nothing wakes them: press their buttons)",
}


def add_rig_command(
    commands: argparse._SubParsersAction, name: str, text: str, command: RigCommand, *, hold: bool = False
) -> argparse.ArgumentParser:
    """A subcommand that acts on the rig: it takes the global options and `--select`. `hold`: it may
    hold the cameras a long time (they are kept from powering down meanwhile)."""
    sub = commands.add_parser(name, help=text, description=describe(text))
    global_options(sub, defaults=False)
    sub.add_argument(
        "--select",
        action="append",
        metavar="CAMERA",
        help="only this camera: serial, its last digits, or HOST:PORT (repeatable)",
    )
    sub.set_defaults(run=lambda args, config: on_rig(args, config, command), hold=hold)
    return sub


def register(commands: argparse._SubParsersAction) -> None:
    handlers: dict[str, RigCommand] = {
        "status": show_status,
        "record": record_rig,
        "stop": stop_rig,
        "sync-time": sync_rig,
        "copy-settings": copy_rig,
        "preset": preset_rig,
        "power-off": power_off_rig,
    }
    for name, text in COMMANDS.items():
        sub = add_rig_command(commands, name, text, handlers[name])
        if name == "record":
            sub.add_argument("--force", action="store_true", help="record even when the readiness check fails")
            sub.add_argument(
                "--duration",
                type=seconds_value,
                metavar="SECONDS",
                help="record this long, keeping every camera awake, then stop them",
            )
            sub.add_argument(
                "--check-settings",
                action="store_true",
                help="also require every camera's settings to equal the prime's",
            )
        if name in ("record", "copy-settings"):
            sub.add_argument("--from", dest="from_", metavar="SERIAL", help="the prime camera (default: [rig] prime)")
        if name == "preset":
            sub.add_argument("preset", metavar="ID|NAME")


def on_rig(args: argparse.Namespace, config: Config, command: RigCommand) -> bool:
    """Bring the rig up (or only the cameras named), check `--select`, run the command, let go."""

    async def main() -> bool:
        hold = args.hold or getattr(args, "duration", None) is not None  # it holds the cameras meanwhile
        options = rig_options(config, cameras=args.camera, mdns_interfaces=args.mdns_interface, hold=hold)
        session = RigSession(options, log=ShotLog(), prime=lambda: _prime(args, config))
        try:
            await session.open()
            args.select = session.select(args.select)
            return await command(session, args, config)
        finally:
            await session.close()

    return asyncio.run(main())


# -- output -----------------------------------------------------------------------------------------
def _gb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024 / 1024:.1f}"


def status_table(snapshots: list[CameraSnapshot]) -> str:
    header = (
        f"{'CAMERA':21} {'MODEL':7} {'ONLINE':6} {'BATT':>5} {'SD GB':>6} {'MIN':>5} {'TEMP':5} {'REC':>6} BUSY "
        f"{'CLOCK':>6}"
    )
    lines = [header]
    for s in snapshots:
        if not s.battery_present:
            battery = "USB"
        else:
            battery = "-" if s.battery_percent is None else f"{s.battery_percent}%" + ("+" if s.charging else "")
        temp = "HOT" if s.hot else "COLD" if s.cold else "ok" if s.online else "-"
        rec = f"{s.recording_seconds}s" if s.recording else "-"
        minutes = "-" if s.minutes_left is None else str(s.minutes_left)
        clock = "-" if s.clock_offset_s is None else f"{round(s.clock_offset_s):+d}s" + ("!" if s.clock_off else "")
        line = (
            f"{s.key:21} {s.model or '?':7} {'yes' if s.online else 'NO':6} {battery:>5} "
            f"{_gb(s.sd_remaining_kb):>6} {minutes:>5} {temp:5} {rec:>6} {'yes' if s.busy else '-':4} {clock:>6}"
        )
        if s.last_error and not s.online:
            line += f"  {s.last_error}"
        lines.append(line)
    return "\n".join(lines)


def print_report(report: Report, args: argparse.Namespace) -> bool:
    if args.json:
        emit_json(report.to_json())
        return report.ok
    verb = report.verb
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
    if report.failed:
        print(f"{verb}: {len(report.failed)} of {len(report.outcomes)} cameras failed")
    for warning in report.warnings:
        print(f"warning: {warning}")
    return report.ok


# -- commands ---------------------------------------------------------------------------------------
def _prime(args: argparse.Namespace, config: Config) -> str:
    return prime_of(config, UserState.load(), getattr(args, "from_", None))


async def show_status(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    report = status(session.rig, args.select)
    if args.json:
        emit_json([s.to_json() for s in report.snapshots])
    else:
        print(status_table(report.snapshots))
        for line in report.collisions:
            print(f"warning: {line}")
        if report.clock_warning:
            print(f"warning: {report.clock_warning}")
    return report.ok


async def record_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    prime = require_prime(_prime(args, config), "--check-settings") if args.check_settings else None
    options = record_options(config, ShotLog(), force=args.force, prime=prime)
    if args.duration is None:
        return print_report(await record(session.rig, args.select, options), args)
    started, stopped = await record_for(session.rig, args.duration, args.select, options)
    if args.json:
        emit_json({"record": started.to_json(), "stop": stopped.to_json() if stopped else None})
        return started.ok and stopped is not None and stopped.ok
    ok = print_report(started, args)
    return print_report(stopped, args) and ok if stopped else False


async def stop_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    return print_report(await stop(session.rig, args.select, ShotLog()), args)


async def sync_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    return print_report(await sync_time(session.rig, args.select), args)


async def copy_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    prime = require_prime(_prime(args, config), "copy-settings")
    return print_report(await copy_settings(session.rig, prime, args.select), args)


async def preset_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    return print_report(await load_preset(session.rig, args.preset, args.select), args)


async def power_off_rig(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    return print_report(await power_off(session.rig, args.select), args)
