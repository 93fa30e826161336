"""Settings by meaning: what a prime camera's settings are called on another model, in which order
to apply them so that each step is valid on the camera (Open GoPro: resolution, then anti-flicker,
frame rate, lens, HyperSmooth last; HERO12+ framing and mode settings before all of them), and
copying them to one camera."""

from __future__ import annotations

from dataclasses import dataclass

from rigtui.gopro.client import CameraClient, CameraState
from rigtui.gopro.errors import CameraError, SettingRejected
from rigtui.gopro.protocol import SETTINGS, Setting, Status, supported_options

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


# -- copying a prime's settings to one camera ---------------------------------------------------------
@dataclass(frozen=True)
class PresetTitle:
    """A preset by meaning: preset ids differ between models, titles and modes do not."""

    title_id: int
    mode: int | None


async def current_preset(client: CameraClient, state: CameraState) -> PresetTitle | None:
    """The title of the preset a camera is in now (None when its presets cannot be read)."""
    current = state.number(Status.PRESET)
    try:
        presets = await client.presets()
    except CameraError:
        return None
    match = next((p for p in presets if p.id == current and p.title_id is not None), None)
    return None if match is None or match.title_id is None else PresetTitle(match.title_id, match.mode)


async def load_matching_preset(client: CameraClient, wanted: PresetTitle) -> None:
    """Load the camera's preset of the same title and mode, if it has one and is not in it."""
    match = next((p for p in await client.presets() if (p.title_id, p.mode) == (wanted.title_id, wanted.mode)), None)
    if match is not None and (await client.state()).number(Status.PRESET) != match.id:
        await client.load_preset(match.id)


async def apply_settings(client: CameraClient, plan: dict[int, int | None], attempts: int = 3) -> None:
    """Set each option in dependency order; options refused as 'not available now' are retried
    after the rest (another setting may make them valid)."""
    pending = [s for s in apply_order(set(plan)) if plan[s] is not None]
    for _ in range(attempts):
        state = await client.wait_idle()
        retry = []
        for setting_id in pending:
            option = plan[setting_id]
            if option is None or state.settings.get(setting_id) == option:
                continue
            try:
                await client.set_setting(setting_id, option)
            except SettingRejected as exc:
                if exc.error in (3, None):
                    retry.append(setting_id)
                continue
            state = await client.wait_idle()
        if not retry:
            return
        pending = retry


async def copy_settings(
    client: CameraClient, model: str, prime_settings: dict[int, int], prime_model: str, preset: PresetTitle | None
) -> tuple[CameraState, list[str]]:
    """Bring one camera to the prime's preset and settings by meaning; returns its state after, and
    one line per setting that still differs (saying when the model has no such option)."""
    if preset is not None:
        await load_matching_preset(client, preset)
    plan = copyable(prime_settings, prime_model, model)
    await apply_settings(client, plan)
    state = await client.wait_idle()
    lines = [
        d.describe() + (f" [{model} has no such option]" if plan.get(d.setting_id) is None else "")
        for d in differences(prime_settings, prime_model, state.settings, model)
    ]
    return state, lines
