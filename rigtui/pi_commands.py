"""`rigtui pi status | save | pull`: one Pi, from the operator's machine, over SSH."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rigtui.config import Config, PiHost
from rigtui.remote.pilink import PiEndpoint, PiError, PiLink

EXIT_OK, EXIT_FAILED = 0, 1


def endpoint(host: PiHost) -> PiEndpoint:
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
            return endpoint(host)
    return PiEndpoint(name, name)


def link_for(config: Config, name: str) -> PiLink:
    extra = [config.remote.known_hosts] if config.remote.known_hosts else None
    return PiLink(
        find_pi(config, name),
        stale_after_s=config.remote.stale_after_s,
        connect_timeout_s=config.remote.connect_timeout_s,
        known_hosts=extra,
    )


def run_pi_remote(args: argparse.Namespace, config: Config) -> int:
    async def main() -> int:
        link = link_for(config, args.name)
        try:
            if args.pi_command == "status":
                status = await link.fetch_status()
                if args.json:
                    print(json.dumps(status, indent=1))
                else:
                    print(describe(args.name, status))
                return EXIT_OK
            if args.pi_command == "save":
                reply = await link.command("save " + " ".join(args.formats))
                print(reply)
                return EXIT_OK if reply.startswith("SAVED") else EXIT_FAILED
            report = await link.pull(
                Path(args.dest),
                bwlimit_kbps=args.bwlimit or 0.0,
                progress=lambda done, total: print(
                    f"\r{done / 1e6:8.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr
                ),
            )
            print(file=sys.stderr)
            for line in report.failed:
                print(f"FAILED {line}")
            print(
                f"pull: {report.pulled} pulled, {report.skipped} already here and verified, {len(report.failed)} failed"
            )
            return EXIT_OK if not report.failed else EXIT_FAILED
        except PiError as exc:
            print(f"rigtui: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            await link.close()

    return asyncio.run(main())


def describe(name: str, status: dict[str, object]) -> str:
    ring = status.get("ring") or {}
    last = status.get("last_save") or {}
    return (
        f"{name}: {'NIGHT' if status.get('night') else 'DAY'} level {status.get('level')} "
        f"(dark {status.get('dark_threshold')}, bright {status.get('bright_threshold')}); "
        f"ring {ring.get('frames')}/{ring.get('capacity')} frames, {ring.get('seconds')} s; "  # type: ignore[union-attr]
        f"{status.get('fps')} fps; exposure {status.get('exposure_us')} us gain {status.get('gain')}; "
        f"last save {(last.get('paths') or ['none'])[0] if isinstance(last, dict) else 'none'}; "
        f"disk free {status.get('disk_free_mb')} MB; {status.get('backend')}"
    )
