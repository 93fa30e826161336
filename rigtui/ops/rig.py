"""Bringing the rig up, keeping it found, and its status: the one place that decides where cameras
are looked for, which found cameras count, and what the discovery cache remembers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from rigtui.config import Config
from rigtui.gopro.discovery import DiscoveryError, Endpoint, MdnsBrowser, discover, merge, save_cache, scan_usb
from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import Status
from rigtui.gopro.rig import KEEP_ALIVE_S, CameraEvent, CameraLink, Outcome, Rig, RigSettings
from rigtui.gopro.shotlog import ShotLog
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.clock import clock_warning
from rigtui.ops.condition import has_condition
from rigtui.ops.errors import NothingFound, UsageError
from rigtui.ops.report import Line
from rigtui.ops.shutter import settings_problems

logger = logging.getLogger(__name__)
USB_SCAN_S = 2.0  # a camera plugged in late is found within this (plus its bring-up)


@dataclass(frozen=True)
class RigOptions:
    settings: RigSettings
    named: tuple[Endpoint, ...] = ()  # cameras named by the operator
    discovers: bool = True  # also look for cameras (off when the operator names them)
    static: tuple[Endpoint, ...] = ()  # [rig] cameras
    mdns_interfaces: tuple[str, ...] | None = ()  # None: no mDNS; (): every interface
    usb: bool = True
    cache: bool = True
    discovery_seconds: float = 4.0


def rig_settings(config: Config, *, hold: bool = False) -> RigSettings:
    """[rig] as the rig's settings. `hold`: a long session (the app, an offload, a format) during
    which, with `[rig] auto_power_down = "never"`, cameras never power down by themselves."""
    cfg = config.rig
    return RigSettings(
        keep_awake=hold and cfg.auto_power_down == "never",
        poll_interval_s=1 / cfg.poll_hz,
        request_timeout_s=cfg.request_timeout_s,
        download_read_timeout_s=config.offload.read_timeout_s,
        min_battery_percent=cfg.min_battery_percent,
        min_sd_minutes=cfg.min_sd_minutes,
        clock_tolerance_s=config.offload.tolerance_s,
    )


def parse_endpoints(texts: Iterable[str]) -> tuple[Endpoint, ...]:
    try:
        return tuple(Endpoint.parse(text) for text in texts)
    except DiscoveryError as exc:
        raise UsageError(str(exc)) from None


def configured_cameras(config: Config) -> tuple[Endpoint, ...]:
    try:
        return tuple(Endpoint.parse(text) for text in config.rig.cameras)
    except DiscoveryError as exc:
        raise config.error("rig", "cameras", str(exc)) from None


def rig_options(
    config: Config,
    *,
    cameras: Iterable[str] = (),
    endpoints: Iterable[Endpoint] = (),
    mdns_interfaces: Iterable[str] = (),
    discover: bool | None = None,
    hold: bool = False,
) -> RigOptions:
    """config.toml's [rig], with the cameras the operator named (`--camera`, or endpoints already
    known, serial included) and `--mdns-interface` on top. Naming cameras skips discovery unless
    `discover` says otherwise."""
    cfg = config.rig
    interfaces = tuple(mdns_interfaces) or tuple(cfg.mdns_interfaces)
    named = parse_endpoints(cameras) + tuple(endpoints)
    return RigOptions(
        settings=rig_settings(config, hold=hold),
        named=named,
        discovers=not named if discover is None else discover,
        static=configured_cameras(config),
        mdns_interfaces=interfaces if cfg.mdns else None,
        usb=cfg.usb_scan,
        cache=True,
        discovery_seconds=cfg.discovery_seconds,
    )


class RigSession:
    """A rig and how its cameras are found and kept. Headless commands `open()` it once (waiting a
    few seconds for mDNS); the TUI `follow()`s it, bringing up what is known at once and cameras
    that appear later (mDNS adverts, new USB links) as they come. Either way every camera it holds
    gets a keep-alive every few seconds (asleep, a camera on USB cannot be woken), and what cameras
    do unasked (stop, go away, come back, change hands) becomes a line for the operator and a note
    in the open take."""

    def __init__(
        self,
        options: RigOptions,
        on_event: Callable[[Line], None] | None = None,
        *,
        log: ShotLog | None = None,
        prime: Callable[[], str] | None = None,
    ) -> None:
        self.options = options
        self.rig = Rig(options.settings)
        self.rig.on_event = self._camera_event
        self.on_event = on_event or (lambda event: logger.warning("%s", event.text) if event.problem else None)
        self.log, self.prime = log, prime
        self.advertised: dict[str, str] = {}  # serial -> address, as discovery (mDNS, cache) said
        self._browser: MdnsBrowser | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    async def open(self) -> None:
        """Find every camera findable now (waiting a few seconds for mDNS answers), bring them all up."""
        await self.bring_up(await self._findable(self._interfaces()))
        if not self.rig.links:
            raise NothingFound("no cameras found (check USB, or name them with --camera HOST[:PORT])")
        self._spawn(self._keep_alive())

    async def follow(self) -> None:
        """Bring up the cameras known now, then keep listening for cameras announced over mDNS."""
        await self.bring_up(await self._findable(None))
        self._spawn(self._keep_alive())
        if not self.options.discovers:
            return
        if self.options.usb:
            self._spawn(self._scan_usb())
        interfaces = self._interfaces()
        if interfaces is not None:
            self._browser = MdnsBrowser(interfaces, self._announced, self._departed)
            await self._browser.start()

    async def _findable(self, mdns_interfaces: list[str] | None) -> list[Endpoint]:
        if not self.options.discovers:
            return list(self.options.named)
        return await discover(
            static=self.options.named + self.options.static,
            mdns_interfaces=mdns_interfaces,
            usb=self.options.usb,
            cache=self.options.cache,
            timeout_s=self.options.discovery_seconds,
        )

    def _interfaces(self) -> list[str] | None:
        return None if self.options.mdns_interfaces is None else list(self.options.mdns_interfaces)

    def _announced(self, endpoint: Endpoint) -> None:
        if endpoint.address in self.rig.links:
            self._remember([endpoint])
            self._find_clashes()
            return
        self._spawn(self.bring_up([endpoint]))

    def _spawn(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scan_usb(self) -> None:
        """New USB network links, as a camera is plugged in (HERO13 firmware without mDNS too)."""
        while True:
            await asyncio.sleep(USB_SCAN_S)
            found = [e for e in await asyncio.to_thread(scan_usb) if e.address not in self.rig.links]
            if found:
                await self.bring_up(found)

    async def _keep_alive(self) -> None:
        """Every camera held, every few seconds, whatever else runs: asleep, over USB, it is lost."""
        while True:
            await asyncio.gather(*(self._keep(link) for link in self.rig.cameras() if link.online))
            await asyncio.sleep(KEEP_ALIVE_S)

    async def _keep(self, link: CameraLink) -> None:
        with contextlib.suppress(CameraError, TimeoutError):  # the poller and the actions see a dead link
            await asyncio.wait_for(link.keep_alive(), self.options.settings.request_timeout_s)

    def _departed(self, serial: str) -> None:
        self.on_event(Line(f"{serial}: no longer advertised over mDNS"))

    async def bring_up(self, endpoints: list[Endpoint]) -> list[Outcome]:
        """Bring cameras up; a cached camera that does not answer is dropped (the cache is a hint,
        not a camera); clashing serials are named; the cache remembers the cameras that answered."""
        self._remember(endpoints)
        new = [endpoint for endpoint in merge(endpoints) if endpoint.address not in self.rig.links]
        outcomes = await self.rig.add(new)  # one outcome per new camera, in order
        self._find_clashes()
        for endpoint, outcome in zip(new, outcomes, strict=True):
            link = self.rig.links[endpoint.address]
            if endpoint.source == "cache" and not link.online:
                await self.rig.remove(link)  # a hint that did not answer is no camera
                self.on_event(Line(f"{outcome.key}: cached camera did not answer; dropped"))
                continue
            detail = f"connected, {outcome.detail}" if outcome.ok else outcome.detail
            self.on_event(Line(f"{outcome.key}: {detail}", problem=not outcome.ok))
        for line in self.rig.collisions():
            self.on_event(Line(f"warning: {line}", problem=True))
        if self.options.discovers and self.options.cache:
            save_cache(
                Endpoint(link.endpoint.host, link.endpoint.port, link.serial)
                for link in self.rig.cameras()
                if link.online
            )
        return outcomes

    def select(self, selection: Iterable[str] | None) -> list[str] | None:
        """The operator's `--select`, checked: every name must match a camera."""
        wanted = [w for w in selection or [] if w]
        missing = self.rig.unmatched(wanted)
        if missing:
            raise UsageError(f"no camera matches {', '.join(missing)}")
        return wanted or None

    # -- what cameras do unasked --------------------------------------------------------------------
    def _camera_event(self, event: CameraEvent) -> None:
        self.on_event(Line(f"{event.key} {_clock(event.at)}: {event.text}", event.problem))
        if self.log is not None:
            self._spawn(asyncio.to_thread(self._note, event))
        if event.kind == "back":
            self._spawn(self._check_settings(event.key))

    def _note(self, event: CameraEvent) -> None:
        """The event in every open take the camera is part of."""
        assert self.log is not None
        with contextlib.suppress(OSError):
            for take, before in self.log.open_takes():
                if event.key in before:
                    self.log.note(
                        take.id, event.key, f"{event.text} at {time.strftime('%H:%M:%S', time.localtime(event.at))}"
                    )

    async def _check_settings(self, key: str) -> None:
        """A camera that comes back may have rebooted with its settings reset: compare them with the
        prime's and flag what differs."""
        prime = self.prime() if self.prime else ""
        try:
            found = settings_problems(self.rig, prime, [self.rig.find(key)]) if prime else []
        except CameraError:
            return
        if found:
            link = self.rig.find(key)
            link.last_error = f"settings differ from the prime since it came back ({len(found)})"
            for line in found:
                self.on_event(Line(f"{line} (since it came back)", True))

    # -- clashes ------------------------------------------------------------------------------------
    def _remember(self, endpoints: Iterable[Endpoint]) -> None:
        for endpoint in endpoints:
            if endpoint.serial and endpoint.source in ("mdns", "cache"):
                self.advertised[endpoint.serial] = endpoint.address

    def _find_clashes(self) -> None:
        """Two serials behind one address (their last three digits make it): only one camera answers
        there. Which one its AP SSID (status 30, "GP" and 8 serial digits) or its own serial tells."""
        for link in self.rig.cameras():
            serials = {s for s, address in self.advertised.items() if address == link.endpoint.address}
            if link.serial:
                serials.add(link.serial)
            if len(serials) < 2:
                link.clash = None
                continue
            ssid = link.state.status.get(Status.AP_SSID) if link.state else None
            answering = next(
                (s for s in sorted(serials) if isinstance(ssid, str) and ssid[2:] and s.endswith(ssid[2:])), None
            )
            answering = answering or link.serial or sorted(serials)[0]
            link.serial = answering
            others = ", ".join(sorted(serials - {answering}))
            link.clash = (
                f"{answering} and {others} share {link.endpoint.host} (the same last three digits): only {answering} "
                f"can be reached from this host; move {others} to another host PC"
            )
            self.on_event(Line(f"clash: {link.clash}", True))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
        await self.rig.close()


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


@dataclass(frozen=True)
class StatusReport:
    snapshots: list[CameraSnapshot]
    collisions: list[str]
    clock_warning: str | None = None  # the cameras' clocks are further apart than a take allows

    @property
    def ok(self) -> bool:
        return all(s.online for s in self.snapshots)


def status(rig: Rig, selection: Iterable[str] | None = None) -> StatusReport:
    snapshots = [link.snapshot() for link in rig.cameras(selection)]
    clashes = [s.clash for s in snapshots if s.clash]
    return StatusReport(
        snapshots, clashes or rig.collisions(), clock_warning(snapshots, rig.settings.clock_tolerance_s)
    )


def matches(snap: CameraSnapshot, nickname: str, text: str) -> bool:
    """Whether a camera answers to a filter: its condition's word (`not rec`, `hot`, `problems`), or
    a piece of its serial or address, nickname or model."""
    needle = text.lower()
    fields = (snap.key, nickname, snap.model or "")
    return has_condition(snap, text) or any(needle in field.lower() for field in fields)


def action_targets(selected: set[str], filtered: list[str] | None) -> list[str] | None:
    """What the operator's actions act on: the selection; else, while a filter hides cameras, the
    cameras it shows (never the hidden ones); else every camera (None)."""
    if selected:
        return sorted(selected)
    return filtered


def actions_that_apply(snapshots: list[CameraSnapshot], targets: list[str] | None, has_prime: bool) -> set[str]:
    """Which rig actions make sense now on `targets` (None: every camera; empty: none, e.g. a filter
    that shows nothing): no stop when nothing records, no record when everything does, nothing on
    cameras that are all offline."""
    chosen = snapshots if targets is None else [s for s in snapshots if s.key in targets]
    online = [s for s in chosen if s.online]
    found: set[str] = set()
    if any(not s.recording for s in online):
        found.add("record")
    if any(s.recording for s in online):
        found.add("stop")
    if online:
        found |= {"sync_time", "format", "power_off"}
    if chosen:
        found.add("download")
    if has_prime and len(snapshots) > 1 and chosen:
        found.add("copy_settings")
    return found
