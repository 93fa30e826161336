"""Field failures of real rigs, as the simulated cameras show them: sleep and the power button, boots,
reboots and spontaneous stops, colliding serials, busy cameras, a stuck settings controller, someone in
a camera's menus, battery-less cameras, JSON errors, linked frame rates and shared USB hubs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from conftest import url
from zeroconf.asyncio import AsyncZeroconf

from rigtui.gopro.protocol import MDNS_SERVICE, Setting
from rigtui.sim.camera import STUCK_MESSAGE, SimCamera, SimTuning
from rigtui.sim.rig import SimRig
from rigtui.sim.server import CameraServer

# One Auto Power Down "minute" and the keep-alive timer shrunk to 0.3 s; a reboot takes 0.4 s.
FAST = SimTuning(
    media_bytes_per_second=64 * 1024,
    busy_pulse_s=0.2,
    start_delay_s=0.05,
    clock_error_s=0,
    minute_s=0.3,
    keep_alive_timeout_s=0.3,
    reboot_s=0.4,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def camera_on(clock: FakeClock, tmp_path: Path, model: str = "HERO12") -> SimCamera:
    tuning = SimTuning(media_bytes_per_second=1024, minute_s=60, keep_alive_timeout_s=10)
    return SimCamera("C3501324645504", model, tmp_path, seed=3, clock=clock, tuning=tuning)


async def state(http: httpx.AsyncClient, server: CameraServer) -> dict[str, dict[str, int]]:
    return (await http.get(url(server, "/gopro/camera/state"))).json()


async def press_power(http: httpx.AsyncClient, rig: SimRig, camera: int | str) -> dict[str, object]:
    """The power button, over the rig's control server (the camera's own address may answer nothing)."""
    return (await http.get(f"{rig.control.url}/_sim/power", params={"camera": camera})).json()


async def refused(http: httpx.AsyncClient, server: CameraServer) -> bool:
    try:
        await http.get(url(server, "/gopro/camera/state"))
    except httpx.ConnectError:
        return True
    return False


# -- sleep, the power button, boots ----------------------------------------------------------------
async def test_sleep_needs_both_timers_run_out_and_never_comes_while_recording(tmp_path: Path) -> None:
    clock = FakeClock()
    camera = camera_on(clock, tmp_path)
    camera.battery_present = False  # only the timers count here
    start = clock.now
    assert camera.settings[Setting.AUTO_POWER_DOWN] == 4, "5 min by default"
    assert camera.power_down_at() == start + 300
    clock.now += 299
    camera.keep_alive()
    assert camera.power_down_at() == clock.now + 10, "Auto Power Down ran out; the keep-alive timer has not"
    assert camera.set_setting(Setting.AUTO_POWER_DOWN, 1)[0] == 200
    assert camera.power_down_at() == clock.now + 60, "setting a setting restarts Auto Power Down (1 min now)"
    camera.shutter_start()
    clock.now += 3600
    assert camera.power_down_at() is None, "a recording never sleeps"
    camera.shutter_stop()
    await camera.settle()
    assert camera.power_down_at() == clock.now + 60, "idle time counts from the end of the recording"
    assert camera.set_setting(Setting.AUTO_POWER_DOWN, 0)[0] == 200
    assert camera.power_down_at() is None, "Never"


@pytest.mark.rig(cameras=3, models=("HERO12",), tuning=FAST)
async def test_a_camera_without_keep_alives_sleeps_until_its_power_button(rig: SimRig, http: httpx.AsyncClient) -> None:
    left, kept, recording = rig.servers
    for server in rig.servers:
        await http.get(url(server, "/gopro/camera/control/wired_usb?p=1"))
        assert (await http.get(url(server, "/gopro/camera/setting?setting=59&option=1"))).status_code == 200
    await http.get(url(recording, "/gopro/camera/shutter/start"))
    for _ in range(8):  # 0.8 s: both timers run out twice over
        await http.get(url(kept, "/gopro/camera/keep_alive"))
        await asyncio.sleep(0.1)
    assert await refused(http, left), "asleep: nothing answers"
    assert (await state(http, kept))["status"]["116"] == 1, "kept alive"
    assert (await state(http, recording))["status"]["10"] == 1, "a recording never sleeps"

    assert await press_power(http, rig, 1) == {"asleep": False, "boots": 2}
    woken = await state(http, left)
    assert woken["status"]["116"] == 0, "a boot: wired control is off until asked again"
    assert woken["settings"]["59"] == 1, "settings survive a power cycle"
    info = (await http.get(url(left, "/_sim/info"))).json()
    assert (info["boots"], info["asleep"]) == (2, False)

    assert (await http.get(url(kept, "/_sim/power"))).json()["asleep"], "pressed while on: it powers down"
    await asyncio.sleep(0.15)
    assert await refused(http, kept)


@pytest.mark.rig(cameras=2, models=("HERO13",), tuning=FAST)
async def test_an_empty_battery_powers_down_a_camera_but_one_without_a_battery_runs_on(
    rig: SimRig, http: httpx.AsyncClient
) -> None:
    draining, mains = rig.servers
    for server in rig.servers:
        await http.get(url(server, "/gopro/camera/setting?setting=59&option=0"))  # only the battery counts
    status = (await http.get(url(mains, "/_sim/set?battery_present=0&battery=0&usb_power=0"))).json()["status"]
    assert (status["1"], status["2"], status["70"]) == (0, 0, 0), "no battery: none present, no bars, 0 %"
    await http.get(url(mains, "/gopro/camera/shutter/start"))
    await http.get(url(draining, "/_sim/set?battery=0.001&usb_power=0"))  # empty in 0.2 s, idle
    await asyncio.sleep(0.6)
    assert await refused(http, draining), "empty battery: powered down"
    status = (await state(http, mains))["status"]
    assert (status["1"], status["70"], status["10"]) == (0, 0, 1), "runs on USB power, records, never drains"
    assert mains.camera.usb_power and mains.camera.battery == 0


@pytest.mark.rig(cameras=1, models=("HERO13",), tuning=FAST)
async def test_reboot_cuts_the_recording_and_brings_back_the_defaults(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    defaults = dict(server.camera.settings)
    await http.get(url(server, "/gopro/camera/control/wired_usb?p=1"))
    await http.get(url(server, "/gopro/camera/presets/load?id=1"))
    await http.get(url(server, "/gopro/camera/setting?setting=121&option=4"))
    await server.camera.until_idle()
    await http.get(url(server, "/_sim/fault?set=settings-stuck"))
    reply = await http.get(url(server, "/gopro/camera/setting?setting=121&option=0"))
    assert reply.status_code == 500 and reply.json() == {"error": STUCK_MESSAGE}
    await http.get(url(server, "/gopro/camera/shutter/start"))
    await http.get(url(server, "/_sim/fault?set=reboot&value=0.3"))
    await asyncio.sleep(0.5)
    assert await refused(http, server), "the link is down while it reboots"
    await asyncio.sleep(0.4)
    rebooted = await state(http, server)
    assert (rebooted["status"]["116"], rebooted["status"]["10"], rebooted["status"]["97"]) == (0, 0, 0)
    assert {int(k): v for k, v in rebooted["settings"].items() if int(k) in defaults} == defaults
    assert (await http.get(url(server, "/_sim/info"))).json()["boots"] == 2
    assert (await http.get(url(server, "/gopro/camera/setting?setting=121&option=4"))).status_code == 200
    await server.camera.until_idle()
    listing = (await http.get(url(server, "/gopro/media/list"))).json()
    assert [f["n"] for f in listing["media"][0]["fs"]] == ["GX010001.MP4"], "the cut recording was written"
    info = (await http.get(url(server, "/gopro/media/info?path=100GOPRO/GX010001.MP4"))).json()
    assert info["fov"] == "Linear", "written as it was recorded, not with the defaults"


@pytest.mark.rig(cameras=1, models=("HERO13",), tuning=FAST)
async def test_a_stuck_settings_controller_stays_stuck_until_a_power_cycle(
    rig: SimRig, http: httpx.AsyncClient
) -> None:
    server = rig.servers[0]
    await http.get(url(server, "/_sim/fault?set=settings-stuck"))
    for path in (
        "/gopro/camera/setting?setting=121&option=4",
        "/gopro/camera/presets/load?id=1",
        "/gopro/camera/presets/set_group?id=1001",
    ):
        reply = await http.get(url(server, path))
        assert reply.status_code == 500 and STUCK_MESSAGE in reply.json()["error"], path
    assert (await http.get(url(server, "/gopro/camera/setting?setting=121"))).status_code == 200, "reading works"
    await asyncio.sleep(0.5)
    assert (await http.get(url(server, "/gopro/camera/presets/load?id=1"))).status_code == 500, "time cures nothing"
    await http.get(url(server, "/gp/gpControl/command/system/sleep"))
    await asyncio.sleep(0.15)
    await press_power(http, rig, server.camera.serial)
    assert (await http.get(url(server, "/gopro/camera/presets/load?id=1"))).status_code == 200


@pytest.mark.rig(cameras=1, models=("HERO12",), tuning=FAST)
async def test_a_recording_stops_by_itself_and_is_written_as_a_stop_writes_it(
    rig: SimRig, http: httpx.AsyncClient
) -> None:
    server = rig.servers[0]
    await http.get(url(server, "/_sim/fault?set=spontaneous-stop&value=0.4"))
    await http.get(url(server, "/gopro/camera/shutter/start"))
    await asyncio.sleep(0.2)
    assert (await state(http, server))["status"]["10"] == 1
    await asyncio.sleep(0.4)
    assert (await state(http, server))["status"]["10"] == 0, "stopped with no request"
    await server.camera.until_idle()
    entries = (await http.get(url(server, "/gopro/media/list"))).json()["media"][0]["fs"]
    assert len(entries) == 1 and int(entries[0]["s"]) > 0
    assert not any(r["path"] == "/gopro/camera/shutter/stop" for r in server.requests)


# -- colliding serials -----------------------------------------------------------------------------
@pytest.mark.rig(cameras=3, collide=True, mdns=True, base_address="127.0.7.1")
async def test_colliding_cameras_share_one_address_where_only_the_first_answers(
    rig: SimRig, http: httpx.AsyncClient
) -> None:
    first, second, _ = rig.servers
    assert (second.host, second.port) == (first.host, first.port) and not second.listening
    status = (await state(http, second))["status"]
    assert status["30"] == f"GP{first.camera.serial[-8:]}", "HERO10: its AP name is the only serial hint"
    assert (await http.get(url(second, "/gopro/camera/info"))).status_code == 501
    lines = rig.describe()
    assert lines[0]["shadows"] == [second.camera.serial] and lines[1]["shadowed_by"] == first.camera.serial
    assert "shadowed_by" not in lines[2] and "shadows" not in lines[2]
    added = await http.get(f"{rig.control.url}/_sim/media/add", params={"camera": "2", "seconds": "5"})
    assert added.status_code == 200 and second.camera.media.items and not first.camera.media.items

    await rig.wait_mdns()
    zeroconf = AsyncZeroconf(interfaces=["127.0.0.1"])
    try:
        for camera in (first, second):
            name = f"{camera.camera.serial}.{MDNS_SERVICE}"
            info = await zeroconf.async_get_service_info(MDNS_SERVICE, name, timeout=5000)
            assert info is not None and (info.parsed_addresses()[0], info.port) == (first.host, first.port)
    finally:
        await zeroconf.async_close()


# -- someone in the menus, JSON errors -------------------------------------------------------------
@pytest.mark.rig(cameras=1, models=("HERO12",))
async def test_someone_in_the_menus_refuses_commands_until_an_app_claims_control(
    rig: SimRig, http: httpx.AsyncClient
) -> None:
    server = rig.servers[0]
    await server.camera.add_recording(duration=5)
    assert (await http.get(url(server, "/_sim/set?owner=1"))).json()["status"]["114"] == 1
    for path in (
        "/gopro/camera/shutter/start",
        "/gopro/camera/shutter/stop",
        "/gopro/camera/setting?setting=121&option=4",
        "/gopro/camera/presets/load?id=1",
        "/gopro/camera/presets/set_group?id=1001",
        "/gopro/media/delete/file?path=100GOPRO/GX010001.MP4",
        "/gp/gpControl/command/storage/delete/group?p=100GOPRO/GX010001.MP4",
        "/gp/gpControl/command/storage/delete/all",
    ):
        reply = await http.get(url(server, path))
        assert reply.status_code == 409 and "menus" in reply.json()["error"], path
    assert not server.camera.encoding and server.camera.media.items, "nothing happened"
    assert (await state(http, server))["status"]["114"] == 1, "reading is fine"
    await http.get(url(server, "/gopro/camera/control/set_ui_controller?p=2"))
    assert (await state(http, server))["status"]["114"] == 2, "an app claimed control: the camera left its menus"
    assert (await http.get(url(server, "/gopro/camera/shutter/start"))).status_code == 200
    await http.get(url(server, "/gopro/camera/control/set_ui_controller?p=0"))
    assert (await state(http, server))["status"]["114"] == 0
    assert (await http.get(url(server, "/_sim/set?owner=3"))).status_code == 400


async def test_unknown_paths_and_unsupported_endpoints_answer_json_errors(rig: SimRig, http: httpx.AsyncClient) -> None:
    hero10 = rig.servers[0]
    for method, path, code in (
        ("GET", "/gopro/camera/digital_zoom?percent=50", 404),
        ("GET", "/no/such/path", 404),
        ("POST", "/gopro/camera/state", 405),
        ("GET", "/gopro/camera/info", 501),
        ("GET", "/gopro/media/last_captured", 501),
        ("GET", "/videos/DCIM/100GOPRO/GX019999.MP4", 404),
        ("GET", "/_sim/nothing", 404),
    ):
        reply = await http.request(method, url(hero10, path))
        assert reply.status_code == code and reply.headers["content-type"].startswith("application/json"), path
        assert isinstance(reply.json()["error"], str) and reply.json()["error"], path


# -- linked frame rates, shared hubs ---------------------------------------------------------------
def test_hero13_keeps_its_two_frame_rate_settings_in_step(tmp_path: Path) -> None:
    clock = FakeClock()
    hero13, hero12 = camera_on(clock, tmp_path / "13", "HERO13"), camera_on(clock, tmp_path / "12", "HERO12")
    assert hero13.settings[Setting.FPS] == hero13.settings[Setting.FRAME_RATE_V2] == 8
    hero13.set_setting(Setting.RESOLUTION, 9)
    assert hero13.set_setting(Setting.FRAME_RATE_V2, 0)[0] == 200  # 240 fps
    assert hero13.settings[Setting.FPS] == 0
    hero13.set_setting(Setting.RESOLUTION, 1)  # 4K: the camera lowers the rate; both follow
    assert hero13.settings[Setting.FPS] == hero13.settings[Setting.FRAME_RATE_V2] == 1
    hero13.load_preset(0)
    assert hero13.settings[Setting.FPS] == hero13.settings[Setting.FRAME_RATE_V2] == 5
    before = dict(hero12.settings)
    assert hero12.set_setting(Setting.FPS, 5)[0] == 200
    assert {k: v for k, v in hero12.settings.items() if v != before[k]} == {Setting.FPS: 5}
    assert Setting.FRAME_RATE_V2 not in hero12.settings


@pytest.mark.rig(cameras=3, models=("HERO12",), hub_size=2, hub_mbps=4.0)
async def test_the_cameras_of_one_hub_share_its_bandwidth(rig: SimRig, http: httpx.AsyncClient) -> None:
    paths = [(await s.camera.add_recording(duration=5, size=1_000_000))[0].key for s in rig.servers]

    async def seconds_to_fetch(server: CameraServer, path: str) -> float:
        started = time.monotonic()
        assert len((await http.get(url(server, f"/videos/DCIM/{path}"))).content) == 1_000_000
        return time.monotonic() - started

    times = await asyncio.gather(*(seconds_to_fetch(s, p) for s, p in zip(rig.servers, paths, strict=True)))
    assert max(times[:2]) >= 0.45, "hub 1: 2 MB through 4 MB/s"
    assert times[2] < 0.45, "hub 2 carries 1 MB alone"
    hubs = [(await http.get(url(s, "/_sim/info"))).json()["hub"] for s in rig.servers]
    assert hubs == [1, 1, 2] == [line["hub"] for line in rig.describe()]
