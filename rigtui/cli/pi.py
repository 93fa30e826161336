"""`rigtui pi serve` (on a Pi) and `rigtui pi status | save | pull` (from the operator's machine,
over SSH)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from rigtui.cli.common import describe, emit_json, print_lines, stop_signal
from rigtui.config import Config
from rigtui.ops.errors import UsageError
from rigtui.ops.pi import find_pi, pi_link, pull, pull_lines, save
from rigtui.pi.status import PiStatus
from rigtui.remote.pilink import PiError, PiLink

REMOTE = {
    "status": "a Pi service's state, over SSH",
    "save": "save a frame on a Pi now",
    "pull": "copy a Pi's captures here over SSH (SFTP), verified, resumable",
}


def register(commands: argparse._SubParsersAction) -> None:
    pi = commands.add_parser("pi", help="the Raspberry Pi camera service", description="The Pi camera service.")
    pi_commands = pi.add_subparsers(dest="pi_command", metavar="PI_COMMAND", required=True)
    serve = pi_commands.add_parser(
        "serve",
        help="run the camera service (on the Pi)",
        description="Capture into a ring buffer, switch night mode, save on triggers, answer the line protocol "
        "(echo 'save jpg' | nc 127.0.0.1 9999). Uses the [pi] section of config.toml.",
    )
    serve.add_argument("--backend", choices=("picamera2", "opencv", "synthetic"), help="camera (default: [pi])")
    serve.add_argument("--source", help="OpenCV camera index or video file")
    serve.add_argument("--script", choices=("cycle", "day", "night", "flicker"), help="synthetic scene script")
    serve.add_argument("--bind", metavar="ADDRESS", help="listen address (default 127.0.0.1: reach it over SSH)")
    serve.add_argument("--port", type=int, help="listen port (default 9999; 0: any free port)")
    serve.set_defaults(run=run_serve)
    for name, text in REMOTE.items():
        sub = pi_commands.add_parser(name, help=text, description=describe(text))
        sub.add_argument("name", metavar="NAME|HOST", help="a [[pis]] name from config.toml, or an SSH host")
        if name == "status":
            sub.add_argument("--json", action="store_true", help="the service's JSON status")
        if name == "save":
            sub.add_argument("formats", nargs="*", metavar="FMT", help="jpg, png, npy (default: the Pi's [pi] formats)")
        if name == "pull":
            sub.add_argument("dest", metavar="DEST", help="local folder")
            sub.add_argument("--bwlimit", type=float, metavar="KBPS", help="bandwidth limit, KB/s")
        sub.set_defaults(run=run_remote)


# -- on the operator's machine --------------------------------------------------------------------
def run_remote(args: argparse.Namespace, config: Config) -> bool:
    async def main() -> bool:
        link = pi_link(config, find_pi(config, args.name))
        try:
            return await {"status": show_status, "save": save_now, "pull": pull_captures}[args.pi_command](link, args)
        except PiError as exc:
            print(f"rigtui: {exc}", file=sys.stderr)
            return False
        finally:
            await link.close()

    return asyncio.run(main())


async def show_status(link: PiLink, args: argparse.Namespace) -> bool:
    status = await link.fetch_status()
    if args.json:
        emit_json(status.to_json())
    else:
        print(status_line(args.name, status))
    return True


async def save_now(link: PiLink, args: argparse.Namespace) -> bool:
    report = await save(link, args.formats)
    print(report.reply)
    return report.ok


async def pull_captures(link: PiLink, args: argparse.Namespace) -> bool:
    def progress(done: int, total: int) -> None:
        print(f"\r{done / 1e6:8.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr)

    report = await pull(link, Path(args.dest), bwlimit_kbps=args.bwlimit or 0.0, progress=progress)
    print(file=sys.stderr)
    print_lines(pull_lines(report))
    return not report.failed


def status_line(name: str, status: PiStatus) -> str:
    ring, last = status.ring, status.last_save
    return (
        f"{name}: {'NIGHT' if status.night else 'DAY'} level {status.level} "
        f"(dark {status.dark_threshold}, bright {status.bright_threshold}); "
        f"ring {ring.frames}/{ring.capacity} frames, {ring.seconds} s; "
        f"{status.fps} fps; exposure {status.exposure_us} us gain {status.gain}; "
        f"last save {last.paths[0] if last and last.paths else 'none'}; "
        f"disk free {status.disk_free_mb} MB; {status.backend}"
    )


# -- on the Pi ------------------------------------------------------------------------------------
def run_serve(args: argparse.Namespace, config: Config) -> bool:
    """The camera service until SIGINT or SIGTERM (camera libraries load only here)."""
    from rigtui.pi.backends import BackendError, make_backend
    from rigtui.pi.server import LineServer
    from rigtui.pi.service import PiService, settings_from_config

    cfg = config.pi
    try:
        backend = make_backend(
            args.backend or cfg.backend,
            width=cfg.width,
            height=cfg.height,
            fps=cfg.fps,
            source=args.source or cfg.source,
            script=args.script or cfg.synthetic_script,
        )
        service = PiService(settings_from_config(cfg), backend)
        service.start()
    except (BackendError, ValueError) as exc:
        raise UsageError(str(exc)) from None

    async def serve() -> None:
        server = LineServer(service, args.bind or cfg.bind, cfg.port if args.port is None else args.port)
        stopped = stop_signal()
        try:
            await server.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {server.bind}:{server.port}: {exc.strerror}") from None
        print(
            f"rigtui pi: {backend.name} {backend.width}x{backend.height} at {backend.fps:g} fps, "
            f"ring {service.ring.capacity} frames; listening on {server.bind}:{server.port}",
            file=sys.stderr,
            flush=True,
        )
        try:
            await stopped.wait()
        finally:
            await server.close()

    try:
        asyncio.run(serve())
    finally:
        service.stop()
    return True
