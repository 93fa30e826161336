"""Faults seen on real cameras, injectable per simulated camera.

A fault is written `KIND` or `KIND=VALUE`; on the command line it is prefixed by the cameras it
applies to: `2:shutter-500`, `all:latency=200`, `C3501324645504:stall=90`.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> (meaning of the value, default value or None when the value is required/unused)
FAULT_KINDS: dict[str, tuple[str, float | None]] = {
    # Every camera now answers 503 to the media list and downloads while recording or busy; the kind
    # stays so that command lines and configs naming it keep working.
    "media-busy": ("503 'Camera is busy' on the media list while recording (the default now)", None),
    "shutter-500": ("500 on shutter start", None),
    "reboot": ("seconds until the camera reboots: link down ~2 s, recording cut, settings reset", 5.0),
    "spontaneous-stop": ("seconds after it starts that a recording stops by itself", 10.0),
    "settings-stuck": ("settings and presets fail (HERO13's stuck settings controller) until power-cycled", None),
    "link-down": ("seconds the USB link stays down (connection refused), starting now", 5.0),
    "reset-on-record": ("seconds the link drops for when a recording starts", 3.0),
    "stall": ("percent of a download after which it stalls until the client times out", 90.0),
    "short": ("bytes a download ends short by, without an error", 51200.0),
    "no-range": ("Range requests are ignored (full body, 200)", None),
    "latency": ("milliseconds added to every reply", 200.0),
    "malformed": ("state and media replies are malformed JSON", None),
    "hostile-names": ("the media list also names files like ../x and /etc/passwd", None),
}


class FaultError(ValueError):
    """A fault description that cannot be understood."""


@dataclass(frozen=True)
class FaultSpec:
    target: str  # "all", a 1-based camera index, or a serial
    kind: str
    value: float | None

    def applies_to(self, index: int, serial: str) -> bool:
        return self.target in ("all", str(index), serial)


def parse_fault(kind_value: str) -> tuple[str, float | None]:
    """`stall=90` -> ("stall", 90.0); a missing value takes the kind's default."""
    kind, _, raw = kind_value.strip().partition("=")
    if kind not in FAULT_KINDS:
        known = ", ".join(FAULT_KINDS)
        raise FaultError(f"unknown fault {kind!r} (known: {known})")
    if not raw:
        return kind, FAULT_KINDS[kind][1]
    try:
        value = float(raw)
    except ValueError:
        raise FaultError(f"fault {kind}: value {raw!r} is not a number") from None
    if value < 0:
        raise FaultError(f"fault {kind}: value must not be negative")
    return kind, value


def parse_fault_spec(text: str) -> FaultSpec:
    """`2:shutter-500` -> FaultSpec("2", "shutter-500", None); no target means all cameras."""
    target, sep, rest = text.partition(":")
    if not sep:
        target, rest = "all", text
    kind, value = parse_fault(rest)
    return FaultSpec(target.strip() or "all", kind, value)
