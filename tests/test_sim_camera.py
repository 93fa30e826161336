"""Behaviour of the simulated cameras, as a client sees it over HTTP (and the model on a fake clock)."""

from __future__ import annotations

import asyncio
import calendar
import time
from pathlib import Path

import httpx
import pytest
from conftest import url

from rigtui.gopro.protocol import MODELS, Status
from rigtui.sim.camera import SimCamera, SimTuning
from rigtui.sim.rig import SimRig


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def status(camera: SimCamera, sid: int) -> object:
    return camera.state()["status"][str(sid)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_camera(tmp_path: Path, clock: FakeClock, model: str = "HERO12", **kwargs: object) -> SimCamera:
    return SimCamera("C3501324645504", model, tmp_path, seed=7, clock=clock, **kwargs)  # type: ignore[arg-type]


def test_battery_drains_while_recording_and_charges_on_usb(tmp_path: Path, clock: FakeClock) -> None:
    camera = make_camera(tmp_path, clock)
    camera.battery = 50.0
    clock.now += 100
    assert status(camera, Status.BATTERY_BARS) == 4, "charging on USB shows as bars = 4"
    assert status(camera, Status.BATTERY_PERCENT) > 50
    charged = camera.battery
    camera.preset = camera.presets[0]
    assert camera.shutter_start()
    clock.now += 100
    assert status(camera, Status.BATTERY_BARS) != 4
    assert camera.battery < charged


def test_battery_only_camera_drains_when_idle(tmp_path: Path, clock: FakeClock) -> None:
    camera = make_camera(tmp_path, clock, usb_power=False)
    camera.battery = 80.0
    clock.now += 1000
    assert status(camera, Status.BATTERY_BARS) == 3 and camera.battery < 80.0


def test_sd_remaining_falls_at_the_bitrate_of_the_resolution(tmp_path: Path, clock: FakeClock) -> None:
    camera = make_camera(tmp_path, clock)
    drops = {}
    for resolution in (100, 9):  # 5.3K, then 1080p
        assert camera.set_setting(2, resolution)[0] == 200
        before = status(camera, Status.SD_REMAINING_KB)
        camera.shutter_start()
        clock.now += 60
        drops[resolution] = before - status(camera, Status.SD_REMAINING_KB)  # type: ignore[operator]
        camera.recording_since = None
    assert drops[100] == pytest.approx(120e6 / 8 / 1024 * 60, rel=0.01)
    assert drops[100] > 2 * drops[9]


async def test_long_recording_at_high_resolution_raises_the_hot_flag(tmp_path: Path, clock: FakeClock) -> None:
    camera = make_camera(tmp_path, clock, tuning=SimTuning(hot_after_s=600))
    camera.set_setting(2, 1)
    camera.shutter_start()
    clock.now += 300
    assert status(camera, Status.HOT) == 0
    clock.now += 301
    assert status(camera, Status.HOT) == 1
    camera.shutter_stop()
    await camera.settle()
    clock.now += 1
    assert status(camera, Status.HOT) == 0


def test_fps_follows_resolution_and_anti_flicker(tmp_path: Path, clock: FakeClock) -> None:
    camera = make_camera(tmp_path, clock)
    assert camera.set_setting(2, 9)[0] == 200
    assert camera.set_setting(3, 0)[0] == 200  # 240 fps at 1080p
    assert camera.set_setting(2, 1)[0] == 200  # 4K: the camera lowers the frame rate itself
    assert camera.fps() == 120.0
    code, body = camera.set_setting(3, 0)
    assert code == 403 and body["error"] == 3
    assert {o["id"] for o in body["supported_options"]} == {1, 5, 8, 10}  # type: ignore[union-attr]
    assert camera.set_setting(134, 3)[0] == 200  # 50 Hz: 120 becomes 100
    assert camera.fps() == 100.0


def test_hero13_anti_flicker_uses_its_own_option_ids(tmp_path: Path, clock: FakeClock) -> None:
    hero13 = make_camera(tmp_path / "13", clock, model="HERO13")
    hero12 = make_camera(tmp_path / "12", clock, model="HERO12")
    assert hero13.set_setting(134, 1)[0] == 200 and hero13.set_setting(134, 3)[1]["error"] == 4
    assert hero12.set_setting(134, 3)[0] == 200 and hero12.set_setting(134, 1)[1]["error"] == 4


async def test_busy_pulses_after_a_setting_and_a_preset(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    assert (await http.get(url(server, "/gopro/camera/setting?setting=121&option=4"))).status_code == 200
    state = (await http.get(url(server, "/gopro/camera/state"))).json()
    assert state["status"]["8"] == 1 and state["settings"]["121"] == 4
    await asyncio.sleep(0.5)
    assert (await http.get(url(server, "/gopro/camera/state"))).json()["status"]["8"] == 0
    assert (await http.get(url(server, "/gopro/camera/presets/load?id=65536"))).status_code == 200
    state = (await http.get(url(server, "/gopro/camera/state"))).json()
    assert state["status"]["8"] == 1 and state["status"]["97"] == 65536 and state["status"]["96"] == 1001


async def test_recording_counts_seconds_and_writes_chapters_with_sidecars(http: httpx.AsyncClient) -> None:
    from conftest import make_options

    tuning = SimTuning(media_bytes_per_second=40_000, chapter_seconds=0.5, start_delay_s=0.4)
    async with SimRig(make_options(cameras=1, tuning=tuning)) as rig:
        server = rig.servers[0]
        await http.get(url(server, "/gopro/camera/shutter/start"))
        assert (await http.get(url(server, "/gopro/camera/state"))).json()["status"]["10"] == 0, "not at once"
        await asyncio.sleep(1.6)
        state = (await http.get(url(server, "/gopro/camera/state"))).json()["status"]
        assert state["10"] == 1 and state["13"] >= 1 and state["82"] == 0
        await http.get(url(server, "/gopro/camera/shutter/stop"))
        await server.camera.until_idle()
        listing = (await http.get(url(server, "/gopro/media/list"))).json()
        names = [f["n"] for f in listing["media"][0]["fs"]]
        assert names == ["GX010001.MP4", "GX020001.MP4", "GX030001.MP4"]
        folder = Path(server.camera.media.dcim / "100GOPRO")
        on_disk = sorted(p.name for p in folder.iterdir())
        for chapter in ("01", "02", "03"):
            assert {f"GX{chapter}0001.MP4", f"GL{chapter}0001.LRV", f"GX{chapter}0001.THM"} <= set(on_disk)
        total = sum(int(f["s"]) for f in listing["media"][0]["fs"])
        assert total == pytest.approx(40_000 * 1.2, rel=0.2)
        info = (await http.get(url(server, "/gopro/media/info?path=100GOPRO/GX020001.MP4"))).json()
        assert info["ct"] == "2" and info["w"] == "3840"
        state = (await http.get(url(server, "/gopro/camera/state"))).json()["status"]
        assert state["39"] == 1 and state["10"] == 0


async def test_photo_and_burst_presets_write_photos_and_groups(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    for preset in (65536, 65538):
        await http.get(url(server, f"/gopro/camera/presets/load?id={preset}"))
        await http.get(url(server, "/gopro/camera/shutter/start"))
        await server.camera.until_idle()
    entries = (await http.get(url(server, "/gopro/media/list"))).json()["media"][0]["fs"]
    photo, group = entries[1], entries[0]
    assert photo["n"] == "GOPR0001.JPG" and int(photo["s"]) > 100_000
    assert group["n"] == "G0010002.JPG" and (group["b"], group["l"], group["t"]) == ("2", "11", "b")
    member = await http.get(url(server, "/videos/DCIM/100GOPRO/G0010011.JPG"))
    assert member.status_code == 200 and member.content[:2] == b"\xff\xd8"
    assert (await http.get(url(server, "/gopro/media/delete/file?path=100GOPRO/G0010005.JPG"))).status_code == 200
    group = (await http.get(url(server, "/gopro/media/list"))).json()["media"][0]["fs"][0]
    assert group["m"] == ["5"]
    assert (await http.get(url(server, "/gopro/media/delete/file?path=100GOPRO/NOPE0001.JPG"))).status_code == 400


async def test_cre_follows_the_camera_clock_set_by_set_date_time(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[1]  # HERO11: has time zones
    await http.get(url(server, "/gopro/camera/set_date_time?date=2024_3_21&time=15_30_45&tzone=120&dst=1"))
    reply = (await http.get(url(server, "/gopro/camera/get_date_time"))).json()
    assert reply["date"] == "2024_03_21" and reply["time"] in ("15_30_45", "15_30_46")
    assert (reply["tzone"], reply["dst"]) == (120, 1)
    await http.get(url(server, "/gopro/camera/shutter/start"))
    await asyncio.sleep(0.2)
    await http.get(url(server, "/gopro/camera/shutter/stop"))
    await server.camera.until_idle()
    entry = (await http.get(url(server, "/gopro/media/list"))).json()["media"][0]["fs"][0]
    local = calendar.timegm((2024, 3, 21, 15, 30, 45, 0, 0, 0))
    assert local <= int(entry["cre"]) <= local + 2, "cre is camera-local time written as an epoch"


async def test_hero10_has_no_time_zone(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    assert server.camera.model == "HERO10"
    await http.get(url(server, "/gopro/camera/set_date_time?date=2024_01_02&time=03_04_05&tzone=60&dst=1"))
    reply = (await http.get(url(server, "/gopro/camera/get_date_time"))).json()
    assert set(reply) == {"date", "time"}


async def test_query_parameters_out_of_order_are_refused(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[2]
    assert (await http.get(url(server, "/gopro/camera/setting?option=9&setting=2"))).status_code == 400
    bad = "/gopro/camera/set_date_time?time=10_00_00&date=2026_01_01&tzone=0&dst=0"
    assert (await http.get(url(server, bad))).status_code == 400


async def test_a_request_without_host_header_is_forbidden(rig: SimRig) -> None:
    server = rig.servers[0]
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /gopro/camera/state HTTP/1.0\r\n\r\n")
    reply = await reader.read()
    writer.close()
    assert reply.split(b"\r\n")[0].endswith(b"403 Forbidden") and b"Connection forbidden" in reply


@pytest.mark.rig(cameras=6, collide=True)
async def test_serials_look_real_and_collide_only_when_asked(rig: SimRig) -> None:
    serials = [c.serial for c in rig.cameras]
    assert all(len(s) == 14 and s.startswith("C3") and s[1:].isdigit() for s in serials)
    assert serials[0][-3:] == serials[1][-3:]
    assert len({s[-3:] for s in serials[1:]}) == 5
    assert [c.model for c in rig.cameras] == [*MODELS, *MODELS[:2]]
    hosts = [s.host for s in rig.servers]
    assert hosts == ["127.0.1.1", "127.0.1.1", *(f"127.0.1.{i}" for i in range(3, 7))], "camera 2 shares 1's"


async def test_requests_are_logged_with_arrival_stamps(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    before = time.time_ns()
    await http.get(url(server, "/gopro/camera/keep_alive"))
    await http.get(url(server, "/gopro/camera/setting?setting=2&option=9"))
    log = (await http.get(url(server, "/_sim/requests"))).json()
    assert [(e["path"], e["query"]) for e in log] == [
        ("/gopro/camera/keep_alive", ""),
        ("/gopro/camera/setting", "setting=2&option=9"),
    ]
    assert before <= log[0]["t_ns"] <= log[1]["t_ns"] <= time.time_ns()
    await http.get(url(server, "/_sim/requests?clear=1"))
    assert (await http.get(url(server, "/_sim/requests"))).json() == []


async def test_thumbnails_and_group_delete(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    await server.camera.add_recording(duration=900, size=30_000)  # HERO10 4K: 900 s is three ~4 GB chapters
    names = [f["n"] for f in (await http.get(url(server, "/gopro/media/list"))).json()["media"][0]["fs"]]
    assert names == ["GX010001.MP4", "GX020001.MP4", "GX030001.MP4"]
    thumb = await http.get(url(server, "/gopro/media/thumbnail?path=100GOPRO/GX020001.MP4"))
    assert (
        thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8" and thumb.headers["content-type"] == "image/jpeg"
    )
    reply = await http.get(url(server, "/gp/gpControl/command/storage/delete/group?p=100GOPRO/GX010001.MP4"))
    assert reply.status_code == 200
    assert (await http.get(url(server, "/gopro/media/list"))).json()["media"] == []
    assert not any((server.camera.media.dcim / "100GOPRO").iterdir())


async def test_sim_set_changes_what_the_state_reports(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[1]
    await http.get(url(server, "/_sim/set?battery=4&usb_power=0&hot=1&cold=1&sd_state=1&sd_free_kb=1000"))
    status = (await http.get(url(server, "/gopro/camera/state"))).json()["status"]
    assert (status["70"], status["2"], status["6"], status["85"], status["33"]) == (4, 0, 1, 1, 1)
    assert 990 <= status["54"] <= 1000 and status["35"] == 0
    assert (await http.get(url(server, "/gopro/camera/shutter/start"))).status_code == 500, "card not ready"


async def test_wired_usb_and_ui_controller_show_in_state(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[2]
    await http.get(url(server, "/gopro/camera/control/wired_usb?p=1"))
    await http.get(url(server, "/gopro/camera/control/set_ui_controller?p=2"))
    await http.get(url(server, "/gopro/media/turbo_transfer?p=1"))
    status = (await http.get(url(server, "/gopro/camera/state"))).json()["status"]
    assert (status["116"], status["114"], status["113"]) == (1, 2, 1)
    assert (await http.get(url(server, "/gopro/camera/control/set_ui_controller?p=1"))).status_code == 400
