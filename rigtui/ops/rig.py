"""Bringing the rig up, keeping it found, and its status: the one place that decides where cameras
are looked for, which found cameras count, and what the discovery cache remembers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rigtui.config import Config
from rigtui.gopro.discovery import DiscoveryError, Endpoint, MdnsBrowser, discover, merge, save_cache
from rigtui.gopro.rig import Outcome, Rig, RigSettings
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.clock import clock_warning
from rigtui.ops.errors import NothingFound, UsageError
from rigtui.ops.report import Line

log = logging.getLogger(__name__)


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


def rig_settings(config: Config) -> RigSettings:
    cfg = config.rig
    return RigSettings(
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
) -> RigOptions:
    """config.toml's [rig], with the cameras the operator named (`--camera`, or endpoints already
    known, serial included) and `--mdns-interface` on top. Naming cameras skips discovery unless
    `discover` says otherwise."""
    cfg = config.rig
    interfaces = tuple(mdns_interfaces) or tuple(cfg.mdns_interfaces)
    named = parse_endpoints(cameras) + tuple(endpoints)
    return RigOptions(
        settings=rig_settings(config),
        named=named,
        discovers=not named if discover is None else discover,
        static=configured_cameras(config),
        mdns_interfaces=interfaces if cfg.mdns else None,
        usb=cfg.usb_scan,
        cache=True,
        discovery_seconds=cfg.discovery_seconds,
    )


class RigSession:
    """A rig and how its cameras are found. Headless commands `open()` it once (waiting a few
    seconds for mDNS); the TUI `follow()`s it, bringing up what is known at once and cameras
    announced later as they come."""

    def __init__(self, options: RigOptions, on_event: Callable[[Line], None] | None = None) -> None:
        self.options = options
        self.rig = Rig(options.settings)
        self.on_event = on_event or (lambda event: log.warning("%s", event.text) if event.problem else None)
        self._browser: MdnsBrowser | None = None
        self._arrivals: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Find every camera findable now (waiting a few seconds for mDNS answers), bring them all up."""
        await self.bring_up(await self._findable(self._interfaces()))
        if not self.rig.links:
            raise NothingFound("no cameras found (check USB, or name them with --camera HOST[:PORT])")

    async def follow(self) -> None:
        """Bring up the cameras known now, then keep listening for cameras announced over mDNS."""
        await self.bring_up(await self._findable(None))
        interfaces = self._interfaces()
        if self.options.discovers and interfaces is not None:
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
            return
        task = asyncio.ensure_future(self.bring_up([endpoint]))
        self._arrivals.add(task)
        task.add_done_callback(self._arrivals.discard)

    def _departed(self, serial: str) -> None:
        self.on_event(Line(f"{serial}: no longer advertised over mDNS"))

    async def bring_up(self, endpoints: list[Endpoint]) -> list[Outcome]:
        """Bring cameras up; a cached camera that does not answer is dropped (the cache is a hint,
        not a camera); clashing serials are named; the cache remembers the cameras that answered."""
        outcomes = await self.rig.add(merge(endpoints))
        by_key = {link.key: link for link in self.rig.cameras()}
        for outcome in outcomes:
            link = by_key.get(outcome.key)
            if link is not None and link.endpoint.source == "cache" and not link.online:
                await self.rig.remove(link)
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

    async def close(self) -> None:
        for task in list(self._arrivals):
            task.cancel()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
        await self.rig.close()


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
    return StatusReport(snapshots, rig.collisions(), clock_warning(snapshots, rig.settings.clock_tolerance_s))


def matches(snap: CameraSnapshot, nickname: str, text: str) -> bool:
    """Whether a camera answers to a filter: its serial or address, nickname or model."""
    needle = text.lower()
    return any(needle in field.lower() for field in (snap.key, nickname, snap.model or ""))


def actions_that_apply(snapshots: list[CameraSnapshot], selected: set[str], has_prime: bool) -> set[str]:
    """Which rig actions make sense now, on the selection (or every camera): no stop when nothing
    records, no record when everything does, nothing on cameras that are all offline."""
    chosen = [s for s in snapshots if not selected or s.key in selected]
    online = [s for s in chosen if s.online]
    found: set[str] = set()
    if any(not s.recording for s in online):
        found.add("record")
    if any(s.recording for s in online):
        found.add("stop")
    if online:
        found |= {"sync_time", "format", "power_off"}
    if snapshots:
        found.add("download")
    if has_prime and len(snapshots) > 1:
        found.add("copy_settings")
    return found
