"""The camera's media list, as data: recordings (all chapters of one media id), photos, bursts, and the
files each one is made of.

The list arrives typed from the parse boundary (replies.py); here every number is range-checked and
every name is checked against GoPro's naming rules before it can become part of a path. An entry
that fails is left out of the offload and named, never guessed at.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field

from rigtui.gopro.replies import MediaEntry, MediaListing, decode_entry
from rigtui.text import shown

# GoPro's names, in ASCII only ([0-9], not \d: "١٠٠GOPRO" is no camera folder)
DIRECTORY = re.compile(r"[0-9]{3}[A-Z]{5}")  # 100GOPRO
FILE_NAME = re.compile(r"[A-Z0-9]{8}\.(MP4|JPG|LRV|THM|GPR)")
VIDEO = re.compile(r"G(?P<letter>[A-Z])(?P<chapter>[0-9]{2})(?P<id>[0-9]{4})\.MP4")
GROUP_MEMBER = re.compile(r"G(?P<group>[0-9]{3})(?P<id>[0-9]{4})\.(?P<ext>JPG|GPR)")
NUMBER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: no "١٢٣", no "1e3", no "Infinity"
MAX_BYTES = 2**48  # 256 TiB: no card holds a larger file
RANGES = {
    "s": (0, MAX_BYTES),
    "glrv": (0, MAX_BYTES),
    "ls": (-1, MAX_BYTES),
    "cre": (0, 2**40),
    "b": (0, 9999),
    "l": (0, 9999),
    "m": (0, 9999),
}


class MediaListError(ValueError):
    """An entry that cannot be trusted (a name that is not a camera file name, a bad size)."""


@dataclass(frozen=True)
class MediaFile:
    """One file on the card. `size` is None when the list does not tell it (sidecars, group members)."""

    directory: str
    name: str
    size: int | None
    sidecar: bool = False  # LRV/THM proxies: optional to offload, not footage

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.name}"


@dataclass(frozen=True)
class Recording:
    """What the operator shot once: every chapter of a video, a photo, or a burst."""

    kind: str  # video | photo | burst
    directory: str
    media_id: int
    cre: int  # camera-local time written as an epoch (as cameras do)
    files: tuple[MediaFile, ...]  # footage, in order (chapters, photo, burst members)
    sidecars: tuple[MediaFile, ...] = ()
    group_bytes: int = 0  # a burst's listed total: its members' own sizes are not listed

    @property
    def size(self) -> int:
        return max(sum(f.size or 0 for f in self.files), self.group_bytes)

    @property
    def first(self) -> MediaFile:
        return self.files[0]

    def all_files(self, sidecars: bool) -> tuple[MediaFile, ...]:
        return self.files + (self.sidecars if sidecars else ())


@dataclass(frozen=True)
class CardContents:
    files: int
    bytes: int

    def describe(self) -> str:
        return f"{self.files} file{'s' if self.files != 1 else ''}, {self.bytes / 1e9:.2f} GB"


@dataclass
class ParsedList:
    recordings: list[Recording] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one line per entry that was left out, and why


def _number(entry: MediaEntry, key: str, default: int | None = None) -> int:
    """A numeric field, checked: ASCII digits (or a JSON integer) within the field's range."""
    value = getattr(entry, key)
    if value is None or value == "":
        if default is None:
            raise MediaListError(f"{key} is missing")
        return default
    if isinstance(value, str):
        if not NUMBER.fullmatch(value):
            raise MediaListError(f"{key}={shown(value, 24)!r} is not a number")
        value = int(value)
    low, high = RANGES[key]
    if not low <= value <= high:
        raise MediaListError(f"{key}={shown(str(value), 24)} is out of range")
    return value


@dataclass(frozen=True, slots=True)
class Listed:
    """One entry of a media list as listed: its folder, and the entry or why it cannot be read."""

    directory: str
    entry: MediaEntry | None
    problem: str = ""
    digest: str = ""  # names an entry that cannot be read (its bytes' hash)

    @property
    def key(self) -> str:
        """What names the entry on the card ("DIR/NAME"; a digest for an entry that cannot be read)."""
        return f"{self.directory}/{self.entry.n if self.entry else '?' + self.digest}"

    @property
    def where(self) -> str:
        return shown(self.key, 80)


def listed(listing: MediaListing) -> list[Listed]:
    found = []
    for folder in listing.media:
        for raw in folder.fs:
            try:
                found.append(Listed(folder.d, decode_entry(raw)))
            except ValueError as exc:
                found.append(Listed(folder.d, None, str(exc), hashlib.sha256(bytes(raw)).hexdigest()[:12]))
    return found


def dated_entries(listing: MediaListing) -> dict[str, int]:
    """Each entry with a camera file name and a readable creation time: "DIR/NAME" -> cre."""
    found = {}
    for item in listed(listing):
        if item.entry is None or not FILE_NAME.fullmatch(item.entry.n) or not DIRECTORY.fullmatch(item.directory):
            continue
        with contextlib.suppress(MediaListError):
            found[item.key] = _number(item.entry, "cre")
    return found


def listed_entries(listing: MediaListing) -> dict[str, str]:
    """Every entry a media list names, camera file or not: "DIR/NAME" -> its size as listed."""
    return {item.key: str(item.entry.s if item.entry else "") for item in listed(listing)}


def deletions(listing: MediaListing) -> tuple[list[tuple[str, bool]], bool]:
    """How to delete every listed entry one by one: ("DIR/NAME", is a photo group) for each, and
    whether every entry has a name a request may carry (if not, only deleting all reaches it)."""
    found, named = [], True
    for item in listed(listing):
        if item.entry is not None and DIRECTORY.fullmatch(item.directory) and FILE_NAME.fullmatch(item.entry.n):
            found.append((f"{item.directory}/{item.entry.n}", item.entry.g is not None))
        else:
            named = False
    return found, named


def card_contents(listing: MediaListing) -> CardContents:
    """What a media list holds; entries with unreadable sizes still count as files."""
    files = size = 0
    for item in listed(listing):
        files += 1
        if item.entry is not None:
            with contextlib.suppress(MediaListError):
                size += _number(item.entry, "s")
    return CardContents(files, size)


def parse_media_list(listing: MediaListing) -> ParsedList:
    """Group a media list into recordings. Entries that cannot be trusted are rejected, named."""
    parsed = ParsedList()
    chapters: dict[tuple[str, str, int], list[tuple[int, MediaEntry]]] = {}
    for item in listed(listing):
        directory, entry = item.directory, item.entry
        try:
            if entry is None:
                raise MediaListError(f"entry cannot be read: {item.problem}")
            if not DIRECTORY.fullmatch(directory):
                raise MediaListError(f"folder {shown(directory, 40)!r} is not a camera folder name")
            name = entry.n
            if not FILE_NAME.fullmatch(name):
                raise MediaListError(f"name {shown(name, 40)!r} is not a camera file name")
            video = VIDEO.fullmatch(name)
            if video:
                _number(entry, "s"), _number(entry, "cre"), _number(entry, "ls", -1), _number(entry, "glrv", 0)
                key = (directory, video["letter"], int(video["id"]))
                chapters.setdefault(key, []).append((int(video["chapter"]), entry))
            elif entry.g is not None:
                parsed.recordings.append(_burst(directory, name, entry))
            elif name.endswith(".JPG"):
                parsed.recordings.append(_photo(directory, name, entry))
            else:
                raise MediaListError(f"{name!r} is not footage this offload knows")
        except MediaListError as exc:
            parsed.rejected.append(f"{item.where}: {exc}")
    for (directory, letter, media_id), parts in chapters.items():
        try:
            parsed.recordings.append(_video(directory, letter, media_id, parts))
        except MediaListError as exc:
            parsed.rejected.append(f"{directory}/G{letter}01{media_id:04d}.MP4: {exc}")
    parsed.recordings.sort(key=lambda r: (r.cre, r.directory, r.media_id))
    return parsed


def _video(directory: str, letter: str, media_id: int, parts: list[tuple[int, MediaEntry]]) -> Recording:
    """Chapters GX01nnnn, GX02nnnn, ... of one recording, with their LRV proxies and THM thumbnails."""
    parts.sort(key=lambda part: part[0])
    files, sidecars = [], []
    for chapter, entry in parts:
        stem = f"{chapter:02d}{media_id:04d}"
        files.append(MediaFile(directory, f"G{letter}{stem}.MP4", _number(entry, "s")))
        # `ls` is -1 without a proxy, yet real lists say -1 beside a `glrv` size: either one means an LRV.
        lrv, glrv = _number(entry, "ls", -1), _number(entry, "glrv", 0)
        if lrv > 0 or glrv > 0:
            sidecars.append(MediaFile(directory, f"GL{stem}.LRV", lrv if lrv > 0 else glrv, sidecar=True))
        sidecars.append(MediaFile(directory, f"G{letter}{stem}.THM", None, sidecar=True))
    return Recording("video", directory, media_id, _number(parts[0][1], "cre"), tuple(files), tuple(sidecars))


def _photo(directory: str, name: str, entry: MediaEntry) -> Recording:
    media_id = int(name[4:8]) if name[4:8].isdigit() else 0
    files = [MediaFile(directory, name, _number(entry, "s"))]
    if str(entry.raw) == "1":
        files.append(MediaFile(directory, name[:-4] + ".GPR", None))
    return Recording("photo", directory, media_id, _number(entry, "cre"), tuple(files))


def _burst(directory: str, name: str, entry: MediaEntry) -> Recording:
    """Members G{group}{id}.JPG for ids b..l, less the missing ones in m (the list's total size is
    not split per member: each member's size is learned when it is fetched)."""
    member = GROUP_MEMBER.fullmatch(name)
    if not member:
        raise MediaListError(f"group name {name!r} is not G<group><id>.JPG")
    first, last = _number(entry, "b"), _number(entry, "l")
    if not first <= last or last - first > 9999:
        raise MediaListError(f"group ids b={first} l={last} make no sense")
    missing = set()
    for item in entry.m[: last - first + 1]:
        if isinstance(item, int) or NUMBER.fullmatch(item):
            missing.add(int(item))
    prefix = name[:4]
    files = tuple(
        MediaFile(directory, f"{prefix}{i:04d}.JPG", None) for i in range(first, last + 1) if i not in missing
    )
    return Recording("burst", directory, first, _number(entry, "cre"), files, group_bytes=_number(entry, "s", 0))
