"""Several host PCs, one rig: an agent on each ([[hosts]]), every action fanned out to all of them,
their per-camera outcomes merged (each camera named HOST/CAMERA), each host's clock measured against
this computer's, and a record started at one common instant on every host's own clock.

A host that cannot be reached, or drops off during an action, fails alone: its cameras are reported
with why, and the other hosts carry on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rigtui.config import Config, HostConfig
from rigtui.gopro.rig import Outcome
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.errors import UsageError
from rigtui.ops.format import Confirmation
from rigtui.ops.report import Line
from rigtui.remote.hostlink import HostEndpoint, HostError, HostEvent, HostLink
from rigtui.text import shown

CLOCK_ROUNDS = 12  # `clock` round trips per host
CLOCK_BEST = 5  # the offsets of the quickest round trips, whose median counts
PREPARE_S = 0.75  # what an agent needs before a release: a fresh poll, the readiness check, the take logged
HELLO_TIMEOUT_S = 90.0  # an agent finds and brings up its cameras before it answers
ACTION_TIMEOUT_S = 120.0  # record, stop (each camera confirms within seconds)
OFFLOAD_TIMEOUT_S = 7 * 86_400.0  # an offload takes as long as its footage does
POLL_S = 1.0  # a status from every host about this often
STATUS_TIMEOUT_S = 3.0  # a host slower than this to answer a poll shows its cameras offline meanwhile
MAX_TEXT = 300  # characters of any text field from an agent's snapshot


def host_key(host: str, camera: object) -> str:
    """A camera's key across hosts: HOST/CAMERA (camera keys never hold a slash)."""
    return f"{host}/{camera}"


def split_host_key(key: str) -> tuple[str, str]:
    """(host, camera) of a HOST/CAMERA key; ("", key) for a camera of this computer."""
    host, sep, camera = key.partition("/")
    return (host, camera) if sep else ("", key)


def host_endpoint(host: HostConfig) -> HostEndpoint:
    return HostEndpoint(host.name, host.ssh, host.command, tuple(host.cameras), host.direct, host.identity_file or None)


def chosen_hosts(config: Config, names: Iterable[str] | None = None) -> list[HostEndpoint]:
    """The [[hosts]] of config.toml, or those named (each must exist)."""
    if not config.hosts:
        raise UsageError("no [[hosts]] in config.toml: list each host PC as a [[hosts]] table")
    wanted = [n for n in names or [] if n]
    known = {h.name: h for h in config.hosts}
    missing = [n for n in wanted if n not in known]
    if missing:
        raise UsageError(f"no [[hosts]] entry named {', '.join(missing)} (known: {', '.join(known)})")
    for host in config.hosts:
        if not host.direct and not host.ssh:
            raise config.error("hosts", "ssh", f"host {host.name!r} needs ssh (or direct = true)")
    return [host_endpoint(known[n]) for n in wanted] if wanted else [host_endpoint(h) for h in config.hosts]


@dataclass(frozen=True)
class HostClock:
    """A host's clock against this computer's: positive offset, the host's clock is ahead."""

    offset_ms: float
    rtt_ms: float  # the quickest round trip
    samples: int

    @property
    def uncertainty_ms(self) -> float:
        """The most the offset can be wrong by: half the quickest round trip."""
        return self.rtt_ms / 2

    def to_json(self) -> dict[str, object]:
        return {
            "offset_ms": round(self.offset_ms, 3),
            "rtt_ms": round(self.rtt_ms, 3),
            "uncertainty_ms": round(self.uncertainty_ms, 3),
            "samples": self.samples,
        }


def clock_from(samples: list[tuple[float, float]]) -> HostClock:
    """The offset from (round trip, offset) samples: the median offset of the quickest round trips,
    each offset taken against the middle of its round trip."""
    best = sorted(samples)[:CLOCK_BEST]
    return HostClock(statistics.median(offset for _, offset in best) * 1000, best[0][0] * 1000, len(samples))


@dataclass
class HostResult:
    """One host's part of an action."""

    name: str
    ok: bool
    error: str | None = None
    clock: HostClock | None = None
    reply: dict[str, Any] = field(default_factory=dict)  # the agent's reply, as it gave it
    lines: list[Line] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.name,
            "ok": self.ok,
            "error": self.error,
            "clock": self.clock.to_json() if self.clock else None,
            **{k: v for k, v in self.reply.items() if k not in ("v", "id", "ok")},
        }


@dataclass(frozen=True)
class HostsReport:
    verb: str
    hosts: list[HostResult]
    outcomes: list[Outcome]  # every camera, as HOST/CAMERA
    problems: list[str] = field(default_factory=list)  # what refused the action before any host acted
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and all(h.ok for h in self.hosts) and all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def refused(self) -> bool:
        """Nothing was done: the readiness or clock checks said no (forcing would go ahead)."""
        return bool(self.problems) and not self.outcomes

    def lines(self, force_hint: str = "pass --force") -> list[Line]:
        return status_lines(self) if self.verb == "status" else report_lines(self, force_hint)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "verb": self.verb,
            "hosts": [h.to_json() for h in self.hosts],
            "outcomes": [o.to_json() for o in self.outcomes],
            "problems": self.problems,
            "warnings": self.warnings,
            **self.extra,
        }


@dataclass(frozen=True)
class HostsFormatPlan:
    """Every host's format plan: what each card holds, and the one question for all of them."""

    hosts: list[HostResult]

    def lines(self) -> list[Line]:
        found = []
        for result in self.hosts:
            items = result.reply.get("lines") if isinstance(result.reply.get("lines"), list) else []
            texts = [i for i in items if isinstance(i, dict) and isinstance(i.get("text"), str)]
            found += [Line(f"{result.name}/{shown(i['text'], 300)}", i.get("problem") is True) for i in texts]
            if not result.reply:
                found.append(Line(f"left out  {result.name}: {result.error}", True))
        return found

    def refusal(self) -> str | None:
        """Why nothing will be erased on any host (None when every host's plan may go ahead)."""
        refused = []
        for result in self.hosts:
            why = result.reply.get("refusal")
            if not result.reply:
                refused.append(f"{result.name} cannot be reached")
            elif not result.ok:
                refused.append(f"{result.name}: {shown(str(why or 'refused'), 200)}")
        return f"format: refused on every host; {'; '.join(refused)}" if refused else None

    def confirmation(self) -> Confirmation | None:
        """None when refused; else one question: typed (the number of cameras of every host) when
        footage would be lost on any host."""
        if self.refusal() is not None or not self.hosts:
            return None
        questions = {r.name: r.reply["question"] for r in self.hosts}
        count = sum(n for r in self.hosts if isinstance(n := r.reply.get("erasable"), int) and n > 0)
        texts = " ".join(f"{name}: {shown(str(q.get('question', '')), 300)}" for name, q in questions.items())
        if any(q.get("typed") for q in questions.values()):
            return Confirmation(f"{texts} Across hosts, type the number of cameras to erase ({count})", str(count))
        return Confirmation(f"{texts} Erase the cards of {count} camera(s) on {len(self.hosts)} host(s)?")

    def tokens(self) -> dict[str, str]:
        return {r.name: str(r.reply["token"]) for r in self.hosts if isinstance(r.reply.get("token"), str)}


@dataclass(frozen=True)
class HostsCheck:
    ready: bool
    verdict: str
    lines: list[Line]


class Hosts:
    """A link to every chosen host's agent. `open()` starts them all (a host that cannot be reached
    is reported, not raised), each action fans out to the hosts online, `close()` ends the agents."""

    def __init__(
        self,
        config: Config,
        endpoints: list[HostEndpoint],
        on_event: Callable[[HostEvent], None] | None = None,
    ) -> None:
        self.config = config
        known_hosts = [config.remote.known_hosts] if config.remote.known_hosts else None
        self.links = [
            HostLink(e, connect_timeout_s=config.remote.connect_timeout_s, known_hosts=known_hosts, on_event=on_event)
            for e in endpoints
        ]
        self.hello: dict[str, dict[str, Any]] = {}
        self.cameras: dict[str, list[str]] = {}  # host -> its cameras' keys, as last heard
        self.last: dict[str, list[CameraSnapshot]] = {}  # host -> its cameras as last polled (keys HOST/CAMERA)
        self.poll_errors: dict[str, str] = {}  # host -> why its last poll failed (the link itself may be up)

    async def open(self) -> None:
        async def start(link: HostLink) -> None:
            try:
                await link.start()
                self.hello[link.name] = hello = await link.request("hello", HELLO_TIMEOUT_S)
                self.cameras[link.name] = [str(key) for key in hello.get("cameras", []) if isinstance(key, str)]
            except HostError:
                pass  # the link is offline and says why

        await asyncio.gather(*(start(link) for link in self.links))

    async def close(self) -> None:
        await asyncio.gather(*(link.close() for link in self.links), return_exceptions=True)

    def link_lines(self) -> list[Line]:
        """Each host's agent after `open()`: up with its cameras, or why not."""
        return [
            Line(f"{link.name}: agent up, {len(self.cameras.get(link.name, []))} cameras")
            if link.online
            else Line(f"{link.name}: offline ({link.error})", True)
            for link in self.links
        ]

    # -- live status --------------------------------------------------------------------------------
    async def poll_forever(self, on_tick: Callable[[list[CameraSnapshot]], None]) -> None:
        """Every host polled about once a second, each on its own loop (a slow host delays only its own
        rows); after each host's poll, `on_tick` gets every host's cameras."""

        async def host_loop(link: HostLink) -> None:
            while True:
                started = time.monotonic()
                await self.poll(link)
                on_tick(self.snapshots())
                await asyncio.sleep(max(0.0, POLL_S - (time.monotonic() - started)))

        await asyncio.gather(*(host_loop(link) for link in self.links))

    async def poll_all(self) -> None:
        """Every host's status now (after an action, so what the operator sees next is its result)."""
        await asyncio.gather(*(self.poll(link) for link in self.links))

    async def poll(self, link: HostLink) -> None:
        """One host's status, within STATUS_TIMEOUT_S: its cameras, or why they are not known now."""
        try:
            reply = await link.request("status", STATUS_TIMEOUT_S)
        except HostError as exc:
            self.poll_errors[link.name] = str(exc)
            return
        found = snapshots_from_status(link.name, reply)
        if found is None:
            self.poll_errors[link.name] = f"{link.name}: status reply not understood"
            return
        self.poll_errors.pop(link.name, None)
        self.last[link.name] = found
        self.cameras[link.name] = [split_host_key(s.key)[1] for s in found]

    def snapshots(self) -> list[CameraSnapshot]:
        """Every host's cameras (keys HOST/CAMERA); a host offline, or whose poll failed, shows its
        last-known cameras offline with why."""
        return [snapshot for link in self.links for snapshot in self._host_snapshots(link)]

    def _host_error(self, link: HostLink) -> str | None:
        return f"{link.name}: offline ({link.error})" if not link.online else self.poll_errors.get(link.name)

    def _host_snapshots(self, link: HostLink) -> list[CameraSnapshot]:
        error = self._host_error(link)
        known = self.last.get(link.name)
        if known is None:  # never polled: the cameras its hello named
            known = [_unknown_camera(host_key(link.name, key)) for key in self.cameras.get(link.name, [])]
            error = error or f"{link.name}: waiting for the first status"
        if error is None:
            return known
        return [dataclasses.replace(s, online=False, busy=False, last_error=error) for s in known]

    def host_summary(self) -> str:
        """One part per host: `stage-left 25/25 · stage-right 24/25 (1 offline)`."""
        parts = []
        for link in self.links:
            cameras = self._host_snapshots(link)
            online = sum(1 for s in cameras if s.online)
            if not link.online:
                why = "host offline"
            elif link.name in self.poll_errors:
                why = "no status"
            else:
                why = f"{len(cameras) - online} offline" if online < len(cameras) else ""
            parts.append(f"{link.name} {online}/{len(cameras)}" + (f" ({why})" if why else ""))
        return " · ".join(parts)

    def _offline(self, link: HostLink, error: str | None = None) -> HostResult:
        return HostResult(link.name, False, error or f"{link.name}: offline ({link.error})")

    async def _each(
        self, work: Callable[[HostLink], Awaitable[HostResult]], links: list[HostLink] | None = None
    ) -> list[HostResult]:
        """`work` on every host at once; a host that fails (or drops off meanwhile) fails alone."""

        async def one(link: HostLink) -> HostResult:
            if not link.online:
                return self._offline(link)
            try:
                return await work(link)
            except HostError as exc:
                return self._offline(link, str(exc))

        return list(await asyncio.gather(*(one(link) for link in links or self.links)))

    def _camera_outcomes(self, result: HostResult, report: dict[str, Any] | None) -> list[Outcome]:
        """The host's cameras as HOST/CAMERA outcomes: from its report, or all failed with the host's error."""
        if report is None:
            return [
                Outcome(host_key(result.name, key), False, result.error or "host failed")
                for key in self.cameras.get(result.name, [])
            ] or [Outcome(f"{result.name}/*", False, result.error or "host failed")]
        outcomes = []
        for item in report.get("outcomes", []):
            if isinstance(item, dict):
                ms = item.get("response_ms")
                outcomes.append(
                    Outcome(
                        host_key(result.name, item.get("camera")),
                        item.get("ok") is True,
                        str(item.get("detail", "")),
                        ms if isinstance(ms, int | float) else None,
                    )
                )
        return outcomes

    # -- status -------------------------------------------------------------------------------------
    async def status(self) -> HostsReport:
        async def one(link: HostLink) -> HostResult:
            reply = await link.request("status", ACTION_TIMEOUT_S)
            try:  # how the host keeps its clock (chrony or PTP), as the host itself sees it
                reply = {**reply, "sync": await link.request("sync_state", ACTION_TIMEOUT_S)}
            except HostError as exc:
                reply = {**reply, "sync": {"source": "unknown", "why": str(exc)}}
            cameras = [c for c in reply.get("cameras", []) if isinstance(c, dict)]
            self.cameras[link.name] = [str(c.get("key")) for c in cameras]
            online = all(c.get("online") for c in cameras)
            return HostResult(link.name, online, None if online else "some cameras offline", reply=reply)

        results = await self._each(one)
        return HostsReport("status", results, [], warnings=_status_warnings(results))

    # -- clocks -------------------------------------------------------------------------------------
    async def measure_clocks(self, rounds: int = CLOCK_ROUNDS) -> dict[str, HostClock | str]:
        """Each host's offset and round trip (or why it could not be measured)."""

        async def one(link: HostLink) -> HostClock | str:
            samples = []
            try:
                for _ in range(rounds):
                    sent = time.time()
                    reply = await link.request("clock", 10.0)
                    came = time.time()
                    told = reply.get("time")
                    if not isinstance(told, int | float):
                        return f"{link.name}: clock reply without a time"
                    samples.append((came - sent, told - (sent + came) / 2))
            except HostError as exc:
                return str(exc)
            return clock_from(samples)

        found = await asyncio.gather(*(one(link) for link in self.links if link.online))
        return dict(zip([link.name for link in self.links if link.online], found, strict=True))

    # -- record and stop ----------------------------------------------------------------------------
    async def record(self, *, force: bool = False, margin_ms: float | None = None) -> HostsReport:
        """Every host's cameras started at one instant: readiness and clocks checked on every host
        first (refused unless `force`), the instant `margin` ahead, told to each host on its clock."""
        statuses = await self.status()
        clocks = await self.measure_clocks()
        limit = self.config.rig.max_host_offset_ms
        problems = [str(h.error) for h in statuses.hosts if not h.reply]
        problems += [f"{h.name}/{p}" for h in statuses.hosts for p in h.reply.get("problems", [])]
        problems += [c for c in clocks.values() if isinstance(c, str)]
        problems += [
            f"{name}: clock {c.offset_ms:+.1f} ms off this computer's (limit [rig] max_host_offset_ms = {limit:g}): "
            "check its chrony or PTP"
            for name, c in clocks.items()
            if isinstance(c, HostClock) and abs(c.offset_ms) > limit
        ]
        measured = {name: c for name, c in clocks.items() if isinstance(c, HostClock)}
        disciplines = {h.name: discipline_text(h.reply.get("sync")) for h in statuses.hosts if h.reply}
        if problems and not force:
            results = [HostResult(h.name, h.ok, h.error, measured.get(h.name)) for h in statuses.hosts]
            extra = {"clocks": _clocks_json(measured), "disciplines": disciplines}
            return HostsReport("record", results, [], problems, extra=extra)
        links = [link for link in self.links if link.name in measured]
        rtt_s = max((c.rtt_ms for c in measured.values()), default=0.0) / 1000
        margin_s = rtt_s * 3 + PREPARE_S if margin_ms is None else margin_ms / 1000
        start_at = time.time() + margin_s

        async def one(link: HostLink) -> HostResult:
            clock = measured[link.name]
            at = start_at + clock.offset_ms / 1000  # the same instant on the host's own clock
            reply = await link.request("record", ACTION_TIMEOUT_S, at=at, force=force)
            report = reply.get("report") if isinstance(reply.get("report"), dict) else {}
            return HostResult(link.name, bool(report.get("ok")), _host_error(report), clock, reply)

        results = await self._each(one, links)
        results += [
            HostResult(
                link.name, False, f"{link.name}: offline ({link.error})" if not link.online else str(clocks[link.name])
            )
            for link in self.links
            if link not in links
        ]
        report = self._shutter_report("record", results, start_at, measured, margin_s)
        report.extra["disciplines"] = disciplines
        return report

    async def stop(self) -> HostsReport:
        return await self._everywhere("stop", "stop")

    async def sync_time(self) -> HostsReport:
        """Every camera's clock set to its host's: the hosts' clocks are kept together by chrony or PTP."""
        return await self._everywhere("sync_time", "sync time")

    async def power_off(self) -> HostsReport:
        return await self._everywhere("power_off", "power off")

    async def check(self) -> HostsCheck:
        """Every host's preflight report, one after another in the text; ready only when every host is."""

        async def one(link: HostLink) -> HostResult:
            reply = await link.request("check", ACTION_TIMEOUT_S)
            report = reply.get("report") if isinstance(reply.get("report"), dict) else {}
            return HostResult(link.name, report.get("ready") is True, None, reply=reply)

        results = await self._each(one)
        lines: list[Line] = []
        for result in results:
            found = result.reply.get("lines") if isinstance(result.reply.get("lines"), list) else []
            texts = [i for i in found if isinstance(i, dict) and isinstance(i.get("text"), str)]
            lines.append(Line(f"{result.name}: {'ready' if result.ok else 'NOT READY'}", not result.ok))
            lines += [Line(f"  {shown(i['text'], 300)}", i.get("problem") is True) for i in texts]
            if not result.reply:
                lines.append(Line(f"  {result.error}", True))
        ready = bool(results) and all(r.ok for r in results)
        not_ready = [r.name for r in results if not r.ok]
        verdict = f"READY: {len(results)} host(s)" if ready else f"NOT READY: {', '.join(not_ready)}"
        return HostsCheck(ready, verdict, lines)

    # -- settings -------------------------------------------------------------------------------------
    async def copy_settings(self, prime: str) -> HostsReport:
        """The prime (HOST/CAMERA) read on its host, then its settings copied onto every other camera
        of every host, each host's cameras by that host's agent."""
        host, camera = split_host_key(prime)
        link = next((link for link in self.links if link.name == host), None)
        if link is None or not camera:
            return HostsReport("copy settings", [], [], [f"prime {prime!r} is not a HOST/CAMERA of these hosts"])
        try:
            settings = (await link.request("prime_settings", ACTION_TIMEOUT_S, camera=camera)).get("prime")
        except HostError as exc:
            return HostsReport("copy settings", [], [], [f"prime: {exc}"])

        async def one(target: HostLink) -> HostResult:
            reply = await target.request("copy_settings", ACTION_TIMEOUT_S, prime=settings)
            report = reply.get("report") if isinstance(reply.get("report"), dict) else {}
            return HostResult(target.name, bool(report.get("ok")), _host_error(report), reply=reply)

        return self._shutter_report("copy settings", await self._each(one), None, {}, None)

    # -- format ---------------------------------------------------------------------------------------
    async def plan_format(self, *, force: bool = False) -> HostsFormatPlan:
        """Every host plans its cards' erase as `rigtui format` does. Across hosts the plan may go ahead
        only when every host's may (a host that refuses, or cannot be reached, refuses it all)."""

        async def one(link: HostLink) -> HostResult:
            reply = await link.request("format_plan", ACTION_TIMEOUT_S, force=force)
            return HostResult(link.name, isinstance(reply.get("question"), dict), None, reply=reply)

        results = await self._each(one, list(self.links))
        return HostsFormatPlan(results)

    async def execute_format(self, plan: HostsFormatPlan) -> HostsReport:
        """Carry out every host's plan; each agent reads its cards again before it erases anything."""
        tokens = plan.tokens()

        async def one(link: HostLink) -> HostResult:
            reply = await link.request("format_execute", ACTION_TIMEOUT_S, token=tokens[link.name])
            report = reply.get("report") if isinstance(reply.get("report"), dict) else {}
            return HostResult(link.name, bool(report.get("ok")), _host_error(report), reply=reply)

        links = [link for link in self.links if link.name in tokens]
        return self._shutter_report("format", await self._each(one, links), None, {}, None)

    async def _everywhere(self, op: str, verb: str) -> HostsReport:
        """One op on every host at once, each camera's outcome merged."""

        async def one(link: HostLink) -> HostResult:
            reply = await link.request(op, ACTION_TIMEOUT_S)
            report = reply.get("report") if isinstance(reply.get("report"), dict) else {}
            return HostResult(link.name, bool(report.get("ok")), _host_error(report), reply=reply)

        return self._shutter_report(verb, await self._each(one), None, {}, None)

    def _shutter_report(
        self,
        verb: str,
        results: list[HostResult],
        start_at: float | None,
        clocks: dict[str, HostClock],
        margin_s: float | None,
    ) -> HostsReport:
        outcomes: list[Outcome] = []
        problems: list[str] = []
        warnings: list[str] = []
        for result in results:
            report = result.reply.get("report") if isinstance(result.reply.get("report"), dict) else None
            outcomes += self._camera_outcomes(result, report)
            if report is not None:
                problems += [f"{result.name}: {p}" for p in report.get("problems", [])]
                warnings += [f"{result.name}: {w}" for w in report.get("warnings", [])]
            late = result.reply.get("late_ms")
            if isinstance(late, int | float) and late > 1.0:
                warnings.append(
                    f"{result.name}: released {late:.1f} ms late (its preparation took longer than the margin)"
                )
        extra: dict[str, object] = {}
        if start_at is not None:
            extra = {
                "start_at": start_at,
                "margin_ms": round((margin_s or 0) * 1000, 1),
                "clocks": _clocks_json(clocks),
            }
            extra |= _spread(results, clocks)
        return HostsReport(verb, results, outcomes, problems, warnings, extra)

    # -- offload ------------------------------------------------------------------------------------
    async def offload(self, dest: list[str]) -> HostsReport:
        """Each host offloads its own cameras into `dest` on its own disks; `{host}` in a folder
        stands for the host's name (one shared volume, a folder per host)."""

        async def one(link: HostLink) -> HostResult:
            folders = [folder.replace("{host}", link.name) for folder in dest]
            reply = await link.request("offload", OFFLOAD_TIMEOUT_S, dest=folders)
            report = reply.get("report") if isinstance(reply.get("report"), dict) else {}
            lines = [
                Line(f"{link.name}: {item.get('text')}", bool(item.get("problem")))
                for item in reply.get("lines", [])
                if isinstance(item, dict)
            ]
            files = [f for f in report.get("files", []) if isinstance(f, dict)]
            failed = sum(1 for f in files if f.get("state") != "verified")
            error = None if report.get("ok") else f"{failed} of {len(files)} files not verified"
            return HostResult(link.name, bool(report.get("ok")), error, reply=reply, lines=lines)

        results = await self._each(one)
        outcomes = []
        for result in results:
            files = result.reply.get("report", {}).get("files", []) if result.reply else []
            if not result.reply:
                outcomes += self._camera_outcomes(result, None)
            outcomes += [
                Outcome(host_key(result.name, f.get("camera")), f.get("state") == "verified", _file_detail(f))
                for f in files
                if isinstance(f, dict)
            ]
        return HostsReport("offload", results, outcomes)


def _host_error(report: dict[str, Any]) -> str | None:
    if report.get("ok"):
        return None
    if report.get("problems"):
        return "refused: not ready"
    return "some cameras failed"


def _file_detail(item: dict[str, Any]) -> str:
    if item.get("state") == "verified":
        return f"verified {item.get('path')} -> {item.get('root')}/{item.get('dest')} ({item.get('size')} bytes)"
    return f"FAILED {item.get('path')}: {item.get('error')}"


def _clocks_json(clocks: dict[str, HostClock]) -> dict[str, object]:
    return {name: clock.to_json() for name, clock in clocks.items()}


def _spread(results: list[HostResult], clocks: dict[str, HostClock]) -> dict[str, object]:
    """How far apart the hosts' starts were: as measured (each host's release, brought to this
    computer's clock), and at worst (that, plus what the offsets may be wrong by)."""
    released = {}
    for result in results:
        at = result.reply.get("released_at")
        if isinstance(at, int | float) and result.name in clocks:
            released[result.name] = at - clocks[result.name].offset_ms / 1000
    dispatch = [
        r.reply["report"].get("dispatch_spread_ms") or 0.0 for r in results if isinstance(r.reply.get("report"), dict)
    ]
    if not released:
        return {}
    measured_ms = (max(released.values()) - min(released.values())) * 1000
    errors = sorted((clocks[name].uncertainty_ms for name in released), reverse=True)
    worst_ms = measured_ms + sum(errors[:2]) + max(dispatch, default=0.0)
    return {"host_spread_ms": round(measured_ms, 3), "worst_case_spread_ms": round(worst_ms, 3)}


def _status_warnings(results: list[HostResult]) -> list[str]:
    warnings = []
    for result in results:
        reply = result.reply
        warnings += [f"{result.name}: {c}" for c in reply.get("collisions", []) or []]
        if reply.get("clock_warning"):
            warnings.append(f"{result.name}: {reply['clock_warning']}")
    return warnings


def status_lines(report: HostsReport) -> list[Line]:
    """One line per host, then one per camera (HOST/CAMERA)."""
    lines = []
    for result in report.hosts:
        if not result.reply:
            lines.append(Line(f"{result.name}: OFFLINE {result.error}", True))
            continue
        cameras = [c for c in result.reply.get("cameras", []) if isinstance(c, dict)]
        online = sum(1 for c in cameras if c.get("online"))
        kept = discipline_text(result.reply.get("sync"))
        lines.append(Line(f"{result.name}: {online} of {len(cameras)} cameras online; {kept}", online < len(cameras)))
        for camera in cameras:
            lines.append(Line(_camera_line(result.name, camera), not camera.get("online")))
    return lines


def discipline_text(state: object) -> str:
    """A host's clock discipline in a few words, from its agent's sync_state (checked: any field may be
    missing or wrong)."""
    if not isinstance(state, dict):
        return "clock discipline not known"

    def number(key: str) -> float | None:
        value = state.get(key)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None

    if state.get("source") == "ptp" and (offset := number("master_offset_s")) is not None:
        return f"PTP, {offset * 1e6:+.1f} µs from grandmaster {shown(str(state.get('grandmaster')), 40)}"
    if state.get("source") == "chrony" and (offset := number("system_offset_s")) is not None:
        rms = number("rms_offset_s")
        reference = shown(str(state.get("reference")), 40)
        spread = f", rms {rms * 1000:.3f} ms" if rms is not None else ""
        return f"chrony ({reference}), offset {offset * 1000:+.3f} ms{spread}"
    why = state.get("why")
    return f"clock discipline not known ({shown(why, 80)})" if isinstance(why, str) else "clock discipline not known"


def _camera_line(host: str, c: dict[str, Any]) -> str:
    key = host_key(host, c.get("key"))
    if not c.get("online"):
        return f"  {key:32} OFFLINE {c.get('last_error') or ''}".rstrip()
    battery = "USB" if not c.get("battery_present") else f"{c.get('battery_percent')}%"
    rec = f"rec {c.get('recording_seconds')}s" if c.get("recording") else "idle"
    return f"  {key:32} {c.get('model') or '?':7} {battery:>5} {c.get('minutes_left')} min  {rec}"


def report_lines(report: HostsReport, force_hint: str = "pass --force") -> list[Line]:
    """A record, stop or offload: refusals, each camera, each host's clock and the spread, a summary."""
    lines = [Line(f"not ready  {p}", True) for p in report.problems]
    if report.refused:
        lines.append(Line(f"{report.verb}: refused; fix the above or {force_hint}", True))
    disciplines = report.extra.get("disciplines") or {}
    for name, clock in (report.extra.get("clocks") or {}).items():  # type: ignore[union-attr]
        kept = f"; {disciplines[name]}" if name in disciplines else ""  # type: ignore[operator]
        lines.append(
            Line(f"clock {name}: offset {clock['offset_ms']:+.3f} ms (round trip {clock['rtt_ms']:.3f} ms){kept}")
        )
    if report.verb == "offload":
        for result in report.hosts:
            lines += result.lines or [Line(f"FAILED {result.name}: {result.error}", True)]
    else:
        for outcome in report.outcomes:
            mark = "ok    " if outcome.ok else "FAILED"
            timing = f" ({outcome.response_ms:g} ms)" if outcome.response_ms is not None else ""
            lines.append(Line(f"{mark} {outcome.key:32} {outcome.detail}{timing}", not outcome.ok))
    for result in report.hosts:
        if not result.reply and result.error and report.outcomes:
            lines.append(Line(f"FAILED host {result.name}: {result.error}", True))
    if "host_spread_ms" in report.extra:
        lines.append(
            Line(
                f"start spread across hosts {report.extra['host_spread_ms']:.3f} ms measured, "
                f"{report.extra['worst_case_spread_ms']:.3f} ms at worst (margin {report.extra['margin_ms']:g} ms)"
            )
        )
    if report.outcomes:
        failed = len(report.failed)
        hosts_ok = sum(1 for h in report.hosts if h.ok)
        lines.append(
            Line(
                f"{report.verb}: {len(report.outcomes) - failed} of {len(report.outcomes)} ok on "
                f"{hosts_ok} of {len(report.hosts)} hosts",
                bool(failed) or hosts_ok < len(report.hosts),
            )
        )
    lines += [Line(f"warning: {w}") for w in report.warnings]
    return lines


# -- snapshots from an agent's status ------------------------------------------------------------------
# What each CameraSnapshot field may hold, by its annotation: a field with any other value is dropped.
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "int": (int,),
    "int | None": (int, type(None)),
    "bool": (bool,),
    "float | None": (float, int, type(None)),
}
SNAPSHOT_FIELDS = {f.name: FIELD_TYPES.get(str(f.type), ()) for f in dataclasses.fields(CameraSnapshot)}
REQUIRED = {"serial": None, "model": None, "firmware": None, "host": "", "port": 0, "online": False}


def snapshot_from_json(host: str, data: object) -> CameraSnapshot | None:
    """A camera of `host`'s status as a CameraSnapshot keyed HOST/CAMERA: known fields of the right
    type only (texts capped, numbers finite), None without a camera key."""
    if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not data["key"]:
        return None
    values: dict[str, object] = dict(REQUIRED)
    for name, value in data.items():
        kinds = SNAPSHOT_FIELDS.get(name) if isinstance(name, str) else None
        if not kinds or type(value) not in kinds:  # bool is no int here, nor int a bool
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, str):
            value = shown(value, MAX_TEXT)
        values[name] = float(value) if float in kinds and type(value) is int else value
    values["key"] = host_key(host, shown(data["key"], MAX_TEXT))
    return CameraSnapshot(**values)  # type: ignore[arg-type]


def snapshots_from_status(host: str, reply: object) -> list[CameraSnapshot] | None:
    """Every camera in a host's `status` reply, or None when the reply is not one."""
    cameras = reply.get("cameras") if isinstance(reply, dict) else None
    if not isinstance(cameras, list):
        return None
    found = [snapshot_from_json(host, item) for item in cameras]
    return [s for s in found if s is not None]


def _unknown_camera(key: str) -> CameraSnapshot:
    return CameraSnapshot(key, None, None, None, "", 0, False)
