"""The simulated cameras agree with GoPro's published OpenAPI spec, model by model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import url
from spec_schema import deref, errors, response_schema, supported_cameras

from rigtui.gopro.protocol import MODEL_INFO, MODELS, SETTINGS, Setting
from rigtui.sim.camera import SimCamera, SimTuning
from rigtui.sim.rig import SimRig
from rigtui.sim.server import CameraServer

pytestmark = pytest.mark.rig(cameras=4, models=MODELS)

EMPTY_COMMANDS = [
    ("/gopro/camera/keep_alive", ""),
    ("/gopro/camera/control/wired_usb", "?p=1"),
    ("/gopro/camera/analytics/set_client_info", ""),
    ("/gopro/camera/control/set_ui_controller", "?p=2"),
    ("/gopro/camera/presets/load", "?id=0"),
    ("/gopro/camera/presets/set_group", "?id=1000"),
    ("/gopro/media/turbo_transfer", "?p=0"),
]


def spec_name(server: CameraServer) -> str:
    return MODEL_INFO[server.camera.model].spec_name


async def check(
    http: httpx.AsyncClient,
    spec: dict[str, Any],
    server: CameraServer,
    spec_path: str,
    query: str = "",
    *,
    request_path: str | None = None,
    status: int = 200,
    strings_as_numbers: bool = False,
) -> Any:
    reply = await http.get(url(server, (request_path or spec_path) + query))
    assert reply.status_code == status, (server.camera.model, spec_path, reply.text)
    body = reply.json()
    problems = errors(body, response_schema(spec, spec_path, status), strings_as_numbers=strings_as_numbers)
    assert not problems, (server.camera.model, spec_path, problems)
    return body


async def test_every_reply_validates_against_the_spec(rig: SimRig, http: httpx.AsyncClient, spec: dict) -> None:
    for server in rig.servers:
        model = spec_name(server)
        await check(http, spec, server, "/gopro/version")
        for path, query in EMPTY_COMMANDS:
            assert model in supported_cameras(spec, path)
            await check(http, spec, server, path, query)
        await check(http, spec, server, "/gopro/camera/presets/get")
        await check(http, spec, server, "/gopro/camera/set_date_time", "?date=2026_11_22&time=10_00_00&tzone=60&dst=0")
        await check(http, spec, server, "/gopro/camera/get_date_time")
        await check(
            http,
            spec,
            server,
            "/gopro/camera/setting?setting=2",
            request_path="/gopro/camera/setting",
            query="?setting=2",
        )
        await check(
            http,
            spec,
            server,
            "/gopro/camera/setting?setting=2",
            request_path="/gopro/camera/setting",
            query="?setting=2&option=9",
        )
        await check(
            http,
            spec,
            server,
            "/gopro/camera/setting?setting=2",
            request_path="/gopro/camera/setting",
            query="?setting=2&option=31",
            status=403,
        )
        if model in supported_cameras(spec, "/gopro/camera/info"):
            info = await check(http, spec, server, "/gopro/camera/info")
            assert info["serial_number"] == server.camera.serial
        else:
            reply = await http.get(url(server, "/gopro/camera/info"))
            unsupported = deref(spec, spec["components"]["responses"]["501OperationNotSupported"])
            assert reply.status_code == 501
            assert not errors(reply.json(), unsupported["content"]["application/json"]["schema"])

        await check(http, spec, server, "/gopro/camera/shutter/{mode}", request_path="/gopro/camera/shutter/start")
        await asyncio.sleep(1.1)
        state = await check(http, spec, server, "/gopro/camera/state")
        assert state["status"]["10"] == 1 and state["status"]["13"] >= 1
        await check(http, spec, server, "/gopro/camera/shutter/{mode}", request_path="/gopro/camera/shutter/stop")
        await server.camera.until_idle()
        await server.camera.add_photo()

        listing = await check(http, spec, server, "/gopro/media/list", strings_as_numbers=True)
        files = [f"{m['d']}/{f['n']}" for m in listing["media"] for f in m["fs"]]
        assert len(files) == 2
        for entry in (f for m in listing["media"] for f in m["fs"]):
            assert all(isinstance(v, str) for k, v in entry.items() if k != "m"), entry
        for path in files:
            await check(http, spec, server, "/gopro/media/info", f"?path={path}", strings_as_numbers=True)
        if model in supported_cameras(spec, "/gopro/media/last_captured"):
            await check(http, spec, server, "/gopro/media/last_captured")
        await check(http, spec, server, "/gopro/media/delete/file", f"?path={files[0]}")
        await check(http, spec, server, "/gp/gpControl/command/storage/delete/all")
        await check(http, spec, server, "/gp/gpControl/command/system/sleep")


async def test_state_holds_the_models_statuses_settings_and_undocumented_extras(
    rig: SimRig, http: httpx.AsyncClient, spec: dict
) -> None:
    statuses = spec["components"]["schemas"]["State"]["properties"]["status"]["properties"]
    for server in rig.servers:
        model = spec_name(server)
        state = (await http.get(url(server, "/gopro/camera/state"))).json()
        documented = {k for k, v in statuses.items() if model in v.get("x-supported-cameras", [])}
        assert documented <= set(state["status"])
        assert set(state["status"]) - set(statuses), "real cameras also send undocumented status keys"
        for sid, option in state["settings"].items():
            setting = spec["components"]["schemas"].get(f"Setting_{sid}")
            if setting and model in setting.get("x-supported-cameras", []):
                assert model in setting["x-option-metadata"][str(option)], (model, sid, option)


def spec_options(spec: dict, setting_id: int, model: str) -> set[int]:
    schema = spec["components"]["schemas"][f"Setting_{setting_id}"]
    return {int(o) for o, cams in schema.get("x-option-metadata", {}).items() if model in cams}


async def test_setting_options_per_model_follow_the_spec(rig: SimRig, http: httpx.AsyncClient, spec: dict) -> None:
    for server in rig.servers:
        model = spec_name(server)
        for setting_id in SETTINGS:
            schema = spec["components"]["schemas"][f"Setting_{setting_id}"]
            all_options = {int(o) for o in schema.get("x-option-metadata", {})}
            if model not in schema.get("x-supported-cameras", []):
                reply = await http.get(url(server, f"/gopro/camera/setting?setting={setting_id}&option=0"))
                assert reply.status_code == 403
                continue
            valid = spec_options(spec, setting_id, model)
            for option in sorted(all_options):
                reply = await http.get(url(server, f"/gopro/camera/setting?setting={setting_id}&option={option}"))
                body = reply.json()
                if option not in valid:
                    assert reply.status_code == 403 and body["error"] == 4, (model, setting_id, option, body)
                    assert {o["id"] for o in body["supported_options"]} <= valid
                elif reply.status_code == 403:
                    # Valid on this model but not in the current mode: only frame rates depend on mode here.
                    assert body["error"] == 3 and setting_id in (3, 234), (model, setting_id, option, body)
                else:
                    assert reply.status_code == 200, (model, setting_id, option, body)


async def test_frame_rates_the_spec_lists_are_reachable_in_the_right_mode(
    rig: SimRig, http: httpx.AsyncClient, spec: dict
) -> None:
    for server in rig.servers:
        model = spec_name(server)
        fps_names = spec["components"]["schemas"]["Setting_3"]["x-enumDescriptions"]
        for option in sorted(spec_options(spec, 3, model)):
            fps = float(fps_names[str(option)])
            resolution = 12 if fps > 240 else 9  # 720p for the fastest HERO13 rates, else 1080p
            pal = fps in (25.0, 50.0, 100.0, 200.0, 400.0)
            flicker = (1 if pal else 0) if model == "HERO13 Black" else (3 if pal else 2)
            for setting_id, value in ((2, resolution), (134, flicker), (3, option)):
                reply = await http.get(url(server, f"/gopro/camera/setting?setting={setting_id}&option={value}"))
                assert reply.status_code == 200, (model, setting_id, value, reply.text)


def test_model_facts_match_the_spec(spec: dict) -> None:
    all_cameras = {c["name"] for c in spec["x-all-cameras"]}
    for info in MODEL_INFO.values():
        assert info.spec_name in all_cameras
        assert (info.spec_name in supported_cameras(spec, "/gopro/camera/info")) == info.has_camera_info


def test_auto_power_down_waits_as_long_as_the_spec_names_each_option(spec: dict, tmp_path: Path) -> None:
    schema = spec["components"]["schemas"]["Setting_59"]
    for key, info in MODEL_INFO.items():
        camera = SimCamera("C3501324645504", key, tmp_path / key, seed=1, tuning=SimTuning(minute_s=60))
        options = spec_options(spec, Setting.AUTO_POWER_DOWN, info.spec_name)
        assert camera.settings[Setting.AUTO_POWER_DOWN] in options, "the default is one of the model's options"
        for option in options:
            assert camera.set_setting(Setting.AUTO_POWER_DOWN, option)[0] == 200
            count, _, unit = schema["x-enumDescriptions"][str(option)].partition(" ")  # "Never", "5 Min"
            expected = None if unit == "" else int(count) * (60 if unit == "Min" else 1)
            assert camera.apd_seconds() == expected, (key, option)


async def test_hero13s_two_frame_rate_settings_move_together_by_the_specs_meaning(
    rig: SimRig, http: httpx.AsyncClient, spec: dict
) -> None:
    schemas = spec["components"]["schemas"]
    for server in rig.servers:
        model = spec_name(server)
        if model not in schemas["Setting_234"]["x-supported-cameras"]:
            state = (await http.get(url(server, "/gopro/camera/state"))).json()
            assert "234" not in state["settings"], model
            continue
        await http.get(url(server, "/gopro/camera/setting?setting=2&option=12"))  # 720p: every rate is possible
        for changed, other in ((3, 234), (234, 3)):
            for option in sorted(spec_options(spec, changed, model)):
                meaning = schemas[f"Setting_{changed}"]["x-enumDescriptions"][str(option)]
                pal = float(meaning) in (25.0, 50.0, 100.0, 200.0, 400.0)
                await http.get(url(server, f"/gopro/camera/setting?setting=134&option={int(pal)}"))  # HERO13: 1 PAL
                reply = await http.get(url(server, f"/gopro/camera/setting?setting={changed}&option={option}"))
                assert reply.status_code == 200, (model, changed, option, reply.text)
                settings = (await http.get(url(server, "/gopro/camera/state"))).json()["settings"]
                follows = schemas[f"Setting_{other}"]["x-enumDescriptions"][str(settings[str(other)])]
                assert follows == meaning and settings[str(changed)] == option, (changed, option, settings[str(other)])


async def test_field_failures_keep_the_state_within_the_spec(rig: SimRig, http: httpx.AsyncClient, spec: dict) -> None:
    for server in rig.servers:
        await http.get(url(server, "/gopro/camera/control/wired_usb?p=1"))
        await http.get(url(server, "/_sim/set?battery_present=0&owner=1"))
        state = await check(http, spec, server, "/gopro/camera/state")
        assert (state["status"]["1"], state["status"]["114"]) == (0, 1)
        server.sleep()
        await server.wake()
        state = await check(http, spec, server, "/gopro/camera/state")
        assert (state["status"]["116"], state["status"]["114"]) == (0, 0), "a boot: no wired control, nobody holds it"
