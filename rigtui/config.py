"""config.toml: schema, defaults, loading and validation.

Every option is declared once, as a field of its section's frozen dataclass: its type annotation, its
default and its limits (see `opt`). The parser checks values against those fields; a bad value raises
ConfigError naming the file, the line, the key and the problem.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, make_dataclass
from functools import partial
from pathlib import Path
from typing import Any, get_type_hints

from rigtui.gopro.protocol import MODELS
from rigtui.gopro.takes import TAKE_PREFIX
from rigtui.paths import config_dir


class ConfigError(Exception):
    """A config file that cannot be used; str() is one line naming file, line, key and problem."""

    def __init__(self, path: Path | None, problem: str, key: str | None = None, line: int | None = None) -> None:
        self.path, self.problem, self.key, self.line = path, problem, key, line
        where = str(path) if path else "config"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def opt(
    default: Any = MISSING, *, low: float | None = None, high: float | None = None, pattern: str | None = None
) -> Any:
    """A dataclass field for an option: its default (none makes it required) and what a value must be.

    low and high bound a number; pattern must match the whole string. A list option is a plain
    `field(default_factory=...)`, whose metadata may name in "choices" the only items it takes;
    such a list may not be empty.
    """
    return field(default=default, metadata={"low": low, "high": high, "pattern": pattern})


@dataclass(frozen=True)
class RigConfig:
    cameras: list[str] = field(default_factory=list)
    mdns: bool = True
    mdns_interfaces: list[str] = field(default_factory=list)
    usb_scan: bool = True
    discovery_seconds: float = opt(4.0, low=0.5, high=60)
    prime: str = ""
    poll_hz: float = opt(1.0, low=0.05, high=2.0)
    request_timeout_s: float = opt(5.0, low=0.5, high=60)
    min_battery_percent: int = opt(20, low=0, high=100)
    min_sd_minutes: int = opt(10, low=0, high=10_000)
    sync_before_record: bool = False  # sync the clocks first when they are further apart than a take allows
    auto_power_down: str = opt("never", pattern=r"never|keep")  # while rigtui holds the cameras
    order: list[str] = field(default_factory=list)  # cameras (serials) in photogrammetry index order
    expected: int = opt(0, low=0, high=10_000)  # cameras the rig should have (`check`); 0: len(order), if set
    max_host_offset_ms: float = opt(5.0, low=0.1, high=10_000)  # `hosts record` refuses a host clock further off


@dataclass(frozen=True)
class OffloadConfig:
    dest: str = ""
    prefix: str = opt("take", pattern=TAKE_PREFIX)
    sidecars: bool = True
    tolerance_s: float = opt(5.0, low=0.5, high=600)
    per_camera: int = opt(2, low=1, high=8)
    layout: str = opt("flat", pattern=r"flat|photogrammetry")
    read_timeout_s: float = opt(20.0, low=1, high=600)
    retries: int = opt(5, low=0, high=100)
    busy_wait_s: float = opt(300.0, low=0, high=86_400)
    max_parallel: int = opt(16, low=1, high=256)
    bandwidth_mbps: float = opt(0.0, low=0, high=100_000)
    ledger: str = ""
    destinations: list[str] = field(default_factory=list)  # `rigtui offload` without DEST writes to each of these
    cascade: bool = False  # several destinations: the first at camera speed, then copied from it to the others
    min_copies: int = opt(1, low=1, high=10)  # verified copies on distinct volumes before `format` erases a file
    sync_audit: bool = True  # after an offload, measure each video take's start offsets from its clips' audio


@dataclass(frozen=True)
class RecordConfig:
    # shift each camera's start request by its mean start latency over earlier audited takes
    start_compensation: bool = False
    compensation_takes: int = opt(10, low=1, high=1000)  # the most recent audited takes the means are taken over


@dataclass(frozen=True)
class PiConfig:
    backend: str = opt("picamera2", pattern=r"picamera2|opencv|synthetic")
    source: str = "0"
    synthetic_script: str = opt("cycle", pattern=r"cycle|day|night|flicker")
    width: int = opt(1024, low=16, high=8192)
    height: int = opt(768, low=16, high=8192)
    fps: float = opt(10.0, low=0.1, high=240)
    ring_frames: int = opt(300, low=1, high=100_000)
    ring_seconds: float = opt(0.0, low=0, high=3600)
    memory_cap_mb: int = opt(1024, low=16, high=65_536)
    bind: str = opt("127.0.0.1", pattern=r"[0-9a-fA-F:.]+")
    port: int = opt(9999, low=0, high=65535)
    night_enabled: bool = True
    dark_threshold: float = opt(35.0, low=0, high=10_000)
    bright_threshold: float = opt(55.0, low=0, high=10_000)
    min_dark_frames: int = opt(20, low=1, high=100_000)
    min_bright_frames: int = opt(20, low=1, high=100_000)
    night_exposure_us: int = opt(2_000_000, low=100, high=200_000_000)
    night_gain: float = opt(6.0, low=1, high=64)
    level_center: float = opt(1.0, low=0.1, high=1.0)
    export_dir: str = "captures"
    formats: list[str] = field(default_factory=lambda: ["jpg"])
    save_before_s: float = opt(0.0, low=0, high=3600)
    save_after_s: float = opt(0.0, low=0, high=3600)
    stack_dark_frames: bool = True
    stack_count: int = opt(4, low=1, high=256)
    auto_save_interval_s: float = opt(900.0, low=0, high=86_400)
    min_free_mb: int = opt(200, low=0, high=10_000_000)
    max_files: int = opt(0, low=0, high=10_000_000)
    max_gb: float = opt(0.0, low=0, high=100_000)


@dataclass(frozen=True)
class RemoteConfig:
    stale_after_s: float = opt(5.0, low=1, high=600)
    connect_timeout_s: float = opt(10.0, low=1, high=300)
    known_hosts: str = ""


@dataclass(frozen=True)
class PiHost:
    name: str = opt(pattern=r"[A-Za-z0-9_.-]{1,40}")
    host: str = opt(pattern=r"[^\s]{1,255}")
    port: int = opt(0, low=0, high=65535)
    user: str = ""
    service_port: int = opt(9999, low=1, high=65535)
    identity_file: str = ""
    accept_new_host_key: bool = False


@dataclass(frozen=True)
class HostConfig:
    """A host PC whose cameras a `rigtui agent` holds ([[hosts]])."""

    name: str = opt(pattern=r"[A-Za-z0-9_.-]{1,40}")
    ssh: str = opt("", pattern=r"[^\s]{0,255}")  # user@host[:port] or an ~/.ssh/config alias
    command: str = opt("rigtui agent --stdio", pattern=r".{1,4096}")
    cameras: list[str] = field(default_factory=list, metadata={"auto": True})  # "auto" (the agent finds them)
    direct: bool = False  # run `command` here as a local process instead of over SSH
    identity_file: str = ""


@dataclass(frozen=True)
class SimConfig:
    cameras: int = opt(12, low=1, high=1000)
    models: list[str] = field(default_factory=lambda: list(MODELS), metadata={"choices": MODELS})
    base_address: str = opt("127.0.1.1", pattern=r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}")
    port: int = opt(8080, low=0, high=65535)
    mdns: bool = True
    mdns_interface: str = opt("127.0.0.1", pattern=r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
    throttle_mbps: float = opt(0.0, low=0, high=10_000)
    hub_mbps: float = opt(0.0, low=0, high=100_000)
    hub_size: int = opt(4, low=1, high=1000)
    media_rate_kib: int = opt(256, low=1, high=1_048_576)
    chapter_seconds: float = opt(0.0, low=0, high=86_400)
    apd_minute_s: float = opt(60.0, low=0.001, high=3600)
    keep_alive_timeout_s: float = opt(10.0, low=0.001, high=3600)
    control_port: int = opt(0, low=0, high=65535)
    faults: list[str] = field(default_factory=list)
    seed: int = opt(1, low=0, high=2**31)


# [keys]: a TUI key for each action (empty keeps the TUI's default). Config holds it as a plain
# action -> key dict; this class only declares the options.
_Keys = make_dataclass(
    "_Keys",
    [
        (action, str, opt("", pattern=r"[a-z0-9_+,]*"))
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
            "check",
            "acknowledge",
            "next_problem",
            "clear_selection",
            "sort_previous",
            "sort_next",
            "sort_reverse",
            "help",
            "quit",
        )
    ],
    frozen=True,
)

# Each [section] and the dataclass that declares its options, in the order errors list them.
SECTIONS: dict[str, type] = {
    "rig": RigConfig,
    "offload": OffloadConfig,
    "record": RecordConfig,
    "pi": PiConfig,
    "remote": RemoteConfig,
    "keys": _Keys,
    "sim": SimConfig,
}
# Tables that may repeat ([[pis]]): each one is checked against its dataclass.
TABLES: dict[str, type] = {"pis": PiHost, "hosts": HostConfig}


@dataclass(frozen=True)
class Config:
    rig: RigConfig
    sim: SimConfig
    offload: OffloadConfig
    pi: PiConfig
    remote: RemoteConfig
    record: RecordConfig = field(default_factory=RecordConfig)
    pis: list[PiHost] = field(default_factory=list)
    hosts: list[HostConfig] = field(default_factory=list)
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


def _describe(option: Field, kind: Any) -> str:
    """What a value must be, as errors say it: "an integer from 1 to 1000"."""
    limits = option.metadata
    if kind == list[str]:
        choices = limits.get("choices")
        if limits.get("auto"):
            return '"auto" or a list of strings'
        return f"a list of {option.name} from {', '.join(choices)}" if choices else "a list of strings"
    text = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]
    if limits.get("low") is not None and limits.get("high") is not None:
        text += f" from {limits['low']:g} to {limits['high']:g}"
    return text


def _check(option: Field, kind: Any, value: Any) -> Any:
    """The value as the option's type, or raises ValueError when it is not what _describe says."""
    limits = option.metadata
    if kind == list[str]:
        if limits.get("auto") and value == "auto":  # "auto": the empty list, found rather than named
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError
        choices = limits.get("choices")
        if choices and (not value or any(v not in choices for v in value)):
            raise ValueError
        return value
    if kind is float and type(value) is int:
        value = float(value)
    # Exact types: to isinstance a bool is an int, to TOML it is not a number.
    if type(value) is not kind:
        raise ValueError
    if kind is str and limits.get("pattern") and not re.fullmatch(limits["pattern"], value):
        raise ValueError
    # nan and inf are valid TOML, and nan would pass the range check (every comparison with it is false).
    if kind is float and not math.isfinite(value):
        raise ValueError
    low, high = limits.get("low"), limits.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError
    return value


def _build(cls: type, given: dict[str, Any], where: str, line: Callable[[str], int | None], path: Path | None) -> Any:
    """cls from the given options, each checked; the others take their declared default."""
    kinds = get_type_hints(cls)
    values = {}
    for option in fields(cls):
        key = option.name
        if key not in given:
            if option.default is MISSING and option.default_factory is MISSING:
                raise ConfigError(path, "missing (every entry needs it)", f"{where} {key}", line(key))
            continue
        try:
            values[key] = _check(option, kinds[key], given[key])
        except ValueError:
            raise ConfigError(
                path, f"expected {_describe(option, kinds[key])}, got {given[key]!r}", f"{where} {key}", line(key)
            ) from None
    return cls(**values)


def _unknown_key(given: dict[str, Any], cls: type) -> str | None:
    """The first given key that cls does not declare."""
    known = {option.name for option in fields(cls)}
    return next((key for key in given if key not in known), None)


def parse(text: str, path: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(path, f"not valid TOML ({exc})", line=int(line.group(1)) if line else None) from None
    tables = {name: _parse_table(data.pop(name, []), name, cls, text, path) for name, cls in TABLES.items()}
    for section, keys in data.items():
        if section not in SECTIONS:
            known = ", ".join([*(f"[{s}]" for s in SECTIONS), *(f"[[{s}]]" for s in TABLES)])
            raise ConfigError(path, f"unknown section (known: {known})", f"[{section}]", _line_of(text, section, None))
        if not isinstance(keys, dict):
            raise ConfigError(path, "must be a table", section, _line_of(text, "", section))
        unknown = _unknown_key(keys, SECTIONS[section])
        if unknown is not None:
            raise ConfigError(path, "unknown option", f"[{section}] {unknown}", _line_of(text, section, unknown))
    sections = {
        section: _build(cls, data.get(section, {}), f"[{section}]", partial(_line_of, text, section), path)
        for section, cls in SECTIONS.items()
    }
    return Config(
        rig=sections["rig"],
        sim=sections["sim"],
        offload=sections["offload"],
        pi=sections["pi"],
        remote=sections["remote"],
        record=sections["record"],
        pis=tables["pis"],
        hosts=tables["hosts"],
        keys=asdict(sections["keys"]),
        path=path,
        text=text,
    )


def _parse_table(items: Any, name: str, cls: type, text: str, path: Path | None) -> list[Any]:
    """Check every [[name]] table; errors say which one (#1, #2, ...) and where it starts."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(path, "must be tables written [[" + name + "]]", name, _line_of(text, "", name))
    headers = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == f"[[{name}]]"]
    parsed = []
    for number, item in enumerate(items, 1):
        where = f"[[{name}]] #{number}"
        line = headers[number - 1] if number <= len(headers) else None
        unknown = _unknown_key(item, cls)
        if unknown is not None:
            raise ConfigError(path, "unknown option", f"{where} {unknown}", line)
        parsed.append(_build(cls, item, where, lambda _key, line=line: line, path))
    names = [p.name for p in parsed]
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
