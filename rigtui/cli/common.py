"""What every command family shares: the options accepted anywhere, JSON and line output, questions."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, TextIO

from rigtui.ops.errors import UsageError
from rigtui.ops.format import DECLINED, Confirmation
from rigtui.ops.report import Line


def global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Options accepted before or after the command; only the main parser sets their defaults."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        type=Path,
        default=default(None),
        help="config file (default: ./config.toml, then ~/.config/rigtui/config.toml)",
    )
    parser.add_argument(
        "--camera",
        action="append",
        default=default([]),
        metavar="HOST[:PORT]",
        help="a camera to use (repeatable); skips discovery",
    )
    parser.add_argument(
        "--mdns-interface",
        action="append",
        default=default([]),
        metavar="IP",
        help="browse mDNS on this interface only (repeatable)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="machine output on stdout; logs go to stderr"
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False), help="log more to stderr")


def seconds_value(text: str) -> float:
    """A length of time on the command line: positive seconds, at most a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text} s is out of range (more than 0, at most 86400)")
    return value


def describe(text: str) -> str:
    """A help line as a description: capitalized, with a full stop."""
    return text[0].upper() + text[1:] + "."


def emit_json(data: object) -> None:
    print(json.dumps(data, indent=1))


def print_lines(lines: Iterable[Line], out: TextIO | None = None) -> None:
    for line in lines:
        print(line.text, file=out or sys.stdout, flush=True)


def ask(question: str, why: str) -> str:
    """A question answered on the terminal; without one, the command cannot go on (`why` says how)."""
    if not sys.stdin.isatty():
        raise UsageError(why)
    return input(question).strip()


def confirmed_erase(plan: ErasePlan, yes: bool) -> bool:
    """Show a format plan and ask its question (typed when footage would be lost; `--yes` answers
    only the yes/no one); False, saying why, when nothing is to be erased."""
    print_lines(plan.lines())
    question = plan.confirmation()
    if question is None:
        print(plan.refusal())
        return False
    if question.typed is not None:
        answer = ask(f"{question.question}: ", "--force needs a typed confirmation, so a terminal")
        agreed = answer == question.typed
    elif yes:
        agreed = True
    else:
        answer = ask(f"{question.question} [y/N] ", "format asks before erasing: pass --yes when there is no terminal")
        agreed = answer.lower() in ("y", "yes")
    if not agreed:
        print(DECLINED)
    return agreed


class ErasePlan(Protocol):
    """A format plan, on one host or across hosts: what it will erase and what to ask first."""

    def lines(self) -> list[Line]: ...
    def confirmation(self) -> Confirmation | None: ...
    def refusal(self) -> str | None: ...


def stop_signal() -> asyncio.Event:
    """An event that Ctrl+C or SIGTERM sets from now on, so a service stops cleanly (call it before
    announcing the service: whoever reads the announcement may stop it at once)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
