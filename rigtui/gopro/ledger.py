"""The offload ledger: which camera file is verified where. The format gate trusts nothing else.

An append-only JSON-lines file (rigtui.files.JsonLines: one record per verified copy; a camera file
may have several copies, each on its own path, and a later record for the same path wins), so a
crash can lose at most the line being written, never what was recorded before. Every line
is checked field by field when loading; a ledger with any damaged line is set aside whole (for the
operator to look at) and its good lines are written into a fresh one, so damage is never read as
"verified".
"""

from __future__ import annotations

import logging
import os
import re
import time
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
MAX_VOLUME = 300  # characters of a volume id
MOUNTINFO = Path("/proc/self/mountinfo")
BY_UUID = Path("/dev/disk/by-uuid")
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
    volume: str | None = None  # the copy's volume when verified (volume_id); None in ledgers of older rigtui
    verified_at: int | None = None  # when it was verified (epoch seconds); None in ledgers of older rigtui

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.camera, self.path, self.cre)


@dataclass(frozen=True)
class VerifiedCopy:
    """A copy found intact now, and the volume it is on now (copies on one volume count once)."""

    entry: LedgerEntry
    volume: str


def volume_id(path: str | os.PathLike[str]) -> str:
    """Which volume (file system) holds `path`: "uuid:<UUID>" when the device has one, else
    "dev:<major>:<minor>" of the mounted file system, with "@<mount point>" either way. Every path
    of one file system gives the same id, bind mounts and btrfs subvolumes included."""
    return _volume_of_device(os.stat(path).st_dev)


def _volume_of_device(dev: int) -> str:
    number = f"{os.major(dev)}:{os.minor(dev)}"
    mount, source = _mount_of(number)
    uuid = _uuid_of(source) if source.startswith("/dev/") else None
    name = f"uuid:{uuid}" if uuid else f"dev:{number}" if not source.startswith("/dev/") else f"dev:{source}"
    return f"{name}@{mount}"[:MAX_VOLUME] if mount else name[:MAX_VOLUME]


def _mount_of(number: str) -> tuple[str, str]:
    """(mount point, source) of the file system with this major:minor (Linux; ("", "") elsewhere)."""
    try:
        lines = MOUNTINFO.read_text(errors="replace").splitlines()
    except OSError:
        return "", ""
    found: list[tuple[str, str]] = []
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) >= 5 and len(rest) >= 2 and fields[2] == number:
            found.append((_unescape(fields[4]), _unescape(rest[1])))
    return min(found, key=lambda item: len(item[0]), default=("", ""))  # the shortest: not a bind mount of a folder


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _uuid_of(source: str) -> str | None:
    try:
        device = os.path.realpath(source)
        return next((link.name for link in BY_UUID.iterdir() if os.path.realpath(link) == device), None)
    except OSError:
        return None


def default_path() -> Path:
    return data_dir() / "ledger.jsonl"


class Ledger:
    """Every verified copy of every camera file. `min_copies` ([offload] min_copies) is how many
    copies on distinct volumes a file needs before `format` may erase it."""

    def __init__(self, path: Path | None = None, *, min_copies: int = 1) -> None:
        self.path = path or default_path()
        self.min_copies = min_copies
        self.entries: dict[tuple[str, str, int], LedgerEntry] = {}  # the latest record of each camera file
        self.copies: dict[tuple[str, str, int], dict[str, LedgerEntry]] = {}  # every copy, by its path
        self._rehashed: dict[tuple[str, str], CopyStat] = {}  # copies found intact by hash since loading
        self._file = JsonLines(self.path, "ledger", _entry, asdict)
        self._load()

    # -- loading and recording ------------------------------------------------------------------
    def _load(self) -> None:
        for entry in self._file.load():
            self._remember(entry)

    def _remember(self, entry: LedgerEntry) -> None:
        self.entries[entry.key] = entry
        self.copies.setdefault(entry.key, {})[entry.dest] = entry

    def record(self, entry: LedgerEntry) -> None:
        """Append one entry and sync it to disk. Raises LedgerError (the ledger unchanged) when it
        cannot be written, e.g. a full disk."""
        try:
            self._file.append(entry)
        except OSError as exc:
            raise self._error(exc) from exc
        self._remember(entry)

    def record_verified(self, entry: LedgerEntry) -> None:
        """Record a copy rigtui has just verified, with its stat and volume read now (call it right
        after the read-back hash): while that stat is unchanged, `verified` needs no hash."""
        try:
            copy_stat = CopyStat.of(entry.dest)
            volume = volume_id(entry.dest)
        except OSError as exc:
            raise self._error(exc, f"cannot read the verified copy {entry.dest}") from exc
        now = int(time.time())
        self.record(LedgerEntry(**{**entry.__dict__, "copy_stat": copy_stat, "volume": volume, "verified_at": now}))

    def _error(self, exc: OSError, what: str = "") -> LedgerError:
        what = what or f"cannot record in the ledger {self.path}"
        advice = "not recorded as verified: fix that (free space?), then offload again"
        return LedgerError(exc.errno, f"{what}: {exc.strerror or exc}; {advice}", str(self.path))

    # -- reading ----------------------------------------------------------------------------------
    def get(self, camera: str, path: str, cre: int) -> LedgerEntry | None:
        return self.entries.get((camera, path, cre))

    def copy_in(self, root: Path, camera: str, path: str, cre: int) -> LedgerEntry | None:
        """The record of this camera file's copy in the offload folder `root`, verified or not."""
        text = str(root)
        return next((e for e in self.copies.get((camera, path, cre), {}).values() if e.root == text), None)

    def verified(self, camera: str, path: str, cre: int, size: int | None) -> LedgerEntry | None:
        """A copy of this camera file that still holds the bytes rigtui verified (the latest one
        first), else None. May hash copies: see `intact`."""
        copies = sorted(
            self.copies.get((camera, path, cre), {}).values(), key=lambda e: e is not self.get(camera, path, cre)
        )
        return next((e for e in copies if self.intact(e, size)), None)

    def verified_in(self, root: Path, camera: str, path: str, cre: int, size: int | None) -> LedgerEntry | None:
        """This camera file's copy in `root` when it still holds the bytes rigtui verified."""
        entry = self.copy_in(root, camera, path, cre)
        return entry if entry is not None and self.intact(entry, size) else None

    def verified_copies(self, camera: str, path: str, cre: int, size: int | None) -> list[VerifiedCopy]:
        """Every copy of this camera file that still holds the bytes rigtui verified, with the volume
        it is on now."""
        found = []
        for entry in self.copies.get((camera, path, cre), {}).values():
            if self.intact(entry, size):
                try:
                    found.append(VerifiedCopy(entry, volume_id(entry.dest)))
                except OSError:
                    continue
        return sorted(found, key=lambda c: c.entry.dest)

    def intact(self, entry: LedgerEntry, size: int | None) -> bool:
        """The copy still holds the bytes rigtui verified (and the camera's listed size).

        Trusted at once while the copy's stat is what it was when verified; otherwise the copy is
        hashed again (xxh64) and compared with the recorded hash. That can read a whole large file:
        callers on an event loop must run this in a worker thread (`asyncio.to_thread`)."""
        if size is not None and entry.size != size:
            return False
        try:
            now = CopyStat.of(entry.dest)
            if now in (entry.copy_stat, self._rehashed.get((entry.dest, entry.xxh64))):
                return True
            if now.size != entry.size or hash_file(Path(entry.dest)).hexdigest() != entry.xxh64:
                return False
        except OSError:
            return False
        # taken before hashing: any change during or after the hash gives another ctime
        self._rehashed[(entry.dest, entry.xxh64)] = now
        return True

    def in_root(self, root: Path) -> list[LedgerEntry]:
        text = str(root)
        return [e for copies in self.copies.values() for e in copies.values() if e.root == text]


# -- checking a line --------------------------------------------------------------------------------
def _entry(data: object) -> LedgerEntry:
    """A ledger line's object as an entry, every field checked; ValueError or TypeError says why."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    required = {"camera", "path", "cre", "size", "xxh64", "dest", "root", "take", "anchor", "kind"}
    optional = {"in_manifest", "copy_stat", "shot", "volume", "verified_at"}
    missing, unknown = required - data.keys(), data.keys() - required - optional
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
    volume = data.get("volume")
    if volume is not None and (
        not isinstance(volume, str) or not 0 < len(volume) <= MAX_VOLUME or not volume.isprintable()
    ):
        raise ValueError("volume is not a volume id")
    if data.get("verified_at") is not None:
        _int(data, "verified_at", 0, I64)
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
