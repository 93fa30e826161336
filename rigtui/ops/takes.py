"""Takes as rigtui shot them: a take is opened before any shutter (each camera's media list kept),
confirmed once the cameras answer, and closed with the media each camera produced since. A take
that a crash or a separate `rigtui record` left open is closed by the next command that can (stop,
offload, format), which says so.

Which take a new file belongs to: for each camera, the newest take that started it (not one it was
already recording in) and whose media list at start did not hold the file yet."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from rigtui.gopro.media import dated_entries, listed_entries
from rigtui.gopro.protocol import PresetGroup, Setting, Status
from rigtui.gopro.rig import CameraLink, Outcome, Rig
from rigtui.gopro.settings import apply_order, option_name, setting_name
from rigtui.gopro.shotlog import CameraAtStart, LoggedTake, ShotLog
from rigtui.ops.report import Line

SETTLE_S = 15.0  # how long a camera may stay busy writing its files after a stop
# What a take's footage looks like, by the mode the camera is in, as the custody report tells it:
# capture settings, not the camera's housekeeping (LED, beeps, screen saver, language, ...).
VIDEO_SETTINGS = (
    Setting.RESOLUTION,
    Setting.FPS,
    Setting.FRAME_RATE_V2,
    Setting.LENS,
    Setting.ASPECT_RATIO,
    Setting.FRAMING,
    Setting.ANTI_FLICKER,
    Setting.HYPERSMOOTH,
    150,  # video horizon leveling
    173,  # video performance mode
    175,  # control mode
    180,  # system video mode
    182,  # video bit rate
    183,  # bit depth
    184,  # profiles (color, log)
    186,  # video easy mode
    232,  # video framing
)
PHOTO_SETTINGS = (122, 125, 151, 175, 227)  # photo lens, output, horizon leveling, control mode, photo mode
CAPTURE_SETTINGS = {
    PresetGroup.VIDEO: VIDEO_SETTINGS,
    PresetGroup.PHOTO: PHOTO_SETTINGS,
    PresetGroup.TIMELAPSE: (*VIDEO_SETTINGS, 5, 30, 32, 128),  # and its rates and media format
}
MODES = {PresetGroup.VIDEO: "Video", PresetGroup.PHOTO: "Photo", PresetGroup.TIMELAPSE: "Timelapse"}


async def open_take(rig: Rig, links: list[CameraLink], log: ShotLog) -> tuple[str | None, list[str]]:
    """Log a take before its shutter: (take id, warnings). A camera whose media list cannot be read
    still records; its footage is then grouped by its clock. A log that cannot be written never
    stops a shoot: the take is then simply not logged."""
    before: dict[str, list[str]] = {}

    async def read(link: CameraLink) -> str:
        before[link.key] = sorted(listed_entries(await link.client.media_list()))
        return ""

    warnings = [
        f"{o.key}: media list unreadable before the take ({o.detail}); its clips are grouped by its clock"
        for o in await rig.each([link for link in links if link.online], read, timeout=30)
        if not o.ok
    ]
    recording = {link.key for link in links if link.online and link.snapshot().recording}
    at_start = {link.key: camera_at_start(link) for link in links if link.key in before}
    try:
        return await asyncio.to_thread(log.open, before, recording, at_start), warnings
    except OSError as exc:
        return None, [*warnings, f"the shot log {log.path} cannot be written ({exc.strerror or exc}): take not logged"]


def camera_at_start(link: CameraLink) -> CameraAtStart:
    """The camera as its last reading shows it (the shutter is released right after it): model,
    firmware, battery, temperature, and its mode's capture settings by name."""
    snap, state = link.snapshot(), link.state
    if state is None:
        return CameraAtStart(snap.model, snap.firmware)
    group = state.number(Status.PRESET_GROUP)
    wanted = set(CAPTURE_SETTINGS.get(group or PresetGroup.VIDEO, VIDEO_SETTINGS)) & set(state.settings)
    settings = {"Mode": MODES[group]} if group in MODES else {}
    settings |= {setting_name(n): option_name(n, state.settings[n]) for n in apply_order(wanted)}
    battery = snap.battery_percent
    return CameraAtStart(
        model=snap.model,
        firmware=snap.firmware,
        battery_percent=battery if snap.battery_present and battery is not None and 0 <= battery <= 100 else None,
        charging=snap.charging,
        hot=snap.hot,
        cold=snap.cold,
        settings=settings,
    )


async def note_started(log: ShotLog, take: str | None, links: list[CameraLink], outcomes: list[Outcome]) -> None:
    """What each camera confirmed, and its clock offset, in the log."""
    if take is None:
        return
    confirmed = {o.key: o.ok for o in outcomes}
    offsets = {link.key: link.clock_offset_s for link in links}
    with contextlib.suppress(OSError):  # the take is open either way; closing it needs only its media lists
        await asyncio.to_thread(log.started, take, confirmed, offsets)


STOPPED_EARLY = "stopped recording on its own"  # as the poller words it (rigtui.gopro.rig)


async def note_stopped_early(rig: Rig, links: list[CameraLink], log: ShotLog) -> None:
    """Before a stop: a camera of an open take that confirmed its start and records no more stopped
    on its own, unseen when no poller ran (`record` and `stop` can be separate commands). Noted in
    its take once, for the custody report. Its state is read past the link, so the poller's own
    "stopped" event does not fire as well."""
    opened = await asyncio.to_thread(log.open_takes)
    watched = {
        (take.id, key)
        for take, before in opened
        for key, facts in take.cameras.items()
        if key in before and facts.confirmed is True and not facts.was_recording
        if not any(STOPPED_EARLY in note for note in facts.notes)
    }
    stopped: set[str] = set()

    async def read(link: CameraLink) -> str:
        if not (await link.client.state()).flag(Status.ENCODING):
            stopped.add(link.key)
        return ""

    keys = {key for _, key in watched}
    await rig.each([link for link in links if link.online and link.key in keys], read, timeout=10)
    for take, key in sorted(watched):
        if key in stopped:
            with contextlib.suppress(OSError):  # a note is worth no failed stop
                await asyncio.to_thread(log.note, take, key, f"{STOPPED_EARLY}: no longer recording when `stop` came")


async def close_takes(rig: Rig, log: ShotLog, *, repaired: bool) -> list[Line]:
    """Close every open take whose cameras have all stopped: each new file goes to the take that
    recorded it. `repaired`: a command other than `stop` is closing what an earlier one left open."""
    opened = await asyncio.to_thread(log.open_takes)
    if not opened:
        return []
    keys = {key for take, before in opened for key in before}
    links = [link for link in rig.cameras() if link.key in keys and link.online]
    still = [link.key for link in links if link.snapshot().recording]
    if still:
        ids = ", ".join(take.id for take, _ in opened)
        return [Line(f"take {ids} stays open: {len(still)} camera(s) still record ({', '.join(still[:3])})")]
    now: dict[str, dict[str, int]] = {}

    async def read(link: CameraLink) -> str:
        await link.client.wait_idle(limit_s=SETTLE_S)  # files are written after a stop
        now[link.key] = dated_entries(await link.client.media_list())
        return ""

    unread = [o for o in await rig.each(links, read, timeout=SETTLE_S + 30) if not o.ok]
    media = assign(opened, now)
    lines = []
    for take, _ in opened:
        try:
            await asyncio.to_thread(log.close, take.id, media[take.id], repaired=repaired)
        except OSError as exc:
            lines.append(Line(f"take {take.id} could not be closed in {log.path}: {exc.strerror or exc}", True))
            continue
        if repaired:
            clips = sum(len(entries) for entries in media[take.id].values())
            started = time.strftime("%H:%M:%S", time.localtime(take.started))
            lines.append(
                Line(f"closed take {take.id} (started {started}) that an earlier record left open: {clips} files")
            )
    lines += [Line(f"{o.key}: its files since the take are not known ({o.detail})", True) for o in unread]
    return lines


def assign(
    opened: list[tuple[LoggedTake, dict[str, set[str]]]], now: dict[str, dict[str, int]]
) -> dict[str, dict[str, list[tuple[str, int]]]]:
    """Each camera's new files, take by take (see the module's docstring)."""
    media: dict[str, dict[str, list[tuple[str, int]]]] = {take.id: {} for take, _ in opened}
    for camera, entries in now.items():
        takes = [(take, before[camera]) for take, before in opened if camera in before]
        if not takes:
            continue
        for name, cre in sorted(entries.items()):
            if name in takes[0][1]:
                continue  # on the card before the first open take: not from any of them
            owner = _owner(camera, name, takes)
            if owner is not None:
                media[owner].setdefault(camera, []).append((name, cre))
    return media


def _owner(camera: str, name: str, takes: Iterable[tuple[LoggedTake, set[str]]]) -> str | None:
    """The newest take that had not seen the file yet and that started this camera."""
    owner = None
    for take, before in takes:
        if name in before:
            break  # already there when this take started: an earlier take's
        facts = take.cameras.get(camera)
        if facts is None or not facts.was_recording:
            owner = take.id
    return owner
