"""Start skew across 100 simulated cameras: spread of shutter/start arrival times at the cameras.

Three ways to start the same cameras, in the same run:
- rigtui: `ops.shutter.record` (warm connections, requests serialized by h11 ahead, released back to back);
- naive: sequential requests with a new connection each, as the original scripts did;
- floor: pre-serialized requests written back to back on already-open blocking sockets, the
  fastest this machine and simulator allow.
Arrival times are the simulator's stamps (taken when the request's bytes arrive, before parsing).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import socket
import statistics

from simproc import arrivals, simulated_rig, summary

from rigtui.gopro.discovery import Endpoint
from rigtui.gopro.rig import Rig, RigSettings
from rigtui.ops.shutter import RecordOptions, record, stop

START = "/gopro/camera/shutter/start"


def spread_ms(stamps: list[int]) -> float:
    return (max(stamps) - min(stamps)) / 1e6


def naive_start(endpoints: list[Endpoint]) -> None:
    for e in endpoints:
        conn = http.client.HTTPConnection(e.host, e.port, timeout=5)
        conn.request("GET", START)
        conn.getresponse().read()
        conn.close()


def floor_start(sockets: list[socket.socket], requests: list[bytes]) -> None:
    for sock, request in zip(sockets, requests, strict=True):
        sock.send(request)
    for sock in sockets:
        sock.recv(65536)


async def main(cameras: int, starts: int) -> None:
    async with simulated_rig(cameras) as endpoints:
        rig = Rig(RigSettings(confirm_timeout_s=10))
        await rig.add(endpoints)
        results: dict[str, list[float]] = {"rigtui": [], "naive": [], "floor": []}
        sockets = [socket.create_connection((e.host, e.port)) for e in endpoints]
        requests = [f"GET {START} HTTP/1.1\r\nHost: {e.address}\r\n\r\n".encode() for e in endpoints]
        for _ in range(starts):
            for method in results:
                await arrivals(endpoints, START)  # clear the logs
                if method == "rigtui":
                    report = await record(rig, options=RecordOptions(force=True))
                    assert report.ok, [o for o in report.outcomes if not o.ok]
                elif method == "naive":
                    await asyncio.to_thread(naive_start, endpoints)
                else:
                    await asyncio.to_thread(floor_start, sockets, requests)
                stamps = await arrivals(endpoints, START)
                assert len(stamps) == cameras, f"{method}: {len(stamps)} of {cameras} cameras got the start"
                results[method].append(spread_ms(stamps))
                assert (await stop(rig)).ok
        for sock in sockets:
            sock.close()
        await rig.close()
    print(f"start skew: spread of shutter/start arrivals across {cameras} cameras, {starts} starts each")
    for method, values in results.items():
        print(f"  {method:7} {summary(values)}")
    rig_p50, floor_p50, naive_p50 = (statistics.median(results[m]) for m in ("rigtui", "floor", "naive"))
    print(f"  rigtui / floor  {rig_p50 / floor_p50:6.2f}x   (target <= 2x; rigtui p50 target <= 5 ms)")
    print(f"  naive / rigtui  {naive_p50 / rig_p50:6.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.starts))
