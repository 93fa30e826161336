"""The session log: every action's per-camera outcome, appended to a file in the user's state folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rigtui.paths import state_dir

log = logging.getLogger(__name__)


class SessionLog:
    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or state_dir()
        self.path = folder / time.strftime("session-%Y%m%d-%H%M%S.log")
        self._broken = False

    def write(self, line: str) -> None:
        """Append one line; a log that cannot be written is reported once, never fatal."""
        if self._broken:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        except OSError as exc:
            self._broken = True
            log.warning("cannot write the session log %s (%s)", self.path, exc)
