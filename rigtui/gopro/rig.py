"""The rig: every camera's link, a poller producing snapshots, and actions fanned out to all.

One slow or dead camera never stalls the others: every per-camera step has its own time limit and
its failure becomes that camera's outcome. Cameras that drop are retried with backoff. What an
action does with the cameras (its checks and its report) lives in rigtui.ops.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from rigtui.gopro.client import CameraClient, CameraState, ClientPolicy, check_version
from rigtui.gopro.discovery import Endpoint, serial_collisions
from rigtui.gopro.errors import CameraError, CameraOffline, CameraRebooted
from rigtui.gopro.protocol import MODEL_INFO, Setting, Status
from rigtui.gopro.snapshot import CameraSnapshot, snapshot_fields
from rigtui.gopro.warm import Release, WarmReply, release
from rigtui.text import shown

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 3.0
SERIAL = re.compile(r"[A-Z0-9]{6,20}")  # a camera's serial becomes part of file names: nothing else is taken
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class RigSettings:
    poll_interval_s: float = 1.0
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    confirm_timeout_s: float = 6.0  # how long record/stop wait for status 10 to agree
    download_read_timeout_s: float = 20.0
    min_battery_percent: int = 20  # below this (and not charging) a snapshot says battery_low
    min_sd_minutes: int = 10  # below this a snapshot says sd_low
    clock_tolerance_s: float = 5.0  # a clock further than this from the host's: a snapshot says clock_off
    keep_awake: bool = False  # Auto Power Down set to Never at bring-up, the camera's own value back at close

    @property
    def client_policy(self) -> ClientPolicy:
        return ClientPolicy(
            request_timeout_s=self.request_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            download_read_timeout_s=self.download_read_timeout_s,
        )


@dataclass(frozen=True)
class CameraEvent:
    """Something a camera did that nobody asked it to: stopped recording, rebooted, went away, came
    back, changed hands."""

    key: str
    kind: str  # stopped | started | lost | rebooted | back | owner | battery | temperature
    text: str
    at: float  # time.time()
    problem: bool = True  # trouble; otherwise good news (back, cooled down)


OWNERS = {0: "nobody (idle)", 1: "someone in its menus", 2: "an app (rigtui)"}  # status 114


@dataclass(frozen=True)
class Outcome:
    key: str
    ok: bool
    detail: str = ""
    response_ms: float | None = None

    def to_json(self) -> dict[str, object]:
        return {"camera": self.key, "ok": self.ok, "detail": self.detail, "response_ms": self.response_ms}


class CameraLink:
    """One camera in the rig: its client, identity and last state."""

    def __init__(self, endpoint: Endpoint, settings: RigSettings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.client = CameraClient(endpoint.host, endpoint.port, settings.client_policy)
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
        self.clock_offset_s: float | None = None  # its clock minus the host's local time, last measured
        self.commanded = False  # rigtui is pressing its shutter: a start or stop now is no surprise
        self.should_record = False  # part of a take rigtui started and not yet stopped (or acknowledged)
        self.clash: str | None = None  # another camera's serial shares this one's address
        self.power_down: int | None = None  # its Auto Power Down before rigtui set it to Never
        self.on_event: Callable[[CameraEvent], None] = lambda event: None

    @property
    def key(self) -> str:
        return self.serial or self.endpoint.address

    def matches(self, wanted: str) -> bool:
        return wanted in (self.serial, self.endpoint.address, self.endpoint.host) or bool(
            self.serial and len(wanted) >= 3 and self.serial.endswith(wanted)
        )

    # -- life cycle -----------------------------------------------------------------------------
    async def connect(self) -> None:
        """Bring-up as the Open GoPro SDK does it: wired control, client info, version, then state.
        A camera coming back with its wired control off was switched off or restarted meanwhile."""
        known = self.state is not None and self.state.number(Status.USB_CONTROLLED) == 1
        if known and (await self.client.state()).number(Status.USB_CONTROLLED) == 0:
            self._event("rebooted", "restarted while away (rebooted, or asleep and switched back on)")
        await self.client.enable_wired_control()
        await self.client.set_client_info()
        check_version(await self.client.version())
        info = await self.client.info()
        if info:
            self.serial = info.serial_number if SERIAL.fullmatch(info.serial_number) else self.serial
            self.firmware = shown(info.firmware_version, 40) or None
            self.model = next(
                (m.key for m in MODEL_INFO.values() if str(m.model_number) == str(info.model_number)), None
            )
        await self.client.turbo_transfer(False)
        if self.settings.keep_awake:
            await self._keep_awake()
        state = await self.client.wait_idle(busy_only=True)
        if self.model is None:
            self.model = model_from_state(state)
        with contextlib.suppress(CameraError):  # a clock that cannot be read is shown as unknown
            await self.read_clock()
        self.mark_online(state)

    async def _keep_awake(self) -> None:
        """Auto Power Down to Never while rigtui holds the camera (asleep, over USB, it is lost);
        its own value is kept to give back (`restore_power_down`)."""
        current = (await self.client.state()).settings.get(Setting.AUTO_POWER_DOWN)
        if current in (None, 0):
            return
        try:
            await self.client.set_setting(Setting.AUTO_POWER_DOWN, 0)
        except CameraOffline:
            raise
        except CameraError:  # refused (it records, someone is in its menus): keep-alives alone keep it awake
            return
        if self.power_down is None:
            self.power_down = current

    async def restore_power_down(self) -> None:
        if self.power_down is not None and self.online:
            await self.client.set_setting(Setting.AUTO_POWER_DOWN, self.power_down)
            self.power_down = None

    async def read_clock(self) -> float:
        """Measure the camera's clock against the host's local time (the request's round trip
        split in two; the camera tells whole seconds, so half a second is added to its reading)."""
        sent = time.time()
        camera = await self.client.get_date_time()
        middle = (sent + time.time()) / 2
        host_wall = middle + time.localtime(middle).tm_gmtoff
        self.clock_offset_s = round(calendar.timegm(camera.timetuple()) + 0.5 - host_wall, 1)
        return self.clock_offset_s

    def mark_online(self, state: CameraState) -> None:
        before, was_online = self.state, self.online
        if not self.online:
            self.last_error = None  # the error was why it was offline; a failed command's stays shown
        self.state, self.online = state, True
        self.updated = time.time()
        self.backoff = 1.0
        if before is not None:
            self._compare(before, state, was_online)

    def _compare(self, before: CameraState, now: CameraState, was_online: bool) -> None:
        """Turn what changed between two readings into events (a surprise also shows in the row)."""
        if not was_online:
            self._event("back", "is back", problem=False)
        if before.flag(Status.ENCODING) and not now.flag(Status.ENCODING) and not self.commanded:
            seconds = before.number(Status.VIDEO_SECONDS) or 0
            self.last_error = f"stopped recording on its own after {seconds // 60:02d}:{seconds % 60:02d}"
            self._event("stopped", self.last_error)
        if now.flag(Status.ENCODING) and not before.flag(Status.ENCODING) and not self.commanded:
            self._event("started", "started recording without rigtui (its button, or another app)")
        low_before, low_now = self._battery_low(before), self._battery_low(now)
        if low_now != low_before:
            level = now.number(Status.BATTERY_PERCENT)
            self._event("battery", f"battery low: {level}%" if low_now else f"battery ok again: {level}%", low_now)
        temperatures = ((Status.HOT, "overheating", "cooled down"), (Status.COLD, "too cold", "warm again"))
        for flag, trouble, fine in temperatures:
            if now.flag(flag) != before.flag(flag):
                self._event("temperature", trouble if now.flag(flag) else fine, now.flag(flag))
        owner = now.number(Status.CONTROL_OWNER)
        if owner != before.number(Status.CONTROL_OWNER) and owner is not None:
            self._event("owner", f"is now controlled by {OWNERS.get(owner, f'owner {owner}')}", owner == 1)

    def _battery_low(self, state: CameraState) -> bool:
        return bool(snapshot_fields(state, self.settings.min_battery_percent, 0)["battery_low"])

    def explained(self, failure: str) -> str:
        """A command's failure, with the reason the camera itself shows when there is one."""
        if self.state is not None and self.state.number(Status.CONTROL_OWNER) == 1:
            return f"{failure} (someone is in its menus: it refuses commands until they leave them)"
        return failure

    def _event(self, kind: str, text: str, problem: bool = True) -> None:
        self.on_event(CameraEvent(self.key, kind, text, time.time(), problem))

    def mark_offline(self, error: Exception | str) -> None:
        if self.online and not isinstance(error, CameraRebooted):  # a reboot was told as it was seen
            self._event("lost", f"stopped answering (asleep, switched off or unplugged?): {error}")
        self.online = False
        self.last_error = str(error)
        self.next_attempt = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_S)

    async def poll(self) -> None:
        """Read state over the warm socket. A camera that forgot wired control was rebooted (by
        itself or by hand): it goes through bring-up again, as a camera that comes back does."""
        controlled = self.state.number(Status.USB_CONTROLLED) if self.state else None
        state = await self.read_state()
        if controlled == 1 and state.number(Status.USB_CONTROLLED) == 0:
            self._event("rebooted", "rebooted (its wired control was reset): bringing it up again")
            raise CameraRebooted("rebooted")

    async def keep_alive(self) -> None:
        await self.client.keep_alive()
        self.last_keep_alive = time.monotonic()

    async def read_state(self) -> CameraState:
        """The camera's state; the link is online once it answers."""
        state = await self.client.state()
        self.mark_online(state)
        return state

    def snapshot(self) -> CameraSnapshot:
        fields = (
            snapshot_fields(self.state, self.settings.min_battery_percent, self.settings.min_sd_minutes)
            if self.state and self.online
            else {}
        )
        return CameraSnapshot(
            key=self.key,
            serial=self.serial,
            model=self.model,
            firmware=self.firmware,
            host=self.endpoint.host,
            port=self.endpoint.port,
            online=self.online,
            clock_offset_s=self.clock_offset_s,
            clash=self.clash,
            should_record=self.should_record,
            clock_off=self.clock_offset_s is not None and abs(self.clock_offset_s) > self.settings.clock_tolerance_s,
            last_error=self.last_error,
            updated=self.updated,
            **fields,  # type: ignore[arg-type]
        )

    async def close(self) -> None:
        await self.client.close()


async def _restore(link: CameraLink) -> str:
    await link.restore_power_down()
    return "its Auto Power Down is back"


def model_from_state(state: CameraState) -> str | None:
    """HERO10/11 have no info endpoint; their status keys tell them apart (104 only on HERO10,
    99 'live bursts' only up to HERO11)."""
    if 104 in state.status:
        return "HERO10"
    if 99 in state.status:
        return "HERO11"
    return None


class Rig:
    def __init__(self, settings: RigSettings | None = None) -> None:
        self.settings = settings or RigSettings()
        self.links: dict[str, CameraLink] = {}  # by address
        self.on_event: Callable[[CameraEvent], None] = lambda event: None  # what cameras do unasked

    # -- membership -----------------------------------------------------------------------------
    async def add(self, endpoints: Iterable[Endpoint]) -> list[Outcome]:
        """Add cameras and bring them up concurrently; cameras that fail are kept and retried."""
        new = []
        for endpoint in endpoints:
            if endpoint.address not in self.links:
                link = CameraLink(endpoint, self.settings)
                link.on_event = lambda event: self.on_event(event)
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
        await self.each([link for link in self.links.values() if link.power_down is not None], _restore, timeout=5)
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
                return Outcome(link.key, False, link.explained(str(exc)))
            except Exception as exc:  # one camera's surprise is its own failure, never the rig's; the log has it
                log.debug("%s: unexpected failure", link.key, exc_info=True)  # -v shows where
                return Outcome(link.key, False, f"internal error: {type(exc).__name__}: {shown(str(exc))}")
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

    def split_online(self, links: list[CameraLink]) -> tuple[list[CameraLink], list[Outcome]]:
        """The online cameras, and a failed outcome for each offline one."""
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
            except Exception as exc:
                log.debug("%s: unexpected failure while polling", link.key, exc_info=True)  # -v shows where
                link.mark_offline(f"internal error: {type(exc).__name__}")

        await asyncio.gather(*(refresh(link) for link in self.links.values() if link.online))
        return self.snapshots()

    async def _reconnect(self, link: CameraLink) -> None:
        try:
            await asyncio.wait_for(link.connect(), self.settings.request_timeout_s * 2)
            log.info("%s is back", link.key)
        except (CameraError, TimeoutError) as exc:
            link.mark_offline(exc if isinstance(exc, CameraError) else "bring-up did not finish in time")
        except Exception as exc:
            log.debug("%s: unexpected failure while reconnecting", link.key, exc_info=True)  # -v shows where
            link.mark_offline(f"internal error: {type(exc).__name__}")
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

    def find(self, key: str) -> CameraLink:
        matches = self.cameras([key])
        if len(matches) != 1:
            raise CameraError(f"no single camera matches {key!r}" if matches else f"no camera {key!r} in the rig")
        return matches[0]

    async def release(
        self, links: list[CameraLink], targets: list[str], *, at: float | None = None, delays: list[float] | None = None
    ) -> tuple[Release, list[WarmReply | CameraError]]:
        """Send each camera its request over its warm socket, all back to back (at `at`, a time.time();
        each `delays[i]` seconds after the first, if given)."""
        return await release(
            [link.client.warm for link in links],
            targets,
            timeout=self.settings.request_timeout_s,
            connect_timeout=self.settings.connect_timeout_s,
            at=at,
            delays=delays,
        )
