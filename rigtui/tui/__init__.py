"""The Textual app. Nothing in the core or the operations layer imports this package."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rigtui.config import Config
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.shotlog import ShotLog
from rigtui.ops.offload import open_ledger
from rigtui.ops.pi import pi_links
from rigtui.ops.rig import RigOptions
from rigtui.remote.pilink import PiEndpoint
from rigtui.sessionlog import SessionLog
from rigtui.tui.app import RigApp
from rigtui.userstate import UserState


def make_app(
    config: Config,
    rig: RigOptions,
    *,
    state: UserState | None = None,
    log_dir: Path | None = None,
    ledger: Ledger | None = None,
    shotlog: ShotLog | None = None,
    pis: Iterable[PiEndpoint] = (),
) -> RigApp:
    """The app for the CLI and the tests: the rig `rig` describes, config.toml's Pis plus `pis`."""
    return RigApp(
        config,
        rig,
        state=state or UserState.load(),
        session_log=SessionLog(log_dir),
        ledger=ledger or open_ledger(config),
        shotlog=shotlog or ShotLog(),
        pis=pi_links(config, pis),
    )
