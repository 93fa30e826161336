"""SVG snapshots of what an operator sees: the main screen (one camera's clock 73 s off), the key list,
a confirmation; at 80x24 and 160x50: a failed start among 12 cameras, 100 cameras with the problems
on top, the typed format question, quitting during an offload.

The poller is stopped and fixed snapshots are shown, so the pictures do not depend on timing.
`pytest --snapshot-update` rewrites them after an intended change (look at them first).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import RichLog

from rigtui.config import parse
from rigtui.gopro.offload import OffloadOptions
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.offload import OffloadRun
from rigtui.ops.rig import rig_options
from rigtui.pi.status import LastSave, PiStatus, RingStatus
from rigtui.remote.pilink import PiEndpoint, PiSnapshot
from rigtui.tui import make_app
from rigtui.tui.app import RigApp, SnapshotsUpdated
from rigtui.tui.pi_pane import PiPane
from rigtui.tui.prompt import PromptScreen
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
    rig_app.say("record: 5 of 6 cameras ok; dispatch spread 0.61 ms")  # not the session log's temporary path
    rig_app.post_message(SnapshotsUpdated(RIG))
    await pilot.pause()


def test_main_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(tmp_path), terminal_size=(80, 24), run_before=show_fixed_rig)


def test_help_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(tmp_path), press=["question_mark"], terminal_size=(80, 24), run_before=show_fixed_rig)


def test_power_off_confirmation(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(tmp_path), press=["o", "_"], terminal_size=(80, 24), run_before=show_fixed_rig)


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


def take(
    cameras: int, *, failed: frozenset[int] = frozenset(), trouble: dict[int, dict[str, object]] | None = None
) -> list[CameraSnapshot]:
    """A rig in the middle of a take: every camera should record; the `failed` ones do not."""
    models = ("HERO10", "HERO11", "HERO12", "HERO13")
    rig = []
    for index in range(cameras):
        fields: dict[str, object] = {"should_record": True, "recording": index not in failed, "recording_seconds": 42}
        if index in failed:
            fields["last_error"] = "camera answered HTTP 500 to shutter start"
        fields.update((trouble or {}).get(index, {}))
        rig.append(snapshot(f"C35{index:011d}", models[index % 4], **fields))
    return rig


def showing(rig: list[CameraSnapshot], log: str = "") -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        rig_app: RigApp = pilot.app  # type: ignore[assignment]
        rig_app.workers.cancel_group(rig_app, "poller")
        await pilot.pause()
        rig_app.last_spread_ms = 0.61
        rig_app.query_one("#log", RichLog).clear()
        rig_app.say("")  # not the session log's temporary path
        if log:
            rig_app.log_line(log, error=True)
        rig_app.post_message(SnapshotsUpdated(rig))
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_a_failed_start_among_twelve(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    rig = take(12, failed=frozenset({7}))
    failure = f"record: {rig[7].key} FAILED: camera answered HTTP 500 to shutter start"
    assert snap_compare(app(tmp_path), terminal_size=size, run_before=showing(rig, failure))


@pytest.mark.parametrize("size", SIZES)
def test_a_hundred_cameras_with_the_problems_on_top(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    trouble: dict[int, dict[str, object]] = {
        40: {"hot": True},
        63: {"online": False, "last_error": "127.0.1.64:8080 unreachable"},
        88: {"battery_percent": 9, "charging": False, "battery_low": True},
    }
    rig = take(100, failed=frozenset({17, 71}), trouble=trouble)
    assert snap_compare(app(tmp_path), terminal_size=size, run_before=showing(rig))


@pytest.mark.parametrize("size", SIZES)
def test_the_typed_format_question(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    details = "\n".join(
        [f"will erase  C35{i:011d}: 14 files, 23.4 GB (3 not verified as offloaded)" for i in range(12)]
    )

    async def run_before(pilot: Pilot) -> None:
        await showing(take(12))(pilot)
        pilot.app.push_screen(
            PromptScreen("Type 12 to erase 12 cards with unverified footage, or Escape:", details=details)
        )
        await pilot.pause()

    assert snap_compare(app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quitting_during_an_offload(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        rig_app: RigApp = pilot.app  # type: ignore[assignment]
        await showing(take(12))(pilot)
        options = OffloadOptions(Path("/srv/shoot/day1"))
        rig_app.offload_run = OffloadRun(rig_app.rig, options, rig_app.ledger)
        rig_app.offload_running = True
        await pilot.press("ctrl+q")
        await pilot.pause()

    assert snap_compare(app(tmp_path), terminal_size=size, run_before=run_before)


def pi_snapshots() -> list[PiSnapshot]:
    night = PiStatus(
        night=True,
        level=3.2,
        dark_threshold=35.0,
        bright_threshold=55.0,
        ring=RingStatus(frames=300, capacity=300, seconds=10.0),
        fps=30.0,
        exposure_us=33_000.0,
        gain=8.0,
        frame_id=91_234,
        last_save=LastSave(("exports/20261202_051500_trigger.mp4",), 1_796_188_500.0, "trigger"),
        disk_free_mb=48_120,
        uptime_s=86_400.0,
        backend="synthetic",
        export_dir="/home/pi/exports",
        changes=("exposure", "gain"),
        dropped=0,
        error=None,
    )
    levels = [80.0, 60.0, 41.0, 20.0, 9.0, 4.0, 3.2]
    return [
        PiSnapshot("pi-north", "online", night, levels, None),
        PiSnapshot("pi-south", "offline", None, [], "127.0.0.1:9 refused the connection (is the service running?)"),
    ]


@pytest.mark.parametrize("size", SIZES)
def test_the_pi_pane(snap_compare, tmp_path: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TZ", "UTC")  # the last save's time of day
    time.tzset()
    config = parse("")
    pis = [PiEndpoint(name, "127.0.0.1", service_port=9, direct=True) for name in ("pi-north", "pi-south")]
    pi_app = make_app(
        config,
        rig_options(config, discover=False),
        state=UserState(path=tmp_path / "s.toml"),
        log_dir=tmp_path,
        pis=pis,
    )

    async def run_before(pilot: Pilot) -> None:
        for name in ("pi-north", "pi-south"):
            pi_app.workers.cancel_group(pi_app, f"pi-{name}")
        await showing(take(6))(pilot)
        pi_app.query_one(PiPane).apply(pi_snapshots())
        await pilot.pause()

    assert snap_compare(pi_app, terminal_size=size, run_before=run_before)
