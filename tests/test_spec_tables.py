"""Our setting and status tables say what GoPro's spec says, for HERO10-13."""

from __future__ import annotations

from rigtui.gopro.protocol import MODEL_INFO, camera_address, camera_address_from_local
from rigtui.gopro.spec_tables import SETTINGS, STATUSES

SPEC_NAMES = {m.spec_name: m.key for m in MODEL_INFO.values()}


def ours(cameras: list[str]) -> tuple[str, ...]:
    return tuple(SPEC_NAMES[c] for c in SPEC_NAMES if c in cameras)


def test_settings_and_options_per_model_match_the_spec(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    expected = {}
    for name, schema in schemas.items():
        if name.startswith("Setting_") and ours(schema.get("x-supported-cameras", [])):
            options = {int(o): ours(c) for o, c in schema.get("x-option-metadata", {}).items() if ours(c)}
            expected[int(name.split("_")[1])] = (ours(schema["x-supported-cameras"]), options)
    assert {sid: (s.models, {o: v.models for o, v in s.options.items()}) for sid, s in SETTINGS.items()} == expected


def test_statuses_per_model_match_the_spec(spec: dict) -> None:
    statuses = spec["components"]["schemas"]["State"]["properties"]["status"]["properties"]
    expected = {int(k): ours(v.get("x-supported-cameras", [])) for k, v in statuses.items()}
    assert {k: s.models for k, s in STATUSES.items()} == {k: m for k, m in expected.items() if m}


def test_usb_address_rule() -> None:
    assert camera_address("C0000123456789") == "172.27.189.51"
    assert camera_address_from_local("172.27.189.55") == "172.27.189.51"
    assert camera_address_from_local("172.27.189.51") is None
    assert camera_address_from_local("192.168.1.55") is None


def test_preset_titles_match_the_spec(spec: dict) -> None:
    from rigtui.gopro.spec_tables import PRESET_TITLES

    names = spec["components"]["schemas"]["EnumPresetTitle"]["x-enumDescriptions"]
    assert set(PRESET_TITLES) == {int(k) for k in names}
    assert PRESET_TITLES[1] == "Standard" and PRESET_TITLES[11] == "Slomo"
