"""Where rigtui keeps its files: the XDG base directories, honouring their environment variables."""

from __future__ import annotations

import os
from pathlib import Path


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
