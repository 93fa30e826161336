"""Nothing blocks the event loop: while rigtui offloads a 256 MiB recording from a camera and pulls a
256 MiB capture from a Pi, both at once, a 10 Hz ticker on the same loop is never more than 100 ms
late (a UI that stutters or freezes otherwise). The camera and the Pi's sshd run in processes of
their own, so that only rigtui's own work shares the loop with the ticker."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from conftest import PiService_, link, sparse, trust_host_key

from rigtui.config import parse
from rigtui.gopro.discovery import Endpoint
from rigtui.ops.offload import OffloadReport, OffloadRun, offload_options, open_ledger
from rigtui.ops.rig import RigSession, rig_options
from rigtui.remote.pilink import PullReport

SIZE = 256 << 20
TICK_S = 0.1  # the ticker's period: 10 Hz, about a TUI's refresh
MAX_LATE_S = 0.1
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rigtui's folders (config, ledger, caches, logs, known_hosts) under tmp_path, here and in subprocesses."""
    for variable, folder in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(variable, str(tmp_path / folder))


@asynccontextmanager
async def process(*args: str, cwd: Path) -> AsyncIterator[bytes]:
    """A process of its own (its work is not charged to our loop) and the first line it prints;
    terminated on the way out."""
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, cwd=cwd)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, f"{' '.join(args)} exited before it was ready"
        yield line
    finally:
        proc.terminate()
        await proc.wait()


@pytest.fixture
async def camera(tmp_path: Path, home: None) -> AsyncIterator[Endpoint]:
    """`rigtui sim`: one camera on 127.0.6.x whose card holds a 256 MiB recording (sparse on its disk)."""
    card = tmp_path / "card"
    sim = (sys.executable, "-m", "rigtui", "sim", "--cameras", "1", "--port", "0", "--no-mdns")
    async with process(*sim, "--base-address", "127.0.6.1", "--media-dir", str(card), cwd=tmp_path) as line:
        found = json.loads(line)
        endpoint = Endpoint(found["host"], found["port"], found["serial"])
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            added = await http.get(
                f"http://{endpoint.address}/_sim/media/add", params={"seconds": 60, "size": SIZE, "sparse": 1}
            )
        assert added.status_code == 200, added.text
        yield endpoint


@pytest.fixture
async def pi_sshd(tmp_path: Path, keys: dict[str, Path]) -> AsyncIterator[int]:
    """The Pi's sshd (SFTP, commands, forwarding to its loopback) in a process of its own: an sshd in
    this process would read the files it sends on our loop, and the ticker would time it, not rigtui."""
    main = "import asyncio, sys; sys.path.insert(0, sys.argv[1]); import conftest; "
    main += "asyncio.run(conftest.serve_ssh_forever(*sys.argv[2:]))"
    args = (sys.executable, "-c", main, str(TESTS), str(keys["host"]), str(keys["authorized"]))
    async with process(*args, cwd=tmp_path) as line:
        port = int(line)
        trust_host_key(keys, port)
        yield port


@asynccontextmanager
async def ticking() -> AsyncIterator[list[float]]:
    """A 10 Hz ticker on this loop for as long as the block runs: how late each wake-up was, in seconds."""
    lateness: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            asleep = time.monotonic()
            await asyncio.sleep(TICK_S)
            lateness.append(time.monotonic() - asleep - TICK_S)

    ticker = asyncio.create_task(tick())
    try:
        yield lateness
    finally:
        done.set()
        await ticker  # its last sleep too: a stall at the very end counts


async def offload(camera: Endpoint, tmp_path: Path) -> OffloadReport:
    """What `rigtui offload` does, into tmp_path, with its ledger there too."""
    config = parse(f'[offload]\nledger = "{tmp_path / "ledger.jsonl"}"\nsidecars = false\n')
    session = RigSession(rig_options(config, endpoints=[camera]))
    await session.open()
    try:
        run = OffloadRun(session.rig, offload_options(config, tmp_path / "footage"), open_ledger(config))
        await run.prepare()
        return await run.run()
    finally:
        await session.close()


async def pull(keys: dict[str, Path], sshd_port: int, pi: PiService_, dest: Path) -> PullReport:
    pi_link = link(keys, sshd_port, pi.port)
    try:
        return await pi_link.pull(dest)
    finally:
        await pi_link.close()


@pytest.mark.slow
async def test_a_10hz_ticker_stays_on_time_during_a_256mib_offload_and_a_256mib_pi_pull(
    camera: Endpoint, pi_sshd: int, pi: PiService_, keys: dict[str, Path], tmp_path: Path
) -> None:
    captures = pi.service.settings.export.folder
    sparse(captures / "night" / "big.npy", SIZE)
    shot = os.urandom(1 << 20)
    (captures / "shot.jpg").write_bytes(shot)
    footage, pulled = tmp_path / "footage", tmp_path / "pulled"
    try:
        async with ticking() as lateness:
            offloaded, fetched = await asyncio.gather(offload(camera, tmp_path), pull(keys, pi_sshd, pi, pulled))

        assert offloaded.ok, [line.text for line in offloaded.lines()]
        assert [(footage / t.relative).stat().st_size for t in offloaded.plan.tasks] == [SIZE]
        assert (fetched.pulled, fetched.failed) == (2, [])
        assert (pulled / "night" / "big.npy").stat().st_size == SIZE
        assert (pulled / "shot.jpg").read_bytes() == shot
        worst = max(lateness)
        assert worst <= MAX_LATE_S, (
            f"the event loop stalled: the worst tick of {len(lateness)} was {worst * 1000:.0f} ms late "
            f"(at most {MAX_LATE_S * 1000:.0f} ms allowed)"
        )
    finally:
        for folder in (footage, pulled):  # real 256 MiB files: free the disk now, not when pytest prunes
            shutil.rmtree(folder, ignore_errors=True)
