"""Time sync across 100 simulated cameras: when set_date_time arrives, relative to the second it sets.

rigtui serializes every request ahead and releases them at the start of the second; the baseline,
in the same run, sends the same requests one after another from the second boundary with a new
connection each (as the original scripts did). Arrival times are the simulator's stamps.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import statistics
import time

from simproc import arrivals, simulated_rig

from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.rig import Rig
from rigtui.ops.clock import sync_time

PATH = "/gopro/camera/set_date_time"


def offsets_ms(stamps: list[int]) -> list[float]:
    """Each arrival's distance after the start of the second it fell in (the second being set)."""
    second = min(stamps) // 1_000_000_000 * 1_000_000_000
    return [(t - second) / 1e6 for t in stamps]


def naive_sync(endpoints: list[Endpoint]) -> None:
    time.sleep(1 - time.time() % 1)
    local = time.localtime()
    target = f"{PATH}?date={time.strftime('%Y_%m_%d', local)}&time={time.strftime('%H_%M_%S', local)}&tzone=0&dst=0"
    for e in endpoints:
        conn = http.client.HTTPConnection(e.host, e.port, timeout=5)
        conn.request("GET", target)
        conn.getresponse().read()
        conn.close()


async def main(cameras: int, rounds: int) -> None:
    async with simulated_rig(cameras) as endpoints:
        rig = Rig()
        await rig.add(endpoints)
        ours: list[float] = []
        naive: list[float] = []
        for _ in range(rounds):
            await arrivals(endpoints, PATH)
            report = await sync_time(rig)
            assert report.ok, [o for o in report.outcomes if not o.ok]
            stamps = await arrivals(endpoints, PATH)
            assert len(stamps) == cameras
            ours.append(max(offsets_ms(stamps)))
            await asyncio.to_thread(naive_sync, endpoints)
            naive.append(max(offsets_ms(await arrivals(endpoints, PATH))))
        await rig.close()
    print(f"time sync: latest set_date_time arrival after the second boundary, {cameras} cameras, {rounds} rounds")
    print(f"  rigtui  p50 {statistics.median(ours):8.3f} ms   max {max(ours):8.3f} ms   (target <= 20 ms)")
    print(f"  naive   p50 {statistics.median(naive):8.3f} ms   max {max(naive):8.3f} ms")
    print(f"  naive / rigtui  {statistics.median(naive) / statistics.median(ours):6.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.rounds))
