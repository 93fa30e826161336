"""The custody report beside every take folder's ASC MHL history (custody.html for people,
custody.json for scripts), and that history's generations, through the real `record` and `offload`
commands against simulated cameras, checked with the reference `ascmhl` tool."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import xxhash
from conftest import cameras_of, run_rigtui, url
from test_offload import ASCMHL, BASE, take_folders

from rigtui.gopro.custody import HTML_NAME, JSON_NAME, offload_run, render_html, take_facts, write_report
from rigtui.gopro.ledger import Ledger, LedgerEntry
from rigtui.gopro.mhl import HashedFile, add_generation
from rigtui.gopro.shotlog import CameraAtStart, LoggedTake, ShotCamera, ShotLog
from rigtui.paths import data_dir
from rigtui.sim.rig import SimRig

HOSTILE = "<script>alert(1)</script>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A strict reading of a page: every non-void tag closes in order; text, scripts and external
    resources are collected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.references += [value or "" for name, value in attrs if name in ("src", "href") or name.startswith("on")]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_page(path: Path) -> str:
    """The page's text, after checking it is well formed and self-contained."""
    page = Page()
    source = path.read_text(encoding="utf-8")
    page.feed(source)
    page.close()
    assert source.startswith("<!DOCTYPE html>")
    assert not page.errors and not page.open, (page.errors, page.open)
    assert "script" not in page.tags and not page.references, "no script, nothing fetched"
    assert {"html", "head", "style", "body", "table"} <= page.tags
    return " ".join(page.text)


def ledger_of(root: Path) -> dict[str, str]:
    """path in the take folder -> xxh64, from the ledger's records of `root`."""
    entries = Ledger().in_root(root.resolve())
    return {Path(e.dest).relative_to(root.resolve()).as_posix().split("/", 1)[1]: e.xxh64 for e in entries}


def ascmhl(*args: str) -> subprocess.CompletedProcess[str]:
    if not ASCMHL:
        pytest.skip("the reference ascmhl tool is not installed")
    return subprocess.run([ASCMHL, *args], capture_output=True, text=True, timeout=60)


async def offload(rig: SimRig, *args: str) -> dict[str, Any]:
    code, out, err = await run_rigtui("offload", *args, "--json", *cameras_of(rig))
    assert code == 0 and "Traceback" not in err, out + err
    return json.loads(out)


@pytest.mark.rig(cameras=2, models=("HERO12", "HERO13"))
async def test_each_destination_gets_a_report_of_its_take(rig: SimRig, http: httpx.AsyncClient, tmp_path: Path) -> None:
    first, early = rig.servers
    first.camera.info = dataclasses.replace(first.camera.info, firmware=f"H23{HOSTILE}")  # a hostile camera
    await http.get(url(early, "/_sim/set?hot=1"))
    await http.get(url(early, "/_sim/fault?set=spontaneous-stop&value=1.0"))
    code, out, err = await run_rigtui("record", "--duration", "3", "--force", *cameras_of(rig))
    assert code == 0, out + err
    early.set_fault("short", 20_000, times=1)  # one download comes short once: retried, then whole
    dests = [tmp_path / "ssd1", tmp_path / "ssd2"]
    report = await offload(rig, *map(str, dests))
    assert [d["verified"] for d in report["destinations"]] == [6, 6]  # per camera: MP4, LRV, THM

    for dest in dests:
        (folder,) = take_folders(dest)
        facts = json.loads((folder / JSON_NAME).read_text())
        assert {f["path"]: f["xxh64"] for f in facts["files"]} == ledger_of(dest), "the same files as the ledger"
        for file in facts["files"]:
            assert xxhash.xxh64((folder / file["path"]).read_bytes()).hexdigest() == file["xxh64"]
            mine = [c for c in file["copies"] if c["destination"] == str(dest.resolve())]
            assert [c["path"] for c in mine] == [str(dest.resolve() / folder.name / file["path"])]
            assert len(file["copies"]) == 2, "the copy in the other destination is named too"
        (run,) = facts["offloads"]
        assert run["destination"] == str(dest.resolve()) and "@" in run["by"] and run["manifest"].startswith("0001_")
        take = facts["take"]
        assert take["folder"] == folder.name and take["formed_by"] == "shot log" and take["stopped"]
        cameras = {c["camera"]: c for c in facts["cameras"]}
        assert set(cameras) == {first.camera.serial, early.camera.serial}
        for server in rig.servers:
            camera = cameras[server.camera.serial]
            assert camera["model"] == server.camera.model and camera["recorded_at_start"]
            assert camera["settings"]["Video Resolution"] and camera["settings"]["Video Lens"]
            assert 0 < camera["battery_percent"] <= 100
            assert camera["clock_offset_s"] is not None
        assert cameras[early.camera.serial]["hot"] is True and cameras[first.camera.serial]["hot"] is False
        assert cameras[first.camera.serial]["firmware"] == f"H23{HOSTILE}"
        stopped = [e for e in facts["shot_log_events"] if e["camera"] == early.camera.serial]
        assert any("stopped recording on its own" in e["text"] for e in stopped), facts["shot_log_events"]

        page = read_page(folder / HTML_NAME)
        source = (folder / HTML_NAME).read_text()
        assert HOSTILE not in source and "&lt;script&gt;" in source, "a camera's bytes are shown, never run"
        for file in facts["files"]:
            assert file["camera_path"] in page and file["path"] in page and file["xxh64"] in page
            assert f"{file['size']:,}" in page
        for camera in facts["cameras"]:
            for name, option in camera["settings"].items():
                assert f"{name}: {option}" in page
        assert "HOT" in page and "stopped recording on its own" in page
        assert str(dest.resolve()) in page

        (retried,) = run["events"]
        assert retried["camera"] == early.camera.serial and "download retried 1 time (got" in retried["text"]
        assert retried["text"] in page
        footage = folder / facts["files"][0]["path"]
        assert (folder / HTML_NAME).stat().st_mode == (folder / JSON_NAME).stat().st_mode == footage.stat().st_mode

        assert ascmhl("diff", str(folder)).returncode == 0, "the report is no new file to the history"
        assert ascmhl("info", str(folder)).stdout.count("Generation ") == 1


@pytest.mark.rig(cameras=2, models=("HERO12",))
async def test_a_later_offload_adds_a_generation_and_keeps_the_earlier_one(rig: SimRig, tmp_path: Path) -> None:
    for server in rig.servers:  # button presses: no shot log, grouped by the cameras' clocks
        await server.camera.add_recording(duration=20, cre=BASE, size=300_000)
    dest = tmp_path / "footage"
    await offload(rig, str(dest), "--no-sidecars")
    (folder,) = take_folders(dest)
    (generation,) = (folder / "ascmhl").glob("0001_*.mhl")
    before = generation.read_bytes()
    facts = json.loads((folder / JSON_NAME).read_text())
    assert facts["take"]["shot_log_take"] is None and "camera clocks" in facts["take"]["formed_by"]
    assert all(not c["recorded_at_start"] and c["settings"] == {} and c["firmware"] is None for c in facts["cameras"])
    assert "settings at record time are not known" in read_page(folder / HTML_NAME)

    time.sleep(1.1)  # generations are named to the second
    await offload(rig, str(dest))  # now with the LRV proxies and thumbnails: into the same take folder
    assert generation.read_bytes() == before, "the first generation is never rewritten"
    assert len(list((folder / "ascmhl").glob("0002_*.mhl"))) == 1
    assert ascmhl("diff", str(folder)).returncode == 0
    assert ascmhl("info", str(folder)).stdout.count("Generation ") == 2
    facts = json.loads((folder / JSON_NAME).read_text())
    assert len(facts["files"]) == 6 and {f["path"] for f in facts["files"]} == set(ledger_of(dest))
    assert [run["manifest"][:4] for run in facts["offloads"]] == ["0001", "0002"], "the earlier offload is kept"
    assert ascmhl("create", "-h", "xxh64", str(folder)).returncode == 0, "every listed byte still matches"


def test_a_file_listed_again_is_verified_in_a_new_generation(tmp_path: Path) -> None:
    folder = tmp_path / "take01_2026_03_21_15_30_45"
    folder.mkdir()
    clip = folder / "C3501324645504_GX010001.MP4"
    clip.write_bytes(b"footage" * 1000)
    listed = HashedFile(
        clip.name, clip.stat().st_size, clip.stat().st_mtime, xxhash.xxh64(clip.read_bytes()).hexdigest()
    )
    first = add_generation(folder, [listed], time.time())
    second = add_generation(folder, [listed], time.time() + 1)
    assert 'action="original"' in first.read_text() and 'action="verified"' in second.read_text()
    info = ascmhl("info", "-sf", str(clip), str(folder)).stdout
    assert "(original)" in info and "(verified)" in info
    assert ascmhl("diff", str(folder)).returncode == 0


def test_every_value_from_a_camera_is_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "dest" / "take01_2026_03_21_15_30_45"
    folder.mkdir(parents=True)
    name = f"{HOSTILE}\x1b[2J\u202e.MP4"
    entry = LedgerEntry(
        HOSTILE, f"100GOPRO/{name}", BASE, 1, "0" * 16, str(folder / name), str(folder.parent), 1, BASE, "video"
    )
    at_start = CameraAtStart(HOSTILE, HOSTILE, 50, False, False, False, {HOSTILE: HOSTILE})
    logged = LoggedTake("20260321T143045.000Z", 1.8e9, 1.8e9 + 5, cameras={HOSTILE: ShotCamera(at_start=at_start)})
    logged.notes.append((1.8e9 + 1, HOSTILE, HOSTILE))
    facts = take_facts(folder, [entry], {entry.key: [entry]}, logged, {})
    write_report(folder, facts, offload_run(folder.parent, HOSTILE, [], time.time()))
    source = (folder / HTML_NAME).read_text()
    assert "<script" not in source and "\x1b" not in source and "\u202e" not in source
    assert source.count("&lt;script&gt;") >= 6
    read_page(folder / HTML_NAME)
    assert json.loads((folder / JSON_NAME).read_text())["files"][0]["path"] == name, "the JSON keeps the exact name"
    assert render_html(json.loads((folder / JSON_NAME).read_text())) == source


OLD_LINE = {
    "event": "start",
    "take": "20260321T143045.000Z",
    "utc": 1_774_103_445.0,
    "cameras": {"C3501324645504": {"was_recording": False, "confirmed": None, "offset_s": None, "media": []}},
    "repaired": False,
}


def test_an_old_shot_log_line_still_loads_and_bad_record_facts_are_refused() -> None:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    good = {"model": "HERO12", "firmware": None, "battery_percent": 80, "charging": False, "hot": False, "cold": None}
    new = json.loads(json.dumps(OLD_LINE))
    new["take"] = "20260321T150000.000Z"
    new["cameras"]["C3501324645504"]["at_start"] = {**good, "settings": {"Video Resolution": "4K"}}
    (folder / "shotlog.jsonl").write_text(json.dumps(OLD_LINE) + "\n" + json.dumps(new) + "\n")
    old, recent = ShotLog(folder).takes()
    assert old.cameras["C3501324645504"].at_start is None
    assert recent.cameras["C3501324645504"].at_start == CameraAtStart(**good, settings={"Video Resolution": "4K"})
    for wrong in ({"battery_percent": True}, {"hot": 1}, {"settings": {"Video Resolution": 1}}, {"model": ""}):
        bad = json.loads(json.dumps(new))
        bad["cameras"]["C3501324645504"]["at_start"].update(wrong)
        (folder / "shotlog.jsonl").write_text(json.dumps(OLD_LINE) + "\n" + json.dumps(bad) + "\n")
        assert [t.id for t in ShotLog(folder).takes()] == [OLD_LINE["take"]], wrong
