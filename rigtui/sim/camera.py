"""The state machine of one simulated GoPro: statuses, settings, presets, clock, recording, media.

Time is integrated lazily: every read or command first advances the model to `clock()`, so a
hundred idle cameras cost nothing between requests.
"""

from __future__ import annotations

import asyncio
import calendar
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rigtui.gopro.protocol import MODEL_INFO, SETTINGS, STATUSES, PresetGroup, Setting, supported_options
from rigtui.gopro.spec_tables import StatusSpec
from rigtui.sim.clips import RoomSound
from rigtui.sim.media import MediaItem, MediaStore, VideoFormat
from rigtui.sim.presets import GROUP_ICONS, GROUP_MODES, SimPreset, presets_for

# Real cameras send more status and setting keys than the spec documents; clients must ignore them.
UNDOCUMENTED_STATUSES = {3: 0, 4: 255, 14: 0, 36: 0, 37: 0, 61: 0, 62: 0, 63: 0, 64: 0, 90: 0, 91: 0, 109: 0}
UNDOCUMENTED_SETTINGS = {6: 1, 13: 0, 19: 0, 24: 0, 37: 0, 41: 9, 42: 5, 47: 4}

FAT32_CHAPTER_BYTES = 4 * 10**9  # nominal chapter size: cameras split recordings near 4 GB

# Settings that are one setting under two ids: changing one moves the other to the option of the same
# meaning (HERO13 took a new frame-rate id, 234, and keeps 3 in step). Applies where a model has both.
LINKED_SETTINGS: tuple[tuple[int, int], ...] = ((Setting.FPS, Setting.FRAME_RATE_V2),)

# Shutter start until the first recorded sample: each camera has its own mean, each recording its jitter.
LATENCY_MEAN_S = (0.100, 0.200)
LATENCY_JITTER_S = 0.010
LATENCY_LIMITS_S = (0.100, 0.220)
SHORTEST_CLIP_S = 0.1
RECORDINGS_KEPT = 50  # the truth /_sim/info tells about recent recordings

STUCK_MESSAGE = "Unable to establish communication with settings controller"  # HERO13, until power-cycled

# Resolution option -> (class, width, height). The class drives frame-rate limits and bitrate.
RESOLUTIONS: dict[int, tuple[str, int, int]] = {
    1: ("4k", 3840, 2160),
    4: ("2.7k", 2704, 1520),
    6: ("2.7k", 2704, 2028),
    9: ("1080", 1920, 1080),
    12: ("720", 1280, 720),
    18: ("4k", 4000, 3000),
    25: ("5k", 5120, 3840),
    26: ("5k", 5312, 4648),
    27: ("5k", 5312, 3984),
    28: ("4k", 3840, 3360),
    35: ("5k", 5312, 2276),
    36: ("4k", 3840, 1644),
    37: ("4k", 3840, 3840),
    38: ("720", 1600, 900),
    100: ("5k", 5312, 2988),
    107: ("5k", 5312, 4648),
    108: ("4k", 3840, 3360),
    109: ("4k", 2160, 3840),
    110: ("1080", 1080, 1920),
    111: ("2.7k", 2704, 2028),
    112: ("4k", 4000, 3000),
    113: ("5k", 5312, 3984),
}
MAX_FPS = {"5k": 60.0, "4k": 120.0, "2.7k": 240.0, "1080": 240.0, "720": 400.0}
BITRATE_MBPS = {"5k": 120.0, "4k": 100.0, "2.7k": 60.0, "1080": 45.0, "720": 30.0}
PAL_RATES = {25.0, 50.0, 100.0, 200.0, 400.0}
NTSC_RATES = {30.0, 60.0, 120.0, 240.0, 300.0, 360.0}
PAL_FLICKER = {1, 3}  # anti-flicker options meaning 50 Hz (PAL on HERO13, "50Hz" before)

PREFERRED_DEFAULTS = {
    Setting.RESOLUTION: [1],
    Setting.FPS: [8],
    Setting.LENS: [0],
    Setting.ANTI_FLICKER: [2, 0],
    Setting.HYPERSMOOTH: [4, 100],
    Setting.AUTO_POWER_DOWN: [4],  # 5 min: GoPro's spec names no default
    Setting.LED: [3],
    88: [50],
    234: [8],
}


@dataclass
class SimTuning:
    """Rates of the simulated world, shared by all cameras of a rig."""

    media_bytes_per_second: int = 256 * 1024  # bytes written to disk per recorded second
    chapter_seconds: float | None = None  # split chapters every N s (default: at ~4 GB nominal)
    busy_pulse_s: float = 0.3  # busy after a setting or preset change
    start_delay_s: float = 0.08  # shutter start until status 10 reports encoding
    hot_after_s: float = 1800.0  # continuous recording at 4K and above until the hot flag
    burst_count: int = 10
    clock_error_s: float = 120.0  # each camera's clock starts up to this far off (real clocks drift)
    photo_delay_s: float = 0.3  # a photo is on the card this long after the shutter (busy meanwhile)
    minute_s: float = 60.0  # one Auto Power Down "minute" (tests shrink it)
    keep_alive_timeout_s: float = 10.0  # the keep-alive timer: asleep only once it has run out too
    reboot_s: float = 2.0  # a reboot takes the link down this long
    room_seed: int = 0  # the room's sound; the same default everywhere, so simulators on one machine share a room


def apd_delay(option_name: str, minute_s: float) -> float | None:
    """An Auto Power Down option as the spec names it ("Never", "5 Min", "30 Seconds") in seconds of
    the simulated world (None: never)."""
    count, _, unit = option_name.partition(" ")
    if not count.isdigit():
        return None
    return int(count) * (minute_s if unit.lower().startswith("min") else minute_s / 60)


def _idle_value(spec: StatusSpec) -> object:
    """What a status reads when nothing sets it: empty text, 0, or the first value the spec allows."""
    if spec.is_string:
        return ""
    if spec.values and 0 not in spec.values:
        return spec.values[0]
    return 0


class SimCamera:
    def __init__(
        self,
        serial: str,
        model: str,
        media_root: Path,
        *,
        seed: int,
        tuning: SimTuning | None = None,
        usb_power: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if model not in MODEL_INFO:
            raise ValueError(f"unknown model {model!r}")
        self.serial = serial
        self.model = model
        self.info = MODEL_INFO[model]
        self.tuning = tuning or SimTuning()
        self.clock = clock
        rng = random.Random(seed)
        self.media = MediaStore(media_root, seed)
        self.presets = presets_for(model)
        self.usb_power = usb_power
        self.battery_present = True
        self.battery = rng.uniform(55.0, 100.0)
        self.sd_capacity_kb = rng.choice([62_367_744, 124_702_720, 249_429_504])
        self.sd_used_kb = self.sd_capacity_kb * rng.uniform(0.02, 0.3)
        self.sd_state = 0
        self.forced_hot: bool | None = None
        self.cold = False
        self.settings = self._default_settings()
        self.preset: SimPreset = self.presets[0]
        self.last_group_preset = {PresetGroup.VIDEO: self.presets[0].id}
        self.busy_until = 0.0
        self.writing = 0  # media writes in progress (the camera stays busy)
        self.recording_since: float | None = None  # when shutter start was accepted
        self.hot_since: float | None = None
        self.turbo = 0
        self.usb_controlled = 0
        self.control_owner = 0  # status 114: 0 idle, 1 someone in the camera's menus, 2 an app
        self.client_info = False
        self.asleep = False
        self.boots = 1  # power-ons and reboots; the API shows it nowhere (/_sim/info does)
        now = clock()
        self.apd_since = now  # the Auto Power Down timer runs from here
        self.keep_alive_since = now  # the keep-alive timer runs from here
        # Camera clock: local wall time written as an epoch, off by a little until synced.
        local = time.localtime(now)
        error = self.tuning.clock_error_s
        self.clock_offset = local.tm_gmtoff + rng.uniform(-error, error)
        self.latency_mean = rng.uniform(*LATENCY_MEAN_S)
        self._jitter = random.Random(rng.getrandbits(64))
        self.latency = 0.0  # of the recording in progress
        self.muted = False  # a microphone fault: recordings are silent
        self.recordings: deque[dict[str, object]] = deque(maxlen=RECORDINGS_KEPT)
        self.tzone = local.tm_gmtoff // 60
        self.dst = max(0, local.tm_isdst)
        self.last_captured: MediaItem | None = None
        self._last = now
        self._tasks: set[asyncio.Task[None]] = set()

    # -- derived state -----------------------------------------------------------------------
    def _default_settings(self) -> dict[int, int]:
        values: dict[int, int] = {}
        for sid, spec in SETTINGS.items():
            if self.model not in spec.models:
                continue
            options = supported_options(sid, self.model)
            if not options:
                continue
            preferred = [o for o in PREFERRED_DEFAULTS.get(sid, []) if o in options]
            values[sid] = preferred[0] if preferred else min(options)
        return values

    @property
    def resolution(self) -> tuple[str, int, int]:
        return RESOLUTIONS.get(self.settings.get(Setting.RESOLUTION, 1), ("4k", 3840, 2160))

    def fps(self) -> float:
        name = supported_options(Setting.FPS, self.model).get(self.settings.get(Setting.FPS, 8), "30")
        return float(name)

    def bitrate_mbps(self) -> float:
        rate = BITRATE_MBPS[self.resolution[0]]
        return rate * (1.5 if self.settings.get(182) == 1 else 1.0)

    def available_options(self, setting_id: int) -> dict[int, str]:
        """Options the camera accepts now: the model's options, limited by the current mode."""
        options = supported_options(setting_id, self.model)
        if setting_id in (Setting.FPS, Setting.FRAME_RATE_V2):
            pal = self.settings.get(Setting.ANTI_FLICKER) in PAL_FLICKER
            limit = MAX_FPS[self.resolution[0]]
            options = {
                o: n
                for o, n in options.items()
                if float(n) <= limit and (float(n) == 24.0 or (float(n) in PAL_RATES) == pal)
            }
        return options

    def _coerce_frame_rate(self) -> None:
        """After a resolution or anti-flicker change the camera picks the nearest valid frame rate."""
        for sid in (Setting.FPS, Setting.FRAME_RATE_V2):
            if sid not in self.settings:
                continue
            allowed = self.available_options(sid)
            if self.settings[sid] in allowed or not allowed:
                continue
            current = float(supported_options(sid, self.model)[self.settings[sid]])
            self.settings[sid] = min(allowed, key=lambda o: abs(float(allowed[o]) - current))
            self._follow_linked(sid)

    @property
    def encoding(self) -> bool:
        return self.recording_since is not None and self.clock() >= self.recording_since + self.tuning.start_delay_s

    @property
    def busy(self) -> bool:
        return self.clock() < self.busy_until or self.writing > 0

    @property
    def hot(self) -> bool:
        if self.forced_hot is not None:
            return self.forced_hot
        return self.hot_since is not None and self.clock() - self.hot_since >= self.tuning.hot_after_s

    @property
    def charging(self) -> bool:
        return self.battery_present and self.usb_power and self.battery < 100.0 and self.recording_since is None

    def battery_bars(self) -> int:
        """Status 2: 4 while a battery charges (the spec: "always 4 (Charging)"), else 0-3 bars; with
        no battery, nothing charges and there are no bars."""
        if not self.battery_present:
            return 0
        return 4 if self.charging else min(3, int(self.battery // 25))

    def _battery_rate(self) -> float:
        """Percent per second: drains while recording (less on USB power), charges on USB power
        otherwise; a camera that is off draws nothing; without a battery there is nothing to count."""
        if not self.battery_present:
            return 0.0
        if self.recording_since is not None:
            return -0.04 if self.usb_power else -0.07
        if self.usb_power:
            return 0.02
        return 0.0 if self.asleep else -0.005

    def camera_time(self) -> float:
        """The camera's clock: local wall time as a pseudo-epoch (what `cre` carries)."""
        return self.clock() + self.clock_offset

    # -- time integration ----------------------------------------------------------------------
    def advance(self) -> None:
        now = self.clock()
        dt = max(0.0, now - self._last)
        self._last = now
        if dt == 0.0:
            return
        if self.recording_since is not None:
            self.sd_used_kb = min(self.sd_capacity_kb, self.sd_used_kb + self.bitrate_mbps() * 1e6 / 8 / 1024 * dt)
        self.battery = min(100.0, max(0.0, self.battery + self._battery_rate() * dt))

    def _pulse_busy(self) -> None:
        self.busy_until = max(self.busy_until, self.clock() + self.tuning.busy_pulse_s)

    # -- power ---------------------------------------------------------------------------------
    def touch(self) -> None:
        """Restart the Auto Power Down timer (shutter, a setting, a preset, the user's buttons)."""
        self.apd_since = self.clock()

    def keep_alive(self) -> None:
        self.keep_alive_since = self.clock()

    def apd_seconds(self) -> float | None:
        """The Auto Power Down delay of the current setting 59 (None: never)."""
        names = supported_options(Setting.AUTO_POWER_DOWN, self.model)
        name = names.get(self.settings.get(Setting.AUTO_POWER_DOWN, 0), "Never")
        return apd_delay(name, self.tuning.minute_s)

    def power_down_at(self) -> float | None:
        """When the camera powers down by itself if nothing happens meanwhile (None: not by itself):
        once both the Auto Power Down and the keep-alive timers have run out (never while recording),
        or when its battery is empty."""
        if self.asleep:
            return None
        due: list[float] = []
        apd = self.apd_seconds()
        if apd is not None and self.recording_since is None:
            due.append(max(self.apd_since + apd, self.keep_alive_since + self.tuning.keep_alive_timeout_s))
        rate = self._battery_rate()
        if rate < 0:
            due.append(self.clock() + self.battery / -rate)
        return min(due, default=None)

    def power_off(self) -> None:
        """Asleep (over USB the same as off): a recording is cut and written as a stop writes it."""
        self.shutter_stop()
        self.asleep = True

    def boot(self, *, factory_settings: bool = False) -> None:
        """Power on or reboot: wired control is off until asked again, nobody holds control, the
        timers start over. A reboot after a crash also puts the model's defaults back (settings and
        the default video preset)."""
        self.advance()
        self.shutter_stop()
        self.asleep = False
        self.boots += 1
        self.usb_controlled = self.turbo = self.control_owner = 0
        self.client_info = False
        self.apd_since = self.keep_alive_since = self.clock()
        if factory_settings:
            self.settings = self._default_settings()
            self.preset = self.presets[0]
            self.last_group_preset = {PresetGroup.VIDEO: self.presets[0].id}

    # -- replies -------------------------------------------------------------------------------
    def state(self) -> dict[str, dict[str, object]]:
        self.advance()
        remaining_kb = max(0, int(self.sd_capacity_kb - self.sd_used_kb))
        photos, videos = self.media.counts()
        encoding = self.encoding
        values: dict[int, object] = {
            1: int(self.battery_present),
            2: self.battery_bars(),
            6: int(self.hot),
            8: int(self.busy),
            10: int(encoding),
            13: int(self.clock() - self.recording_since - self.tuning.start_delay_s)
            if encoding and self.recording_since
            else 0,
            17: 1,
            29: "",
            30: f"GP{self.serial[-8:]}",
            33: self.sd_state,
            34: min(2**32 - 1, remaining_kb // 3000),
            35: int(remaining_kb * 1024 * 8 / (self.bitrate_mbps() * 1e6) / 60),
            38: photos,
            39: videos,
            54: remaining_kb,
            60: 500,
            70: round(self.battery) if self.battery_present else 0,
            82: int(not self.busy and not encoding),
            85: int(self.cold),
            89: self.preset.mode,
            96: self.preset.group,
            97: self.preset.id,
            93: self.last_group_preset.get(PresetGroup.VIDEO, 0),
            94: self.last_group_preset.get(PresetGroup.PHOTO, 65536),
            95: self.last_group_preset.get(PresetGroup.TIMELAPSE, 131072),
            107: 4294967295,
            113: self.turbo,
            114: self.control_owner,
            115: 1,
            116: self.usb_controlled,
            117: min(2**32 - 1, self.sd_capacity_kb),
        }
        status: dict[str, object] = {}
        for sid, spec in STATUSES.items():
            if self.model in spec.models:
                status[str(sid)] = values.get(sid, _idle_value(spec))
        for sid, value in UNDOCUMENTED_STATUSES.items():
            status.setdefault(str(sid), value)
        settings: dict[str, object] = {str(k): v for k, v in sorted(self.settings.items())}
        for sid, value in UNDOCUMENTED_SETTINGS.items():
            settings.setdefault(str(sid), value)
        return {"status": status, "settings": settings}

    # -- commands ------------------------------------------------------------------------------
    def set_setting(self, setting_id: int, option: int) -> tuple[int, dict[str, object]]:
        """(http status, body) of a set-setting request."""
        self.advance()
        spec = SETTINGS.get(setting_id)
        if spec is None or self.model not in spec.models:
            return 403, {
                "error": 2 if spec is None else 1,
                "setting_id": setting_id,
                "option_id": option,
                "supported_options": [],
            }
        available = self.available_options(setting_id)
        if option not in available:
            known = option in supported_options(setting_id, self.model)
            return 403, {
                "error": 3 if known else 4,
                "setting_id": setting_id,
                "option_id": option,
                "supported_options": [{"display_name": n, "id": o} for o, n in sorted(available.items())],
            }
        if self.recording_since is not None:
            # Settings cannot change while encoding.
            return 403, {"error": 1, "setting_id": setting_id, "option_id": option, "supported_options": []}
        self.settings[setting_id] = option
        self._follow_linked(setting_id)
        if setting_id in (Setting.RESOLUTION, Setting.ANTI_FLICKER):
            self._coerce_frame_rate()
        self.touch()
        self._pulse_busy()
        return 200, {}

    def _follow_linked(self, setting_id: int) -> None:
        """Move the setting linked to `setting_id` (if the model has both) to the option that means the same."""
        for pair in LINKED_SETTINGS:
            if setting_id not in pair or not all(s in self.settings for s in pair):
                continue
            other = pair[1] if setting_id == pair[0] else pair[0]
            meaning = supported_options(setting_id, self.model)[self.settings[setting_id]]
            same = [o for o, name in supported_options(other, self.model).items() if name == meaning]
            if same:
                self.settings[other] = same[0]

    def load_preset(self, preset_id: int) -> bool:
        self.advance()
        preset = next((p for p in self.presets if p.id == preset_id), None)
        if preset is None or self.recording_since is not None:
            return False
        self.preset = preset
        self.last_group_preset[preset.group] = preset.id
        for sid, option in preset.settings.items():
            if option in supported_options(sid, self.model):
                self.settings[sid] = option
                self._follow_linked(sid)
        self._coerce_frame_rate()
        self.touch()
        self._pulse_busy()
        return True

    def load_group(self, group: int) -> bool:
        preset_id = self.last_group_preset.get(group)
        if preset_id is None:
            preset_id = next((p.id for p in self.presets if p.group == group), None)
        return preset_id is not None and self.load_preset(preset_id)

    def presets_json(self) -> dict[str, object]:
        groups = []
        for group_id in (PresetGroup.VIDEO, PresetGroup.PHOTO, PresetGroup.TIMELAPSE):
            presets = [
                {
                    "id": p.id,
                    "mode": p.mode,
                    "titleId": p.title_id,
                    "titleNumber": 0,
                    "icon": p.icon,
                    "userDefined": False,
                    "isFixed": True,
                    "isModified": False,
                    "isVisible": 1,
                    "customName": "",
                    "settingArray": [
                        {"id": s, "value": self.settings.get(s, v), "isCaption": True}
                        for s, v in p.settings.items()
                        if s in self.settings
                    ],
                }
                for p in self.presets
                if p.group == group_id
            ]
            groups.append(
                {
                    "id": group_id,
                    "icon": GROUP_ICONS[group_id],
                    "canAddPreset": True,
                    "modeArray": GROUP_MODES[group_id],
                    "presetArray": presets,
                }
            )
        return {
            "presetGroupArray": groups,
            "customIconIds": [{"start": 0, "length": 10}],
            "customTitleIds": [{"start": 18, "length": 25}],
        }

    def set_date_time(self, date: str, time_of_day: str, tzone: int, dst: int) -> bool:
        try:
            year, month, day = (int(p) for p in date.split("_"))
            hour, minute, second = (int(p) for p in time_of_day.split("_"))
            local = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        except (ValueError, TypeError, OverflowError):
            return False
        self.clock_offset = local - self.clock()
        if self.info.has_timezone:
            self.tzone, self.dst = tzone, dst
        return True

    def date_time_json(self) -> dict[str, object]:
        t = time.gmtime(math.floor(self.camera_time()))
        reply: dict[str, object] = {"date": time.strftime("%Y_%m_%d", t), "time": time.strftime("%H_%M_%S", t)}
        if self.info.has_timezone:
            reply["tzone"] = self.tzone
            reply["dst"] = self.dst
        return reply

    def shutter_start(self) -> bool:
        """Start a recording (video presets) or take a photo. False when the card cannot take it."""
        self.advance()
        if self.recording_since is not None:
            return True
        if self.sd_state != 0 or self.sd_used_kb >= self.sd_capacity_kb:
            return False
        self.touch()
        if self.preset.is_photo:
            self.writing += 1
            self._spawn(self._take_photo(int(self.camera_time())))
            return True
        self.recording_since = self.clock()
        self.latency = self.draw_latency()
        self.hot_since = self.recording_since if self.resolution[0] in ("4k", "5k") else None
        return True

    def draw_latency(self) -> float:
        """How long after a shutter request this camera's next recording starts: its mean, and jitter."""
        low, high = LATENCY_LIMITS_S
        return min(high, max(low, self.latency_mean + self._jitter.gauss(0.0, LATENCY_JITTER_S)))

    def shutter_stop(self) -> None:
        self.advance()
        if self.recording_since is None:
            return
        now = self.clock()
        encoded = now - self.recording_since - self.tuning.start_delay_s  # how long it reported encoding
        # The first sample: the latency after the shutter, never before the camera reports encoding. A
        # camera that reported encoding writes a clip, a few frames long even if stopped before then.
        latency = max(self.latency, self.tuning.start_delay_s)
        started = self.recording_since + latency
        duration = max(SHORTEST_CLIP_S, now - started)
        cre = int(started + self.clock_offset)
        self.recording_since = None
        self.hot_since = None
        self.touch()  # idle time counts from the end of a recording, however it ended
        self._pulse_busy()  # closing the files
        if encoded <= 0.0:
            return
        self.writing += 1
        # The file is as the camera was set while it recorded, whatever happens before it is written.
        video, chapters = self.video_format(), self.chapters_for(duration)
        self._spawn(self._write_recording(cre, started, latency, duration, video, chapters))

    def chapters_for(self, duration: float) -> int:
        if self.tuning.chapter_seconds:
            return max(1, math.ceil(duration / self.tuning.chapter_seconds))
        nominal = duration * self.bitrate_mbps() * 1e6 / 8
        return max(1, math.ceil(nominal / FAT32_CHAPTER_BYTES))

    def video_format(self) -> VideoFormat:
        _, width, height = self.resolution
        lens = supported_options(Setting.LENS, self.model).get(self.settings.get(Setting.LENS, 0), "Wide")
        return VideoFormat(width, height, self.fps(), self.fps() not in PAL_RATES, lens)

    async def add_recording(
        self,
        *,
        duration: float,
        cre: int | None = None,
        size: int | None = None,
        directory: str | None = None,
        sparse: bool = False,
        video: VideoFormat | None = None,
        chapters: int | None = None,
        start_wall: float | None = None,
        latency: float | None = None,
    ) -> list[MediaItem]:
        """Write a recording as if it had been shot (tests and demos fabricate long takes with it);
        its format and chapters are the current settings' unless given. Its sound starts at
        `start_wall` (default: `cre` read on the camera's clock); silent while the camera is muted."""
        disk_bytes = size if size is not None else max(1, int(duration * self.tuning.media_bytes_per_second))
        when = int(self.camera_time() - duration) if cre is None else cre
        start_wall = when - self.clock_offset if start_wall is None else start_wall
        muted = self.muted
        items = await asyncio.to_thread(
            self.media.write_video,
            cre=when,
            start_wall=start_wall,
            clock_offset=self.clock_offset,
            room=None if muted else RoomSound(self.tuning.room_seed),
            duration=duration,
            disk_bytes=disk_bytes,
            chapters=self.chapters_for(duration) if chapters is None else chapters,
            video=video or self.video_format(),
            directory=directory,
            sparse=sparse,
        )
        self.last_captured = items[-1]
        self.recordings.append(
            {
                "path": items[0].key,
                "start_wall": start_wall,
                "latency_s": latency,
                "chapters": len(items),
                "muted": muted,
            }
        )
        return items

    async def add_photo(self, *, cre: int | None = None, directory: str | None = None) -> MediaItem:
        when = int(self.camera_time()) if cre is None else cre
        item = await asyncio.to_thread(self.media.write_photo, cre=when, directory=directory)
        self.last_captured = item
        return item

    async def _write_recording(
        self, cre: int, started: float, latency: float, duration: float, video: VideoFormat, chapters: int
    ) -> None:
        try:
            await self.add_recording(
                duration=duration, cre=cre, video=video, chapters=chapters, start_wall=started, latency=latency
            )
        finally:
            self.writing -= 1

    async def _take_photo(self, cre: int) -> None:
        try:
            await asyncio.sleep(self.tuning.photo_delay_s)  # busy (writing) meanwhile, never "encoding"
            if self.preset.is_burst:
                count = self.tuning.burst_count
                self.last_captured = await asyncio.to_thread(self.media.write_burst, cre=cre, count=count)
            else:
                await self.add_photo(cre=cre)
        finally:
            self.writing -= 1

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for background media writes (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def until_idle(self) -> None:
        """Wait until the camera is no longer busy: its writes done, its busy pulse over (tests)."""
        await self.settle()
        while self.busy:
            await asyncio.sleep(max(0.01, self.busy_until - self.clock()))

    def delete_all(self) -> None:
        self.media.delete_all()
        self.sd_used_kb = self.sd_capacity_kb * 0.001
        self._pulse_busy()
