"""Start spread across several host PCs: 4 hosts x 25 simulated cameras, each host's cameras held by
its own `rigtui agent` (a local process, reached as over SSH: JSON lines on its stdin and stdout),
started by `ops.hosts` at one common instant; next to the same 100 cameras started from one host
(`ops.shutter.record`) in the same run. The agents run on this machine, so their true clock offset
is zero and the offset rigtui measures is its measurement error.

Arrival times are the simulators' stamps (taken when a request's bytes arrive, before parsing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

from simproc import arrivals, simulated_rig, summary

from rigtui.config import parse
from rigtui.gopro.rig import Rig, RigSettings
from rigtui.ops.hosts import Hosts, chosen_hosts
from rigtui.ops.shutter import RecordOptions, record, stop

START = "/gopro/camera/shutter/start"


def spread_ms(stamps: list[int]) -> float:
    return (max(stamps) - min(stamps)) / 1e6


def hosts_config(rigs: list[list], home: Path) -> str:
    """Each agent a host of its own: its shot log, ledger and state under `home`, never the user's."""
    folders = " ".join(
        f"{name}={home / name.lower()}" for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
    )
    command = f"env {folders} {sys.executable} -m rigtui agent --stdio"
    tables = [
        f'[[hosts]]\nname = "host{n}"\ndirect = true\ncommand = "{command}"\n'
        f"cameras = [{', '.join(repr(e.address) for e in endpoints)}]\n"
        for n, endpoints in enumerate(rigs)
    ]
    return "[rig]\nmax_host_offset_ms = 50.0\n" + "\n".join(tables).replace("'", '"')


async def main(hosts: int, per_host: int, starts: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        rigs = [
            await stack.enter_async_context(simulated_rig(per_host, base=f"127.0.{40 + n}.1")) for n in range(hosts)
        ]
        everyone = [e for endpoints in rigs for e in endpoints]
        spreads: dict[str, list[float]] = {"several hosts": [], "one host": []}
        offsets: list[float] = []

        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rigtui-bench-")))
        config = parse(hosts_config(rigs, home))
        several = Hosts(config, chosen_hosts(config))
        await several.open()
        try:
            for _ in range(starts):
                await arrivals(everyone, START)  # clear the logs
                report = await several.record(force=True)
                assert report.ok, [o for o in report.outcomes if not o.ok][:3]
                stamps = await arrivals(everyone, START)
                assert len(stamps) == len(everyone), f"{len(stamps)} of {len(everyone)} cameras got the start"
                spreads["several hosts"].append(spread_ms(stamps))
                offsets += [abs(c["offset_ms"]) for c in report.extra["clocks"].values()]  # type: ignore[union-attr]
                assert (await several.stop()).ok
        finally:
            await several.close()

        rig = Rig(RigSettings(confirm_timeout_s=10))
        await rig.add(everyone)
        try:
            for _ in range(starts):
                await arrivals(everyone, START)
                assert (await record(rig, options=RecordOptions(force=True))).ok
                spreads["one host"].append(spread_ms(await arrivals(everyone, START)))
                assert (await stop(rig)).ok
        finally:
            await rig.close()

    print(f"start spread: {hosts} hosts x {per_host} cameras, and {len(everyone)} cameras on one host, {starts} starts")
    for method, values in spreads.items():
        print(f"  {method:14} {summary(values)}")
    ratio = statistics.median(spreads["several hosts"]) / statistics.median(spreads["one host"])
    print(f"  several / one  {ratio:6.2f}x   (target <= 1.5x)")
    print(f"  measured clock error (true offset 0): p50 {statistics.median(offsets):.3f} ms, max {max(offsets):.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--per-host", type=int, default=25)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.hosts, args.per_host, args.starts))
