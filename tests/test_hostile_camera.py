"""One hostile camera among healthy ones: the real `rigtui` command against two simulated HERO12s and a
fake camera whose replies break every rule (deep JSON, odd numbers, wrong types, escape sequences,
huge and compressed bodies, endless bodies, downloads longer than listed, bytes that are not HTTP).

For every hostile behaviour the same shoot runs (status, record --force, stop, offload DEST,
format --yes, and the command that reads the endpoint it poisons), and after every command: no
traceback, no control character or injected line in the output, exit code 1 with the hostile camera
named exactly where it fails, the healthy cameras fully served, peak memory under 300 MB, nothing
written outside DEST, and no delete request for a card holding footage that is not verified.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import cameras_of
from hostile_camera import (
    BLOCK,
    VIDEO,
    Hostile,
    HostileCamera,
    NotHTTP,
    Reply,
    dripping,
    endless,
    framed,
    gzip_bomb,
    json_reply,
    nested,
    padded_state,
    repeated,
    text_reply,
)

from rigtui.gopro.client import CameraClient, ClientPolicy
from rigtui.gopro.errors import CameraTimeout
from rigtui.gopro.takes import camera_label
from rigtui.sim.rig import SimRig

pytestmark = pytest.mark.rig(cameras=2, models=("HERO12",))

PEAK_LIMIT_MB = 300
STATE = "/gopro/camera/state"
MEDIA = "/gopro/media/list"
INFO = "/gopro/camera/info"
DOWNLOAD = f"GET /videos/DCIM/{VIDEO}"
SHOWN_BADLY = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
ESCAPES = "\x1b[2J\x1b[31m\x1b]0;pwned\x07\r\nINJECTED\x00"  # clear screen, colour, window title, a new line

STATUS, RECORD, STOP, OFFLOAD, FORMAT = "status", "record", "stop", "offload", "format"
EVERYWHERE = frozenset({STATUS, RECORD, STOP, OFFLOAD, FORMAT})


# -- running rigtui -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    peak_mb: float  # the process's own peak resident memory


@dataclass(frozen=True)
class Place:
    """Where one test's rigtui runs: its own home, XDG folders, working folder and config."""

    root: Path

    @property
    def dest(self) -> Path:
        return self.root / "dest"

    @property
    def xdg(self) -> Path:
        return self.root / "xdg"

    def prepare(self) -> None:
        for folder in ("home", "cwd", "xdg"):
            (self.root / folder).mkdir()
        (self.root / "config.toml").write_text(f'[offload]\nledger = "{self.xdg / "data" / "ledger.jsonl"}"\n')

    def env(self) -> dict[str, str]:
        xdg = {f"XDG_{kind}_HOME": str(self.xdg / kind.lower()) for kind in ("CONFIG", "CACHE", "DATA", "STATE")}
        return {**os.environ, **xdg, "HOME": str(self.root / "home")}

    def files(self) -> set[str]:
        """Every path under the test's folder but DEST and the XDG folders."""
        return {
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if not (p.is_relative_to(self.dest) or p.is_relative_to(self.xdg))
        }


# A process's peak memory (ru_maxrss) includes the memory of the process it was spawned from (its
# pages before exec count); the test's own process is large (it runs simulators that encode clips),
# so rigtui is started by a small launcher, which reports the peak of rigtui alone on a pipe.
LAUNCHER = """import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
os.write(int(sys.argv[1]), str(usage.ru_maxrss).encode())
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_blocking(args: list[str], place: Place, timeout: float) -> Run:
    """`python -m rigtui ARGS` through the launcher, so that its own peak memory is known (KiB)."""
    peak_in, peak_out = os.pipe()
    command = [sys.executable, "-m", "rigtui", "--config", str(place.root / "config.toml"), *args]
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(peak_out), *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=place.env(),
        cwd=place.root / "cwd",
        pass_fds=(peak_out,),
        start_new_session=True,  # a time-out kills the launcher and rigtui together
    )
    os.close(peak_out)
    assert proc.stdout is not None and proc.stderr is not None
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    with ThreadPoolExecutor(2) as pool, proc.stdout, proc.stderr, os.fdopen(peak_in, "rb") as peak:
        out, err = pool.submit(proc.stdout.read), pool.submit(proc.stderr.read)
        try:
            proc.wait()
        finally:
            timer.cancel()
        kib = peak.read().decode() or "0"
        return Run(proc.returncode, out.result().decode(), err.result().decode(), int(kib) * 1024 / 1e6)


# -- the hostile behaviours ---------------------------------------------------------------------------
Replies = Callable[[HostileCamera], dict[str, Hostile | Callable[[], Hostile]]]


@dataclass(frozen=True)
class Case:
    replies: Replies
    fails: frozenset[str] = EVERYWHERE  # the commands in which the hostile camera must fail
    extra: tuple[str, ...] = ()  # the command that reads the poisoned endpoint, if none of the five does
    refused_format: bool = False  # its card is readable but holds footage that is not verified
    named_by_address: bool = False  # its serial cannot be trusted


def state_with(**status: object) -> Replies:
    """The camera's own state (so it records and stops) with some statuses replaced."""

    def replies(camera: HostileCamera) -> dict[str, Hostile | Callable[[], Hostile]]:
        def reply() -> Hostile:
            valid = camera.state()
            return json_reply({**valid, "status": {**valid["status"], **status}})  # type: ignore[dict-item]

        return {STATE: reply}

    return replies


def media_with(*entries: str, more: dict[str, list[str]] | None = None) -> Replies:
    """A media list of the camera's one good video plus entries written as JSON text (in 100GOPRO,
    and in the `more` folders)."""

    def replies(camera: HostileCamera) -> dict[str, Hostile | Callable[[], Hostile]]:
        good = json.dumps(camera.media_list()["media"][0]["fs"][0])  # type: ignore[index]
        folders = {"100GOPRO": [good, *entries], **(more or {})}
        media = ",".join(f'{{"d":{json.dumps(d)},"fs":[{",".join(fs)}]}}' for d, fs in folders.items())
        return {MEDIA: text_reply(f'{{"id":"1","media":[{media}]}}')}

    return replies


def only(replies: dict[str, Hostile]) -> Replies:
    return lambda camera: dict(replies)


CASES: dict[str, Case] = {
    "state: deeply nested JSON": Case(only({STATE: text_reply(nested(100_000, (b'{"status":{"8":0,"1":', b"}}")))})),
    "state: non-ASCII digits": Case(only({STATE: json_reply({"status": {"8": "٠", "10": "٠", "70": "١٢٣"}})})),
    "state: 1e999": Case(only({STATE: text_reply('{"status":{"8":0,"10":0,"70":1e999}}')})),
    "state: Infinity": Case(only({STATE: json_reply({"status": {"8": 0, "10": 0, "70": float("inf")}})})),
    "state: huge and negative numbers": Case(
        state_with(**{"70": 10**30, "54": -5, "35": -(10**20), "33": 10**25, "2": -1, "117": -1}), fails=frozenset()
    ),
    "state: status is a list": Case(only({STATE: json_reply({"status": [0, 0], "settings": {}})})),
    "state: 50 MB": Case(only({STATE: padded_state(50 << 20)})),
    "state: gzip bomb": Case(only({STATE: gzip_bomb()})),
    "info: serial is an object": Case(
        lambda camera: {INFO: json_reply({**camera.info(), "serial_number": {"serial": camera.serial}})},
        named_by_address=True,
    ),
    "info: escapes in the serial, presets as a string": Case(
        lambda camera: {
            INFO: json_reply({**camera.info(), "serial_number": camera.serial + ESCAPES}),
            "/gopro/camera/presets/get": json_reply({"presetGroupArray": "Cinematic"}),
        },
        fails=frozenset(),
        extra=("preset", "cinematic"),
        named_by_address=True,
    ),
    "bring-up: 503 whose message has escapes": Case(
        only({"/gopro/camera/control/wired_usb": json_reply({"message": "busy" + ESCAPES}, 503)}),
        named_by_address=True,
    ),
    "media list: deeply nested JSON": Case(
        only({MEDIA: text_reply(nested(100_000, (b'{"media":[{"d":"100GOPRO","fs":', b"}]}")))}),
        fails=frozenset({OFFLOAD, FORMAT}),
    ),
    "media list: odd numbers": Case(
        media_with(
            '{"n":"GX010002.MP4","cre":"1700000000","s":"١٢٣"}',
            '{"n":"GX010003.MP4","cre":"1700000000","s":"Infinity"}',
            '{"n":"GX010004.MP4","cre":"1700000000","s":1e999}',
            '{"n":"GX010005.MP4","cre":"1700000000","s":99999999999999999999999999999}',
            '{"n":"GX010006.MP4","cre":"1700000000","s":"-5"}',
            '{"n":"GX010007.MP4","cre":"1e999","s":"100"}',
            '{"n":"G0010008.JPG","cre":"1700000000","s":"100","g":"1","b":"١","l":"99999999999"}',
        ),
        fails=frozenset({OFFLOAD, FORMAT}),
        refused_format=True,
    ),
    "media list: fs is a string": Case(
        only({MEDIA: json_reply({"id": "1", "media": [{"d": "100GOPRO", "fs": "GX010001.MP4"}]})}),
        fails=frozenset({OFFLOAD, FORMAT}),
    ),
    "media list: wrong types in entries": Case(
        media_with('{"n":10002,"s":"100"}', '{"n":"GX010003.MP4","s":[100]}', '{"n":"G0010004.JPG","g":{},"m":"x"}'),
        fails=frozenset({OFFLOAD, FORMAT}),
        refused_format=True,
    ),
    "media list: names with escapes": Case(
        media_with(
            *(
                json.dumps({"n": name, "cre": "1700000000", "s": "100"})
                for name in ("GX01\x1b[31m.MP4", "GX010002.MP4" + ESCAPES, "../../escape.MP4", "/etc/passwd")
            ),
            json.dumps({"n": "GX01\u202e4PM.MP4", "s": "1"}),
            more={
                "١٠٠GOPRO": ['{"n":"GX010009.MP4","cre":"1700000000","s":"100"}'],
                "../..": ['{"n":"GX010010.MP4","cre":"1700000000","s":"100"}'],
                "100GOPRO" + ESCAPES: ['{"n":"GX010011.MP4","cre":"1700000000","s":"100"}'],
            },
        ),
        fails=frozenset({OFFLOAD, FORMAT}),
        refused_format=True,
    ),
    "media list: 503 whose message has escapes": Case(
        only({MEDIA: json_reply({"message": "Camera is busy" + ESCAPES}, 503)}), fails=frozenset({OFFLOAD, FORMAT})
    ),
    "media list: gzip bomb": Case(only({MEDIA: gzip_bomb()}), fails=frozenset({OFFLOAD, FORMAT})),
    "media list: a 100 TB file": Case(
        media_with('{"n":"GX010002.MP4","cre":"1700000000","s":"100000000000000"}'),
        fails=frozenset({OFFLOAD, FORMAT}),
        refused_format=True,
    ),
    "media list: 32 MB of tiny values": Case(
        only({MEDIA: framed(b'{"media":[{"d":"100GOPRO","fs":[', b"0," * (BLOCK // 2), 511, b"0]}]}")}),
        fails=frozenset({OFFLOAD, FORMAT}),
    ),
    "shutter: endless chunked body": Case(
        only({"/gopro/camera/shutter/start": endless(), "/gopro/camera/shutter/stop": endless()}),
        fails=frozenset({RECORD}),
    ),
    "download: far longer than its Content-Length claims": Case(
        only({DOWNLOAD: Reply(repeated(b"\xee" * BLOCK, 1 << 30), length=1 << 30)}),
        fails=frozenset({OFFLOAD, FORMAT}),
        refused_format=True,
    ),
    "download: endless chunked body": Case(
        only({DOWNLOAD: endless(b"\xee" * BLOCK)}), fails=frozenset({OFFLOAD, FORMAT}), refused_format=True
    ),
    "not HTTP: garbage, then the connection closes": Case(
        only({"*": NotHTTP(b"\x00\xffSSH-2.0-OpenSSH_9.6\r\n\x1b[2J" + ESCAPES.encode())}), named_by_address=True
    ),
    "not HTTP: endless garbage": Case(only({"*": NotHTTP(b"\xab" * BLOCK, endless=True)}), named_by_address=True),
    "date/time: odd numbers": Case(
        only({"/gopro/camera/get_date_time": json_reply({"date": "٢٠٢٣_١٢_٣١", "time": "1_2_3", "tzone": 10**30})}),
        fails=frozenset(),
        extra=("sync-time",),
    ),
    "date/time: 1e999 and wrong types": Case(
        only({"/gopro/camera/get_date_time": text_reply('{"date":["2023"],"time":"11_05_45","tzone":1e999}')}),
        fails=frozenset(),
        extra=("sync-time",),
    ),
}
SLOW = {"state: 50 MB", "state: gzip bomb", "media list: gzip bomb", "not HTTP: endless garbage"}


def marks(name: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if name in SLOW else []


# -- checks -------------------------------------------------------------------------------------------
@dataclass
class Shoot:
    rig: SimRig
    camera: HostileCamera
    case: Case
    place: Place

    @property
    def healthy(self) -> list[str]:
        return [s.camera.serial for s in self.rig.servers]

    @property
    def names(self) -> set[str]:
        """What the hostile camera may be called in a line: its serial (when trusted) or its address."""
        names = {self.camera.address, camera_label(self.camera.address)}
        return names if self.case.named_by_address else names | {self.camera.serial}

    async def run(self, command: str, *args: str, timeout: float = 90) -> Run:
        cameras = [*cameras_of(self.rig), "--camera", self.camera.address]
        run = await asyncio.to_thread(run_blocking, [command, *args, *cameras], self.place, timeout)
        text = run.out + run.err
        context = f"{command}: exit {run.code}\n{run.out}\n{run.err}"
        assert "Traceback" not in text, context
        assert not SHOWN_BADLY.search(text), f"control characters reached the operator\n{context!r}"
        assert not re.search(r"^\W*INJECTED", text, re.M), f"a camera's text started a line of its own\n{context}"
        assert run.peak_mb < PEAK_LIMIT_MB, f"{command}: peak memory {run.peak_mb:.0f} MB\n{context}"
        return run

    def failure_lines(self, run: Run) -> list[str]:
        marks = ("FAILED", "left out", "not verified", "not ready")
        return [line for line in run.out.splitlines() if line.startswith(marks) or " NO " in line]

    def check_outcome(self, command: str, run: Run, fails: bool) -> None:
        context = f"{command}: exit {run.code}\n{run.out}\n{run.err}"
        lines = self.failure_lines(run)
        for line in lines:
            assert not any(serial in line for serial in self.healthy), f"a healthy camera failed\n{context}"
        if not fails:
            assert run.code == 0 and not lines, context
            return
        assert run.code == 1, context
        naming = [line for line in lines if any(name in line for name in self.names)]
        assert naming, f"no line names the hostile camera {sorted(self.names)}\n{context}"
        if command != OFFLOAD:  # an offload names each file it left out
            assert len(naming) == 1 or (command == FORMAT and len(naming) == 2), context  # format: left out + FAILED


def sim_files(server: object) -> dict[str, bytes]:
    dcim = server.camera.media.dcim  # type: ignore[attr-defined]
    return {p.name: p.read_bytes() for p in dcim.rglob("*") if p.is_file()}


def copies(dest: Path, label: str) -> dict[str, bytes]:
    """Files in DEST that came from one camera, by their name on the card."""
    prefix = f"{label}_"
    return {p.name[len(prefix) :]: p.read_bytes() for p in dest.rglob(f"{prefix}*") if p.is_file()}


def deletes(server: object) -> list[object]:
    return [r for r in server.requests if "delete" in str(r["path"])]  # type: ignore[attr-defined]


def hostile_files(dest: Path, names: set[str]) -> list[Path]:
    """The hostile camera's video in DEST, verified or partial."""
    return [p for p in dest.rglob("*_GX010001.MP4*") if any(p.name.startswith(f"{n}_") for n in names)]


def hostile_copies(dest: Path, names: set[str]) -> list[bytes]:
    return [p.read_bytes() for p in hostile_files(dest, names) if p.name.endswith(".MP4")]


@pytest.mark.parametrize("name", [pytest.param(name, marks=marks(name)) for name in CASES], ids=lambda n: n)
async def test_one_hostile_camera_fails_alone(rig: SimRig, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    place = Place(tmp_path)
    place.prepare()
    before = place.files()
    async with HostileCamera() as camera:
        camera.hostile.update(case.replies(camera))
        shoot = Shoot(rig, camera, case, place)

        run = await shoot.run(STATUS)
        shoot.check_outcome(STATUS, run, STATUS in case.fails)
        for serial in shoot.healthy:
            assert re.search(rf"^{serial}\s+HERO12\s+yes ", run.out, re.M), run.out
        if STATUS not in case.fails:
            row = next(line for line in run.out.splitlines() if any(n in line for n in shoot.names))
            assert not re.search(r"\d{7,}|-\d", row.split("HERO12", 1)[-1]), f"absurd numbers shown: {row}"

        run = await shoot.run(RECORD, "--force")
        shoot.check_outcome(RECORD, run, RECORD in case.fails)
        assert all(s.camera.encoding for s in rig.servers), run.out

        run = await shoot.run(STOP)
        shoot.check_outcome(STOP, run, STOP in case.fails)
        assert not any(s.camera.encoding for s in rig.servers), run.out
        footage = {s.camera.serial: sim_files(s) for s in rig.servers}
        assert all(any(n.endswith(".MP4") for n in files) for files in footage.values())

        run = await shoot.run(OFFLOAD, str(place.dest))
        shoot.check_outcome(OFFLOAD, run, OFFLOAD in case.fails)
        for serial, files in footage.items():
            assert copies(place.dest, serial) == files, f"{serial} not fully offloaded\n{run.out}"
        listed = len(camera.files.get(VIDEO, b""))
        grown = [p for p in hostile_files(place.dest, shoot.names) if p.stat().st_size > listed]
        assert not grown, f"a download grew past the listed {listed} bytes: {grown}"
        hostile_verified = any(camera.files[VIDEO] == data for data in hostile_copies(place.dest, shoot.names))

        run = await shoot.run(FORMAT, "--yes")
        shoot.check_outcome(FORMAT, run, FORMAT in case.fails)
        if case.refused_format:  # footage not verified on any card blocks the whole format (DESIGN.md, rule 2)
            assert "format: refused" in run.out, run.out
            assert all(sim_files(s) == footage[s.camera.serial] for s in rig.servers), "nothing may be erased"
            assert not any(deletes(s) for s in rig.servers)
        else:
            assert not any(sim_files(s) for s in rig.servers), f"healthy cards not erased\n{run.out}"
        if camera.deletes:
            assert hostile_verified and not case.refused_format, f"unverified card erased: {camera.deletes}"

        if case.extra:
            run = await shoot.run(*case.extra)
            shoot.check_outcome(case.extra[0], run, True)
            assert len(re.findall(r"^ok ", run.out, re.M)) == len(rig.servers), run.out

    assert place.files() == before, "rigtui wrote outside DEST"


@pytest.mark.parametrize("path", [MEDIA, STATE])
async def test_a_reply_dripping_a_byte_at_a_time_ends_within_its_time_limit(path: str) -> None:
    """Per-read time-outs never end a reply that brings a byte every 0.2 s: the whole exchange has one
    limit (without it, one camera dripping its media list held `rigtui offload` forever)."""
    async with HostileCamera() as camera:
        camera.hostile[path] = dripping(0.2)
        client = CameraClient(camera.host, camera.port, ClientPolicy(request_timeout_s=1, media_list_timeout_s=1))
        started = time.monotonic()
        try:
            with pytest.raises(CameraTimeout):
                await (client.media_list() if path == MEDIA else client.state())
        finally:
            await client.close()
        assert time.monotonic() - started < 2
