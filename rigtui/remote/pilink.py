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
import re
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigtui.paths import NameClaims, UnsafePath, data_dir, destination
from rigtui.pi.status import MAX_TEXT, LastSave, PiStatus, decode_status
from rigtui.text import shown

log = logging.getLogger(__name__)

STATUS_HISTORY = 120  # levels kept for the sparkline (about two minutes at one a second)
STATUS_LIMIT = 64 * 1024  # the longest status line read (the service's is a few KiB)
REPLY_LIMIT = 1024 * 1024  # the longest other reply read (a preview frame, in base64, is tens of KiB)
MAX_DEPTH = 16  # folders below the export folder a pull walks (the service writes one or two levels)
MAX_NAMES = 200_000  # names a pull lists at most: a Pi that lists more (or without end) is cut short
CHECKSUM_LIMIT = 4096  # bytes of `sha256sum` output read (a digest and the path)


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


@dataclass(frozen=True)
class PiEvent:
    """Something a Pi did that the operator should read once: its link came or went, it switched
    between day and night, it saved. `problem` events are trouble (a link that went stale or offline)."""

    name: str  # the Pi's
    text: str  # the whole line, starting with the Pi's name
    problem: bool = False


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
        on_event: Callable[[PiEvent], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.on_event = on_event  # called once per change (link state, day/night, a new save), never per poll
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
    async def command(self, line: str, timeout: float = 30.0) -> str:
        """The service's reply to `line`, fit to show: control characters replaced, at most MAX_TEXT long."""
        return shown((await self._ask(line, timeout, REPLY_LIMIT)).decode(errors="replace").strip(), MAX_TEXT)

    async def _ask(self, line: str, timeout: float, limit: int) -> bytes:
        """The raw reply line to `line`; whatever breaks on the way (the SSH link included) is a PiError."""
        what = line.split()[0]
        reader, writer = await self.open_service(limit)
        try:
            writer.write(line.encode() + b"\n")
            reply = await self._read_line(reader, what, timeout, limit)
        except _link_errors() as exc:  # asyncssh's writer raises if the channel closed meanwhile
            raise PiError(f"{self.endpoint.name}: {what} got no reply ({_reason(exc)})") from None
        finally:
            writer.close()
        if not reply.strip():
            raise PiError(f"{self.endpoint.name}: the service closed without replying")
        return reply

    async def _read_line(self, reader: Any, what: str, timeout: float, limit: int) -> bytes:
        """One reply line shorter than `limit` bytes (b"" at the end of the stream), else a PiError."""
        try:
            line: bytes | None = await asyncio.wait_for(reader.readline(), timeout)
        except (ValueError, asyncio.LimitOverrunError):  # asyncio's reader, past its limit
            line = None
        except _link_errors() as exc:
            if isinstance(exc, _connection_gone()):
                await self.disconnect()  # gone for every channel: the next command connects afresh
            raise PiError(f"{self.endpoint.name}: {what} got no reply ({_reason(exc)})") from None
        if line is None or len(line) >= limit:  # asyncssh's reader returns a full window, newline or not
            raise PiError(f"{self.endpoint.name}: {what} reply is {limit} bytes or longer: refused")
        return line

    async def fetch_status(self) -> PiStatus:
        return self._decode_status(await self._ask("status", 30.0, STATUS_LIMIT))

    def _decode_status(self, line: bytes | str) -> PiStatus:
        try:
            return decode_status(line)
        except ValueError as exc:
            raise PiError(f"{self.endpoint.name}: bad status from the Pi service ({exc})") from None

    async def frame(self, width: int = 160) -> bytes:
        """The latest frame, downscaled, as JPEG bytes (the service's `frame` command)."""
        reply = (await self._ask(f"frame {width}", 30.0, REPLY_LIMIT)).strip()
        kind, _, data = reply.partition(b" ")
        if kind != b"FRAME":
            raise PiError(f"{self.endpoint.name}: {shown(reply.decode(errors='replace'), MAX_TEXT)}")
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
                        line = await self._next_status_line(reader, on_change)
                        if not line:
                            raise PiError(f"{self.endpoint.name}: the service closed the stream")
                        self._take_status(self._decode_status(line))
                        on_change()
                finally:
                    writer.close()
            except Exception as exc:  # whatever broke the link (asyncssh has its own errors), reconnect
                self.error = str(exc) if isinstance(exc, PiError) else _reason(exc)
                self._enter("offline")
                await self.disconnect()
                on_change()
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, 15.0)

    async def _next_status_line(self, reader: Any, on_change: Callable[[], None]) -> bytes:
        """The next status line: given up on after three stale periods, and stale after one (said once)."""
        reading = asyncio.ensure_future(self._read_line(reader, "status stream", self.stale_after_s * 3, STATUS_LIMIT))
        try:
            while not (await asyncio.wait({reading}, timeout=self.stale_after_s))[0]:
                if self.state == "online":
                    self._enter("stale")
                    on_change()
            return reading.result()
        finally:
            reading.cancel()

    def _take_status(self, status: PiStatus) -> None:
        before, self.status, self.error = self.status, status, None
        self.last_status = time.monotonic()
        self._backoff = 1.0
        if status.level is not None:
            self.levels.append(status.level)
        self._enter("online")
        if before is None:
            return  # what the Pi did before the link came up is not news
        if before.night != status.night:
            self._say(f"switched to {'night' if status.night else 'day'} ({_level(status)})")
        if status.last_save is not None and status.last_save != before.last_save:
            self._say(f"saved {_save(status.last_save)}")

    def _enter(self, state: str) -> None:
        """The link's new state, said once when it changes."""
        before, self.state = self.state, state
        if state == before:
            return
        if state == "online":
            self._say("online" if before == "connecting" else f"online again (was {before})")
        elif state == "stale":
            self._say(f"stale: no status for {self.stale_after_s:g} s", problem=True)
        elif state == "offline":
            self._say(f"offline: {(self.error or 'no link').removeprefix(f'{self.endpoint.name}: ')}", problem=True)

    def _say(self, text: str, *, problem: bool = False) -> None:
        if self.on_event is not None:
            name = self.endpoint.name
            self.on_event(PiEvent(name, f"{name}: {text}", problem))

    # -- pulling captures -----------------------------------------------------------------------
    async def pull(
        self, dest: Path, *, bwlimit_kbps: float = 0.0, progress: Callable[[int, int], None] = lambda done, total: None
    ) -> PullReport:
        """Copy the Pi's export folder into `dest` over SFTP: files already pulled and verified are
        skipped, partial ones resume, each file is checked against the Pi's own sha256 before it takes
        its name. The names the Pi lists are hostile: each becomes a path only through
        `paths.destination`. A name refused, a file that changes on the Pi, a disk that fails: that
        file's line in `failed`, and the pull goes on with the others."""
        if self.endpoint.direct:
            raise PiError(f"{self.endpoint.name}: pulling needs SSH (this Pi is reached directly)")
        remote_root = (await self.fetch_status()).export_dir
        if remote_root is None or not remote_root.startswith("/"):
            raise PiError(f"{self.endpoint.name}: the service did not say where its captures are")
        await self.connect()
        report = PullReport()
        try:
            async with self._conn.start_sftp_client() as sftp:
                try:
                    files, report.failed = await _remote_files(sftp, remote_root, dest)
                except _link_errors() as exc:
                    raise PiError(f"{self.endpoint.name}: cannot list {remote_root} ({_reason(exc)})") from None
                await self._pull_files(sftp, remote_root, dest, files, report, bwlimit_kbps, progress)
        except _link_errors() as exc:  # the SSH link itself broke: no file can be pulled any more
            await self.disconnect()
            raise PiError(
                f"{self.endpoint.name}: the pull stopped ({_reason(exc)}) after {report.pulled} files pulled"
            ) from None
        self.pulled = f"{report.pulled} pulled, {report.skipped} already here"
        return report

    async def _pull_files(
        self,
        sftp: Any,
        remote_root: str,
        dest: Path,
        files: list[_RemoteFile],
        report: PullReport,
        bwlimit_kbps: float,
        progress: Callable[[int, int], None],
    ) -> None:
        places = _Places(dest)
        total = sum(f.size for f in files)
        done = 0
        for f in files:
            try:
                place = places.of(f.relative)
                if await self._pull_file(
                    sftp,
                    f"{remote_root}/{f.relative}",
                    place,
                    f.size,
                    bwlimit_kbps,
                    lambda n, base=done: progress(base + n, total),
                ):
                    report.pulled += 1
                else:
                    report.skipped += 1
            except UnsafePath as exc:
                report.failed.append(str(exc))
            except _NotPulled as exc:
                report.failed.append(f"{_shown(f.relative)}: {exc}")
            except OSError as exc:  # the destination's disk: full, failing, read-only, something in the way
                report.failed.append(f"{_shown(f.relative)}: not written here ({_disk_reason(exc)})")
            done += f.size
            progress(done, total)

    async def _pull_file(
        self,
        sftp: Any,
        remote: str,
        place: _Place,
        size: int,
        bwlimit_kbps: float,
        progress: Callable[[int], None],
    ) -> bool:
        """Pull one file into its place: True once it is there and verified, False if it already was."""
        if await asyncio.to_thread(_already_verified, place, size):
            return False
        if await asyncio.to_thread(place.final.exists):  # not known to be this file: never overwritten
            digest = await self._remote_sha256(remote)
            if await asyncio.to_thread(_sha256, place.final) != digest:
                raise _NotPulled("a different file is already here; left alone")
            await asyncio.to_thread(_write_mark, place.mark, digest)
            return True
        await self._copy(sftp, remote, place.part, size, bwlimit_kbps, progress)
        digest = await self._remote_sha256(remote)
        if await asyncio.to_thread(_sha256, place.part) != digest:
            await asyncio.to_thread(place.part.unlink)
            raise _NotPulled("checksum differs after copy; removed")
        # The mark first, the name last: whatever fails in between, a final name only ever holds a whole,
        # checked copy (a mark without its file says nothing).
        await asyncio.to_thread(_write_mark, place.mark, digest)
        await asyncio.to_thread(os.replace, place.part, place.final)
        return True

    async def _copy(
        self, sftp: Any, remote: str, part: Path, size: int, bwlimit_kbps: float, progress: Callable[[int], None]
    ) -> None:
        """The Pi's `remote` into `part`, resuming what is there, until exactly `size` bytes (as listed)."""
        import asyncssh

        offset = await asyncio.to_thread(_resume_point, part, size)
        started, sent = time.monotonic(), 0
        try:
            async with sftp.open(remote, "rb") as source:
                while offset < size:
                    wanted = min(256 * 1024, size - offset)
                    block = await source.read(wanted, offset)
                    if not block or len(block) > wanted:
                        break
                    await asyncio.to_thread(_write_at, part, offset, block)
                    offset += len(block)
                    sent += len(block)
                    progress(offset)
                    if bwlimit_kbps:
                        ahead = sent / (bwlimit_kbps * 1024) - (time.monotonic() - started)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
        except asyncssh.SFTPNoSuchFile:
            raise _NotPulled("vanished on the Pi") from None
        except _connection_gone():
            raise
        except asyncssh.SFTPError as exc:
            raise _NotPulled(f"cannot read it on the Pi ({_reason(exc)})") from None
        if offset != size:
            raise _NotPulled(f"changed size on the Pi while it was copied (ended at {offset} of {size} bytes)")

    async def _remote_sha256(self, path: str) -> str:
        """The Pi's own sha256 of `path` (its `sha256sum`); a few KiB of its answer are read at most."""
        import asyncssh

        try:
            command = f"sha256sum -- {shlex.quote(path)}"
            async with self._conn.create_process(command, encoding=None, window=CHECKSUM_LIMIT) as process:
                answer = await process.stdout.readline()
        except asyncssh.ChannelOpenError as exc:
            raise _NotPulled(f"cannot checksum it on the Pi ({_reason(exc)})") from None
        digest = answer.split(b" ")[0]
        if not re.fullmatch(rb"[0-9a-f]{64}", digest):
            raise _NotPulled("cannot checksum it on the Pi")
        return digest.decode()

    async def close(self) -> None:
        await self.disconnect()


@dataclass
class PullReport:
    pulled: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


class _NotPulled(Exception):
    """One file not pulled, for a reason shown after its name; the pull goes on with the others."""


class _TooManyNames(Exception):
    """The Pi lists more names (or deeper folders) than any capture folder holds: the walk stops."""


@dataclass(frozen=True)
class _RemoteFile:
    relative: str  # below the export folder, "/"-separated, as the Pi named it (not yet checked)
    size: int  # as the Pi listed it


@dataclass(frozen=True)
class _Place:
    """Where one pulled file goes: its name, the .part it is copied into, the .sha256 mark that says it was
    verified; all three built by `paths.destination`."""

    final: Path
    part: Path
    mark: Path


class _Places:
    """The places of one pull. A name listed twice, or that is another file's .part or .sha256, or that
    differs from another only by case (one file on exFAT or APFS), is refused: two files never share one
    place, and no pulled file stands in for another's mark."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.claims = NameClaims()
        self.taken: set[str] = set()

    def of(self, relative: str) -> _Place:
        names = (relative, f"{relative}.part", f"{relative}.sha256")
        place = _Place(*(destination(self.dest, name) for name in names))
        if self.taken.intersection(names):
            raise UnsafePath(f"{relative!r}: listed twice, or the name of another file's .part or .sha256")
        for name in names:
            self.claims.claim(name)
            self.taken.add(name)
        return place


async def _remote_files(sftp: Any, root: str, dest: Path) -> tuple[list[_RemoteFile], list[str]]:
    """Every regular file below `root` (sorted), and a line for each name listed that is not walked: a
    link or special file, a name that is not UTF-8, a folder `destination` refuses or nested deeper than
    MAX_DEPTH, the names past MAX_NAMES. Names are listed as bytes, so one bad name fails alone."""
    import asyncssh

    found: list[_RemoteFile] = []
    refused: list[str] = []
    listed = 0

    async def walk(folder: str, prefix: str, depth: int) -> None:
        nonlocal listed
        async with contextlib.aclosing(sftp.scandir(folder.encode())) as entries:
            async for entry in entries:
                listed += 1
                if listed > MAX_NAMES:
                    raise _TooManyNames
                raw: bytes = entry.filename
                if raw in (b".", b"..") or (raw.startswith(b".") and raw.endswith(b".part")):
                    continue  # the folder, its parent, the service's saves being written
                try:
                    name = raw.decode()
                except UnicodeDecodeError:
                    refused.append(f"{raw!r}: not a UTF-8 name; not pulled")
                    continue
                relative, kind = prefix + name, entry.attrs.type
                if kind == asyncssh.FILEXFER_TYPE_REGULAR:
                    found.append(_RemoteFile(relative, int(entry.attrs.size or 0)))
                elif kind != asyncssh.FILEXFER_TYPE_DIRECTORY:
                    refused.append(f"{_shown(relative)}: not a regular file or a folder on the Pi; not pulled")
                elif depth == MAX_DEPTH:
                    refused.append(f"{_shown(relative)}: folders nested deeper than {MAX_DEPTH}; not pulled")
                else:
                    await walk_folder(f"{folder}/{name}", relative, depth + 1)

    async def walk_folder(folder: str, relative: str, depth: int) -> None:
        try:
            destination(dest, relative)  # a folder whose name climbs out is not even listed
            await walk(folder, f"{relative}/", depth)
        except UnsafePath as exc:
            refused.append(str(exc))
        except _connection_gone():
            raise
        except asyncssh.SFTPError as exc:
            refused.append(f"{_shown(relative)}: cannot list it on the Pi ({_reason(exc)})")

    try:
        await walk(root, "", 0)
    except _TooManyNames:
        refused.append(f"the Pi listed more than {MAX_NAMES} names; the rest is not pulled")
    return sorted(found, key=lambda f: f.relative), refused


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Local file work for pull, each step run in a worker thread (never on the event loop).
def _already_verified(place: _Place, size: int) -> bool:
    """Pulled before: the right size, and still the bytes whose sha256 its mark records."""
    if not place.final.exists() or place.final.stat().st_size != size or not place.mark.exists():
        return False
    return place.mark.read_text().strip() == _sha256(place.final)


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


def _write_mark(mark: Path, digest: str) -> None:
    """The mark that says a copy was verified; a mark the disk cut short is removed, not left half written."""
    try:
        mark.write_text(digest + "\n")
    except OSError:
        with contextlib.suppress(OSError):
            mark.unlink()
        raise


def _disk_reason(exc: OSError) -> str:
    what = exc.strerror or type(exc).__name__
    return f"{what}: {shown(str(exc.filename), MAX_TEXT)}" if exc.filename else what


def _shown(name: str) -> str:
    """A name from the Pi as the operator reads it: as it is, or quoted with escapes if a terminal would
    not print it plainly."""
    return name if name.isprintable() else repr(name)


def _link_errors() -> tuple[type[Exception], ...]:
    """What a broken link raises: the OS's errors, EOF, and asyncssh's own (ConnectionLost, ChannelOpenError,
    SFTP errors). asyncssh is imported only when one was raised: a direct link never needs it."""
    import asyncssh

    return (OSError, EOFError, asyncssh.Error)


def _connection_gone() -> tuple[type[Exception], ...]:
    """The errors that mean the SSH connection itself is gone (any other SFTP error is about one file)."""
    import asyncssh

    return (asyncssh.DisconnectError, asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection)


def _level(status: PiStatus) -> str:
    """The light level against the thresholds, as the status names them."""
    level = "no level yet" if status.level is None else f"level {status.level:g}"
    return f"{level}; dark below {status.dark_threshold:g}, bright above {status.bright_threshold:g}"


def _save(save: LastSave) -> str:
    """A save in a few words: its first file's name, how many more, why."""
    first = Path(save.paths[0]).name if save.paths else "nothing"
    more = f" and {len(save.paths) - 1} more" if len(save.paths) > 1 else ""
    return f"{first}{more} ({save.reason})"


def _reason(exc: BaseException) -> str:
    """An exception in a few words; its text may come from the Pi (an SSH disconnect reason, an SFTP
    error message), so it is made fit for a terminal."""
    text = shown(str(exc).strip(), 200)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
