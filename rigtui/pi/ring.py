"""A ring of the last frames, preallocated: pushing a frame copies it into a slot, nothing more.

The capture thread writes slots; readers copy one frame at a time under the lock (a view of the last
K seconds lists slots and frame ids; a slot overwritten meanwhile is reported, never half-read).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from rigtui.pi.backends import FrameInfo


@dataclass(frozen=True)
class Slot:
    index: int
    frame_id: int
    timestamp: float
    exposure_us: float
    gain: float


class RingBuffer:
    def __init__(self, width: int, height: int, *, frames: int, memory_cap_bytes: int | None = None) -> None:
        frame_bytes = width * height * 3
        if memory_cap_bytes is not None:
            frames = min(frames, max(1, memory_cap_bytes // frame_bytes))
        if frames < 1:
            raise ValueError("a ring needs at least one frame")
        self.capacity = frames
        self.frames = np.zeros((frames, height, width, 3), np.uint8)
        # Touch every page now: the memory is really ours from the start (too little fails here,
        # not hours later), and the first lap of the ring does not stall on page faults.
        self.frames.fill(0)
        self.frame_ids = np.full(frames, -1, np.int64)
        self.timestamps = np.zeros(frames, np.float64)
        self.exposures = np.zeros(frames, np.float64)
        self.gains = np.zeros(frames, np.float64)
        self.lock = threading.Lock()
        self._head = 0  # next slot to write
        self._count = 0
        self._next_id = 0

    @property
    def nbytes(self) -> int:
        return self.frames.nbytes

    def push(self, frame: np.ndarray, info: FrameInfo) -> int:
        """Copy a frame into the next slot; returns its frame id. O(1), no allocation."""
        with self.lock:
            slot = self._head
            np.copyto(self.frames[slot], frame)
            frame_id = self._next_id
            self.frame_ids[slot] = frame_id
            self.timestamps[slot] = info.timestamp
            self.exposures[slot] = info.exposure_us
            self.gains[slot] = info.gain
            self._head = (slot + 1) % self.capacity
            self._count = min(self._count + 1, self.capacity)
            self._next_id += 1
        return frame_id

    def __len__(self) -> int:
        return self._count

    def span_s(self) -> float:
        """Seconds between the oldest and the newest frame held."""
        slots = self.last(self.capacity)
        return slots[-1].timestamp - slots[0].timestamp if len(slots) > 1 else 0.0

    def last(self, count: int) -> list[Slot]:
        """The newest `count` frames, oldest first (metadata only)."""
        with self.lock:
            count = min(count, self._count)
            indices = [(self._head - count + i) % self.capacity for i in range(count)]
            return [
                Slot(
                    i, int(self.frame_ids[i]), float(self.timestamps[i]), float(self.exposures[i]), float(self.gains[i])
                )
                for i in indices
            ]

    def since(self, timestamp: float) -> list[Slot]:
        """Frames taken at or after `timestamp`, oldest first."""
        return [slot for slot in self.last(self.capacity) if slot.timestamp >= timestamp]

    def copy(self, slot: Slot) -> np.ndarray | None:
        """The frame of a slot, or None when it has been overwritten since it was listed."""
        with self.lock:
            if self.frame_ids[slot.index] != slot.frame_id:
                return None
            return self.frames[slot.index].copy()
