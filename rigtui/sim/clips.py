"""Real MP4 clips for simulated recordings: what the sync audit decodes to measure each camera's start.

Every simulated camera in a room hears one sound, a pure function of wall-clock time: shaped noise, two
tones and a loud clap at fixed instants. A clip holds a tiny video track, that sound from its first
recorded sample on (AAC, mono, 48 kHz), an optional timecode track, then a `free` box that pads it to
the card size the simulation asks for. Without PyAV (the `rigtui[sync]` extra) a clip is the
simulator's older stand-in: deterministic bytes behind an MP4-looking header.

Deterministic bytes (padding and stand-ins alike): every 1 MiB block of the file starts with its own
offset, so a block written at the wrong place changes the hash.
"""

from __future__ import annotations

import functools
import math
import random
import struct
import threading
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av.container

AUDIO_RATE = 48_000
AUDIO_BIT_RATE = 24_000  # with the fast coder and a 6 kHz cutoff a minute encodes in ~0.12 s
CLAP_EVERY_S = 5  # a clap at every wall-clock second divisible by this
CLAP_S = 0.06
VIDEO_SIZE = (64, 36)
_AAC_FRAME = 1024
_AAC_GRID = 1 << 16  # encodings of the room start and end on this grid of samples (~1.4 s)
BLOCK = 1 << 20
STAND_IN_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp41isom"
_NOISE_KERNEL = np.array([1, 8, 28, 56, 70, 56, 28, 8, 1], dtype=np.float32) / 256  # binomial: mostly below 6 kHz
_TONES_HZ = (220, 1_375)
_aac_lock = threading.Lock()  # a hundred cameras stopping at once wait for one encoding of the room
# Recent encodings of the room: (seed or None for silence, first sample, end sample, packets (pts, data)).
_encodings: deque[tuple[int | None, int, int, list[tuple[int, bytes]]]] = deque(maxlen=8)


class RoomSound:
    """The sound every simulated camera in one room hears, a pure function of wall-clock time (epoch
    seconds), so cameras in different processes of the same machine hear the same thing."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def samples(self, start_wall: float, count: int) -> np.ndarray:
        """float32 mono at AUDIO_RATE: sample k is the sound at start_wall + k / AUDIO_RATE (the start
        is rounded to the nearest sample, 21 µs)."""
        return self.at(round(start_wall * AUDIO_RATE), count)

    def at(self, first: int, count: int) -> np.ndarray:
        """`count` samples from absolute sample index `first` (epoch seconds x AUDIO_RATE)."""
        out = np.empty(count, dtype=np.float32)
        done = 0
        while done < count:
            index = first + done
            second, within = divmod(index, AUDIO_RATE)
            take = min(count - done, AUDIO_RATE - within)
            out[done : done + take] = _room_second(self.seed, second)[within : within + take]
            done += take
        return out


@functools.lru_cache(maxsize=64)  # ~12 MB: cameras recording the same seconds share them
def _room_second(seed: int, second: int) -> np.ndarray:
    """One wall-clock second of the room's sound (epoch second `second`), independent of any clip."""
    rng = np.random.default_rng([seed, second & 0xFFFF_FFFF_FFFF_FFFF])
    white = rng.random(AUDIO_RATE + len(_NOISE_KERNEL) - 1, dtype=np.float32) - np.float32(0.5)
    sound = np.convolve(white, _NOISE_KERNEL, mode="valid") * np.float32(0.3) + _tones()
    if second % CLAP_EVERY_S == 0:
        length = int(CLAP_S * AUDIO_RATE)
        decay = np.exp(-np.arange(length, dtype=np.float32) / np.float32(0.012 * AUDIO_RATE))
        sound[:length] += (rng.random(length, dtype=np.float32) - np.float32(0.5)) * np.float32(1.2) * decay
    sound.flags.writeable = False
    return sound


@functools.cache
def _tones() -> np.ndarray:
    """One second of the room's tones: whole hertz, so every wall-clock second starts at the same phase."""
    t = np.arange(AUDIO_RATE) / AUDIO_RATE
    return sum(np.float32(0.02) * np.sin(2 * np.pi * hz * t) for hz in _TONES_HZ).astype(np.float32)


def write_clip(
    path: Path,
    *,
    start_wall: float,
    duration_s: float,
    disk_bytes: int,
    fill_seed: int,
    room: RoomSound | None,
    timecode: str | None = None,
    fps: float = 30.0,
    sparse: bool = False,
) -> None:
    """A valid MP4: a small video track, an AAC audio track (the room's sound from start_wall on; silence
    when room is None), a timecode track when `timecode` ("HH:MM:SS:FF") is given; padded to exactly
    disk_bytes. `sparse`: the padding is a hole (cheap files over 4 GiB).

    The file is always exactly disk_bytes long. When the budget cannot hold a real clip of that length
    (tests fabricate 300 s chapters of 10 kB), or PyAV is not installed, the file is the stand-in: an
    MP4-looking header and deterministic bytes, as the simulator wrote before it wrote real clips.
    """
    try:
        import av
    except ImportError:
        av = None
    if av is not None and duration_s * AUDIO_BIT_RATE / 8 < disk_bytes:  # else hopeless: not worth encoding
        with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
            _encode(out, start_wall=start_wall, duration_s=duration_s, room=room, timecode=timecode, fps=fps)
        if path.stat().st_size <= disk_bytes:
            with open(path, "r+b") as file:
                _pad(file, disk_bytes, fill_seed, sparse)
            return
    write_stand_in(path, disk_bytes, fill_seed, sparse)


def write_stand_in(path: Path, size: int, seed: int, sparse: bool = False) -> None:
    """`size` bytes that only look like an MP4: its header, then deterministic bytes (a hole when sparse)."""
    with open(path, "wb") as file:
        file.write(STAND_IN_HEADER[:size])
        _fill(file, len(STAND_IN_HEADER), size, seed, sparse)


def timecode(camera_time: float, fps: float) -> str:
    """The timecode ("HH:MM:SS:FF") of a camera clock reading (local time as an epoch), frames counted at
    the whole rate."""
    seconds = math.floor(camera_time)
    frame = min(round(fps) - 1, int((camera_time - seconds) * round(fps)))
    hours, minutes, secs = seconds // 3600 % 24, seconds // 60 % 60, seconds % 60
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{frame:02d}"


def frame_rate(fps: float) -> Fraction:
    """The exact rate behind a camera's frame rate: 29.97 is 30000/1001, 25 is 25."""
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 0.005 and abs(fps - round(fps)) > 0.005:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def _encode(
    out: av.container.OutputContainer,
    *,
    start_wall: float,
    duration_s: float,
    room: RoomSound | None,
    timecode: str | None,
    fps: float,
) -> None:
    import av

    rate = frame_rate(fps)
    video = out.add_stream("libx264", rate=rate)
    video.width, video.height = VIDEO_SIZE
    video.pix_fmt = "yuv420p"
    video.options = {"preset": "ultrafast", "bframes": "0"}
    if timecode:
        video.metadata["timecode"] = timecode
    audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
    _aac_settings(audio.codec_context)

    # One video frame per second of content (the track's time base is still the frame rate): cheap.
    frames = max(1, round(duration_s * rate))
    starts = list(range(0, frames, max(1, round(rate))))
    ends = {start: end for start, end in zip(starts, [*starts[1:], frames], strict=True)}
    picture = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), 96, dtype=np.uint8)
    for start in [*starts, None]:
        frame = None
        if start is not None:
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = start
        for packet in video.encode(frame):
            packet.duration = ends[packet.pts] - packet.pts  # the last frame lasts until duration_s
            out.mux(packet)

    for pts, duration, data in _room_aac(room, round(start_wall * AUDIO_RATE), round(duration_s * AUDIO_RATE)):
        packet = av.Packet(data)
        packet.stream, packet.time_base = audio, Fraction(1, AUDIO_RATE)
        packet.pts = packet.dts = pts
        packet.duration = duration
        packet.is_keyframe = True
        out.mux(packet)


def _aac_settings(codec: av.AudioCodecContext) -> None:
    codec.bit_rate = AUDIO_BIT_RATE
    codec.options = {"aac_coder": "fast", "cutoff": "6000", "aac_tns": "0", "aac_pns": "0"}


def _room_aac(room: RoomSound | None, first: int, count: int) -> list[tuple[int, int, bytes]]:
    """AAC packets (pts, duration, data) whose decoding is the room's samples first..first+count at pts
    0..count (silence without a room). They come from a longer encoding of the room (clips near in time
    share one), from the packet before the one holding `first`: the decoder's warm-up, which the edit
    list skips as it skips an encoder's priming. The last packet is cut short."""
    start, packets = _encoding_around(None if room is None else room.seed, first - 2 * _AAC_FRAME, first + count)
    chosen = [(start + pts - first, data) for pts, data in packets]
    chosen = [(pts, data) for pts, data in chosen if -2 * _AAC_FRAME < pts < count]
    ends = [pts for pts, _ in chosen[1:]] + [count]
    return [(pts, min(end, count) - pts, data) for (pts, data), end in zip(chosen, ends, strict=True)]


def _encoding_around(seed: int | None, first: int, end: int) -> tuple[int, list[tuple[int, bytes]]]:
    """An encoding of the room holding samples first..end: a recent one, or a new one on a grid with a
    margin each side (the next clips start and end near this one's)."""
    with _aac_lock:
        for known_seed, start, stop, packets in _encodings:
            if known_seed == seed and start <= first and end + _AAC_FRAME <= stop:
                return start, packets
        start, stop = (first // _AAC_GRID - 1) * _AAC_GRID, (end // _AAC_GRID + 2) * _AAC_GRID
        packets = _room_encoding(seed, start, stop)
        _encodings.append((seed, start, stop, packets))
        return start, packets


def _room_encoding(seed: int | None, start: int, end: int) -> list[tuple[int, bytes]]:
    """The room's samples start..end (silence when seed is None) as AAC packets (pts from start, data)."""
    import av

    codec = av.AudioCodecContext.create("aac", "w")
    codec.sample_rate, codec.layout, codec.format = AUDIO_RATE, "mono", "fltp"
    codec.time_base = Fraction(1, AUDIO_RATE)
    _aac_settings(codec)
    packets: list[tuple[int, bytes]] = []
    for first in [*range(start, end, AUDIO_RATE), None]:
        frame = None
        if first is not None:
            count = min(AUDIO_RATE, end - first)
            sound = np.zeros(count, np.float32) if seed is None else RoomSound(seed).at(first, count)
            frame = av.AudioFrame.from_ndarray(sound[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, first - start
        packets += [(packet.pts, bytes(packet)) for packet in codec.encode(frame)]
    return packets


def _pad(file: IO[bytes], disk_bytes: int, seed: int, sparse: bool) -> None:
    """Grow an MP4 (moov first, mdat last) to exactly disk_bytes: a top-level `free` box of deterministic
    bytes (64-bit size from 4 GiB on); a gap too small for a box header (1-7 bytes) goes to the end of
    the mdat, where bytes no sample points at are allowed."""
    size = file.seek(0, 2)
    gap = disk_bytes - size
    if gap == 0:
        return
    if gap < 8:
        mdat = _last_box(file)
        file.seek(mdat)
        length, kind = struct.unpack(">I4s", file.read(8))
        if kind != b"mdat" or length == 1:
            raise ValueError("a clip must end with a small mdat box")
        file.seek(mdat)
        file.write(struct.pack(">I", length + gap))
        _fill(file, size, disk_bytes, seed, sparse)
        return
    file.seek(size)
    if gap < 1 << 32:
        file.write(struct.pack(">I4s", gap, b"free"))
    else:
        file.write(struct.pack(">I4sQ", 1, b"free", gap))
    _fill(file, file.tell(), disk_bytes, seed, sparse)


def _box_size(file: IO[bytes]) -> int:
    """Size of the box at the file position (reads its header)."""
    size, _ = struct.unpack(">I4s", file.read(8))
    return struct.unpack(">Q", file.read(8))[0] if size == 1 else size


def _last_box(file: IO[bytes]) -> int:
    """Offset of the last top-level box."""
    end = file.seek(0, 2)
    offset = 0
    while True:
        file.seek(offset)
        size = _box_size(file)
        if size < 8 or offset + size >= end:
            return offset
        offset += size


def _fill(file: IO[bytes], start: int, end: int, seed: int, sparse: bool) -> None:
    """Bytes start..end of the file (and nothing after): deterministic from `seed`, each 1 MiB block of
    the file beginning with its own offset; a hole when sparse."""
    if sparse or start >= end:
        file.truncate(end)
        return
    base = random.Random(seed).randbytes(BLOCK)
    file.seek(start)
    offset = start - start % BLOCK
    while offset < end:
        block = bytearray(base)
        block[:8] = struct.pack(">Q", offset)
        file.write(block[max(start, offset) - offset : min(BLOCK, end - offset)])
        offset += BLOCK
    file.truncate(end)
