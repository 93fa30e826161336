"""The Pi camera service: a capture thread feeding the ring, the night controller and auto-save;
saves on request (with the seconds before the trigger from the ring and the seconds after from live
frames); a status for the line server.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigtui.config import PiConfig
from rigtui.pi.backends import Backend, FrameInfo
from rigtui.pi.export import Exporter, ExportError, ExportSettings, file_stem, stack
from rigtui.pi.night import NightController, NightSettings, measure
from rigtui.pi.ring import RingBuffer, Slot
from rigtui.pi.status import LastSave, PiStatus, RingStatus

log = logging.getLogger(__name__)


@dataclass
class PiSettings:
    ring_frames: int = 300
    ring_seconds: float = 0.0  # when set, the ring holds this many seconds (at the camera's fps)
    memory_cap_mb: int = 1024  # the ring never takes more memory than this
    night: NightSettings = field(default_factory=NightSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    save_before_s: float = 0.0
    save_after_s: float = 0.0
    stack_dark_frames: bool = True
    stack_count: int = 4
    auto_save_interval_s: float = 0.0  # 0: off


class PiService:
    def __init__(self, settings: PiSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        frames = settings.ring_frames
        if settings.ring_seconds:
            frames = max(1, int(settings.ring_seconds * backend.fps))
        self.ring = RingBuffer(
            backend.width, backend.height, frames=frames, memory_cap_bytes=settings.memory_cap_mb * 1024 * 1024
        )
        self.night = NightController(settings.night)
        self.exporter = Exporter(settings.export)
        self.last_save: LastSave | None = None
        self.last_error: str | None = None
        self.started = time.time()
        self.frames_seen = 0
        self.frames_dropped = 0
        self.latest: FrameInfo | None = None
        self._scratch = np.empty((backend.height, backend.width, 3), np.uint8)
        self._new_frame = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exports = ThreadPoolExecutor(max_workers=2, thread_name_prefix="export")
        self._last_auto: float | None = None

    # -- capture ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.backend.open()
        measure(self._scratch, FrameInfo(time.time(), 10_000, 1.0))  # imports and warms OpenCV before frame 1
        self._thread = threading.Thread(target=self._capture_loop, name="capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._exports.shutdown(wait=True)
        self.backend.close()

    def _capture_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # a camera hiccup must not end the service
                self.last_error = f"capture: {exc}"
                log.error("capture failed: %s", exc)
                time.sleep(1.0)

    def step(self) -> int:
        """Capture one frame: ring, night level, auto-save. Returns its frame id."""
        info = self.backend.read(self._scratch)
        frame_id = self.ring.push(self._scratch, info)
        if self.night.observe(measure(self._scratch, info, self.settings.night.center), self.backend):
            self.last_error = None
        self.frames_seen += 1
        if self.latest is not None:
            gap = (info.timestamp - self.latest.timestamp) * self.backend.fps
            if gap >= 1.75:  # a frame the camera's rate promised never came (a late one is not dropped)
                self.frames_dropped += round(gap) - 1
        self.latest = info
        with self._new_frame:
            self._new_frame.notify_all()
        self._auto_save(info.timestamp)
        return frame_id

    def _auto_save(self, now: float) -> None:
        interval = self.settings.auto_save_interval_s
        if not interval:
            return
        if self._last_auto is None:
            self._last_auto = now
            return
        if now - self._last_auto >= interval:
            self._last_auto = now
            self._exports.submit(self._auto_save_now)

    def _auto_save_now(self) -> None:
        try:
            self.save([], reason="auto-save")
        except ExportError as exc:
            self.last_error = f"auto-save: {exc}"
            log.error("auto-save refused: %s", exc)

    # -- saving -------------------------------------------------------------------------------------
    def save(self, formats: list[str], *, reason: str = "save") -> list[Path]:
        """The trigger: the latest frame (stacked at night, when configured), or the frames from
        save_before_s before to save_after_s after this moment."""
        chosen = self.exporter.check_formats(formats)
        s = self.settings
        trigger = self.latest.timestamp if self.latest else time.time()  # the trigger, on the frames' clock
        if s.save_before_s or s.save_after_s:
            return self._save_window(chosen, trigger, reason)
        if self.night.night and s.stack_dark_frames:
            return self.past_stack(formats, reason=reason)
        slots = self.ring.last(1)
        frame = self.ring.copy(slots[0]) if slots else None
        if frame is None:
            raise ExportError("no frame yet")
        return self._record(self.exporter.save(frame, slots[0].timestamp, slots[0].frame_id, chosen), reason)

    def past_stack(self, formats: list[str], *, reason: str = "pastStack") -> list[Path]:
        """The average of the last stack_count frames from the ring."""
        chosen = self.exporter.check_formats(formats)
        slots = self.ring.last(self.settings.stack_count)
        frames = [f for f in (self.ring.copy(slot) for slot in slots) if f is not None]
        if not frames:
            raise ExportError("no frame yet")
        newest = slots[-1]
        paths = self.exporter.save(stack(frames), newest.timestamp, newest.frame_id, chosen, stacked=len(frames))
        return self._record(paths, reason)

    def _save_window(self, formats: tuple[str, ...], trigger: float, reason: str) -> list[Path]:
        s = self.settings
        end = trigger + s.save_after_s
        deadline = time.monotonic() + s.save_after_s + 5
        with self._new_frame:
            while (self.latest is None or self.latest.timestamp < end) and time.monotonic() < deadline:
                self._new_frame.wait(0.5)
        slots = [slot for slot in self.ring.since(trigger - s.save_before_s) if slot.timestamp <= end]
        if not slots:
            raise ExportError("no frames in the window")
        folder = s.export.folder / f"trigger_{file_stem(trigger, slots[0].frame_id)}"
        paths = []
        for slot in slots:
            frame = self.ring.copy(slot)
            if frame is None:
                continue  # overwritten: the ring is shorter than save_before_s
            paths += self.exporter.save(frame, slot.timestamp, slot.frame_id, formats, folder=folder)
        return self._record(paths, reason)

    def _record(self, paths: list[Path], reason: str) -> list[Path]:
        self.last_save = LastSave.of([str(p) for p in paths], time.time(), reason)
        return paths

    def preview_jpeg(self, width: int) -> bytes:
        """The latest frame, downscaled to `width` pixels wide, as a JPEG (for a terminal preview)."""
        import cv2

        slots = self.ring.last(1)
        frame = self.ring.copy(slots[0]) if slots else None
        if frame is None:
            raise ExportError("no frame yet")
        height = max(1, round(frame.shape[0] * width / frame.shape[1]))
        small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise ExportError("cannot encode the preview")
        return bytes(data)

    # -- status -------------------------------------------------------------------------------------
    def measured_fps(self) -> float:
        slots = self.ring.last(min(len(self.ring), 30))
        if len(slots) < 2 or slots[-1].timestamp <= slots[0].timestamp:
            return 0.0
        return (len(slots) - 1) / (slots[-1].timestamp - slots[0].timestamp)

    def status(self) -> PiStatus:
        settings = self.settings.night
        folder = self.settings.export.folder
        try:
            free_mb = round(shutil.disk_usage(folder if folder.exists() else Path(".")).free / 1e6)
        except OSError:
            free_mb = None
        latest: Slot | None = (self.ring.last(1) or [None])[0]
        return PiStatus(
            night=self.night.night,
            level=None if self.night.level is None else round(self.night.level, 1),
            dark_threshold=float(settings.dark_threshold),
            bright_threshold=float(settings.bright_threshold),
            ring=RingStatus(len(self.ring), self.ring.capacity, round(self.ring.span_s(), 2)),
            fps=round(self.measured_fps(), 2),
            exposure_us=None if latest is None else latest.exposure_us,
            gain=None if latest is None else latest.gain,
            frame_id=None if latest is None else latest.frame_id,
            last_save=self.last_save,
            disk_free_mb=free_mb,
            uptime_s=round(time.time() - self.started, 1),
            backend=self.backend.name,
            export_dir=str(folder.resolve()),
            changes=tuple(self.night.changes),
            dropped=self.frames_dropped,
            error=self.last_error,
        )


def settings_from_config(cfg: PiConfig) -> PiSettings:
    """The [pi] section of config.toml as service settings."""
    return PiSettings(
        ring_frames=cfg.ring_frames,
        ring_seconds=cfg.ring_seconds,
        memory_cap_mb=cfg.memory_cap_mb,
        night=NightSettings(
            enabled=cfg.night_enabled,
            dark_threshold=cfg.dark_threshold,
            bright_threshold=cfg.bright_threshold,
            min_dark_frames=cfg.min_dark_frames,
            min_bright_frames=cfg.min_bright_frames,
            exposure_us=cfg.night_exposure_us,
            gain=cfg.night_gain,
            center=cfg.level_center,
        ),
        export=ExportSettings(
            folder=Path(cfg.export_dir).expanduser(),
            formats=tuple(cfg.formats),
            min_free_mb=cfg.min_free_mb,
            max_files=cfg.max_files,
            max_gb=cfg.max_gb,
        ),
        save_before_s=cfg.save_before_s,
        save_after_s=cfg.save_after_s,
        stack_dark_frames=cfg.stack_dark_frames,
        stack_count=cfg.stack_count,
        auto_save_interval_s=cfg.auto_save_interval_s,
    )
