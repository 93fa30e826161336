"""A simulated rig: N cameras, each a real HTTP server on its own loopback address, on USB hubs of
`hub_size` cameras, and one control server reaching every camera's `/_sim/` (control.py)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rigtui.gopro.protocol import DEFAULT_PORT, MODEL_INFO, MODELS
from rigtui.sim.camera import SimCamera, SimTuning
from rigtui.sim.control import ControlServer
from rigtui.sim.faults import FaultSpec
from rigtui.sim.mdns import Advertiser
from rigtui.sim.server import CameraServer, Hub

log = logging.getLogger(__name__)


class SimError(RuntimeError):
    """The simulated rig cannot start as asked."""


@dataclass
class SimRigOptions:
    cameras: int = 4
    models: tuple[str, ...] = MODELS  # cycled over the cameras
    base_address: str = "127.0.1.1"
    port: int = DEFAULT_PORT  # 0: any free port
    mdns: bool = True
    no_mdns: frozenset[str] = frozenset()  # camera indexes (1-based) or serials left out of mDNS
    mdns_interface: str = "127.0.0.1"
    throttle_mbps: float | None = None
    hub_mbps: float | None = None  # download bandwidth each hub's cameras share
    hub_size: int = 4  # cameras per USB hub: 1-4 on hub 1, 5-8 on hub 2, ...
    faults: list[FaultSpec] = field(default_factory=list)
    collide: bool = False  # cameras 1 and 2 share their serial's last three digits (camera 1 answers)
    control_host: str = "127.0.0.1"
    control_port: int = 0  # the control server's port (0: a free one)
    seed: int = 1
    media_dir: Path | None = None  # default: a temporary folder removed on stop
    tuning: SimTuning = field(default_factory=SimTuning)


def make_serial(model: str, rng: random.Random) -> str:
    return MODEL_INFO[model].serial_prefix + f"{rng.randrange(10**9):09d}"


def camera_host(base: str, index: int) -> str:
    """The index-th loopback address from base, skipping .0 and .255 in the last octet."""
    start = int(ipaddress.IPv4Address(base))
    host = ipaddress.IPv4Address(start + index + 2 * ((start % 256 - 1 + index) // 254))
    if host not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise SimError(f"camera address {host} is outside 127.0.0.0/8")
    return str(host)


class SimRig:
    def __init__(self, options: SimRigOptions | None = None) -> None:
        self.options = options or SimRigOptions()
        opts = self.options
        if opts.cameras < 1:
            raise SimError("a rig needs at least one camera")
        if opts.hub_size < 1:
            raise SimError("a hub holds at least one camera")
        unknown = [m for m in opts.models if m not in MODEL_INFO]
        if unknown:
            raise SimError(f"unknown model {unknown[0]!r} (known: {', '.join(MODELS)})")
        self.servers: list[CameraServer] = []
        self.control = ControlServer(self.server, self.describe, opts.control_host, opts.control_port)
        self._tmp: Path | None = None
        self._advertiser: Advertiser | None = None
        self.mdns_task: asyncio.Task[None] | None = None

    @property
    def cameras(self) -> list[SimCamera]:
        return [s.camera for s in self.servers]

    def server(self, key: str | int) -> CameraServer:
        """A camera's server (shadowed or not) by serial or 1-based index."""
        for index, server in enumerate(self.servers, 1):
            if key in (server.camera.serial, index, str(index)):
                return server
        raise KeyError(key)

    def _build(self, root: Path) -> None:
        opts = self.options
        rng = random.Random(opts.seed)
        serials: list[str] = []
        hubs: dict[int, Hub] = {}
        for index in range(opts.cameras):
            model = opts.models[index % len(opts.models)]
            serial = make_serial(model, rng)
            while serial in serials or (not (opts.collide and index == 1) and serial[-3:] in {s[-3:] for s in serials}):
                serial = make_serial(model, rng)
            if opts.collide and index == 1:
                serial = serial[:-3] + serials[0][-3:]
            serials.append(serial)
            camera = SimCamera(
                serial,
                model,
                root / serial,
                seed=opts.seed * 100_003 + index,
                tuning=opts.tuning,
                usb_power=index % 5 != 4,
            )
            number = index // opts.hub_size + 1
            hub = hubs.setdefault(number, Hub(number, opts.hub_mbps))
            # On USB both colliding cameras take one address and only one answers there: camera 2 gets
            # no server of its own (its card, its faults and its `/_sim/` control still exist).
            shadowed_by = serials[0] if opts.collide and index == 1 else None
            host = camera_host(opts.base_address, 0 if shadowed_by else index)
            self.servers.append(
                CameraServer(
                    camera, host, opts.port, throttle_mbps=opts.throttle_mbps, hub=hub, shadowed_by=shadowed_by
                )
            )

    async def start(self) -> None:
        opts = self.options
        if opts.media_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="rigtui-sim-"))
        root = opts.media_dir or self._tmp
        assert root is not None
        self._build(root)
        try:
            await self._start_servers()
            await self._start_control()
        except BaseException:
            await self.stop()
            raise
        for index, server in enumerate(self.servers, 1):
            for fault in opts.faults:
                if fault.applies_to(index, server.camera.serial):
                    server.set_fault(fault.kind, fault.value)
        advertised = [
            (s.camera.serial, s.host, s.port)
            for i, s in enumerate(self.servers, 1)
            if opts.mdns and not ({str(i), s.camera.serial} & opts.no_mdns)
        ]
        if advertised:
            self._advertiser = Advertiser(opts.mdns_interface)
            self.mdns_task = asyncio.create_task(self._advertiser.register(advertised))

    async def _start_servers(self) -> None:
        first = self.servers[0]
        try:
            await first.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SimError(
                    f"{first.host}:{first.port} is already in use (another simulator?); "
                    "choose another --base-address or --port 0"
                ) from None
            if exc.errno != errno.EADDRNOTAVAIL:
                raise SimError(f"cannot listen on {first.host}:{first.port}: {exc.strerror}") from None
            # This OS routes only 127.0.0.1: give every camera its own port there instead.
            log.warning("cannot bind %s; using 127.0.0.1 with one port per camera", first.host)
            for index, server in enumerate(self.servers):
                server.host = "127.0.0.1"
                server.port = self.options.port + index if self.options.port else 0
            await first.start()
        results = await asyncio.gather(*(s.start() for s in self.servers[1:]), return_exceptions=True)
        for server, result in zip(self.servers[1:], results, strict=True):
            if isinstance(result, OSError):
                raise SimError(f"cannot listen on {server.host}:{server.port}: {result.strerror}")
            if isinstance(result, BaseException):
                raise result
        for server in self.servers:
            if server.shadowed_by:
                answering = self.server(server.shadowed_by)
                server.host, server.port = answering.host, answering.port

    async def _start_control(self) -> None:
        try:
            await self.control.start()
        except OSError as exc:
            raise SimError(f"control server: cannot listen on {self.control.url}: {exc.strerror}") from None

    async def stop(self) -> None:
        if self.mdns_task is not None:
            self.mdns_task.cancel()
            await asyncio.gather(self.mdns_task, return_exceptions=True)
        if self._advertiser is not None:
            await self._advertiser.close()
        await asyncio.gather(self.control.stop(), *(s.stop() for s in self.servers), return_exceptions=True)
        if self._tmp is not None:
            await asyncio.to_thread(shutil.rmtree, self._tmp, True)
            self._tmp = None

    async def wait_mdns(self) -> None:
        """Wait until every advert is announced."""
        if self.mdns_task is not None:
            await self.mdns_task

    def describe(self) -> list[dict[str, object]]:
        """One line per camera: who it is, where it answers (or who answers there for it), its hub
        and the control server that reaches it even asleep."""
        lines = []
        for server in self.servers:
            camera = server.camera
            line: dict[str, object] = {
                "serial": camera.serial,
                "model": camera.model,
                "host": server.host,
                "port": server.port,
                "hub": server.hub.number,
            }
            shadowed = [s.camera.serial for s in self.servers if s.shadowed_by == camera.serial]
            if server.shadowed_by:
                line["shadowed_by"] = server.shadowed_by
            elif shadowed:
                line["shadows"] = shadowed
            line["control"] = self.control.url
            lines.append(line)
        return lines

    async def __aenter__(self) -> SimRig:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
