"""One controller, several host PCs: three local agents (`direct = true`), each with its own simulated
rig on its own loopback range, run as one rig through `rigtui hosts`; host clocks measured and
compensated; a host that dies mid-session fails alone; and an agent reached over SSH."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncssh
import pytest
from conftest import make_options, run_rigtui

from rigtui.config import parse
from rigtui.ops.agent import CLOCK_OFFSET_ENV
from rigtui.ops.hosts import Hosts, chosen_hosts, clock_from
from rigtui.ops.settings import PrimeSettings
from rigtui.sim.rig import SimRig

HOSTS = ("a", "b", "c")
CAMERAS = 3  # on each host
SERIALS = ("HERO12", "HERO13")  # models that report their serials (footage is named by them)


def agent_command(home: Path, **env: str) -> str:
    """The agent as a host of its own would run it: its own shot log, ledger, cache and state."""
    values = {name: str(home / name.lower()) for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")}
    values.update(env)
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items())
    return f"env {assigns} {shlex.quote(sys.executable)} -m rigtui agent --stdio"


def host_table(name: str, rig: SimRig, command: str, **more: object) -> str:
    cameras = [f"{s.host}:{s.port}" for s in rig.servers]
    lines = ["[[hosts]]", f"name = {json.dumps(name)}", f"command = {json.dumps(command)}"]
    lines.append(f"cameras = {json.dumps(cameras)}")
    lines += [f"{key} = {json.dumps(value)}" for key, value in more.items()]
    return "\n".join(lines) + "\n"


@asynccontextmanager
async def rig_per_host(
    names: Iterable[str], cameras: int | dict[str, int], first: int
) -> AsyncIterator[dict[str, SimRig]]:
    """A simulated rig for each host, each on its own loopback range (127.0.FIRST.x, then the next)
    with serials of its own; `cameras` per host (or by host name)."""
    async with AsyncExitStack() as stack:
        found = {}
        for index, name in enumerate(names):
            count = cameras[name] if isinstance(cameras, dict) else cameras
            options = make_options(
                cameras=count, base_address=f"127.0.{first + index}.1", seed=first + index, models=SERIALS
            )
            found[name] = await stack.enter_async_context(SimRig(options))
        yield found


@pytest.fixture
async def rigs() -> AsyncIterator[dict[str, SimRig]]:
    """127.0.20.x, 127.0.21.x, 127.0.22.x."""
    async with rig_per_host(HOSTS, CAMERAS, 20) as found:
        yield found


def write_config(tmp_path: Path, rigs: dict[str, SimRig], offsets: dict[str, float] | None = None) -> Path:
    text = "[rig]\nmax_host_offset_ms = 5.0\n\n"
    for name, rig in rigs.items():
        extra = {CLOCK_OFFSET_ENV: str(offsets[name])} if offsets and name in offsets else {}
        text += host_table(name, rig, agent_command(tmp_path / f"host-{name}", **extra), direct=True) + "\n"
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def all_servers(rigs: dict[str, SimRig]) -> list:
    return [server for rig in rigs.values() for server in rig.servers]


async def test_record_stop_and_offload_across_three_hosts(rigs: dict[str, SimRig], tmp_path: Path) -> None:
    config = write_config(tmp_path, rigs, offsets={"b": 0.003})  # b's clock 3 ms ahead: measured and compensated
    code, out, err = await run_rigtui("--config", str(config), "hosts", "status", "--json")
    assert code == 0, err + out
    status = json.loads(out)
    assert [h["host"] for h in status["hosts"]] == list(HOSTS)
    assert all(len(h["cameras"]) == CAMERAS for h in status["hosts"])
    assert all(h["sync"]["source"] in ("ptp", "chrony", "unknown") for h in status["hosts"]), "each host's discipline"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "status")
    assert code == 0 and out.count("cameras online; ") == len(HOSTS), out

    code, out, err = await run_rigtui("--config", str(config), "hosts", "record", "--json")
    assert code == 0, err + out
    report = json.loads(out)
    servers = all_servers(rigs)
    assert len(report["outcomes"]) == len(servers) == 9 and all(o["ok"] for o in report["outcomes"])
    assert {o["camera"].split("/")[0] for o in report["outcomes"]} == set(HOSTS), "cameras named HOST/CAMERA"
    assert all(s.camera.encoding for s in servers)
    clocks = report["clocks"]
    assert set(clocks) == set(HOSTS)
    assert abs(clocks["b"]["offset_ms"] - 3.0) < 2.0, clocks
    assert abs(clocks["a"]["offset_ms"]) < 2.0 and abs(clocks["c"]["offset_ms"]) < 2.0, clocks
    assert report["worst_case_spread_ms"] >= report["host_spread_ms"] >= 0
    starts = [s.camera.recording_since for s in servers]
    assert max(starts) - min(starts) < 0.05, f"one instant on every host: {starts}"
    assert abs(min(starts) - report["start_at"]) < 0.05

    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0, err + out
    assert "stop: 9 of 9 ok on 3 of 3 hosts" in out
    assert not any(s.camera.encoding for s in servers)

    dest = tmp_path / "footage"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "offload", f"{dest}/{{host}}", "--json")
    assert code == 0, err + out
    offload = json.loads(out)
    files = [f for h in offload["hosts"] for f in h["report"]["files"]]
    assert files and all(f["state"] == "verified" for f in files)
    assert {f["camera"] for f in files} == {s.camera.serial for s in servers}
    for name, rig in rigs.items():  # each host's footage in its own folder, every byte as on the card
        copies = {p.name: p for p in (dest / name).rglob("*.MP4") if p.parent.name.startswith("take")}
        originals = {f"{s.camera.serial}_{p.name}": p for s in rig.servers for p in s.camera.media.dcim.rglob("*.MP4")}
        assert sorted(copies) == sorted(originals)
        assert all(copies[n].read_bytes() == originals[n].read_bytes() for n in copies)


async def test_a_host_clock_beyond_the_limit_refuses_record_unless_forced(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    config = write_config(tmp_path, rigs, offsets={"c": -0.040})  # c is 40 ms behind; the limit is 5 ms
    code, out, err = await run_rigtui("--config", str(config), "hosts", "record")
    assert code == 1, err + out
    assert "c: clock -40" in out and "refused" in out
    assert not any(s.camera.encoding for s in all_servers(rigs))

    code, out, err = await run_rigtui("--config", str(config), "hosts", "record", "--force", "--json")
    assert code == 0, err + out
    report = json.loads(out)
    assert abs(report["clocks"]["c"]["offset_ms"] + 40.0) < 2.0
    starts = [s.camera.recording_since for s in all_servers(rigs)]
    assert max(starts) - min(starts) < 0.05, "c's start still lands on the common instant"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "stop")
    assert code == 0, err + out


async def test_a_host_killed_mid_session_is_reported_and_the_others_finish(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    config = parse(write_config(tmp_path, rigs).read_text())
    events = []
    hosts = Hosts(config, chosen_hosts(config), on_event=events.append)
    try:
        await hosts.open()
        assert sorted(hosts.hello) == list(HOSTS)
        assert (await hosts.record()).ok
        os.kill(hosts.hello["b"]["pid"], signal.SIGKILL)  # host b's agent dies mid-take
        stopped = await hosts.stop()
        assert {o.key.split("/")[0] for o in stopped.outcomes if o.ok} == {"a", "c"}
        lost = sorted(f"b/{s.camera.serial}" for s in rigs["b"].servers)
        assert sorted(o.key for o in stopped.outcomes if not o.ok) == lost, "b's cameras named, failed"
        assert all("offline" in o.detail for o in stopped.outcomes if not o.ok)
        assert any(e.host == "b" and e.problem and "offline" in e.text for e in events), "the operator hears it"
        assert not any(s.camera.encoding for name in ("a", "c") for s in rigs[name].servers)
        assert all(s.camera.encoding for s in rigs["b"].servers), "b's cameras record on, out of reach"

        refused = await hosts.record()
        assert refused.problems and any(p.startswith("b: offline") for p in refused.problems)
        assert not any(s.camera.encoding for name in ("a", "c") for s in rigs[name].servers)
        forced = await hosts.record(force=True)
        assert {o.key.split("/")[0] for o in forced.outcomes if o.ok} == {"a", "c"} and not forced.ok
        assert (await hosts.stop()).failed

        offload = await hosts.offload([f"{tmp_path / 'footage'}/{{host}}"])
        by_host = {h.name: h for h in offload.hosts}
        assert by_host["a"].ok and by_host["c"].ok and not by_host["b"].ok
        assert offload.outcomes and all(o.ok for o in offload.outcomes if not o.key.startswith("b/"))
    finally:
        await hosts.close()


async def test_record_refused_while_a_host_is_offline_names_it(rigs: dict[str, SimRig], tmp_path: Path) -> None:
    path = write_config(tmp_path, rigs)
    path.write_text(path.read_text() + '[[hosts]]\nname = "gone"\ncommand = "false"\ndirect = true\n')
    code, out, err = await run_rigtui("--config", str(path), "hosts", "record")
    assert code == 1 and "gone: offline" in out and "refused" in out, err + out
    assert not any(s.camera.encoding for s in all_servers(rigs))


def test_the_clock_offset_is_taken_from_the_quickest_round_trips() -> None:
    samples = [(0.0002, 0.0030), (0.0003, 0.0031), (0.050, 0.020), (0.0002, 0.0029), (0.040, -0.015)]
    clock = clock_from(samples)
    assert clock.offset_ms == pytest.approx(3.0, abs=0.2) and clock.rtt_ms == pytest.approx(0.2)
    assert clock.samples == 5


async def test_no_hosts_in_config_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await run_rigtui("--config", str(tmp_path / "none.toml"), "hosts", "status")
    assert code == 2 and "none.toml" in err
    path = tmp_path / "config.toml"
    path.write_text("[rig]\n")
    code, _, err = await run_rigtui("--config", str(path), "hosts", "status")
    assert code == 2 and "[[hosts]]" in err


# -- over SSH ---------------------------------------------------------------------------------------
async def run_interactive(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """An exec request run by the shell with its stdin, stdout and stderr streamed both ways (as
    OpenSSH's sshd does): the agent talks for as long as the session lasts."""
    shell = await asyncio.create_subprocess_shell(
        str(process.command),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await process.redirect(stdin=shell.stdin, stdout=shell.stdout, stderr=shell.stderr)
    process.exit(await shell.wait())
    await process.wait_closed()  # asyncssh's own clean-up of the redirection


async def test_an_agent_over_ssh(keys: dict[str, Path], tmp_path: Path) -> None:
    server = await asyncssh.create_server(
        asyncssh.SSHServer,
        "127.0.0.1",
        0,
        server_host_keys=[str(keys["host"])],
        authorized_client_keys=str(keys["authorized"]),
        process_factory=run_interactive,
        encoding=None,
    )
    port = server.sockets[0].getsockname()[1]
    keys["known"].write_text(f"[127.0.0.1]:{port} {keys['known_public'].read_text()}")
    try:
        async with SimRig(make_options(cameras=2, base_address="127.0.23.1", seed=23)) as rig:
            command = agent_command(tmp_path / "host-ssh")
            table = host_table("far", rig, command, ssh=f"rig@127.0.0.1:{port}", identity_file=str(keys["client"]))
            config = tmp_path / "config.toml"
            config.write_text(f'[remote]\nknown_hosts = "{keys["known"]}"\n\n{table}')
            code, out, err = await run_rigtui("--config", str(config), "hosts", "status", "--json")
            assert code == 0, err + out
            report = json.loads(out)
            (host,) = report["hosts"]
            assert host["host"] == "far" and len(host["cameras"]) == 2 and all(c["online"] for c in host["cameras"])

            keys["known"].write_text(f"[127.0.0.1]:{port} {keys['known_public'].read_text().replace('A', 'B', 1)}")
            code, out, err = await run_rigtui("--config", str(config), "hosts", "status")
            assert code == 1 and "far: OFFLINE" in out and "host key" in out, "an unverified host key is refused"
    finally:
        server.close()
        await server.wait_closed()


async def test_sync_time_and_power_off_reach_every_host(rigs: dict[str, SimRig], tmp_path: Path) -> None:
    config = write_config(tmp_path, rigs)
    local = time.localtime().tm_gmtoff  # a camera's clock is local time
    for server in all_servers(rigs):
        server.camera.clock_offset = local + 90.0  # every camera a minute and a half off its host
    code, out, err = await run_rigtui("--config", str(config), "hosts", "sync-time")
    assert code == 0 and "sync time: 9 of 9 ok on 3 of 3 hosts" in out, err + out
    assert all(abs(s.camera.clock_offset - local) < 2.0 for s in all_servers(rigs)), "each on its host's clock"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "power-off", "--json")
    assert code == 0, err + out
    assert all(s.camera.asleep for s in all_servers(rigs))


async def test_check_reports_every_host_and_is_ready_only_when_each_is(rigs: dict[str, SimRig], tmp_path: Path) -> None:
    config = write_config(tmp_path, rigs)
    code, out, err = await run_rigtui("--config", str(config), "hosts", "check")
    assert code == 0 and "READY: 3 host(s)" in out, err + out
    assert all(f"{name}: ready" in out for name in HOSTS)
    weak = rigs["b"].servers[0]
    weak.camera.battery, weak.camera.usb_power = 4.0, False
    code, out, err = await run_rigtui("--config", str(config), "hosts", "check")
    assert code == 1 and "NOT READY: b" in out and "battery 4%" in out, err + out


def card_files(rigs: dict[str, SimRig]) -> dict[str, list[str]]:
    return {s.camera.serial: sorted(s.camera.media.items) for s in all_servers(rigs)}


async def test_format_across_hosts_erases_only_what_every_host_has_verified(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    """The rules of `rigtui format` on every host, one question for all: nothing verified anywhere,
    refused everywhere; verified on two hosts of three, still refused everywhere (naming the third);
    verified everywhere, erased; a file recorded between the plan and the erase is never touched."""
    config = write_config(tmp_path, rigs)
    for server in all_servers(rigs):
        await server.camera.add_recording(duration=5, size=200_000)
    before = card_files(rigs)
    code, out, err = await run_rigtui("--config", str(config), "hosts", "format", "--yes")
    assert code == 1 and "format: refused on every host" in out, err + out
    assert card_files(rigs) == before

    dest = f"{tmp_path / 'footage'}/{{host}}"
    code, out, err = await run_rigtui("--config", str(config), "hosts", "offload", dest, "--host", "a", "--host", "b")
    assert code == 0, err + out
    code, out, err = await run_rigtui("--config", str(config), "hosts", "format", "--yes")
    assert code == 1 and "c: format: refused" in out and "a: " not in out.split("refused on every host")[1], out
    assert card_files(rigs) == before, "a host that is not ready stops the format on every host"

    code, out, err = await run_rigtui("--config", str(config), "hosts", "offload", dest, "--host", "c")
    assert code == 0, err + out
    hosts = Hosts(parse(config.read_text()), chosen_hosts(parse(config.read_text())))
    try:
        await hosts.open()
        plan = await hosts.plan_format()
        assert plan.confirmation() is not None and plan.confirmation().typed is None  # type: ignore[union-attr]
        late = rigs["c"].servers[0]
        await late.camera.add_recording(duration=5, size=100_000)  # recorded after the plan was made
        report = await hosts.execute_format(plan)
    finally:
        await hosts.close()
    assert {o.key.split("/")[0] for o in report.outcomes if o.ok} >= {"a", "b"}
    assert not any(s.camera.media.items for name in ("a", "b") for s in rigs[name].servers), "verified: erased"
    assert late.camera.media.items, "the card that changed since the plan is left alone"


async def test_copy_settings_from_a_prime_on_one_host_reaches_every_host(
    rigs: dict[str, SimRig], tmp_path: Path
) -> None:
    config = write_config(tmp_path, rigs)
    prime = rigs["a"].servers[0]
    prime.camera.set_setting(121, 4)  # the prime's lens: Linear
    others = [s for s in all_servers(rigs) if s is not prime]
    assert all(s.camera.settings[121] != 4 for s in others)
    code, out, err = await run_rigtui(
        "--config", str(config), "hosts", "copy-settings", "--from", f"a/{prime.camera.serial}"
    )
    assert "copy settings: " in out and " of 8 ok on " in out, err + out  # HERO13 lacks some HERO12 options
    assert all(s.camera.settings[121] == 4 for s in others), "every host's cameras now have the prime's lens"
    same_model = [s for s in others if s.camera.model == prime.camera.model]
    assert all(
        f"/{s.camera.serial}" in line and "settings match the prime" in line
        for s in same_model
        for line in out.splitlines()
        if f"/{s.camera.serial}" in line
    )
    code, out, err = await run_rigtui("--config", str(config), "hosts", "copy-settings", "--from", "z/C1")
    assert code == 1 and "not a HOST/CAMERA" in out, err + out


def test_a_prime_from_another_host_is_taken_only_when_every_field_is_what_it_should_be() -> None:
    good = {"camera": "C1", "model": "HERO12", "settings": {"2": 1, "121": 4}, "preset": {"title_id": 3, "mode": 1}}
    prime = PrimeSettings.from_json(good)
    assert prime.settings == {2: 1, 121: 4} and prime.preset is not None and prime.preset.title_id == 3
    for bad in (
        [],
        good | {"model": "HERO9"},
        good | {"settings": {"2": True}},
        good | {"settings": {"2": "1"}},
        good | {"settings": {"two": 1}},
        good | {"settings": {str(n): 1 for n in range(600)}},
        good | {"preset": {"title_id": "3"}},
        good | {"camera": "x" * 500},
    ):
        with pytest.raises(ValueError):
            PrimeSettings.from_json(bad)
