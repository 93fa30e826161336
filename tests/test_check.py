"""`rigtui check` and `h` in the app: the preflight report, against simulated cameras on real sockets."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from conftest import cameras_of, run_rigtui, url
from test_tui import app_for, log_text, until

from rigtui.gopro.protocol import MIN_FIRMWARE, MODEL_INFO
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.check import camera_check, firmware_check, firmware_version
from rigtui.sim.rig import SimRig
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.check_screen import CheckScreen


async def check(*args: str, home: Path, config: str = "") -> tuple[int, str, str]:
    """`rigtui check ARGS` with its own folders (no prime chosen in the app) and config.toml."""
    (home / "config.toml").write_text(config)
    env = {"XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data")}
    return await run_rigtui("check", "--config", str(home / "config.toml"), *args, env=env)


def row(out: str, key: str) -> str:
    """The camera's row of the report's table."""
    return next(line for line in out.splitlines() if line.startswith(f"{key} "))


async def sim_set(server: object, query: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        reply = await http.get(url(server, f"/_sim/set?{query}"))  # type: ignore[arg-type]
        assert reply.status_code == 200, reply.text


@pytest.mark.rig(cameras=4)
async def test_a_healthy_rig_is_ready_and_a_short_one_is_not(rig: SimRig, tmp_path: Path) -> None:
    code, out, err = await check(*cameras_of(rig), home=tmp_path)
    assert code == 0, out + err
    assert out.splitlines()[-1].startswith("READY: 4 camera(s)")
    assert "no prime camera: settings not compared" in out and "not ready" not in out
    hero10, hero12 = rig.servers[0], rig.servers[2]
    assert " unknown " in row(out, f"{hero10.host}:{hero10.port}"), "HERO10 tells no firmware: unknown, no failure"
    assert row(out, hero12.camera.serial).endswith(" yes") and " v02." in row(out, hero12.camera.serial)

    code, out, _ = await check(*cameras_of(rig), home=tmp_path, config="[rig]\nexpected = 5\n")
    assert code == 1
    assert "not ready  rig: 4 of 5 expected cameras found ([rig] expected)" in out
    assert out.splitlines()[-1].startswith("NOT READY")


@pytest.mark.rig(cameras=5, models=("HERO12",))
async def test_every_problem_names_its_camera_and_the_rig_is_not_ready(rig: SimRig, tmp_path: Path) -> None:
    weak, hot, in_menus, lens, prime = rig.servers
    await sim_set(weak, "battery=5&usb_power=0")
    await sim_set(hot, "hot=1")
    await sim_set(in_menus, "owner=1")
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.get(url(lens, "/gopro/camera/setting?setting=121&option=4"))  # Linear; the prime stays Wide
    absent = "C3501000000999"
    order = json.dumps([s.camera.serial for s in rig.servers] + [absent])
    config = f'[rig]\norder = {order}\nprime = "{prime.camera.serial}"\n'
    code, out, err = await check(*cameras_of(rig), home=tmp_path, config=config)
    assert code == 1, out + err
    assert out.startswith(f"5 camera(s), 6 expected ([rig] order); prime {prime.camera.serial}")
    for line in (
        "rig: 5 of 6 expected cameras found ([rig] order)",
        f"{absent}: in [rig] order but not found",
        f"{weak.camera.serial}: battery 5%",
        f"{hot.camera.serial}: overheating",
        f"{in_menus.camera.serial}: someone is in its menus",
        f"{lens.camera.serial}: Video Lens: prime Wide, this camera Linear",
    ):
        assert f"not ready  {line}" in out, line
    for server in (weak, hot, in_menus, lens):
        assert row(out, server.camera.serial).endswith(" NO")
    assert row(out, prime.camera.serial).endswith(" yes")
    assert out.splitlines()[-1] == "NOT READY: 6 problem(s); 4 of 5 camera(s) not ready"

    report = json.loads((await check(*cameras_of(rig), "--json", home=tmp_path, config=config))[1])
    assert report["ready"] is False and report["missing"] == [absent] and report["expected"] == 6
    by_camera = {c["camera"]: c for c in report["cameras"]}
    assert by_camera[weak.camera.serial]["problems"] == [f"{weak.camera.serial}: battery 5%"]
    assert by_camera[prime.camera.serial]["ready"] and by_camera[prime.camera.serial]["snapshot"]["online"]

    # A selection checks only those cameras, not the rig's size.
    code, out, _ = await check(*cameras_of(rig), "--select", prime.camera.serial, home=tmp_path, config=config)
    assert code == 0, out
    assert "(a selection: the rig's size is not checked)" in out


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_camera_on_usb_power_is_ready_whatever_its_battery(rig: SimRig, tmp_path: Path) -> None:
    await sim_set(rig.servers[0], "battery_present=0")
    await sim_set(rig.servers[1], "battery=3&usb_power=1")  # charging
    code, out, _ = await check(*cameras_of(rig), home=tmp_path)
    assert code == 0, out
    assert "  USB " in row(out, rig.servers[0].camera.serial)


async def test_the_demo_rig_has_a_weak_battery_and_someone_in_a_camera_s_menus(tmp_path: Path) -> None:
    from rigtui.sim.demo import demo_world

    async with demo_world(12) as world:
        args = [arg for cam in world.cameras for arg in ("--camera", f"{cam.host}:{cam.port}")]
        code, out, err = await check(*args, "--json", home=tmp_path)
    assert code == 1, out + err
    report = json.loads(out)
    cameras = {(c["snapshot"]["host"], c["snapshot"]["port"]): c for c in report["cameras"]}
    weak, menus = world.cameras[9], world.cameras[6]
    assert any("battery 14%" in p for p in cameras[(weak.host, weak.port)]["problems"])
    assert any("someone is in its menus" in p for p in cameras[(menus.host, menus.port)]["problems"])
    assert not report["ready"]


@pytest.mark.rig(cameras=3, models=("HERO12",))
async def test_h_in_the_app_shows_the_same_report(rig: SimRig, tmp_path: Path) -> None:
    weak = rig.servers[1]
    await sim_set(weak, "battery=5&usb_power=0")
    app = app_for(rig, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.query_one(CameraTable).shown) == 3)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, CheckScreen))
        screen = app.screen
        assert isinstance(screen, CheckScreen)
        assert screen.title_text == "NOT READY: 1 problem(s); 1 of 3 camera(s) not ready"
        assert f"not ready  {weak.camera.serial}: battery 5%" in screen.text
        assert all(s.camera.serial in screen.text for s in rig.servers)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CheckScreen))
        assert "check: NOT READY" in log_text(app)


# -- firmware: the floors, compared as numbers ---------------------------------------------------------
def test_firmware_is_compared_by_number_against_the_model_s_floor() -> None:
    assert firmware_version("H23.01.02.20.00") == (2, 20, 0)
    assert firmware_version("v01.30.00") == (1, 30, 0)
    old = firmware_check("C3441", "HERO10", "H21.01.01.4.00")  # "4" sorts after "30" as text, not as a number
    assert old.problems == [
        "C3441: firmware v01.04.00 is older than v01.30.00, the oldest a USB rig can rely on for a HERO10 "
        f"({MIN_FIRMWARE['HERO10'].why}): update it"
    ]
    broken = firmware_check("C3461", "HERO11", "H22.01.01.10.00")
    assert "older than v01.20.00" in broken.problems[0] and "OGP #230" in broken.problems[0]
    assert not firmware_check("C3461", "HERO11", "H22.01.01.20.00").problems
    no_mdns = firmware_check("C3531", "HERO13", "H24.01.01.10.00")
    assert not no_mdns.problems and "mDNS" in no_mdns.warnings[0], "it works over USB: a warning"
    unknown = firmware_check("127.0.0.1:8080", "HERO10", None)
    assert unknown.shown == "unknown" and not unknown.problems and not unknown.warnings


def test_every_simulated_model_meets_its_firmware_floor() -> None:
    assert set(MIN_FIRMWARE) == set(MODEL_INFO)
    for model, info in MODEL_INFO.items():
        assert not firmware_check("x", model, info.firmware).problems, model


def test_a_camera_below_its_firmware_floor_is_not_ready() -> None:
    snap = CameraSnapshot("C3501324645504", "C3501324645504", "HERO12", "H23.01.01.10.00", "h", 1, True)
    result = camera_check(snap)
    assert not result.ready and "older than v02.20.00" in result.problems[0]
