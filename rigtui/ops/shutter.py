"""Record and stop: every camera at once, after a readiness check, confirmed by each camera's
status, and written in the shot log (rigtui.ops.takes), so offload knows each take's files.

A reply of 200 is no proof: a video counts once the camera's status 10 (encoding) agrees; a photo
(which need not show "encoding") once the camera shows the capture: encoding or busy, or one more
file on its card.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rigtui.config import Config
from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import PresetGroup, Status
from rigtui.gopro.rig import CameraLink, Outcome, Rig
from rigtui.gopro.settings import differences
from rigtui.gopro.shotlog import ShotLog
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.gopro.takes import camera_label
from rigtui.gopro.warm import WarmReply
from rigtui.ops.clock import clock_warning, sync_time
from rigtui.ops.report import Report
from rigtui.ops.sync_audit import note_delays, start_delays
from rigtui.ops.takes import close_takes, note_started, note_stopped_early, open_take


@dataclass(frozen=True)
class RecordOptions:
    force: bool = False  # record even when the readiness check fails
    prime: str | None = None  # also require every camera's settings to equal this camera's
    log: ShotLog | None = None  # where takes are logged (None: not logged, e.g. in benchmarks)
    clock_tolerance_s: float = 5.0  # clocks further apart than this get a warning (or a sync)
    sync_first: bool = False  # sync the clocks first when they are further apart than that
    at: float | None = None  # release the start requests at this time.time() (a start several hosts share)
    compensate_over: int = 0  # shift each start by the camera's mean latency over this many audited takes (0: off)


def record_options(config: Config, log: ShotLog, *, force: bool = False, prime: str | None = None) -> RecordOptions:
    """How `record` runs, from config.toml's [rig], [offload] and [record] and the operator's choices."""
    compensate = config.record.compensation_takes if config.record.start_compensation else 0
    return RecordOptions(
        force, prime, log, config.offload.tolerance_s, config.rig.sync_before_record, compensate_over=compensate
    )


def readiness(snap: CameraSnapshot) -> list[str]:
    """Why a camera would ruin the take: one line per finding (thresholds from [rig])."""
    if not snap.online:
        return [f"{snap.key}: offline ({snap.last_error})"]
    problems = []
    if snap.clash:
        problems.append(f"{snap.key}: the rig is one camera short: {snap.clash}")
    if snap.control_owner == 1:
        problems.append(f"{snap.key}: someone is in its menus: it refuses commands until they leave them")
    if snap.battery_low:
        problems.append(f"{snap.key}: battery {snap.battery_percent}%")
    if snap.sd_state not in (None, "ok"):
        problems.append(f"{snap.key}: SD card {snap.sd_state}")
    elif snap.sd_low:
        problems.append(f"{snap.key}: SD card has {snap.minutes_left} min left")
    if snap.busy:
        problems.append(f"{snap.key}: busy")
    if snap.hot:
        problems.append(f"{snap.key}: overheating")
    if snap.cold:
        problems.append(f"{snap.key}: too cold")
    return problems


def settings_problems(rig: Rig, prime_key: str, links: list[CameraLink]) -> list[str]:
    """Cameras whose settings mean something else than the prime's."""
    prime = rig.find(prime_key)
    if prime.state is None or prime.model is None:
        return [f"prime {prime.key}: settings unknown"]
    problems = []
    for link in links:
        if link is prime or link.state is None or link.model is None:
            continue
        found = differences(prime.state.settings, prime.model, link.state.settings, link.model)
        problems += [f"{link.key}: {d.describe()}" for d in found]
    return problems


async def record(rig: Rig, selection: Iterable[str] | None = None, options: RecordOptions | None = None) -> Report:
    options = options or RecordOptions()
    return await _shutter(rig, True, rig.cameras(selection), options)


async def stop(rig: Rig, selection: Iterable[str] | None = None, log: ShotLog | None = None) -> Report:
    """Stop, then close the logged takes (each camera's new files, once it has written them)."""
    if log is not None:
        await note_stopped_early(rig, rig.cameras(selection), log)
    report = await _shutter(rig, False, rig.cameras(selection), RecordOptions(force=True))
    if log is None:
        return report
    lines = await close_takes(rig, log, repaired=False)
    return replace(report, warnings=[*report.warnings, *(line.text for line in lines)])


async def record_for(
    rig: Rig, seconds: float, selection: Iterable[str] | None = None, options: RecordOptions | None = None
) -> tuple[Report, Report | None]:
    """Record, hold the take for `seconds` (the session keeps every camera awake meanwhile), then stop
    the cameras that started. No stop when none started (refused, or every camera failed)."""
    options = options or RecordOptions()
    started = await record(rig, selection, options)
    recording = [o.key for o in started.outcomes if o.ok]
    if not recording:
        return started, None
    await asyncio.sleep(seconds)
    return started, await stop(rig, recording, options.log)


async def _shutter(rig: Rig, start: bool, links: list[CameraLink], options: RecordOptions) -> Report:
    for link in links:
        link.commanded = True  # a start or stop rigtui sends is no surprise
    try:
        report = await _release(rig, start, links, options)
    finally:
        for link in links:
            link.commanded = False
    if not report.refused:  # from now on a video camera of the take that does not record is trouble
        for link in links:
            link.should_record = start and not _photo(link)
    return report


async def _release(rig: Rig, start: bool, links: list[CameraLink], options: RecordOptions) -> Report:
    verb = "record" if start else "stop"
    await rig.poll_once()  # fresh state for the readiness check and for cameras that came back
    online, outcomes = rig.split_online(links)
    warnings: list[str] = []
    if not options.force:
        problems = [line for link in links for line in readiness(link.snapshot())]
        if options.prime:
            try:
                problems += settings_problems(rig, options.prime, online)
            except CameraError as exc:
                problems.append(f"prime: {exc}")
        if problems:
            return Report(verb, outcomes, problems)
    take = None
    if start:
        warnings += await _check_clocks(rig, online, options)
        if options.log is not None:
            take, found = await open_take(rig, online, options.log)
            warnings += found
    before = {link.key: _captures(link) for link in online}
    at = options.at if start else None
    delays = await asyncio.to_thread(_start_delays, online, options) if start and options.compensate_over else {}
    if delays:
        if take is not None:
            with contextlib.suppress(OSError):  # unwritable state: the next audit learns a little off
                await asyncio.to_thread(note_delays, take, delays)
        warnings.append(
            f"start compensation: requests held back 0-{max(delays.values()) * 1000:.1f} ms by each camera's mean "
            f"start latency over its last {options.compensate_over} audited takes"
        )
    targets = [link.client.shutter_target(start) for link in online]
    per_link = [delays.get(camera_label(link.key), 0.0) for link in online] if delays else None
    released, results = await rig.release(online, targets, at=at, delays=per_link)
    confirmations = await asyncio.gather(*(_confirm(rig, link, start, before[link.key]) for link in online))
    for index, (link, result, confirmed) in enumerate(zip(online, results, confirmations, strict=True)):
        outcomes.append(_outcome(link, start, result, confirmed, released.response_ms(index)))
    rig.note(outcomes)
    if options.log is not None and take is not None:
        await note_started(options.log, take, online, outcomes)
        if all(_photo(link) for link in online):  # nothing to stop: the take is whole already
            warnings += [line.text for line in await close_takes(rig, options.log, repaired=False)]
    extra: dict[str, object] = {} if at is None else {"released_at": released.first_ns / 1e9}
    return Report(verb, outcomes, dispatch_spread_ms=round(released.spread_ms, 3), extra=extra, warnings=warnings)


def _start_delays(links: list[CameraLink], options: RecordOptions) -> dict[str, float]:
    """Each camera's hold-back (by camera label), when its history is readable."""
    try:
        return start_delays([camera_label(link.key) for link in links], options.compensate_over)
    except OSError:
        return {}


async def _check_clocks(rig: Rig, links: list[CameraLink], options: RecordOptions) -> list[str]:
    """A warning when the clocks are too far apart, or a sync first when config asks for it."""
    warning = clock_warning((link.snapshot() for link in links), options.clock_tolerance_s)
    if warning is None:
        return []
    if not options.sync_first:
        return [warning]
    report = await sync_time(rig, [link.key for link in links])
    return [f"clocks synced first ({warning.split(':')[0]})", *(f"sync: {o.key}: {o.detail}" for o in report.failed)]


def _photo(link: CameraLink) -> bool:
    return link.state is not None and link.state.number(Status.PRESET_GROUP) == PresetGroup.PHOTO


def _captures(link: CameraLink) -> int:
    """Photos and videos on the card (a capture adds one)."""
    state = link.state
    if state is None:
        return 0
    return (state.number(Status.PHOTOS_ON_CARD) or 0) + (state.number(Status.VIDEOS_ON_CARD) or 0)


async def _confirm(rig: Rig, link: CameraLink, start: bool, captures: int) -> bool | str:
    """Poll until the camera shows it did as asked (a 200 is no proof); the reason when it never does.
    A video: status 10 agrees. A photo: encoding or busy seen, or one more file on the card."""
    photo = start and _photo(link)
    deadline = time.monotonic() + rig.settings.confirm_timeout_s
    reason = "camera did not confirm"
    while time.monotonic() < deadline:
        try:
            state = await link.read_state()
            if state.flag(Status.ENCODING) == start:
                return True
            if photo and (state.flag(Status.BUSY) or _captures(link) > captures):
                return True
        except CameraError as exc:
            reason = str(exc)
        await asyncio.sleep(0.1 if not photo else 0.05)  # a photo's busy pulse is short
    return reason


def _outcome(
    link: CameraLink, start: bool, result: WarmReply | CameraError, confirmed: bool | str, response_ms: float | None
) -> Outcome:
    verb = "recording" if start else "stopped"
    if isinstance(result, WarmReply) and result.status != 200:
        detail = f"camera answered HTTP {result.status} to shutter {'start' if start else 'stop'}"
        if confirmed is True:
            return Outcome(link.key, True, f"{verb} (confirmed by status 10 despite: {detail})", response_ms)
        return Outcome(link.key, False, link.explained(detail), response_ms)
    if confirmed is True:
        note = "" if isinstance(result, WarmReply) else f" (link dropped: {result}; confirmed by status 10)"
        return Outcome(link.key, True, verb + note, response_ms)
    cause = f"{result}; " if isinstance(result, CameraError) else ""
    return Outcome(link.key, False, link.explained(f"{cause}not {verb} ({confirmed})"), response_ms)
