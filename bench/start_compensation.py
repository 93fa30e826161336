"""Start spread measured from the footage, without and with `[record] start_compensation`, same run.

A `rigtui sim` rig (its own process; each camera starts 100-200 ms after its request, its own mean
plus ~10 ms of jitter, all hearing one room) is driven by the real commands, as an operator would:
`rigtui record`, a few seconds, `rigtui stop`, then `rigtui offload`, whose sync audit measures
every take's start spread from the clips' audio. First takes without compensation (they also teach
each camera's mean latency), then takes with it. rigtui's files live in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from simproc import simulated_rig


async def rigtui(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rigtui", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"rigtui {' '.join(args[:3])} failed: {err.decode().strip() or out.decode().strip()}")
    return out.decode()


async def takes(env: dict[str, str], cameras: list[str], count: int, seconds: float, dest: Path) -> list[float]:
    """`count` takes, offloaded; each one's start spread (ms) as the audit measured it."""
    before = set(dest.glob("*/sync.json"))
    for _ in range(count):
        await rigtui(env, *cameras, "record")
        await asyncio.sleep(seconds)
        await rigtui(env, *cameras, "stop")
    await rigtui(env, *cameras, "offload", str(dest))
    found = sorted(set(dest.glob("*/sync.json")) - before)
    return [json.loads(path.read_text())["spread_s"] * 1000 for path in found]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=12)
    parser.add_argument("--takes", type=int, default=5, help="takes without, then as many with compensation")
    parser.add_argument("--seconds", type=float, default=3.0, help="each take's length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rigtui-bench-") as tmp:
        home = Path(tmp)
        env = {**os.environ, **{name: str(home / name.lower()) for name in ("XDG_DATA_HOME", "XDG_STATE_HOME")}}
        env["XDG_CONFIG_HOME"], env["XDG_CACHE_HOME"] = str(home / "config"), str(home / "cache")
        plain, compensated = home / "plain.toml", home / "compensated.toml"
        plain.write_text("")
        compensated.write_text("[record]\nstart_compensation = true\n")
        dest = home / "footage"
        async with simulated_rig(args.cameras, base="127.0.6.1") as endpoints:
            named = [arg for e in endpoints for arg in ("--camera", e.address)]
            without = await takes(env, ["--config", str(plain), *named], args.takes, args.seconds, dest)
            with_it = await takes(env, ["--config", str(compensated), *named], args.takes, args.seconds, dest)
    print(f"start spread of {args.cameras} cameras measured from the footage, {args.takes} takes each")
    print(f"  without compensation  mean {statistics.fmean(without):6.1f} ms   max {max(without):6.1f} ms")
    print(f"  with compensation     mean {statistics.fmean(with_it):6.1f} ms   max {max(with_it):6.1f} ms")
    print(f"  with / without (mean) {statistics.fmean(with_it) / statistics.fmean(without):6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
