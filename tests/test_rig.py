"""The rig core against simulated cameras: every command, every fault, mixed models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import url

from rigtui.gopro.client import CameraClient, ClientPolicy
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.errors import CameraBusy, CameraProtocolError
from rigtui.gopro.protocol import SETTINGS
from rigtui.gopro.rig import Rig, RigSettings
from rigtui.gopro.settings import option_name
from rigtui.gopro.spec_tables import OptionSpec
from rigtui.ops.clock import sync_time
from rigtui.ops.power import power_off
from rigtui.ops.presets import load_preset
from rigtui.ops.rig import RigOptions, RigSession
from rigtui.ops.settings import copy_settings
from rigtui.ops.shutter import RecordOptions, record, stop
from rigtui.sim.camera import SimCamera
from rigtui.sim.rig import SimRig

FAST = RigSettings(request_timeout_s=1.0, connect_timeout_s=1.0, confirm_timeout_s=3.0)


@pytest.fixture
async def rig_of(rig: SimRig) -> AsyncIterator[Rig]:
    """A Rig connected to every camera of the simulated rig."""
    core = Rig(FAST)
    outcomes = await core.add([Endpoint(s.host, s.port, s.camera.serial) for s in rig.servers])
    assert all(o.ok for o in outcomes), outcomes
    yield core
    await core.close()


async def set_fault(server: object, query: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        assert (await http.get(url(server, f"/_sim/fault?{query}"))).status_code == 200  # type: ignore[arg-type]


def by_key(report: object) -> dict[str, object]:
    return {o.key: o for o in report.outcomes}  # type: ignore[attr-defined]


@pytest.mark.rig(cameras=6)
async def test_bring_up_identifies_every_model_and_enables_wired_control(rig: SimRig, rig_of: Rig) -> None:
    snaps = {s.key: s for s in rig_of.snapshots()}
    for server in rig.servers:
        snap = snaps[server.camera.serial]
        assert snap.model == server.camera.model and snap.online
        assert snap.battery_percent is not None and snap.sd_remaining_kb is not None
        assert server.camera.usb_controlled == 1 and server.camera.client_info
        assert (snap.firmware is not None) == (server.camera.model in ("HERO12", "HERO13"))
    paths = [r["path"] for r in rig.servers[0].requests]
    assert paths[:3] == ["/gopro/camera/control/wired_usb", "/gopro/camera/analytics/set_client_info", "/gopro/version"]
    assert "/gopro/media/turbo_transfer" in paths


@pytest.mark.rig(cameras=5)
async def test_record_and_stop_every_camera_confirmed_by_status_10(rig: SimRig, rig_of: Rig) -> None:
    report = await record(rig_of)
    assert report.ok and len(report.outcomes) == 5 and report.dispatch_spread_ms is not None
    assert all(server.camera.encoding for server in rig.servers)
    assert all(o.response_ms is not None for o in report.outcomes)
    await asyncio.sleep(1.1)
    snaps = await rig_of.poll_once()
    assert all(s.recording and s.recording_seconds >= 1 for s in snaps)
    report = await stop(rig_of)
    assert report.ok and not any(server.camera.recording_since for server in rig.servers)


@pytest.mark.rig(cameras=4)
async def test_shutter_500_is_named_and_the_others_record(rig: SimRig, rig_of: Rig) -> None:
    bad = rig.servers[2]
    await set_fault(bad, "set=shutter-500")
    report = await record(rig_of)
    outcomes = by_key(report)
    assert not report.ok
    assert not outcomes[bad.camera.serial].ok and "HTTP 500" in outcomes[bad.camera.serial].detail
    assert [s.camera.encoding for s in rig.servers] == [True, True, False, True]


@pytest.mark.rig(cameras=4)
async def test_link_reset_at_record_start_is_confirmed_recording(rig: SimRig, rig_of: Rig) -> None:
    flaky = rig.servers[1]
    await set_fault(flaky, "set=reset-on-record&value=1")
    report = await record(rig_of)
    outcome = by_key(report)[flaky.camera.serial]
    assert report.ok, report.outcomes
    assert "confirmed by status 10" in outcome.detail


@pytest.mark.rig(cameras=4)
async def test_camera_down_mid_record_fails_stop_alone_and_comes_back(rig: SimRig, rig_of: Rig) -> None:
    assert (await record(rig_of)).ok
    down = rig.servers[3]
    down.link_down(2.0)
    started = time.monotonic()
    report = await stop(rig_of)
    assert time.monotonic() - started < 8, "a dead camera must not stall the rig"
    outcomes = by_key(report)
    assert not outcomes[down.camera.serial].ok
    assert all(outcomes[s.camera.serial].ok for s in rig.servers[:3])
    snap = next(s for s in await rig_of.poll_once() if s.key == down.camera.serial)
    assert not snap.online and snap.last_error
    await asyncio.sleep(2.2)
    for _ in range(10):  # reconnect with backoff
        snap = next(s for s in await rig_of.poll_once() if s.key == down.camera.serial)
        if snap.online:
            break
        await asyncio.sleep(0.5)
    assert snap.online and snap.recording, "back, and still recording as the camera was never stopped"


@pytest.mark.rig(cameras=4)
async def test_slow_and_malformed_cameras_are_named_and_nothing_hangs(rig: SimRig, rig_of: Rig) -> None:
    slow, broken = rig.servers[0], rig.servers[2]
    await set_fault(slow, "set=latency&value=2500")
    await set_fault(broken, "set=malformed")
    started = time.monotonic()
    snaps = {s.key: s for s in await rig_of.poll_once()}
    assert time.monotonic() - started < 4
    assert not snaps[slow.camera.serial].online and "in time" in (snaps[slow.camera.serial].last_error or "")
    assert not snaps[broken.camera.serial].online and "not JSON" in (snaps[broken.camera.serial].last_error or "")
    assert snaps[rig.servers[1].camera.serial].online and snaps[rig.servers[3].camera.serial].online


async def test_client_raises_typed_errors(rig: SimRig) -> None:
    server = rig.servers[0]
    client = CameraClient(server.host, server.port, ClientPolicy(request_timeout_s=1))
    try:
        await set_fault(server, "set=media-busy")
        await client.request("/gopro/camera/shutter/start")
        with pytest.raises(CameraBusy, match="Camera is busy"):
            await client.media_list()
        await set_fault(server, "set=malformed")
        with pytest.raises(CameraProtocolError):
            await client.state()
    finally:
        await client.close()


@pytest.mark.rig(cameras=4)
async def test_preflight_refuses_a_camera_that_would_ruin_the_take(rig: SimRig, rig_of: Rig) -> None:
    weak = rig.servers[1]
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.get(url(weak, "/_sim/set?battery=5&usb_power=0"))
        await http.get(url(rig.servers[2], "/_sim/set?hot=1"))
    report = await record(rig_of)
    assert report.problems == [f"{weak.camera.serial}: battery 5%", f"{rig.servers[2].camera.serial}: overheating"]
    assert not any(s.camera.encoding for s in rig.servers)
    assert (await record(rig_of, options=RecordOptions(force=True))).ok


@pytest.mark.rig(cameras=5)
async def test_sync_time_sets_every_clock_within_a_second(rig: SimRig, rig_of: Rig) -> None:
    report = await sync_time(rig_of)
    assert report.ok, report.outcomes
    assert all("clock offset +0 s" in o.detail or "clock offset -1 s" in o.detail for o in report.outcomes)
    local = time.time() + time.localtime().tm_gmtoff
    for server in rig.servers:
        assert abs(server.camera.camera_time() - local) < 1.0
        sync = [r for r in server.requests if r["path"] == "/gopro/camera/set_date_time"][-1]
        arrived = sync["t_ns"] / 1e9
        assert arrived - int(arrived) < 0.25, "sent at the start of a second (generous: CI machines are busy)"
        has_zone = "tzone=" in sync["query"]
        assert has_zone == (server.camera.model != "HERO10")


def held_differences(prime: SimCamera, camera: SimCamera) -> set[str]:
    """What the simulated cameras hold differently, by meaning, straight from their settings."""
    same = {"ntsc": "60hz", "pal": "50hz"}
    found = set()
    for sid, spec in SETTINGS.items():
        if prime.model not in spec.models or camera.model not in spec.models or sid not in prime.settings:
            continue
        prime_option = prime.settings[sid]
        if prime.model not in spec.options.get(prime_option, OptionSpec("", ())).models:
            continue
        mine, theirs = option_name(sid, camera.settings[sid]), option_name(sid, prime_option)
        if same.get(mine.lower(), mine.lower()) != same.get(theirs.lower(), theirs.lower()):
            found.add(f"{spec.name}: prime {theirs}, this camera {mine}")
    return found


@pytest.mark.rig(cameras=8)
async def test_copy_settings_between_mixed_models_reports_what_the_cameras_hold(rig: SimRig, rig_of: Rig) -> None:
    prime = rig.servers[2]  # HERO12
    async with httpx.AsyncClient(trust_env=False) as http:
        # 1080p, PAL, 200 fps, Linear, HyperSmooth off: the fps is only valid after resolution and anti-flicker
        for setting, option in ((2, 9), (134, 3), (3, 13), (121, 4), (135, 0)):
            reply = await http.get(url(prime, f"/gopro/camera/setting?setting={setting}&option={option}"))
            assert reply.is_success, reply.text
    report = await copy_settings(rig_of, prime.camera.serial)
    differences = report.extra["differences"]
    assert isinstance(differences, dict)
    for server in rig.servers:
        camera = server.camera
        if server is prime:
            continue
        assert [option_name(s, camera.settings[s]) for s in (2, 3, 121, 135)] == ["1080", "200.0", "Linear", "Off"]
        assert camera.settings[134] == (1 if camera.model == "HERO13" else 3), "PAL on HERO13, 50Hz before"
        reported = {line.split(" [")[0] for line in differences[camera.serial]}
        assert reported == held_differences(prime.camera, camera)
        assert by_key(report)[camera.serial].ok == (not reported)
    hero10 = rig.servers[0].camera.serial
    assert any("HERO10 has no such option" in line for line in differences[hero10])


@pytest.mark.rig(cameras=4)
async def test_presets_by_title_group_and_id(rig: SimRig, rig_of: Rig) -> None:
    assert (await load_preset(rig_of, "cinematic")).ok
    assert [s.camera.preset.title_id for s in rig.servers] == [2, 2, 2, 2]
    assert {s.camera.preset.id for s in rig.servers} == {2, 3}, "HERO13 numbers its presets differently"
    assert (await load_preset(rig_of, "photo")).ok
    assert all(s.camera.preset.group == 1001 for s in rig.servers)
    assert (await load_preset(rig_of, "131072")).ok
    assert all(s.camera.preset.id == 131072 for s in rig.servers)
    report = await load_preset(rig_of, "no-such-preset")
    assert not report.ok and "no preset named" in report.outcomes[0].detail


@pytest.mark.rig(cameras=3)
async def test_power_off_puts_selected_cameras_to_sleep(rig: SimRig, rig_of: Rig) -> None:
    target = rig.servers[1].camera.serial
    report = await power_off(rig_of, [target[-6:]])
    assert report.ok and [o.key for o in report.outcomes] == [target]
    await asyncio.sleep(0.2)
    assert [s.listening for s in rig.servers] == [True, False, True]


async def test_camera_clock_readback_reports_offsets(rig: SimRig, rig_of: Rig) -> None:
    camera = rig.servers[1].camera
    camera.clock_offset = time.localtime().tm_gmtoff + 30  # a camera 30 s fast
    link = rig_of.find(camera.serial)
    assert abs(await link.read_clock() - 30) <= 1
    assert abs((link.snapshot().clock_offset_s or 0) - 30) <= 1, "the snapshot shows it"


async def test_a_session_keeps_every_camera_awake_every_few_seconds(rig: SimRig) -> None:
    """Keep-alives come from the session, whatever else runs; polls (2 Hz here) do not send them."""
    server = rig.servers[0]
    session = RigSession(
        RigOptions(RigSettings(poll_interval_s=0.5), named=(Endpoint(server.host, server.port),), discovers=False)
    )
    await session.open()
    try:
        poller = asyncio.create_task(session.rig.run_poller(lambda snaps: None))
        await asyncio.sleep(3.6)
        poller.cancel()
    finally:
        await session.close()
    paths = [r["path"] for r in server.requests]
    assert paths.count("/gopro/camera/keep_alive") == 2
    assert 6 <= paths.count("/gopro/camera/state") <= 12, "polled at 2 Hz (status 60 allows 500 ms)"
