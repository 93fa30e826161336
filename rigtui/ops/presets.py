"""Loading a preset on every camera: by id (`65536`), by title (`cinematic`) or by group (`video`)."""

from __future__ import annotations

from collections.abc import Iterable

from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import PresetGroup
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.spec_tables import PRESET_TITLES
from rigtui.ops.report import Report

GROUPS = {"video": PresetGroup.VIDEO, "photo": PresetGroup.PHOTO, "timelapse": PresetGroup.TIMELAPSE}


async def load_preset(rig: Rig, wanted: str, selection: Iterable[str] | None = None) -> Report:
    online, outcomes = rig.split_online(rig.cameras(selection))
    name = wanted.lower().replace("-", " ").replace("_", " ")

    async def load(link: CameraLink) -> str:
        if wanted.isdigit():
            await link.client.load_preset(int(wanted))
            return f"preset {wanted}"
        if wanted.lower() in GROUPS:
            await link.client.load_preset_group(GROUPS[wanted.lower()])
            return f"last {wanted.lower()} preset"
        for preset in await link.client.presets():
            title = PRESET_TITLES.get(-1 if preset.title_id is None else preset.title_id, "")
            if name in (title.lower(), preset.custom_name.lower()):
                await link.client.load_preset(preset.id)
                return f"preset {title or preset.custom_name} ({preset.id})"
        raise CameraError(f"no preset named {wanted!r} on this camera")

    outcomes += await rig.each(online, load)
    return Report("preset", outcomes)
