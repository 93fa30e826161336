"""Pi service frame cost: 1920x1080 RGB at 30 fps from the synthetic backend.

1. The real service runs for 20 s (capture thread, 300-frame ring, night controller): frames
   dropped (target 0) and peak memory.
2. Per-frame cost, over 300 frames: a ring push and the night metric, next to a plain np.copyto of
   the same frame into a preallocated array of the same size (the floor of keeping a frame).
   Target: ring push <= 1.3x copyto.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from rigtui.pi.backends import SCRIPTS, SyntheticBackend
from rigtui.pi.export import ExportSettings
from rigtui.pi.night import measure
from rigtui.pi.service import PiService, PiSettings

WIDTH, HEIGHT, FPS, RING = 1920, 1080, 30.0, 300


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_service(seconds: float) -> tuple[int, int, float]:
    backend = SyntheticBackend(WIDTH, HEIGHT, FPS, SCRIPTS["cycle"])
    service = PiService(PiSettings(ring_frames=RING, memory_cap_mb=4096, export=ExportSettings(min_free_mb=0)), backend)
    service.start()
    time.sleep(seconds)
    frames, dropped = service.frames_seen, service.frames_dropped
    peak = peak_rss_mb()
    service.stop()
    return frames, dropped, peak


def frame_costs(count: int) -> tuple[list[float], list[float], list[float]]:
    backend = SyntheticBackend(WIDTH, HEIGHT, FPS, SCRIPTS["cycle"], realtime=False)
    backend.open()
    service = PiService(PiSettings(ring_frames=RING, memory_cap_mb=4096), backend)
    floor = np.empty((RING, HEIGHT, WIDTH, 3), np.uint8)
    floor.fill(0)
    service.ring.frames.fill(0)  # touch every page first: neither side pays for first-touch faults
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    push, metric, copy = [], [], []
    for i in range(count):
        info = backend.read(frame)
        t0 = time.perf_counter()
        service.ring.push(frame, info)
        t1 = time.perf_counter()
        service.night.observe(measure(frame, info), backend)
        t2 = time.perf_counter()
        np.copyto(floor[i % RING], frame)
        t3 = time.perf_counter()
        push.append((t1 - t0) * 1000)
        metric.append((t2 - t1) * 1000)
        copy.append((t3 - t2) * 1000)
    return push, metric, copy


def main(seconds: float, count: int) -> None:
    frames, dropped, peak = run_service(seconds)
    push, metric, copy = frame_costs(count)
    print(f"pi frame cost: {WIDTH}x{HEIGHT} RGB at {FPS:g} fps, {RING}-frame ring")
    print(f"  service ran {seconds:g} s: {frames} frames, {dropped} dropped   (target 0)")
    print(f"  ring push     p50 {statistics.median(push):6.2f} ms")
    print(f"  night metric  p50 {statistics.median(metric):6.2f} ms")
    print(f"  np.copyto     p50 {statistics.median(copy):6.2f} ms")
    print(
        f"  push + metric p50 {statistics.median(p + m for p, m in zip(push, metric, strict=True)):6.2f} ms "
        f"of a {1000 / FPS:.1f} ms frame"
    )
    print(f"  ring push / copyto  {statistics.median(push) / statistics.median(copy):5.2f}x   (target <= 1.3x)")
    print(f"  service peak RSS {peak:6.0f} MB (the ring alone is {RING * WIDTH * HEIGHT * 3 / 1e6:.0f} MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    main(args.seconds, args.frames)
