"""Pilot tests: the app driven by its keys against simulated cameras on real sockets."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from conftest import UNSYNCED
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Static

from rigtui.config import parse
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.ledger import Ledger
from rigtui.ops.rig import rig_options
from rigtui.sim.rig import SimRig
from rigtui.tui import make_app
from rigtui.tui.app import RigApp
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.confirm import ConfirmScreen
from rigtui.tui.download_screen import DownloadScreen
from rigtui.tui.help import HelpScreen
from rigtui.tui.prompt import PromptScreen
from rigtui.userstate import UserState

FAST = "[rig]\npoll_hz = 2.0\nrequest_timeout_s = 1.0\n"


def app_for(rig: SimRig, tmp_path: Path, extra_config: str = "") -> RigApp:
    config = parse(FAST + extra_config)
    endpoints = [Endpoint(s.host, s.port, s.camera.serial) for s in rig.servers]
    state = UserState(path=tmp_path / "state.toml")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    options = rig_options(config, endpoints=endpoints)
    return make_app(config, options, state=state, log_dir=tmp_path / "logs", ledger=ledger)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def cell(app: RigApp, key: str, column: str) -> str:
    return app.query_one(CameraTable).get_cell(key, column).plain


def log_text(app: RigApp) -> str:
    return "\n".join(line.text for line in app.query_one("#log", RichLog).lines)


@pytest.fixture
async def running(rig: SimRig, tmp_path: Path) -> AsyncIterator[tuple[RigApp, Pilot]]:
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == len(rig.servers))
        yield app, pilot


def keys(rig: SimRig) -> list[str]:
    return [s.camera.serial for s in rig.servers]


@pytest.mark.rig(cameras=4)
async def test_r_records_every_camera_and_the_table_shows_it_s_stops(rig: SimRig, running: tuple) -> None:
    app, pilot = running
    await pilot.press("r")
    await until(pilot, lambda: all(s.camera.encoding for s in rig.servers))
    await until(pilot, lambda: all(cell(app, k, "rec").startswith("●") for k in keys(rig)))
    assert "record: 4 of 4 cameras ok" in log_text(app)
    await pilot.press("s")
    await until(pilot, lambda: not any(s.camera.recording_since for s in rig.servers))
    await until(pilot, lambda: all(cell(app, k, "rec") == "-" for k in keys(rig)))


@pytest.mark.rig(cameras=3, faults=[])
async def test_a_failed_start_is_named_in_the_log_and_the_row(rig: SimRig, running: tuple) -> None:
    app, pilot = running
    bad = rig.servers[1]
    bad.set_fault("shutter-500", None)
    await pilot.press("r")
    await until(pilot, lambda: "record: 2 of 3 cameras ok" in log_text(app))
    assert f"record: {bad.camera.serial} FAILED: camera answered HTTP 500" in log_text(app)
    await until(pilot, lambda: "HTTP 500" in cell(app, bad.camera.serial, "error"))


@pytest.mark.rig(cameras=3)
async def test_t_syncs_time_and_c_copies_from_the_prime_chosen_with_p(
    rig: SimRig, running: tuple, tmp_path: Path
) -> None:
    app, pilot = running
    await pilot.press("t")
    await until(pilot, lambda: "sync time: 3 of 3 cameras ok" in log_text(app))
    table = app.query_one(CameraTable)
    prime = rig.servers[2].camera  # HERO12
    table.move_cursor(row=table.get_row_index(prime.serial))
    await pilot.press("p")
    assert tomllib.loads((tmp_path / "state.toml").read_text())["prime"] == prime.serial
    prime.set_setting(121, 4)  # Linear
    await pilot.pause(0.3)
    await pilot.press("c")
    await until(pilot, lambda: "copy settings from" in log_text(app) and "cameras ok" in log_text(app), 20)
    assert all(s.camera.settings[121] == 4 for s in rig.servers)


@pytest.mark.rig(cameras=3)
async def test_a_camera_that_goes_down_shows_offline_and_comes_back(rig: SimRig, running: tuple) -> None:
    app, pilot = running
    down = rig.servers[0]
    down.link_down(1.5)
    await until(pilot, lambda: cell(app, down.camera.serial, "state") == "✖ OFFLINE")
    assert "ONLINE 2/3" in str(app.query_one("#summary").render())
    await until(pilot, lambda: cell(app, down.camera.serial, "state") == "✓ READY", 15)


@pytest.mark.rig(cameras=4)
async def test_selection_restricts_actions(rig: SimRig, running: tuple) -> None:
    app, pilot = running
    table = app.query_one(CameraTable)
    chosen = rig.servers[2].camera.serial
    table.move_cursor(row=table.get_row_index(chosen))
    await pilot.press("space")
    assert app.selected == {chosen} and cell(app, chosen, "name").startswith("▸")
    await pilot.press("r")
    await until(pilot, lambda: "record: 1 of 1 cameras ok" in log_text(app))
    assert [s.camera.encoding for s in rig.servers] == [False, False, True, False]


@pytest.mark.rig(cameras=2)
async def test_power_off_asks_first(rig: SimRig, running: tuple) -> None:
    app, pilot = running
    await pilot.press("o")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.press("escape")
    await until(pilot, lambda: "power off: cancelled" in log_text(app))
    assert all(s.listening for s in rig.servers)
    await pilot.press("o")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.press("y")
    await until(pilot, lambda: "power off: 2 of 2 cameras ok" in log_text(app))
    await asyncio.sleep(0.2)
    assert not any(s.listening for s in rig.servers)


@pytest.mark.rig(cameras=4)
async def test_filter_help_nickname_and_stop_greyed_out(rig: SimRig, running: tuple, tmp_path: Path) -> None:
    app, pilot = running
    assert app.check_action("stop", ()) is None, "nothing records: stop is greyed out"
    await pilot.press("slash")
    await pilot.press(*"hero13")
    await until(pilot, lambda: list(app.query_one(CameraTable).shown) == [rig.servers[3].camera.serial])
    await pilot.press("escape")
    await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 4)
    await pilot.press("question_mark")
    assert isinstance(app.screen, HelpScreen)
    await pilot.press("escape")
    table = app.query_one(CameraTable)
    table.move_cursor(row=0)
    key = table.cursor_key
    await pilot.press("n")
    await pilot.press(*"left-rig", "enter")
    assert tomllib.loads((tmp_path / "state.toml").read_text())["nicknames"] == {key: "left-rig"}
    assert "left-rig" in cell(app, str(key), "name")
    logs = list((tmp_path / "logs").glob("session-*.log"))
    assert len(logs) == 1 and "connected" in logs[0].read_text()


@pytest.mark.rig(cameras=2)
async def test_keys_are_remappable_in_config(rig: SimRig, tmp_path: Path) -> None:
    app = app_for(rig, tmp_path, '[keys]\nrecord = "f5"\n')
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        await pilot.press("r")
        await pilot.pause(0.5)
        assert not any(s.camera.encoding for s in rig.servers)
        await pilot.press("f5")
        await until(pilot, lambda: all(s.camera.encoding for s in rig.servers))


@pytest.mark.rig(cameras=3, models=("HERO12", "HERO13"))
async def test_download_screen_offloads_and_the_job_outlives_the_screen(rig: SimRig, tmp_path: Path) -> None:
    audited = importlib.util.find_spec("av") is not None  # the sync audit's extra
    for server in rig.servers:
        server.throttle_mbps = 1.0  # about four seconds per camera: the job is still running when we leave
        await server.camera.add_recording(duration=20, cre=1_790_000_000, size=4_000_000)
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        await pilot.press("d")
        assert isinstance(app.screen, DownloadScreen)
        dest = tmp_path / "footage"
        app.screen.query_one("#dest", Input).value = str(dest)
        await pilot.press("enter")
        await until(pilot, lambda: app.offload_running)
        await pilot.press("escape")
        assert not isinstance(app.screen, DownloadScreen) and app.offload_running, "leaving never stops it"
        await until(pilot, lambda: not app.offload_running, 60)
        job = app.offload_run
        assert job is not None and job.plan is not None
        assert all(t.state == "verified" for t in job.plan.tasks) and len(job.job.sealed) == 1
        await pilot.press("d")
        await until(pilot, lambda: "finished" in str(app.screen.query_one("#rate", Static).render()))
        assert "3/3" in str(app.screen.query_one("#download-cameras", DataTable).get_row_at(0))
        if audited:  # the take list shows each take's start spread, measured from its clips
            assert "(3 cam, spread " in str(app.screen.query_one("#takes", Static).render())
            assert "3 of 3 clips aligned" in log_text(app)
        await pilot.press("escape")
        # Everything is verified: format asks a plain yes/no, and erases.
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "every file is verified as offloaded" in app.screen.details  # type: ignore[attr-defined]
        assert f"will erase  {rig.servers[0].camera.serial}: " in app.screen.details  # type: ignore[attr-defined]
        await pilot.press("y")
        await until(pilot, lambda: "format: 3 of 3 cameras ok" in log_text(app))


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_format_of_unverified_footage_needs_the_typed_camera_count(rig: SimRig, running: tuple) -> None:
    app, pilot = running
    for server in rig.servers:
        await server.camera.add_recording(duration=5, size=100_000)
    await pilot.press("f")
    await until(pilot, lambda: isinstance(app.screen, PromptScreen))
    question = app.screen.question + "\n" + app.screen.details  # type: ignore[attr-defined]
    assert "2 file(s) on 2 camera(s) are NOT verified as offloaded" in question
    assert all(f"{s.camera.serial}: 1 file, 0.00 GB" in question for s in rig.servers), "says what it erases"
    await pilot.press("escape")
    await until(pilot, lambda: "format: not confirmed; nothing erased" in log_text(app))
    await pilot.press("f")
    await until(pilot, lambda: isinstance(app.screen, PromptScreen))
    await pilot.press("3", "enter")
    await until(pilot, lambda: log_text(app).count("format: not confirmed; nothing erased") == 2)
    assert all(s.camera.media.items for s in rig.servers)
    await pilot.press("f")
    await until(pilot, lambda: isinstance(app.screen, PromptScreen))
    await pilot.press("2", "enter")
    await until(pilot, lambda: "format: 2 of 2 cameras ok" in log_text(app))
    assert not any(s.camera.media.items for s in rig.servers)


async def test_pi_pane_shows_day_and_night_saves_and_previews(tmp_path: Path) -> None:
    from rigtui.remote.pilink import PiEndpoint
    from rigtui.sim.demo import demo_world
    from rigtui.tui.pi_pane import PiPane, PreviewScreen

    async with demo_world(1) as world:
        pi = PiEndpoint("pi-sim", world.pi_host, service_port=world.pi_port, direct=True)
        config = parse(FAST)
        app = make_app(
            config,
            rig_options(config, discover=False),
            state=UserState(path=tmp_path / "s.toml"),
            log_dir=tmp_path,
            ledger=Ledger(tmp_path / "l.jsonl"),
            pis=[pi],
        )
        async with app.run_test(size=(160, 50)) as pilot:
            pane = app.query_one(PiPane)

            def cell(column: str) -> str:
                return pane.get_cell("pi-sim", column).plain

            await until(pilot, lambda: "pi-sim" in pane.shown and cell("state") == "online")
            assert cell("mode") == "DAY" and "(35/55)" in cell("level")
            pane.focus()
            await pilot.press("g")
            await until(pilot, lambda: "pi-sim: SAVED " in log_text(app))
            await pilot.press("k")
            await until(pilot, lambda: re.search(r"SAVED \S+_stack\d+\.jpg", log_text(app)) is not None)
            await pilot.press("v")
            await until(pilot, lambda: isinstance(app.screen, PreviewScreen))
            await pilot.press("escape")
            await until(pilot, lambda: cell("mode") == "NIGHT", 30)
            assert cell("exposure") == "2000ms" and cell("trend")


def test_pi_rows_have_a_cell_for_every_column_in_every_state() -> None:
    from rigtui.pi.status import PiStatus
    from rigtui.remote.pilink import PiSnapshot
    from rigtui.tui.pi_pane import COLUMNS, pi_cells

    status = PiStatus.from_json(
        {
            **{"night": True, "level": 0.1, "dark_threshold": 35.0, "bright_threshold": 55.0, "fps": 0},
            **{"uptime_s": 1, "ring": {"frames": 0, "capacity": 300, "seconds": 0}, "backend": "synthetic"},
            **{"changes": [], "dropped": 0},
        }
    )
    for snap in (
        PiSnapshot("a", "offline", None, [], "no route"),
        PiSnapshot("a", "online", status, [1.0], None),
        PiSnapshot("a", "stale", status, [], None),
    ):
        assert len(pi_cells(snap)) == len(COLUMNS) + 1, snap.state


@pytest.mark.rig(cameras=3, models=("HERO12", "HERO13"), tuning=UNSYNCED)
async def test_a_new_user_records_unsynced_cameras_and_gets_one_take(rig: SimRig, tmp_path: Path) -> None:
    """Start, record once without syncing the clocks (minutes apart), stop, offload: one take of
    three clips. The clocks show, the record warns about them, and the summary counts them."""
    app = app_for(rig, tmp_path, f'[offload]\nsidecars = false\ndest = "{tmp_path / "footage"}"\n')
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        await until(pilot, lambda: "CLOCK OFF" in str(app.query_one("#summary").render()))
        assert any(cell(app, s.camera.serial, "clock").endswith("s") for s in rig.servers)
        await pilot.press("r")
        await until(pilot, lambda: "record: 3 of 3 cameras ok" in log_text(app))
        assert "record: warning: camera clocks are up to" in log_text(app)
        await pilot.pause(1.2)
        await pilot.press("s")
        await until(pilot, lambda: "stop: 3 of 3 cameras ok" in log_text(app), 20)
        await pilot.press("d")
        await pilot.press("enter")
        await until(pilot, lambda: app.offload_run is not None and not app.offload_running, 60)
    folders = [p for p in (tmp_path / "footage").iterdir() if p.is_dir()]
    assert len(folders) == 1 and len(list(folders[0].glob("*.MP4"))) == 3
