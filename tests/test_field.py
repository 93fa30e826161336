"""Field behaviour through the app and the real commands: cameras that stop on their own, drop off and
come back changed, stay busy, or are plugged in after rigtui started."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from conftest import cameras_of, make_options, run_rigtui, url
from test_tui import app_for, cell, log_text, until

from rigtui.config import parse
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.offload import Offload, OffloadOptions
from rigtui.gopro.rig import Rig, RigSettings
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.rig import rig_options
from rigtui.sim.camera import SimTuning
from rigtui.sim.rig import SimRig
from rigtui.tui import make_app
from rigtui.tui.app import RigApp
from rigtui.tui.camera_table import CameraTable
from rigtui.userstate import UserState


def log_lines(app: RigApp) -> list[str]:
    return log_text(app).splitlines()


async def press_shutter(server: object, which: str) -> None:
    """The camera's own button (or its own trouble): not rigtui."""
    async with httpx.AsyncClient(trust_env=False) as http:
        assert (await http.get(url(server, f"/gopro/camera/shutter/{which}"))).status_code == 200  # type: ignore[arg-type]


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_camera_that_stops_on_its_own_is_an_event_in_the_log_the_row_and_the_take(
    rig: SimRig, tmp_path: Path
) -> None:
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        await pilot.press("r")
        await until(pilot, lambda: "record: 2 of 2 cameras ok" in log_text(app))
        quitter = rig.servers[1].camera.serial
        await press_shutter(rig.servers[1], "stop")
        await until(pilot, lambda: f"{quitter}" in log_text(app) and "stopped recording on its own" in log_text(app))
        row = app.query_one(CameraTable).get_cell(quitter, "error").plain
        assert row.startswith("stopped recording on its own")
        await pilot.press("s")
        await until(pilot, lambda: "stop: 2 of 2 cameras ok" in log_text(app), 20)
    (take,) = ShotLog().takes()
    assert any("stopped recording on its own" in note for note in take.cameras[quitter].notes)


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_camera_that_drops_off_and_returns_with_other_settings_is_flagged(rig: SimRig, tmp_path: Path) -> None:
    state = UserState(prime=rig.servers[0].camera.serial, path=tmp_path / "state.toml")
    state.save()
    app = app_for(rig, tmp_path)
    app.state = state
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 2)
        away = rig.servers[1]
        away.link_down(1.5)
        away.camera.set_setting(121, 4)  # its lens changed while it was away (a reboot resets settings)
        await until(pilot, lambda: "stopped answering" in log_text(app))
        await until(pilot, lambda: f"{away.camera.serial}" in log_text(app) and "is back" in log_text(app), 15)
        await until(pilot, lambda: "(since it came back)" in log_text(app), 10)
        table = app.query_one(CameraTable)
        await until(
            pilot, lambda: "settings differ from the prime" in table.get_cell(away.camera.serial, "error").plain
        )


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_a_reboot_a_sleep_and_a_new_owner_are_events_in_the_log_the_row_and_the_take(
    rig: SimRig, tmp_path: Path
) -> None:
    """During a take: one camera crashes and reboots with its settings reset (flagged against the
    prime once it is back), one goes to sleep until its power button is pressed, and someone opens
    the third one's menus. Each is told in the log with its camera and written into the take."""
    for server in rig.servers:
        server.camera.set_setting(121, 4)  # the rig's lens; a reboot puts the model's default back
    prime, crashing, sleeping = rig.servers
    state = UserState(prime=prime.camera.serial, path=tmp_path / "state.toml")
    state.save()
    app = app_for(rig, tmp_path)
    app.state = state
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        await pilot.press("r")
        await until(pilot, lambda: "record: 3 of 3 cameras ok" in log_text(app))
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(url(crashing, "/_sim/fault?set=reboot"))).status_code == 200
            assert (await http.get(url(prime, "/_sim/set?owner=1"))).status_code == 200
        sleeping.sleep()
        await until(pilot, lambda: f"{prime.camera.serial}" in log_text(app) and "in its menus" in log_text(app))
        await until(pilot, lambda: "restarted while away" in log_text(app) or "rebooted" in log_text(app), 15)
        await until(pilot, lambda: "settings differ from the prime" in cell(app, crashing.camera.serial, "error"), 15)
        assert "(since it came back)" in log_text(app)
        gone = f"{sleeping.camera.serial} "
        await until(pilot, lambda: any(gone in line and "stopped answering" in line for line in log_lines(app)), 10)
        assert "NOT REC" in cell(app, sleeping.camera.serial, "state"), "it should be recording and is not"
        await sleeping.press_power()
        await until(pilot, lambda: log_text(app).count("is back") >= 2, 15)
    (take,) = ShotLog().takes()
    notes = {serial: " / ".join(camera.notes) for serial, camera in take.cameras.items()}
    assert "in its menus" in notes[prime.camera.serial]
    assert "restarted" in notes[crashing.camera.serial] or "rebooted" in notes[crashing.camera.serial]
    assert "stopped answering" in notes[sleeping.camera.serial] and "is back" in notes[sleeping.camera.serial]


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_busy_camera_is_finished_in_the_same_offload(rig: SimRig, tmp_path: Path) -> None:
    """Still recording when the offload starts (its media list answers 503): waited for, then
    offloaded in the same run."""
    for server in rig.servers:
        await server.camera.add_recording(duration=5, size=200_000)
    busy = rig.servers[1]
    busy.set_fault("media-busy", None)
    await press_shutter(busy, "start")

    async def stop_later() -> None:
        await asyncio.sleep(2.0)
        await press_shutter(busy, "stop")

    stopper = asyncio.create_task(stop_later())
    started = time.monotonic()
    code, out, err = await run_rigtui("offload", str(tmp_path / "footage"), "--no-sidecars", *cameras_of(rig))
    await stopper
    assert code == 0, out + err
    assert time.monotonic() - started >= 2.0
    copies = {p.name.split("_")[0] for p in (tmp_path / "footage").rglob("*.MP4")}
    assert copies == {s.camera.serial for s in rig.servers}, "the busy camera's footage came too"


async def test_a_camera_plugged_in_late_appears_within_three_seconds(tmp_path: Path) -> None:
    config = parse('[rig]\npoll_hz = 2.0\nusb_scan = false\nmdns_interfaces = ["127.0.0.1"]\n')
    first = SimRig(make_options(cameras=1, models=("HERO12",), mdns=True, base_address="127.0.3.1"))
    late = SimRig(make_options(cameras=1, models=("HERO13",), mdns=True, base_address="127.0.3.9"))
    async with first:
        await first.wait_mdns()
        app = make_app(config, rig_options(config), state=UserState(path=tmp_path / "s.toml"), log_dir=tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: first.servers[0].camera.serial in app.query_one(CameraTable).shown, 15)
            async with late:
                plugged = time.monotonic()
                await until(pilot, lambda: late.servers[0].camera.serial in app.query_one(CameraTable).shown, 10)
                assert time.monotonic() - plugged <= 3.0


SLEEPY = SimTuning(  # Auto Power Down of 5 "minutes" is 1.5 s; the keep-alive timer 4 s (rigtui sends one every 3 s)
    media_bytes_per_second=64 * 1024,
    busy_pulse_s=0.4,
    start_delay_s=0.05,
    clock_error_s=0,
    minute_s=0.3,
    keep_alive_timeout_s=4.0,
)


async def sleepy_footage(rig: SimRig) -> None:
    for server in rig.servers:
        await server.camera.add_recording(duration=5, size=4_000_000)
        server.throttle_mbps = 0.6  # each file takes about seven seconds: longer than both timers


@pytest.mark.rig(cameras=2, models=("HERO12",), tuning=SLEEPY)
async def test_an_offload_longer_than_auto_power_down_keeps_every_camera_awake(rig: SimRig, tmp_path: Path) -> None:
    """Keep-alives alone (Auto Power Down left as the cameras have it) keep them awake."""
    await sleepy_footage(rig)
    config = tmp_path / "config.toml"
    config.write_text('[rig]\nauto_power_down = "keep"\n[offload]\nsidecars = false\n')
    code, out, err = await run_rigtui("--config", str(config), "offload", str(tmp_path / "footage"), *cameras_of(rig))
    assert code == 0, out + err
    assert not any(server.camera.asleep for server in rig.servers)


@pytest.mark.rig(cameras=2, models=("HERO12",), tuning=SLEEPY)
async def test_without_keep_alives_the_same_offload_loses_its_cameras(rig: SimRig, tmp_path: Path) -> None:
    """The simulator can fail the test above: the offload engine alone, with no session sending
    keep-alives, watches its cameras fall asleep halfway."""
    await sleepy_footage(rig)
    core = Rig(RigSettings(request_timeout_s=1.0, connect_timeout_s=1.0))
    await core.add([Endpoint(s.host, s.port) for s in rig.servers])
    try:
        options = OffloadOptions(tmp_path / "footage", sidecars=False, retries=1)
        plan = await Offload(core, options, Ledger(tmp_path / "ledger.jsonl")).run()
    finally:
        await core.close()
    assert all(server.camera.asleep for server in rig.servers)
    assert any(task.state == "failed" for task in plan.tasks)


@pytest.mark.rig(cameras=2, models=("HERO12",), tuning=SLEEPY)
async def test_a_long_session_sets_auto_power_down_to_never_and_gives_it_back(rig: SimRig, tmp_path: Path) -> None:
    """`[rig] auto_power_down = "never"` (the default): while an offload holds the cameras their Auto
    Power Down reads Never; afterwards each camera's own value is back."""
    await sleepy_footage(rig)
    before = [server.camera.settings[59] for server in rig.servers]
    assert all(value != 0 for value in before)
    seen: list[list[int]] = []

    async def watch() -> None:
        while True:
            seen.append([server.camera.settings[59] for server in rig.servers])
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    code, out, err = await run_rigtui("offload", str(tmp_path / "footage"), "--no-sidecars", *cameras_of(rig))
    watcher.cancel()
    assert code == 0, out + err
    assert [0, 0] in seen, "Never while held"
    assert [server.camera.settings[59] for server in rig.servers] == before, "given back"


@pytest.mark.rig(cameras=2, models=("HERO12",), tuning=SLEEPY)
async def test_record_for_a_duration_holds_the_cameras_then_stops_them(rig: SimRig, tmp_path: Path) -> None:
    """`record --duration`: one process records, keeps the cameras awake for the take, and stops them."""
    before = [server.camera.settings[59] for server in rig.servers]
    code, out, err = await run_rigtui("record", "--duration", "2.5", *cameras_of(rig))
    assert code == 0, out + err
    assert "record" in out and "stop" in out
    assert not any(server.camera.encoding or server.camera.asleep for server in rig.servers)
    assert [server.camera.settings[59] for server in rig.servers] == before, "Auto Power Down given back"
    (take,) = ShotLog().takes()
    assert take.stopped is not None and set(take.cameras) == {s.camera.serial for s in rig.servers}


async def test_a_duration_that_is_not_a_length_of_time_is_one_line(tmp_path: Path) -> None:
    for bad in ("soon", "-3", "0", "1e9"):
        code, out, err = await run_rigtui("record", "--duration", bad, "--camera", "127.0.0.1:9")
        assert code == 2, (bad, out, err)
        assert "Traceback" not in err, err
        assert "--duration" in err.strip().splitlines()[-1], "the last line names what is wrong"
