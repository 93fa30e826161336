"""Settings by meaning: what a prime camera's settings are called on another model, and in which order
to apply them so that each step is valid on the camera (Open GoPro: resolution, then anti-flicker,
frame rate, lens, HyperSmooth last; HERO12+ framing and mode settings before all of them)."""

from __future__ import annotations

from dataclasses import dataclass

from rigtui.gopro.protocol import SETTINGS, Setting, supported_options

# Settings that gate others come first; the rest follow in id order.
APPLY_ORDER = [
    175,
    180,
    173,
    108,
    193,
    232,
    184,
    183,
    182,
    186,
    Setting.RESOLUTION,
    Setting.ANTI_FLICKER,
    Setting.FPS,
    Setting.FRAME_RATE_V2,
    Setting.LENS,
    Setting.HYPERSMOOTH,
]

# The same meaning under different option names on different models.
SYNONYMS = {"ntsc": "60hz", "pal": "50hz"}


def _meaning(name: str) -> str:
    key = name.strip().lower()
    return SYNONYMS.get(key, key)


def option_name(setting_id: int, option: int) -> str:
    spec = SETTINGS.get(setting_id)
    if spec is None or option not in spec.options:
        return str(option)
    return spec.options[option].name


def setting_name(setting_id: int) -> str:
    spec = SETTINGS.get(setting_id)
    return spec.name if spec else f"setting {setting_id}"


def translate(setting_id: int, option: int, source_model: str, target_model: str) -> int | None:
    """The target model's option meaning what `option` means on the source model, or None."""
    target = supported_options(setting_id, target_model)
    if not target:
        return None
    if option in target and _meaning(option_name(setting_id, option)) == _meaning(target[option]):
        return option
    wanted = _meaning(option_name(setting_id, option))
    return next((o for o, name in target.items() if _meaning(name) == wanted), None)


def apply_order(setting_ids: set[int]) -> list[int]:
    first = [s for s in APPLY_ORDER if s in setting_ids]
    return first + sorted(setting_ids - set(first))


@dataclass(frozen=True)
class SettingDifference:
    setting_id: int
    prime: str
    camera: str

    def describe(self) -> str:
        return f"{setting_name(self.setting_id)}: prime {self.prime}, this camera {self.camera}"


def copyable(prime_settings: dict[int, int], prime_model: str, target_model: str) -> dict[int, int | None]:
    """Setting id -> the target's option with the prime's meaning (None: the target has no such option)."""
    plan: dict[int, int | None] = {}
    for setting_id, option in prime_settings.items():
        spec = SETTINGS.get(setting_id)
        if spec is None or prime_model not in spec.models or target_model not in spec.models:
            continue
        if option not in supported_options(setting_id, prime_model):
            continue  # a value outside the prime's own mode (SPEC: undefined); nothing to copy
        plan[setting_id] = translate(setting_id, option, prime_model, target_model)
    return plan


def differences(
    prime_settings: dict[int, int], prime_model: str, settings: dict[int, int], model: str
) -> list[SettingDifference]:
    """Settings the camera holds with another meaning than the prime's."""
    found = []
    for setting_id in apply_order(set(copyable(prime_settings, prime_model, model))):
        prime_name = option_name(setting_id, prime_settings[setting_id])
        current = settings.get(setting_id)
        current_name = "unset" if current is None else option_name(setting_id, current)
        if _meaning(prime_name) != _meaning(current_name):
            found.append(SettingDifference(setting_id, prime_name, current_name))
    return found
