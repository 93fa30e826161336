"""A rig bigger than one computer: 4 host PCs x 25 simulated cameras (each host a local agent with
its own rig on its own loopback range). One CLI command records all 100 and one stops them, and the
offload verifies every file on every host; one TUI session records and stops all 100, and a host
killed mid-session is reported while the others go on."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import run_rigtui
from test_hosts import agent_command, host_table, rig_per_host
from test_tui import cell, log_text, until
from textual.widgets import Input

from rigtui.config import parse
from rigtui.gopro.ledger import Ledger
from rigtui.ops.rig import rig_options
from rigtui.sim.rig import SimRig
from rigtui.tui import make_app
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.download_screen import DownloadScreen
from rigtui.userstate import UserState

HOSTS = ("north", "east", "south", "west")
PER_HOST = 25
CONFIG = "[rig]\npoll_hz = 1.0\nmax_host_offset_ms = 20.0\n\n"  # default time-outs: 100 cameras share one loop here


@pytest.fixture
async def rigs() -> AsyncIterator[dict[str, SimRig]]:
    async with rig_per_host(HOSTS, PER_HOST, 50) as found:
        yield found


def config_text(rigs: dict[str, SimRig], tmp_path: Path) -> str:
    tables = [host_table(n, r, agent_command(tmp_path / f"host-{n}"), direct=True) for n, r in rigs.items()]
    return CONFIG + "\n".join(tables)


def servers_of(rigs: dict[str, SimRig]) -> list:
    return [server for rig in rigs.values() for server in rig.servers]


async def test_one_command_records_and_stops_four_hosts_of_25_and_the_offload_verifies_them(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(rigs, tmp_path))
    servers = servers_of(rigs)
    code, out, err = await run_rigtui("--config", str(config), "hosts", "record", "--json")
    assert code == 0, err + out
    report = json.loads(out)
    assert len(report["outcomes"]) == 100 and all(o["ok"] for o in report["outcomes"])
    assert all(s.camera.encoding for s in servers)
    assert report["host_spread_ms"] < 20, "one instant on every host (each host's release, on this computer's clock)"
    starts = [s.camera.recording_since for s in servers]  # as 100 simulators on this test's one loop saw them
    assert max(starts) - min(starts) < 1.0
    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0 and "stop: 100 of 100 ok on 4 of 4 hosts" in out, err + out
    assert not any(s.camera.encoding for s in servers)

    dest = tmp_path / "footage"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "offload", f"{dest}/{{host}}", "--json")
    assert code == 0, err + out
    files = [f for h in json.loads(out)["hosts"] for f in h["report"]["files"]]
    assert {f["camera"] for f in files} == {s.camera.serial for s in servers}
    assert all(f["state"] == "verified" for f in files)


async def test_one_tui_session_drives_four_hosts_of_25_and_a_dead_host_fails_alone(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    config = parse(config_text(rigs, tmp_path))
    app = make_app(
        config,
        rig_options(config, discover=False),
        state=UserState(path=tmp_path / "state.toml"),
        log_dir=tmp_path / "logs",
        ledger=Ledger(tmp_path / "ledger.jsonl"),
    )
    keys = {name: [f"{name}/{s.camera.serial}" for s in rig.servers] for name, rig in rigs.items()}
    servers = servers_of(rigs)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CameraTable)
        await until(pilot, lambda: len(table.shown) == 100, 90)
        await pilot.press("r")
        await until(pilot, lambda: all(s.camera.encoding for s in servers), 60)
        await until(pilot, lambda: "record: 100 of 100 ok on 4 of 4 hosts" in log_text(app), 30)
        every = [k for name in HOSTS for k in keys[name]]
        assert all(cell(app, k, "state") == "● REC" for k in every), "the rows show the record before its report"

        await pilot.press("s")
        try:
            await until(pilot, lambda: not any(s.camera.encoding for s in servers), 60)
        except AssertionError:
            still = [s.camera.serial for s in servers if s.camera.encoding]
            raise AssertionError(f"still recording: {still}\n{log_text(app)}") from None
        await until(pilot, lambda: "stop: 100 of 100 ok on 4 of 4 hosts" in log_text(app), 30)

        # One offload for the whole rig; west's host PC dies in the middle of it, the others finish.
        for server in rigs["west"].servers:  # west has a long take to offload, and a slow link
            await server.camera.add_recording(duration=5, size=2_500_000)
            server.throttle_mbps = 1.0
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DownloadScreen))
        dest = tmp_path / "footage"
        app.screen.query_one("#dest", Input).value = f"{dest}/{{host}}"
        await pilot.press("enter")
        try:
            await until(pilot, lambda: "west" in app.hosts_progress, 30)
        except AssertionError:
            raise AssertionError(f"{app.hosts_progress}\n{log_text(app)}") from None
        assert app.hosts is not None
        os.kill(app.hosts.hello["west"]["pid"], signal.SIGKILL)
        await until(pilot, lambda: not app.offload_running, 90)
        log = log_text(app)
        assert "FAILED west: west: offline" in log and "offload: 225 of 250 ok on 3 of 4 hosts" in log, log
        for name in HOSTS[:3]:  # every clip of the hosts that lived is on their disks
            assert len(list((dest / name).rglob("*_GX*.MP4"))) == PER_HOST, name
        await pilot.press("escape")

        await until(pilot, lambda: "west: offline" in log_text(app), 30)
        await until(pilot, lambda: "west 0/25" in str(app.query_one("#summary").render()), 20)
        assert all(cell(app, k, "state").endswith(("OFFLINE", "NOT REC")) for k in keys["west"])
        others = [k for name in HOSTS[:3] for k in keys[name]]
        try:  # the other hosts carry on (their cameras busy a moment while they close their files)
            await until(pilot, lambda: all(cell(app, k, "state") == "✓ READY" for k in others), 30)
        except AssertionError:
            states = {k: cell(app, k, "state") for k in others if cell(app, k, "state") != "✓ READY"}
            raise AssertionError(f"not ready: {states}\n{log_text(app)}") from None
