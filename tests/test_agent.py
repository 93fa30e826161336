"""`rigtui agent --stdio` as a real process against simulated cameras: every op, bad input answered
with errors while it keeps serving, and EOF ending it with its cameras let go."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import cameras_of

from rigtui.ops.agent import CLOCK_OFFSET_ENV, parse_time_status, parse_tracking
from rigtui.ops.hosts import discipline_text
from rigtui.sim.rig import SimRig


class AgentProcess:
    """An agent process, talked to line by line; events are kept apart from replies."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.number = 0

    async def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def message(self, timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert line.endswith(b"\n"), f"the agent ended or cut a line: {line[:200]!r}"
        return json.loads(line)  # every stdout line is JSON, nothing else

    async def reply(self, timeout: float = 60) -> dict[str, Any]:
        while True:
            found = await self.message(timeout)
            if "event" in found:
                self.events.append(found)
                continue
            return found

    async def ask(self, op: str, timeout: float = 60, **fields: object) -> dict[str, Any]:
        self.number += 1
        await self.send_raw(json.dumps({"v": 1, "id": self.number, "op": op, **fields}).encode() + b"\n")
        found = await self.reply(timeout)
        assert found["id"] == self.number and found["v"] == 1
        return found


def private_env(home: Path, **extra: str) -> dict[str, str]:
    """A host of its own: its shot log, ledger, cache and state under `home`."""
    env = {**os.environ, **extra}
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        env[name] = str(home / name.lower())
    return env


async def start_agent(sim: SimRig, home: Path, **env: str) -> AgentProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        "agent",
        "--stdio",
        *cameras_of(sim),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=private_env(home, **env),
    )
    return AgentProcess(proc)


@pytest.fixture
async def agent(rig: SimRig, tmp_path: Path) -> AsyncIterator[AgentProcess]:
    process = await start_agent(rig, tmp_path / "host")
    yield process
    if process.proc.returncode is None:
        assert process.proc.stdin is not None
        process.proc.stdin.close()
        try:
            await asyncio.wait_for(process.proc.wait(), 20)
        except TimeoutError:
            process.proc.kill()
            await process.proc.wait()


@pytest.mark.rig(cameras=3, base_address="127.0.30.1", models=("HERO12", "HERO13"))
async def test_hello_status_clock_record_stop_and_offload(rig: SimRig, agent: AgentProcess, tmp_path: Path) -> None:
    hello = await agent.ask("hello")
    assert hello["ok"] and hello["protocols"] == [1] and len(hello["cameras"]) == 3 and hello["pid"] == agent.proc.pid
    status = await agent.ask("status")
    assert sorted(c["host"] for c in status["cameras"]) == ["127.0.30.1", "127.0.30.2", "127.0.30.3"]
    assert all(c["online"] for c in status["cameras"]) and status["problems"] == []
    before = time.time()
    clock = await agent.ask("clock")
    assert before - 0.1 < clock["time"] < time.time() + 0.1
    sync = await agent.ask("sync_state")
    assert sync["ok"] and sync["source"] in ("chrony", "unknown")

    at = time.time() + 1.0
    started = await agent.ask("record", at=at)
    assert started["report"]["ok"], started
    assert all(s.camera.encoding for s in rig.servers)
    assert abs(started["released_at"] - at) < 0.05, "released at the instant asked, by the agent's clock"
    starts = [s.camera.recording_since for s in rig.servers]
    assert all(s is not None and at - 0.01 < s < at + 0.2 for s in starts), (at, starts)
    await asyncio.sleep(1.5)
    stopped = await agent.ask("stop")
    assert stopped["report"]["ok"] and not any(s.camera.encoding for s in rig.servers)

    dest = tmp_path / "footage"
    done = await agent.ask("offload", timeout=120, dest=[str(dest)])
    assert done["ok"] and done["report"]["ok"], done
    files = done["report"]["files"]
    assert files and all(f["state"] == "verified" for f in files)
    assert {f["camera"] for f in files} == {s.camera.serial for s in rig.servers}
    assert any("verified" in line["text"] for line in done["lines"])
    assert (await agent.ask("bye"))["ok"]
    assert await asyncio.wait_for(agent.proc.wait(), 20) == 0


@pytest.mark.rig(cameras=2, base_address="127.0.31.1")
async def test_bad_input_is_answered_with_errors_and_the_agent_keeps_serving(agent: AgentProcess) -> None:
    assert (await agent.ask("hello"))["ok"]
    cases: list[tuple[bytes, int | None, str]] = [
        (b"this is not json\n", None, "not JSON"),
        (b"[1, 2, 3]\n", None, "JSON object"),
        (b'{"v": 1, "id": "seven", "op": "hello"}\n', None, "id must be an integer"),
        (b'{"v": 2, "id": 11, "op": "hello"}\n', 11, "unsupported protocol version 2"),
        (b'{"id": 12, "op": "hello"}\n', 12, "unsupported protocol version None"),
        (b'{"v": "1", "id": 13, "op": "hello"}\n', 13, "unsupported protocol version"),
        (b'{"v": 1, "id": 14, "op": "format_everything"}\n', 14, "unknown op"),
        (b'{"v": 1, "id": 15, "op": 5}\n', 15, "op must be a string"),
        (b'{"v": 1, "id": 16, "op": "record", "at": "soon"}\n', 16, "at must be a number"),
        (b'{"v": 1, "id": 17, "op": "record", "at": 1e300}\n', 17, "ahead"),
        (b'{"v": 1, "id": 18, "op": "record", "force": "yes"}\n', 18, "force must be true or false"),
        (b'{"v": 1, "id": 19, "op": "offload", "dest": "/tmp"}\n', 19, "dest must be a list"),
        (b"\xff\xfe\x00garbage\n", None, "not JSON"),
    ]
    for line, number, error in cases:
        await agent.send_raw(line)
        found = await agent.reply()
        assert found["ok"] is False and found["id"] == number and error in found["error"], (line, found)
        assert "\n" not in found["error"] and "Traceback" not in found["error"]
    await agent.send_raw(b"x" * (2 * 1024 * 1024) + b"\n")  # 2 MiB: one error, not one per piece
    found = await agent.reply()
    assert found == {"v": 1, "id": None, "ok": False, "error": found["error"]} and "1048576 bytes" in found["error"]
    assert (await agent.ask("clock"))["ok"], "still serving after all that"
    assert (await agent.ask("status"))["ok"]


@pytest.mark.rig(cameras=2, base_address="127.0.32.1")
async def test_eof_ends_the_agent_cleanly_and_lets_the_cameras_go(rig: SimRig, agent: AgentProcess) -> None:
    assert (await agent.ask("hello"))["ok"]
    assert agent.proc.stdin is not None and agent.proc.stdout is not None and agent.proc.stderr is not None
    agent.proc.stdin.close()
    assert await asyncio.wait_for(agent.proc.wait(), 20) == 0
    rest = await agent.proc.stdout.read()
    assert all(json.loads(line) for line in rest.splitlines()), "nothing but JSON lines on stdout"
    assert b"Traceback" not in await agent.proc.stderr.read()


@pytest.mark.rig(cameras=1, base_address="127.0.34.1")
async def test_sigterm_ends_the_agent_cleanly_too(agent: AgentProcess) -> None:
    assert (await agent.ask("hello"))["ok"]
    agent.proc.send_signal(signal.SIGTERM)  # systemd stopping it
    assert await asyncio.wait_for(agent.proc.wait(), 20) == 0
    assert agent.proc.stderr is not None and b"Traceback" not in await agent.proc.stderr.read()


@pytest.mark.rig(cameras=1, base_address="127.0.33.1")
async def test_the_hidden_clock_offset_shifts_what_the_agent_reports_and_schedules_by(
    rig: SimRig, tmp_path: Path
) -> None:
    agent = await start_agent(rig, tmp_path / "host", **{CLOCK_OFFSET_ENV: "2.5"})
    try:
        clock = await agent.ask("clock")
        assert 2.4 < clock["time"] - time.time() < 2.6
        at = clock["time"] + 0.8  # the agent's clock: 0.8 s from now in real time
        started = await agent.ask("record", at=at)
        assert started["report"]["ok"]
        since = rig.servers[0].camera.recording_since
        assert since is not None and abs(since - (at - 2.5)) < 0.1
        assert (await agent.ask("stop"))["report"]["ok"]
    finally:
        assert agent.proc.stdin is not None
        agent.proc.stdin.close()
        await asyncio.wait_for(agent.proc.wait(), 20)


def test_chrony_tracking_is_parsed_and_anything_else_is_unknown() -> None:
    line = (
        "A29FC87B,ntp1.example.net,3,1591103034.123,0.000012345,-0.000001,0.000023,-12.345,0.001,0.045,0.012,"
        "0.001,64.2,Normal\n"
    )
    state = parse_tracking(line)
    assert state["source"] == "chrony" and state["reference"] == "ntp1.example.net" and state["stratum"] == 3
    assert state["system_offset_s"] == pytest.approx(0.000012345) and state["leap"] == "Normal"
    assert parse_tracking("")["source"] == "unknown"
    assert parse_tracking("a,b,c\n")["source"] == "unknown"


PMC_REPLY = """sending: GET TIME_STATUS_NP
\t90e2ba.fffe.123456-0 seq 0 RESPONSE MANAGEMENT TIME_STATUS_NP
\t\tmaster_offset              -1250
\t\tingress_time               1522081218434565453
\t\tcumulativeScaledRateOffset +0.000000000
\t\tgmPresent                  true
\t\tgmIdentity                 001122.fffe.334455
"""


def test_ptp_time_status_is_parsed_and_shown_and_anything_else_is_unknown() -> None:
    state = parse_time_status(PMC_REPLY)
    assert state == {"source": "ptp", "master_offset_s": -1.25e-06, "grandmaster": "001122.fffe.334455"}
    assert discipline_text(state) == "PTP, -1.2 µs from grandmaster 001122.fffe.334455"
    assert parse_time_status(PMC_REPLY.replace("gmPresent                  true", "gmPresent false"))["source"] == (
        "unknown"
    )
    assert parse_time_status("master_offset 1e99\ngmPresent true\n")["source"] == "unknown"
    assert parse_time_status("\x00" * 1000)["source"] == "unknown"
    chrony = parse_tracking("A,ntp1,3,1.0,0.000012345,-0.000001,0.000023,-12.3,0.001,0.045,0.012,0.001,64.2,Normal\n")
    assert discipline_text(chrony) == "chrony (ntp1), offset +0.012 ms, rms 0.023 ms"
    for hostile in (None, [], {"source": "ptp", "master_offset_s": "x"}, {"source": "chrony"}, {"why": 5}):
        assert discipline_text(hostile).startswith("clock discipline not known")


async def attach(socket_path: Path, home: Path) -> AgentProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        "agent",
        "--attach",
        str(socket_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=private_env(home),
    )
    return AgentProcess(proc)


async def detach(session: AgentProcess) -> None:
    assert session.proc.stdin is not None
    session.proc.stdin.close()
    assert await asyncio.wait_for(session.proc.wait(), 20) == 0


@pytest.mark.rig(cameras=2, base_address="127.0.33.1", models=("HERO12",))
async def test_a_service_holds_the_cameras_between_sessions_and_serves_one_controller_at_a_time(
    rig: SimRig, tmp_path: Path
) -> None:
    """`agent --listen` (the systemd unit's) keeps the cameras awake between controllers; each SSH
    session joins it with `agent --attach`; a second controller meanwhile is told the first is there."""
    socket_path = tmp_path / "agent.sock"
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        "agent",
        "--listen",
        str(socket_path),
        *cameras_of(rig),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=private_env(tmp_path / "host"),
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            assert time.monotonic() < deadline and service.returncode is None
            await asyncio.sleep(0.1)
        assert socket_path.stat().st_mode & 0o777 == 0o660
        first = await attach(socket_path, tmp_path / "ssh")
        assert len((await first.ask("hello"))["cameras"]) == 2
        second = await attach(socket_path, tmp_path / "ssh")
        refused = await second.message()
        assert not refused["ok"] and "another controller is attached" in refused["error"]
        await asyncio.wait_for(second.proc.wait(), 20)
        record = await first.ask("record")
        assert record["ok"] and record["report"]["ok"], record
        await detach(first)  # the session ends; the cameras go on recording, held by the service
        assert all(s.camera.encoding for s in rig.servers)
        again = await attach(socket_path, tmp_path / "ssh")
        status = await again.ask("status")
        assert all(c["recording"] for c in status["cameras"])
        assert (await again.ask("stop"))["report"]["ok"]
        await detach(again)
    finally:
        service.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(service.wait(), 20) == 0
    assert not any(s.camera.encoding for s in rig.servers)


async def test_attaching_where_no_agent_listens_is_one_line(tmp_path: Path) -> None:
    session = await attach(tmp_path / "nothing.sock", tmp_path / "ssh")
    _, err = await asyncio.wait_for(session.proc.communicate(), 20)
    assert session.proc.returncode == 2 and "no rigtui agent listens on" in err.decode() and b"Traceback" not in err
