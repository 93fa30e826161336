"""`rigtui hosts status | check | record | stop | sync-time | copy-settings | power-off | format |
offload`: the cameras of every host PC in [[hosts]], each held by its own `rigtui agent`, run as
one rig. The rules are rigtui.ops.hosts'; this module prints."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rigtui.cli.common import confirmed_erase, describe, emit_json, print_lines
from rigtui.config import Config
from rigtui.ops.errors import UsageError
from rigtui.ops.hosts import Hosts, HostsReport, chosen_hosts, report_lines, status_lines
from rigtui.ops.report import Line
from rigtui.ops.settings import prime_of, require_prime
from rigtui.remote.hostlink import HostEvent
from rigtui.userstate import UserState

COMMANDS = {
    "status": "every host's agent and cameras",
    "check": "every host's preflight report; exit 0 only when every host's rig is ready",
    "record": "start every host's cameras at one instant (clocks measured, readiness checked first)",
    "stop": "stop every host's cameras",
    "sync-time": "set every camera's clock to its host's (the hosts' clocks kept together by chrony or PTP)",
    "power-off": "put every host's cameras to sleep (over USB nothing wakes them)",
    "copy-settings": "copy the prime's settings (HOST/CAMERA) onto every other camera of every host",
    "format": "erase every host's SD cards, by the rules of `rigtui format` on each host (asks first)",
    "offload": "each host offloads its cameras into take folders on its own disks, verified",
}


def register(commands: argparse._SubParsersAction) -> None:
    hosts = commands.add_parser(
        "hosts",
        help="cameras on several host PCs ([[hosts]]), each running `rigtui agent`",
        description="Cameras on several host PCs, each held by a `rigtui agent` started over SSH ([[hosts]] in "
        "config.toml), run as one rig.",
    )
    sub_commands = hosts.add_subparsers(dest="hosts_command", metavar="HOSTS_COMMAND", required=True)
    for name, text in COMMANDS.items():
        sub = sub_commands.add_parser(name, help=text, description=describe(text))
        sub.add_argument("--json", action="store_true", help="machine output on stdout; logs go to stderr")
        sub.add_argument("--host", action="append", metavar="NAME", help="only this [[hosts]] entry (repeatable)")
        if name == "record":
            sub.add_argument(
                "--force", action="store_true", help="record even when a camera is not ready or a clock is off"
            )
            sub.add_argument(
                "--margin-ms",
                type=float,
                metavar="MS",
                help="start this far ahead (default: 3 slowest round trips + 750 ms for the agents to prepare)",
            )
        if name == "copy-settings":
            sub.add_argument("--from", dest="from_", metavar="HOST/CAMERA", help="the prime (default: [rig] prime)")
        if name == "format":
            sub.add_argument("--yes", action="store_true", help="answer the yes/no question (never the typed one)")
            sub.add_argument(
                "--force", action="store_true", help="erase unverified footage too, after a typed confirmation"
            )
        if name == "offload":
            sub.add_argument(
                "dest",
                metavar="DEST",
                nargs="*",
                help="folder(s) on each host; {host} stands for its name (default: its [offload] destinations)",
            )
        sub.set_defaults(run=run_hosts)


def run_hosts(args: argparse.Namespace, config: Config) -> bool:
    endpoints = chosen_hosts(config, args.host)
    if args.hosts_command == "record" and args.margin_ms is not None and not 0 <= args.margin_ms <= 60_000:
        raise UsageError("--margin-ms must be from 0 to 60000")

    def heard(event: HostEvent) -> None:  # camera events, link losses and offload progress: on stderr
        if event.problem or event.kind in ("link", "progress"):
            print(event.text, file=sys.stderr, flush=True)

    async def main() -> bool:
        hosts = Hosts(config, endpoints, on_event=heard)
        try:
            await hosts.open()
            command = args.hosts_command
            if command == "check":
                found = await hosts.check()
                if args.json:
                    emit_json({"ready": found.ready, "verdict": found.verdict, "lines": [x.text for x in found.lines]})
                else:
                    print_lines([*found.lines, Line(found.verdict, not found.ready)])
                return found.ready
            if command == "status":
                report = await hosts.status()
            elif command == "record":
                report = await hosts.record(force=args.force, margin_ms=args.margin_ms)
            elif command == "stop":
                report = await hosts.stop()
            elif command == "sync-time":
                report = await hosts.sync_time()
            elif command == "power-off":
                report = await hosts.power_off()
            elif command == "copy-settings":
                prime = require_prime(prime_of(config, UserState.load(), args.from_), "copy-settings")
                report = await hosts.copy_settings(prime)
            elif command == "format":
                return await format_hosts(hosts, args)
            else:
                report = await hosts.offload(args.dest)
            return show(report, args)
        finally:
            await hosts.close()

    return asyncio.run(main())


async def format_hosts(hosts: Hosts, args: argparse.Namespace) -> bool:
    """Every host's plan shown, one question for all (typed when footage would be lost), then each
    host erases its own (reading its cards again first)."""
    plan = await hosts.plan_format(force=args.force)
    if not confirmed_erase(plan, args.yes):
        return False
    return show(await hosts.execute_format(plan), args)


def show(report: HostsReport, args: argparse.Namespace) -> bool:
    if args.json:
        emit_json(report.to_json())
    elif report.verb == "status":
        print_lines(status_lines(report))
        for warning in report.warnings:
            print(f"warning: {warning}")
    else:
        print_lines(report_lines(report))
    return report.ok
