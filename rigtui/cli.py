"""The `rigtui` command: parses arguments, loads config.toml once, runs one action.

Exit codes: 0 success, 1 some cameras failed, 2 usage or config errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rigtui import __version__, rig_commands
from rigtui.config import Config, ConfigError, load
from rigtui.paths import data_dir, state_dir
from rigtui.rig_commands import RigUsageError

if TYPE_CHECKING:
    from rigtui.pi.server import LineServer
    from rigtui.pi.service import PiService
    from rigtui.sim.rig import SimRigOptions

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command line that cannot be acted on; the message is one line for the user."""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


RIG_COMMANDS = {
    "status": "show every camera's state",
    "record": "start recording on every camera at once (after a readiness check)",
    "stop": "stop recording on every camera at once",
    "sync-time": "set every camera's clock to this computer's local time",
    "copy-settings": "copy the prime camera's settings to the others",
    "preset": "load a preset by id, title (e.g. cinematic) or group (video, photo, timelapse)",
    "power-off": "put cameras to sleep (over USB nothing wakes them: press their buttons)",
    "offload": "download every camera's footage into take folders, verified",
    "format": "erase SD cards whose every file is verified as offloaded",
}


def _global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rigtui",
        description="Run a multi-camera rig from a terminal. Without a command, rigtui opens its terminal app on "
        "the rig config.toml describes; `rigtui demo` opens it on simulated cameras.",
    )
    parser.add_argument("--version", action="version", version=f"rigtui {__version__}")
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in RIG_COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _global_options(sub, defaults=False)
        sub.add_argument(
            "--select",
            action="append",
            metavar="CAMERA",
            help="only this camera: serial, its last digits, or HOST:PORT (repeatable)",
        )
        if name == "record":
            sub.add_argument("--force", action="store_true", help="record even when the readiness check fails")
            sub.add_argument(
                "--check-settings",
                action="store_true",
                help="also require every camera's settings to equal the prime's",
            )
        if name in ("record", "copy-settings"):
            sub.add_argument("--from", dest="from_", metavar="SERIAL", help="the prime camera (default: [rig] prime)")
        if name == "preset":
            sub.add_argument("preset", metavar="ID|NAME")
        if name == "offload":
            sub.add_argument("dest", metavar="DEST", help="folder the take folders go in")
            sub.add_argument("--prefix", help="take folder prefix (default: [offload] prefix, 'take')")
            sub.add_argument("--no-sidecars", action="store_true", help="leave LRV proxies and THM thumbnails")
            sub.add_argument(
                "--layout",
                choices=("flat", "photogrammetry"),
                help="photo takes as <take>/rig/<camera index>/<frame>.JPG with photogrammetry",
            )
        if name == "format":
            sub.add_argument("--yes", action="store_true", help="answer the 'erase?' question (never the gate)")
            sub.add_argument(
                "--force", action="store_true", help="erase unverified footage too, after typing the number of cameras"
            )

    demo = commands.add_parser(
        "demo",
        help="open the TUI on an embedded simulated rig (no camera needed)",
        description="Open the TUI on simulated cameras running inside this process; ctrl+q quits.",
    )
    demo.add_argument("--cameras", type=int, default=12, metavar="N", help="number of cameras (default 12)")

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
    for name, text in (
        ("status", "a Pi service's state, over SSH"),
        ("save", "save a frame on a Pi now"),
        ("pull", "copy a Pi's captures here over SSH (SFTP), verified, resumable"),
    ):
        sub = pi_commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("name", metavar="NAME|HOST", help="a [[pis]] name from config.toml, or an SSH host")
        if name == "status":
            sub.add_argument("--json", action="store_true", help="the service's JSON status")
        if name == "save":
            sub.add_argument("formats", nargs="*", metavar="FMT", help="jpg, png, npy (default: the Pi's [pi] formats)")
        if name == "pull":
            sub.add_argument("dest", metavar="DEST", help="local folder")
            sub.add_argument("--bwlimit", type=float, metavar="KBPS", help="bandwidth limit, KB/s")

    sim = commands.add_parser(
        "sim",
        help="run simulated GoPro cameras on loopback addresses",
        description="Run simulated GoPro cameras, each a real HTTP server on its own loopback address. "
        "Prints one JSON line per camera once all listen, then serves until interrupted.",
    )
    sim.add_argument("--cameras", type=int, metavar="N", help="number of cameras (config [sim] cameras)")
    sim.add_argument("--models", type=_csv, metavar="LIST", help="models to cycle through, e.g. HERO10,HERO12")
    sim.add_argument("--base-address", metavar="IP", help="first camera's address (default 127.0.1.1)")
    sim.add_argument("--port", type=int, help="port of every camera (default 8080; 0 picks free ports)")
    sim.add_argument(
        "--no-mdns",
        nargs="?",
        const="all",
        metavar="LIST",
        help="advertise no camera over mDNS, or not the listed ones (indexes from 1, or serials)",
    )
    sim.add_argument("--mdns-interface", metavar="IP", help="interface for mDNS adverts (default 127.0.0.1)")
    sim.add_argument("--throttle", type=float, metavar="MBPS", help="download bandwidth per camera, MB/s")
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="[CAM:]KIND[=VALUE]",
        help="inject a fault (repeatable); CAM is an index from 1, a serial, or all. Kinds: see 'rigtui sim --faults'",
    )
    sim.add_argument("--faults", action="store_true", help="list the fault kinds and exit")
    sim.add_argument("--collide", action="store_true", help="cameras 1 and 2 share their serial's last three digits")
    sim.add_argument("--seed", type=int, help="seed for serials, batteries, clocks and file contents")
    sim.add_argument("--media-dir", type=Path, help="keep the cameras' SD cards in this folder (default: temporary)")
    sim.add_argument("--media-rate", type=int, metavar="KIB", help="KiB written to the card per recorded second")
    sim.add_argument("--chapter-seconds", type=float, metavar="S", help="split recordings into chapters every S s")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tui = args.command in (None, "demo")
    level = logging.DEBUG if args.verbose else logging.WARNING
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if tui:  # the TUI owns the terminal: log lines go to a file
        state_dir().mkdir(parents=True, exist_ok=True)
        logging.basicConfig(level=level, filename=state_dir() / "rigtui.log", format=log_format)
    else:
        logging.basicConfig(level=level, stream=sys.stderr, format=log_format)
    try:
        config = load(args.config)
        if tui:
            return run_tui(args, config)
        if args.command == "sim":
            return run_sim(args, config)
        if args.command == "pi":
            return run_pi(args, config)
        if args.command in RIG_COMMANDS:
            return rig_commands.run(args, config, rig_commands.command_for(args, config))
    except (ConfigError, UsageError, RigUsageError) as exc:
        print(f"rigtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


# -- TUI -------------------------------------------------------------------------------------------
def run_tui(args: argparse.Namespace, config: Config) -> int:
    """`rigtui` opens the TUI on the real rig; `rigtui demo` on an embedded simulated one."""
    from rigtui.gopro.discovery import DiscoveryError, Endpoint
    from rigtui.tui import make_app

    if args.command != "demo":
        try:
            endpoints = [Endpoint.parse(text) for text in args.camera]
        except DiscoveryError as exc:
            raise UsageError(str(exc)) from None
        app = make_app(config, endpoints=endpoints, discover=not endpoints, mdns_interfaces=args.mdns_interface)
        app.run()
        return EXIT_OK
    asyncio.run(run_demo(args.cameras, config))
    return EXIT_OK


async def run_demo(cameras: int, config: Config) -> None:
    from rigtui.gopro.discovery import Endpoint
    from rigtui.remote.pilink import PiEndpoint
    from rigtui.sim.faults import FaultSpec
    from rigtui.sim.rig import SimRig, SimRigOptions
    from rigtui.tui import make_app
    from rigtui.userstate import UserState

    if not 1 <= cameras <= 1000:
        raise UsageError("--cameras must be from 1 to 1000")
    # One camera refuses to start recording, one runs on a weak battery: the table shows both.
    faults = [FaultSpec("7", "shutter-500", None)] if cameras >= 7 else []
    sim = SimRig(
        SimRigOptions(cameras=cameras, port=0, mdns=False, faults=faults, base_address="127.0.1.1", throttle_mbps=20.0)
    )
    await sim.start()
    try:
        if cameras >= 10:
            weak = sim.server(10).camera
            weak.usb_power, weak.battery = False, 14.0
        # Two takes already on every card (camera 3 missed the second), for the download screen.
        now = int(time.time() + time.localtime().tm_gmtoff)
        for index, camera in enumerate(sim.cameras):
            for take, ago in enumerate((1800, 900)):
                if not (take == 1 and index == 2):
                    await camera.add_recording(duration=60, cre=now - ago + index % 2, size=6_000_000)
        endpoints = [Endpoint(s.host, s.port, s.camera.serial) for s in sim.servers]
        state = UserState.load(data_dir() / "demo-state.toml")
        pi_service, pi_server = await start_demo_pi()
        try:
            pi = PiEndpoint("pi-sim", "127.0.0.1", service_port=pi_server.port, direct=True)
            await make_app(config, endpoints=endpoints, discover=False, state=state, pis=[pi]).run_async()
        finally:
            await stop_demo_pi(pi_service, pi_server)
    finally:
        await sim.stop()


async def start_demo_pi() -> tuple[PiService, LineServer]:
    """The demo's Pi: the real service on the synthetic backend, a day every half minute, no SSH."""
    import tempfile

    from rigtui.pi.backends import SCRIPTS, SyntheticBackend
    from rigtui.pi.export import ExportSettings
    from rigtui.pi.night import NightSettings
    from rigtui.pi.server import LineServer
    from rigtui.pi.service import PiService, PiSettings

    folder = Path(tempfile.mkdtemp(prefix="rigtui-demo-pi-")) / "captures"
    settings = PiSettings(
        ring_frames=100,
        night=NightSettings(min_dark_frames=10, min_bright_frames=10),
        export=ExportSettings(folder=folder, min_free_mb=0),
        auto_save_interval_s=30,
    )
    service = PiService(settings, SyntheticBackend(160, 120, 10.0, SCRIPTS["demo"]))
    service.start()
    server = LineServer(service, "127.0.0.1", 0)
    await server.start()
    return service, server


async def stop_demo_pi(service: PiService, server: LineServer) -> None:
    await server.close()
    await asyncio.to_thread(service.stop)
    shutil.rmtree(service.settings.export.folder.parent, ignore_errors=True)  # the demo's captures


# -- pi --------------------------------------------------------------------------------------------
def run_pi(args: argparse.Namespace, config: Config) -> int:
    if args.pi_command != "serve":
        from rigtui.pi_commands import run_pi_remote

        return run_pi_remote(args, config)
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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
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
            await stop.wait()
        finally:
            await server.close()

    try:
        asyncio.run(serve())
    finally:
        service.stop()
    return EXIT_OK


# -- sim -------------------------------------------------------------------------------------------
def sim_options(args: argparse.Namespace, config: Config) -> SimRigOptions:
    from rigtui.sim.camera import SimTuning
    from rigtui.sim.faults import FaultError, parse_fault_spec
    from rigtui.sim.rig import SimRigOptions

    cfg = config.sim

    def pick(value: object, default: object) -> object:
        return default if value is None else value

    faults = []
    for text in cfg.faults:
        try:
            faults.append(parse_fault_spec(text))
        except FaultError as exc:
            raise config.error("sim", "faults", str(exc)) from None
    for text in args.fault:
        try:
            faults.append(parse_fault_spec(text))
        except FaultError as exc:
            raise UsageError(f"--fault {text}: {exc}") from None
    no_mdns = frozenset(_csv(args.no_mdns)) if args.no_mdns and args.no_mdns != "all" else frozenset()
    throttle = float(pick(args.throttle, cfg.throttle_mbps))  # type: ignore[arg-type]
    chapter_seconds = float(pick(args.chapter_seconds, cfg.chapter_seconds))  # type: ignore[arg-type]
    media_rate = int(pick(args.media_rate, cfg.media_rate_kib))  # type: ignore[call-overload]
    if media_rate < 1:
        raise UsageError("--media-rate must be at least 1 KiB")
    return SimRigOptions(
        cameras=int(pick(args.cameras, cfg.cameras)),  # type: ignore[call-overload]
        models=tuple(pick(args.models, cfg.models)),  # type: ignore[call-overload]
        base_address=str(pick(args.base_address, cfg.base_address)),
        port=int(pick(args.port, cfg.port)),  # type: ignore[call-overload]
        mdns=cfg.mdns and args.no_mdns != "all",
        no_mdns=no_mdns,
        mdns_interface=str(pick(args.mdns_interface, cfg.mdns_interface)),
        throttle_mbps=throttle or None,
        faults=faults,
        collide=args.collide,
        seed=int(pick(args.seed, cfg.seed)),  # type: ignore[call-overload]
        media_dir=args.media_dir,
        tuning=SimTuning(media_bytes_per_second=media_rate * 1024, chapter_seconds=chapter_seconds or None),
    )


def run_sim(args: argparse.Namespace, config: Config) -> int:
    from rigtui.sim.faults import FAULT_KINDS
    from rigtui.sim.rig import SimError, SimRig

    if args.faults:
        for kind, (meaning, default) in FAULT_KINDS.items():
            value = "" if default is None else f" (={default:g})"
            print(f"{kind:16} {meaning}{value}")
        return EXIT_OK
    options = sim_options(args, config)
    if options.media_dir is not None:
        options.media_dir.mkdir(parents=True, exist_ok=True)

    async def serve() -> None:
        rig = SimRig(options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await rig.start()
            for line in rig.describe():
                print(json.dumps(line), flush=True)
            await stop.wait()
        finally:
            await rig.stop()

    try:
        asyncio.run(serve())
    except SimError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK
