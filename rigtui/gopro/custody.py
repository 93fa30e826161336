"""The custody report of a take folder: what was offloaded, when, by whom, from which camera, set
how, and what happened on the way, next to the folder's ASC MHL history.

Two files hold the same facts: `custody.json` for scripts and `custody.html` for people (one
self-contained page: inline CSS, no script, nothing fetched, readable offline). Both are rewritten,
atomically, whenever the offload adds a generation to the folder's history; the offloads recorded
in the previous `custody.json` are kept. Names from cameras are hostile: the JSON escapes them and
the page shows them escaped, with unprintable characters replaced (rigtui.text.shown).
"""

from __future__ import annotations

import getpass
import html
import json
import math
import os
import socket
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rigtui import __version__
from rigtui.files import write_atomically
from rigtui.gopro.ledger import LedgerEntry
from rigtui.gopro.shotlog import LoggedTake
from rigtui.gopro.takes import camera_label
from rigtui.text import shown

HTML_NAME = "custody.html"
JSON_NAME = "custody.json"
# what the reports and their temporary files are called (rigtui.files.write_atomically), for the
# ASC MHL history to leave them out: they are rewritten, the footage never is
SYNC_NAME = "sync.json"  # the take's sync audit (rigtui.ops.sync_audit), beside the editor timeline TAKE.otio
REPORT_PATTERNS = (HTML_NAME, JSON_NAME, ".custody.*.tmp", SYNC_NAME, ".sync.*.tmp", "*.otio", ".*.otio.*.tmp")
FORMAT = "rigtui-custody/1"
MAX_RUNS = 1000  # earlier offloads kept from the previous report
MAX_EVENTS = 10_000  # events kept per offload
SHOWN = 1000  # characters of a value shown on the page


@dataclass(frozen=True)
class CopyEvent:
    """Something the offload did for one camera file: retried its download, waited for its busy
    camera, failed a copy."""

    camera: str  # camera label
    path: str  # DIR/NAME on the card
    text: str


def local_time(utc: float | None) -> str | None:
    """An instant as the host's local time, ISO 8601 with its UTC offset."""
    if utc is None:
        return None
    return datetime.fromtimestamp(utc).astimezone().isoformat(timespec="seconds")


def wall_time(anchor: int) -> str:
    """A take's anchor (the host's local wall time written as an epoch) as ISO 8601 local time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(anchor))


def operator() -> str:
    """user@host of whoever runs this offload."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no password entry (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# -- the facts ----------------------------------------------------------------------------------------
def take_facts(
    folder: Path,
    entries: list[LedgerEntry],
    copies: dict[tuple[str, str, int], list[LedgerEntry]],
    logged: LoggedTake | None,
    models: dict[str, str],
) -> dict[str, Any]:
    """The take, its cameras, its files and the shot log's events: what the report says besides
    its offloads. `entries`: the ledger's records of this folder's files; `copies`: every copy of
    each of those camera files; `models`: camera label -> model, as the rig knows it now."""
    first = min(entries, key=lambda e: e.take)
    take: dict[str, Any] = {
        "folder": folder.name,
        "number": first.take,
        "kind": first.kind,
        "shot_log_take": logged.id if logged else None,
        "formed_by": "shot log" if logged else "camera clocks (not shot by rigtui, or its shot log is gone)",
        "started": local_time(logged.started) if logged else wall_time(first.anchor),
        "stopped": local_time(logged.stopped) if logged else None,
        "closed_by_a_later_command": logged.repaired if logged else False,
    }
    return {
        "take": take,
        "cameras": _cameras(entries, logged, models),
        "files": [_file(folder, entry, copies.get(entry.key, [])) for entry in sorted(entries, key=lambda e: e.dest)],
        "shot_log_events": _shot_events(logged),
    }


def _cameras(entries: list[LedgerEntry], logged: LoggedTake | None, models: dict[str, str]) -> list[dict[str, Any]]:
    logged_cameras = {camera_label(key): facts for key, facts in (logged.cameras.items() if logged else ())}
    found = []
    for label in sorted({e.camera for e in entries} | set(logged_cameras)):
        facts = logged_cameras.get(label)
        at = facts.at_start if facts else None
        found.append(
            {
                "camera": label,
                "model": (at.model if at else None) or models.get(label),
                "firmware": at.firmware if at else None,
                "battery_percent": at.battery_percent if at else None,
                "charging": at.charging if at else None,
                "hot": at.hot if at else None,
                "cold": at.cold if at else None,
                "settings": dict(at.settings) if at else {},
                "clock_offset_s": facts.offset_s if facts else None,
                "confirmed_start": facts.confirmed if facts else None,
                "recorded_at_start": at is not None,
                "files": sum(1 for e in entries if e.camera == label),
            }
        )
    return found


def _file(folder: Path, entry: LedgerEntry, copies: list[LedgerEntry]) -> dict[str, Any]:
    return {
        "camera": entry.camera,
        "camera_path": entry.path,
        "path": Path(entry.dest).relative_to(folder).as_posix(),
        "size": entry.size,
        "duration_s": None,  # the media list tells no duration (its `ls` is the LRV proxy's size)
        "xxh64": entry.xxh64,
        "verified_at": local_time(entry.verified_at),
        "copies": [
            {"path": c.dest, "destination": c.root, "volume": c.volume, "verified_at": local_time(c.verified_at)}
            for c in sorted(copies, key=lambda c: c.dest)
        ],
    }


def _shot_events(logged: LoggedTake | None) -> list[dict[str, Any]]:
    if logged is None:
        return []
    events = []
    for key, facts in sorted(logged.cameras.items()):
        if facts.was_recording:
            events.append((logged.started, key, "was already recording when the take started"))
        if facts.confirmed is False:
            events.append((logged.started, key, "did not confirm the start"))
    events += logged.notes
    if logged.repaired and logged.stopped is not None:
        events.append((logged.stopped, "", "the take was closed by a later command, not by `stop`"))
    return [{"at": local_time(at), "camera": camera_label(key), "text": text} for at, key, text in sorted(events)]


def offload_run(root: Path, manifest: str, events: Iterable[CopyEvent], now: float) -> dict[str, Any]:
    """This offload into the folder: who, when, which rigtui, where, and its events."""
    return {
        "by": operator(),
        "at": local_time(now),
        "rigtui": __version__,
        "destination": str(root),
        "manifest": manifest,
        "events": [{"camera": e.camera, "file": e.path, "text": e.text} for e in events][:MAX_EVENTS],
    }


def earlier_runs(folder: Path) -> list[dict[str, Any]]:
    """The offloads the folder's previous custody.json records; none when it is missing or not
    exactly what rigtui writes (it is a file anyone could have edited)."""
    try:
        data = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
        runs = data["offloads"]
        if data.get("format") != FORMAT or not isinstance(runs, list) or not all(_run(r) for r in runs):
            return []
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return []
    return runs[-MAX_RUNS:]


def _run(run: object) -> bool:
    keys = {"by", "at", "rigtui", "destination", "manifest", "events"}
    if not isinstance(run, dict) or set(run) != keys or not all(isinstance(run[k], str) for k in keys - {"events"}):
        return False
    events = run["events"]
    return isinstance(events, list) and all(
        isinstance(e, dict) and set(e) == {"camera", "file", "text"} and all(isinstance(v, str) for v in e.values())
        for e in events
    )


def write_report(folder: Path, facts: dict[str, Any], run: dict[str, Any]) -> None:
    """custody.json and custody.html of the folder, each written atomically (a crash leaves the old
    report or the new one): the facts, with this offload after the earlier ones."""
    report = {"format": FORMAT, **facts, "offloads": [*earlier_runs(folder), run]}
    mode = stat.S_IMODE(folder.stat().st_mode) & 0o666  # as readable as the footage beside it (umask)
    for name, data in ((JSON_NAME, json.dumps(report, indent=1) + "\n"), (HTML_NAME, render_html(report))):
        write_atomically(folder / name, data.encode())
        os.chmod(folder / name, mode)


def add_sync(folder: Path, sync: dict[str, Any]) -> bool:
    """The take's sync audit into its custody report (both files rewritten, atomically); False when
    the folder has no report rigtui wrote (it is written when the offload seals the folder)."""
    try:
        report = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        return False
    report["sync"] = sync
    try:
        html_text = render_html(report)
    except (KeyError, TypeError, ValueError):  # edited by hand into something else: left as it is
        return False
    mode = stat.S_IMODE(folder.stat().st_mode) & 0o666
    for name, data in ((JSON_NAME, json.dumps(report, indent=1) + "\n"), (HTML_NAME, html_text)):
        write_atomically(folder / name, data.encode())
        os.chmod(folder / name, mode)
    return True


# -- the page -----------------------------------------------------------------------------------------
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #111; background: #fff; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td { font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, monospace; word-break: break-all; }
ul { margin: 0; padding-left: 1.2em; } .warn { color: #a00; font-weight: bold; } .none { color: #888; }
@media print { body { margin: 0; } }
"""


def _h(value: object) -> str:
    """Any value as page text: unprintable characters replaced, then HTML-escaped."""
    if value is None or value == "":
        return '<span class="none">—</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(shown(str(value), SHOWN), quote=True)


def _row(*cells: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>\n"


def _table(head: list[str], rows: list[str]) -> str:
    return f"<table>\n<thead>{_row(*head, header=True)}</thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>\n"


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return (
        "<table>\n<tbody>\n"
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>\n" for k, v in pairs)
        + "</tbody>\n</table>\n"
    )


def _offset(seconds: float | None) -> str:
    return _h(None) if seconds is None or not math.isfinite(seconds) else f"{seconds:+.3f} s"


def _temperature(camera: dict[str, Any]) -> str:
    if camera["hot"] is None and camera["cold"] is None:
        return _h(None)
    if camera["hot"]:
        return '<span class="warn">HOT</span>'
    return '<span class="warn">COLD</span>' if camera["cold"] else "ok"


def _battery(camera: dict[str, Any]) -> str:
    percent, charging = camera["battery_percent"], camera["charging"]
    if percent is None:
        return _h(None)
    return f"{int(percent)}%" + (" (charging)" if charging else "")


FILE_COLUMNS = ["Camera", "Name on the camera", "Path in this folder", "Size (bytes)", "Duration", "xxh64", "Copies"]


def _file_row(file: dict[str, Any]) -> str:
    copies = "".join(
        f"<li><code>{_h(c['path'])}</code> (verified {_h(c['verified_at'])}, volume {_h(c['volume'])})</li>"
        for c in file["copies"]
    )
    duration = None if file["duration_s"] is None else f"{file['duration_s']} s"
    return _row(
        _h(file["camera"]),
        f"<code>{_h(file['camera_path'])}</code>",
        f"<code>{_h(file['path'])}</code>",
        f"{int(file['size']):,}",
        _h(duration),
        f"<code>{_h(file['xxh64'])}</code>",
        f"<ul>{copies}</ul>",
    )


def _ms(seconds: object, sign: str = "+") -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return _h(None)
    return f"{seconds * 1000:{sign}.3f} ms"


def _sync_section(sync: object) -> list[str]:
    """When each camera really started, measured from the clips' audio (rigtui.ops.sync_audit)."""
    if not isinstance(sync, dict) or not isinstance(sync.get("clips"), list):
        return []
    rows = [
        _row(
            _h(c.get("camera")),
            f"<code>{_h(c.get('path'))}</code>",
            _ms(c.get("offset_s")),
            _ms(c.get("from_earliest_s"), ""),
            _h(c.get("confidence")),
            _ms(c.get("timecode_offset_s")),
            f'<span class="warn">{_h(c.get("flag"))}: {_h(c.get("detail"))}</span>' if c.get("flag") else _h(None),
        )
        for c in sync["clips"]
        if isinstance(c, dict)
    ]
    return [
        "<h2>Sync (measured from the clips' audio)</h2>\n",
        _pairs(
            [
                ("Reference camera", _h(sync.get("reference"))),
                ("Start spread (aligned clips)", _ms(sync.get("spread_s"), "")),
                ("Measured", _h(sync.get("audited_at"))),
                ("Editor timeline", f"<code>{_h(sync.get('timeline'))}</code>"),
            ]
        ),
        _table(
            ["Camera", "Clip", "Start after the reference", "After the earliest", "Confidence", "Timecode", "Flag"],
            rows,
        ),
    ]


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    take = report["take"]
    title = f"Custody report: {_h(take['folder'])}"
    parts = [
        _pairs(
            [
                ("Take folder", _h(take["folder"])),
                ("Take number", _h(take["number"])),
                ("Kind", _h(take["kind"])),
                ("Formed by", _h(take["formed_by"])),
                ("Shot log take", _h(take["shot_log_take"])),
                ("Started (host local time)", _h(take["started"])),
                ("Stopped (host local time)", _h(take["stopped"])),
            ]
        ),
        "<h2>Offloads</h2>\n",
        _table(
            ["When", "By", "rigtui", "Destination", "ASC MHL generation"],
            [
                _row(
                    _h(r["at"]), _h(r["by"]), _h(r["rigtui"]), f"<code>{_h(r['destination'])}</code>", _h(r["manifest"])
                )
                for r in report["offloads"]
            ],
        ),
        "<h2>Cameras</h2>\n",
    ]
    if not report["take"]["shot_log_take"]:
        parts.append("<p>Not shot by rigtui (or its shot log is gone): settings at record time are not known.</p>\n")
    for camera in report["cameras"]:
        parts.append(f"<h3>{_h(camera['camera'])}</h3>\n")
        settings = "".join(f"<li>{_h(k)}: {_h(v)}</li>" for k, v in camera["settings"].items())
        parts.append(
            _pairs(
                [
                    ("Serial", _h(camera["camera"])),
                    ("Model", _h(camera["model"])),
                    ("Firmware", _h(camera["firmware"])),
                    ("Battery at record time", _battery(camera)),
                    ("Temperature at record time", _temperature(camera)),
                    ("Clock offset (camera minus host)", _offset(camera["clock_offset_s"])),
                    ("Start confirmed", _h(camera["confirmed_start"])),
                    ("Settings at record time", f"<ul>{settings}</ul>" if settings else _h(None)),
                    ("Files in this folder", _h(camera["files"])),
                ]
            )
        )
    parts += _sync_section(report.get("sync"))
    parts += [
        "<h2>Files</h2>\n",
        _table(FILE_COLUMNS, [_file_row(f) for f in report["files"]]),
        "<h2>Events</h2>\n",
    ]
    events = [_row(_h(e["at"]), _h(e["camera"]), "shot log", "", _h(e["text"])) for e in report["shot_log_events"]]
    events += [
        _row(_h(run["at"]), _h(e["camera"]), "offload", f"<code>{_h(e['file'])}</code>", _h(e["text"]))
        for run in report["offloads"]
        for e in run["events"]
    ]
    parts.append(_table(["When", "Camera", "From", "File", "What"], events) if events else "<p>None.</p>\n")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        + "".join(parts)
        + f'<p class="none">Written by rigtui {_h(__version__)}; the same facts are in {JSON_NAME}.</p>\n'
        "</body>\n</html>\n"
    )
