"""mDNS adverts of simulated cameras: `SERIAL._gopro-web._tcp.local.` with the camera's address."""

from __future__ import annotations

import asyncio
import socket

from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from rigtui.gopro.protocol import MDNS_SERVICE


class Advertiser:
    """Registers many services at once on one explicit interface (never the default: it is the LAN)."""

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self._zeroconf: AsyncZeroconf | None = None

    async def register(self, cameras: list[tuple[str, str, int]]) -> None:
        """Advertise (serial, host, port) for each camera; returns once all are announced."""
        if not cameras:
            return
        self._zeroconf = AsyncZeroconf(interfaces=[self.interface])
        infos = [
            ServiceInfo(
                MDNS_SERVICE,
                f"{serial}.{MDNS_SERVICE}",
                addresses=[socket.inet_aton(host)],
                port=port,
                server=f"{serial}.local.",
            )
            for serial, host, port in cameras
        ]
        # Probing takes ~1.5 s per service; run them all at once.
        announcements = await asyncio.gather(*(self._zeroconf.async_register_service(i) for i in infos))
        await asyncio.gather(*announcements)

    async def close(self) -> None:
        if self._zeroconf is not None:
            await self._zeroconf.async_unregister_all_services()
            await self._zeroconf.async_close()
            self._zeroconf = None
