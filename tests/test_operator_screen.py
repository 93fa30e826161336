"""The operator's screen in the middle of a shoot: problems loudest and kept until acknowledged, keys
scoped to their screen and all listed in help, actions on exactly what is shown, no quitting a copy
by accident."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from test_tui import app_for, cell, log_text, until
from textual.binding import Binding
from textual.widgets import Input

from rigtui.sim.rig import SimRig
from rigtui.tui.app import cursor_movement, key_names
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.confirm import ConfirmScreen
from rigtui.tui.download_screen import DownloadScreen
from rigtui.tui.help import HelpScreen
from rigtui.tui.summary_bar import MessageLine


def summary(app: object) -> str:
    return str(app.query_one("#summary").render())  # type: ignore[attr-defined]


def help_text(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, HelpScreen)
    return "\n".join(f"{key}  {text}" for key, text in screen.keys)


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_a_camera_that_fails_to_start_is_not_rec_until_acknowledged(rig: SimRig, tmp_path: Path) -> None:
    bad = rig.servers[1]
    bad.set_fault("shutter-500", None)
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        await pilot.press("r")
        await until(pilot, lambda: "record: 2 of 3 cameras ok" in log_text(app))
        await until(pilot, lambda: "NOT REC" in cell(app, bad.camera.serial, "state"))
        assert f"NOT REC: {bad.camera.serial[:3]}…{bad.camera.serial[-4:]}" in summary(app)
        assert "REC 2/3" in summary(app)
        assert not app._notifications, "no toast covers the table"
        message = app.query_one(MessageLine)
        assert message.failures and "HTTP 500" in message.failures[-1]
        assert next(iter(app.query_one(CameraTable).shown)) == bad.camera.serial, "the loudest row is on top"
        await pilot.pause(1.5)  # ticks go by: still loud
        assert "NOT REC" in cell(app, bad.camera.serial, "state") and "NOT REC" in summary(app)
        await pilot.press("a")
        await until(pilot, lambda: "NOT REC" not in summary(app))
        assert "NOT REC" not in cell(app, bad.camera.serial, "state")
        assert not message.failures
        assert "not recording, acknowledged" in log_text(app)


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_a_filter_is_what_actions_act_on_and_says_so(rig: SimRig, tmp_path: Path) -> None:
    app = app_for(rig, tmp_path)
    chosen = rig.servers[2].camera.serial
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        await pilot.press("slash")
        app.query_one("#filter", Input).value = chosen[-6:]
        await pilot.press("enter")
        await until(pilot, lambda: list(app.query_one(CameraTable).shown) == [chosen])
        assert "FILTER 1/3" in summary(app)
        await pilot.press("t")
        await until(pilot, lambda: "sync time: 1 of 1 cameras ok" in log_text(app))
        synced = [line for line in log_text(app).splitlines() if line.startswith("sync time")]
        assert not any(s.camera.serial in line for s in rig.servers[:2] for line in synced), synced


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_a_filter_by_condition_and_a_selection_that_shows_its_count_and_clears(
    rig: SimRig, tmp_path: Path
) -> None:
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        rig.servers[0].link_down(30)
        await until(pilot, lambda: "OFFLINE 1" in summary(app))
        await pilot.press("slash")
        app.query_one("#filter", Input).value = "offline"
        await pilot.press("enter")
        await until(pilot, lambda: list(app.query_one(CameraTable).shown) == [rig.servers[0].camera.serial])
        app.query_one("#filter", Input).value = ""
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        app.query_one(CameraTable).focus()
        await pilot.press("space")
        await pilot.press("space")
        await until(pilot, lambda: "SELECTED 2" in summary(app))
        await pilot.press("x")
        await until(pilot, lambda: "SELECTED" not in summary(app))
        assert not app.selected


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_help_lists_every_key_of_the_screen_in_front(rig: SimRig, tmp_path: Path) -> None:
    """Every key the app, the table and the screen in front bind is in help (Textual's own cursor
    movement aside), with what it does."""
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        active = {key for key, entry in app.screen.active_bindings.items() if not cursor_movement(entry.binding)}
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        listed = help_text(app)
        declared = [
            b for b in [*app.BINDINGS, *CameraTable.BINDINGS] if isinstance(b, Binding) and not cursor_movement(b)
        ]
        keys = {key for binding in declared for key in binding.key.split(",")} | active
        for key in keys:
            assert key_names(key) in listed, f"help misses {key}"
        assert all(text.strip() for _, text in app.screen.keys), "each key says what it does"
        await pilot.press("escape")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DownloadScreen))
        app.screen.query_one("#download-cameras").focus()  # in the folder box, ? is a character
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        listed = help_text(app)
        assert "escape" in listed and "record" not in listed.lower(), listed


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_main_screen_keys_do_nothing_on_the_download_screen(rig: SimRig, tmp_path: Path) -> None:
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DownloadScreen))
        app.screen.query_one("#download-cameras").focus()
        await pilot.press("r", "t", "o")
        await pilot.pause(0.5)
        assert isinstance(app.screen, DownloadScreen)
        assert "record:" not in log_text(app) and "sync time:" not in log_text(app)
        assert not any(s.camera.encoding for s in rig.servers)


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_quitting_during_an_offload_asks_and_says_it_resumes(rig: SimRig, tmp_path: Path) -> None:
    for server in rig.servers:
        server.throttle_mbps = 0.5
        await server.camera.add_recording(duration=20, cre=1_790_000_000, size=4_000_000)
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        app.start_offload(str(tmp_path / "footage"))
        await until(pilot, lambda: app.offload_run is not None and app.offload_run.plan is not None)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        details = app.screen.details  # type: ignore[attr-defined]
        assert "resumes where it stopped" in details and str(tmp_path / "footage") in details
        await pilot.press("n")
        await pilot.pause(0.2)
        assert app.is_running and app.offload_running
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running)


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_the_palette_offers_the_keys_of_the_screen_in_front(rig: SimRig, tmp_path: Path) -> None:
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        titles = {entry.text for entry in app.palette_entries()}
        assert {"Record", "Sync", "Check"} <= titles, titles
        assert any(title.startswith("Sort") for title in titles), "the table's keys too"
        sort = next(entry for entry in app.palette_entries() if entry.text.startswith("Sort"))
        ran = sort.run()
        if inspect.isawaitable(ran):  # the palette awaits what an entry returns
            await ran
        await pilot.pause()
        header = app.query_one(CameraTable).render_line(0).text
        assert "▼" in header or "▲" in header, header


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_the_download_screen_shows_each_destination(rig: SimRig, tmp_path: Path) -> None:
    for server in rig.servers:
        await server.camera.add_recording(duration=5, cre=1_790_000_000, size=300_000)
    first, second = tmp_path / "ssd1", tmp_path / "ssd2"
    app = app_for(rig, tmp_path, f'[offload]\nsidecars = false\ndestinations = ["{first}", "{second}"]\n')
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DownloadScreen))
        await pilot.press("enter")
        await until(pilot, lambda: app.offload_run is not None and not app.offload_running, 30)
        await pilot.pause(0.6)
        rate = str(app.screen.query_one("#rate").render())
        assert f"{first}: 2/2 files" in rate and f"{second}: 2/2 files" in rate, rate
