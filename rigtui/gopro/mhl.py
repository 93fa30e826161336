"""ASC MHL (v2.0) histories: the manifest film offload tools and their verifiers read.

Each take folder (in each destination) carries `ascmhl/`: one hash list per generation
(`0001_<folder>_<time>Z.mhl`), listing the files that generation verified with their xxh64 (action
"original" the first time a file is listed, "verified" when a later generation checks it again), and
`ascmhl_chain.xml`, which names every generation with the C4 id of its file so that a changed
manifest is detected too. A later offload adds a generation; it never rewrites an earlier one.
"""

from __future__ import annotations

import hashlib
import os
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from rigtui import __version__
from rigtui.gopro.custody import REPORT_PATTERNS

HISTORY = "ascmhl"
CHAIN = "ascmhl_chain.xml"
CHAIN_NS = "urn:ASC:MHL:DIRECTORY:v2.0"
MHL_NS = "urn:ASC:MHL:v2.0"
C4_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# Never listed: the history itself, partial downloads, and the custody report, which is rewritten
# beside the history whenever a generation is added (`ascmhl diff` must not call it a new file).
IGNORED = (".DS_Store", "ascmhl", "ascmhl/", "*.part", *REPORT_PATTERNS)


@dataclass(frozen=True)
class HashedFile:
    path: str  # relative to the take folder, "/"-separated
    size: int
    mtime: float
    xxh64: str  # 16 hex digits


def c4_id(data: bytes) -> str:
    """SMPTE ST 2114 C4 id: SHA-512 in base 58, padded to 88 digits, prefixed "c4"."""
    value = int.from_bytes(hashlib.sha512(data).digest(), "big")
    digits = ""
    while value:
        value, remainder = divmod(value, 58)
        digits = C4_ALPHABET[remainder] + digits
    return "c4" + digits.rjust(88, "1")


def _iso(when: float, *, fraction: bool = False) -> str:
    stamp = datetime.fromtimestamp(when, UTC)
    return stamp.isoformat() if fraction else stamp.replace(microsecond=0).isoformat()


def _chain_entries(history: Path) -> list[tuple[int, str, str]]:
    chain = history / CHAIN
    if not chain.exists():
        return []
    root = ET.parse(chain).getroot()
    entries = []
    for item in root.findall(f"{{{CHAIN_NS}}}hashlist"):
        path = item.findtext(f"{{{CHAIN_NS}}}path") or ""
        c4 = item.findtext(f"{{{CHAIN_NS}}}c4") or ""
        entries.append((int(item.get("sequencenr", "0")), path, c4))
    return entries


def _listed(history: Path, entries: list[tuple[int, str, str]]) -> dict[str, str]:
    """Every file the earlier generations list, with its xxh64 (a generation that cannot be read
    lists nothing: its files are then listed as originals again)."""
    found: dict[str, str] = {}
    for _, name, _ in entries:
        try:
            root = ET.parse(history / name).getroot()
        except (OSError, ET.ParseError):
            continue
        for item in root.iter(f"{{{MHL_NS}}}hash"):
            path, digest = item.findtext(f"{{{MHL_NS}}}path"), item.findtext(f"{{{MHL_NS}}}xxh64")
            if path and digest:
                found[path] = digest
    return found


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def add_generation(folder: Path, files: list[HashedFile], now: float) -> Path:
    """Write a new generation listing `files` and extend the chain; returns the new hash list.
    A file an earlier generation lists with the same hash is listed as "verified" (checked again)."""
    history = folder / HISTORY
    history.mkdir(exist_ok=True)
    entries = _chain_entries(history)
    listed = _listed(history, entries)
    sequence = max((e[0] for e in entries), default=0) + 1
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d_%H%M%SZ")
    manifest = history / f"{sequence:04d}_{folder.name}_{stamp}.mhl"
    hashes = "".join(
        "    <hash>\n"
        f'      <path size="{f.size}" lastmodificationdate="{_iso(f.mtime)}">{escape(f.path)}</path>\n'
        f'      <xxh64 action="{_action(listed, f)}" hashdate="{_iso(now, fraction=True)}">{f.xxh64}</xxh64>\n'
        "    </hash>\n"
        for f in sorted(files, key=lambda f: f.path)
    )
    _write_atomic(
        manifest,
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">\n'
        "  <creatorinfo>\n"
        f"    <creationdate>{_iso(now)}</creationdate>\n"
        f"    <hostname>{escape(socket.gethostname())}</hostname>\n"
        f'    <tool version="{__version__}">rigtui</tool>\n'
        "  </creatorinfo>\n"
        "  <processinfo>\n"
        "    <process>transfer</process>\n"
        "    <ignore>\n" + "".join(f"      <pattern>{escape(p)}</pattern>\n" for p in IGNORED) + "    </ignore>\n"
        "  </processinfo>\n"
        "  <hashes>\n" + hashes + "  </hashes>\n"
        "</hashlist>\n",
    )
    entries.append((sequence, manifest.name, c4_id(manifest.read_bytes())))
    chain = "".join(
        f'  <hashlist sequencenr="{number}">\n    <path>{escape(path)}</path>\n    <c4>{c4}</c4>\n  </hashlist>\n'
        for number, path, c4 in entries
    )
    _write_atomic(
        history / CHAIN,
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ascmhldirectory xmlns="{CHAIN_NS}">\n{chain}</ascmhldirectory>\n',
    )
    return manifest


def _action(listed: dict[str, str], file: HashedFile) -> str:
    return "verified" if listed.get(file.path) == file.xxh64 else "original"
