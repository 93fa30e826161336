"""Command palette: every action, and "jump to camera"."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from rigtui.tui.help import HELP_TEXT

if TYPE_CHECKING:
    from rigtui.tui.app import RigApp


class RigCommands(Provider):
    def _entries(self) -> list[tuple[str, str, object]]:
        app: RigApp = self.app  # type: ignore[assignment]
        entries: list[tuple[str, str, object]] = []
        for binding in app.BINDINGS:
            action = getattr(binding, "action", "")
            description = getattr(binding, "description", "")
            if action and action != "quit" and app.check_action(action, ()):
                help_text = HELP_TEXT.get(getattr(binding, "id", "") or "", "")
                entries.append((description, help_text, partial(app.run_action, action)))
        for snapshot in app.snapshots:
            name = app.name_of(snapshot.key)
            entries.append((f"Jump to {name}", snapshot.model or "camera", partial(app.jump_to, snapshot.key)))
        return entries

    async def discover(self) -> Hits:
        for text, help_text, callback in self._entries():
            yield DiscoveryHit(text, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)  # type: ignore[arg-type]
