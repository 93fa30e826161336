"""The Pi pane as an operator sees it at 80x24 and 160x50, its preview, its keys, and the Pi events the
log shows, all against the real Pi service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PiService_
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from rigtui.config import parse
from rigtui.gopro.ledger import Ledger
from rigtui.ops.rig import rig_options
from rigtui.pi.backends import NIGHT_LEVEL, Phase, SyntheticBackend
from rigtui.pi.export import ExportSettings
from rigtui.pi.night import NightSettings
from rigtui.pi.server import LineServer
from rigtui.pi.service import PiService, PiSettings
from rigtui.remote.pilink import PiEndpoint, PiEvent, PiLink
from rigtui.tui import make_app
from rigtui.tui.app import RigApp
from rigtui.tui.help import HELP_TEXT
from rigtui.tui.pi_pane import PiPane, PreviewScreen, half_blocks, preview_box, preview_frame_width
from rigtui.userstate import UserState

SIZES = [(80, 24), (160, 50)]


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (a Pi whose service is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_with_pis(tmp_path: Path, pis: list[PiEndpoint]) -> RigApp:
    config = parse("[remote]\nstale_after_s = 2.0\n")
    return make_app(
        config,
        rig_options(config, discover=False),
        state=UserState(path=tmp_path / "s.toml"),
        log_dir=tmp_path / "logs",
        ledger=Ledger(tmp_path / "l.jsonl"),
        pis=pis,
    )


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def pane_lines(pane: PiPane) -> list[str]:
    """What the pane shows, line by line, as the terminal gets it."""
    return ["".join(segment.text for segment in pane.render_line(y)) for y in range(pane.size.height)]


def row_of(pane: PiPane, name: str) -> str:
    return next((line for line in pane_lines(pane) if line.lstrip().startswith(name)), "")


@pytest.mark.parametrize("size", SIZES)
async def test_every_pi_shows_its_name_state_mode_and_health_whole(
    pi: PiService_, tmp_path: Path, size: tuple[int, int]
) -> None:
    online = PiEndpoint("pi-north", "127.0.0.1", service_port=pi.port, direct=True)
    gone = PiEndpoint("pi-gone", "127.0.0.1", service_port=closed_port(), direct=True)
    app = app_with_pis(tmp_path, [online, gone])
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(PiPane)
        await until(pilot, lambda: {"pi-north", "pi-gone"} <= set(pane.shown))
        await until(pilot, lambda: "online" in row_of(pane, "pi-north") and "offline" in row_of(pane, "pi-gone"))
        await pilot.pause(0.2)
        header, north, down = pane_lines(pane)[0], row_of(pane, "pi-north"), row_of(pane, "pi-gone")
        for label in ("Pi", "State", "Mode", "Last save", "Health"):
            assert label in header, (label, header)
        assert "DAY" in north and re.search(r" (ok|\d+ dropped) ", north), north  # a loaded machine drops frames
        assert "offline" in down and "no answer fro" in down and "…" in down, "cut short, one line"
        assert pane.virtual_size.width <= pane.size.width, "nothing off to the right"
        assert pane.region.right <= size[0]
        assert all(len(line) == pane.size.width for line in pane_lines(pane))
        wide = size[0] >= 160
        for label in ("Trend", "Exp", "Gain", "FPS", "Ring"):
            assert (label in header) == wide, (label, header)


async def test_columns_come_back_and_go_again_as_the_terminal_is_resized(pi: PiService_, tmp_path: Path) -> None:
    app = app_with_pis(tmp_path, [PiEndpoint("pi-north", "127.0.0.1", service_port=pi.port, direct=True)])
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(PiPane)
        await until(pilot, lambda: "online" in row_of(pane, "pi-north") and "Trend" in pane_lines(pane)[0])
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "Trend" not in pane_lines(pane)[0])
        assert "DAY" in row_of(pane, "pi-north") and pane.virtual_size.width <= pane.size.width <= 80
        await pilot.resize_terminal(160, 50)
        await until(pilot, lambda: "Trend" in pane_lines(pane)[0])
        assert "online" in row_of(pane, "pi-north"), "the rows are back after the columns changed"


@pytest.mark.parametrize("size", SIZES)
async def test_the_preview_fits_the_screen_and_never_wraps(pi: PiService_, tmp_path: Path, size: tuple) -> None:
    app = app_with_pis(tmp_path, [PiEndpoint("pi-north", "127.0.0.1", service_port=pi.port, direct=True)])
    link = PiLink(PiEndpoint("pi-north", "127.0.0.1", service_port=pi.port, direct=True))
    async with app.run_test(size=size) as pilot:
        jpeg = await link.frame(preview_frame_width(app.size))
        app.push_screen(PreviewScreen("pi-north", jpeg))
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen))
        await pilot.pause(0.2)
        box = preview_box(app.size)
        picture = app.screen.query_one("#preview", Static)
        content = picture.content
        assert isinstance(content, Text)
        lines = content.split()
        assert {line.cell_len for line in lines} == {box.width} and len(lines) <= box.height
        assert picture.size.width == box.width and picture.size.height == len(lines), "drawn as made: no wrap"
        assert app.screen.query_one("#preview-dialog").region in app.screen.region.shrink((0, 0, 0, 0))
        assert app.screen.query_one("#preview-dialog").region.right <= size[0]
        assert app.screen.query_one("#preview-dialog").region.bottom <= size[1]


@pytest.mark.parametrize("shape", [(48, 64), (480, 64), (20, 640), (1, 1)])
@pytest.mark.parametrize("box", [(76, 21), (156, 47), (10, 3)])
def test_half_blocks_fill_the_box_width_exactly_whatever_the_picture_s_shape(shape: tuple, box: tuple) -> None:
    ok, jpeg = cv2.imencode(".jpg", np.full((*shape, 3), 128, np.uint8))
    assert ok
    lines = half_blocks(jpeg.tobytes(), *box).split()
    assert {line.cell_len for line in lines} == {box[0]} and 1 <= len(lines) <= box[1]


async def test_the_pane_lists_a_help_text_for_each_of_its_keys(tmp_path: Path) -> None:
    app = app_with_pis(tmp_path, [PiEndpoint("pi-gone", "127.0.0.1", service_port=closed_port(), direct=True)])
    async with app.run_test(size=(80, 24)):
        entries = app.query_one(PiPane).help_entries()
    assert [key for key, _ in entries] == [binding.key for binding in PiPane.BINDINGS]  # type: ignore[union-attr]
    assert all(binding.id in HELP_TEXT for binding in PiPane.BINDINGS)  # type: ignore[union-attr]
    assert all(text for _, text in entries)


# -- events ---------------------------------------------------------------------------------------------
@pytest.fixture
async def dusk_pi(tmp_path: Path) -> AsyncIterator[LineServer]:
    """The real Pi service through one dusk and one dawn: day for 1.5 s, night for 3 s, then day."""
    script = [Phase(1.5, 120), Phase(3, NIGHT_LEVEL), Phase(600, 120)]
    settings = PiSettings(
        night=NightSettings(min_dark_frames=5, min_bright_frames=5),
        export=ExportSettings(folder=tmp_path / "captures", min_free_mb=0),
    )
    service = PiService(settings, SyntheticBackend(64, 48, 20.0, script))
    service.start()
    server = LineServer(service, "127.0.0.1", 0)
    await server.start()
    yield server
    await server.close()
    await asyncio.to_thread(service.stop)


async def watched(link: PiLink, events: list[PiEvent], condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, [e.text for e in events]
        await asyncio.sleep(0.05)


async def test_each_day_night_switch_and_save_is_one_event(dusk_pi: LineServer) -> None:
    events: list[PiEvent] = []
    link = PiLink(PiEndpoint("pi1", "127.0.0.1", service_port=dusk_pi.port, direct=True), on_event=events.append)
    watcher = asyncio.create_task(link.watch(lambda: None))
    texts = lambda: [e.text for e in events]  # noqa: E731
    try:
        await watched(link, events, lambda: any("switched to day" in t for t in texts()))
        await asyncio.sleep(2.5)  # more status lines, nothing new
        assert [t.split(" (")[0] for t in texts()] == ["pi1: online", "pi1: switched to night", "pi1: switched to day"]
        night = texts()[1]
        assert "level" in night and "dark below 35, bright above 55" in night, night
        assert not any(e.problem for e in events)
        reply = await link.command("save jpg")
        assert reply.startswith("SAVED ")
        await watched(link, events, lambda: any("saved" in t for t in texts()))
        await asyncio.sleep(2.5)
        saves = [t for t in texts() if "saved" in t]
        assert saves == [f"pi1: saved {Path(reply.split()[1]).name} (save)"], texts()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_the_link_going_stale_offline_and_back_is_one_event_each(pi: PiService_, tmp_path: Path) -> None:
    """A Pi that stops talking without hanging up goes stale, then offline; the service back: online."""
    hold = asyncio.Event()

    async def silent_after_one_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(LineServer(pi.service, "127.0.0.1", 0).status_line().encode() + b"\n")
        await hold.wait()
        writer.close()

    quiet = await asyncio.start_server(silent_after_one_line, "127.0.0.1", 0)
    port = quiet.sockets[0].getsockname()[1]
    events: list[PiEvent] = []
    endpoint = PiEndpoint("pi1", "127.0.0.1", service_port=port, direct=True)
    link = PiLink(endpoint, stale_after_s=1.5, on_event=events.append)  # the service sends a line a second
    watcher = asyncio.create_task(link.watch(lambda: None))
    try:
        await watched(link, events, lambda: any("offline" in e.text for e in events), 15)
        assert [e.text.split(":")[1].strip() for e in events] == ["online", "stale", "offline"]
        assert [e.problem for e in events] == [False, True, True]
        assert events[1].text == "pi1: stale: no status for 1.5 s"
        assert events[2].text == "pi1: offline: status stream got no reply (TimeoutError)"
        quiet.close()
        link.endpoint = PiEndpoint("pi1", "127.0.0.1", service_port=pi.port, direct=True)
        await watched(link, events, lambda: events[-1].text == "pi1: online again (was offline)", 10)
        await asyncio.sleep(3)
        assert len(events) == 4, [e.text for e in events]
    finally:
        hold.set()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
