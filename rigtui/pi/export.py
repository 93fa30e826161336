"""Frames to files: jpg, png or npy, named `YYYYmmdd_HHMMSS_fNNNNNN.ext`, written atomically, with
stacking of dark frames, a disk guard and retention."""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMATS = ("jpg", "png", "npy")
OUR_FILE = re.compile(r"^\d{8}_\d{6}_f\d{6,}(_stack\d+)?\.(jpg|png|npy)$")


class ExportError(Exception):
    """A save that was refused (unknown format, disk guard); one line for the client."""


@dataclass
class ExportSettings:
    folder: Path = Path("captures")
    formats: tuple[str, ...] = ("jpg",)
    min_free_mb: int = 200  # refuse to save when the disk has less free space
    max_files: int = 0  # retention: keep at most this many of our files (0: no limit)
    max_gb: float = 0.0  # ... and at most this many GB (0: no limit)
    jpeg_quality: int = 92


def stack(frames: list[np.ndarray]) -> np.ndarray:
    """Average frames in float32 (noise falls with the square root of their number), back to uint8."""
    total = np.zeros(frames[0].shape, np.float32)
    for frame in frames:
        total += frame
    total /= len(frames)
    return np.clip(np.rint(total), 0, 255).astype(np.uint8)


def file_stem(timestamp: float, frame_id: int, stacked: int = 0) -> str:
    stem = time.strftime("%Y%m%d_%H%M%S", time.localtime(timestamp)) + f"_f{frame_id:06d}"
    return stem + (f"_stack{stacked}" if stacked else "")


class Exporter:
    def __init__(self, settings: ExportSettings) -> None:
        self.settings = settings

    def check_formats(self, formats: list[str]) -> tuple[str, ...]:
        chosen = tuple(f.lower().lstrip(".") for f in formats) or self.settings.formats
        unknown = [f for f in chosen if f not in FORMATS]
        if unknown:
            raise ExportError(f"unknown format {unknown[0]!r} (jpg, png or npy)")
        return chosen

    def guard(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        free_mb = shutil.disk_usage(folder).free / 1e6
        if free_mb < self.settings.min_free_mb:
            raise ExportError(f"disk guard: {free_mb:.0f} MB free in {folder}, below {self.settings.min_free_mb} MB")

    def save(
        self,
        frame: np.ndarray,
        timestamp: float,
        frame_id: int,
        formats: tuple[str, ...],
        *,
        folder: Path | None = None,
        stacked: int = 0,
    ) -> list[Path]:
        """Write one frame in each format, atomically; returns the paths."""
        folder = folder or self.settings.folder
        self.guard(folder)
        paths = []
        for fmt in formats:
            path = folder / f"{file_stem(timestamp, frame_id, stacked)}.{fmt}"
            _write_atomic(path, _encode(frame, fmt, self.settings.jpeg_quality))
            paths.append(path)
        self.retain()
        return paths

    def retain(self) -> list[Path]:
        """Delete our oldest files beyond the retention limits (other files are never touched)."""
        s = self.settings
        if not s.max_files and not s.max_gb:
            return []
        ours = sorted((p for p in s.folder.rglob("*") if p.is_file() and OUR_FILE.match(p.name)), key=lambda p: p.name)
        sizes = {p: p.stat().st_size for p in ours}
        removed = []
        total = sum(sizes.values())
        while ours and ((s.max_files and len(ours) > s.max_files) or (s.max_gb and total > s.max_gb * 1e9)):
            oldest = ours.pop(0)
            total -= sizes[oldest]
            oldest.unlink(missing_ok=True)
            removed.append(oldest)
        return removed


def _encode(frame: np.ndarray, fmt: str, quality: int) -> bytes:
    if fmt == "npy":
        from io import BytesIO

        buffer = BytesIO()
        np.save(buffer, frame)
        return buffer.getvalue()
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpg" else []
    ok, data = cv2.imencode(f".{fmt}", frame, params)
    if not ok:
        raise ExportError(f"cannot encode a {fmt} image")
    return bytes(data)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
