"""CPU cost of watching a rig: 100 simulated cameras polled at 1 Hz.

rigtui's poller (state over each camera's warm socket, keep-alives every 3 s) runs for 30 s; the
baseline, measured in the same run against the same cameras, polls the same state with a pooled
httpx client per camera. The simulator runs in its own process: only rigtui's CPU is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from simproc import simulated_rig

from rigtui.gopro.client import parse_state
from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.replies import State, decode
from rigtui.gopro.rig import Rig, RigSettings


async def measure(run: asyncio.Future[None] | asyncio.Task[None], seconds: float) -> float:
    """CPU seconds this process used while `run` ran for `seconds`."""
    cpu = time.process_time()
    await asyncio.sleep(seconds)
    used = time.process_time() - cpu
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    return used


async def rigtui_poller(endpoints: list[Endpoint], seconds: float) -> tuple[float, int]:
    rig = Rig(RigSettings(poll_interval_s=1.0))
    await rig.add(endpoints)
    ticks = 0

    def on_tick(_snapshots: object) -> None:
        nonlocal ticks
        ticks += 1

    used = await measure(asyncio.create_task(rig.run_poller(on_tick)), seconds)
    await rig.close()
    return used, ticks * len(endpoints)


async def httpx_poller(endpoints: list[Endpoint], seconds: float) -> tuple[float, int]:
    clients = [httpx.AsyncClient(base_url=f"http://{e.address}", trust_env=False) for e in endpoints]
    polls = 0

    async def loop() -> None:
        nonlocal polls
        while True:
            started = time.monotonic()
            replies = await asyncio.gather(*(c.get("/gopro/camera/state") for c in clients))
            for reply in replies:
                parse_state(decode("/gopro/camera/state", reply.status_code, reply.content, State))
            polls += len(replies)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    used = await measure(asyncio.create_task(loop()), seconds)
    await asyncio.gather(*(c.aclose() for c in clients))
    return used, polls


async def main(cameras: int, seconds: float, baseline_seconds: float) -> None:
    async with simulated_rig(cameras) as endpoints:
        ours, our_polls = await rigtui_poller(endpoints, seconds)
        base, base_polls = await httpx_poller(endpoints, baseline_seconds)
    per_poll, base_per_poll = ours / our_polls, base / base_polls
    print(f"poll cost: {cameras} cameras at 1 Hz")
    for name, cost, used, polls, spent in (
        ("rigtui", per_poll, ours, our_polls, seconds),
        ("httpx", base_per_poll, base, base_polls, baseline_seconds),
    ):
        print(
            f"  {name:7} {cost * 1e6:7.1f} us CPU per camera-poll, {used / spent * 100:5.2f} % of one core "
            f"({polls} polls in {spent:g} s)"
        )
    print("  target: rigtui <= 5 % of one core")
    print(f"  rigtui / httpx  {per_poll / base_per_poll:5.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.seconds, args.baseline_seconds))
