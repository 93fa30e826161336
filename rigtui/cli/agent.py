"""`rigtui agent --stdio`: this host's cameras, served to a controller over stdin and stdout (the
protocol is rigtui.ops.agent's). Only protocol lines reach stdout: anything else that would print
there goes to stderr with the logs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from rigtui.cli.common import global_options, stop_signal
from rigtui.config import Config
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.agent import Agent, AgentOptions, clock_offset_from_env
from rigtui.ops.errors import NothingFound, UsageError
from rigtui.ops.report import Line
from rigtui.ops.rig import RigSession, rig_options


def register(commands: argparse._SubParsersAction) -> None:
    text = "hold this host's cameras for a controller on another PC (`rigtui hosts`), over stdin/stdout"
    agent = commands.add_parser(
        "agent",
        help=text,
        description="Hold this host's cameras (found as other rig commands find them, or named with --camera) and "
        "answer a controller's JSON-lines requests on stdin, one reply per line on stdout. Started by "
        "`rigtui hosts` over SSH: ssh HOST rigtui agent --stdio.",
    )
    global_options(agent, defaults=False)
    agent.add_argument("--stdio", action="store_true", required=True, help="speak the protocol on stdin and stdout")
    agent.set_defaults(run=run_agent)


def run_agent(args: argparse.Namespace, config: Config) -> bool:
    protocol_out = _take_stdout()
    offset = clock_offset_from_env()

    def send(message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        try:
            protocol_out.write(data)
            protocol_out.flush()
        except OSError:  # the controller went away: EOF on stdin ends the agent
            pass

    async def main() -> bool:
        options = rig_options(config, cameras=args.camera, mdns_interfaces=args.mdns_interface, hold=True)
        session = RigSession(options, log=ShotLog())
        agent = Agent(session, config, AgentOptions(clock_offset_s=offset, log=ShotLog()))
        session.on_event = agent.event
        stopped = stop_signal()
        try:
            stdin = await _stdin_reader()
            try:
                await session.open()
            except NothingFound as exc:  # the controller hears of it, and may ask again later
                agent.event(Line(str(exc), True))
            poller = asyncio.ensure_future(session.rig.run_poller(lambda snapshots: None))
            serving = asyncio.ensure_future(agent.serve(stdin, send))
            signalled = asyncio.ensure_future(stopped.wait())  # SIGTERM (systemd) or Ctrl+C: let go cleanly too
            try:
                await asyncio.wait({serving, signalled}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (poller, serving, signalled):
                    task.cancel()
                await asyncio.gather(poller, serving, signalled, return_exceptions=True)
        finally:
            await session.close()  # the cameras let go (their own Auto Power Down back)
        return True

    return asyncio.run(main())


def _take_stdout() -> Any:
    """The protocol's own handle on stdout; file descriptor 1 itself then points at stderr, so a stray
    print or a library's output can never break a protocol line."""
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return protocol


async def _stdin_reader() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    except ValueError:
        raise UsageError("agent --stdio reads requests from a pipe, socket or terminal (not a file)") from None
    return reader
