"""`rigtui sim` as an operator runs it: a separate process, JSON lines, mDNS adverts, clean exit."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

import httpx
import pytest
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from rigtui.gopro.protocol import MDNS_SERVICE


async def start_sim(*args: str, count: int) -> tuple[asyncio.subprocess.Process, list[dict[str, object]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rigtui", "sim", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 30)) for _ in range(count)]
    return proc, lines


async def stop_sim(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 20)


async def test_a_hundred_cameras_start_answer_and_are_found_over_mdns() -> None:
    started = time.monotonic()
    proc, cameras = await start_sim("--cameras", "100", "--port", "0", "--seed", "5", count=100)
    try:
        assert time.monotonic() - started < 10
        assert len({c["serial"] for c in cameras}) == 100
        assert {c["model"] for c in cameras} == {"HERO10", "HERO11", "HERO12", "HERO13"}
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            replies = await asyncio.gather(
                *(http.get(f"http://{c['host']}:{c['port']}/gopro/camera/state") for c in cameras)
            )
        assert all(r.status_code == 200 and "70" in r.json()["status"] for r in replies)

        found: dict[str, tuple[str, int]] = {}
        zeroconf = AsyncZeroconf(interfaces=["127.0.0.1"])
        pending: set[asyncio.Task[None]] = set()

        async def resolve(name: str) -> None:
            info = await zeroconf.async_get_service_info(MDNS_SERVICE, name, timeout=5000)
            if info is not None:
                found[name.split(".")[0]] = (info.parsed_addresses()[0], info.port or 0)

        def on_change(zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            if state_change is ServiceStateChange.Added:
                task = asyncio.ensure_future(resolve(name))
                pending.add(task)

        browser = AsyncServiceBrowser(zeroconf.zeroconf, MDNS_SERVICE, handlers=[on_change])
        deadline = time.monotonic() + 30
        while len(found) < 100 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await browser.async_cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await zeroconf.async_close()
        assert found == {c["serial"]: (c["host"], c["port"]) for c in cameras}
    finally:
        assert await stop_sim(proc) == 0


async def test_sim_exits_cleanly_and_frees_its_addresses() -> None:
    proc, cameras = await start_sim("--cameras", "3", "--no-mdns", "--base-address", "127.0.3.1", count=3)
    assert [c["host"] for c in cameras] == ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
    assert all(c["port"] == 8080 for c in cameras)
    assert await stop_sim(proc) == 0
    for camera in cameras:
        try:
            _, writer = await asyncio.open_connection(camera["host"], camera["port"])
        except OSError:
            continue
        writer.close()
        raise AssertionError(f"{camera['host']} still listens after exit")


async def test_cli_faults_apply_to_the_cameras_named() -> None:
    proc, cameras = await start_sim("--cameras", "3", "--port", "0", "--no-mdns", "--fault", "2:shutter-500", count=3)
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            codes = [
                (await http.get(f"http://{c['host']}:{c['port']}/gopro/camera/shutter/start")).status_code
                for c in cameras
            ]
        assert codes == [200, 500, 200]
    finally:
        await stop_sim(proc)


async def test_sim_refuses_a_busy_address_with_one_line() -> None:
    proc, _ = await start_sim("--cameras", "1", "--no-mdns", "--base-address", "127.0.4.1", count=1)
    try:
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rigtui",
            "sim",
            "--cameras",
            "1",
            "--no-mdns",
            "--base-address",
            "127.0.4.1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(second.communicate(), 20)
        assert second.returncode == 2 and out == b""
        assert err.decode().strip().splitlines() == [
            "rigtui: 127.0.4.1:8080 is already in use (another simulator?); choose another --base-address or --port 0"
        ]
    finally:
        await stop_sim(proc)


async def test_collide_hubs_and_the_power_button_from_the_command_line() -> None:
    proc, cameras = await start_sim(
        *("--cameras", "3", "--port", "0", "--no-mdns", "--collide", "--hub-size", "2", "--hub-mbps", "50"),
        *("--fault", "1:media-busy", "--fault", "3:settings-stuck"),  # old and new kinds are understood
        count=3,
    )
    try:
        first, second, third = cameras
        assert [c["hub"] for c in cameras] == [1, 1, 2]
        assert (second["host"], second["port"]) == (first["host"], first["port"])
        assert second["shadowed_by"] == first["serial"] and first["shadows"] == [second["serial"]]
        control = str(first["control"])
        assert all(c["control"] == control for c in cameras)
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            info = (await http.get(f"{control}/_sim/info", params={"camera": second["serial"]})).json()
            assert (info["hub"], info["shadowed_by"]) == (1, first["serial"])
            camera3 = f"http://{third['host']}:{third['port']}"
            reply = await http.get(f"{camera3}/gopro/camera/setting?setting=2&option=9")
            assert reply.status_code == 500 and "settings controller" in reply.json()["error"]
            assert (await http.get(f"{control}/_sim/power", params={"camera": "3"})).json()["asleep"]
            await asyncio.sleep(0.2)
            with pytest.raises(httpx.ConnectError):
                await http.get(f"{camera3}/gopro/camera/state")
            assert (await http.get(f"{control}/_sim/power?camera=3")).json() == {"asleep": False, "boots": 2}
            assert (await http.get(f"{camera3}/gopro/camera/setting?setting=2&option=9")).status_code == 200
    finally:
        assert await stop_sim(proc) == 0
