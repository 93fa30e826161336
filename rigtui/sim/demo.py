"""The demo's world: simulated cameras with something to see (someone is in one camera's menus, so
it refuses to record; one runs on a weak battery; two takes already on every card) and a simulated Pi
(the real Pi service on the synthetic backend, a day every half minute, reached without SSH).
Everything lives in this process and is gone when the demo ends."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from rigtui.gopro.protocol import Setting
from rigtui.pi.backends import SCRIPTS, SyntheticBackend
from rigtui.pi.export import ExportSettings
from rigtui.pi.night import NightSettings
from rigtui.pi.server import LineServer
from rigtui.pi.service import PiService, PiSettings
from rigtui.sim.rig import SimRig, SimRigOptions


@dataclass(frozen=True)
class DemoCamera:
    host: str
    port: int
    serial: str


@dataclass(frozen=True)
class DemoWorld:
    cameras: list[DemoCamera]
    pi_host: str
    pi_port: int


@asynccontextmanager
async def demo_world(cameras: int) -> AsyncIterator[DemoWorld]:
    sim = SimRig(SimRigOptions(cameras=cameras, port=0, mdns=False, base_address="127.0.1.1", throttle_mbps=20.0))
    await sim.start()
    try:
        # Someone is in camera 7's menus: it refuses commands (so it will not record) until an app
        # claims control; the status shows why. One camera runs on a weak battery. The table shows both.
        if cameras >= 7:
            in_menus = sim.server(7).camera
            in_menus.control_owner = 1
            in_menus.settings[Setting.AUTO_POWER_DOWN] = 0  # set to Never from its menus: nothing to change
        if cameras >= 10:
            weak = sim.server(10).camera
            weak.usb_power, weak.battery = False, 14.0
        # Two takes already on every card (camera 3 missed the second), for the download screen; shot
        # outside rigtui, so each file's time is its camera's (unsynced) clock. Each camera started
        # after its own latency, as on a real rig: the offload's sync audit measures it.
        now = time.time()
        for index, camera in enumerate(sim.cameras):
            for take, ago in enumerate((1800, 900)):
                if not (take == 1 and index == 2):
                    latency = camera.draw_latency()
                    started = now - ago + latency
                    await camera.add_recording(
                        duration=60,
                        cre=int(started + camera.clock_offset),
                        size=6_000_000,
                        start_wall=started,
                        latency=latency,
                    )
        service, server = await _start_pi()
        try:
            yield DemoWorld(
                [DemoCamera(s.host, s.port, s.camera.serial) for s in sim.servers], server.bind, server.port
            )
        finally:
            await server.close()
            await asyncio.to_thread(service.stop)
            shutil.rmtree(service.settings.export.folder.parent, ignore_errors=True)  # the demo's captures
    finally:
        await sim.stop()


async def _start_pi() -> tuple[PiService, LineServer]:
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
