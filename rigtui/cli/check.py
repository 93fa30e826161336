"""`rigtui check`: the preflight report of the whole rig; exit 0 only when it is ready for a take.

The report, its wording and the ready rule are rigtui.ops.check's; this module prints them.
"""

from __future__ import annotations

import argparse

from rigtui.cli.common import emit_json, print_lines
from rigtui.cli.rig import add_rig_command
from rigtui.config import Config
from rigtui.ops.check import check, check_options
from rigtui.ops.rig import RigSession
from rigtui.ops.settings import prime_of
from rigtui.userstate import UserState

TEXT = "check that the rig is ready for a take: every camera, its firmware and settings, cameras missing"


def register(commands: argparse._SubParsersAction) -> None:
    add_rig_command(commands, "check", TEXT, run_check)


async def run_check(session: RigSession, args: argparse.Namespace, config: Config) -> bool:
    options = check_options(config, prime_of(config, UserState.load()))
    report = await check(session.rig, options, args.select)
    if args.json:
        emit_json(report.to_json())
    else:
        print_lines(report.lines())
    return report.ready
