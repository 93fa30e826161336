"""Offload throughput: 8 simulated cameras x 2 files of 256 MiB.

rigtui's offload (streamed to .part with xxh64 on the way, length check, rename, read-back hash,
ledger, manifests) is timed next to curl fetching the same files in parallel (one curl per file,
no verification) in the same run, against the same simulator; then the same offload to two
destinations in one pass (each camera file read once, written and read back twice). Also prints
rigtui's peak RSS: the offload streams, so memory must not grow with file size or destinations.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from simproc import simulated_rig

from rigtui.gopro.ledger import Ledger
from rigtui.gopro.offload import Offload, OffloadOptions
from rigtui.gopro.rig import Rig

MIB = 1024 * 1024


async def add_footage(endpoints: list, files: int, size: int) -> list[tuple[str, str]]:
    """Each camera records `files` takes of `size` bytes; returns (address, card path) of each."""
    found = []
    async with httpx.AsyncClient(trust_env=False, timeout=120) as http:
        for take in range(files):
            replies = await asyncio.gather(
                *(
                    http.get(
                        f"http://{e.address}/_sim/media/add",
                        params={"seconds": "30", "size": str(size), "cre": str(1_790_000_000 + take * 600)},
                    )
                    for e in endpoints
                )
            )
            found += [(e.address, r.json()[0]["path"]) for e, r in zip(endpoints, replies, strict=True)]
    return found


def curl_all(files: list[tuple[str, str]], folder: Path) -> float:
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            ["curl", "--noproxy", "*", "-sS", "-o", str(folder / f"{i}.bin"), f"http://{address}/videos/DCIM/{path}"]
        )
        for i, (address, path) in enumerate(files)
    ]
    if any(p.wait() for p in procs):
        raise SystemExit("curl failed")
    return time.monotonic() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def offload(endpoints: list, work: Path, destinations: tuple[Path, ...]) -> float:
    """Seconds to offload every camera into `destinations` in one pass, each file verified in each."""
    rig = Rig()
    await rig.add(endpoints)
    options = OffloadOptions(destinations[0], sidecars=False, also=destinations[1:])
    job = Offload(rig, options, Ledger(work / f"ledger-{len(destinations)}.jsonl"))
    started = time.monotonic()
    plan = await job.run()
    seconds = time.monotonic() - started
    await rig.close()
    failed = [t for t in plan.tasks if t.state != "verified"]
    assert not failed, failed[0].error
    return seconds


async def main(cameras: int, files: int, size_mib: int) -> None:
    size = size_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="rigtui-bench-"))
    try:
        async with simulated_rig(cameras, "--media-dir", str(work / "cards")) as endpoints:
            footage = await add_footage(endpoints, files, size)
            total = len(footage) * size
            (work / "curl").mkdir()
            curl_s = await asyncio.to_thread(curl_all, footage, work / "curl")
            shutil.rmtree(work / "curl")
            one_s = await offload(endpoints, work, (work / "one",))
            shutil.rmtree(work / "one")
            one_rss = peak_rss_mb()
            two_s = await offload(endpoints, work, (work / "two-a", work / "two-b"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, curls, two = total / one_s / 1e6, total / curl_s / 1e6, total / two_s / 1e6
    print(f"offload throughput: {cameras} cameras x {files} files x {size_mib} MiB ({total / 1e9:.1f} GB)")
    print(f"  rigtui, one destination   {ours:7.0f} MB/s  (hash while streaming, read-back hash, manifests)")
    print(f"  curl                      {curls:7.0f} MB/s  (parallel, no verification)")
    print(f"  rigtui / curl             {ours / curls:5.2f}x   (target >= 0.85x quiet, >= 0.8x under load)")
    print(f"  rigtui, two destinations  {two:7.0f} MB/s  of camera data (each file written and read back twice)")
    print(f"  two / one destination     {two / ours:5.2f}x   (target >= 0.7x)")
    print(f"  rigtui peak RSS  one destination {one_rss:5.0f} MB, two {peak_rss_mb():5.0f} MB   (target <= 200 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.files, args.size_mib))
