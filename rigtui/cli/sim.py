"""`rigtui sim`: simulated GoPro cameras on loopback addresses, until interrupted. The simulator
(and its web server) loads only when this command runs."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rigtui.cli.common import stop_signal
from rigtui.config import Config
from rigtui.ops.errors import UsageError

if TYPE_CHECKING:
    from rigtui.sim.rig import SimRigOptions


def csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(commands: argparse._SubParsersAction) -> None:
    sim = commands.add_parser(
        "sim",
        help="run simulated GoPro cameras on loopback addresses",
        description="Run simulated GoPro cameras, each a real HTTP server on its own loopback address. "
        "Prints one JSON line per camera once all listen, then serves until interrupted.",
    )
    sim.add_argument("--cameras", type=int, metavar="N", help="number of cameras (config [sim] cameras)")
    sim.add_argument("--models", type=csv, metavar="LIST", help="models to cycle through, e.g. HERO10,HERO12")
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
    sim.add_argument("--hub-mbps", type=float, metavar="MBPS", help="download bandwidth the cameras of a hub share")
    sim.add_argument("--hub-size", type=int, metavar="K", help="cameras per USB hub (default 4: 1-4, 5-8, ...)")
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="[CAM:]KIND[=VALUE]",
        help="inject a fault (repeatable); CAM is an index from 1, a serial, or all. Kinds: see 'rigtui sim --faults'",
    )
    sim.add_argument("--faults", action="store_true", help="list the fault kinds and exit")
    sim.add_argument(
        "--collide",
        action="store_true",
        help="cameras 1 and 2 share their serial's last three digits: one address, camera 1 answers",
    )
    sim.add_argument(
        "--control-port", type=int, metavar="PORT", help="port of the control server on 127.0.0.1 (default: free)"
    )
    sim.add_argument(
        "--apd-minute", type=float, metavar="S", help="length of one Auto Power Down minute in seconds (default 60)"
    )
    sim.add_argument(
        "--keep-alive-timeout", type=float, metavar="S", help="seconds without a keep-alive before a camera may sleep"
    )
    sim.add_argument("--seed", type=int, help="seed for serials, batteries, clocks and file contents")
    sim.add_argument("--media-dir", type=Path, help="keep the cameras' SD cards in this folder (default: temporary)")
    sim.add_argument("--media-rate", type=int, metavar="KIB", help="KiB written to the card per recorded second")
    sim.add_argument("--chapter-seconds", type=float, metavar="S", help="split recordings into chapters every S s")
    sim.set_defaults(run=run_sim)


def sim_options(args: argparse.Namespace, config: Config) -> SimRigOptions:
    """config.toml's [sim], with the command line on top."""
    from rigtui.sim.camera import SimTuning
    from rigtui.sim.faults import FaultError, parse_fault_spec
    from rigtui.sim.rig import SimRigOptions

    cfg = config.sim
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
    no_mdns = frozenset(csv(args.no_mdns)) if args.no_mdns and args.no_mdns != "all" else frozenset()
    media_rate = cfg.media_rate_kib if args.media_rate is None else args.media_rate
    if media_rate < 1:
        raise UsageError("--media-rate must be at least 1 KiB")
    throttle = cfg.throttle_mbps if args.throttle is None else args.throttle
    hub_mbps = cfg.hub_mbps if args.hub_mbps is None else args.hub_mbps
    hub_size = cfg.hub_size if args.hub_size is None else args.hub_size
    if hub_size < 1:
        raise UsageError("--hub-size must be at least 1")
    chapter_seconds = cfg.chapter_seconds if args.chapter_seconds is None else args.chapter_seconds
    minute_s = cfg.apd_minute_s if args.apd_minute is None else args.apd_minute
    keep_alive_s = cfg.keep_alive_timeout_s if args.keep_alive_timeout is None else args.keep_alive_timeout
    if minute_s <= 0 or keep_alive_s <= 0:
        raise UsageError("--apd-minute and --keep-alive-timeout must be more than 0 seconds")
    return SimRigOptions(
        cameras=cfg.cameras if args.cameras is None else args.cameras,
        models=tuple(cfg.models if args.models is None else args.models),
        base_address=args.base_address or cfg.base_address,
        port=cfg.port if args.port is None else args.port,
        mdns=cfg.mdns and args.no_mdns != "all",
        no_mdns=no_mdns,
        mdns_interface=args.mdns_interface or cfg.mdns_interface,
        throttle_mbps=throttle or None,
        hub_mbps=hub_mbps or None,
        hub_size=hub_size,
        faults=faults,
        collide=args.collide,
        control_port=cfg.control_port if args.control_port is None else args.control_port,
        seed=cfg.seed if args.seed is None else args.seed,
        media_dir=args.media_dir,
        tuning=SimTuning(
            media_bytes_per_second=media_rate * 1024,
            chapter_seconds=chapter_seconds or None,
            minute_s=minute_s,
            keep_alive_timeout_s=keep_alive_s,
        ),
    )


def run_sim(args: argparse.Namespace, config: Config) -> bool:
    from rigtui.sim.faults import FAULT_KINDS
    from rigtui.sim.rig import SimError, SimRig

    if args.faults:
        for kind, (meaning, default) in FAULT_KINDS.items():
            value = "" if default is None else f" (={default:g})"
            print(f"{kind:16} {meaning}{value}")
        return True
    options = sim_options(args, config)
    if options.media_dir is not None:
        options.media_dir.mkdir(parents=True, exist_ok=True)

    async def serve() -> None:
        rig = SimRig(options)
        stopped = stop_signal()
        try:
            await rig.start()
            for line in rig.describe():
                print(json.dumps(line), flush=True)
            await stopped.wait()
        finally:
            await rig.stop()

    try:
        asyncio.run(serve())
    except SimError as exc:
        raise UsageError(str(exc)) from None
    return True
