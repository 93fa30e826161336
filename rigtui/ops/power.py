"""Power off: cameras go to sleep. Over USB nothing wakes them, so the operator is told so first."""

from __future__ import annotations

from collections.abc import Iterable

from rigtui.gopro.rig import CameraLink, Rig
from rigtui.ops.report import Report

WARNING = "Over USB nothing wakes a sleeping camera: its button must."


def power_off_question(names: list[str]) -> tuple[str, str]:
    """(title, details) of the confirmation: which cameras, and that nothing wakes them remotely."""
    title = f"Power off {len(names)} camera{'s' if len(names) != 1 else ''}?"
    return title, "\n".join(names) + f"\n\n{WARNING}"


async def power_off(rig: Rig, selection: Iterable[str] | None = None) -> Report:
    online, outcomes = rig.split_online(rig.cameras(selection))

    async def sleep(link: CameraLink) -> str:
        await link.client.sleep()
        link.mark_offline("powered off")
        return "powered off"

    outcomes += await rig.each(online, sleep)
    return Report("power off", outcomes)
