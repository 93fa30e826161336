"""Command palette: every action that applies now, and "jump to camera"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class PaletteEntry:
    text: str
    help: str
    run: Callable[[], object]


class PaletteSource(Protocol):
    """What the app offers the palette (the app implements it; this module never imports the app)."""

    def palette_entries(self) -> list[PaletteEntry]: ...


class RigCommands(Provider):
    def _entries(self) -> list[PaletteEntry]:
        return cast(PaletteSource, self.app).palette_entries()

    async def discover(self) -> Hits:
        for entry in self._entries():
            yield DiscoveryHit(entry.text, entry.run, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.text)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.text), entry.run, help=entry.help)
