"""Time sync: every camera's clock set to this computer's local time at the start of a second, then
read back, so the report says how far each clock is from the host's."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import MODEL_INFO
from rigtui.gopro.rig import CameraLink, Outcome, Rig
from rigtui.ops.report import Report


def local_time(when: float) -> datetime:
    """The host's local wall time, with its zone and daylight saving (what cameras are set to)."""
    return datetime.fromtimestamp(when).astimezone()


def takes_time_zone(model: str | None) -> bool:
    info = MODEL_INFO.get(model or "")
    return info.has_timezone if info else True


async def sync_time(rig: Rig, selection: Iterable[str] | None = None) -> Report:
    online, outcomes = rig.split_online(rig.cameras(selection))
    boundary = float(int(time.time() + 0.5) + 1)
    local = local_time(boundary)
    targets = [link.client.set_date_time_target(local, with_zone=takes_time_zone(link.model)) for link in online]
    released, results = await rig.release(online, targets, at=boundary)
    readbacks = {o.key: o for o in await rig.each(online, clock_offset)}
    for link, target, result in zip(online, targets, results, strict=True):
        try:
            if isinstance(result, CameraError):
                raise result
            link.client.check_release(result, target)
        except CameraError as exc:
            outcomes.append(Outcome(link.key, False, str(exc)))
            continue
        outcomes.append(readbacks[link.key])
    sent_ms = [round((t - boundary * 1e9) / 1e6, 3) for t in released.sent_ns.values()]
    return Report(
        "sync time",
        outcomes,
        dispatch_spread_ms=round(released.spread_ms, 3),
        extra={"second": local.isoformat(), "sent_after_boundary_ms": sent_ms},
    )


async def clock_offset(link: CameraLink) -> str:
    """How far the camera's clock is from the host's local time, in whole seconds."""
    camera = await link.client.get_date_time()
    host = local_time(time.time()).replace(tzinfo=None, microsecond=0)
    return f"clock offset {round((camera - host).total_seconds()):+d} s"
