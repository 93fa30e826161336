"""Copies: how many verified copies each file on the cards has, and where. `rigtui copies` shows it;
the format gate counts the same copies ([offload] min_copies, on distinct volumes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from rigtui.gopro.ledger import Ledger, VerifiedCopy
from rigtui.gopro.media import parse_media_list
from rigtui.gopro.replies import MediaListing
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.takes import camera_label
from rigtui.ops.report import Line


@dataclass(frozen=True)
class FileCopies:
    """A footage file on a card and its copies that are intact now."""

    path: str  # DIR/NAME on the card
    size: int | None
    copies: tuple[VerifiedCopy, ...] = ()

    @property
    def volumes(self) -> int:
        """Distinct volumes holding a copy: what the format gate counts."""
        return len({c.volume for c in self.copies})

    def where(self) -> str:
        """The offload folders holding a copy ("nowhere" when none does)."""
        return ", ".join(sorted({c.entry.root for c in self.copies})) or "nowhere"

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "copies": len(self.copies),
            "volumes": self.volumes,
            "where": [
                {
                    "dest": c.entry.dest,
                    "root": c.entry.root,
                    "volume": c.volume,
                    "xxh64": c.entry.xxh64,
                    "verified_at": c.entry.verified_at,
                }
                for c in self.copies
            ],
        }


def file_copies(ledger: Ledger, label: str, listing: MediaListing) -> tuple[list[FileCopies], list[str]]:
    """Every footage file of a card listing with its intact copies (checked by content: this may hash
    copies on disk, so run it off the event loop), and the listing's entries that cannot be trusted."""
    parsed = parse_media_list(listing)
    files = [
        FileCopies(f.path, f.size, tuple(ledger.verified_copies(label, f.path, recording.cre, f.size)))
        for recording in parsed.recordings
        for f in recording.files
    ]
    return files, list(parsed.rejected)


@dataclass(frozen=True)
class CardCopies:
    camera: str
    files: list[FileCopies] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # entries not trusted as names: never counted as copied
    error: str | None = None  # why the card could not be read


@dataclass(frozen=True)
class CopiesReport:
    cards: list[CardCopies]
    min_copies: int

    @property
    def short(self) -> list[tuple[str, FileCopies]]:
        """(camera, file) for every file with fewer copies on distinct volumes than format requires."""
        return [(c.camera, f) for c in self.cards for f in c.files if f.volumes < self.min_copies]

    @property
    def ok(self) -> bool:
        return not self.short and all(c.error is None and not c.rejected for c in self.cards)

    def lines(self) -> list[Line]:
        lines: list[Line] = []
        for card in self.cards:
            if card.error is not None:
                lines.append(Line(f"FAILED {card.camera}: {card.error}", True))
            lines += [Line(f"FAILED {card.camera}: not a trusted name: {entry}", True) for entry in card.rejected]
            for f in card.files:
                count = len(f.copies)
                text = f"{card.camera} {f.path}: {count} verified cop{'y' if count == 1 else 'ies'}"
                if f.volumes != count:
                    text += f" on {f.volumes} volume{'s' if f.volumes != 1 else ''}"
                text += "".join(f"\n    {c.entry.dest} ({c.volume})" for c in f.copies)
                lines.append(Line(text, f.volumes < self.min_copies))
        files = sum(len(c.files) for c in self.cards)
        lines.append(
            Line(
                f"copies: {files} files on {len(self.cards)} cards; {files - len(self.short)} with at least "
                f"{self.min_copies} verified cop{'y' if self.min_copies == 1 else 'ies'} on distinct volumes "
                f"([offload] min_copies), {len(self.short)} with fewer",
                not self.ok,
            )
        )
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "min_copies": self.min_copies,
            "cameras": [
                {
                    "camera": c.camera,
                    "error": c.error,
                    "rejected": c.rejected,
                    "files": [f.to_json() for f in c.files],
                }
                for c in self.cards
            ],
        }


async def list_copies(rig: Rig, ledger: Ledger, selection: Iterable[str] | None = None) -> CopiesReport:
    """Each selected camera's footage files, with their verified copies."""
    links = rig.cameras(selection)
    cards: dict[str, CardCopies] = {}

    async def read(link: CameraLink) -> str:
        listing = await link.client.media_list()
        files, rejected = await asyncio.to_thread(file_copies, ledger, camera_label(link.key), listing)
        cards[link.key] = CardCopies(link.key, files, rejected)
        return ""

    online = [link for link in links if link.snapshot().online]
    for outcome in await rig.each(online, read, timeout=60):
        if not outcome.ok:
            cards[outcome.key] = CardCopies(outcome.key, error=f"card could not be read: {outcome.detail}")
    for link in links:
        if link.key not in cards:
            cards[link.key] = CardCopies(link.key, error=f"offline ({link.snapshot().last_error})")
    return CopiesReport([cards[link.key] for link in links], ledger.min_copies)
