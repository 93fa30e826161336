"""Host PCs reached the way an operator reaches them: two agents through a real OpenSSH sshd on
127.0.0.1 (its own host key, checked against a known_hosts file from config.toml), each holding its
own simulated rig, recorded and stopped through `rigtui hosts`; and a slow link to one host, whose
round trip the controller measures and compensates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import test_remote
from conftest import run_rigtui
from test_hosts import agent_command, host_table, rig_per_host

from rigtui.ops.agent import REPLY_DELAY_ENV
from rigtui.sim.rig import SimRig

HOSTS = ("east", "west")
CAMERAS = 2  # on each host
SERIALS = ("HERO12", "HERO13")  # models that report their serials
SLOW_LINK_S = 0.030  # the delayed host's replies come this late

openssh = test_remote.openssh  # a throwaway sshd on a free port (skips unless root with /usr/sbin/sshd)


@pytest.fixture
async def rigs() -> AsyncIterator[dict[str, SimRig]]:
    """127.0.25.x and 127.0.26.x."""
    async with rig_per_host(HOSTS, CAMERAS, 25) as found:
        yield found


def host_agent(tmp_path: Path, name: str, **env: str) -> str:
    """The agent's command with every folder it may touch under tmp_path (an SSH session has no
    venv and root's real home)."""
    home = tmp_path / f"host-{name}"
    return agent_command(home, XDG_CONFIG_HOME=str(home / "xdg_config_home"), **env)


def servers_of(rigs: dict[str, SimRig]) -> list:
    return [server for rig in rigs.values() for server in rig.servers]


async def test_record_and_stop_two_hosts_through_openssh(
    rigs: dict[str, SimRig], openssh: dict[str, object], keys: dict[str, Path], tmp_path: Path
) -> None:
    port = int(openssh["port"])  # type: ignore[call-overload]
    tables = [
        host_table(
            name, rig, host_agent(tmp_path, name), ssh=f"root@127.0.0.1:{port}", identity_file=str(keys["client"])
        )
        for name, rig in rigs.items()
    ]
    config = tmp_path / "config.toml"
    config.write_text(f'[remote]\nknown_hosts = "{keys["known"]}"\n\n' + "\n".join(tables))
    servers = servers_of(rigs)

    code, out, err = await run_rigtui("--config", str(config), "hosts", "record", "--json")
    assert code == 0, err + out
    report = json.loads(out)
    assert len(report["outcomes"]) == len(servers) == 4 and all(o["ok"] for o in report["outcomes"]), report
    assert {o["camera"].split("/")[0] for o in report["outcomes"]} == set(HOSTS)
    assert all(s.camera.encoding for s in servers), "every camera on both hosts records"
    assert set(report["clocks"]) == set(HOSTS), "both hosts' clocks measured"
    assert all(abs(c["offset_ms"]) < 5.0 for c in report["clocks"].values()), report["clocks"]
    starts = [s.camera.recording_since for s in servers]
    assert max(starts) - min(starts) < 0.05, f"one instant on both hosts: {starts}"

    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0, err + out
    assert "stop: 4 of 4 ok on 2 of 2 hosts" in out
    assert not any(s.camera.encoding for s in servers)

    code, out, err = await run_rigtui("--config", str(config), "hosts", "record")
    assert code == 0, err + out
    assert all(f"clock {name}: offset" in out for name in HOSTS), "the report names both hosts' clocks"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0, err + out


async def test_a_slow_link_is_round_trip_compensated(rigs: dict[str, SimRig], tmp_path: Path) -> None:
    slow = {REPLY_DELAY_ENV: str(SLOW_LINK_S)}
    config = tmp_path / "config.toml"
    config.write_text(
        host_table("east", rigs["east"], host_agent(tmp_path, "east"), direct=True)
        + "\n"
        + host_table("west", rigs["west"], host_agent(tmp_path, "west", **slow), direct=True)
    )
    code, out, err = await run_rigtui("--config", str(config), "hosts", "record", "--json")
    assert code == 0, err + out
    report = json.loads(out)
    clocks = report["clocks"]
    assert clocks["west"]["rtt_ms"] >= SLOW_LINK_S * 1000, f"the delay is on west's link: {clocks}"
    assert clocks["east"]["rtt_ms"] < SLOW_LINK_S * 1000 / 2, clocks
    assert abs(clocks["west"]["offset_ms"]) < 3.0, f"a slow link is not a clock off: {clocks}"
    assert report["margin_ms"] >= 3 * clocks["west"]["rtt_ms"], "the margin covers the slowest round trip"
    servers = servers_of(rigs)
    assert all(o["ok"] for o in report["outcomes"]) and all(s.camera.encoding for s in servers)
    starts = [s.camera.recording_since for s in servers]
    assert max(starts) - min(starts) < 0.05, f"the slow host's cameras start with the others: {starts}"
    assert abs(min(starts) - report["start_at"]) < 0.05
    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0, err + out
