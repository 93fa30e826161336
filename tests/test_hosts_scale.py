"""A rig bigger than one computer: 4 host PCs x 25 simulated cameras (each host a local agent with
its own rig on its own loopback range). One CLI command records all 100 and one stops them, and the
offload verifies every file on every host."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import run_rigtui
from test_hosts import agent_command, host_table, rig_per_host

from rigtui.sim.rig import SimRig

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
    starts = [s.camera.recording_since for s in servers]
    assert max(starts) - min(starts) < 0.1, "one instant on every host"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0 and "stop: 100 of 100 ok on 4 of 4 hosts" in out, err + out
    assert not any(s.camera.encoding for s in servers)

    dest = tmp_path / "footage"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "offload", f"{dest}/{{host}}", "--json")
    assert code == 0, err + out
    files = [f for h in json.loads(out)["hosts"] for f in h["report"]["files"]]
    assert {f["camera"] for f in files} == {s.camera.serial for s in servers}
    assert all(f["state"] == "verified" for f in files)
