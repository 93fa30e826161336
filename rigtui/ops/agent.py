"""`rigtui agent`: one host PC's cameras, held through a RigSession, served to a controller over a
versioned JSON-lines protocol (one request or reply per line, `"v": 1`).

Requests `{"v": 1, "id": N, "op": ...}`; replies `{"v": 1, "id": N, "ok": true, ...}` or `{"v": 1,
"id": N, "ok": false, "error": "one line"}`; events `{"v": 1, "event": "line" | "progress", ...}`.
| op | request fields | reply fields |
|---|---|---|
| hello | | agent (version), host, pid, protocols, cameras (keys) |
| status | | cameras (CameraSnapshot.to_json each), problems (readiness), collisions, clock_warning |
| clock | | time (the agent's time.time()) |
| sync_state | | source "ptp" (pmc: grandmaster, offset), else "chrony" (chronyc tracking), else "unknown" and why |
| record | at (epoch s, the agent's clock; optional), force | report (Report JSON), released_at, late_ms |
| stop | | report |
| sync_time | | report (every camera's clock set to this host's) |
| power_off | | report |
| check | | report (the preflight report JSON), lines (its text) |
| prime_settings | camera (this host's key) | prime (model, settings, preset) |
| copy_settings | prime (as prime_settings gives it) | report |
| format_plan | force | token, lines, erasable, refusal, question ({question, typed} or null) |
| format_execute | token (of the newest plan) | report (every card read again before anything is erased) |
| offload | dest (list of local folders; empty: [offload] destinations) | report (offload JSON), lines |
| bye | | (then the agent ends) |

Every request is answered, bad ones with an error (id null when it cannot be told): the agent keeps
serving until EOF or `bye`. Requests run concurrently, so a `clock` is answered at once during an
offload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rigtui import __version__
from rigtui.config import Config
from rigtui.gopro.errors import CameraError
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.check import check, check_options
from rigtui.ops.clock import sync_time
from rigtui.ops.errors import NothingFound, UsageError
from rigtui.ops.format import FormatPlan, execute_format, plan_format
from rigtui.ops.offload import OffloadRun, offload_options, open_ledger
from rigtui.ops.power import power_off
from rigtui.ops.report import Line
from rigtui.ops.rig import RigSession, status
from rigtui.ops.settings import PrimeSettings, copy_from, read_prime
from rigtui.ops.shutter import readiness, record, record_options, stop
from rigtui.remote.hostlink import PROTOCOL, REQUEST_LIMIT, ByteSource, read_lines
from rigtui.text import shown

logger = logging.getLogger(__name__)

PROTOCOLS = (PROTOCOL,)
PROGRESS_EVERY_S = 1.0  # offload progress events at most this often
MAX_AHEAD_S = 60.0  # a record `at` further ahead than this is refused (a controller's clock gone wrong)
PLAN_LIFETIME_S = 600.0  # a format plan older than this is planned again (the cards may have changed)
MAX_ERROR = 300  # characters of an error line
CLOCK_OFFSET_ENV = "RIGTUI_AGENT_CLOCK_OFFSET_S"  # tests: the agent's clock shifted by this many seconds
REPLY_DELAY_ENV = "RIGTUI_AGENT_REPLY_DELAY_S"  # tests: each reply sent this many seconds late (a slow link)
Message = dict[str, Any]


class BadRequest(Exception):
    """A request the agent cannot act on; str() is the error line the controller gets."""


def clock_offset_from_env() -> float:
    """The test-only clock shift (a host whose clock is off): the time `clock` reports and `record`
    schedules by is time.time() plus this."""
    return _seconds_from_env(CLOCK_OFFSET_ENV)


def reply_delay_from_env() -> float:
    """The test-only slow link: each reply is sent this many seconds late, half of it before the
    request is acted on (the request's way) and half after (the reply's way), as a link slow both
    ways delays them."""
    delay = _seconds_from_env(REPLY_DELAY_ENV)
    if delay < 0:
        raise UsageError(f"{REPLY_DELAY_ENV} must not be negative")
    return delay


def _seconds_from_env(name: str) -> float:
    text = os.environ.get(name, "")
    try:
        value = float(text) if text else 0.0
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise UsageError(f"{name} must be finite")
    return value


@dataclass(frozen=True)
class AgentOptions:
    clock_offset_s: float = 0.0
    log: ShotLog | None = None  # where takes are logged (the host's own shot log)
    reply_delay_s: float = field(default_factory=reply_delay_from_env)  # tests only: a slow link


class Agent:
    """The protocol over one session: `serve(lines, send)` until EOF or `bye`."""

    def __init__(self, session: RigSession, config: Config, options: AgentOptions | None = None) -> None:
        self.session, self.config = session, config
        self.options = options or AgentOptions()
        self._send: Callable[[Message], None] = lambda message: None
        self._tasks: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._plans: dict[str, tuple[FormatPlan, Ledger, float]] = {}  # format plans waiting for their execute

    def now(self) -> float:
        """The agent's clock (shifted in tests)."""
        return time.time() + self.options.clock_offset_s

    def event(self, line: Line) -> None:
        """A camera event from the session, passed on to the controller."""
        self._send({"v": PROTOCOL, "event": "line", "text": line.text, "problem": line.problem})

    async def serve(self, source: ByteSource, send: Callable[[Message], None]) -> None:
        """Answer every request line from `source` until EOF or `bye`; replies go through `send`.
        Served again for the next controller that attaches (a service holds its cameras meanwhile)."""
        self._send, self._done = send, asyncio.Event()
        reading = asyncio.ensure_future(self._read(source))
        ended = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait({reading, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, ended, *self._tasks):
                task.cancel()
            await asyncio.gather(reading, ended, *self._tasks, return_exceptions=True)
            self._send = lambda message: None  # events while nobody is attached go nowhere

    async def _read(self, source: ByteSource) -> None:
        async for line in read_lines(source, REQUEST_LIMIT):
            if line is None:
                self._send(_error(None, f"request line of {REQUEST_LIMIT} bytes or more: refused"))
            elif line.strip():
                task = asyncio.ensure_future(self._answer(line))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _answer(self, line: bytes) -> None:
        number: int | None = None
        half_delay = self.options.reply_delay_s / 2
        try:
            if half_delay:
                await asyncio.sleep(half_delay)
            request = _decode(line)
            number = request["id"]
            fields = await self._dispatch(request)
            if half_delay:
                await asyncio.sleep(half_delay)
            self._send({"v": PROTOCOL, "id": number, "ok": True, **fields})
        except BadRequest as exc:
            self._send(_error(number if number is not None else _id_of(line), str(exc)))
        except (UsageError, NothingFound) as exc:
            self._send(_error(number, str(exc)))
        except Exception as exc:  # a bug: one line for the controller, the traceback on stderr
            logger.exception("request failed")
            self._send(_error(number, f"unexpected {type(exc).__name__}: {exc}"))

    async def _dispatch(self, request: Message) -> Message:
        op = request["op"]
        handlers: dict[str, Callable[[Message], Awaitable[Message]]] = {
            "hello": self.hello,
            "status": self.status,
            "clock": self.clock,
            "sync_state": self.sync_state,
            "record": self.record,
            "stop": self.stop,
            "sync_time": self.sync_time,
            "power_off": self.power_off,
            "check": self.check,
            "prime_settings": self.prime_settings,
            "copy_settings": self.copy_settings,
            "format_plan": self.format_plan,
            "format_execute": self.format_execute,
            "offload": self.offload,
            "bye": self.bye,
        }
        if op not in handlers:
            raise BadRequest(f"unknown op {shown(op, 40)!r} (known: {', '.join(handlers)})")
        return await handlers[op](request)

    # -- ops ----------------------------------------------------------------------------------------
    async def hello(self, request: Message) -> Message:
        return {
            "agent": __version__,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "protocols": list(PROTOCOLS),
            "cameras": [link.key for link in self.session.rig.cameras()],
        }

    async def status(self, request: Message) -> Message:
        report = status(self.session.rig)
        return {
            "cameras": [s.to_json() for s in report.snapshots],
            "problems": [line for s in report.snapshots for line in readiness(s)],
            "collisions": report.collisions,
            "clock_warning": report.clock_warning,
        }

    async def clock(self, request: Message) -> Message:
        return {"time": self.now()}

    async def sync_state(self, request: Message) -> Message:
        return await asyncio.to_thread(clock_discipline)

    async def record(self, request: Message) -> Message:
        at = _number(request, "at")
        force = _flag(request, "force")
        if at is not None and at > self.now() + MAX_AHEAD_S:
            raise BadRequest(f"at is more than {MAX_AHEAD_S:g} s ahead of this host's clock")
        real_at = None if at is None else at - self.options.clock_offset_s
        options = replace(record_options(self.config, self.options.log or ShotLog(), force=force), at=real_at)
        report = await record(self.session.rig, None, options)
        reply: Message = {"report": report.to_json()}
        released = report.extra.get("released_at")
        if isinstance(released, float) and at is not None:
            reply["released_at"] = released + self.options.clock_offset_s
            reply["late_ms"] = round(max(0.0, released - real_at) * 1000, 3) if real_at is not None else 0.0
        return reply

    async def stop(self, request: Message) -> Message:
        report = await stop(self.session.rig, None, self.options.log or ShotLog())
        return {"report": report.to_json()}

    async def sync_time(self, request: Message) -> Message:
        """Every camera's clock set to this host's (which chrony or PTP keeps with the others')."""
        return {"report": (await sync_time(self.session.rig)).to_json()}

    async def power_off(self, request: Message) -> Message:
        return {"report": (await power_off(self.session.rig)).to_json()}

    async def check(self, request: Message) -> Message:
        """The preflight report of this host's cameras against this host's config.toml."""
        report = await check(self.session.rig, check_options(self.config, self.config.rig.prime))
        lines = report.lines(findings_first=True)
        return {"report": report.to_json(), "lines": [{"text": line.text, "problem": line.problem} for line in lines]}

    async def prime_settings(self, request: Message) -> Message:
        """The settings of one of this host's cameras, for copying onto every host's cameras."""
        camera = request.get("camera")
        if not isinstance(camera, str):
            raise BadRequest("camera must be a camera's key")
        try:
            return {"prime": (await read_prime(self.session.rig, camera)).to_json()}
        except CameraError as exc:
            raise BadRequest(f"prime: {exc}") from None

    async def copy_settings(self, request: Message) -> Message:
        try:
            prime = PrimeSettings.from_json(request.get("prime"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return {"report": (await copy_from(self.session.rig, prime)).to_json()}

    async def format_plan(self, request: Message) -> Message:
        """Read every card and plan its erase, as `rigtui format` does; the plan waits here, under a
        token, for `format_execute` (which reads every card again before it erases anything)."""
        ledger = await asyncio.to_thread(open_ledger, self.config)
        plan = await plan_format(self.session.rig, ledger, None, force=_flag(request, "force"), log=self.options.log)
        token = secrets.token_hex(8)
        self._plans = {token: (plan, ledger, time.monotonic())}  # only the newest plan can be carried out
        question = plan.confirmation()
        return {
            "token": token,
            "lines": [{"text": line.text, "problem": line.problem} for line in plan.lines()],
            "erasable": len(plan.erasable),
            "refusal": plan.refusal(),
            "question": None if question is None else {"question": question.question, "typed": question.typed},
        }

    async def format_execute(self, request: Message) -> Message:
        token = request.get("token")
        plan, ledger, made = self._plans.pop(token, (None, None, 0.0)) if isinstance(token, str) else (None, None, 0.0)
        if plan is None or ledger is None or time.monotonic() - made > PLAN_LIFETIME_S:
            raise BadRequest("no such format plan here (plan again: a plan is carried out once, within 10 minutes)")
        if plan.confirmation() is None:
            raise BadRequest(plan.refusal() or "format: refused")
        return {"report": (await execute_format(self.session.rig, ledger, plan)).to_json()}

    async def offload(self, request: Message) -> Message:
        dest = request.get("dest", [])
        if not isinstance(dest, list) or not all(isinstance(d, str) for d in dest):
            raise BadRequest("dest must be a list of folder names")
        options = offload_options(self.config, dest)
        ledger = await asyncio.to_thread(open_ledger, self.config)
        run = OffloadRun(self.session.rig, options, ledger, log=self.options.log or ShotLog())
        lines = await run.prepare()
        work = asyncio.ensure_future(run.run())
        while not (await asyncio.wait({work}, timeout=PROGRESS_EVERY_S))[0]:
            self._send({"v": PROTOCOL, "event": "progress", "text": run.rate()})
        report = work.result()
        return {
            "report": report.to_json(options.prefix),
            "lines": [{"text": line.text, "problem": line.problem} for line in [*lines, *report.lines()]],
        }

    async def bye(self, request: Message) -> Message:
        asyncio.get_running_loop().call_soon(self._done.set)  # after the reply is sent
        return {}


def _decode(line: bytes) -> Message:
    """A request, checked: an object with the version this agent speaks, an integer id and an op."""
    try:
        request = json.loads(line)
    except ValueError:
        raise BadRequest("not JSON") from None
    if not isinstance(request, dict):
        raise BadRequest("a request is a JSON object")
    number = request.get("id")
    if number is not None and (type(number) is not int or not -(2**53) < number < 2**53):
        raise BadRequest("id must be an integer")
    version = request.get("v")
    if type(version) is not int or version not in PROTOCOLS:
        speaks = ", ".join(map(str, PROTOCOLS))
        raise BadRequest(f"unsupported protocol version {shown(str(version), 20)} (this agent speaks {speaks})")
    if not isinstance(request.get("op"), str):
        raise BadRequest("op must be a string")
    request.setdefault("id", None)
    return request


def _id_of(line: bytes) -> int | None:
    """The id of a request that failed its checks, when it has a usable one."""
    with contextlib.suppress(ValueError):
        request = json.loads(line)
        if isinstance(request, dict) and type(request.get("id")) is int and abs(request["id"]) < 2**53:
            return int(request["id"])
    return None


def _number(request: Message, key: str) -> float | None:
    value = request.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise BadRequest(f"{key} must be a number")
    return float(value)


def _flag(request: Message, key: str) -> bool:
    value = request.get(key, False)
    if type(value) is not bool:
        raise BadRequest(f"{key} must be true or false")
    return value


def _error(number: int | None, text: str) -> Message:
    return {"v": PROTOCOL, "id": number, "ok": False, "error": shown(text.replace("\n", " "), MAX_ERROR)}


# -- the host's clock discipline ----------------------------------------------------------------------
CHRONY_FIELDS = {  # `chronyc -c tracking` columns
    "reference": 1,
    "stratum": 2,
    "system_offset_s": 4,
    "last_offset_s": 5,
    "rms_offset_s": 6,
    "root_delay_s": 10,
    "root_dispersion_s": 11,
    "leap": 13,
}


def clock_discipline() -> Message:
    """How this host's clock is kept with the others': PTP when a grandmaster is present, else chrony."""
    ptp = ptp_state()
    return ptp if ptp["source"] == "ptp" else chrony_state()


def _run(command: list[str]) -> tuple[int, str] | str:
    """(exit code, stdout) of a short local command, or why it could not run."""
    import subprocess

    try:
        done = subprocess.run(command, capture_output=True, timeout=3, text=True, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{Path(command[0]).name} failed ({type(exc).__name__})"
    return done.returncode, done.stdout[:100_000]


def ptp_state() -> Message:
    """linuxptp's view (ptp4l, asked with pmc over its local socket), or {"source": "unknown"}."""
    pmc = shutil.which("pmc")
    if pmc is None:
        return {"source": "unknown", "why": "pmc (linuxptp) not found"}
    done = _run([pmc, "-u", "-b", "0", "GET TIME_STATUS_NP"])
    if isinstance(done, str):
        return {"source": "unknown", "why": done}
    return parse_time_status(done[1]) if done[0] == 0 else {"source": "unknown", "why": "pmc failed"}


def parse_time_status(text: str) -> Message:
    """pmc's TIME_STATUS_NP: the offset from the grandmaster (ns) and whether there is one."""
    offset = re.search(r"^\s*master_offset\s+(-?\d{1,15})\s*$", text, re.M)
    present = re.search(r"^\s*gmPresent\s+(true|false)\s*$", text, re.M)
    grandmaster = re.search(r"^\s*gmIdentity\s+(\S{1,80})\s*$", text, re.M)
    if offset is None or present is None:
        return {"source": "unknown", "why": "pmc TIME_STATUS_NP output not understood"}
    if present.group(1) != "true":
        return {"source": "unknown", "why": "ptp4l sees no grandmaster"}
    return {
        "source": "ptp",
        "master_offset_s": int(offset.group(1)) / 1e9,
        "grandmaster": shown(grandmaster.group(1), 80) if grandmaster else "?",
    }


def chrony_state() -> Message:
    """chrony's view of this host's clock, or {"source": "unknown"} when it cannot be had."""
    chronyc = shutil.which("chronyc")
    if chronyc is None:
        return {"source": "unknown", "why": "chronyc not found"}
    done = _run([chronyc, "-c", "tracking"])
    if isinstance(done, str):
        return {"source": "unknown", "why": done}
    return parse_tracking(done[1]) if done[0] == 0 else {"source": "unknown", "why": "chronyc failed"}


def parse_tracking(text: str) -> Message:
    columns = text.strip().splitlines()[0].split(",") if text.strip() else []
    if len(columns) < 14:
        return {"source": "unknown", "why": "chronyc tracking output not understood"}
    state: Message = {"source": "chrony"}
    for name, index in CHRONY_FIELDS.items():
        value = columns[index]
        if name in ("reference", "leap"):
            state[name] = shown(value, 80)
            continue
        try:
            number = float(value)
        except ValueError:
            return {"source": "unknown", "why": f"chronyc {name} not a number"}
        state[name] = int(number) if name == "stratum" else number
    return state
