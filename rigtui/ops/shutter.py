"""Record and stop: every camera at once, after a readiness check, confirmed by each camera's status.

A reply of 200 is no proof: each camera's status 10 (encoding) must agree before its outcome is ok.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import Status
from rigtui.gopro.rig import CameraLink, Outcome, Rig
from rigtui.gopro.settings import differences
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.gopro.warm import WarmReply
from rigtui.ops.report import Report


@dataclass(frozen=True)
class RecordOptions:
    force: bool = False  # record even when the readiness check fails
    prime: str | None = None  # also require every camera's settings to equal this camera's


def readiness(snap: CameraSnapshot) -> list[str]:
    """Why a camera would ruin the take: one line per finding (thresholds from [rig])."""
    if not snap.online:
        return [f"{snap.key}: offline ({snap.last_error})"]
    problems = []
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


async def stop(rig: Rig, selection: Iterable[str] | None = None) -> Report:
    return await _shutter(rig, False, rig.cameras(selection), RecordOptions(force=True))


async def _shutter(rig: Rig, start: bool, links: list[CameraLink], options: RecordOptions) -> Report:
    verb = "record" if start else "stop"
    await rig.poll_once()  # fresh state for the readiness check and for cameras that came back
    online, outcomes = rig.split_online(links)
    if not options.force:
        problems = [line for link in links for line in readiness(link.snapshot())]
        if options.prime:
            try:
                problems += settings_problems(rig, options.prime, online)
            except CameraError as exc:
                problems.append(f"prime: {exc}")
        if problems:
            return Report(verb, outcomes, problems)
    released, results = await rig.release(online, [link.client.shutter_target(start) for link in online])
    confirmations = await asyncio.gather(*(_confirm(rig, link, start) for link in online))
    for index, (link, result, confirmed) in enumerate(zip(online, results, confirmations, strict=True)):
        outcomes.append(_outcome(link, start, result, confirmed, released.response_ms(index)))
    rig.note(outcomes)
    return Report(verb, outcomes, dispatch_spread_ms=round(released.spread_ms, 3))


async def _confirm(rig: Rig, link: CameraLink, start: bool) -> bool | str:
    """Poll until status 10 agrees (a 200 is no proof); the reason when it never does."""
    deadline = time.monotonic() + rig.settings.confirm_timeout_s
    reason = "camera did not confirm"
    while time.monotonic() < deadline:
        try:
            state = await link.read_state()
            if state.flag(Status.ENCODING) == start:
                return True
        except CameraError as exc:
            reason = str(exc)
        await asyncio.sleep(0.1)
    return reason


def _outcome(
    link: CameraLink, start: bool, result: WarmReply | CameraError, confirmed: bool | str, response_ms: float | None
) -> Outcome:
    verb = "recording" if start else "stopped"
    if isinstance(result, WarmReply) and result.status != 200:
        detail = f"camera answered HTTP {result.status} to shutter {'start' if start else 'stop'}"
        if confirmed is True:
            return Outcome(link.key, True, f"{verb} (confirmed by status 10 despite: {detail})", response_ms)
        return Outcome(link.key, False, detail, response_ms)
    if confirmed is True:
        note = "" if isinstance(result, WarmReply) else f" (link dropped: {result}; confirmed by status 10)"
        return Outcome(link.key, True, verb + note, response_ms)
    cause = f"{result}; " if isinstance(result, CameraError) else ""
    return Outcome(link.key, False, f"{cause}not {verb} ({confirmed})", response_ms)
