"""SVG snapshots of what an operator sees: the main screen (one camera's clock 73 s off), the key list,
a confirmation.

The poller is stopped and fixed snapshots are shown, so the pictures do not depend on timing.
`pytest --snapshot-update` rewrites them after an intended change (look at them first).
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import RichLog

from rigtui.config import parse
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.rig import rig_options
from rigtui.tui import make_app
from rigtui.tui.app import RigApp, SnapshotsUpdated
from rigtui.userstate import UserState


def snapshot(serial: str, model: str, **fields: object) -> CameraSnapshot:
    values: dict[str, object] = {
        "online": True,
        "battery_percent": 87,
        "charging": True,
        "sd_state": "ok",
        "sd_remaining_kb": 120_000_000,
        "sd_capacity_kb": 124_702_720,
        "minutes_left": 171,
        "updated": 0.0,
        "clock_offset_s": 0.3,
    }
    values.update(fields)
    return CameraSnapshot(serial, serial, model, None, "127.0.1.1", 8080, **values)  # type: ignore[arg-type]


RIG = [
    snapshot("C3441144272509", "HERO10"),
    snapshot("C3461611178002", "HERO11", recording=True, recording_seconds=754, clock_offset_s=-73.4, clock_off=True),
    snapshot("C3501909925047", "HERO12", battery_percent=12, charging=False, battery_low=True, hot=True),
    snapshot("C3531861425548", "HERO13", minutes_left=4, sd_low=True, sd_remaining_kb=2_900_000, busy=True),
    snapshot("C3531126614242", "HERO13", online=False, battery_percent=None, last_error="127.0.1.5:8080 unreachable"),
    snapshot("C3501273878287", "HERO12", cold=True, last_error="camera answered HTTP 500 to shutter start"),
]


def app(tmp_path: Path) -> RigApp:
    state = UserState(prime="C3501909925047", nicknames={"C3441144272509": "left-wide"}, path=tmp_path / "s.toml")
    config = parse("")
    return make_app(config, rig_options(config, discover=False), state=state, log_dir=tmp_path)


async def show_fixed_rig(pilot: Pilot) -> None:
    rig_app: RigApp = pilot.app  # type: ignore[assignment]
    rig_app.workers.cancel_group(rig_app, "poller")
    await pilot.pause()
    rig_app.last_spread_ms = 0.61
    log = rig_app.query_one("#log", RichLog)
    log.clear()
    log.write("record: 5 of 6 cameras ok; dispatch spread 0.61 ms")
    rig_app.post_message(SnapshotsUpdated(RIG))
    await pilot.pause()


def test_main_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(tmp_path), terminal_size=(80, 24), run_before=show_fixed_rig)


def test_help_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(tmp_path), press=["question_mark"], terminal_size=(80, 24), run_before=show_fixed_rig)


def test_power_off_confirmation(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(tmp_path), press=["o", "_"], terminal_size=(80, 24), run_before=show_fixed_rig)
