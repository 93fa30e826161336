"""The operator's side of a Pi: an SSH connection (asyncssh), a channel to the Pi service on the
Pi's own 127.0.0.1, the service's status stream, commands, and pulling captures over SFTP.

The user's ~/.ssh/config, agent and known_hosts apply. An unknown host key is refused unless the
Pi's entry opts in to accepting a new one, which is then remembered in rigtui's own known_hosts.
A Pi that is not reached over SSH (`direct`, the demo's simulated Pi) is spoken to over plain TCP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigtui.paths import data_dir
from rigtui.pi.status import PiStatus, decode_status

log = logging.getLogger(__name__)

STATUS_HISTORY = 120  # levels kept for the sparkline (about two minutes at one a second)
STATUS_LIMIT = 64 * 1024  # the longest status line read (the service's is a few KiB)
REPLY_LIMIT = 4 * 1024 * 1024  # the longest other reply read (a preview frame, in base64)


class PiError(Exception):
    """A Pi that cannot be reached or answered wrongly; one line for the operator."""


@dataclass(frozen=True)
class PiEndpoint:
    name: str
    host: str  # a host name, an address, or an alias from ~/.ssh/config
    port: int | None = None  # SSH port (None: from ~/.ssh/config, else 22)
    user: str | None = None
    service_port: int = 9999
    identity_file: str | None = None
    accept_new_host_key: bool = False  # trust on first use, remembered in rigtui's known_hosts
    direct: bool = False  # no SSH: the service itself listens on host:service_port


@dataclass
class PiSnapshot:
    name: str
    state: str  # connecting | online | stale | offline
    status: PiStatus | None
    levels: list[float]
    error: str | None
    pulled: str | None = None


def known_hosts_file() -> Path:
    return data_dir() / "known_hosts"


class PiLink:
    def __init__(
        self,
        endpoint: PiEndpoint,
        *,
        stale_after_s: float = 5.0,
        connect_timeout_s: float = 10.0,
        known_hosts: list[str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.stale_after_s = stale_after_s
        self.connect_timeout_s = connect_timeout_s
        self.extra_known_hosts = known_hosts
        self.state = "connecting"
        self.status: PiStatus | None = None
        self.levels: deque[float] = deque(maxlen=STATUS_HISTORY)
        self.error: str | None = None
        self.pulled: str | None = None
        self.last_status = 0.0
        self._conn: Any = None
        self._backoff = 1.0

    # -- connection -----------------------------------------------------------------------------
    async def connect(self) -> None:
        if self.endpoint.direct or self._conn is not None:
            return
        import asyncssh

        e = self.endpoint
        options: dict[str, Any] = {"connect_timeout": self.connect_timeout_s}
        if e.port:
            options["port"] = e.port
        if e.user:
            options["username"] = e.user
        if e.identity_file:
            options["client_keys"] = [e.identity_file]
        options["known_hosts"] = await self._known_hosts()
        try:
            self._conn = await asyncssh.connect(e.host, **options)
        except asyncssh.HostKeyNotVerifiable:
            raise PiError(
                f"{e.name}: the host key of {e.host} is not in known_hosts: refused. Connect once with ssh to "
                "check and accept it, or set accept_new_host_key = true for this Pi"
            ) from None
        except asyncssh.PermissionDenied:
            raise PiError(f"{e.name}: SSH login to {e.host} refused (check the user and key)") from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise PiError(f"{e.name}: cannot reach {e.host} over SSH ({_reason(exc)})") from None

    async def _known_hosts(self) -> Any:
        """The keys trusted: asyncssh's own choice (which follows ~/.ssh/config's UserKnownHostsFile)
        unless rigtui has keys of its own to add (opted-in Pis, [remote] known_hosts)."""
        import asyncssh

        ours = known_hosts_file()
        extra = [Path(p) for p in self.extra_known_hosts or []]
        if not self.endpoint.accept_new_host_key and not extra and not ours.exists():
            return ()
        candidates = [Path.home() / ".ssh" / "known_hosts", ours, *extra]
        files = [str(p) for p in candidates if p.exists()]
        if self.endpoint.accept_new_host_key and not await self._known(files):
            await self._remember_host_key()
            files.append(str(ours))
        return asyncssh.read_known_hosts(files) if files else asyncssh.import_known_hosts("")

    async def _known(self, files: list[str]) -> bool:
        import asyncssh

        if not files:
            return False
        try:
            trusted = asyncssh.read_known_hosts(files)
        except (OSError, ValueError):
            return False
        port = self.endpoint.port or 22
        names = [self.endpoint.host] + ([f"[{self.endpoint.host}]:{port}"] if port != 22 else [])
        return any(asyncssh.match_known_hosts(trusted, name, None, port)[0] for name in names)

    async def _remember_host_key(self) -> None:
        import asyncssh

        e = self.endpoint
        try:
            key = await asyncssh.get_server_host_key(e.host, e.port or ())
        except (OSError, asyncssh.Error) as exc:
            raise PiError(f"{e.name}: cannot reach {e.host} over SSH ({_reason(exc)})") from None
        if key is None:
            raise PiError(f"{e.name}: {e.host} showed no host key")
        port = e.port or 22
        pattern = e.host if port == 22 else f"[{e.host}]:{port}"
        path = known_hosts_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{pattern} {key.export_public_key().decode().strip()}\n")
        log.warning("%s: accepted the new host key of %s (saved in %s)", e.name, e.host, path)

    async def open_service(self, limit: int = REPLY_LIMIT) -> tuple[Any, Any]:
        """A stream to the Pi service: an SSH direct-tcpip channel to its 127.0.0.1, or plain TCP.
        Either reader buffers about `limit` bytes at most (asyncssh's holds one window)."""
        e = self.endpoint
        try:
            if e.direct:
                opening = asyncio.open_connection(e.host, e.service_port, limit=limit)
                return await asyncio.wait_for(opening, self.connect_timeout_s)
            await self.connect()
            return await self._conn.open_connection("127.0.0.1", e.service_port, window=limit)
        except PiError:
            raise
        except Exception as exc:
            await self.disconnect()
            raise PiError(
                f"{e.name}: no answer from the Pi service on port {e.service_port} ({_reason(exc)})"
            ) from None

    async def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2.0)

    # -- commands -------------------------------------------------------------------------------
    async def command(self, line: str, timeout: float = 30.0, limit: int = REPLY_LIMIT) -> str:
        reader, writer = await self.open_service(limit)
        try:
            writer.write(line.encode() + b"\n")
            reply = await self._read_line(reader, line.split()[0], timeout, limit)
        finally:
            writer.close()
        text = reply.decode(errors="replace").strip()
        if not text:
            raise PiError(f"{self.endpoint.name}: the service closed without replying")
        return text

    async def _read_line(self, reader: Any, what: str, timeout: float, limit: int) -> bytes:
        """One reply line shorter than `limit` bytes (b"" at the end of the stream), else a PiError."""
        try:
            line: bytes | None = await asyncio.wait_for(reader.readline(), timeout)
        except (ValueError, asyncio.LimitOverrunError):  # asyncio's reader, past its limit
            line = None
        except (TimeoutError, OSError, ConnectionError) as exc:
            raise PiError(f"{self.endpoint.name}: {what} got no reply ({_reason(exc)})") from None
        if line is None or len(line) >= limit:  # asyncssh's reader returns a full window, newline or not
            raise PiError(f"{self.endpoint.name}: {what} reply is {limit} bytes or longer: refused")
        return line

    async def fetch_status(self) -> PiStatus:
        return self._decode_status(await self.command("status", limit=STATUS_LIMIT))

    def _decode_status(self, line: bytes | str) -> PiStatus:
        try:
            return decode_status(line)
        except ValueError as exc:
            raise PiError(f"{self.endpoint.name}: bad status from the Pi service ({exc})") from None

    async def frame(self, width: int = 160) -> bytes:
        """The latest frame, downscaled, as JPEG bytes (the service's `frame` command)."""
        reply = await self.command(f"frame {width}")
        kind, _, data = reply.partition(" ")
        if kind != "FRAME":
            raise PiError(f"{self.endpoint.name}: {reply}")
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            raise PiError(f"{self.endpoint.name}: frame reply is not base64") from None

    # -- watching -------------------------------------------------------------------------------
    def snapshot(self) -> PiSnapshot:
        state = self.state
        if state == "online" and time.monotonic() - self.last_status > self.stale_after_s:
            state = "stale"
        return PiSnapshot(self.endpoint.name, state, self.status, list(self.levels), self.error, self.pulled)

    async def watch(self, on_change: Callable[[], None]) -> None:
        """Follow the status stream forever; reconnect with backoff; a silent stream reads as stale."""
        while True:
            try:
                reader, writer = await self.open_service(STATUS_LIMIT)
                try:
                    writer.write(b"subscribe\n")
                    while True:
                        line = await self._read_line(reader, "status stream", self.stale_after_s * 3, STATUS_LIMIT)
                        if not line:
                            raise PiError(f"{self.endpoint.name}: the service closed the stream")
                        self._take_status(self._decode_status(line))
                        on_change()
                finally:
                    writer.close()
            except Exception as exc:  # whatever broke the link (asyncssh has its own errors), reconnect
                self.state, self.error = "offline", str(exc) if isinstance(exc, PiError) else _reason(exc)
                await self.disconnect()
                on_change()
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, 15.0)

    def _take_status(self, status: PiStatus) -> None:
        self.status, self.state, self.error = status, "online", None
        self.last_status = time.monotonic()
        self._backoff = 1.0
        if status.level is not None:
            self.levels.append(status.level)

    # -- pulling captures -----------------------------------------------------------------------
    async def pull(
        self, dest: Path, *, bwlimit_kbps: float = 0.0, progress: Callable[[int, int], None] = lambda done, total: None
    ) -> PullReport:
        """Copy the Pi's export folder into `dest` over SFTP: files already pulled and verified are
        skipped, partial ones resume, each file is checked against the Pi's own sha256."""
        if self.endpoint.direct:
            raise PiError(f"{self.endpoint.name}: pulling needs SSH (this Pi is reached directly)")
        remote_root = (await self.fetch_status()).export_dir
        if remote_root is None or not remote_root.startswith("/"):
            raise PiError(f"{self.endpoint.name}: the service did not say where its captures are")
        await self.connect()
        report = PullReport()
        async with self._conn.start_sftp_client() as sftp:
            try:
                files = await _remote_files(sftp, remote_root)
            except Exception as exc:
                raise PiError(f"{self.endpoint.name}: cannot list {remote_root} ({_reason(exc)})") from None
            total = sum(size for _, size in files)
            done = 0
            for relative, size in files:
                local = dest / relative
                if await asyncio.to_thread(_already_verified, local, size):
                    report.skipped += 1
                    done += size
                    progress(done, total)
                    continue
                await self._pull_file(
                    sftp,
                    f"{remote_root}/{relative}",
                    local,
                    size,
                    bwlimit_kbps,
                    lambda n, base=done: progress(base + n, total),
                )
                remote_sum = await self._remote_sha256(f"{remote_root}/{relative}")
                local_sum = await asyncio.to_thread(_sha256, local)
                if remote_sum != local_sum:
                    await asyncio.to_thread(local.unlink)
                    report.failed.append(f"{relative}: checksum differs after copy; removed")
                else:
                    await asyncio.to_thread(_mark_verified, local, local_sum)
                    report.pulled += 1
                done += size
                progress(done, total)
        self.pulled = f"{report.pulled} pulled, {report.skipped} already here"
        return report

    async def _pull_file(
        self, sftp: Any, remote: str, local: Path, size: int, bwlimit_kbps: float, progress: Callable[[int], None]
    ) -> None:
        part = local.with_name(local.name + ".part")
        offset = await asyncio.to_thread(_resume_point, part, size)
        started, sent = time.monotonic(), 0
        async with sftp.open(remote, "rb") as source:
            while offset < size:
                block = await source.read(min(256 * 1024, size - offset), offset)
                if not block:
                    break
                await asyncio.to_thread(_write_at, part, offset, block)
                offset += len(block)
                sent += len(block)
                progress(offset)
                if bwlimit_kbps:
                    ahead = sent / (bwlimit_kbps * 1024) - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        if offset != size:
            raise PiError(f"{self.endpoint.name}: {remote} ended at {offset} of {size} bytes")
        await asyncio.to_thread(os.replace, part, local)

    async def _remote_sha256(self, path: str) -> str:
        result = await self._conn.run(f"sha256sum -- {shlex.quote(path)}", check=False)
        digest = str(result.stdout or "").split(" ")[0]
        if result.exit_status != 0 or len(digest) != 64:
            raise PiError(f"{self.endpoint.name}: cannot checksum {path} on the Pi")
        return digest

    async def close(self) -> None:
        await self.disconnect()


@dataclass
class PullReport:
    pulled: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


async def _remote_files(sftp: Any, root: str) -> list[tuple[str, int]]:
    """(path relative to root, size) of every regular file below root, skipping partial writes."""
    found: list[tuple[str, int]] = []

    async def walk(folder: str, prefix: str) -> None:
        for entry in await sftp.readdir(folder):
            name = entry.filename
            if name in (".", "..") or name.startswith("."):
                continue
            kind = entry.attrs.type
            if kind == 2:  # directory
                await walk(f"{folder}/{name}", f"{prefix}{name}/")
            elif kind == 1:
                found.append((f"{prefix}{name}", int(entry.attrs.size or 0)))

    await walk(root, "")
    return sorted(found)


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Local file work for pull, each step run in a worker thread (never on the event loop).
def _already_verified(local: Path, size: int) -> bool:
    """Pulled before: the right size, and still the bytes whose sha256 its mark records."""
    mark = local.with_name(local.name + ".sha256")
    if not local.exists() or local.stat().st_size != size or not mark.exists():
        return False
    return mark.read_text().strip() == _sha256(local)


def _resume_point(part: Path, size: int) -> int:
    """Where a pull into `part` resumes: its length, or 0 (emptied) if it is longer than the file."""
    part.parent.mkdir(parents=True, exist_ok=True)
    if part.exists() and part.stat().st_size <= size:
        return part.stat().st_size
    part.write_bytes(b"")
    return 0


def _write_at(part: Path, offset: int, block: bytes) -> None:
    with open(part, "r+b") as out:
        out.seek(offset)
        out.write(block)


def _mark_verified(local: Path, digest: str) -> None:
    local.with_name(local.name + ".sha256").write_text(digest + "\n")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
