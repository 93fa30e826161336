"""What the rig knows about each camera at one moment: frozen, cheap to compare, safe to hand to a UI."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rigtui.gopro.client import CameraState
from rigtui.gopro.protocol import SD_STATES, Status


@dataclass(frozen=True)
class CameraSnapshot:
    key: str  # serial when known, else host:port; stable for the camera's life in the rig
    serial: str | None
    model: str | None
    firmware: str | None
    host: str
    port: int
    online: bool
    battery_percent: int | None = None
    charging: bool = False
    sd_state: str | None = None
    sd_remaining_kb: int | None = None
    sd_capacity_kb: int | None = None
    minutes_left: int | None = None
    recording: bool = False
    recording_seconds: int = 0
    busy: bool = False
    hot: bool = False
    cold: bool = False
    battery_present: bool = True  # False: running on USB power without a battery
    control_owner: int | None = None  # status 114: 0 nobody, 1 someone in its menus, 2 an app
    battery_low: bool = False  # below [rig] min_battery_percent and not charging
    sd_low: bool = False  # fewer minutes left than [rig] min_sd_minutes
    last_error: str | None = None
    updated: float | None = None  # time.time() of the last good poll
    clock_offset_s: float | None = None  # its clock minus the host's local time, as last measured
    clock_off: bool = False  # further from the host's than a take allows ([offload] tolerance_s)
    clash: str | None = None  # another camera shares its USB address: the rig is one camera short
    should_record: bool = False  # in a take rigtui started and has not stopped: not recording is trouble

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def snapshot_fields(state: CameraState, min_battery_percent: int, min_sd_minutes: int) -> dict[str, object]:
    """The snapshot fields a camera state carries, judged against the rig's thresholds."""
    sd = state.number(Status.SD_STATE)
    battery = state.number(Status.BATTERY_PERCENT)
    charging = state.number(Status.BATTERY_BARS) == 4
    present = state.number(Status.BATTERY_PRESENT) != 0  # 0: on USB power, no battery in it
    minutes = state.number(Status.VIDEO_MINUTES_REMAINING)
    return {
        "battery_present": present,
        "control_owner": state.number(Status.CONTROL_OWNER),
        "battery_percent": battery,
        "charging": charging,
        "sd_state": None if sd is None else SD_STATES.get(sd, f"state {sd}"),
        "sd_remaining_kb": state.number(Status.SD_REMAINING_KB),
        "sd_capacity_kb": state.number(Status.SD_CAPACITY_KB),
        "minutes_left": minutes,
        "recording": state.flag(Status.ENCODING),
        "recording_seconds": state.number(Status.VIDEO_SECONDS) or 0,
        "busy": state.flag(Status.BUSY),
        "hot": state.flag(Status.HOT),
        "cold": state.flag(Status.COLD),
        "battery_low": present and battery is not None and battery < min_battery_percent and not charging,
        "sd_low": minutes is not None and minutes < min_sd_minutes,
    }
