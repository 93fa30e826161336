"""The rig: every camera's warm link, a poller producing snapshots, and commands fanned out to all.

One slow or dead camera never stalls the others: every per-camera step has its own time limit and
its failure becomes that camera's outcome. Cameras that drop are retried with backoff.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from rigtui.gopro.client import (
    CameraClient,
    CameraError,
    CameraOffline,
    CameraState,
    MalformedReply,
    SettingRejected,
    check_version,
    parse_state,
    query,
)
from rigtui.gopro.discovery import Endpoint, serial_collisions
from rigtui.gopro.media import CardContents, card_contents
from rigtui.gopro.protocol import MODEL_INFO, Status
from rigtui.gopro.settings import SettingDifference, apply_order, copyable, differences
from rigtui.gopro.snapshot import CameraSnapshot, snapshot_fields
from rigtui.gopro.spec_tables import PRESET_TITLES
from rigtui.gopro.trigger import RawReply, TriggerLink, fire, serialize

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 3.0
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class RigSettings:
    poll_interval_s: float = 1.0
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    confirm_timeout_s: float = 6.0  # how long record/stop wait for status 10 to agree
    min_battery_percent: int = 20
    min_sd_minutes: int = 10


@dataclass(frozen=True)
class Outcome:
    key: str
    ok: bool
    detail: str = ""
    response_ms: float | None = None

    def to_json(self) -> dict[str, object]:
        return {"camera": self.key, "ok": self.ok, "detail": self.detail, "response_ms": self.response_ms}


@dataclass(frozen=True)
class Report:
    """The result of a rig command: one outcome per camera, plus what the command measured."""

    outcomes: list[Outcome]
    problems: list[str] = field(default_factory=list)  # preflight findings that stopped the command
    dispatch_spread_ms: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and all(o.ok for o in self.outcomes)


class CameraLink:
    """One camera in the rig: HTTP client, warm trigger socket, identity and last state."""

    def __init__(self, endpoint: Endpoint, settings: RigSettings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.client = CameraClient(
            endpoint.host, endpoint.port, timeout=settings.request_timeout_s, connect_timeout=settings.connect_timeout_s
        )
        self.trigger = TriggerLink(endpoint.host, endpoint.port)
        self.serial = endpoint.serial
        self.model: str | None = None
        self.firmware: str | None = None
        self.state: CameraState | None = None
        self.online = False
        self.last_error: str | None = None
        self.updated: float | None = None
        self.next_attempt = 0.0
        self.backoff = 1.0
        self.last_keep_alive = 0.0
        self.reconnecting: asyncio.Task[None] | None = None
        self._state_request = serialize(endpoint.host, endpoint.port, "/gopro/camera/state")
        self._keep_alive_request = serialize(endpoint.host, endpoint.port, "/gopro/camera/keep_alive")

    @property
    def key(self) -> str:
        return self.serial or self.endpoint.address

    def matches(self, wanted: str) -> bool:
        return wanted in (self.serial, self.endpoint.address, self.endpoint.host) or bool(
            self.serial and len(wanted) >= 3 and self.serial.endswith(wanted)
        )

    def request(self, target: str) -> bytes:
        return serialize(self.endpoint.host, self.endpoint.port, target)

    # -- life cycle -----------------------------------------------------------------------------
    async def connect(self) -> None:
        """Bring-up as the Open GoPro SDK does it: wired control, client info, version, then state."""
        await self.client.enable_wired_control()
        await self.client.set_client_info()
        check_version(await self.client.version())
        info = await self.client.info()
        if info:
            self.serial = info.get("serial_number") or self.serial
            self.firmware = info.get("firmware_version")
            number = info.get("model_number", "")
            self.model = next((m.key for m in MODEL_INFO.values() if str(m.model_number) == number), None)
        await self.client.turbo_transfer(False)
        state = await self.wait_idle(busy_only=True)
        if self.model is None:
            self.model = model_from_state(state)
        await self.trigger.ensure_open(self.settings.connect_timeout_s)
        self.mark_online(state)

    async def wait_idle(self, *, busy_only: bool = False, limit_s: float = 3.0) -> CameraState:
        """Poll until the camera is not busy (and not encoding, unless busy_only); returns the last state."""
        deadline = time.monotonic() + limit_s
        while True:
            state = await self.client.state()
            idle = not state.flag(Status.BUSY) and (busy_only or not state.flag(Status.ENCODING))
            if idle or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(0.1)

    def mark_online(self, state: CameraState) -> None:
        if not self.online:
            self.last_error = None  # the error was why it was offline; a failed command's stays shown
        self.state, self.online = state, True
        self.updated = time.time()
        self.backoff = 1.0

    def mark_offline(self, error: Exception | str) -> None:
        self.online = False
        self.last_error = str(error)
        self.next_attempt = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_S)

    async def poll(self) -> None:
        """Read state over the warm socket; keep-alives ride along every few seconds."""
        now = time.monotonic()
        if now - self.last_keep_alive >= KEEP_ALIVE_S:
            await self.trigger.request(self._keep_alive_request, self.settings.request_timeout_s)
            self.last_keep_alive = now
        await self.read_state()

    async def read_state(self) -> CameraState:
        """The camera's state over the warm socket; the link is online once it answers."""
        reply = await self.trigger.request(self._state_request, self.settings.request_timeout_s)
        state = decode_state(reply)
        self.mark_online(state)
        return state

    def snapshot(self) -> CameraSnapshot:
        fields: dict[str, object] = snapshot_fields(self.state) if self.state and self.online else {}
        return CameraSnapshot(
            key=self.key,
            serial=self.serial,
            model=self.model,
            firmware=self.firmware,
            host=self.endpoint.host,
            port=self.endpoint.port,
            online=self.online,
            last_error=self.last_error,
            updated=self.updated,
            **fields,  # type: ignore[arg-type]
        )

    async def close(self) -> None:
        await self.trigger.close()
        await self.client.close()


def decode_state(reply: RawReply) -> CameraState:
    if reply.status != 200:
        raise CameraError(f"state: HTTP {reply.status}")
    try:
        return parse_state(json.loads(reply.body))
    except ValueError:
        raise MalformedReply("state reply is not JSON") from None


def model_from_state(state: CameraState) -> str | None:
    """HERO10/11 have no info endpoint; their status keys tell them apart (104 only on HERO10,
    99 'live bursts' only up to HERO11)."""
    if 104 in state.status:
        return "HERO10"
    if 99 in state.status:
        return "HERO11"
    return None


def camera_local_now(when: float) -> datetime:
    return datetime.fromtimestamp(when).astimezone()


class Rig:
    def __init__(self, settings: RigSettings | None = None) -> None:
        self.settings = settings or RigSettings()
        self.links: dict[str, CameraLink] = {}  # by address
        self.last_dispatch_spread_ms: float | None = None

    # -- membership -----------------------------------------------------------------------------
    async def add(self, endpoints: Iterable[Endpoint]) -> list[Outcome]:
        """Add cameras and bring them up concurrently; cameras that fail are kept and retried."""
        new = []
        for endpoint in endpoints:
            if endpoint.address not in self.links:
                link = CameraLink(endpoint, self.settings)
                self.links[endpoint.address] = link
                new.append(link)
        return await self.each(new, self._connect)

    async def _connect(self, link: CameraLink) -> str:
        try:
            await link.connect()
        except CameraError as exc:
            link.mark_offline(exc)
            raise
        return f"{link.model or 'unknown model'} online"

    async def remove(self, link: CameraLink) -> None:
        self.links.pop(link.endpoint.address, None)
        await link.close()

    def cameras(self, selection: Iterable[str] | None = None) -> list[CameraLink]:
        """All cameras, or those matching a serial, its last digits, an address or a host."""
        links = sorted(self.links.values(), key=lambda link: link.key)
        wanted = [w for w in selection or [] if w]
        if not wanted:
            return links
        return [link for link in links if any(link.matches(w) for w in wanted)]

    def unmatched(self, selection: Iterable[str]) -> list[str]:
        return [w for w in selection if not any(link.matches(w) for link in self.links.values())]

    def snapshots(self) -> list[CameraSnapshot]:
        return [link.snapshot() for link in self.cameras()]

    def collisions(self) -> list[str]:
        return serial_collisions(link.serial for link in self.links.values() if link.serial)

    async def close(self) -> None:
        tasks = [link.reconnecting for link in self.links.values() if link.reconnecting is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(link.close() for link in self.links.values()), return_exceptions=True)

    # -- fan-out --------------------------------------------------------------------------------
    async def each(
        self,
        links: list[CameraLink],
        action: Callable[[CameraLink], Awaitable[str | None]],
        timeout: float | None = None,
    ) -> list[Outcome]:
        """Run `action` on every camera at once; each gets an outcome, none can stall the rest."""
        limit = timeout or self.settings.request_timeout_s * 3

        async def one(link: CameraLink) -> Outcome:
            started = time.monotonic()
            try:
                detail = await asyncio.wait_for(action(link), limit)
            except TimeoutError:
                return Outcome(link.key, False, f"no result within {limit:g} s")
            except CameraError as exc:
                if isinstance(exc, CameraOffline):
                    link.mark_offline(exc)
                return Outcome(link.key, False, str(exc))
            return Outcome(link.key, True, detail or "", round((time.monotonic() - started) * 1000, 1))

        outcomes = list(await asyncio.gather(*(one(link) for link in links)))
        self.note(outcomes)
        return outcomes

    def note(self, outcomes: list[Outcome]) -> None:
        """A command's failure stays as the camera's last error until a later command succeeds."""
        by_key = {link.key: link for link in self.links.values()}
        for outcome in outcomes:
            link = by_key.get(outcome.key)
            if link is not None and link.online:
                link.last_error = None if outcome.ok else outcome.detail

    def _offline(self, links: list[CameraLink]) -> tuple[list[CameraLink], list[Outcome]]:
        online = [link for link in links if link.online]
        return online, [Outcome(link.key, False, f"offline: {link.last_error}") for link in links if not link.online]

    # -- polling --------------------------------------------------------------------------------
    async def poll_once(self) -> list[CameraSnapshot]:
        """Poll online cameras; cameras whose backoff has passed reconnect in the background, so an
        unreachable one (a connect that times out) never holds up everyone else's tick."""
        now = time.monotonic()
        for link in self.links.values():
            if not link.online and link.next_attempt <= now and link.reconnecting is None:
                link.reconnecting = asyncio.create_task(self._reconnect(link))

        async def refresh(link: CameraLink) -> None:
            try:
                await asyncio.wait_for(link.poll(), self.settings.request_timeout_s * 2)
            except (CameraError, TimeoutError) as exc:
                link.mark_offline(exc if isinstance(exc, CameraError) else "no state reply in time")

        await asyncio.gather(*(refresh(link) for link in self.links.values() if link.online))
        return self.snapshots()

    async def _reconnect(self, link: CameraLink) -> None:
        try:
            await asyncio.wait_for(link.connect(), self.settings.request_timeout_s * 2)
            log.info("%s is back", link.key)
        except (CameraError, TimeoutError) as exc:
            link.mark_offline(exc if isinstance(exc, CameraError) else "bring-up did not finish in time")
        finally:
            link.reconnecting = None

    async def run_poller(self, on_tick: Callable[[list[CameraSnapshot]], None]) -> None:
        """Poll forever; the next tick starts after the last one ends, never faster than status 60 allows."""
        while True:
            started = time.monotonic()
            on_tick(await self.poll_once())
            floors = [link.state.number(Status.MIN_POLL_PERIOD_MS) or 0 for link in self.links.values() if link.state]
            interval = max(self.settings.poll_interval_s, max(floors, default=0) / 1000)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    # -- record / stop --------------------------------------------------------------------------
    def preflight(self, links: list[CameraLink]) -> list[str]:
        """Why a camera would ruin the take: one line per finding."""
        problems = []
        for link in links:
            snap = link.snapshot()
            if not snap.online:
                problems.append(f"{snap.key}: offline ({snap.last_error})")
                continue
            if (
                snap.battery_percent is not None
                and snap.battery_percent < self.settings.min_battery_percent
                and not snap.charging
            ):
                problems.append(f"{snap.key}: battery {snap.battery_percent}%")
            if snap.sd_state not in (None, "ok"):
                problems.append(f"{snap.key}: SD card {snap.sd_state}")
            elif snap.minutes_left is not None and snap.minutes_left < self.settings.min_sd_minutes:
                problems.append(f"{snap.key}: SD card has {snap.minutes_left} min left")
            if snap.busy:
                problems.append(f"{snap.key}: busy")
            if snap.hot:
                problems.append(f"{snap.key}: overheating")
            if snap.cold:
                problems.append(f"{snap.key}: too cold")
        return problems

    async def record(
        self, selection: Iterable[str] | None = None, *, force: bool = False, prime: str | None = None
    ) -> Report:
        return await self._shutter(True, self.cameras(selection), force=force, prime=prime)

    async def stop(self, selection: Iterable[str] | None = None) -> Report:
        return await self._shutter(False, self.cameras(selection), force=True)

    async def _shutter(self, start: bool, links: list[CameraLink], *, force: bool, prime: str | None = None) -> Report:
        await self.poll_once()  # fresh state for the preflight and for cameras that came back
        online, outcomes = self._offline(links)
        if not force:
            problems = self.preflight(links)
            if prime:
                problems += await self._settings_problems(prime, online)
            if problems:
                return Report(outcomes, problems)
        target = f"/gopro/camera/shutter/{'start' if start else 'stop'}"
        release, results = await fire(
            [link.trigger for link in online],
            [link.request(target) for link in online],
            timeout=self.settings.request_timeout_s,
        )
        spread = release.spread_ms
        if start:
            self.last_dispatch_spread_ms = spread
        confirmations = await asyncio.gather(*(self._confirm(link, start) for link in online))
        for index, (link, result, confirmed) in enumerate(zip(online, results, confirmations, strict=True)):
            outcomes.append(_shutter_outcome(link, start, result, confirmed, release.response_ms(index)))
        self.note(outcomes)
        return Report(outcomes, dispatch_spread_ms=round(spread, 3))

    async def _confirm(self, link: CameraLink, start: bool) -> bool | str:
        """Poll until status 10 agrees (a 200 is no proof); the reason when it never does."""
        deadline = time.monotonic() + self.settings.confirm_timeout_s
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

    # -- time -----------------------------------------------------------------------------------
    async def sync_time(self, selection: Iterable[str] | None = None) -> Report:
        """Set every camera's clock to the PC's local time at the start of a second, then read back."""
        online, outcomes = self._offline(self.cameras(selection))
        boundary = float(int(time.time() + 0.5) + 1)
        local = camera_local_now(boundary)
        offset = local.utcoffset()
        tzone = int(offset.total_seconds() // 60) if offset else 0
        dst = int(bool(local.dst()))
        requests = []
        for link in online:
            params: list[tuple[str, object]] = [
                ("date", local.strftime("%Y_%m_%d")),
                ("time", local.strftime("%H_%M_%S")),
            ]
            if link.model != "HERO10":  # HERO10 takes no time zone
                params += [("tzone", tzone), ("dst", dst)]
            requests.append(link.request(query("/gopro/camera/set_date_time", params)))
        release, results = await fire(
            [link.trigger for link in online], requests, timeout=self.settings.request_timeout_s, release_at=boundary
        )
        readbacks = await self.each(online, self._clock_offset)
        by_key = {o.key: o for o in readbacks}
        for link, result in zip(online, results, strict=True):
            if isinstance(result, Exception):
                outcomes.append(Outcome(link.key, False, str(result)))
            elif result.status != 200:
                outcomes.append(Outcome(link.key, False, f"set_date_time: HTTP {result.status}"))
            else:
                outcomes.append(by_key[link.key])
        sent_ms = [round((t - boundary * 1e9) / 1e6, 3) for t in release.sent_ns.values()]
        return Report(
            outcomes,
            dispatch_spread_ms=round(release.spread_ms, 3),
            extra={"second": local.isoformat(), "sent_after_boundary_ms": sent_ms},
        )

    async def _clock_offset(self, link: CameraLink) -> str:
        reply = await link.client.get_date_time()
        pc = camera_local_now(time.time())
        try:
            year, month, day = (int(p) for p in str(reply["date"]).split("_"))
            hour, minute, second = (int(p) for p in str(reply["time"]).split("_"))
        except ValueError:
            raise MalformedReply(f"date/time reply {reply!r} is not YYYY_MM_DD / HH_MM_SS") from None
        camera = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        pc_wall = calendar.timegm(pc.timetuple())
        return f"clock offset {camera - pc_wall:+d} s"

    # -- settings -------------------------------------------------------------------------------
    def find(self, key: str) -> CameraLink:
        matches = self.cameras([key])
        if len(matches) != 1:
            raise CameraError(f"no single camera matches {key!r}" if matches else f"no camera {key!r} in the rig")
        return matches[0]

    async def copy_settings(self, prime_key: str, selection: Iterable[str] | None = None) -> Report:
        """Apply the prime's settings to the others by meaning and in dependency order; then re-read
        every camera and report which settings still differ."""
        prime = self.find(prime_key)
        if not prime.online or prime.model is None:
            return Report([], [f"prime {prime.key} is offline or of unknown model"])
        prime_state = await prime.client.state()
        prime.mark_online(prime_state)
        preset = await self._prime_preset_title(prime, prime_state)
        targets = [link for link in self.cameras(selection) if link is not prime]
        online, outcomes = self._offline(targets)
        differences_by_camera: dict[str, list[str]] = {}

        async def copy(link: CameraLink) -> str:
            if link.model is None:
                raise CameraError("model unknown: cannot translate settings")
            if preset is not None:
                await self._load_matching_preset(link, *preset)
            plan = copyable(prime_state.settings, prime.model or "", link.model)
            await self._apply(link, plan)
            state = await link.wait_idle()
            link.mark_online(state)
            diffs = differences(prime_state.settings, prime.model or "", state.settings, link.model)
            lines = [
                d.describe() + (f" [{link.model} has no such option]" if plan.get(d.setting_id) is None else "")
                for d in diffs
            ]
            differences_by_camera[link.key] = lines
            if diffs:
                raise CameraError(f"{len(diffs)} setting(s) still differ: " + "; ".join(lines))
            return "settings match the prime"

        outcomes += await self.each(online, copy, timeout=60)
        return Report(outcomes, extra={"prime": prime.key, "differences": differences_by_camera})

    async def _apply(self, link: CameraLink, plan: dict[int, int | None]) -> None:
        """Set each option in order; options refused as 'not available now' are retried after the rest."""
        pending = [s for s in apply_order(set(plan)) if plan[s] is not None]
        for _ in range(3):
            state = await link.wait_idle()
            retry = []
            for setting_id in pending:
                option = plan[setting_id]
                assert option is not None
                if state.settings.get(setting_id) == option:
                    continue
                try:
                    await link.client.set_setting(setting_id, option)
                except SettingRejected as exc:
                    if exc.error in (3, None):
                        retry.append(setting_id)
                    continue
                state = await link.wait_idle()
            if not retry:
                break
            pending = retry

    async def _prime_preset_title(self, prime: CameraLink, state: CameraState) -> tuple[int, int] | None:
        """(titleId, mode) of the prime's current preset: preset ids differ between models, titles do not."""
        current = state.number(Status.PRESET)
        try:
            presets = await prime.client.presets()
        except CameraError:
            return None
        for preset in _presets(presets):
            if preset.get("id") == current:
                return preset.get("titleId"), preset.get("mode")  # type: ignore[return-value]
        return None

    async def _load_matching_preset(self, link: CameraLink, title_id: int, mode: int) -> None:
        presets = await link.client.presets()
        match = next((p for p in _presets(presets) if p.get("titleId") == title_id and p.get("mode") == mode), None)
        if match is not None and isinstance(match.get("id"), int):
            state = await link.client.state()
            if state.number(Status.PRESET) != match["id"]:
                await link.client.load_preset(match["id"])

    async def _settings_problems(self, prime_key: str, links: list[CameraLink]) -> list[str]:
        prime = self.find(prime_key)
        if prime.state is None or prime.model is None:
            return [f"prime {prime.key}: settings unknown"]
        problems = []
        for link in links:
            if link is prime or link.state is None or link.model is None:
                continue
            diffs: list[SettingDifference] = differences(
                prime.state.settings, prime.model, link.state.settings, link.model
            )
            problems += [f"{link.key}: {d.describe()}" for d in diffs]
        return problems

    # -- presets, power -------------------------------------------------------------------------
    async def load_preset(self, wanted: str, selection: Iterable[str] | None = None) -> Report:
        """A preset by id (`65536`), by title (`cinematic`), or a group (`video`, `photo`, `timelapse`)."""
        online, outcomes = self._offline(self.cameras(selection))
        groups = {"video": 1000, "photo": 1001, "timelapse": 1002}

        async def load(link: CameraLink) -> str:
            if wanted.isdigit():
                await link.client.load_preset(int(wanted))
                return f"preset {wanted}"
            if wanted.lower() in groups:
                await link.client.load_preset_group(groups[wanted.lower()])
                return f"last {wanted.lower()} preset"
            presets = _presets(await link.client.presets())
            name = wanted.lower().replace("-", " ").replace("_", " ")
            for preset in presets:
                title = PRESET_TITLES.get(preset.get("titleId", -1), "")  # type: ignore[arg-type]
                custom = str(preset.get("customName") or "")
                if name in (title.lower(), custom.lower()) and isinstance(preset.get("id"), int):
                    await link.client.load_preset(preset["id"])
                    return f"preset {title or custom} ({preset['id']})"
            raise CameraError(f"no preset named {wanted!r} on this camera")

        outcomes += await self.each(online, load)
        return Report(outcomes)

    async def card_contents(self, selection: Iterable[str] | None = None) -> dict[str, CardContents | str]:
        """What each camera's card holds (or why it cannot be read): said before erasing anything."""
        online, _ = self._offline(self.cameras(selection))
        results: dict[str, CardContents | str] = {}

        async def read(link: CameraLink) -> str:
            results[link.key] = card_contents(await link.client.media_list())
            return ""

        for outcome in await self.each(online, read):
            if not outcome.ok:
                results[outcome.key] = outcome.detail
        return results

    async def erase(self, selection: Iterable[str] | None = None) -> Report:
        """Delete every file on the cards, then re-read each media list to confirm it is empty."""
        online, outcomes = self._offline(self.cameras(selection))

        async def erase(link: CameraLink) -> str:
            await link.client.request("/gp/gpControl/command/storage/delete/all", timeout=60)
            await link.wait_idle(limit_s=30)
            left = card_contents(await link.client.media_list())
            if left.files:
                raise CameraError(f"card still holds {left.describe()} after erasing")
            return "card erased"

        outcomes += await self.each(online, erase, timeout=120)
        return Report(outcomes)

    async def power_off(self, selection: Iterable[str] | None = None) -> Report:
        online, outcomes = self._offline(self.cameras(selection))

        async def sleep(link: CameraLink) -> str:
            await link.client.sleep()
            link.mark_offline("powered off")
            return "powered off"

        outcomes += await self.each(online, sleep)
        return Report(outcomes)


def _presets(presets: dict[str, object]) -> list[dict[str, object]]:
    found = []
    for group in presets.get("presetGroupArray") or []:  # type: ignore[union-attr]
        if isinstance(group, dict):
            found += [p for p in group.get("presetArray") or [] if isinstance(p, dict)]
    return found


def _shutter_outcome(
    link: CameraLink, start: bool, result: RawReply | Exception, confirmed: bool | str, response_ms: float | None
) -> Outcome:
    verb = "recording" if start else "stopped"
    if isinstance(result, RawReply) and result.status != 200:
        detail = f"camera answered HTTP {result.status} to shutter {'start' if start else 'stop'}"
        if confirmed is True:
            return Outcome(link.key, True, f"{verb} (confirmed by status 10 despite: {detail})", response_ms)
        return Outcome(link.key, False, detail, response_ms)
    if confirmed is True:
        note = "" if isinstance(result, RawReply) else f" (link dropped: {result}; confirmed by status 10)"
        return Outcome(link.key, True, verb + note, response_ms)
    cause = f"{result}; " if isinstance(result, Exception) else ""
    return Outcome(link.key, False, f"{cause}not {verb} ({confirmed})", response_ms)
