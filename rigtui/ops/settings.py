"""Copying the prime camera's settings to the others, and which camera is the prime."""

from __future__ import annotations

from collections.abc import Iterable

from rigtui.config import Config
from rigtui.gopro.errors import CameraError
from rigtui.gopro.rig import CameraLink, Rig
from rigtui.gopro.settings import copy_settings as copy_to_camera
from rigtui.gopro.settings import current_preset
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


async def copy_settings(rig: Rig, prime_key: str, selection: Iterable[str] | None = None) -> Report:
    """Apply the prime's preset and settings to the others by meaning and in dependency order; then
    re-read every camera and report which settings still differ."""
    verb = "copy settings"
    try:
        prime = rig.find(prime_key)
    except CameraError as exc:
        return Report(verb, [], [f"prime: {exc}"])
    if not prime.online or prime.model is None:
        return Report(verb, [], [f"prime {prime.key} is offline or of unknown model"])
    prime_state = await prime.read_state()
    preset = await current_preset(prime.client, prime_state)
    online, outcomes = rig.split_online([link for link in rig.cameras(selection) if link is not prime])
    differences: dict[str, list[str]] = {}

    async def copy(link: CameraLink) -> str:
        if link.model is None:
            raise CameraError("model unknown: cannot translate settings")
        state, lines = await copy_to_camera(link.client, link.model, prime_state.settings, prime.model or "", preset)
        link.mark_online(state)
        differences[link.key] = lines
        if lines:
            raise CameraError(f"{len(lines)} setting(s) still differ: " + "; ".join(lines))
        return "settings match the prime"

    outcomes += await rig.each(online, copy, timeout=60)
    return Report(verb, outcomes, extra={"prime": prime.key, "differences": differences})
