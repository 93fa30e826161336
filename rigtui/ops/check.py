"""The preflight check: is the whole rig ready for a take, and if not, what is wrong with which camera.

One report for `rigtui check` and the app's check screen. A camera is ready when the record
readiness rules (rigtui.ops.shutter.readiness: online, battery, card, busy, hot, cold, clash,
someone in its menus) find nothing, its firmware is not older than its model's floor
(rigtui.gopro.protocol.MIN_FIRMWARE) and its settings mean what the prime's do. The rig is ready
when every camera is and none of those it expects ([rig] expected, [rig] order) is missing.

What would not stop `record` either stays a warning: clocks apart (takes rigtui records come from
its shot log), no prime chosen, firmware a camera does not tell (HERO10/11), a camera recording now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rigtui.config import Config
from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import FIRMWARE_QUIRKS, MIN_FIRMWARE, Status
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.clock import clock_warning
from rigtui.ops.report import Line
from rigtui.ops.shutter import readiness, settings_problems

# "H23.01.02.20.00" (/gopro/camera/info: model code, platform, then the version), or "v02.20.00" as
# GoPro's release notes write it. Labs firmware ends in .70 and the like: still a version.
FIRMWARE = re.compile(r"(?:H\d+\.\d+\.)?v?(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class CheckOptions:
    expected: int = 0  # how many cameras the rig should have; 0: as many as `order` lists
    order: tuple[str, ...] = ()  # serials that must be in the rig ([rig] order)
    prime: str = ""  # every camera's settings are compared with this camera's; "": none chosen
    clock_tolerance_s: float = 5.0  # clocks further apart than this get a warning


def check_options(config: Config, prime: str) -> CheckOptions:
    """What the check expects, from config.toml's [rig] and [offload], and the prime the operator chose
    (rigtui.ops.settings.prime_of)."""
    return CheckOptions(config.rig.expected, tuple(config.rig.order), prime, config.offload.tolerance_s)


def firmware_version(text: str) -> tuple[int, int, int] | None:
    match = FIRMWARE.fullmatch(text.strip())
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def shown_version(version: tuple[int, int, int]) -> str:
    return "v" + ".".join(f"{part:02d}" for part in version)


@dataclass(frozen=True)
class FirmwareCheck:
    shown: str  # "v02.32.00", "unknown", or what the camera said when it is not a version
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def firmware_check(key: str, model: str | None, firmware: str | None) -> FirmwareCheck:
    """A camera's firmware against its model's floor, compared as numbers (v01.9 is older than v01.10).
    HERO10/11 do not tell theirs over the API: unknown is not a failure, nothing can be known."""
    if not firmware:
        return FirmwareCheck(UNKNOWN)
    version = firmware_version(firmware)
    if version is None:
        return FirmwareCheck(firmware, warnings=[f"{key}: firmware {firmware!r} is not a version: not compared"])
    shown = shown_version(version)
    floor = MIN_FIRMWARE.get(model or "")
    if floor is not None and version < floor.minimum:
        problem = (
            f"{key}: firmware {shown} is older than {shown_version(floor.minimum)}, the oldest a USB rig can rely "
            f"on for a {model} ({floor.why}): update it"
        )
        return FirmwareCheck(shown, problems=[problem])
    quirk = FIRMWARE_QUIRKS.get((model or "", version))
    return FirmwareCheck(shown, warnings=[f"{key}: firmware {shown} {quirk}"] if quirk else [])


@dataclass(frozen=True)
class CameraCheck:
    snapshot: CameraSnapshot
    firmware: str
    problems: list[str]  # each names the camera
    warnings: list[str]

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "camera": self.snapshot.key,
            "ready": self.ready,
            "firmware": self.firmware,
            "problems": self.problems,
            "warnings": self.warnings,
            "snapshot": self.snapshot.to_json(),
        }


def camera_check(snap: CameraSnapshot, settings: Iterable[str] = ()) -> CameraCheck:
    """One camera: the record readiness rules, its firmware, and how its settings differ from the prime's."""
    firmware = firmware_check(snap.key, snap.model, snap.firmware)
    problems = [*readiness(snap), *firmware.problems, *settings]
    warnings = list(firmware.warnings)
    if snap.online and snap.model is None:
        warnings.append(f"{snap.key}: model unknown: its firmware and settings are not checked")
    if snap.recording:
        warnings.append(f"{snap.key}: recording now ({snap.recording_seconds} s): stop it before the next take")
    return CameraCheck(snap, firmware.shown, problems, warnings)


@dataclass(frozen=True)
class CheckReport:
    cameras: list[CameraCheck]
    expected: int | None  # None: the rig's size was not checked
    expected_from: str  # where the expected count comes from, in the operator's words
    missing: list[str]  # expected serials no camera answers to
    prime: str  # "": none chosen
    problems: list[str]  # about the rig, not one camera (missing cameras, the prime)
    warnings: list[str]

    @property
    def ready(self) -> bool:
        return bool(self.cameras) and not self.problems and all(c.ready for c in self.cameras)

    @property
    def not_ready(self) -> list[CameraCheck]:
        return [c for c in self.cameras if not c.ready]

    def all_problems(self) -> list[str]:
        return [*self.problems, *(p for c in self.cameras for p in c.problems)]

    def all_warnings(self) -> list[str]:
        return [*self.warnings, *(w for c in self.cameras for w in c.warnings)]

    def verdict(self) -> str:
        if self.ready:
            return f"READY: {len(self.cameras)} camera(s), nothing stops a take"
        if not self.cameras:
            return "NOT READY: no camera to check"
        return (
            f"NOT READY: {len(self.all_problems())} problem(s); "
            f"{len(self.not_ready)} of {len(self.cameras)} camera(s) not ready"
        )

    def headline(self) -> str:
        found = f"{len(self.cameras)} camera(s)"
        rig = (
            f"{found}, {self.expected} expected ({self.expected_from})"
            if self.expected is not None
            else f"{found} ({self.expected_from})"
        )
        prime = f"prime {self.prime}" if self.prime else "no prime camera: settings not compared"
        return f"{rig}; {prime}"

    def lines(self, *, findings_first: bool = False) -> list[Line]:
        """The whole report: a headline, one row per camera, each problem and warning, the verdict.
        `findings_first`: problems and warnings above the table, for a dialog that shows its top (a
        terminal shows the end, so there they come last, next to the verdict)."""
        rows = [Line(text, problem) for text, problem in camera_rows(self.cameras)] if self.cameras else []
        findings = [Line(f"not ready  {problem}", True) for problem in self.all_problems()]
        findings += [Line(f"warning    {warning}") for warning in self.all_warnings()]
        middle = findings + rows if findings_first else rows + findings
        return [Line(self.headline()), *middle, Line(self.verdict(), not self.ready)]

    def to_json(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "expected": self.expected,
            "found": len(self.cameras),
            "missing": self.missing,
            "prime": self.prime or None,
            "problems": self.all_problems(),
            "warnings": self.all_warnings(),
            "cameras": [c.to_json() for c in self.cameras],
        }


def camera_rows(checks: list[CameraCheck]) -> list[tuple[str, bool]]:
    """A header and one row per camera, narrow enough for an 80-column terminal and the app's dialog."""
    width = max(6, *(len(c.snapshot.key) for c in checks))
    header = f"{'CAMERA':{width}} {'MODEL':6} {'FIRMWARE':9} {'BATT':>5} {'SD MIN':>6} {'TEMP':4} {'CLOCK':>6} READY"
    rows = [(header, False)]
    for check in checks:
        s = check.snapshot
        if not s.online:
            battery = minutes = temp = clock = "-"
        else:
            battery = _battery(s)
            minutes = "-" if s.minutes_left is None else str(s.minutes_left)
            temp = "HOT" if s.hot else "COLD" if s.cold else "ok"
            clock = "-" if s.clock_offset_s is None else f"{round(s.clock_offset_s):+d}s" + ("!" if s.clock_off else "")
        verdict = "yes" if check.ready else "NO" if s.online else "OFF"
        row = (
            f"{s.key:{width}} {s.model or '?':6} {check.firmware:9} {battery:>5} {minutes:>6} {temp:4} {clock:>6} "
            f"{verdict}"
        )
        rows.append((row, not check.ready))
    return rows


def _battery(s: CameraSnapshot) -> str:
    if not s.battery_present:
        return "USB"  # no battery in it: it runs on USB power, which is ready
    if s.battery_percent is None:
        return "-"
    return f"{s.battery_percent}%" + ("+" if s.charging else "")


def _answers_to(link: CameraLink, serial: str) -> bool:
    """Whether a camera is the one with this serial. HERO10/11 found by address tell their serial only
    in their AP SSID (status 30: "GP" and its last 8 digits)."""
    if link.matches(serial):
        return True
    ssid = link.state.status.get(Status.AP_SSID) if link.state and not link.serial else None
    return isinstance(ssid, str) and len(ssid) > 2 and serial.endswith(ssid[2:])


@dataclass(frozen=True)
class RigSize:
    """The rig's size against what it should be."""

    expected: int | None  # None: nothing to compare with
    source: str  # where `expected` comes from, in the operator's words
    missing: list[str] = field(default_factory=list)  # serials of [rig] order no camera answers to
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def rig_size(links: list[CameraLink], options: CheckOptions) -> RigSize:
    """Every camera that was found counts, online or not (one that is off is that camera's problem)."""
    expected = options.expected or len(options.order) or None
    if expected is None:
        return RigSize(None, "no expected count: [rig] expected or [rig] order")
    source = "[rig] expected" if options.expected else "[rig] order"
    missing = [serial for serial in options.order if not any(_answers_to(link, serial) for link in links)]
    size = RigSize(expected, source, missing, [f"{serial}: in [rig] order but not found" for serial in missing])
    if len(links) < expected:
        size.problems.insert(0, f"rig: {len(links)} of {expected} expected cameras found ({source})")
    elif len(links) > expected:
        extra = [link.key for link in links if options.order and not any(_answers_to(link, s) for s in options.order)]
        names = f": {', '.join(extra)} not in [rig] order" if extra else ""
        size.warnings.append(f"rig: {len(links)} cameras found, {expected} expected ({source}){names}")
    return size


def prime_settings(rig: Rig, prime: str, links: list[CameraLink]) -> tuple[dict[str, list[str]], list[str]]:
    """Settings that differ from the prime's, by camera, and what stops the comparison (the prime
    missing or unreadable): that is a problem too, since an operator who chose a prime relies on it."""
    if not prime:
        return {}, []
    try:
        found = settings_problems(rig, prime, [link for link in links if link.online])
    except CameraError as exc:
        return {}, [f"prime {prime}: {exc}: settings not compared (choose another with `p` in the app)"]
    by_camera: dict[str, list[str]] = {}
    about_rig = []
    keys = {link.key for link in links}
    for line in found:  # settings_problems names the camera first: "KEY: Video Lens: prime Wide, ..."
        key = next((k for k in keys if line.startswith(f"{k}: ")), None)
        if key is None:
            about_rig.append(line)
        else:
            by_camera.setdefault(key, []).append(line)
    return by_camera, about_rig


async def check(rig: Rig, options: CheckOptions, selection: Iterable[str] | None = None) -> CheckReport:
    """Read every camera now and judge the rig. With a selection only those cameras are judged and the
    rig's size is not (a part of the rig is not the rig)."""
    await rig.poll_once()  # the check is about now, not the last tick
    wanted = [w for w in selection or [] if w]
    links = rig.cameras(wanted or None)
    settings, problems = prime_settings(rig, options.prime, links)
    checks = [camera_check(link.snapshot(), settings.get(link.key, [])) for link in links]
    size = RigSize(None, "a selection: the rig's size is not checked") if wanted else rig_size(links, options)
    clocks = clock_warning((c.snapshot for c in checks), options.clock_tolerance_s)
    warnings = [*rig.collisions(), *size.warnings, *([clocks] if clocks else [])]
    return CheckReport(
        checks, size.expected, size.source, size.missing, options.prime, size.problems + problems, warnings
    )
