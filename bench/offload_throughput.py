"""Offload throughput: 8 simulated cameras x 2 files of 256 MiB.

rigtui's offload (streamed to .part with xxh64 on the way, length check, rename, read-back hash,
ledger, manifests) is timed next to curl fetching the same files in parallel (one curl per file,
no verification) in the same run, against the same simulator. Also prints rigtui's peak RSS: the
offload streams, so memory must not grow with file size.
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
            rig = Rig()
            await rig.add(endpoints)
            job = Offload(rig, OffloadOptions(work / "offload", sidecars=False), Ledger(work / "ledger.jsonl"))
            started = time.monotonic()
            plan = await job.run()
            ours_s = time.monotonic() - started
            await rig.close()
            failed = [t for t in plan.tasks if t.state != "verified"]
            assert not failed, failed[0].error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours, curls = total / ours_s / 1e6, total / curl_s / 1e6
    print(f"offload throughput: {cameras} cameras x {files} files x {size_mib} MiB ({total / 1e9:.1f} GB)")
    print(f"  rigtui  {ours:7.0f} MB/s  (hash while streaming, read-back hash, manifests)")
    print(f"  curl    {curls:7.0f} MB/s  (parallel, no verification)")
    print(f"  rigtui / curl  {ours / curls:5.2f}x   (target >= 0.8x)")
    print(f"  rigtui peak RSS {peak_mb:5.0f} MB   (target <= 200 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.files, args.size_mib))
