"""Where rigtui keeps its files: the XDG base directories, honouring their environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from rigtui.text import unshowable


def _base(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def cache_dir() -> Path:
    """Hints that may be lost (the camera cache)."""
    return _base("XDG_CACHE_HOME", ".cache") / "rigtui"


def data_dir() -> Path:
    """What the user chose in the TUI (prime camera, nicknames)."""
    return _base("XDG_DATA_HOME", ".local/share") / "rigtui"


def state_dir() -> Path:
    """Session logs."""
    return _base("XDG_STATE_HOME", ".local/state") / "rigtui"


def config_dir() -> Path:
    return _base("XDG_CONFIG_HOME", ".config") / "rigtui"


# -- destinations -------------------------------------------------------------------------------------
class UnsafePath(ValueError):
    """A name that must not become a path under a destination; str() says which and why."""


def destination(root: Path, relative: str) -> Path:
    """Where `relative` (built from names a camera, a Pi or the operator gave) goes under `root`.

    The one function that turns such names into paths: it refuses an empty or absolute name, `.`
    and `..` parts, backslashes, NUL and other control characters (C0 and C1), invisible format
    characters (bidi overrides, zero-width) and lone surrogates, and anything that lands outside
    `root` once the links already on disk are followed."""
    if not relative or unshowable(relative):
        raise UnsafePath(f"{relative!r}: empty or has control, format or surrogate characters")
    if "\\" in relative or relative.startswith("/"):
        raise UnsafePath(f"{relative!r}: absolute, or has a backslash")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(f"{relative!r}: has an empty, '.' or '..' part")
    path = root.joinpath(*parts)
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise UnsafePath(f"{relative!r}: leads outside {base}")
    return path


class NameClaims:
    """Names already given out under one destination: two that differ only by case would be one
    file on a case-insensitive disk (exFAT, APFS, NTFS), so the second is refused."""

    def __init__(self) -> None:
        self._claimed: dict[str, str] = {}

    def claim(self, relative: str) -> None:
        folded = relative.casefold()
        holder = self._claimed.setdefault(folded, relative)
        if holder != relative:
            raise UnsafePath(f"{relative!r}: the same file as {holder!r} on a disk that ignores case")
