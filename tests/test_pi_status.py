"""A Pi's status: the service's status survives the wire unchanged, and the operator's side refuses
what a broken or hostile Pi sends (in `PiStatus.from_json`, and in a PiLink over real sockets)."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rigtui.pi.backends import SCRIPTS, SyntheticBackend
from rigtui.pi.export import ExportSettings
from rigtui.pi.night import NightSettings
from rigtui.pi.server import LineServer
from rigtui.pi.service import PiService, PiSettings
from rigtui.pi.status import MAX_ITEMS, MAX_TEXT, PiStatus, decode_status
from rigtui.remote.pilink import STATUS_LIMIT, PiEndpoint, PiError, PiLink, PiSnapshot

DELETE = object()


@pytest.fixture
def night_pi(tmp_path: Path) -> Iterator[PiService]:
    """A service gone to night (so it has night changes) that has saved twice over (so a last save)."""
    backend = SyntheticBackend(64, 48, 10.0, SCRIPTS["night"], realtime=False, start_time=1_800_000_000.0)
    settings = PiSettings(
        night=NightSettings(min_dark_frames=5), export=ExportSettings(folder=tmp_path / "captures", min_free_mb=0)
    )
    service = PiService(settings, backend)
    backend.open()
    for _ in range(20):
        service.step()
    service.save(["jpg", "png"])
    yield service
    service.stop()


@pytest.fixture
def wire(night_pi: PiService) -> dict[str, Any]:
    """A real status line, decoded to plain JSON values (what hostile variants are made from)."""
    return json.loads(LineServer(night_pi).status_line())


def variant(wire: dict[str, Any], path: tuple[str, ...], value: object) -> bytes:
    """The status line with one field (at `path`) set to `value`, or removed."""
    data = copy.deepcopy(wire)
    if not path:
        return json.dumps(value).encode()
    *parents, key = path
    target = data
    for parent in parents:
        target = target[parent]
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return json.dumps(data).encode()


def test_a_status_survives_the_wire_unchanged(night_pi: PiService) -> None:
    line = LineServer(night_pi).status_line()
    status = decode_status(line)
    assert status.night and status.changes and status.ring.frames == 20 and status.backend == "synthetic"
    assert status.last_save is not None and [Path(p).suffix for p in status.last_save.paths] == [".jpg", ".png"]
    assert status.rss_mb is not None and status.rss_mb > 0, "the line server fills in the memory figures"
    assert json.dumps(status.to_json(), separators=(",", ":")) == line, "wire -> PiStatus -> the same wire"
    own = night_pi.status()
    assert own.last_save is night_pi.last_save, "the service's own record is the status's LastSave"
    assert PiStatus.from_json(json.loads(json.dumps(own.to_json()))) == own


WRONG: list[tuple[tuple[str, ...], object, str]] = [
    ((), [], "status: expected an object, got a list"),
    (("night",), "yes", "night: expected true or false, got a string"),
    (("level",), "x", "level: expected a number, got a string"),
    (("dark_threshold",), True, "dark_threshold: expected a number, got a boolean"),
    (("fps",), float("nan"), "fps: not a finite number"),
    (("uptime_s",), float("-inf"), "uptime_s: not a finite number"),
    (("exposure_us",), -1.0, "exposure_us: negative"),
    (("ring",), [[1, 2]], "ring: expected an object, got a list"),
    (("ring", "frames"), -1, "ring.frames: negative"),
    (("ring", "capacity"), 2.5, "ring.capacity: expected a whole number, got a number"),
    (("ring", "seconds"), DELETE, "ring.seconds: missing"),
    (("last_save",), ["a.jpg"], "last_save: expected an object, got a list"),
    (("last_save", "paths"), "a.jpg", "last_save.paths: expected a list, got a string"),
    (("last_save", "paths"), ["a.jpg", ["b.jpg"]], "last_save.paths[1]: expected a string, got a list"),
    (("last_save", "time"), "now", "last_save.time: expected a number, got a string"),
    (("changes",), [{"ExposureTime": 1}], "changes[0]: expected a string, got an object"),
    (("frame_id",), 10**30, "frame_id: too large"),
    (("disk_free_mb",), 1e300, "disk_free_mb: expected a whole number, got a number"),
    (("dropped",), False, "dropped: expected a whole number, got a boolean"),
    (("backend",), None, "backend: missing"),
    (("error",), {"text": "boom"}, "error: expected a string, got an object"),
]


@pytest.mark.parametrize(("path", "value", "message"), WRONG, ids=[m.split(":")[0] for _, _, m in WRONG])
def test_a_field_of_the_wrong_type_is_refused_by_name(
    wire: dict[str, Any], path: tuple[str, ...], value: object, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        decode_status(variant(wire, path, value))
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[" * 100_000, "not JSON (nested too deeply)"),
        (b'{"frame_id": 1' + b"0" * 5000 + b"}", "not JSON"),  # more digits than Python will parse
        (b"null", "status: expected an object, got null"),
        (b'{"level": "x"}', "night: missing"),
    ],
)
def test_a_line_that_is_not_a_status_is_refused(line: bytes, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        decode_status(line)
    assert str(refused.value) == message


HOSTILE: list[object] = [
    None,
    True,
    0,
    -1,
    -0.0,
    1.5,
    10**40,
    1e308,
    float("nan"),
    float("inf"),
    "",
    "\x1b[2J\n\ud800" * 3000,
    [],
    [["x"]],
    ["x"] * 1000,
    {},
    {"frames": 1},
]


def every_field(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from every_field(value, (*prefix, key))


def test_any_value_in_any_field_is_a_status_the_operator_can_show_or_a_value_error(wire: dict[str, Any]) -> None:
    """Never anything but ValueError; and whatever is accepted renders in the pane and the CLI."""
    from rigtui.cli.pi import status_line
    from rigtui.tui.pi_pane import COLUMNS, pi_cells

    accepted = 0
    for path in every_field(wire):
        for value in (*HOSTILE, DELETE):
            try:
                status = decode_status(variant(wire, path, value))
            except ValueError as exc:
                assert "\n" not in str(exc) and "\x1b" not in str(exc)
                continue
            accepted += 1
            shown = status_line("pi", status)
            assert "\x1b" not in shown and "\n" not in shown and len(shown) < 4 * MAX_TEXT
            cells = pi_cells(PiSnapshot("pi", "online", status, [1.0, 2.0], None))
            assert len(cells) == len(COLUMNS) + 1 and not any("\x1b" in cell.plain for cell in cells)
    assert accepted > 20, "optional fields take null, counts take 0, lists take short lists"


def test_unknown_keys_are_ignored_and_missing_optional_fields_are_none(wire: dict[str, Any]) -> None:
    known = decode_status(json.dumps(wire))
    future = {**wire, "ring": {**wire["ring"], "bytes": 1 << 30}, "lenses": [{"deep": [1, {"x": None}]}]}
    assert decode_status(json.dumps(future)) == known
    optional = ("level", "exposure_us", "gain", "frame_id", "last_save", "disk_free_mb", "export_dir", "error")
    sparse = decode_status(json.dumps({k: v for k, v in wire.items() if k not in (*optional, "rss_mb", "swap_pct")}))
    assert all(getattr(sparse, name) is None for name in (*optional, "rss_mb", "swap_pct"))
    assert sparse.ring == known.ring and sparse.night == known.night


def test_what_is_kept_is_bounded(wire: dict[str, Any]) -> None:
    huge = copy.deepcopy(wire)
    huge["last_save"]["paths"] = [f"/home/pi/captures/{i}.jpg" for i in range(100_000)]
    huge["changes"] = ["AeEnable True -> False"] * 100_000
    huge["error"] = "\x1b]0;owned\x07" + "e" * 1_000_000
    status = decode_status(json.dumps(huge))
    assert status.last_save is not None and len(status.last_save.paths) == MAX_ITEMS
    assert status.last_save.paths[:2] == ("/home/pi/captures/0.jpg", "/home/pi/captures/1.jpg"), "the first ones"
    assert len(status.changes) == MAX_ITEMS
    assert status.error is not None and len(status.error) == MAX_TEXT
    assert status.error.startswith("\N{REPLACEMENT CHARACTER}]0;owned\N{REPLACEMENT CHARACTER}eee")


def test_the_status_module_imports_nothing_heavy() -> None:
    """The operator's side imports it (and PiLink) without numpy or OpenCV."""
    code = "import sys; sys.modules.update(numpy=None, cv2=None); import rigtui.pi.status, rigtui.remote.pilink"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# -- a PiLink against a Pi service that answers garbage, over real sockets on 127.0.0.1 ----------------
HUGE_LINE = b"x" * 10_000_000 + b"\n"


class BadPi:
    """A Pi service on 127.0.0.1 whose n-th connection is answered with replies[n] (the last one
    repeats), written after the client's first line; the connection then stays open until the client
    leaves, as the status stream does."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies, self.connections, self.port = replies, 0, 0
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._clients:
            writer.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = memoryview(self.replies[min(self.connections, len(self.replies) - 1)])
        self.connections += 1
        self._clients.add(writer)
        try:
            await reader.readline()
            for start in range(0, len(reply), 1 << 16):  # a huge line, without a copy of it in memory
                writer.write(reply[start : start + (1 << 16)])
                await writer.drain()
            await reader.read()
        except (ConnectionError, OSError):
            pass  # the client gave up on it
        finally:
            self._clients.discard(writer)
            writer.close()

    def link(self) -> PiLink:
        return PiLink(PiEndpoint("pi-x", "127.0.0.1", service_port=self.port, direct=True), stale_after_s=2.0)


@pytest.fixture
async def bad_pi() -> AsyncIterator[Callable[[list[bytes]], Awaitable[BadPi]]]:
    started: list[BadPi] = []

    async def start(replies: list[bytes]) -> BadPi:
        pi = BadPi(replies)
        await pi.start()
        started.append(pi)
        return pi

    yield start
    for pi in started:
        await pi.close()


GARBAGE = [
    (b"not json\n", "pi-x: bad status from the Pi service (not JSON)"),
    (b'{"level": "x"}\n', "pi-x: bad status from the Pi service (night: missing)"),
    (b"[]\n", "pi-x: bad status from the Pi service (status: expected an object, got a list)"),
    (HUGE_LINE, f"pi-x: status reply is {STATUS_LIMIT} bytes or longer: refused"),
]


@pytest.mark.parametrize(("reply", "message"), GARBAGE, ids=["text", "wrong-type", "list", "10MB"])
async def test_fetch_status_turns_garbage_into_one_line_naming_the_pi(
    bad_pi: Callable[[list[bytes]], Awaitable[BadPi]], reply: bytes, message: str
) -> None:
    pi = await bad_pi([reply])
    link = pi.link()
    tracemalloc.start()
    try:
        with pytest.raises(PiError) as refused:
            await link.fetch_status()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await link.close()
    assert str(refused.value) == message
    assert peak < 2_000_000, f"reading the reply took {peak} bytes"


@pytest.mark.parametrize(("reply", "message"), GARBAGE, ids=["text", "wrong-type", "list", "10MB"])
async def test_watch_shows_a_garbage_stream_offline_with_the_reason_then_recovers(
    bad_pi: Callable[[list[bytes]], Awaitable[BadPi]], wire: dict[str, Any], reply: bytes, message: str
) -> None:
    good = json.dumps(wire).encode() + b"\n"
    pi = await bad_pi([reply, good])
    link = pi.link()
    seen: list[tuple[str, str | None]] = []
    watcher = asyncio.create_task(link.watch(lambda: seen.append((link.snapshot().state, link.snapshot().error))))
    try:
        for _ in range(100):
            if link.snapshot().state == "online":
                break
            await asyncio.sleep(0.05)
        assert seen[0] == ("offline", message.replace("status reply", "status stream reply"))
        assert link.snapshot().state == "online", "reconnects, as after any other failure"
        assert link.snapshot().status == decode_status(good) and pi.connections == 2
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await link.close()


async def test_replies_shown_to_the_operator_are_one_short_line_without_control_characters(
    bad_pi: Callable[[list[bytes]], Awaitable[BadPi]],
) -> None:
    from rigtui.ops.pi import save

    owned = "\x1b]0;owned\x07\x1b[2J\r\x9b31m"
    pi = await bad_pi([f"SAVED {owned}/home/pi/a.jpg {'x' * 500_000}\n".encode(), f"NO_FRAME {owned}\n".encode()])
    link = pi.link()
    try:
        report = await save(link, ["jpg"])
        with pytest.raises(PiError) as no_frame:
            await link.frame(32)
    finally:
        await link.close()
    shown = report.line().text
    assert report.ok and shown.startswith("pi-x: SAVED \N{REPLACEMENT CHARACTER}]0;owned\N{REPLACEMENT CHARACTER}")
    assert shown.isprintable() and len(shown) <= MAX_TEXT + 10, "capped, and nothing a terminal obeys"
    assert str(no_frame.value).startswith("pi-x: NO_FRAME \N{REPLACEMENT CHARACTER}]0;owned")
    assert str(no_frame.value).isprintable()


async def test_a_reply_of_a_mebibyte_or_more_is_refused(bad_pi: Callable[[list[bytes]], Awaitable[BadPi]]) -> None:
    pi = await bad_pi([b"SAVED " + b"x" * (1 << 20) + b"\n"])
    link = pi.link()
    try:
        with pytest.raises(PiError) as refused:
            await link.command("save")
    finally:
        await link.close()
    assert str(refused.value) == f"pi-x: save reply is {1 << 20} bytes or longer: refused"
