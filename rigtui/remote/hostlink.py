"""The operator's side of a host PC's agent (`rigtui agent --stdio`): the agent started over SSH
(asyncssh, connected as a Pi is: ~/.ssh/config, agent and known_hosts apply) or as a local process
(`direct`), JSON-lines requests and replies matched by id, the agent's events, and the link's end.

Every line the agent sends is hostile until decoded: capped in length, parsed into a dict or
dropped with a log line. A link that drops fails every request waiting on it with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shlex
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rigtui.remote.pilink import PiEndpoint, PiError, PiLink
from rigtui.text import shown

log = logging.getLogger(__name__)

PROTOCOL = 1  # the JSON-lines protocol version this side speaks
REQUEST_LIMIT = 1024 * 1024  # the longest request line an agent reads
REPLY_LIMIT = 64 * 1024 * 1024  # the longest line read from an agent (an offload report lists every file)
STDERR_KEPT = 20  # the agent's last stderr lines, kept to say why it ended
MAX_ERROR = 300  # characters of an agent's error shown


class HostError(Exception):
    """A host whose agent cannot be reached, ended, or answered with an error; one line."""


class ByteSource(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


async def read_lines(source: ByteSource, limit: int) -> AsyncIterator[bytes | None]:
    """The lines of a byte stream, without their newline; None for a line of `limit` bytes or more
    (read to its end and dropped, so a giant line is one bad line, never several)."""
    buffer = bytearray()
    discarding = False
    while True:
        chunk = await source.read(65536)
        if not chunk:
            if buffer and not discarding:
                yield bytes(buffer)
            return
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not discarding:
                buffer += piece
                if len(buffer) >= limit:
                    buffer.clear()
                    discarding = True
            if end < 0:
                break
            if discarding:
                yield None
            else:
                yield bytes(buffer)
            buffer.clear()
            discarding = False
            start = end + 1


@dataclass(frozen=True)
class HostEndpoint:
    name: str
    ssh: str = ""  # user@host[:port] or an alias from ~/.ssh/config
    command: str = "rigtui agent --stdio"
    cameras: tuple[str, ...] = ()  # HOST:PORT the agent is started with (none: it finds its own)
    direct: bool = False  # run the command here as a local process, not over SSH
    identity_file: str | None = None

    def command_line(self) -> str:
        return " ".join([self.command, *(f"--camera {shlex.quote(c)}" for c in self.cameras)])

    def ssh_parts(self) -> tuple[str | None, str, int | None]:
        """user, host, port of `ssh` (user and port None when not given: ~/.ssh/config decides)."""
        user, _, rest = self.ssh.rpartition("@")
        host, port = rest, None
        if rest.count(":") == 1:  # host:port (an IPv6 address without a port has several colons)
            host, _, text = rest.partition(":")
            port = int(text) if text.isdigit() else None
        return user or None, host.strip("[]"), port


@dataclass(frozen=True)
class HostEvent:
    host: str
    kind: str  # line | progress | link
    text: str  # starting with the host's name
    problem: bool = False


class HostLink:
    """One agent: `start()` it, `request()` ops, hear its events, `close()` it (EOF on its stdin:
    it lets its cameras go and ends)."""

    def __init__(
        self,
        endpoint: HostEndpoint,
        *,
        connect_timeout_s: float = 10.0,
        known_hosts: list[str] | None = None,
        on_event: Callable[[HostEvent], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        self.known_hosts = known_hosts
        self.on_event = on_event or (lambda event: None)
        self.online = False
        self.error: str | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._stderr: deque[str] = deque(maxlen=STDERR_KEPT)
        self._tasks: list[asyncio.Task[None]] = []
        self._process: Any = None  # asyncio's Process or asyncssh's SSHClientProcess
        self._writer: Any = None
        self._ssh: PiLink | None = None
        self._closing = False

    @property
    def name(self) -> str:
        return self.endpoint.name

    # -- starting -------------------------------------------------------------------------------
    async def start(self) -> None:
        e = self.endpoint
        try:
            if e.direct:
                self._process = await asyncio.create_subprocess_shell(
                    e.command_line(),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,  # the operator's Ctrl+C reaches the controller, which ends it
                )
            else:
                self._process = await self._start_over_ssh()
        except HostError as exc:
            self._went_offline(str(exc))
            raise
        except (OSError, ValueError) as exc:
            self._went_offline(f"cannot start {e.command!r}: {exc}")
            raise HostError(self.error) from None
        self._writer = self._process.stdin
        self.online, self.error = True, None
        self._tasks = [
            asyncio.ensure_future(self._read_replies(self._process.stdout)),
            asyncio.ensure_future(self._read_stderr(self._process.stderr)),
        ]

    async def _start_over_ssh(self) -> Any:
        """The agent as an SSH exec request (the connection made the way a Pi's is)."""
        user, host, port = self.endpoint.ssh_parts()
        if not host:
            raise HostError(f"{self.name}: no ssh host given")
        self._ssh = PiLink(
            PiEndpoint(self.name, host, port, user, identity_file=self.endpoint.identity_file),
            connect_timeout_s=self.connect_timeout_s,
            known_hosts=self.known_hosts,
        )
        try:
            await self._ssh.connect()
            connection = self._ssh._conn  # the SSH connection PiLink made and verified
            return await connection.create_process(self.endpoint.command_line(), encoding=None)
        except PiError as exc:
            raise HostError(str(exc)) from None
        except Exception as exc:  # asyncssh's own errors: the channel could not be opened
            raise HostError(f"{self.name}: cannot start the agent over SSH ({type(exc).__name__}: {exc})") from None

    # -- talking --------------------------------------------------------------------------------
    async def request(self, op: str, timeout: float = 30.0, **fields: object) -> dict[str, Any]:
        """The agent's reply to `op` (its fields); HostError when it says no, or the link fails."""
        if not self.online:
            raise HostError(f"{self.name}: offline ({self.error})")
        number = next(self._ids)
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = waiting
        try:
            line = json.dumps({"v": PROTOCOL, "id": number, "op": op, **fields}) + "\n"
            try:
                self._writer.write(line.encode())
                await self._writer.drain()
            except Exception as exc:  # the pipe or channel is gone
                self._went_offline(f"link lost ({type(exc).__name__})")
            reply = await asyncio.wait_for(waiting, timeout)
        except TimeoutError:
            raise HostError(f"{self.name}: no reply to {op} within {timeout:g} s") from None
        finally:
            self._waiting.pop(number, None)
        if not reply.get("ok"):
            raise HostError(f"{self.name}: {op}: {shown(str(reply.get('error')), MAX_ERROR)}")
        return reply

    async def _read_replies(self, stdout: ByteSource) -> None:
        try:
            async for line in read_lines(stdout, REPLY_LIMIT):
                self._take(line)
        except Exception as exc:  # the pipe or channel broke
            log.debug("%s: reading the agent failed", self.name, exc_info=True)
            self._went_offline(f"link lost ({type(exc).__name__})")
            return
        self._went_offline(self._why_ended())

    def _take(self, line: bytes | None) -> None:
        if line is None:
            log.warning("%s: a line of %d bytes or more from the agent: dropped", self.name, REPLY_LIMIT)
            return
        try:
            message = json.loads(line)
        except ValueError:
            log.warning("%s: not JSON from the agent: %s", self.name, shown(line.decode(errors="replace"), 120))
            return
        if not isinstance(message, dict) or message.get("v") != PROTOCOL:
            log.warning("%s: a message of an unknown kind or version from the agent: dropped", self.name)
            return
        if "event" in message:
            kind = message["event"] if message["event"] in ("line", "progress") else "line"
            text = shown(str(message.get("text", "")), MAX_ERROR)
            self.on_event(HostEvent(self.name, kind, f"{self.name}: {text}", bool(message.get("problem"))))
            return
        number = message.get("id")
        waiting = self._waiting.get(number) if isinstance(number, int) else None
        if waiting is not None and not waiting.done():
            waiting.set_result(message)
        elif number is None and not message.get("ok"):
            log.warning("%s: the agent refused a request: %s", self.name, shown(str(message.get("error")), MAX_ERROR))

    async def _read_stderr(self, stderr: ByteSource) -> None:
        with contextlib.suppress(Exception):
            async for line in read_lines(stderr, 64 * 1024):
                if line:
                    text = shown(line.decode(errors="replace"), MAX_ERROR)
                    self._stderr.append(text)
                    log.info("%s agent: %s", self.name, text)

    def _why_ended(self) -> str:
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        return "the agent ended" + (f": {last}" if last else "")

    def _went_offline(self, why: str) -> None:
        """The link is gone: every waiting request fails, the operator hears it once."""
        was_online, self.online = self.online, False
        self.error = self.error if self.error and not was_online else why
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(HostError(f"{self.name}: offline ({why})"))
        if was_online and not self._closing:
            self.on_event(HostEvent(self.name, "link", f"{self.name}: offline: {why}", True))

    # -- ending ---------------------------------------------------------------------------------
    async def close(self, timeout: float = 10.0) -> None:
        """EOF on the agent's stdin (it lets its cameras go and ends); killed if it does not."""
        self._closing = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.write_eof() if self._ssh else self._writer.close()
        process = self._process
        if process is not None:
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except Exception:  # it did not end in time, or its channel broke: end it
                with contextlib.suppress(Exception):
                    process.kill() if self._ssh is None else process.close()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2.0)
        self._went_offline("closed")
        if self._ssh is not None:
            await self._ssh.close()
