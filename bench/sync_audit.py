"""Sync audit cost and accuracy: a take of 12 one-minute clips from simulated cameras in one room.

Each camera starts 100-200 ms after the request (sub-millisecond fractions). The audit (a few
seconds of audio per clip, seeked to, then matched) is timed with its default 2 threads and with
one, next to a naive baseline measured in the same run on the same clips: decoding every clip's
whole audio track (what an audit that reads whole files pays before matching anything). Also
prints the worst error against the true offsets. Targets: audit < 10 s, worst error < 1 ms.
Then the same with ten-minute clips: the audit's cost must not grow with the clips' length.
The clips are written to a temporary folder, never into the repository.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import av

from rigtui.gopro.audiosync import SyncOptions, TakeSync, audit_take
from rigtui.sim.clips import RoomSound, timecode, write_clip

T0 = 1_790_000_000.0


def write_take(folder: Path, clips: int, seconds: float) -> dict[str, tuple[Path, float]]:
    """camera -> (its clip, when it started after the request)."""
    room, draw = RoomSound(seed=5), random.Random(5)
    take = {}
    for index in range(clips):
        start = draw.uniform(0.100, 0.200)
        path = folder / f"C33{index:02d}_GX010001.MP4"
        write_clip(
            path,
            start_wall=T0 + start,
            duration_s=seconds,
            disk_bytes=int(seconds * 8_000) + 100_000,
            fill_seed=index,
            room=room,
            timecode=timecode(T0 + start, 30.0),
        )
        take[path.stem.split("_")[0]] = (path, start)
    return take


def decode_whole(paths: list[Path]) -> None:
    """The baseline: every clip's whole audio track decoded."""
    for path in paths:
        with av.open(str(path)) as container:
            for _ in container.decode(audio=0):
                pass


def timed(runs: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def worst_error_ms(sync: TakeSync, take: dict[str, tuple[Path, float]]) -> float:
    reference = take[sync.reference or ""][1]
    errors = [abs(c.offset_s - (take[c.camera][1] - reference)) for c in sync.clips if c.offset_s is not None]
    return max(errors) * 1000


def measure(folder: Path, clips: int, seconds: float, runs: int) -> tuple[float, float, float, TakeSync, float]:
    """(audit s, audit s on one thread, whole-file decode s, the audit, its worst error in ms)."""
    take = write_take(folder, clips, seconds)
    named = {camera: path for camera, (path, _) in take.items()}
    audit_s, sync = timed(runs, lambda: audit_take(named))
    single_s, _ = timed(runs, lambda: audit_take(named, SyncOptions(threads=1)))
    naive_s, _ = timed(runs, lambda: decode_whole(list(named.values())))
    assert isinstance(sync, TakeSync)
    return audit_s, single_s, naive_s, sync, worst_error_ms(sync, take)


def main(clips: int, seconds: float, long_seconds: float, runs: int) -> None:
    print(f"sync audit: {clips} clips from one room, median of {runs} runs")
    for length in (seconds, long_seconds) if long_seconds else (seconds,):
        with tempfile.TemporaryDirectory(prefix="rigtui-sync-bench-") as folder:
            audit_s, single_s, naive_s, sync, error_ms = measure(Path(folder), clips, length, runs)
        spread_ms = (sync.spread_s or 0) * 1000
        print(f"  {clips} x {length:g} s clips: aligned {len(sync.aligned)}, spread {spread_ms:.3f} ms")
        print(f"    audit (2 threads)     {audit_s:6.2f} s   (target < 10 s)")
        print(f"    audit (1 thread)      {single_s:6.2f} s")
        print(f"    whole-file decode     {naive_s:6.2f} s   (the baseline: every clip's audio decoded)")
        print(f"    worst error vs truth  {error_ms:8.4f} ms   (target < 1 ms)")
        print(f"    whole-file decode / audit  {naive_s / audit_s:6.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-seconds", type=float, default=600.0, help="a second take of longer clips (0: none)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    main(args.clips, args.seconds, args.long_seconds, args.runs)
