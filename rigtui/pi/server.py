"""The Pi service's TCP line protocol, compatible with the original: one command per connection,
one reply line, then the connection closes (`echo "save jpg" | nc pi 9999`). `subscribe` instead
streams one JSON status line a second until the client leaves.

Listens on 127.0.0.1 by default: operators reach it through SSH, never over the open network.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
from pathlib import Path

from rigtui.pi.export import ExportError
from rigtui.pi.service import PiService

log = logging.getLogger(__name__)

LINE_LIMIT = 1024
IDLE_TIMEOUT_S = 10.0
SUBSCRIBER_DRAIN_S = 2.0  # a subscriber whose status lines have not drained by then has fallen behind


def memory_use() -> tuple[int, float]:
    """(resident memory in MiB, share of swap in use in %) of this process and machine."""
    rss_kb = swap_total = swap_free = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("SwapTotal:"):
                swap_total = int(line.split()[1])
            elif line.startswith("SwapFree:"):
                swap_free = int(line.split()[1])
    return rss_kb // 1024, 100 * (swap_total - swap_free) / swap_total if swap_total else 0.0


def health() -> str:
    """Resident memory and swap use, in the original reply's shape."""
    rss, swap = memory_use()
    return f"RSS={rss}MiB SWAP={swap:.0f}%"


class LineServer:
    def __init__(self, service: PiService, bind: str = "127.0.0.1", port: int = 9999) -> None:
        self.service, self.bind, self.port = service, bind, port
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.bind, self.port, limit=LINE_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every client's connection (subscribers see the service go)."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            try:
                raw = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT_S)
            except (ValueError, asyncio.LimitOverrunError):
                await self._reply(writer, f"ERROR line longer than {LINE_LIMIT} bytes")
                return
            except TimeoutError:
                return
            line = raw.decode("utf-8", errors="replace").strip()
            if line.lower() == "subscribe":
                await self._subscribe(reader, writer)
                return
            await self._reply(writer, await self.answer(line))
        except (ConnectionError, OSError):
            pass  # the client left
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def answer(self, line: str) -> str:
        """One command line -> one reply line (never raises)."""
        parts = line.split()
        if not parts:
            return "UNKNOWN_COMMAND"
        command, args = parts[0], parts[1:]
        try:
            match command.lower():
                case "save":
                    return _saved(await asyncio.to_thread(self.service.save, args))
                case "paststack":
                    return _saved(await asyncio.to_thread(self.service.past_stack, args))
                case "night_level":
                    return self.night_level()
                case "health":
                    return health()
                case "status":
                    return self.status_line()
                case "frame":
                    width = int(args[0]) if args and args[0].isdigit() else 160
                    data = await asyncio.to_thread(self.service.preview_jpeg, min(max(width, 16), 1920))
                    return "FRAME " + base64.b64encode(data).decode("ascii")
                case _:
                    return "UNKNOWN_COMMAND"
        except ExportError as exc:
            return f"NOT_SAVED {exc}" if command.lower() != "frame" else f"NO_FRAME {exc}"
        except Exception as exc:  # a bad command must never take the service down
            log.exception("command %r failed", line[:80])
            return f"ERROR {type(exc).__name__}: {exc}"

    def status_line(self) -> str:
        rss, swap = memory_use()
        status = dataclasses.replace(self.service.status(), rss_mb=rss, swap_pct=round(swap))
        return json.dumps(status.to_json(), separators=(",", ":"))

    def night_level(self) -> str:
        night = self.service.night
        if night.level is None:
            return "NO_DATA"
        s = night.settings
        return (
            f"LEVEL={night.level:.1f} DARK={s.dark_threshold:g} BRIGHT={s.bright_threshold:g} "
            f"STATUS={'NIGHT' if night.night else 'DAY'}"
        )

    async def _subscribe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A status line a second until the client leaves. A subscriber has nothing more to say: one
        that sends anything is dropped (reading it all would buffer whatever it sends), and so is one
        that falls behind (its lines not drained within SUBSCRIBER_DRAIN_S: until then it holds one
        line above asyncio's high-water mark, 64 KiB, at most)."""
        spoke = asyncio.ensure_future(reader.read(1))  # b"" when the client leaves, a byte if it talks
        try:
            while not spoke.done():
                writer.write(self.status_line().encode() + b"\n")
                try:
                    await asyncio.wait_for(writer.drain(), SUBSCRIBER_DRAIN_S)
                except TimeoutError:
                    self._drop(writer, "fell behind")
                    return
                await asyncio.wait({spoke}, timeout=1.0)
            if spoke.result():
                self._drop(writer, "sent data after subscribe")
        finally:
            spoke.cancel()

    @staticmethod
    def _drop(writer: asyncio.StreamWriter, why: str) -> None:
        """End a connection now, discarding what it has not taken: a close would wait for a client that
        does not read to take it all."""
        log.warning("dropped a subscriber that %s", why)
        writer.transport.abort()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, text: str) -> None:
        writer.write(text.encode() + b"\n")
        await writer.drain()


def _saved(paths: list[Path]) -> str:
    if not paths:
        return "NOT_SAVED nothing to save"
    folders = {p.parent for p in paths}
    if len(paths) > 4 and len(folders) == 1:
        return f"SAVED {len(paths)} files in {next(iter(folders))}"
    return "SAVED " + " ".join(str(p) for p in paths)
