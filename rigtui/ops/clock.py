"""Time sync: every camera's clock set to this computer's local time at the start of a second, then
read back, so the report says how far each clock is from the host's."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import MODEL_INFO
from rigtui.gopro.rig import CameraLink, Outcome, Rig
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.report import Report


def local_time(when: float) -> datetime:
    """The host's local wall time, with its zone and daylight saving (what cameras are set to)."""
    return datetime.fromtimestamp(when).astimezone()


def takes_time_zone(model: str | None) -> bool:
    info = MODEL_INFO.get(model or "")
    return info.has_timezone if info else True


async def sync_time(rig: Rig, selection: Iterable[str] | None = None) -> Report:
    online, outcomes = rig.split_online(rig.cameras(selection))
    before = {link.key: link.clock_offset_s for link in online}
    boundary = float(int(time.time() + 0.5) + 1)
    local = local_time(boundary)
    targets = [link.client.set_date_time_target(local, with_zone=takes_time_zone(link.model)) for link in online]
    released, results = await rig.release(online, targets, at=boundary)

    async def read_back(link: CameraLink) -> str:
        return f"clock offset {_seconds(await link.read_clock())} (was {_seconds(before[link.key])})"

    readbacks = {o.key: o for o in await rig.each(online, read_back)}
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


def _seconds(offset: float | None) -> str:
    return "unknown" if offset is None else f"{round(offset):+d} s"


def clock_spread(snapshots: Iterable[CameraSnapshot]) -> float:
    """How far apart the cameras' clocks are (largest offset minus smallest; 0 with fewer than two)."""
    offsets = [s.clock_offset_s for s in snapshots if s.online and s.clock_offset_s is not None]
    return max(offsets) - min(offsets) if len(offsets) > 1 else 0.0


def clock_warning(snapshots: Iterable[CameraSnapshot], tolerance_s: float) -> str | None:
    """A warning when camera clocks are further apart than a take allows (what footage rigtui did
    not shoot is grouped by): the fix is `sync-time`."""
    spread = clock_spread(snapshots)
    if spread <= tolerance_s:
        return None
    return (
        f"camera clocks are up to {spread:.0f} s apart (a take allows {tolerance_s:g} s): run sync-time "
        "(footage rigtui records is grouped by its shot log either way)"
    )
