"""The app as a controller of several host PCs: two local agents (`direct = true`), each with its own
simulated rig on its own loopback range, shown as one table of HOST/CAMERA rows, recorded and
stopped with the usual keys; a host whose agent dies goes offline alone."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_hosts import agent_command, host_table, rig_per_host
from test_tui import cell, log_text, until
from textual.widgets import Input

from rigtui.config import parse
from rigtui.gopro.ledger import Ledger
from rigtui.ops.hosts import snapshot_from_json, snapshots_from_status
from rigtui.ops.rig import rig_options
from rigtui.sim.rig import SimRig
from rigtui.tui import make_app
from rigtui.tui.app import RigApp
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.confirm import ConfirmScreen
from rigtui.tui.download_screen import DownloadScreen
from rigtui.userstate import UserState

FAST = "[rig]\npoll_hz = 2.0\nrequest_timeout_s = 1.0\n\n"
RIGS = {"left": 2, "right": 3}  # host -> its cameras (on 127.0.23.x and 127.0.24.x)


@pytest.fixture
async def rigs() -> AsyncIterator[dict[str, SimRig]]:
    async with rig_per_host(RIGS, RIGS, 23) as found:
        yield found


def app_for_hosts(rigs: dict[str, SimRig], tmp_path: Path) -> RigApp:
    text = FAST + "\n".join(
        host_table(name, rig, agent_command(tmp_path / f"host-{name}"), direct=True) for name, rig in rigs.items()
    )
    config = parse(text)
    state = UserState(path=tmp_path / "state.toml")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    return make_app(config, rig_options(config, discover=False), state=state, log_dir=tmp_path / "logs", ledger=ledger)


def row_keys(rigs: dict[str, SimRig]) -> dict[str, list[str]]:
    return {name: [f"{name}/{s.camera.serial}" for s in rig.servers] for name, rig in rigs.items()}


async def test_the_app_drives_every_host_and_a_dead_host_goes_offline_alone(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    app = app_for_hosts(rigs, tmp_path)
    keys = row_keys(rigs)
    every = [k for host in keys.values() for k in host]
    servers = [s for rig in rigs.values() for s in rig.servers]
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CameraTable)
        await until(pilot, lambda: set(table.shown) == set(every), 60)
        await until(pilot, lambda: all(cell(app, k, "state") == "✓ READY" for k in every), 20)
        host, camera = every[0].split("/")
        assert (cell(app, every[0], "host"), cell(app, every[0], "name").strip()) == (host, camera), "a Host column"
        assert app.query_one(CameraTable).columns[1].label == "Host"
        await until(pilot, lambda: "left 2/2 · right 3/3" in str(app.query_one("#summary").render()))
        assert app.rig.links == {}, "no local cameras are held in hosts mode"

        await pilot.press("t")
        await until(pilot, lambda: "sync time: 5 of 5 ok on 2 of 2 hosts" in log_text(app), 20)
        await pilot.press("h")
        await until(pilot, lambda: "check: READY: 2 host(s)" in log_text(app), 20)
        await pilot.press("escape")

        await pilot.press("r")
        await until(pilot, lambda: all(s.camera.encoding for s in servers), 20)
        await until(pilot, lambda: "record: 5 of 5 ok on 2 of 2 hosts" in log_text(app), 20)
        assert "clock left: offset" in log_text(app) and "start spread across hosts" in log_text(app)
        await until(pilot, lambda: all(cell(app, k, "rec").startswith("●") for k in every), 10)

        await pilot.press("s")
        await until(pilot, lambda: not any(s.camera.encoding for s in servers), 20)
        await until(pilot, lambda: "stop: 5 of 5 ok on 2 of 2 hosts" in log_text(app), 20)
        await until(pilot, lambda: all(cell(app, k, "rec") == "-" for k in every), 10)

        for server in servers:  # each host's offload takes a few seconds: its progress shows per host
            await server.camera.add_recording(duration=5, size=2_500_000)
            server.throttle_mbps = 1.0
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DownloadScreen))
        app.screen.query_one("#dest", Input).value = f"{tmp_path / 'footage'}/{{host}}"
        await pilot.press("enter")
        await until(pilot, lambda: len(app.hosts_progress) == 2, 30)

        def rate() -> str:
            return str(app.screen.query_one("#rate").render())

        await until(pilot, lambda: "left" in rate() and "right" in rate() and "MB/s" in rate(), 5)
        await until(pilot, lambda: not app.offload_running, 60)
        assert "offload: " in log_text(app) and "on 2 of 2 hosts" in log_text(app)
        await pilot.press("escape")
        for server in servers:
            server.throttle_mbps = None

        await pilot.press("f")  # every file verified on its host: a plain yes/no, then every card erased
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20)
        assert "left" in app.screen.details and "right" in app.screen.details  # type: ignore[attr-defined]
        await pilot.press("y")
        await until(pilot, lambda: "format: 5 of 5 ok on 2 of 2 hosts" in log_text(app), 30)
        assert not any(s.camera.media.items for s in servers)

        assert app.hosts is not None
        os.kill(app.hosts.hello["right"]["pid"], signal.SIGKILL)
        await until(pilot, lambda: all(cell(app, k, "state").endswith(("OFFLINE", "NOT REC")) for k in keys["right"]))
        assert "right: offline" in log_text(app)
        assert all(cell(app, k, "state") == "✓ READY" for k in keys["left"]), "the other host stays online"
        await until(pilot, lambda: "right 0/3 (host offline)" in str(app.query_one("#summary").render()))
        assert "offline" in cell(app, keys["right"][0], "error")
        left_agent = app.hosts.hello["left"]["pid"]
    await until_gone(left_agent)


async def until_gone(pid: int) -> None:
    """Quitting closed the agents: the one still up has ended."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"agent {pid} still running after the app quit")


def test_a_status_reply_is_decoded_strictly() -> None:
    good = {"key": "C1", "serial": "C1", "model": "HERO12", "firmware": "x", "host": "127.0.0.1", "port": 8080}
    snap = snapshot_from_json("h", good | {"online": True, "battery_percent": 50, "clock_offset_s": 1})
    assert snap is not None and snap.key == "h/C1" and snap.online and snap.battery_percent == 50
    assert snap.clock_offset_s == 1.0
    odd = good | {"online": 1, "battery_percent": True, "surprise": 3, "updated": float("nan"), "model": ["x"]}
    snap = snapshot_from_json("h", odd)
    assert snap is not None and not snap.online and snap.battery_percent is None and snap.updated is None
    assert snap.model is None
    assert snapshot_from_json("h", {"serial": "C1"}) is None, "no camera key: dropped"
    assert snapshots_from_status("h", {"cameras": "nope"}) is None
    assert snapshots_from_status("h", {"cameras": [good, 5]}) == [snapshot_from_json("h", good)]
