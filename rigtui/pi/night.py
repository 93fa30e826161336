"""Day and night: a scene brightness from a small luma image, and a switch with hysteresis.

The level is normalized by exposure and gain (what the mean pixel would be at 10 ms, gain 1), so a
long night exposure brightening the picture does not read as daybreak; a picture blown out by such
an exposure does. Night starts after N frames
below the dark threshold and ends after M frames above the bright threshold; a flicker that crosses
one threshold now and then never toggles it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rigtui.pi.backends import REFERENCE_EXPOSURE, Backend, FrameInfo

log = logging.getLogger(__name__)


SATURATED = 235.0  # mean luma above which a picture says "brighter than this exposure can measure"


@dataclass(frozen=True)
class Brightness:
    level: float  # mean luma at the reference exposure (10 ms, gain 1)
    saturated: bool  # the picture is blown out: the scene is at least this bright


def measure(frame: np.ndarray, info: FrameInfo, center: float = 1.0) -> Brightness:
    """Mean luma of a downscaled frame (optionally only its central part), normalized by exposure."""
    import cv2

    height, width = frame.shape[:2]
    if center < 1.0:
        dy, dx = int(height * (1 - center) / 2), int(width * (1 - center) / 2)
        frame = frame[dy : height - dy, dx : width - dx]
    small = cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA)
    luma = float(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).mean())
    exposure = max(info.exposure_us * info.gain, 1.0)
    return Brightness(luma * REFERENCE_EXPOSURE / exposure, luma >= SATURATED)


@dataclass
class NightSettings:
    enabled: bool = True
    dark_threshold: float = 35.0
    bright_threshold: float = 55.0
    min_dark_frames: int = 20
    min_bright_frames: int = 20
    exposure_us: int = 2_000_000
    gain: float = 6.0
    center: float = 1.0  # share of the frame the level is measured on (1.0: all of it)

    def controls(self) -> dict[str, Any]:
        return {
            "AeEnable": False,
            "ExposureTime": self.exposure_us,
            "AnalogueGain": self.gain,
            "FrameDurationLimits": (self.exposure_us, self.exposure_us),
        }


@dataclass
class NightController:
    settings: NightSettings
    night: bool = False
    level: float | None = None
    changes: list[str] = field(default_factory=list)  # what the last switch changed, for operators
    _dark: int = 0
    _bright: int = 0
    _day_controls: dict[str, Any] = field(default_factory=dict)

    def observe(self, brightness: Brightness, backend: Backend) -> bool:
        """Feed one frame; switches the camera when the hysteresis says so. True on a switch.
        A blown-out night exposure counts as bright: daybreak saturates a long exposure."""
        level = self.level = brightness.level
        s = self.settings
        if not s.enabled:
            return False
        self._dark = self._dark + 1 if level < s.dark_threshold and not brightness.saturated else 0
        self._bright = self._bright + 1 if level > s.bright_threshold or brightness.saturated else 0
        if not self.night and self._dark >= s.min_dark_frames:
            self._switch(backend, to_night=True)
            return True
        if self.night and self._bright >= s.min_bright_frames:
            self._switch(backend, to_night=False)
            return True
        return False

    def _switch(self, backend: Backend, *, to_night: bool) -> None:
        before = backend.controls()
        if to_night:
            self._day_controls = {k: before[k] for k in self.settings.controls() if k in before}
            wanted = self.settings.controls()
        else:
            wanted = self._day_controls
        backend.set_controls(wanted)
        self.changes = [f"{k} {before.get(k)} -> {v}" for k, v in wanted.items() if before.get(k) != v]
        self.night, self._dark, self._bright = to_night, 0, 0
        log.warning("%s (level %.1f): %s", "night" if to_night else "day", self.level or 0, "; ".join(self.changes))
