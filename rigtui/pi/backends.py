"""Cameras behind one interface: picamera2 (on a Pi), OpenCV (USB webcams, video files), synthetic.

A backend fills a preallocated frame (no allocation per frame) and reports what the sensor did:
timestamp, exposure, gain, lux when known. Controls follow picamera2's names.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

DAY_CONTROLS: dict[str, Any] = {
    "AeEnable": True,
    "ExposureTime": 10_000,
    "AnalogueGain": 1.0,
    "FrameDurationLimits": (33_333, 33_333),
}
REFERENCE_EXPOSURE = 10_000 * 1.0  # µs x gain at which a level means "mean pixel value"


class BackendError(RuntimeError):
    """A camera that cannot be opened or read; one line for the operator."""


@dataclass
class FrameInfo:
    timestamp: float  # time.time() of the exposure
    exposure_us: float
    gain: float
    lux: float | None = None


class Backend(Protocol):
    width: int
    height: int
    fps: float
    name: str

    def open(self) -> None: ...
    def read(self, out: np.ndarray) -> FrameInfo: ...
    def set_controls(self, controls: dict[str, Any]) -> None: ...
    def controls(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


# -- synthetic ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """A stretch of the synthetic day: scene brightness from `start` to `end` (mean pixel value at
    the reference exposure) over `seconds`, optionally flickering by `flicker` every other frame."""

    seconds: float
    start: float
    end: float | None = None
    flicker: float = 0.0


NIGHT_LEVEL = 0.1  # a night scene: mean pixel 0.1 at 10 ms, about 120 at the night exposure (2 s, gain 6)
SCRIPTS: dict[str, list[Phase]] = {
    "day": [Phase(3600, 120)],
    "night": [Phase(3600, NIGHT_LEVEL)],
    # a fast day: day, dusk, night, dawn in a minute
    "cycle": [Phase(20, 120), Phase(10, 120, NIGHT_LEVEL), Phase(20, NIGHT_LEVEL), Phase(10, NIGHT_LEVEL, 120)],
    "flicker": [Phase(3600, 25, flicker=45)],
    # the demo's Pi: day, dusk, night and dawn in half a minute
    "demo": [Phase(6, 120), Phase(4, 120, NIGHT_LEVEL), Phase(12, NIGHT_LEVEL), Phase(4, NIGHT_LEVEL, 120)],
}


@dataclass
class SyntheticBackend:
    """A numpy scene whose brightness follows a script; deterministic for a seed.

    Noise comes from a few precomputed frames and brightness from a lookup table, so a full-HD
    frame costs about a millisecond. Auto exposure is bounded by the frame duration limit, as on a
    real sensor: at night the picture stays dark until long exposures are allowed."""

    width: int = 640
    height: int = 480
    fps: float = 10.0
    script: list[Phase] = field(default_factory=lambda: SCRIPTS["cycle"])
    noise: float = 6.0
    seed: int = 1
    realtime: bool = True  # False: frames come as fast as asked, time advancing 1/fps per frame
    start_time: float | None = None
    texture: bool = True  # False: a flat scene (noise is then all that varies)
    variants: int = 16  # distinct noise frames, cycled
    name: str = "synthetic"

    def __post_init__(self) -> None:
        self._controls = dict(DAY_CONTROLS)
        self._lock = threading.Lock()
        self._frame = 0
        self._next = 0.0
        self._templates: list[np.ndarray] = []
        self._lut = np.zeros(256, np.uint8)

    def open(self) -> None:
        rng = np.random.default_rng(self.seed)
        y, x = np.mgrid[0 : self.height, 0 : self.width]
        # Values around 96, which the lookup table scales to the frame's brightness.
        pattern = 96 + (32 * np.sin(x / 37.0) * np.cos(y / 23.0) if self.texture else 0 * x)
        for _ in range(self.variants):
            noisy = pattern + rng.normal(0, self.noise, size=pattern.shape)
            gray = np.clip(noisy, 0, 255).astype(np.uint8)
            self._templates.append(np.ascontiguousarray(np.dstack([gray, gray, gray])))
        self._t0 = self.start_time if self.start_time is not None else time.time()
        self._next = time.monotonic()

    def scene(self, elapsed: float) -> float:
        total = sum(p.seconds for p in self.script)
        t = elapsed % total if total else 0.0
        for phase in self.script:
            if t < phase.seconds:
                end = phase.start if phase.end is None else phase.end
                level = phase.start + (end - phase.start) * (t / phase.seconds)
                if phase.flicker and self._frame % 2:
                    level += phase.flicker
                return max(0.0, level)
            t -= phase.seconds
        return self.script[-1].start

    def read(self, out: np.ndarray) -> FrameInfo:
        if self.realtime:
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next = max(self._next + 1 / self.fps, time.monotonic() - 1 / self.fps)
        elapsed = self._frame / self.fps
        timestamp = self._t0 + elapsed if not self.realtime else time.time()
        scene = self.scene(elapsed)
        with self._lock:
            controls = dict(self._controls)
        exposure, gain = self._exposure(scene, controls)
        pixel_level = scene * exposure * gain / REFERENCE_EXPOSURE
        gain_table = np.arange(256, dtype=np.float32) * (pixel_level / 96.0)
        np.clip(gain_table, 0, 255, out=gain_table)
        self._lut[:] = gain_table.astype(np.uint8)
        import cv2  # imported here: only frame producers need OpenCV

        cv2.LUT(self._templates[self._frame % len(self._templates)], self._lut, dst=out)
        self._frame += 1
        return FrameInfo(timestamp, exposure, gain, lux=scene * 4.0)

    @staticmethod
    def _exposure(scene: float, controls: dict[str, Any]) -> tuple[float, float]:
        if not controls.get("AeEnable", True):
            return float(controls["ExposureTime"]), float(controls["AnalogueGain"])
        longest = float(controls.get("FrameDurationLimits", (33_333, 33_333))[1])
        wanted = REFERENCE_EXPOSURE * 110.0 / max(scene, 0.1)  # auto exposure aims at a mean of 110
        exposure = min(max(wanted, 100.0), longest)
        gain = min(max(wanted / exposure, 1.0), 8.0)
        return exposure, gain

    def set_controls(self, controls: dict[str, Any]) -> None:
        with self._lock:
            self._controls.update(controls)

    def controls(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._controls)

    def close(self) -> None:
        self._templates.clear()


# -- OpenCV -------------------------------------------------------------------------------------------
class OpenCVBackend:
    """cv2.VideoCapture: a USB webcam (an index) or a video file (played in a loop)."""

    name = "opencv"

    def __init__(self, source: str, width: int, height: int, fps: float) -> None:
        self.source, self.width, self.height, self.fps = source, width, height, fps
        self._capture: Any = None
        self._controls = dict(DAY_CONTROLS)
        self._is_file = not source.isdigit()

    def open(self) -> None:
        import cv2

        self._capture = cv2.VideoCapture(int(self.source) if not self._is_file else self.source)
        if not self._capture.isOpened():
            raise BackendError(f"OpenCV cannot open camera or file {self.source!r}")
        if not self._is_file:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            self._capture.set(cv2.CAP_PROP_FPS, self.fps)

    def read(self, out: np.ndarray) -> FrameInfo:
        import cv2

        ok, frame = self._capture.read()
        if not ok and self._is_file:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        if not ok:
            raise BackendError(f"no frame from {self.source!r}")
        if frame.shape[:2] != out.shape[:2]:
            frame = cv2.resize(frame, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
        np.copyto(out, frame)
        if self._is_file:
            time.sleep(1 / self.fps)
        exposure = self._capture.get(cv2.CAP_PROP_EXPOSURE)
        return FrameInfo(
            time.time(),
            float(exposure) if exposure > 0 else self._controls["ExposureTime"],
            float(self._controls["AnalogueGain"]),
        )

    def set_controls(self, controls: dict[str, Any]) -> None:
        """Best effort: webcams differ in what they let OpenCV change; the wish is kept either way."""
        import cv2

        self._controls.update(controls)
        if self._capture is None or self._is_file:
            return
        if "AeEnable" in controls:
            self._capture.set(cv2.CAP_PROP_AUTO_EXPOSURE, 3 if controls["AeEnable"] else 1)
        if "ExposureTime" in controls and not self._controls.get("AeEnable", True):
            self._capture.set(cv2.CAP_PROP_EXPOSURE, controls["ExposureTime"] / 100.0)
        if "AnalogueGain" in controls:
            self._capture.set(cv2.CAP_PROP_GAIN, controls["AnalogueGain"])

    def controls(self) -> dict[str, Any]:
        return dict(self._controls)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()


# -- picamera2 ----------------------------------------------------------------------------------------
class Picamera2Backend:
    """The Pi camera through picamera2 (Debian's python3-picamera2; never a pip dependency)."""

    name = "picamera2"

    def __init__(self, width: int, height: int, fps: float, camera: int = 0) -> None:
        self.width, self.height, self.fps, self.camera = width, height, fps, camera
        self._picam: Any = None
        self._controls = dict(DAY_CONTROLS)

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # lazily: only on a Pi
        except ImportError:
            raise BackendError(
                "picamera2 is not importable: on the Pi install python3-picamera2 (apt) and run rigtui from a "
                "venv made with --system-site-packages"
            ) from None
        try:
            self._picam = Picamera2(self.camera)
        except (RuntimeError, IndexError) as exc:
            raise BackendError(f"no Pi camera {self.camera}: {exc}") from None
        frame_us = int(1_000_000 / self.fps)
        config = self._picam.create_video_configuration(
            main={"size": (self.width, self.height), "format": "RGB888"},
            controls={"FrameDurationLimits": (frame_us, frame_us)},
        )
        self._picam.configure(config)
        self._picam.start()
        self._controls["FrameDurationLimits"] = (frame_us, frame_us)

    def read(self, out: np.ndarray) -> FrameInfo:
        from picamera2 import MappedArray

        request = self._picam.capture_request()
        try:
            with MappedArray(request, "main") as mapped:
                np.copyto(out, mapped.array[: out.shape[0], : out.shape[1], :3])
            meta = request.get_metadata()
        finally:
            request.release()
        return FrameInfo(
            time.time(), float(meta.get("ExposureTime", 0)), float(meta.get("AnalogueGain", 1.0)), meta.get("Lux")
        )

    def set_controls(self, controls: dict[str, Any]) -> None:
        self._controls.update(controls)
        if self._picam is not None:
            self._picam.set_controls(controls)

    def controls(self) -> dict[str, Any]:
        return dict(self._controls)

    def close(self) -> None:
        if self._picam is not None:
            self._picam.stop()
            self._picam.close()


def make_backend(
    kind: str, *, width: int, height: int, fps: float, source: str = "0", script: str = "cycle", seed: int = 1
) -> Backend:
    if kind == "synthetic":
        if script not in SCRIPTS:
            raise BackendError(f"unknown synthetic script {script!r} (known: {', '.join(SCRIPTS)})")
        return SyntheticBackend(width, height, fps, SCRIPTS[script], seed=seed)
    if kind == "opencv":
        return OpenCVBackend(source, width, height, fps)
    if kind == "picamera2":
        return Picamera2Backend(width, height, fps)
    raise BackendError(f"unknown backend {kind!r} (picamera2, opencv or synthetic)")
