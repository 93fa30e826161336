"""The offload ledger: which camera file is verified where. The format gate trusts nothing else.

An append-only JSON-lines file (one record per verified file, later records win), so a crash can
lose at most the line being written, never what was recorded before.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from rigtui.paths import data_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerEntry:
    camera: str  # camera label (serial, or address made file-name safe)
    path: str  # DIR/NAME on the card
    cre: int  # the recording's creation time: a card formatted and reused repeats names, not times
    size: int
    xxh64: str
    dest: str  # absolute path of the verified copy
    root: str  # the offload folder
    take: int
    anchor: int  # the take's creation time
    kind: str  # video | photo
    in_manifest: bool = False  # listed in its take's ASC MHL history

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.camera, self.path, self.cre)


def default_path() -> Path:
    return data_dir() / "ledger.jsonl"


class Ledger:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.entries: dict[tuple[str, str, int], LedgerEntry] = {}
        self._load()

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for number, line in enumerate(lines, 1):
            try:
                entry = LedgerEntry(**json.loads(line))
            except (ValueError, TypeError) as exc:
                log.warning("%s:%d: unreadable ledger line skipped (%s)", self.path, number, exc)
                continue
            self.entries[entry.key] = entry

    def record(self, entry: LedgerEntry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(entry), separators=(",", ":")) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.entries[entry.key] = entry

    def get(self, camera: str, path: str, cre: int) -> LedgerEntry | None:
        return self.entries.get((camera, path, cre))

    def verified(self, camera: str, path: str, cre: int, size: int | None) -> LedgerEntry | None:
        """The entry when the copy is still where the ledger says, with the right size."""
        entry = self.get(camera, path, cre)
        if entry is None or (size is not None and entry.size != size):
            return None
        try:
            if os.path.getsize(entry.dest) != entry.size:
                return None
        except OSError:
            return None
        return entry

    def in_root(self, root: Path) -> list[LedgerEntry]:
        text = str(root)
        return [e for e in self.entries.values() if e.root == text]
