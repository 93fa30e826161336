"""Factory presets of the simulated cameras.

Real cameras number and title their presets differently per model, so the tables differ a little
per model too (HERO13 swaps two video preset ids; LiveBurst is gone from HERO12 on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rigtui.gopro.protocol import PresetGroup, Setting


@dataclass(frozen=True)
class SimPreset:
    id: int
    group: int
    mode: int  # EnumFlatMode
    title_id: int  # EnumPresetTitle
    icon: int  # EnumPresetIcon
    settings: dict[int, int] = field(default_factory=dict)

    @property
    def is_photo(self) -> bool:
        return self.mode in PHOTO_MODES

    @property
    def is_burst(self) -> bool:
        return self.mode in (19, 25)


PHOTO_MODES = frozenset({16, 17, 18, 19, 25})

GROUP_ICONS = {PresetGroup.VIDEO: 0, PresetGroup.PHOTO: 1, PresetGroup.TIMELAPSE: 2}
GROUP_MODES = {
    PresetGroup.VIDEO: [12, 15, 27],
    PresetGroup.PHOTO: [17, 18, 19, 25],
    PresetGroup.TIMELAPSE: [13, 20, 21, 24, 26],
}

_R, _F, _L = Setting.RESOLUTION, Setting.FPS, Setting.LENS


def presets_for(model: str) -> list[SimPreset]:
    standard, activity, cinematic, slomo = 0, 1, 2, 3
    if model == "HERO13":
        cinematic, slomo = 3, 2
    presets = [
        SimPreset(standard, PresetGroup.VIDEO, 12, 1, 0, {_R: 1, _F: 5, _L: 0}),
        SimPreset(activity, PresetGroup.VIDEO, 12, 0, 1, {_R: 4, _F: 1, _L: 3}),
        SimPreset(cinematic, PresetGroup.VIDEO, 12, 2, 2, {_R: 100, _F: 8, _L: 4}),
        SimPreset(slomo, PresetGroup.VIDEO, 27, 11, 10, {_R: 9, _F: 0, _L: 0}),
        SimPreset(65536, PresetGroup.PHOTO, 17, 3, 3),
        SimPreset(65538, PresetGroup.PHOTO, 19, 5, 5),
        SimPreset(65539, PresetGroup.PHOTO, 18, 6, 6),
        SimPreset(131072, PresetGroup.TIMELAPSE, 24, 7, 7),
        SimPreset(131073, PresetGroup.TIMELAPSE, 13, 8, 8),
        SimPreset(131074, PresetGroup.TIMELAPSE, 26, 9, 9),
    ]
    if model in ("HERO10", "HERO11"):
        presets.append(SimPreset(65537, PresetGroup.PHOTO, 25, 4, 4))
    return sorted(presets, key=lambda p: (p.group, p.id))
