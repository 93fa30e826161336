"""Headless commands end to end: `rigtui <command>` in a subprocess against a simulated rig."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from conftest import cameras_of, run_rigtui, url

from rigtui.gopro.discovery import Endpoint, load_cache, merge, save_cache, scan_usb, serial_collisions
from rigtui.sim.rig import SimRig


async def rigtui(*args: str, cache: Path, timeout: float = 60) -> tuple[int, str, str]:
    env = {"XDG_CACHE_HOME": str(cache), "XDG_DATA_HOME": str(cache / "data"), "XDG_STATE_HOME": str(cache / "state")}
    return await run_rigtui(*args, env=env, timeout=timeout)


@pytest.mark.rig(cameras=6)
async def test_status_json_lists_every_camera(rig: SimRig, tmp_path: Path) -> None:
    code, out, err = await rigtui("status", "--json", *cameras_of(rig), cache=tmp_path)
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 6
    for row in rows:
        assert {"serial", "model", "online", "battery_percent", "recording", "hot", "cold", "sd_remaining_kb"} <= set(
            row
        )
    assert {r["model"] for r in rows} == {"HERO10", "HERO11", "HERO12", "HERO13"}
    assert all(r["online"] for r in rows)


@pytest.mark.rig(cameras=4)
async def test_record_json_reports_outcomes_and_dispatch_spread(rig: SimRig, tmp_path: Path) -> None:
    code, out, err = await rigtui("record", "--json", *cameras_of(rig), cache=tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and len(report["outcomes"]) == 4 and report["dispatch_spread_ms"] >= 0
    assert all(s.camera.encoding for s in rig.servers)
    code, out, _ = await rigtui("stop", *cameras_of(rig), cache=tmp_path)
    assert code == 0 and out.count("stopped") == 4 and "dispatch spread" in out


@pytest.mark.rig(cameras=4)
async def test_a_failing_camera_exits_1_and_is_named(rig: SimRig, tmp_path: Path) -> None:
    bad = rig.servers[2]  # a HERO12: its serial is known without mDNS
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.get(url(bad, "/_sim/fault?set=shutter-500"))
    code, out, _ = await rigtui("record", *cameras_of(rig), cache=tmp_path)
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and bad.camera.serial in failed[0] and "HTTP 500" in failed[0]
    assert "record: 1 of 4 cameras failed" in out


@pytest.mark.rig(cameras=3)
async def test_unreachable_camera_is_named_offline(rig: SimRig, tmp_path: Path) -> None:
    code, out, _ = await rigtui("status", *cameras_of(rig), "--camera", "127.0.9.9:1", cache=tmp_path)
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("127.0.9.9:1"))
    assert " NO " in line and "unreachable" in line


@pytest.mark.rig(cameras=3)
async def test_sync_time_copy_settings_preset_and_power_off(rig: SimRig, tmp_path: Path) -> None:
    code, out, err = await rigtui("sync-time", "--json", *cameras_of(rig), cache=tmp_path)
    assert code == 0, err + out
    assert all("clock offset" in o["detail"] for o in json.loads(out)["outcomes"])
    prime = rig.servers[2].camera.serial
    hero11 = rig.servers[1]  # no serial without mDNS: selected by address
    selected = f"{hero11.host}:{hero11.port}"
    code, out, err = await rigtui(
        "copy-settings", "--from", prime[-5:], "--select", selected, *cameras_of(rig), cache=tmp_path
    )
    assert "settings match the prime" in out or "still differ" in out, err
    assert len([line for line in out.splitlines() if line.startswith(("ok", "FAILED"))]) == 1
    code, out, err = await rigtui("preset", "cinematic", *cameras_of(rig), cache=tmp_path)
    assert code == 0 and out.count("Cinematic") == 3, err
    code, out, _ = await rigtui("power-off", "--select", rig.servers[0].host, *cameras_of(rig), cache=tmp_path)
    assert code == 0 and "powered off" in out
    await asyncio.sleep(0.2)
    assert [s.listening for s in rig.servers] == [False, True, True]


async def test_usage_errors_exit_2_with_one_line(rig: SimRig, tmp_path: Path) -> None:
    for args, message in [
        (("status", "--camera", "bad host!"), "camera address 'bad host!' is not HOST or HOST:PORT"),
        (("record", "--select", "nope", *cameras_of(rig)), "no camera matches nope"),
        (("copy-settings", *cameras_of(rig)), "copy-settings needs a prime camera"),
    ]:
        code, _, err = await rigtui(*args, cache=tmp_path)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (args, err)


@pytest.mark.rig(cameras=5, mdns=True, no_mdns=frozenset({"4"}), base_address="127.0.2.1")
async def test_discovery_finds_cameras_over_mdns_and_remembers_them(rig: SimRig, tmp_path: Path) -> None:
    await rig.wait_mdns()
    config = tmp_path / "config.toml"
    hidden = rig.servers[3]
    config.write_text(f'[rig]\ncameras = ["{hidden.host}:{hidden.port}"]\nusb_scan = false\n')
    code, out, err = await rigtui(
        "--config", str(config), "status", "--json", "--mdns-interface", "127.0.0.1", cache=tmp_path
    )
    assert code == 0, err
    found = {r["host"]: r for r in json.loads(out)}
    assert set(found) >= {s.host for s in rig.servers}
    for server in rig.servers:
        expected = server.camera.serial if server is not hidden or server.camera.model in ("HERO12", "HERO13") else None
        assert found[server.host]["serial"] == expected, "mDNS names HERO10/11 serials; the static one has none"
    cached = load_cache(tmp_path / "rigtui" / "cameras.json")
    assert {e.host for e in cached} >= {s.host for s in rig.servers}


async def test_stale_cache_entries_are_verified_not_trusted(rig: SimRig, tmp_path: Path) -> None:
    save_cache([Endpoint("127.0.9.9", 1, "C3501000000999")], tmp_path / "rigtui" / "cameras.json")
    config = tmp_path / "config.toml"
    live = rig.servers[0]
    config.write_text(f'[rig]\ncameras = ["{live.host}:{live.port}"]\nmdns = false\nusb_scan = false\n')
    code, out, _ = await rigtui("--config", str(config), "status", "--json", cache=tmp_path)
    assert code == 0
    assert [r["host"] for r in json.loads(out)] == [live.host]


def test_usb_scan_maps_local_link_addresses_to_cameras() -> None:
    found = scan_usb(["127.0.0.1", "172.27.189.55", "172.20.101.52", "172.20.101.53", "10.0.0.5"])
    assert [(e.host, e.port, e.source) for e in found] == [
        ("172.27.189.51", 8080, "usb"),
        ("172.20.101.51", 8080, "usb"),
    ]


def test_serial_collisions_are_named() -> None:
    assert serial_collisions(["C3501324645504", "C3531324645504", "C3441000000123"]) == [
        "serials C3501324645504 and C3531324645504 share the last three digits 504: both use 172.25.104.51 "
        "on USB; only one can be reached"
    ]


def test_merge_keeps_serials_and_prefers_live_sources() -> None:
    merged = merge(
        [
            Endpoint("127.0.1.1", 8080, None, "static"),
            Endpoint("127.0.1.1", 8080, "C3441000000001", "cache"),
            Endpoint("127.0.1.2", 8080, "C3441000000002", "cache"),
            Endpoint("127.0.1.2", 8080, "C3441000000003", "mdns"),
        ]
    )
    assert merged == [
        Endpoint("127.0.1.1", 8080, "C3441000000001", "static"),
        Endpoint("127.0.1.2", 8080, "C3441000000003", "mdns"),
    ]


@pytest.mark.rig(cameras=3, collide=True, models=("HERO10", "HERO12"), mdns=True, base_address="127.0.7.1")
async def test_two_cameras_on_one_address_are_a_clash_named_in_status_and_before_record(
    rig: SimRig, tmp_path: Path
) -> None:
    """Two serials ending in the same three digits take one USB address, and only one camera answers
    there (the other is seen only in mDNS): `status` names both, and `record` refuses (the rig is one
    camera short) unless forced."""
    await rig.wait_mdns()
    config = tmp_path / "config.toml"
    config.write_text("[rig]\nusb_scan = false\n")
    find = ("--config", str(config), "--mdns-interface", "127.0.0.1")
    first, second = (rig.cameras[0].serial, rig.cameras[1].serial)
    assert first[-3:] == second[-3:]
    code, out, _ = await rigtui("status", *find, cache=tmp_path)
    assert code == 0
    clash = next(line for line in out.splitlines() if "share" in line and first in line and second in line)
    assert "move" in clash and "another host PC" in clash
    code, out, _ = await rigtui("record", *find, cache=tmp_path)
    assert code == 1 and "the rig is one camera short" in out and "record: refused" in out


async def test_mdns_browser_reports_arrivals_and_departures() -> None:
    from conftest import make_options

    from rigtui.gopro.discovery import MdnsBrowser

    found: dict[str, Endpoint] = {}
    lost: list[str] = []
    browser = MdnsBrowser(["127.0.0.1"], lambda e: found.setdefault(e.serial or "", e), lost.append)
    await browser.start()
    try:
        sim = SimRig(make_options(cameras=3, mdns=True, base_address="127.0.6.1"))
        await sim.start()
        serials = {c.serial for c in sim.cameras}
        for _ in range(100):
            if serials <= set(found):
                break
            await asyncio.sleep(0.1)
        assert {found[s].host for s in serials} == {"127.0.6.1", "127.0.6.2", "127.0.6.3"}
        await sim.stop()
        for _ in range(50):
            if serials <= set(lost):
                break
            await asyncio.sleep(0.1)
        assert serials <= set(lost), "goodbye packets report departures"
    finally:
        await browser.close()


@pytest.mark.rig(cameras=3, models=("HERO12", "HERO13"))
async def test_record_can_require_settings_equal_to_the_prime(rig: SimRig, tmp_path: Path) -> None:
    prime, other = rig.servers[0], rig.servers[1]
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.get(url(other, "/gopro/camera/setting?setting=121&option=4"))
    code, out, _ = await rigtui(
        "record", "--check-settings", "--from", prime.camera.serial, *cameras_of(rig), cache=tmp_path
    )
    assert code == 1 and "record: refused" in out
    assert f"not ready  {other.camera.serial}: Video Lens: prime Wide, this camera Linear" in out
    assert not any(s.camera.encoding for s in rig.servers)
