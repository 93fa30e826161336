"""The simulated SD card: real files under DCIM/, named and listed as GoPro cameras do.

Videos are chaptered (GX01nnnn.MP4, GX02nnnn.MP4, ...) with a GL..LRV proxy and a .THM thumbnail per
chapter; photos are GOPRnnnn.JPG; bursts are groups G001nnnn.JPG. The media list carries only the
MP4/JPG entries (sidecars are signalled by `glrv`/`ls`), with every scalar as a string.
Chapters are real MP4 clips of the room's sound (clips.py) padded to the sizes the simulation asks
for; LRV proxies are deterministic stand-in bytes. Either way every 1 MiB block of padding starts with
its own offset, so a block written at the wrong place changes the hash.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from rigtui.sim.clips import RoomSound, timecode, write_clip, write_stand_in

_SAFE_DIR = re.compile(r"^\d{3}GOPRO$")
_SAFE_NAME = re.compile(r"^[A-Z0-9]{8}\.(MP4|LRV|THM|JPG|GPR)$")


@dataclass
class VideoFormat:
    """What a recording looks like in media info."""

    width: int
    height: int
    fps: float
    ntsc: bool
    lens: str


@dataclass
class MediaItem:
    """One entry of the media list (a video chapter, a photo, or a photo group)."""

    directory: str
    name: str
    size: int
    cre: int
    mod: int
    media_id: int
    kind: str  # "video" | "photo" | "group"
    gumi: str
    lrv_size: int = -1
    chapters: int = 1  # chapters of the recording this chapter belongs to
    duration: int = 0
    video: VideoFormat | None = None
    members: list[str] = field(default_factory=list)  # group member file names
    group: tuple[int, int, int] | None = None  # (group number, first id, last id)
    missing: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.directory}/{self.name}"

    def list_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {"n": self.name, "cre": str(self.cre), "mod": str(self.mod), "s": str(self.size)}
        if self.kind == "video":
            entry["glrv"] = str(max(self.lrv_size, 0))
            entry["ls"] = str(self.lrv_size)
        elif self.kind == "group" and self.group:
            number, first, last = self.group
            entry.update(
                {"g": str(number), "b": str(first), "l": str(last), "m": [str(m) for m in self.missing], "t": "b"}
            )
        return entry

    def info(self) -> dict[str, object]:
        """media/info reply; sizes are reported modulo 2**32 as real firmware does (OGP issue 740)."""
        common: dict[str, object] = {
            "cre": str(self.cre),
            "s": str(self.size % (1 << 32)),
            "gumi": self.gumi,
            "hc": "0",
            "eis": "1" if self.kind == "video" else "0",
            "mp": "1",
            "rot": "0",
            "tr": "0",
            "us": "0",
            "mos": [],
            "lc": "0",
        }
        if self.kind == "video" and self.video:
            v = self.video
            fps_num, fps_den = (round(v.fps * 1000), 1001) if v.ntsc else (round(v.fps * 1000), 1000)
            common.update(
                {
                    "ct": "2" if self.chapters > 1 else "0",
                    "w": str(v.width),
                    "h": str(v.height),
                    "hi": [],
                    "ao": "auto",
                    "profile": "153",
                    "avc_profile": "0",
                    "cl": "0",
                    "dur": str(self.duration),
                    "fps": str(fps_num),
                    "fps_denom": str(fps_den),
                    "ls": str(self.lrv_size),
                    "pta": "1",
                    "subsample": "0",
                    "progr": "1",
                    "fov": v.lens,
                }
            )
        else:
            common.update({"ct": "5" if self.kind == "group" else "4", "w": "5568", "h": "4176"})
            common.update({"hdr": "0", "wdr": "0", "raw": "0", "fov": "Wide"})
        return common


@functools.cache
def tiny_jpeg(width: int = 160, height: int = 120) -> bytes:
    """A small valid JPEG (thumbnails, THM sidecars)."""
    import cv2  # imported here: only the simulator's picture files need OpenCV
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    image = np.dstack([(x * 255 // width), (y * 255 // height), np.full_like(x, 128)]).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(data)


def photo_jpeg(seed: int) -> bytes:
    """A photo-sized JPEG with some texture, so sizes look like a camera's (a few MB)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(750, 1000, 3), dtype=np.uint8)
    image = cv2.resize(image, (2000, 1500), interpolation=cv2.INTER_LINEAR)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return bytes(data)


class MediaStore:
    """Files of one simulated camera's SD card and the index the media list is built from."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.dcim = root / "DCIM"
        self.dcim.mkdir(parents=True, exist_ok=True)
        self._seed = seed
        self.items: dict[str, MediaItem] = {}
        self.directory_number = 100
        self.next_media_id = 1
        self.next_group = 1
        self.list_id = str(random.Random(seed).getrandbits(62))

    # -- naming -------------------------------------------------------------------------------
    def _allocate_id(self) -> tuple[str, int]:
        if self.next_media_id > 9999:
            self.directory_number += 1
            self.next_media_id = 1
        media_id = self.next_media_id
        self.next_media_id += 1
        return f"{self.directory_number}GOPRO", media_id

    def _gumi(self, key: str) -> str:
        return hashlib.md5(f"{self._seed}/{key}".encode()).hexdigest()

    def _file_seed(self, key: str) -> int:
        return int(hashlib.blake2b(f"{self._seed}/{key}".encode(), digest_size=8).hexdigest(), 16)

    def path_of(self, directory: str, name: str) -> Path | None:
        """The file behind a download path, or None (names are checked, never joined blindly)."""
        if not _SAFE_DIR.match(directory) or not _SAFE_NAME.match(name):
            return None
        path = self.dcim / directory / name
        return path if path.is_file() else None

    # -- writing ------------------------------------------------------------------------------
    def write_video(
        self,
        *,
        cre: int,
        start_wall: float,
        clock_offset: float,
        room: RoomSound | None,
        duration: float,
        disk_bytes: int,
        chapters: int,
        video: VideoFormat,
        directory: str | None = None,
        sparse: bool = False,
    ) -> list[MediaItem]:
        """Write one recording as `chapters` contiguous chapter files plus LRV/THM sidecars; blocking.
        Its first sample is the room's sound at `start_wall`; each chapter's timecode is the camera clock
        (wall time + clock_offset) at its first frame."""
        auto_dir, media_id = self._allocate_id()
        directory = directory or auto_dir
        (self.dcim / directory).mkdir(exist_ok=True)
        chapters = max(1, min(chapters, 99))
        per_chapter = max(1, disk_bytes // chapters)
        per_chapter_s = duration / chapters
        fps = video.fps * 1000 / 1001 if video.ntsc else video.fps
        items = []
        for chapter in range(1, chapters + 1):
            stem = f"{chapter:02d}{media_id:04d}"
            name = f"GX{stem}.MP4"
            size = per_chapter if chapter < chapters else max(1, disk_bytes - per_chapter * (chapters - 1))
            key = f"{directory}/{name}"
            chapter_wall = start_wall + per_chapter_s * (chapter - 1)
            write_clip(
                self.dcim / directory / name,
                start_wall=chapter_wall,
                duration_s=per_chapter_s,
                disk_bytes=size,
                fill_seed=self._file_seed(key),
                room=room,
                timecode=timecode(chapter_wall + clock_offset, fps),
                fps=fps,
                sparse=sparse,
            )
            lrv_size = max(1024, size // 16) if not sparse else 4096
            write_stand_in(self.dcim / directory / f"GL{stem}.LRV", lrv_size, self._file_seed(key + ".lrv"))
            (self.dcim / directory / f"GX{stem}.THM").write_bytes(tiny_jpeg())
            start = cre + int(per_chapter_s * (chapter - 1))
            item = MediaItem(
                directory,
                name,
                size,
                start,
                start + max(1, int(per_chapter_s)),
                media_id,
                "video",
                self._gumi(key),
                lrv_size=lrv_size,
                chapters=chapters,
                duration=max(1, round(per_chapter_s)),
                video=video,
            )
            items.append(item)
            self.items[key] = item
        return items

    def write_photo(self, *, cre: int, directory: str | None = None) -> MediaItem:
        auto_dir, media_id = self._allocate_id()
        directory = directory or auto_dir
        (self.dcim / directory).mkdir(exist_ok=True)
        name = f"GOPR{media_id:04d}.JPG"
        key = f"{directory}/{name}"
        data = photo_jpeg(self._file_seed(key))
        (self.dcim / directory / name).write_bytes(data)
        item = MediaItem(directory, name, len(data), cre, cre, media_id, "photo", self._gumi(key))
        self.items[key] = item
        return item

    def write_burst(self, *, cre: int, count: int) -> MediaItem:
        directory, first = self._allocate_id()
        self.next_media_id += count - 1
        group = self.next_group
        self.next_group += 1
        (self.dcim / directory).mkdir(exist_ok=True)
        members = [f"G{group:03d}{first + i:04d}.JPG" for i in range(count)]
        total = 0
        for member in members:
            data = photo_jpeg(self._file_seed(f"{directory}/{member}"))
            (self.dcim / directory / member).write_bytes(data)
            total += len(data)
        key = f"{directory}/{members[0]}"
        item = MediaItem(
            directory,
            members[0],
            total,
            cre,
            cre,
            first,
            "group",
            self._gumi(key),
            members=members,
            group=(group, first, first + count - 1),
        )
        self.items[key] = item
        return item

    # -- reading ------------------------------------------------------------------------------
    def media_list(self) -> dict[str, object]:
        by_dir: dict[str, list[dict[str, object]]] = {}
        for item in sorted(self.items.values(), key=lambda i: (i.directory, i.name)):
            by_dir.setdefault(item.directory, []).append(item.list_entry())
        return {"id": self.list_id, "media": [{"d": d, "fs": fs} for d, fs in by_dir.items()]}

    def find(self, path: str) -> MediaItem | None:
        """The listed item for `DIR/FILE`, or the group a member file belongs to."""
        if path in self.items:
            return self.items[path]
        directory, _, name = path.partition("/")
        for item in self.items.values():
            if item.directory == directory and name in item.members:
                return item
        return None

    def counts(self) -> tuple[int, int]:
        """(photos, videos) on the card, as statuses 38 and 39 count them."""
        photos = sum(len(i.members) or 1 for i in self.items.values() if i.kind != "video")
        videos = len({(i.directory, i.media_id) for i in self.items.values() if i.kind == "video"})
        return photos, videos

    # -- deleting -----------------------------------------------------------------------------
    def _remove_files(self, item: MediaItem, names: list[str]) -> None:
        for name in names:
            (self.dcim / item.directory / name).unlink(missing_ok=True)

    def _sidecars(self, item: MediaItem) -> list[str]:
        stem = item.name[2:-4]
        return [item.name, f"GL{stem}.LRV", f"GX{stem}.THM"] if item.kind == "video" else [item.name]

    def delete_file(self, path: str) -> bool:
        """Delete one file (a chapter with its sidecars, a photo, or one group member)."""
        item = self.find(path)
        if item is None:
            return False
        name = path.partition("/")[2]
        if item.kind == "group" and name in item.members and len(item.members) > 1:
            self._remove_files(item, [name])
            item.members.remove(name)
            item.missing.append(int(name[4:8]))
            return True
        self._remove_files(item, item.members or self._sidecars(item))
        del self.items[item.key]
        return True

    def delete_group(self, first_file: str) -> bool:
        """Delete a whole recording (every chapter) or a whole photo group."""
        item = self.items.get(first_file)
        if item is None:
            return False
        related = [i for i in self.items.values() if i.directory == item.directory and i.media_id == item.media_id]
        for other in related:
            self._remove_files(other, other.members or self._sidecars(other))
            del self.items[other.key]
        return True

    def delete_all(self) -> None:
        for item in list(self.items.values()):
            self._remove_files(item, item.members or self._sidecars(item))
        self.items.clear()
        for directory in self.dcim.iterdir():
            if directory.is_dir() and not any(directory.iterdir()):
                os.rmdir(directory)
