"""`rigtui` and `rigtui demo`: the terminal app, on the real rig or on a simulated one. The only
module that imports rigtui.tui (when the app starts: headless commands never load Textual)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from rigtui.config import Config
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.errors import UsageError
from rigtui.ops.rig import rig_options
from rigtui.remote.pilink import PiEndpoint
from rigtui.userstate import UserState

DEMO_MAX_CAMERAS = 1000


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="open the TUI on an embedded simulated rig (no camera needed)",
        description="Open the TUI on simulated cameras running inside this process; ctrl+q quits.",
    )
    demo.add_argument("--cameras", type=int, default=12, metavar="N", help="number of cameras (default 12)")
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's folder (its shot log, ledger, session log, offloads) after it ends",
    )
    demo.set_defaults(run=run_demo)


def run_app(args: argparse.Namespace, config: Config) -> bool:
    """The app on the rig config.toml describes, or on the cameras named with --camera."""
    from rigtui.tui import make_app

    options = rig_options(config, cameras=args.camera, mdns_interfaces=args.mdns_interface, hold=True)
    make_app(config, options).run()
    return True


def run_demo(args: argparse.Namespace, config: Config) -> bool:
    if not 1 <= args.cameras <= DEMO_MAX_CAMERAS:
        raise UsageError(f"--cameras must be from 1 to {DEMO_MAX_CAMERAS}")
    from rigtui.sim.demo import demo_world
    from rigtui.tui import make_app

    # the demo's records stay apart from the real rig's: a folder of its own for its state, ledger,
    # shot log, session log and offloads, gone when it ends unless --keep
    folder = Path(tempfile.mkdtemp(prefix="rigtui-demo-"))
    demo_config = replace(config, offload=replace(config.offload, dest=str(folder / "footage")), pis=[])

    async def demo() -> None:
        async with demo_world(args.cameras) as world:
            cameras = [Endpoint(c.host, c.port, c.serial) for c in world.cameras]
            pi = PiEndpoint("pi-sim", world.pi_host, service_port=world.pi_port, direct=True)
            options = rig_options(demo_config, endpoints=cameras, hold=True)
            app = make_app(
                demo_config,
                options,
                state=UserState.load(folder / "state.toml"),
                log_dir=folder / "logs",
                ledger=Ledger(folder / "ledger.jsonl"),
                shotlog=ShotLog(folder),
                pis=[pi],
            )
            await app.run_async()

    try:
        asyncio.run(demo())
    finally:
        if args.keep:
            print(f"the demo's folder is kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return True
