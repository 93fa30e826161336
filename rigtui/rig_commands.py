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

from rigtui.config import Config
from rigtui.gopro.discovery import DiscoveryError, Endpoint, discover, save_cache
from rigtui.gopro.rig import Report, Rig, RigSettings
from rigtui.gopro.snapshot import CameraSnapshot

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
    prime = getattr(args, "from_", None) or config.rig.prime or None

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

    commands = {
        "status": status,
        "record": record,
        "stop": stop,
        "sync-time": sync_time,
        "copy-settings": copy_settings,
        "preset": preset,
        "power-off": power_off,
    }
    return commands[args.command]
