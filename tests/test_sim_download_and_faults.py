"""Downloads (GET, HEAD, Range, throttle) and every fault, seen by plain HTTP clients: httpx and curl."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time

import httpx
import pytest
from conftest import url

from rigtui.sim.rig import SimRig
from rigtui.sim.server import CameraServer

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

SIZE = 3 * 1024 * 1024 + 12345


async def curl(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "--noproxy", "*", "-sS", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out, err


async def add_video(server: CameraServer, size: int = SIZE) -> tuple[str, bytes]:
    """A recording on the card; returns its download path and its bytes on the simulated card."""
    items = await server.camera.add_recording(duration=12, size=size)
    path = items[0].key
    return path, (server.camera.media.dcim / path).read_bytes()


async def test_curl_downloads_the_exact_file_and_head_gives_its_length(rig: SimRig) -> None:
    server = rig.servers[0]
    path, data = await add_video(server)
    code, body, err = await curl(url(server, f"/videos/DCIM/{path}"))
    assert code == 0, err
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert body[4:8] == b"ftyp"
    code, head, _ = await curl("-I", url(server, f"/videos/DCIM/{path}"))
    headers = head.decode().lower()
    assert code == 0 and "200 ok" in headers and f"content-length: {SIZE}" in headers
    assert "accept-ranges: bytes" in headers


async def test_range_requests_resume_a_download(rig: SimRig) -> None:
    server = rig.servers[1]
    path, data = await add_video(server)
    code, part, _ = await curl("-r", "1000000-", url(server, f"/videos/DCIM/{path}"))
    assert code == 0 and part == data[1_000_000:]
    code, head, _ = await curl("-s", "-D", "-", "-o", "/dev/null", "-r", "10-19", url(server, f"/videos/DCIM/{path}"))
    assert b"206 Partial Content" in head and f"bytes 10-19/{SIZE}".encode() in head
    async with httpx.AsyncClient(trust_env=False) as http:
        tail = await http.get(url(server, f"/videos/DCIM/{path}"), headers={"Range": "bytes=-100"})
        assert tail.status_code == 206 and tail.content == data[-100:]
        beyond = await http.get(url(server, f"/videos/DCIM/{path}"), headers={"Range": f"bytes={SIZE}-"})
        assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{SIZE}"


async def test_blocks_carry_their_offset_so_misplaced_data_changes_the_hash(rig: SimRig) -> None:
    _, data = await add_video(rig.servers[0])
    blocks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    assert len(blocks) == 4 and len(set(blocks)) == 4


async def test_unknown_or_unsafe_download_paths_are_not_found(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    await add_video(server, 1000)
    for path in ("100GOPRO/GX019999.MP4", "100GOPRO/..%2F..%2Fetc%2Fpasswd", "..%2F100GOPRO/GX010001.MP4"):
        assert (await http.get(url(server, f"/videos/DCIM/{path}"))).status_code == 404


@pytest.mark.rig(cameras=1, throttle_mbps=4.0)
async def test_throttle_limits_a_cameras_download_bandwidth(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    path, _ = await add_video(server, 2_000_000)
    started = time.monotonic()
    await asyncio.gather(*(http.get(url(server, f"/videos/DCIM/{path}")) for _ in range(2)))
    assert time.monotonic() - started >= 0.8, "4 MB at 4 MB/s, shared by both downloads"


async def test_media_list_and_downloads_are_busy_while_recording_or_busy(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    path, _ = await add_video(server, 5000)
    download = url(server, f"/videos/DCIM/{path}")

    async def codes() -> tuple[int, int, int]:
        listing, got, head = await asyncio.gather(
            http.get(url(server, "/gopro/media/list")), http.get(download), http.head(download)
        )
        for reply in (listing, got):
            if reply.status_code == 503:
                assert reply.json() == {"message": "Camera is busy"}
        return listing.status_code, got.status_code, head.status_code

    assert await codes() == (200, 200, 200), "idle: list and files are served"
    await http.get(url(server, "/gopro/camera/shutter/start"))
    assert await codes() == (503, 503, 503), "recording"
    await asyncio.sleep(0.3)
    await http.get(url(server, "/gopro/camera/shutter/stop"))
    assert await codes() == (503, 503, 503), "writing the recording's files"
    await server.camera.until_idle()
    assert await codes() == (200, 200, 200)
    await http.get(url(server, "/gopro/camera/setting?setting=121&option=4"))
    assert await codes() == (503, 503, 503), "busy after a setting"
    await server.camera.until_idle()
    assert await codes() == (200, 200, 200)
    assert (await http.get(url(server, "/_sim/fault?set=media-busy"))).status_code == 200, "old kind still known"


async def test_shutter_start_fails_with_500_and_nothing_records(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[1]
    await http.get(url(server, "/_sim/fault?set=shutter-500&times=1"))
    assert (await http.get(url(server, "/gopro/camera/shutter/start"))).status_code == 500
    await asyncio.sleep(0.1)
    assert (await http.get(url(server, "/gopro/camera/state"))).json()["status"]["10"] == 0
    assert (await http.get(url(server, "/gopro/camera/shutter/start"))).status_code == 200, "fault was one-shot"


async def test_link_down_refuses_connections_then_comes_back(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[2]
    await http.get(url(server, "/_sim/fault?set=link-down&value=2"))
    await asyncio.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        await http.get(url(server, "/gopro/camera/state"))
    code, _, _ = await curl("--max-time", "2", url(server, "/gopro/camera/state"))
    assert code == 7, "curl: failed to connect"
    await asyncio.sleep(2.0)
    assert (await http.get(url(server, "/gopro/camera/state"))).status_code == 200
    assert (await http.get(url(rig.servers[0], "/gopro/camera/state"))).status_code == 200


async def test_link_resets_when_recording_starts_but_the_camera_records(rig: SimRig) -> None:
    server = rig.servers[0]
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.get(url(server, "/_sim/fault?set=reset-on-record&value=0.5"))
        with pytest.raises(httpx.TransportError):
            await http.get(url(server, "/gopro/camera/shutter/start"))
    await asyncio.sleep(0.7)
    async with httpx.AsyncClient(trust_env=False) as http:
        assert (await http.get(url(server, "/gopro/camera/state"))).json()["status"]["10"] == 1


async def test_download_stalls_after_a_share_and_the_client_times_out(rig: SimRig) -> None:
    server = rig.servers[0]
    path, data = await add_video(server)
    await curl(url(server, "/_sim/fault?set=stall&value=90"))
    code, body, _ = await curl("--max-time", "1.5", url(server, f"/videos/DCIM/{path}"))
    assert code == 28, "curl: operation timed out"
    assert 0.85 * len(data) < len(body) <= 0.9 * len(data) and data.startswith(body)
    async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(5, read=0.5)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url(server, f"/videos/DCIM/{path}"), headers={"Range": "bytes=100-"})


async def test_download_ends_short_without_an_error(rig: SimRig) -> None:
    server = rig.servers[0]
    path, data = await add_video(server)
    await curl(url(server, "/_sim/fault?set=short&value=50000"))
    code, body, err = await curl(url(server, f"/videos/DCIM/{path}"))
    assert code == 0, err
    assert len(body) == len(data) - 50000 and data.startswith(body)
    code, head, _ = await curl("-I", url(server, f"/videos/DCIM/{path}"))
    assert f"content-length: {SIZE}".encode() in head.lower(), "HEAD still tells the true size"


async def test_no_range_camera_sends_the_whole_file(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    path, data = await add_video(server, 5000)
    await http.get(url(server, "/_sim/fault?set=no-range"))
    reply = await http.get(url(server, f"/videos/DCIM/{path}"), headers={"Range": "bytes=100-"})
    assert reply.status_code == 200 and reply.content == data and "Accept-Ranges" not in reply.headers


async def test_latency_slows_every_reply(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    await http.get(url(server, "/_sim/fault?set=latency&value=300"))
    started = time.monotonic()
    await http.get(url(server, "/gopro/camera/keep_alive"))
    assert time.monotonic() - started >= 0.3
    await http.get(url(server, "/_sim/fault?clear=latency"))
    assert (await http.get(url(server, "/_sim/fault"))).json() == {}


async def test_malformed_fault_breaks_state_json(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[0]
    await http.get(url(server, "/_sim/fault?set=malformed"))
    reply = await http.get(url(server, "/gopro/camera/state"))
    assert reply.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


async def test_asleep_after_sleep_answers_nothing(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[3]
    assert (await http.get(url(server, "/gp/gpControl/command/system/sleep"))).status_code == 200
    await asyncio.sleep(0.2)
    for _ in range(3):
        with pytest.raises(httpx.ConnectError):
            await http.get(url(server, "/gopro/camera/keep_alive"))
        await asyncio.sleep(0.1)
    await server.wake()
    assert (await http.get(url(server, "/gopro/camera/keep_alive"))).status_code == 200


async def test_unknown_fault_is_a_clear_error(rig: SimRig, http: httpx.AsyncClient) -> None:
    reply = await http.get(url(rig.servers[0], "/_sim/fault?set=gremlins"))
    assert reply.status_code == 400 and "unknown fault 'gremlins'" in reply.json()["error"]


async def test_sim_media_add_fabricates_large_sparse_and_foldered_media(rig: SimRig, http: httpx.AsyncClient) -> None:
    server = rig.servers[1]
    big = 5 * 1024**3 + 7
    added = (await http.get(url(server, f"/_sim/media/add?seconds=60&size={big}&sparse=1&dir=101GOPRO"))).json()
    assert added[0]["path"] == "101GOPRO/GX010001.MP4" and added[0]["size"] == big
    info = (await http.get(url(server, "/gopro/media/info?path=101GOPRO/GX010001.MP4"))).json()
    assert int(info["s"]) == big % 2**32, "media/info wraps sizes over 4 GiB like real firmware"
    head = await http.head(url(server, "/videos/DCIM/101GOPRO/GX010001.MP4"))
    assert int(head.headers["Content-Length"]) == big
    listing = (await http.get(url(server, "/gopro/media/list"))).json()
    assert listing["media"][0]["fs"][0]["s"] == str(big)
