"""Table refresh cost: 1000 cameras whose snapshots all change every tick.

rigtui's CameraTable updates only the cells that changed; the baseline, measured in the same run,
clears the table and adds every row again each tick. Each figure is the CPU time from handing the
table a tick's snapshots to the screen having been redrawn (wall time would add the wait for the
next frame, which is pacing, not work), in an 80x24 terminal (what rigtui is
built to fit) and in a large 160x50 one (more rows on screen to redraw).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import replace

from textual.app import App, ComposeResult

from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.tui.camera_table import CameraTable, render_cells, to_text


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CameraTable()


def rig(cameras: int) -> list[CameraSnapshot]:
    return [
        CameraSnapshot(
            f"C3501{i:09d}",
            f"C3501{i:09d}",
            "HERO12",
            None,
            "127.0.1.1",
            8080,
            True,
            battery_percent=50 + i % 50,
            sd_remaining_kb=100_000_000,
            minutes_left=100,
            recording=True,
        )
        for i in range(cameras)
    ]


def tick(snapshots: list[CameraSnapshot], n: int) -> list[CameraSnapshot]:
    """Every camera changes: recording seconds move, batteries drift."""
    return [replace(s, recording_seconds=n, battery_percent=50 + (n + i) % 50) for i, s in enumerate(snapshots)]


async def measure(cameras: int, ticks: int, rebuild: bool, size: tuple[int, int]) -> list[float]:
    app = TableApp()
    times = []
    async with app.run_test(size=size) as pilot:
        table = app.query_one(CameraTable)
        snapshots = rig(cameras)
        table.apply((s, s.key, False) for s in snapshots)
        await pilot.pause()
        for n in range(1, ticks + 1):
            snapshots = tick(snapshots, n)
            started = time.process_time()
            with app.batch_update():
                if rebuild:
                    table.clear()
                    for s in snapshots:
                        table.add_row(*map(to_text, render_cells(s, s.key, False)), key=s.key)
                else:
                    table.apply((s, s.key, False) for s in snapshots)
            await pilot.pause()
            times.append((time.process_time() - started) * 1000)
    return times


async def main(cameras: int, ticks: int) -> None:
    print(f"table refresh: {cameras} cameras, every snapshot changing, {ticks} ticks")
    for size in ((80, 24), (160, 50)):
        ours = await measure(cameras, ticks, False, size)
        rebuilt = await measure(cameras, ticks, True, size)
        print(f"  terminal {size[0]}x{size[1]}")
        print(f"    rigtui   p50 {statistics.median(ours):7.1f} ms   max {max(ours):7.1f} ms   (target <= 50 ms)")
        print(f"    rebuild  p50 {statistics.median(rebuilt):7.1f} ms   max {max(rebuilt):7.1f} ms")
        print(f"    rebuild / rigtui  {statistics.median(rebuilt) / statistics.median(ours):5.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.ticks))
