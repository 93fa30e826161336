"""`rigtui agent`: this host's cameras, served to a controller (the protocol is rigtui.ops.agent's).

`--stdio` serves one controller on stdin and stdout, started over SSH for the session. `--listen
SOCKET` is the same agent as a service (systemd: deploy/rigtui-agent.service) that holds the cameras
between sessions and serves one controller at a time on a Unix socket; `--attach SOCKET`, run over
SSH, joins the controller's stdin and stdout to it. Only protocol lines reach stdout: anything else
that would print there goes to stderr with the logs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from rigtui.cli.common import global_options, stop_signal
from rigtui.config import Config
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.agent import Agent, AgentOptions, clock_offset_from_env
from rigtui.ops.errors import NothingFound, UsageError
from rigtui.ops.report import Line
from rigtui.ops.rig import RigSession, rig_options
from rigtui.remote.hostlink import PROTOCOL


def register(commands: argparse._SubParsersAction) -> None:
    text = "hold this host's cameras for a controller on another PC (`rigtui hosts`), over stdin/stdout"
    agent = commands.add_parser(
        "agent",
        help=text,
        description="Hold this host's cameras (found as other rig commands find them, or named with --camera) and "
        "answer a controller's JSON-lines requests, one reply per line. Started by `rigtui hosts` over SSH for "
        "the session (ssh HOST rigtui agent --stdio), or kept running as a service (--listen SOCKET, see "
        "deploy/rigtui-agent.service) that an SSH session joins (ssh HOST rigtui agent --attach SOCKET).",
    )
    global_options(agent, defaults=False)
    mode = agent.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true", help="speak the protocol on stdin and stdout")
    mode.add_argument(
        "--listen", metavar="SOCKET", help="as a service: hold the cameras, serve one controller at a time on SOCKET"
    )
    mode.add_argument("--attach", metavar="SOCKET", help="join stdin and stdout to the service listening on SOCKET")
    agent.set_defaults(run=run_agent)


def run_agent(args: argparse.Namespace, config: Config) -> bool:
    if args.attach:
        return asyncio.run(_attach(Path(args.attach)))
    protocol_out = _take_stdout()
    offset = clock_offset_from_env()

    def send(message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with contextlib.suppress(OSError):  # the controller went away: EOF on stdin ends the agent
            protocol_out.write(data)
            protocol_out.flush()

    async def main() -> bool:
        options = rig_options(config, cameras=args.camera, mdns_interfaces=args.mdns_interface, hold=True)
        session = RigSession(options, log=ShotLog())
        agent = Agent(session, config, AgentOptions(clock_offset_s=offset, log=ShotLog()))
        session.on_event = agent.event
        stopped = stop_signal()
        try:
            try:
                await session.open()
            except NothingFound as exc:  # the controller hears of it, and may ask again later
                agent.event(Line(str(exc), True))
            poller = asyncio.ensure_future(session.rig.run_poller(lambda snapshots: None))
            if args.listen:
                serving = asyncio.ensure_future(_listen(Path(args.listen), agent))
            else:
                serving = asyncio.ensure_future(agent.serve(await _stdin_reader(), send))
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


async def _listen(path: Path, agent: Agent) -> None:
    """Serve one controller at a time on a Unix socket (owner and group only); another that
    attaches meanwhile is told so and let go."""
    attached = asyncio.Lock()

    async def controller(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(message: dict[str, Any]) -> None:
            if not writer.is_closing():
                writer.write((json.dumps(message, separators=(",", ":")) + "\n").encode())

        try:
            if attached.locked():
                send({"v": PROTOCOL, "id": None, "ok": False, "error": "another controller is attached to this agent"})
                return
            async with attached:
                await agent.serve(reader, send)
        finally:
            writer.close()

    path.unlink(missing_ok=True)  # a socket left by an agent that was killed
    server = await asyncio.start_unix_server(controller, path)
    path.chmod(0o660)
    async with server:
        await server.serve_forever()


async def _attach(path: Path) -> bool:
    """Join stdin and stdout to the agent service's socket, byte for byte, until either side ends."""
    try:
        reader, writer = await asyncio.open_unix_connection(path)
    except OSError as exc:
        raise UsageError(f"no rigtui agent listens on {path} ({exc.strerror or type(exc).__name__})") from None
    stdin = await _stdin_reader()
    out = sys.stdout.buffer

    async def upstream() -> None:
        while data := await stdin.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write_eof()

    async def downstream() -> None:
        while data := await reader.read(65536):
            out.write(data)
            out.flush()

    tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
    return True


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
