"""The Pis: which Pi a name means, the one way a link to a Pi is built, and what a save or a pull
tells the operator."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rigtui.config import Config, PiHost
from rigtui.ops.report import Line
from rigtui.remote.pilink import PiEndpoint, PiLink, PullReport


def pi_endpoint(host: PiHost) -> PiEndpoint:
    return PiEndpoint(
        host.name,
        host.host,
        host.port or None,
        host.user or None,
        host.service_port,
        host.identity_file or None,
        host.accept_new_host_key,
    )


def find_pi(config: Config, name: str) -> PiEndpoint:
    """A Pi by its [[pis]] name, else taken as an SSH host (an alias from ~/.ssh/config works)."""
    for host in config.pis:
        if host.name == name:
            return pi_endpoint(host)
    return PiEndpoint(name, name)


def pi_link(config: Config, endpoint: PiEndpoint) -> PiLink:
    return PiLink(
        endpoint,
        stale_after_s=config.remote.stale_after_s,
        connect_timeout_s=config.remote.connect_timeout_s,
        known_hosts=[config.remote.known_hosts] if config.remote.known_hosts else None,
    )


def pi_links(config: Config, extra: Iterable[PiEndpoint] = ()) -> list[PiLink]:
    """A link to every Pi of config.toml's [[pis]], and to the extra ones (the demo's)."""
    return [pi_link(config, e) for e in [*(pi_endpoint(p) for p in config.pis), *extra]]


@dataclass(frozen=True)
class SaveReport:
    pi: str
    reply: str  # the service's own line: SAVED <files> or NOT_SAVED <why>

    @property
    def ok(self) -> bool:
        return self.reply.startswith("SAVED")

    def line(self) -> Line:
        return Line(f"{self.pi}: {self.reply}", not self.ok)


async def save(link: PiLink, formats: Iterable[str] = ()) -> SaveReport:
    """Save the latest frame now (formats: jpg, png, npy; none: the Pi's own [pi] formats)."""
    return SaveReport(link.endpoint.name, await link.command(" ".join(["save", *formats])))


async def save_stacked(link: PiLink) -> SaveReport:
    """Save the average of the last frames in the ring (less noise at night)."""
    return SaveReport(link.endpoint.name, await link.command("pastStack"))


async def pull(
    link: PiLink, dest: Path, *, bwlimit_kbps: float = 0.0, progress: Callable[[int, int], None] = lambda d, t: None
) -> PullReport:
    return await link.pull(dest, bwlimit_kbps=bwlimit_kbps, progress=progress)


def pull_lines(report: PullReport) -> list[Line]:
    """Every file that failed, then the pull in one line."""
    lines = [Line(f"FAILED {line}", True) for line in report.failed]
    summary = f"{report.pulled} pulled, {report.skipped} already here and verified, {len(report.failed)} failed"
    lines.append(Line(f"pull: {summary}", bool(report.failed)))
    return lines


def default_pull_folder(name: str) -> Path:
    return Path("~/rigtui-pi").expanduser() / name
