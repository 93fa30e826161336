"""Takes: recordings from different cameras that were shot together.

Takes rigtui recorded come from its shot log (rigtui.gopro.shotlog), whatever the cameras' clocks
said. Recordings it did not shoot are grouped by when they started on the host's clock, as well as
it is known (each camera's `cre` less its measured clock offset): within a tolerance of each other,
one take; a camera that missed a take leaves a gap in that take and shifts nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from rigtui.gopro.media import MediaFile, Recording

PHOTO_KINDS = ("photo", "burst")
TAKE_PREFIX = r"[A-Za-z0-9_-]{1,32}"  # what a take folder's name may start with: never a path


def camera_label(key: str) -> str:
    """A camera's name in file names: its serial, or its address made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")


def take_kind(recording: Recording) -> str:
    return "photo" if recording.kind in PHOTO_KINDS else "video"


@dataclass
class Take:
    number: int
    anchor: int  # when the take started: the host's local time written as an epoch
    kind: str  # video | photo
    # camera label -> recording (None: offloaded by an earlier run, known from the ledger)
    members: dict[str, Recording | None] = field(default_factory=dict)
    existing: bool = False  # already on disk from an earlier offload
    shot: str | None = None  # its take in rigtui's shot log
    clock_based: bool = False  # grouped by camera clocks: footage rigtui did not shoot

    def folder(self, prefix: str) -> str:
        return f"{prefix}{self.number:02d}_{time.strftime('%Y_%m_%d_%H_%M_%S', time.gmtime(self.anchor))}"

    def accepts(self, camera: str, recording: Recording, when: int, tolerance_s: float) -> bool:
        return (
            camera not in self.members and take_kind(recording) == self.kind and abs(when - self.anchor) <= tolerance_s
        )


def cluster(
    recordings: list[tuple[str, Recording, int]],
    tolerance_s: float = 5.0,
    existing: list[Take] | None = None,
    formed: list[Take] | None = None,
) -> list[Take]:
    """Assign every (camera, recording, when it started on the host's clock) to a take: an existing
    take, a take already formed from the shot log, or a new one. New takes (formed ones included)
    are numbered after the existing ones, in time order; at most one recording per camera per take."""
    takes = list(existing or [])
    next_number = max((t.number for t in takes), default=0) + 1
    new: list[Take] = list(formed or [])
    for camera, recording, when in sorted(recordings, key=lambda item: (item[2], item[0])):
        home = next((t for t in takes + new if t.accepts(camera, recording, when, tolerance_s)), None)
        if home is None:
            home = Take(0, when, take_kind(recording), clock_based=True)
            new.append(home)
        home.members[camera] = recording
    for take in sorted(new, key=lambda t: t.anchor):
        take.number = next_number
        next_number += 1
    return sorted(takes + new, key=lambda t: t.number)


def destination(take: Take, prefix: str, camera: str, file: MediaFile, camera_index: int, photogrammetry: bool) -> str:
    """Where a camera file goes, relative to the offload folder."""
    folder = take.folder(prefix)
    if photogrammetry and take.kind == "photo":
        return f"{folder}/rig/{camera_index:03d}/{file.name}"
    return f"{folder}/{camera}_{file.name}"
