"""config.toml: schema, defaults, loading and validation.

Every option is declared once here, with its type, limits and default; a bad value raises
ConfigError naming the file, the line, the key and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigtui.gopro.protocol import MODELS
from rigtui.paths import config_dir


class ConfigError(Exception):
    """A config file that cannot be used; str() is one line naming file, line, key and problem."""

    def __init__(self, path: Path | None, problem: str, key: str | None = None, line: int | None = None) -> None:
        self.path, self.problem, self.key, self.line = path, problem, key, line
        where = str(path) if path else "config"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


@dataclass(frozen=True)
class Option:
    kind: type | str  # int, float, bool, str, or "models" / "str_list"
    default: Any
    low: float | None = None
    high: float | None = None
    pattern: str | None = None


SCHEMA: dict[str, dict[str, Option]] = {
    "rig": {
        "cameras": Option("str_list", []),
        "mdns": Option(bool, True),
        "mdns_interfaces": Option("str_list", []),
        "usb_scan": Option(bool, True),
        "discovery_seconds": Option(float, 4.0, 0.5, 60),
        "prime": Option(str, ""),
        "poll_hz": Option(float, 1.0, 0.05, 2.0),
        "request_timeout_s": Option(float, 5.0, 0.5, 60),
        "min_battery_percent": Option(int, 20, 0, 100),
        "min_sd_minutes": Option(int, 10, 0, 10_000),
    },
    "offload": {
        "dest": Option(str, ""),
        "prefix": Option(str, "take", pattern=r"[A-Za-z0-9_-]{1,32}"),
        "sidecars": Option(bool, True),
        "tolerance_s": Option(float, 5.0, 0.5, 600),
        "per_camera": Option(int, 2, 1, 8),
        "layout": Option(str, "flat", pattern=r"flat|photogrammetry"),
        "read_timeout_s": Option(float, 20.0, 1, 600),
        "retries": Option(int, 5, 0, 100),
        "ledger": Option(str, ""),
    },
    "pi": {
        "backend": Option(str, "picamera2", pattern=r"picamera2|opencv|synthetic"),
        "source": Option(str, "0"),
        "synthetic_script": Option(str, "cycle", pattern=r"cycle|day|night|flicker"),
        "width": Option(int, 1024, 16, 8192),
        "height": Option(int, 768, 16, 8192),
        "fps": Option(float, 10.0, 0.1, 240),
        "ring_frames": Option(int, 300, 1, 100_000),
        "ring_seconds": Option(float, 0.0, 0, 3600),
        "memory_cap_mb": Option(int, 1024, 16, 65_536),
        "bind": Option(str, "127.0.0.1", pattern=r"[0-9a-fA-F:.]+"),
        "port": Option(int, 9999, 0, 65535),
        "night_enabled": Option(bool, True),
        "dark_threshold": Option(float, 35.0, 0, 10_000),
        "bright_threshold": Option(float, 55.0, 0, 10_000),
        "min_dark_frames": Option(int, 20, 1, 100_000),
        "min_bright_frames": Option(int, 20, 1, 100_000),
        "night_exposure_us": Option(int, 2_000_000, 100, 200_000_000),
        "night_gain": Option(float, 6.0, 1, 64),
        "level_center": Option(float, 1.0, 0.1, 1.0),
        "export_dir": Option(str, "captures"),
        "formats": Option("str_list", ["jpg"]),
        "save_before_s": Option(float, 0.0, 0, 3600),
        "save_after_s": Option(float, 0.0, 0, 3600),
        "stack_dark_frames": Option(bool, True),
        "stack_count": Option(int, 4, 1, 256),
        "auto_save_interval_s": Option(float, 900.0, 0, 86_400),
        "min_free_mb": Option(int, 200, 0, 10_000_000),
        "max_files": Option(int, 0, 0, 10_000_000),
        "max_gb": Option(float, 0.0, 0, 100_000),
    },
    "remote": {
        "stale_after_s": Option(float, 5.0, 1, 600),
        "connect_timeout_s": Option(float, 10.0, 1, 300),
        "known_hosts": Option(str, ""),
    },
    "keys": {
        action: Option(str, "", pattern=r"[a-z0-9_+,]*")
        for action in (
            "record",
            "stop",
            "sync_time",
            "copy_settings",
            "make_prime",
            "format",
            "power_off",
            "download",
            "toggle_select",
            "filter",
            "nickname",
            "show_log_path",
            "help",
            "quit",
        )
    },
    "sim": {
        "cameras": Option(int, 12, 1, 1000),
        "models": Option("models", list(MODELS)),
        "base_address": Option(str, "127.0.1.1", pattern=r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
        "port": Option(int, 8080, 0, 65535),
        "mdns": Option(bool, True),
        "mdns_interface": Option(str, "127.0.0.1", pattern=r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
        "throttle_mbps": Option(float, 0.0, 0, 10_000),
        "media_rate_kib": Option(int, 256, 1, 1_048_576),
        "chapter_seconds": Option(float, 0.0, 0, 86_400),
        "faults": Option("str_list", []),
        "seed": Option(int, 1, 0, 2**31),
    },
}


# Tables that may repeat ([[pis]]): each item is checked against these options.
LIST_SCHEMA: dict[str, dict[str, Option]] = {
    "pis": {
        "name": Option(str, "", pattern=r"[A-Za-z0-9_.-]{1,40}"),
        "host": Option(str, "", pattern=r"[^\s]{1,255}"),
        "port": Option(int, 0, 0, 65535),
        "user": Option(str, ""),
        "service_port": Option(int, 9999, 1, 65535),
        "identity_file": Option(str, ""),
        "accept_new_host_key": Option(bool, False),
    },
}
REQUIRED = {"pis": ("name", "host")}


@dataclass(frozen=True)
class RigConfig:
    cameras: list[str]
    mdns: bool
    mdns_interfaces: list[str]
    usb_scan: bool
    discovery_seconds: float
    prime: str
    poll_hz: float
    request_timeout_s: float
    min_battery_percent: int
    min_sd_minutes: int


@dataclass(frozen=True)
class OffloadConfig:
    dest: str
    prefix: str
    sidecars: bool
    tolerance_s: float
    per_camera: int
    layout: str
    read_timeout_s: float
    retries: int
    ledger: str


@dataclass(frozen=True)
class PiConfig:
    backend: str
    source: str
    synthetic_script: str
    width: int
    height: int
    fps: float
    ring_frames: int
    ring_seconds: float
    memory_cap_mb: int
    bind: str
    port: int
    night_enabled: bool
    dark_threshold: float
    bright_threshold: float
    min_dark_frames: int
    min_bright_frames: int
    night_exposure_us: int
    night_gain: float
    level_center: float
    export_dir: str
    formats: list[str]
    save_before_s: float
    save_after_s: float
    stack_dark_frames: bool
    stack_count: int
    auto_save_interval_s: float
    min_free_mb: int
    max_files: int
    max_gb: float


@dataclass(frozen=True)
class RemoteConfig:
    stale_after_s: float
    connect_timeout_s: float
    known_hosts: str


@dataclass(frozen=True)
class PiHost:
    name: str
    host: str
    port: int
    user: str
    service_port: int
    identity_file: str
    accept_new_host_key: bool


@dataclass(frozen=True)
class SimConfig:
    cameras: int
    models: list[str]
    base_address: str
    port: int
    mdns: bool
    mdns_interface: str
    throttle_mbps: float
    media_rate_kib: int
    chapter_seconds: float
    faults: list[str]
    seed: int


@dataclass(frozen=True)
class Config:
    rig: RigConfig
    sim: SimConfig
    offload: OffloadConfig
    pi: PiConfig
    remote: RemoteConfig
    pis: list[PiHost] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    text: str = field(default="", repr=False)

    def error(self, section: str, key: str, problem: str) -> ConfigError:
        """An error about a value that passed the schema but not a later, deeper check."""
        return ConfigError(self.path, problem, f"[{section}] {key}", _line_of(self.text, section, key))


def default_paths() -> list[Path]:
    """Where a config is looked for when none is named: here, then the user's config folder."""
    return [Path("config.toml"), config_dir() / "config.toml"]


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """The line a key (or section header) stands on; tomllib does not report it."""
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[+\s*([^\]]+?)\s*\]+", stripped)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        if key is not None and current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None


def _describe(option: Option) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if option.kind == "models":
        return f"a list of models from {', '.join(MODELS)}"
    if option.kind == "str_list":
        return "a list of strings"
    text = names[option.kind]  # type: ignore[index]
    if option.low is not None and option.high is not None:
        text += f" from {option.low:g} to {option.high:g}"
    return text


def _check(option: Option, value: Any) -> Any:
    """The value converted to the option's type, or raises ValueError with what was expected."""
    kind = option.kind
    if kind in ("models", "str_list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError
        if kind == "models" and (not value or any(v not in MODELS for v in value)):
            raise ValueError
        return list(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError
        return value
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        value = float(value)
    if kind is str:
        if not isinstance(value, str) or (option.pattern and not re.fullmatch(option.pattern, value)):
            raise ValueError
        return value
    if (option.low is not None and value < option.low) or (option.high is not None and value > option.high):
        raise ValueError
    return value


def parse(text: str, path: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(path, f"not valid TOML ({exc})", line=int(line.group(1)) if line else None) from None
    sections: dict[str, dict[str, Any]] = {}
    lists = {name: _parse_list(data.pop(name, []), name, options, text, path) for name, options in LIST_SCHEMA.items()}
    for section, keys in data.items():
        if section not in SCHEMA:
            known = ", ".join([*(f"[{s}]" for s in SCHEMA), *(f"[[{s}]]" for s in LIST_SCHEMA)])
            raise ConfigError(path, f"unknown section (known: {known})", f"[{section}]", _line_of(text, section, None))
        if not isinstance(keys, dict):
            raise ConfigError(path, "must be a table", section, _line_of(text, "", section))
        for key in keys:
            if key not in SCHEMA[section]:
                raise ConfigError(path, "unknown option", f"[{section}] {key}", _line_of(text, section, key))
    for section, options in SCHEMA.items():
        given = data.get(section, {})
        values = {}
        for key, option in options.items():
            if key not in given:
                values[key] = option.default
                continue
            try:
                values[key] = _check(option, given[key])
            except ValueError:
                raise ConfigError(
                    path,
                    f"expected {_describe(option)}, got {given[key]!r}",
                    f"[{section}] {key}",
                    _line_of(text, section, key),
                ) from None
        sections[section] = values
    return Config(
        rig=RigConfig(**sections["rig"]),
        sim=SimConfig(**sections["sim"]),
        offload=OffloadConfig(**sections["offload"]),
        pi=PiConfig(**sections["pi"]),
        remote=RemoteConfig(**sections["remote"]),
        pis=[PiHost(**item) for item in lists["pis"]],
        keys=sections["keys"],
        path=path,
        text=text,
    )


def _parse_list(items: Any, name: str, options: dict[str, Option], text: str, path: Path | None) -> list[dict]:
    """Check every [[name]] table; errors say which one (#1, #2, ...) and where it starts."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(path, "must be tables written [[" + name + "]]", name, _line_of(text, "", name))
    headers = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == f"[[{name}]]"]
    parsed = []
    for number, item in enumerate(items, 1):
        where = f"[[{name}]] #{number}"
        line = headers[number - 1] if number <= len(headers) else None
        for key in item:
            if key not in options:
                raise ConfigError(path, "unknown option", f"{where} {key}", line)
        values = {}
        for key, option in options.items():
            if key not in item:
                if key in REQUIRED.get(name, ()):
                    raise ConfigError(path, "missing (every entry needs it)", f"{where} {key}", line)
                values[key] = option.default
                continue
            try:
                values[key] = _check(option, item[key])
            except ValueError:
                raise ConfigError(
                    path, f"expected {_describe(option)}, got {item[key]!r}", f"{where} {key}", line
                ) from None
        parsed.append(values)
    names = [p["name"] for p in parsed]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(
            path, f"two entries are named {duplicate!r}", f"[[{name}]] name", headers[0] if headers else None
        )
    return parsed


def load(path: Path | None = None) -> Config:
    """Load the named file, else the first default path that exists, else the defaults."""
    if path is None:
        path = next((p for p in default_paths() if p.is_file()), None)
        if path is None:
            return parse("")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot be read ({exc})") from None
    return parse(text, path)
