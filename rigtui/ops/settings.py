"""Copying the prime camera's settings to the others, and which camera is the prime."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rigtui.config import Config
from rigtui.gopro.errors import CameraError
from rigtui.gopro.protocol import MODELS
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.settings import PresetTitle, current_preset
from rigtui.gopro.settings import copy_settings as copy_to_camera
from rigtui.ops.errors import UsageError
from rigtui.ops.report import Report
from rigtui.userstate import UserState


def prime_of(config: Config, state: UserState, chosen: str | None = None) -> str:
    """The prime camera: the one named now, else the one chosen in the TUI (`p`), else config.toml's."""
    return chosen or state.prime or config.rig.prime


def require_prime(prime: str, why: str) -> str:
    if not prime:
        raise UsageError(f"{why} needs a prime camera: --from SERIAL, `p` in the app, or [rig] prime in config.toml")
    return prime


@dataclass(frozen=True)
class PrimeSettings:
    """What a copy takes from the prime: its model, settings and preset (by meaning). It travels
    between hosts as JSON (`to_json` / `from_json`, strict about every field)."""

    camera: str
    model: str
    settings: dict[int, int]
    preset: PresetTitle | None

    def to_json(self) -> dict[str, object]:
        preset = None if self.preset is None else {"title_id": self.preset.title_id, "mode": self.preset.mode}
        return {"camera": self.camera, "model": self.model, "settings": self.settings, "preset": preset}

    @classmethod
    def from_json(cls, data: object) -> PrimeSettings:
        """ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("prime is not an object")
        camera, model, settings, preset = (data.get(k) for k in ("camera", "model", "settings", "preset"))
        if not isinstance(camera, str) or len(camera) > 200:
            raise ValueError("prime camera is not a name")
        if model not in MODELS:
            raise ValueError(f"prime model is not one of {', '.join(MODELS)}")
        if not isinstance(settings, dict) or len(settings) > 500:
            raise ValueError("prime settings are not an object of settings")
        try:
            numbers = {int(k): v for k, v in settings.items() if type(v) is int}
        except ValueError:
            raise ValueError("prime settings are not numbered") from None
        if len(numbers) != len(settings):
            raise ValueError("prime settings hold values that are not whole numbers")
        title = None
        if preset is not None:
            if not isinstance(preset, dict) or type(preset.get("title_id")) is not int:
                raise ValueError("prime preset is not a preset title")
            mode = preset.get("mode")
            title = PresetTitle(preset["title_id"], mode if type(mode) is int else None)
        return cls(camera, str(model), numbers, title)


async def read_prime(rig: Rig, prime_key: str) -> PrimeSettings:
    """The prime's settings and preset as it has them now; CameraError when it cannot be read."""
    prime = rig.find(prime_key)
    if not prime.online or prime.model is None:
        raise CameraError(f"{prime.key} is offline or of unknown model")
    state = await prime.read_state()
    return PrimeSettings(prime.key, prime.model, dict(state.settings), await current_preset(prime.client, state))


async def copy_settings(rig: Rig, prime_key: str, selection: Iterable[str] | None = None) -> Report:
    """Apply the prime's preset and settings to the others by meaning and in dependency order; then
    re-read every camera and report which settings still differ."""
    try:
        prime = await read_prime(rig, prime_key)
    except CameraError as exc:
        return Report("copy settings", [], [f"prime: {exc}"])
    return await copy_from(rig, prime, selection)


async def copy_from(rig: Rig, prime: PrimeSettings, selection: Iterable[str] | None = None) -> Report:
    """The prime's settings (read here or on another host) onto every other camera of this rig."""
    online, outcomes = rig.split_online([link for link in rig.cameras(selection) if link.key != prime.camera])
    differences: dict[str, list[str]] = {}

    async def copy(link: CameraLink) -> str:
        if link.model is None:
            raise CameraError("model unknown: cannot translate settings")
        state, lines = await copy_to_camera(link.client, link.model, prime.settings, prime.model, prime.preset)
        link.mark_online(state)
        differences[link.key] = lines
        if lines:
            raise CameraError(f"{len(lines)} setting(s) still differ: " + "; ".join(lines))
        return "settings match the prime"

    outcomes += await rig.each(online, copy, timeout=60)
    return Report("copy settings", outcomes, extra={"prime": prime.camera, "differences": differences})
