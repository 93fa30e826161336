"""The Textual app. The core (gopro, pi, remote, config) never imports this package."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from rigtui.config import Config
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.rig import Rig
from rigtui.pi_commands import endpoint
from rigtui.remote.pilink import PiEndpoint, PiLink
from rigtui.rig_commands import offload_options, open_ledger, rig_settings
from rigtui.sessionlog import SessionLog
from rigtui.tui.app import DiscoveryPlan, OffloadSettings, RigApp
from rigtui.userstate import UserState


def make_app(
    config: Config,
    *,
    endpoints: list[Endpoint] | None = None,
    discover: bool = True,
    mdns_interfaces: list[str] | None = None,
    state: UserState | None = None,
    log_dir: Path | None = None,
    ledger: Ledger | None = None,
    pis: list[PiEndpoint] | None = None,
) -> RigApp:
    """The app for the CLI and the tests: the cameras given, plus (with `discover`) those config.toml
    says how to find."""
    cfg = config.rig
    plan = DiscoveryPlan()
    if discover:
        plan = DiscoveryPlan(
            static=tuple(Endpoint.parse(text) for text in cfg.cameras),
            mdns_interfaces=tuple(mdns_interfaces or cfg.mdns_interfaces) if cfg.mdns else None,
            usb=cfg.usb_scan,
            cache=True,
        )
    return RigApp(
        Rig(rig_settings(config)),
        endpoints=list(endpoints or []),
        discovery=plan,
        state=state or UserState.load(),
        session_log=SessionLog(log_dir),
        keymap={action: key for action, key in config.keys.items() if key},
        config_prime=cfg.prime,
        pis=[
            PiLink(
                e,
                stale_after_s=config.remote.stale_after_s,
                connect_timeout_s=config.remote.connect_timeout_s,
                known_hosts=[config.remote.known_hosts] if config.remote.known_hosts else None,
            )
            for e in [*(endpoint(p) for p in config.pis), *(pis or [])]
        ],
        offload=OffloadSettings(
            dest=config.offload.dest,
            make_options=lambda dest: offload_options(config, dest, Namespace()),
            ledger=ledger or open_ledger(config),
        ),
    )
