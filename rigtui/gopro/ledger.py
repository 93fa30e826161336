"""The offload ledger: which camera file is verified where. The format gate trusts nothing else.

An append-only JSON-lines file (rigtui.files.JsonLines: one record per verified file, later records
win), so a crash can lose at most the line being written, never what was recorded before. Every line
is checked field by field when loading; a ledger with any damaged line is set aside whole (for the
operator to look at) and its good lines are written into a fresh one, so damage is never read as
"verified".
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rigtui.files import JsonLines
from rigtui.gopro.download import hash_file
from rigtui.gopro.media import MAX_BYTES, RANGES
from rigtui.gopro.shotlog import TAKE_ID
from rigtui.paths import data_dir

log = logging.getLogger(__name__)

XXH64 = re.compile(r"[0-9a-f]{16}")
KINDS = ("video", "photo")
MAX_TAKE = 1_000_000
U64 = 2**64
I64 = 2**63


class LedgerError(OSError):
    """The ledger could not be written (disk full, I/O error): str() is one line naming it."""

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass(frozen=True)
class CopyStat:
    """A copy's identity and change times when rigtui verified it. While they are unchanged the
    bytes are too: any write changes mtime and ctime, and no ordinary tool can set ctime back.
    (FAT and exFAT keep no change time: after a remount Linux shows mtime or creation time there.)"""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> CopyStat:
        st = os.stat(path)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


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
    copy_stat: CopyStat | None = None  # the copy when verified; None in ledgers of older rigtui
    shot: str | None = None  # the take in rigtui's shot log (None: grouped by camera clocks)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.camera, self.path, self.cre)


def default_path() -> Path:
    return data_dir() / "ledger.jsonl"


class Ledger:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.entries: dict[tuple[str, str, int], LedgerEntry] = {}
        self._rehashed: dict[tuple[str, str, int], CopyStat] = {}  # copies found intact by hash since loading
        self._file = JsonLines(self.path, "ledger", _entry, asdict)
        self._load()

    # -- loading and recording ------------------------------------------------------------------
    def _load(self) -> None:
        for entry in self._file.load():
            self.entries[entry.key] = entry

    def record(self, entry: LedgerEntry) -> None:
        """Append one entry and sync it to disk. Raises LedgerError (the ledger unchanged) when it
        cannot be written, e.g. a full disk."""
        try:
            self._file.append(entry)
        except OSError as exc:
            raise self._error(exc) from exc
        self.entries[entry.key] = entry

    def record_verified(self, entry: LedgerEntry) -> None:
        """Record a copy rigtui has just verified, with its stat read now (call it right after the
        read-back hash): while that is unchanged, `verified` needs no hash."""
        try:
            copy_stat = CopyStat.of(entry.dest)
        except OSError as exc:
            raise self._error(exc, f"cannot read the verified copy {entry.dest}") from exc
        self.record(LedgerEntry(**{**entry.__dict__, "copy_stat": copy_stat}))

    def _error(self, exc: OSError, what: str = "") -> LedgerError:
        what = what or f"cannot record in the ledger {self.path}"
        advice = "not recorded as verified: fix that (free space?), then offload again"
        return LedgerError(exc.errno, f"{what}: {exc.strerror or exc}; {advice}", str(self.path))

    # -- reading ----------------------------------------------------------------------------------
    def get(self, camera: str, path: str, cre: int) -> LedgerEntry | None:
        return self.entries.get((camera, path, cre))

    def verified(self, camera: str, path: str, cre: int, size: int | None) -> LedgerEntry | None:
        """The entry when its copy still holds the bytes rigtui verified, else None.

        Trusted at once while the copy's stat is what it was when verified; otherwise the copy is
        hashed again (xxh64) and compared with the recorded hash. That can read a whole large file:
        callers on an event loop must run this in a worker thread (`asyncio.to_thread`)."""
        entry = self.get(camera, path, cre)
        if entry is None or (size is not None and entry.size != size):
            return None
        try:
            now = CopyStat.of(entry.dest)
            if now in (entry.copy_stat, self._rehashed.get(entry.key)):
                return entry
            if now.size != entry.size or hash_file(Path(entry.dest)).hexdigest() != entry.xxh64:
                return None
        except OSError:
            return None
        # taken before hashing: any change during or after the hash gives another ctime
        self._rehashed[entry.key] = now
        return entry

    def in_root(self, root: Path) -> list[LedgerEntry]:
        text = str(root)
        return [e for e in self.entries.values() if e.root == text]


# -- checking a line --------------------------------------------------------------------------------
def _entry(data: object) -> LedgerEntry:
    """A ledger line's object as an entry, every field checked; ValueError or TypeError says why."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    required = {"camera", "path", "cre", "size", "xxh64", "dest", "root", "take", "anchor", "kind"}
    missing, unknown = required - data.keys(), data.keys() - required - {"in_manifest", "copy_stat", "shot"}
    if missing or unknown:
        raise ValueError(f"missing {sorted(missing)}, unknown {sorted(unknown)}")
    root, dest = _path(data, "root"), _path(data, "dest")
    if not Path(dest).is_relative_to(root) or dest == root or ".." in Path(dest).parts:
        raise ValueError(f"dest {dest!r} is not inside root {root!r}")
    if not isinstance(data["xxh64"], str) or not XXH64.fullmatch(data["xxh64"]):
        raise ValueError("xxh64 is not 16 lowercase hex digits")
    if data["kind"] not in KINDS:
        raise ValueError(f"kind is not one of {KINDS}")
    shot = data.get("shot")
    if shot is not None and (not isinstance(shot, str) or not TAKE_ID.fullmatch(shot)):
        raise ValueError("shot is not a shot-log take id")
    if type(data.get("in_manifest", False)) is not bool:
        raise TypeError("in_manifest is not true or false")
    for name in ("camera", "path"):
        if not isinstance(data[name], str) or not data[name] or "\0" in data[name]:
            raise ValueError(f"{name} is not a non-empty string")
    for name, low, high in (
        ("cre", *RANGES["cre"]),
        ("anchor", *RANGES["cre"]),
        ("size", 0, MAX_BYTES),
        ("take", 1, MAX_TAKE),
    ):
        _int(data, name, low, high)
    copy_stat = data.get("copy_stat")
    if copy_stat is not None:
        copy_stat = _copy_stat(copy_stat)
    return LedgerEntry(**{**data, "copy_stat": copy_stat})


def _copy_stat(data: object) -> CopyStat:
    names = ("dev", "ino", "size", "mtime_ns", "ctime_ns")
    if not isinstance(data, dict) or set(data) != set(names):
        raise ValueError(f"copy_stat does not hold exactly {names}")
    for name, low, high in (
        ("dev", 0, U64),
        ("ino", 0, U64),
        ("size", 0, I64),
        ("mtime_ns", -I64, I64),
        ("ctime_ns", -I64, I64),
    ):
        _int(data, name, low, high)
    return CopyStat(**data)


def _int(data: dict[str, Any], name: str, low: int, high: int) -> None:
    value = data[name]
    if type(value) is not int:  # a bool is an int to Python, not to the ledger
        raise TypeError(f"{name} is not an integer")
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is out of range")


def _path(data: dict[str, Any], name: str) -> str:
    """An absolute path without NUL that the file system can be asked about."""
    value = data[name]
    if not isinstance(value, str) or not os.path.isabs(value) or "\0" in value:
        raise ValueError(f"{name} is not an absolute path")
    os.fsencode(value)  # a lone surrogate from a "\\ud800" escape raises UnicodeEncodeError here
    return value
