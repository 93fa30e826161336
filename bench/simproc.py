"""Helpers for benchmarks: a `rigtui sim` subprocess and its request logs."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from rigtui.gopro.discovery import Endpoint


@asynccontextmanager
async def simulated_rig(cameras: int, *extra: str, base: str = "127.0.5.1") -> AsyncIterator[list[Endpoint]]:
    """Start `rigtui sim` in its own process (its CPU is not ours) and yield the cameras."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        "sim",
        "--cameras",
        str(cameras),
        "--port",
        "0",
        "--no-mdns",
        "--base-address",
        base,
        *extra,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        lines = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 60)) for _ in range(cameras)]
        yield [Endpoint(c["host"], c["port"], c["serial"]) for c in lines]
    finally:
        proc.terminate()
        await proc.wait()


async def arrivals(endpoints: list[Endpoint], path: str) -> list[int]:
    """t_ns of every request to `path` since the last call, one list across cameras (logs are cleared)."""
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        logs = await asyncio.gather(
            *(http.get(f"http://{e.address}/_sim/requests", params={"clear": "1"}) for e in endpoints)
        )
    return [entry["t_ns"] for log in logs for entry in log.json() if entry["path"] == path]


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):8.3f} ms   max {max(values):8.3f} ms"
