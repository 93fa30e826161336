"""The Pi service's line protocol over real sockets, with nc as operators use it, and under abuse."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rigtui.pi.backends import SCRIPTS, SyntheticBackend
from rigtui.pi.export import ExportSettings
from rigtui.pi.server import LINE_LIMIT, LineServer
from rigtui.pi.service import PiService, PiSettings
from rigtui.pi.status import PiStatus


@pytest.fixture
async def pi(tmp_path: Path) -> AsyncIterator[LineServer]:
    backend = SyntheticBackend(64, 48, 20.0, SCRIPTS["day"])
    service = PiService(PiSettings(export=ExportSettings(folder=tmp_path / "captures", min_free_mb=0)), backend)
    service.start()
    server = LineServer(service, "127.0.0.1", 0)
    await server.start()
    await asyncio.sleep(0.3)  # a few frames in the ring
    yield server
    await server.close()
    await asyncio.to_thread(service.stop)


async def ask(server: LineServer, line: bytes | str, *, read_all: bool = True) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(line.encode() if isinstance(line, str) else line)
    await writer.drain()
    reply = await asyncio.wait_for(reader.read() if read_all else reader.readline(), 10)
    writer.close()
    return reply.decode()


async def test_night_level_has_the_original_reply_shape(pi: LineServer) -> None:
    reply = await ask(pi, "night_level\n")
    assert re.fullmatch(r"LEVEL=\d+\.\d DARK=35 BRIGHT=55 STATUS=(DAY|NIGHT)\n", reply), reply


async def test_save_names_the_files_it_wrote(pi: LineServer, tmp_path: Path) -> None:
    reply = await ask(pi, "save jpg png\n")
    assert reply.startswith("SAVED ") and reply.endswith("\n")
    paths = [Path(p) for p in reply.split()[1:]]
    assert [p.suffix for p in paths] == [".jpg", ".png"] and all(p.exists() for p in paths)
    assert re.fullmatch(r"\d{8}_\d{6}_f\d{6}", paths[0].stem)
    stacked = await ask(pi, "pastStack npy\n")
    assert re.fullmatch(r"SAVED \S+_f\d{6}_stack4\.npy\n", stacked)
    assert (await ask(pi, "save gif\n")) == "NOT_SAVED unknown format 'gif' (jpg, png or npy)\n"


async def test_status_health_and_unknown(pi: LineServer) -> None:
    wire = json.loads(await ask(pi, "status\n"))
    assert list(wire) == [
        "night",
        "level",
        "dark_threshold",
        "bright_threshold",
        "ring",
        "fps",
        "exposure_us",
        "gain",
        "frame_id",
        "last_save",
        "disk_free_mb",
        "uptime_s",
        "backend",
        "export_dir",
        "changes",
        "dropped",
        "error",
        "rss_mb",
        "swap_pct",
    ], "the keys `echo status | nc` shows"
    assert list(wire["ring"]) == ["frames", "capacity", "seconds"]
    status = PiStatus.from_json(wire)
    assert status.backend == "synthetic" and status.ring.frames > 0 and status.fps > 10
    assert status.rss_mb is not None and status.rss_mb > 0, "the line server's own figures"
    assert status.export_dir == str(pi.service.settings.export.folder.resolve())
    await ask(pi, "save jpg\n")
    last = PiStatus.from_json(json.loads(await ask(pi, "status\n"))).last_save
    assert last is not None and last.reason == "save" and last.paths[0].endswith(".jpg")
    assert list(json.loads(await ask(pi, "status\n"))["last_save"]) == ["paths", "time", "reason"]
    assert re.fullmatch(r"RSS=\d+MiB SWAP=\d+%\n", await ask(pi, "health\n"))
    assert await ask(pi, "launch missiles\n") == "UNKNOWN_COMMAND\n"
    assert await ask(pi, "\n") == "UNKNOWN_COMMAND\n"


async def test_subscribe_streams_status_lines_until_the_client_leaves(pi: LineServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", pi.port)
    writer.write(b"subscribe\n")
    lines = [PiStatus.from_json(json.loads(await asyncio.wait_for(reader.readline(), 3))) for _ in range(2)]
    assert lines[1].uptime_s > lines[0].uptime_s
    writer.close()
    await asyncio.sleep(1.5)
    assert (await ask(pi, "health\n")).startswith("RSS="), "still serving"


async def test_garbage_long_lines_and_slow_clients_never_hurt_it(pi: LineServer) -> None:
    assert await ask(pi, b"x" * (LINE_LIMIT * 4) + b"\n") == f"ERROR line longer than {LINE_LIMIT} bytes\n"
    rng = random.Random(7)
    for _ in range(100):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b"") + b"\n"
        reply = await ask(pi, junk)
        assert reply.endswith("\n") and (
            reply.startswith(("UNKNOWN_COMMAND", "SAVED", "NOT_SAVED", "LEVEL", "RSS", "{"))
        )
    silent = [await asyncio.open_connection("127.0.0.1", pi.port) for _ in range(20)]  # connect, say nothing
    assert (await ask(pi, "night_level\n")).startswith("LEVEL=")
    for _, writer in silent:
        writer.close()


async def test_two_hundred_concurrent_clients(pi: LineServer) -> None:
    replies = await asyncio.gather(*(ask(pi, "status\n" if i % 2 else "night_level\n") for i in range(200)))
    assert all(r.startswith("{") or r.startswith("LEVEL=") for r in replies)
    assert len(replies) == 200


@pytest.mark.skipif(shutil.which("nc") is None, reason="nc is not installed")
async def test_echo_save_jpg_into_nc_writes_a_file(tmp_path: Path) -> None:
    """As the original's users do it: `rigtui pi serve`, then `echo "save jpg" | nc 127.0.0.1 PORT`."""
    config = tmp_path / "config.toml"
    config.write_text('[pi]\nbackend = "synthetic"\nwidth = 64\nheight = 48\nfps = 20\nport = 0\nmin_free_mb = 0\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        "--config",
        str(config),
        "pi",
        "serve",
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    try:
        assert proc.stderr is not None
        banner = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
        await asyncio.sleep(0.3)
        nc = await asyncio.create_subprocess_shell(
            f'echo "save jpg" | nc -q 5 127.0.0.1 {port}', stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(nc.communicate(), 20)
        reply = out.decode().strip()
        assert reply.startswith("SAVED captures/") and reply.endswith(".jpg")
        assert (tmp_path / reply.split()[1]).stat().st_size > 100
        nc = await asyncio.create_subprocess_shell(
            f'echo "night_level" | nc -q 5 127.0.0.1 {port}', stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(nc.communicate(), 20)
        assert re.fullmatch(r"LEVEL=\S+ DARK=35 BRIGHT=55 STATUS=(DAY|NIGHT)", out.decode().strip())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0


def resident_kib() -> int:
    """This process's resident memory (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


async def closed_within(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection within `within` s (what it sends meanwhile is read and forgotten)."""

    async def read_all() -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(1 << 16):
                pass

    try:
        await asyncio.wait_for(read_all(), within)
    except TimeoutError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
async def test_a_subscriber_that_talks_back_is_dropped_without_buffering_what_it_sends(pi: LineServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", pi.port)
    writer.write(b"subscribe\n")
    await asyncio.wait_for(reader.readline(), 3)
    peak = before = resident_kib()

    async def watch_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, resident_kib())
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_memory())
    block, sent = bytes(1 << 20), 0
    try:
        with contextlib.suppress(ConnectionError):
            while sent < 50 << 20:
                writer.write(block)
                await asyncio.wait_for(writer.drain(), 5)
                sent += len(block)
        closed = await closed_within(reader, 5)
    finally:
        watcher.cancel()
        writer.close()
    assert peak - before < 8 << 10, f"the server's memory grew by {(peak - before) >> 10} MiB"
    assert closed, "dropped within 5 s"
    assert sent < 50 << 20, "the server stopped reading: the client could not send it all"
    assert (await ask(pi, "health\n")).startswith("RSS="), "still serving"


async def test_a_subscriber_that_does_not_read_is_dropped(pi: LineServer) -> None:
    pi.status_line = lambda: "x" * (1 << 20)  # type: ignore[method-assign]  # lines a stuck client cannot take
    reader, writer = await asyncio.open_connection("127.0.0.1", pi.port)
    writer.write(b"subscribe\n")
    try:
        await asyncio.sleep(0.5)
        others = await asyncio.gather(*(ask(pi, "night_level\n") for _ in range(5)))
        assert all(reply.startswith("LEVEL=") for reply in others), "others are served meanwhile"
        await asyncio.sleep(8)  # not reading: the server's buffer fills and its drain does not finish
        assert await closed_within(reader, 5), "dropped: it fell behind"
    finally:
        writer.close()
