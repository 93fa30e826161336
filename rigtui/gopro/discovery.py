"""Finding cameras: mDNS adverts, USB network interfaces, a static list, and a cache of last time.

Cameras are reported as they answer; the mDNS browser keeps listening for arrivals and departures.
The cache only suggests where to look: every cached camera is verified like any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rigtui.files import set_aside, write_atomically
from rigtui.gopro.protocol import DEFAULT_PORT, MDNS_SERVICE, camera_address, camera_address_from_local
from rigtui.paths import cache_dir

log = logging.getLogger(__name__)


class DiscoveryError(ValueError):
    """A camera address that cannot be understood."""


@dataclass(frozen=True)
class Endpoint:
    """Where a camera answers, and its serial when the source tells it."""

    host: str
    port: int = DEFAULT_PORT
    serial: str | None = None
    source: str = "static"  # static | mdns | usb | cache

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, source: str = "static") -> Endpoint:
        """`HOST` or `HOST:PORT`."""
        match = re.fullmatch(r"\s*([A-Za-z0-9.\-]+)(?::(\d{1,5}))?\s*", text)
        if not match or (match.group(2) and not 0 < int(match.group(2)) < 65536):
            raise DiscoveryError(f"camera address {text!r} is not HOST or HOST:PORT")
        return cls(match.group(1), int(match.group(2) or DEFAULT_PORT), source=source)


def merge(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """One endpoint per address; a serial learned from any source is kept, and a live source
    (static, USB, mDNS) wins over the cache."""
    merged: dict[str, Endpoint] = {}
    for endpoint in endpoints:
        known = merged.get(endpoint.address)
        if known is None:
            merged[endpoint.address] = endpoint
            continue
        live, other = (endpoint, known) if known.source == "cache" else (known, endpoint)
        merged[endpoint.address] = Endpoint(endpoint.host, endpoint.port, live.serial or other.serial, live.source)
    return list(merged.values())


def serial_collisions(serials: Iterable[str]) -> list[str]:
    """One sentence per group of serials sharing their last three digits (same USB address)."""
    groups: dict[str, set[str]] = {}
    for serial in serials:
        groups.setdefault(serial[-3:], set()).add(serial)
    problems = []
    for digits, group in sorted(groups.items()):
        if len(group) > 1:
            names = " and ".join(sorted(group))
            try:
                where = f"both use {camera_address(next(iter(group)))} on USB"
            except ValueError:
                where = "they collide on USB"
            problems.append(f"serials {names} share the last three digits {digits}: {where}; only one can be reached")
    return problems


# -- USB interfaces ---------------------------------------------------------------------------------
def local_addresses() -> list[str]:
    import ifaddr  # installed with zeroconf

    return [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)]


def scan_usb(addresses: Iterable[str] | None = None) -> list[Endpoint]:
    """Cameras behind local addresses 172.2X.1YZ.5N (a camera's USB network link)."""
    found = []
    for local in local_addresses() if addresses is None else addresses:
        camera = camera_address_from_local(local)
        if camera:
            found.append(Endpoint(camera, DEFAULT_PORT, source="usb"))
    return merge(found)


# -- mDNS ---------------------------------------------------------------------------------------------
class MdnsBrowser:
    """Browses `_gopro-web._tcp.local.` and reports cameras as they come and go."""

    def __init__(
        self,
        interfaces: list[str],
        on_found: Callable[[Endpoint], None],
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.interfaces = interfaces
        self.on_found = on_found
        self.on_lost = on_lost
        self._zeroconf = None
        self._browser = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        from zeroconf import InterfaceChoice, ServiceStateChange
        from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

        choice = self.interfaces or InterfaceChoice.All
        self._zeroconf = AsyncZeroconf(interfaces=choice)

        def changed(zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            serial = name.split(".")[0]
            if state_change is ServiceStateChange.Removed:
                if self.on_lost:
                    self.on_lost(serial)
                return
            task = asyncio.ensure_future(self._resolve(name, serial))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._browser = AsyncServiceBrowser(self._zeroconf.zeroconf, MDNS_SERVICE, handlers=[changed])

    async def _resolve(self, name: str, serial: str) -> None:
        assert self._zeroconf is not None
        try:
            info = await self._zeroconf.async_get_service_info(MDNS_SERVICE, name, timeout=3000)
        except Exception as exc:  # a bad advert must not stop discovery
            log.debug("mDNS: cannot resolve %s: %s", name, exc)
            return
        addresses = info.parsed_addresses() if info else []
        if addresses:
            self.on_found(Endpoint(addresses[0], info.port or DEFAULT_PORT, serial, "mdns"))  # type: ignore[union-attr]
        else:
            # Real cameras: the address follows from the serial.
            try:
                self.on_found(Endpoint(camera_address(serial), DEFAULT_PORT, serial, "mdns"))
            except ValueError:
                log.debug("mDNS: %s has no address and no usable serial", name)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zeroconf is not None:
            await self._zeroconf.async_close()
        self._browser = self._zeroconf = None


# -- cache ------------------------------------------------------------------------------------------
def cache_path() -> Path:
    return cache_dir() / "cameras.json"


def load_cache(path: Path | None = None) -> list[Endpoint]:
    """Cameras seen last time: only a hint, so a damaged cache is set aside and nothing is found."""
    path = path or cache_path()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise TypeError("not a JSON list")
        return [_cached(entry) for entry in entries]
    except FileNotFoundError:
        return []
    # decoding and JSON errors are ValueErrors; deep nesting raises RecursionError
    except (IsADirectoryError, ValueError, TypeError, RecursionError) as exc:
        why = str(exc)
    except OSError as exc:  # unreadable (permissions, I/O): not damage, so left where it is
        log.warning("cannot read the camera cache %s (%s)", path, exc.strerror or exc)
        return []
    set_aside(path, "camera cache", why)
    return []


def _cached(entry: object) -> Endpoint:
    """One cache entry, exactly as `save_cache` writes it; TypeError or ValueError says what is not."""
    if not isinstance(entry, dict) or set(entry) != {"host", "port", "serial"}:
        raise ValueError("an entry is not {host, port, serial}")
    host, port, serial = entry["host"], entry["port"], entry["serial"]
    if not isinstance(host, str) or not host or type(port) is not int or not 0 < port < 65536:
        raise ValueError(f"bad host or port in {entry}")
    if serial is not None and not isinstance(serial, str):
        raise TypeError(f"serial is not a string in {entry}")
    return Endpoint(host, port, serial, "cache")


def save_cache(endpoints: Iterable[Endpoint], path: Path | None = None) -> None:
    path = path or cache_path()
    entries = [{"host": e.host, "port": e.port, "serial": e.serial} for e in endpoints]
    try:
        write_atomically(path, json.dumps(entries, indent=1).encode())
    except OSError as exc:
        log.warning("cannot write camera cache %s (%s)", path, exc)


async def discover(
    *,
    static: Iterable[Endpoint] = (),
    mdns_interfaces: list[str] | None = None,
    usb: bool = True,
    cache: bool = True,
    quiet_s: float = 0.8,
    timeout_s: float = 4.0,
) -> list[Endpoint]:
    """Everything findable now, as each source said it (two serials advertised for one address are
    both there: `merge` keeps one camera per address, and who clashes is told from these). mDNS
    arrivals are awaited until none came for `quiet_s` (at most `timeout_s`); `mdns_interfaces=None`
    skips mDNS, `[]` browses every interface."""
    found: list[Endpoint] = [*static, *(scan_usb() if usb else []), *(load_cache() if cache else [])]
    if mdns_interfaces is None:
        return found
    arrived = asyncio.Event()

    def on_found(endpoint: Endpoint) -> None:
        found.append(endpoint)
        arrived.set()

    browser = MdnsBrowser(mdns_interfaces, on_found)
    await browser.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while loop.time() < deadline:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), min(quiet_s, deadline - loop.time()))
            except TimeoutError:
                if any(e.source == "mdns" for e in found) or loop.time() + quiet_s > deadline:
                    break
    finally:
        await browser.close()
    return found
