"""The simulator's recordings are real MP4 clips of one room's sound, so a sync audit can measure each
camera's true start from the audio (and the simulator tells the truth to check it against)."""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import make_options, url

from rigtui.sim.clips import AUDIO_RATE, CLAP_EVERY_S, RoomSound, write_clip
from rigtui.sim.rig import SimRig

av = pytest.importorskip("av", reason="real clips need PyAV (the rigtui[sync] extra)")

ROOM = RoomSound(0)
START = 1_790_000_003.123_456_7  # a clap at ..005: inside a few seconds' clip


def decoded_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as clip:
        return np.concatenate([frame.to_ndarray()[0] for frame in clip.decode(audio=0)])


def audio_start(sound: np.ndarray, around: float, search_s: float = 0.4) -> tuple[float, float]:
    """(wall time of the sound's first sample, correlation at the match): where one second of it best
    matches the room within ±search_s of `around` (FFT cross-correlation, sub-sample peak)."""
    probe = sound[:AUDIO_RATE]
    reference = ROOM.samples(around - search_s, len(probe) + int(2 * search_s * AUDIO_RATE))
    size = 1 << (len(reference) + len(probe)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(probe, size)), size)
    corr = corr[: len(reference) - len(probe) + 1]
    peak = int(np.argmax(corr))
    left, mid, right = (float(corr[min(max(i, 0), len(corr) - 1)]) for i in (peak - 1, peak, peak + 1))
    shift = 0.5 * (left - right) / (left - 2 * mid + right) if left - 2 * mid + right else 0.0
    window = reference[peak : peak + len(probe)]
    score = float(np.dot(window, probe) / (np.linalg.norm(window) * np.linalg.norm(probe)))
    return round(around * AUDIO_RATE) / AUDIO_RATE - search_s + (peak + shift) / AUDIO_RATE, score


def top_boxes(path: Path) -> list[tuple[bytes, int]]:
    boxes, offset, end = [], 0, path.stat().st_size
    with open(path, "rb") as file:
        while offset < end:
            file.seek(offset)
            size, kind = struct.unpack(">I4s", file.read(8))
            size = struct.unpack(">Q", file.read(8))[0] if size == 1 else size
            boxes.append((kind, size))
            offset += size
    return boxes


def test_the_room_sounds_the_same_whenever_a_clip_starts() -> None:
    whole = ROOM.samples(START, 3 * AUDIO_RATE)
    later = ROOM.samples(START + 70_001 / AUDIO_RATE, AUDIO_RATE)  # across a second's edge
    assert np.array_equal(whole[70_001 : 70_001 + len(later)], later)
    assert np.array_equal(RoomSound(0).samples(START, 100), whole[:100]), "a pure function of wall time"
    assert not np.array_equal(RoomSound(1).samples(START, 100), whole[:100]), "another room sounds different"
    clap_at = (int(START) // CLAP_EVERY_S + 1) * CLAP_EVERY_S  # inside `whole`
    clap = ROOM.samples(clap_at, AUDIO_RATE)
    assert np.abs(clap[:480]).max() > 3 * np.abs(clap[AUDIO_RATE // 2 :]).max(), "a loud clap on the second"
    assert clap_at < START + 3 and np.abs(whole).max() < 0.9, "no clipping"


def test_a_clip_is_a_valid_mp4_of_its_length_and_exact_size(tmp_path: Path) -> None:
    path = tmp_path / "GX010001.MP4"
    write_clip(
        path,
        start_wall=START,
        duration_s=4.0,
        disk_bytes=1_000_003,
        fill_seed=9,
        room=ROOM,
        timecode="14:13:23:05",
        fps=29.97,
    )
    assert path.stat().st_size == 1_000_003
    assert [kind for kind, _ in top_boxes(path)] == [b"ftyp", b"moov", b"free", b"mdat", b"free"]
    with av.open(str(path)) as clip:
        video, audio = clip.streams.video[0], clip.streams.audio[0]
        assert (video.width, video.height, video.average_rate is not None) == (64, 36, True)
        assert float(video.duration * video.time_base) == pytest.approx(4.0, abs=1 / 29.97)
        assert (video.duration * video.time_base * Fraction(30000, 1001)).denominator == 1, "whole NTSC frames"
        assert (audio.codec_context.name, audio.sample_rate, audio.channels) == ("aac", AUDIO_RATE, 1)
        assert float(audio.duration * audio.time_base) == pytest.approx(4.0, abs=1e-3)
        assert video.metadata.get("timecode") == "14:13:23:05"
    if shutil.which("ffprobe"):
        subprocess.run(["ffprobe", "-v", "error", str(path)], check=True)


def test_the_decoded_audio_starts_with_the_room_at_start_wall(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, start_wall=START, duration_s=3.0, disk_bytes=300_000, fill_seed=1, room=ROOM)
    sound = decoded_audio(path)
    assert len(sound) >= 3 * AUDIO_RATE
    start, score = audio_start(sound, START + 0.15)  # searched for, not assumed
    assert score > 0.6
    assert abs(start - START) < 0.0002, f"decoded sample 0 is {1000 * (start - START):.3f} ms off"


def test_a_silent_clip_is_silent_and_hopeless_budgets_keep_their_size(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    write_clip(path, start_wall=START, duration_s=2.0, disk_bytes=100_000, fill_seed=1, room=None)
    assert path.stat().st_size == 100_000 and np.abs(decoded_audio(path)).max() == 0.0
    # 300 s in 10 kB cannot be a real clip: the bytes only look like one, at exactly the asked size.
    write_clip(path, start_wall=START, duration_s=300.0, disk_bytes=10_000, fill_seed=1, room=ROOM)
    assert path.stat().st_size == 10_000 and path.read_bytes()[4:8] == b"ftyp"


def test_without_pyav_a_clip_is_the_old_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` fails as it does without the sync extra
    path = tmp_path / "clip.mp4"
    write_clip(path, start_wall=START, duration_s=2.0, disk_bytes=3 * 2**20 + 5, fill_seed=4, room=ROOM)
    data = path.read_bytes()
    assert len(data) == 3 * 2**20 + 5 and data[4:8] == b"ftyp" and data[2**20 : 2**20 + 8] == struct.pack(">Q", 2**20)


def test_any_padding_keeps_the_clip_valid(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, start_wall=START, duration_s=1.0, disk_bytes=100_000, fill_seed=1, room=ROOM)
    real = sum(size for kind, size in top_boxes(path)[:-1])
    for gap in (0, 1, 7, 8, 9):  # 1-7 bytes are too few for a box of their own
        write_clip(path, start_wall=START, duration_s=1.0, disk_bytes=real + gap, fill_seed=1, room=ROOM)
        assert path.stat().st_size == real + gap
        assert len(decoded_audio(path)) >= AUDIO_RATE


def test_a_sparse_clip_over_4_gib_is_quick_and_valid(tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    size = 5 * 2**30 + 11
    began = time.perf_counter()
    write_clip(path, start_wall=START, duration_s=10.0, disk_bytes=size, fill_seed=1, room=ROOM, sparse=True)
    assert time.perf_counter() - began < 2.0
    *clip_boxes, (kind, padding) = top_boxes(path)
    assert path.stat().st_size == size and kind == b"free" and padding == size - sum(s for _, s in clip_boxes)
    with av.open(str(path)) as clip:
        assert clip.duration == pytest.approx(10_000_000, abs=50_000)


async def test_a_simulated_recording_starts_when_the_simulator_says(http: httpx.AsyncClient) -> None:
    async with SimRig(make_options(cameras=3)) as rig:
        loud, muted, other = rig.servers
        await http.get(url(muted, "/_sim/set?muted=1"))
        accepted = time.time()
        await asyncio.gather(*(http.get(url(s, "/gopro/camera/shutter/start")) for s in rig.servers))
        replied = time.time()
        await asyncio.sleep(1.5)
        await asyncio.gather(*(http.get(url(s, "/gopro/camera/shutter/stop")) for s in rig.servers))
        await asyncio.gather(*(s.camera.until_idle() for s in rig.servers))
        truth = {}
        for server in rig.servers:
            info = (await http.get(url(server, "/_sim/info"))).json()
            assert info["muted"] is (server is muted) and len(info["recordings"]) == 1
            truth[server] = info["recordings"][0]
            assert 0.1 <= truth[server]["latency_s"] <= 0.22
            assert accepted + 0.1 <= truth[server]["start_wall"] <= replied + 0.22
        assert truth[loud]["start_wall"] != truth[other]["start_wall"], "each camera starts late its own way"
        for server in (loud, other):
            record = truth[server]
            path = server.camera.media.dcim / record["path"]
            assert (record["chapters"], record["muted"]) == (1, False)
            start, score = audio_start(decoded_audio(path), (accepted + replied) / 2 + 0.16)
            assert score > 0.6
            assert abs(start - record["start_wall"]) < 0.001, f"{1000 * (start - record['start_wall']):.3f} ms"
            with av.open(str(path)) as clip:
                assert len(clip.streams.video[0].metadata.get("timecode", "")) == len("HH:MM:SS:FF")
        assert truth[muted]["muted"] is True
        assert np.abs(decoded_audio(muted.camera.media.dcim / truth[muted]["path"])).max() == 0.0
