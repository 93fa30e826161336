"""The format gate is one policy: `rigtui format` and `f` in the app erase exactly the same cards in
the same cases (a card that cannot be read, footage not verified, a camera that records, a forced
erase). Each case runs through both front ends against the same simulated rig set-up and must
leave the same cards erased."""

from __future__ import annotations

import asyncio
import os
import pty
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import cameras_of, url
from textual.widgets import RichLog

from rigtui.config import parse
from rigtui.gopro.discovery import Endpoint
from rigtui.ops.offload import OffloadRun, offload_options, open_ledger
from rigtui.ops.rig import RigSession, rig_options
from rigtui.sim.rig import SimRig
from rigtui.tui import make_app
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.confirm import ConfirmScreen
from rigtui.tui.prompt import PromptScreen
from rigtui.userstate import UserState


@dataclass(frozen=True)
class Case:
    change: str  # what happens to camera 2 after both cards were offloaded
    force: bool  # the operator forces (CLI --force; in the app, forcing is the typed question)
    answer: str | None  # what the operator answers: "y", the typed camera count, or None (declines)
    erased: tuple[bool, bool]  # which cards end up empty


CASES = {
    "unreadable card": Case("malformed", False, "y", (True, False)),
    "unverified file": Case("new-recording", False, None, (False, False)),
    "recording camera": Case("recording", False, "y", (True, False)),
    "forced": Case("new-recording", True, "2", (True, True)),
}


def config_text(tmp_path: Path) -> str:
    return f'[rig]\npoll_hz = 2.0\nrequest_timeout_s = 1.0\n[offload]\nledger = "{tmp_path / "ledger.jsonl"}"\n'


async def prepare(rig: SimRig, tmp_path: Path, change: str) -> None:
    """Both cards hold a take, offloaded and verified; then camera 2 changes."""
    for server in rig.servers:
        await server.camera.add_recording(duration=5, size=200_000)
    config = parse(config_text(tmp_path))
    session = RigSession(rig_options(config, endpoints=[Endpoint(s.host, s.port) for s in rig.servers]))
    await session.open()
    try:
        run = OffloadRun(session.rig, offload_options(config, tmp_path / "footage"), open_ledger(config))
        await run.prepare()
        assert (await run.run()).ok
    finally:
        await session.close()
    second = rig.servers[1]
    async with httpx.AsyncClient(trust_env=False) as http:
        if change == "malformed":
            await http.get(url(second, "/_sim/fault?set=malformed"))
        elif change == "recording":
            assert (await http.get(url(second, "/gopro/camera/shutter/start"))).status_code == 200
        elif change == "new-recording":
            await second.camera.add_recording(duration=5, size=100_000)


def erased(rig: SimRig) -> tuple[bool, bool]:
    first, second = (not server.camera.media.items for server in rig.servers)
    return first, second


async def through_the_cli(rig: SimRig, tmp_path: Path, case: Case) -> None:
    """`rigtui format` on a terminal (a pty), answering its question as the operator would."""
    (tmp_path / "config.toml").write_text(config_text(tmp_path))
    args = ["--config", str(tmp_path / "config.toml"), "format", *cameras_of(rig)]
    args += ["--force"] if case.force else []
    args += ["--yes"] if case.answer == "y" else []
    controller, terminal = pty.openpty()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rigtui", *args, stdin=terminal, stdout=asyncio.subprocess.PIPE, env=env
    )
    os.close(terminal)
    os.write(controller, f"{case.answer or 'n'}\n".encode())
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        os.close(controller)
    assert proc.returncode == (0 if all(case.erased) else 1), out.decode()


async def through_the_app(rig: SimRig, tmp_path: Path, case: Case) -> None:
    """`f` in the app, answering its question as the operator would."""
    config = parse(config_text(tmp_path))
    endpoints = [Endpoint(s.host, s.port, s.camera.serial) for s in rig.servers]
    app = make_app(
        config, rig_options(config, endpoints=endpoints), state=UserState(path=tmp_path / "s.toml"), log_dir=tmp_path
    )

    def log() -> str:
        return "\n".join(line.text for line in app.query_one("#log", RichLog).lines)

    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 20
        while len(app.query_one(CameraTable).shown) < 2 or not any(s.updated for s in app.snapshots):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await pilot.press("f")
        while not isinstance(app.screen, ConfirmScreen | PromptScreen) and "format: refused" not in log():
            assert time.monotonic() < deadline + 20
            await pilot.pause(0.05)
        if isinstance(app.screen, ConfirmScreen):
            await pilot.press("y" if case.answer == "y" else "n")
        elif isinstance(app.screen, PromptScreen):
            typed = case.answer if case.answer and case.answer.isdigit() else None
            await (pilot.press(*typed, "enter") if typed else pilot.press("escape"))
        while "format: not confirmed" not in log() and "format: refused" not in log() and "cameras ok" not in log():
            assert time.monotonic() < deadline + 60, log()
            await pilot.pause(0.05)


@pytest.mark.rig(cameras=2, models=("HERO12",))
@pytest.mark.parametrize("front_end", ["cli", "app"])
@pytest.mark.parametrize("name", list(CASES))
async def test_the_cli_and_the_app_erase_the_same_cards(rig: SimRig, tmp_path: Path, name: str, front_end: str) -> None:
    case = CASES[name]
    await prepare(rig, tmp_path, case.change)
    await (through_the_cli if front_end == "cli" else through_the_app)(rig, tmp_path, case)
    await asyncio.sleep(0.2)
    assert erased(rig) == case.erased, f"{name} through the {front_end}"


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_what_changes_while_the_question_waits_is_never_erased(rig: SimRig, tmp_path: Path) -> None:
    """The erase checks every card again when it happens: a camera that started recording and a
    card that got a new file while the operator read the question are both left alone."""
    await prepare(rig, tmp_path, "nothing")
    config = parse(config_text(tmp_path))
    endpoints = [Endpoint(s.host, s.port, s.camera.serial) for s in rig.servers]
    app = make_app(
        config, rig_options(config, endpoints=endpoints), state=UserState(path=tmp_path / "s.toml"), log_dir=tmp_path
    )
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one("#log", RichLog)

        async def until(condition: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 30
            while not condition():
                assert time.monotonic() < deadline, "\n".join(line.text for line in log.lines)
                await pilot.pause(0.05)

        await until(lambda: len(app.query_one(CameraTable).shown) == 2)
        await pilot.press("f")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        first, second = rig.servers
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(url(first, "/gopro/camera/shutter/start"))).status_code == 200
        await until(lambda: first.camera.encoding)
        await second.camera.add_recording(duration=5, size=100_000)
        await pilot.press("y")
        await until(lambda: "format: 0 of 2 cameras ok" in "\n".join(line.text for line in log.lines))
        text = "\n".join(line.text for line in log.lines)
    assert f"{first.camera.serial} FAILED: not erased: recording now" in text
    assert f"{second.camera.serial} FAILED: not erased: the card holds 1 file(s) the plan did not list" in text
    assert all(server.camera.media.items for server in rig.servers)
