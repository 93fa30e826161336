"""The `rigtui` command: parses arguments, loads config.toml once, runs one action, exits.

Every command family registers its subcommands and returns whether it succeeded; this module alone
turns that into an exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from enum import IntEnum

from rigtui import __version__
from rigtui.cli import agent, app, check, footage, hosts, pi, rig, sim
from rigtui.cli.common import global_options
from rigtui.config import ConfigError, load
from rigtui.ops.errors import NothingFound, UsageError
from rigtui.paths import state_dir
from rigtui.text import shown


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # some camera, file or Pi failed; the output names it
    USAGE = 2  # the command line or config.toml cannot be acted on; one line on stderr says why
    INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rigtui",
        description="Run a multi-camera rig from a terminal. Without a command, rigtui opens its terminal app on "
        "the rig config.toml describes; `rigtui demo` opens it on simulated cameras.",
    )
    parser.add_argument("--version", action="version", version=f"rigtui {__version__}")
    global_options(parser, defaults=True)
    parser.set_defaults(run=app.run_app)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    rig.register(commands)
    check.register(commands)
    footage.register(commands)
    app.register(commands)
    pi.register(commands)
    hosts.register(commands)
    agent.register(commands)
    sim.register(commands)
    return parser


def configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if args.run in (app.run_app, app.run_demo):  # the app owns the terminal: log lines go to a file
        state_dir().mkdir(parents=True, exist_ok=True)
        logging.basicConfig(level=level, filename=state_dir() / "rigtui.log", format=log_format)
    else:
        logging.basicConfig(level=level, stream=sys.stderr, format=log_format)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        return Exit.OK if args.run(args, load(args.config)) else Exit.FAILED
    except (ConfigError, UsageError) as exc:
        print(f"rigtui: {exc}", file=sys.stderr)
        return Exit.USAGE
    except NothingFound as exc:
        print(f"rigtui: {exc}", file=sys.stderr)
        return Exit.FAILED
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except Exception as exc:  # a bug: one line for the operator, the traceback kept for whoever fixes it
        print(f"rigtui: unexpected {type(exc).__name__}: {shown(str(exc))} ({keep_traceback()})", file=sys.stderr)
        return Exit.FAILED


def keep_traceback() -> str:
    """Write the current exception's traceback to a file in the state folder; say where."""
    path = state_dir() / time.strftime("crash-%Y%m%d-%H%M%S.txt")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        return "no details kept: the state folder cannot be written"
    return f"details in {path}"
