"""The camera's media list, as data: files and sizes (every value arrives as a string)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CardContents:
    files: int
    bytes: int

    def describe(self) -> str:
        return f"{self.files} file{'s' if self.files != 1 else ''}, {self.bytes / 1e9:.2f} GB"


def card_contents(listing: dict[str, Any]) -> CardContents:
    """What a media list holds; entries with unreadable sizes still count as files."""
    files = size = 0
    for folder in listing.get("media") or []:
        for entry in folder.get("fs") or [] if isinstance(folder, dict) else []:
            if not isinstance(entry, dict):
                continue
            files += 1
            with contextlib.suppress(TypeError, ValueError):
                size += max(0, int(entry.get("s", 0)))
    return CardContents(files, size)
