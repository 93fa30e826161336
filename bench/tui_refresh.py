"""Camera table refresh cost at 1000 cameras, and the real app's idle output on a terminal.

Refresh: each figure is the process CPU time from handing the table a tick's rows to the screen
having been redrawn (wall time would add the wait for the next frame, which is pacing, not work), in
an 80x24 terminal (what rigtui is built to fit) and a large 160x50 one (more rows on screen). Two
ticks: every camera changing, and 10 of 1000 changing (the others still get a new snapshot, as the
poller's are, with only their poll time moved). rigtui's CameraTable (Line API: only visible rows
drawn, only changed rows redrawn) runs next to Textual's DataTable fed the same rows, each changed
cell through update_cell, in the same run.

Idle output: `rigtui --camera ...` on 12 idle simulated cameras (`rigtui sim` on 127.0.5.x) in an
80x24 pseudo-terminal; every byte the app writes is counted for 30 s once it has settled, and the
screen rows it rewrote are listed so a redraw that should not happen can be named.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import replace
from pathlib import Path

from rich.text import Text
from simproc import simulated_rig
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable

from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.tui.camera_table import COLUMNS, CameraTable, Cells, Row, render_cells, to_text

SIZES = ((80, 24), (160, 50))
TARGETS_MS = {"all": 20.0, "10": 3.0}
IDLE_TARGET_KBPS = 2.0


class DataTableBaseline(DataTable[Text]):
    """Textual's DataTable given the same rows: a row added per new camera, each changed cell updated."""

    def __init__(self) -> None:
        super().__init__(cursor_type="row", cell_padding=0)
        self.shown: dict[str, Cells] = {}

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, width=column.width or 80, key=column.key)

    def apply(self, rows: list[Row]) -> None:
        for snap, name, selected in rows:
            cells = render_cells(snap, name, selected)
            before = self.shown.get(snap.key)
            if before is None:
                self.add_row(*map(to_text, cells), key=snap.key)
            else:
                for column, old, new in zip(COLUMNS, before, cells, strict=True):
                    if old != new:
                        self.update_cell(snap.key, column.key, to_text(new))
            self.shown[snap.key] = cells


class TableApp(App[None]):
    def __init__(self, table: Widget) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


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


def tick(snapshots: list[CameraSnapshot], n: int, changing: int) -> list[CameraSnapshot]:
    """`changing` cameras, spread over the rig, move their recording time and battery; every snapshot
    is new (its poll time moves), as the poller's are."""
    step = max(1, len(snapshots) // changing)
    return [
        replace(s, recording_seconds=n, battery_percent=50 + (n + i) % 50, updated=float(n))
        if i % step == 0
        else replace(s, updated=float(n))
        for i, s in enumerate(snapshots)
    ]


async def measure(table: Widget, cameras: int, changing: int, ticks: int, size: tuple[int, int]) -> list[float]:
    app = TableApp(table)
    times = []
    async with app.run_test(size=size) as pilot:
        snapshots = rig(cameras)
        table.apply([(s, s.key, False) for s in snapshots])  # type: ignore[attr-defined]
        await pilot.pause()
        for n in range(1, ticks + 1):
            snapshots = tick(snapshots, n, changing)
            started = time.process_time()
            with app.batch_update():
                table.apply([(s, s.key, False) for s in snapshots])  # type: ignore[attr-defined]
            await pilot.pause()
            times.append((time.process_time() - started) * 1000)
    return times


def spread(times: list[float]) -> str:
    return f"p50 {statistics.median(times):6.1f} ms  max {max(times):6.1f} ms"


async def refresh_costs(cameras: int, ticks: int) -> None:
    print(f"table refresh: {cameras} cameras, CPU per tick from rows handed over to screen redrawn, {ticks} ticks")
    for width, height in SIZES:
        print(f"  terminal {width}x{height}")
        for label, changing in (("all", cameras), ("10", 10)):
            ours = await measure(CameraTable(), cameras, changing, ticks, (width, height))
            theirs = await measure(DataTableBaseline(), cameras, changing, ticks, (width, height))
            target = TARGETS_MS[label]
            verdict = "ok" if statistics.median(ours) <= target else "OVER TARGET"
            print(
                f"    {label:>3} changing  CameraTable p50 {statistics.median(ours):6.1f} ms  max {max(ours):6.1f} ms"
            )
            print(
                f"    {'':>3}           DataTable   p50 {statistics.median(theirs):6.1f} ms  max {max(theirs):6.1f} ms"
            )
            ratio = statistics.median(theirs) / max(statistics.median(ours), 1e-3)
            print(f"                  DataTable / CameraTable {ratio:5.1f}x   (target <= {target:g} ms: {verdict})")


# -- idle output -----------------------------------------------------------------------------------
CURSOR_TO = re.compile(rb"\x1b\[(\d+);(\d+)H")
ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_][^\x1b]*\x1b\\|\x1b.")


async def idle_output(cameras: int, settle_s: float, seconds: float) -> None:
    print(f"idle output: the app on {cameras} idle simulated cameras, 80x24 pty, {seconds:g} s after {settle_s:g} s")
    async with simulated_rig(cameras) as endpoints:
        with tempfile.TemporaryDirectory(prefix="rigtui-bench-") as home:
            chunks = await run_in_pty(
                [sys.executable, "-m", "rigtui", *(f"--camera={e.address}" for e in endpoints)],
                isolated_env(Path(home)),
                settle_s,
                seconds,
            )
    total = sum(len(chunk) for _, chunk in chunks)
    rate = total / 1024 / seconds
    verdict = "ok" if rate <= IDLE_TARGET_KBPS else "OVER TARGET"
    print(f"  {total} bytes in {seconds:g} s: {rate:.2f} KB/s (target <= {IDLE_TARGET_KBPS:g} KB/s: {verdict})")
    print(f"  {len(chunks)} writes; screen rows rewritten (row: times, last text written there):")
    for row, (count, text) in sorted(rows_written(chunks).items()):
        print(f"    {row:>3}: {count:>4}x  {text[:60]!r}")


def isolated_env(home: Path) -> dict[str, str]:
    """The user's folders stay untouched: home, config, state, data and cache in a temporary folder."""
    env = {**os.environ, "HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    return env


Chunks = list[tuple[float, bytes]]  # (time.monotonic(), bytes the app wrote)


async def run_in_pty(command: list[str], env: dict[str, str], settle_s: float, seconds: float) -> Chunks:
    """Run `command` on an 80x24 pty; return what it wrote (time, bytes) in the window after settling."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        command, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=env["HOME"], start_new_session=True
    )
    os.close(follower)
    loop = asyncio.get_running_loop()
    window: list[float] = [float("inf"), float("inf")]
    chunks: Chunks = []

    def readable() -> None:
        try:
            data = os.read(leader, 65536)
        except OSError:
            loop.remove_reader(leader)
            return
        now = time.monotonic()
        if window[0] <= now < window[1]:
            chunks.append((now, data))

    loop.add_reader(leader, readable)
    try:
        await asyncio.sleep(settle_s)
        window[:] = [time.monotonic(), time.monotonic() + seconds]
        await asyncio.sleep(seconds)
    finally:
        os.write(leader, b"\x11")  # ctrl+q
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
        except TimeoutError:
            proc.kill()
            proc.wait()
        loop.remove_reader(leader)
        os.close(leader)
    return chunks


def rows_written(chunks: Chunks) -> dict[int, tuple[int, str]]:
    """Which screen rows the app wrote text on, how often, and the text last written there (a cursor
    move with nothing after it only parks the cursor)."""
    rows: dict[int, tuple[int, str]] = {}
    for _, chunk in chunks:
        moves = list(CURSOR_TO.finditer(chunk))
        for move, following in zip(moves, [*moves[1:], None], strict=True):
            text = ESCAPES.sub(b"", chunk[move.end() : following.start() if following else len(chunk)])
            if text:
                row = int(move.group(1))
                rows[row] = (rows.get(row, (0, ""))[0] + 1, text.decode(errors="replace").strip())
    return rows


async def main(cameras: int, ticks: int, idle_s: float, idle_cameras: int) -> None:
    await refresh_costs(cameras, ticks)
    if idle_s > 0:
        await idle_output(idle_cameras, 10.0, idle_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="0 skips the idle output run")
    parser.add_argument("--idle-cameras", type=int, default=12)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.ticks, args.idle_seconds, args.idle_cameras))
