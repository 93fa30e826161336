"""The camera's media list, as data: recordings (all chapters of one media id), photos, bursts, and the
files each one is made of.

Every value in a media list arrives as a string; names come from the camera and are checked before
any of them becomes part of a path on the operator's disk.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

DIRECTORY = re.compile(r"^\d{3}[A-Z]{5}$")  # 100GOPRO
FILE_NAME = re.compile(r"^[A-Z0-9]{8}\.(MP4|JPG|LRV|THM|GPR)$")
VIDEO = re.compile(r"^G(?P<letter>[A-Z])(?P<chapter>\d{2})(?P<id>\d{4})\.MP4$")
GROUP_MEMBER = re.compile(r"^G(?P<group>\d{3})(?P<id>\d{4})\.(?P<ext>JPG|GPR)$")


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


def _number(entry: dict[str, Any], key: str, default: int | None = None) -> int:
    value = entry.get(key, default)
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MediaListError(f"{key}={value!r} is not a number") from None
    if number < 0 and key != "ls":
        raise MediaListError(f"{key}={value!r} is negative")
    return number


def _entries(listing: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for folder in listing.get("media") or []:
        if not isinstance(folder, dict):
            continue
        for entry in folder.get("fs") or []:
            if isinstance(entry, dict):
                found.append((str(folder.get("d", "")), entry))
    return found


def listed_entries(listing: dict[str, Any]) -> dict[str, str]:
    """Every entry a media list names, camera file or not: "DIR/NAME" -> its size as listed."""
    return {f"{directory}/{entry.get('n', '')}": str(entry.get("s", "")) for directory, entry in _entries(listing)}


def card_contents(listing: dict[str, Any]) -> CardContents:
    """What a media list holds; entries with unreadable sizes still count as files."""
    files = size = 0
    for _directory, entry in _entries(listing):
        files += 1
        with contextlib.suppress(MediaListError):
            size += _number(entry, "s")
    return CardContents(files, size)


def parse_media_list(listing: dict[str, Any]) -> ParsedList:
    """Group a media list into recordings. Entries that cannot be trusted are rejected, named."""
    parsed = ParsedList()
    chapters: dict[tuple[str, str, int], list[tuple[int, dict[str, Any]]]] = {}
    for directory, entry in _entries(listing):
        name = str(entry.get("n", ""))
        where = f"{directory}/{name}"
        try:
            if not DIRECTORY.match(directory):
                raise MediaListError(f"folder {directory!r} is not a camera folder name")
            if not FILE_NAME.match(name):
                raise MediaListError(f"name {name!r} is not a camera file name")
            video = VIDEO.match(name)
            if video:
                _number(entry, "s"), _number(entry, "cre")
                key = (directory, video["letter"], int(video["id"]))
                chapters.setdefault(key, []).append((int(video["chapter"]), entry))
            elif "g" in entry:
                parsed.recordings.append(_burst(directory, name, entry))
            elif name.endswith(".JPG"):
                parsed.recordings.append(_photo(directory, name, entry))
            else:
                raise MediaListError(f"{name!r} is not footage this offload knows")
        except MediaListError as exc:
            parsed.rejected.append(f"{where}: {exc}")
    for (directory, letter, media_id), parts in chapters.items():
        try:
            parsed.recordings.append(_video(directory, letter, media_id, parts))
        except MediaListError as exc:
            parsed.rejected.append(f"{directory}/G{letter}01{media_id:04d}.MP4: {exc}")
    parsed.recordings.sort(key=lambda r: (r.cre, r.directory, r.media_id))
    return parsed


def _video(directory: str, letter: str, media_id: int, parts: list[tuple[int, dict[str, Any]]]) -> Recording:
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


def _photo(directory: str, name: str, entry: dict[str, Any]) -> Recording:
    media_id = int(name[4:8]) if name[4:8].isdigit() else 0
    files = [MediaFile(directory, name, _number(entry, "s"))]
    if str(entry.get("raw", "0")) == "1":
        files.append(MediaFile(directory, name[:-4] + ".GPR", None))
    return Recording("photo", directory, media_id, _number(entry, "cre"), tuple(files))


def _burst(directory: str, name: str, entry: dict[str, Any]) -> Recording:
    """Members G{group}{id}.JPG for ids b..l, less the missing ones in m (the list's total size is
    not split per member: each member's size is learned when it is fetched)."""
    member = GROUP_MEMBER.match(name)
    if not member:
        raise MediaListError(f"group name {name!r} is not G<group><id>.JPG")
    first, last = _number(entry, "b"), _number(entry, "l")
    if not first <= last or last - first > 9999:
        raise MediaListError(f"group ids b={first} l={last} make no sense")
    missing = set()
    for item in entry.get("m") or []:
        with contextlib.suppress(TypeError, ValueError):
            missing.add(int(item))
    prefix = name[:4]
    files = tuple(
        MediaFile(directory, f"{prefix}{i:04d}.JPG", None) for i in range(first, last + 1) if i not in missing
    )
    return Recording("burst", directory, first, _number(entry, "cre"), files, group_bytes=_number(entry, "s", 0))
