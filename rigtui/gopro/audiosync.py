"""The sync audit: each clip's true start offset in a take, measured from the room sound every camera heard.

Cameras start recording 100-200 ms after the start request, with tens of ms of jitter; the audio
says when each one really started. Every clip's audio is read over the same short span (a seek,
never the whole file), a window of the reference clip is cross-correlated against each other
clip's span (whitened, so the peak is a few samples wide), and the peak is interpolated to a
fraction of a sample. A clip that cannot be aligned is flagged with the reason, never guessed.

Offsets are in seconds of wall time, clip start minus reference start: positive means the clip
started later. A clip's start is time 0 of its container (where its first audio sample plays).

Timecode (a GoPro's tmcd track, from its clock) is a cross-check only. Unsynced camera clocks
differ by seconds, so timecodes are held against the sound only when the take's clocks were synced:
when most clips' timecode offsets agree with their audio offsets (within 1.5 frames); a clip whose
timecode then disagrees is flagged `timecode_disagrees`. The audio offset always stands.

PyAV is the optional extra `rigtui[sync]`, imported when a clip is read. Blocking file I/O: callers
run this in a thread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

SILENT = "silent"  # the window's RMS is below the floor: nothing to hear
TOO_SHORT = "too_short"  # the clip ends before the span the audit reads
NO_MATCH = "no_match"  # no clear correlation peak inside the search range
UNREADABLE = "unreadable"  # not a decodable clip with an audio track
TIMECODE_DISAGREES = "timecode_disagrees"  # aligned, but its timecode says otherwise (report only)
UNALIGNED = (SILENT, TOO_SHORT, NO_MATCH, UNREADABLE)

SEEK_MARGIN_S = 0.1  # decode from this far before a window: the first AAC frame after a seek is only half there
PEAK_GUARD_S = 0.002  # the main peak's lobe, left out when looking for the second peak
TIMECODE_TOLERANCE_FRAMES = 1.5
TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


class SyncExtraMissing(RuntimeError):
    """The optional extra `rigtui[sync]` is not installed; str() says how to install it."""


class AudioUnreadable(Exception):
    """A clip's audio cannot be read: not a media file, no audio track, or damaged; str() says which."""


def _av() -> ModuleType:
    try:
        import av
    except ImportError as exc:
        raise SyncExtraMissing("the sync audit needs PyAV: pip install 'rigtui[sync]'") from exc
    return av


@dataclass(frozen=True)
class SyncOptions:
    search_s: float = 2.0  # the largest start difference looked for, either way
    window_s: float = 4.0  # how much of the reference is matched
    at_s: float | None = None  # where the reference window starts in its clip; default: search_s + 1 s
    min_confidence: float = 3.0  # highest peak over the highest other peak, at least
    silence_dbfs: float = -60.0  # a window quieter than this (RMS) is silent
    reference: str | None = None  # the reference camera's name (or its clip's path); default: the first usable clip
    threads: int = 2

    def __post_init__(self) -> None:
        if self.search_s <= 0 or self.window_s <= 0 or self.min_confidence < 1 or self.threads < 1:
            raise ValueError("search_s and window_s must be positive, min_confidence >= 1 and threads >= 1")
        if self.window_at_s < self.search_s:
            raise ValueError("at_s must be at least search_s: the window is searched for that far either way")

    @classmethod
    def fitted(cls, clip_s: float, **given: Any) -> SyncOptions:
        """The defaults, shrunk to fit clips `clip_s` long (a short take): the search range a sixth of the
        clip (0.3-2 s), the window what is left (1-4 s), read from just after the start."""
        if clip_s >= cls().span[1]:
            return cls(**given)
        search = min(2.0, max(0.3, clip_s / 6))
        at = search + 0.25
        window = min(4.0, max(1.0, clip_s - at - search - 0.1))
        return cls(search_s=search, window_s=window, at_s=at, **given)

    @property
    def window_at_s(self) -> float:
        return self.search_s + 1.0 if self.at_s is None else self.at_s

    @property
    def span(self) -> tuple[float, float]:
        """What every clip must hold, in its own time: the reference window, widened by the search range."""
        return self.window_at_s - self.search_s, self.window_at_s + self.window_s + self.search_s


@dataclass(frozen=True)
class AudioWindow:
    samples: np.ndarray  # float32 mono; sample 0 plays at `start_s` of the clip (rounded to a sample)
    rate: int
    start_s: float
    frames_decoded: int  # how much was decoded to get it: a window costs the same in a short or a long clip


@dataclass(frozen=True)
class ClipInfo:
    duration_s: float  # the container's duration
    audio_s: float | None  # the audio track's duration (None: no audio track)
    rate: int | None
    fps: float | None  # the video's frame rate (None: no video track)
    timecode: str | None  # the start timecode (tmcd), as written


@dataclass(frozen=True)
class ClipOffset:
    camera: str
    path: Path
    offset_s: float | None  # start minus the reference's start; None: not aligned (see flag)
    from_earliest_s: float | None  # start minus the earliest aligned clip's start
    confidence: float | None  # highest correlation peak over the next highest (None: the reference, or not measured)
    flag: str | None  # one of UNALIGNED, TIMECODE_DISAGREES, or None
    detail: str  # why it is flagged, for an operator ("" when not flagged)
    timecode_offset_s: float | None  # the same offset from the timecodes, when both clips have one
    duration_s: float | None

    @property
    def aligned(self) -> bool:
        return self.offset_s is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "path": str(self.path),
            "offset_s": self.offset_s,
            "from_earliest_s": self.from_earliest_s,
            "confidence": None if self.confidence is None else round(self.confidence, 2),
            "flag": self.flag,
            "detail": self.detail,
            "timecode_offset_s": self.timecode_offset_s,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class TakeSync:
    reference: str | None  # the reference camera (None: no clip could be one)
    clips: tuple[ClipOffset, ...]  # in the order given
    spread_s: float | None  # latest minus earliest start of the aligned clips

    @property
    def aligned(self) -> tuple[ClipOffset, ...]:
        return tuple(c for c in self.clips if c.aligned)

    @property
    def flagged(self) -> tuple[ClipOffset, ...]:
        return tuple(c for c in self.clips if c.flag)

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "spread_s": self.spread_s, "clips": [c.to_json() for c in self.clips]}


# Reading


@contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The clip open for reading; any failure to read it becomes AudioUnreadable."""
    av = _av()
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            yield container
    except (av.FFmpegError, OSError, ValueError) as exc:  # ValueError: e.g. metadata that is not text
        raise AudioUnreadable(_reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot read: {text}"[:120]


def _audio_stream(container: Any) -> Any:
    if not container.streams.audio:
        raise AudioUnreadable("no audio track")
    return container.streams.audio[0]


def _timecode(container: Any) -> str | None:
    for source in (*container.streams.video, *container.streams.data, container):
        value = source.metadata.get("timecode")
        if value:
            return value
    return None


def _info(container: Any) -> ClipInfo:
    audio = container.streams.audio[0] if container.streams.audio else None
    video = container.streams.video[0] if container.streams.video else None
    duration_s = container.duration / 1_000_000 if container.duration else 0.0
    audio_s = None
    if audio is not None:
        audio_s = float(audio.duration * audio.time_base) if audio.duration else duration_s
    fps = None
    if video is not None:  # the rate the encoder declares; the stream's average when it declares none
        rate = video.codec_context.framerate or video.average_rate
        fps = float(rate) if rate else None
    return ClipInfo(duration_s, audio_s, audio.rate if audio else None, fps, _timecode(container))


def probe_clip(path: Path) -> ClipInfo:
    """Duration, audio rate, frame rate and start timecode, from the container's header alone."""
    with _opened(path) as container:
        return _info(container)


def _read_window(av: ModuleType, container: Any, start_s: float, length_s: float) -> AudioWindow:
    stream = _audio_stream(container)
    rate = stream.rate
    first, count = round(start_s * rate), round(length_s * rate)
    _skip_other_tracks(av, container, stream)
    seek_s = start_s - SEEK_MARGIN_S
    if seek_s > 0:
        container.seek(int(seek_s / stream.time_base), stream=stream)  # lands on a packet at or before it
    to_mono = av.AudioResampler(format="flt", layout="mono", rate=rate)  # same rate: no delay, no resampling
    units, per = stream.time_base.numerator, stream.time_base.denominator
    out = np.zeros(count, np.float32)
    end = first  # out is filled up to here (absolute sample index)
    decoded = 0
    frames = container.decode(stream)
    while end < first + count:
        try:
            frame = next(frames)
        except (StopIteration, av.FFmpegError):  # the end, or damage: the window stops where the audio does
            break
        decoded += 1
        if frame.pts is None:
            raise AudioUnreadable("audio without timestamps")
        at = (2 * frame.pts * units * rate + per) // (2 * per)  # the frame's first sample, absolute (rounded)
        mono = _mono(frame, to_mono)
        lo, hi = max(first, at), min(first + count, at + len(mono))
        if hi > lo:
            out[lo - first : hi - first] = mono[lo - at : hi - at]
            end = max(end, hi)
    return AudioWindow(out[: end - first], rate, first / rate, decoded)


def _skip_other_tracks(av: ModuleType, container: Any, keep: Any) -> None:
    """Leave the other tracks' packets unread: around a second of GoPro audio lie ~500 times its bytes of video.
    (An older PyAV without Stream.discard reads them, and still decodes only the audio.)"""
    discard = getattr(av.stream, "Discard", None)
    for stream in container.streams if discard else ():
        if stream is not keep:
            stream.discard = discard.all


def _mono(frame: Any, to_mono: Any) -> np.ndarray:
    if frame.format.name == "fltp":  # what AAC decodes to: mixed here, several times cheaper than the resampler
        planes = frame.to_ndarray()
        return planes[0] if len(planes) == 1 else planes.mean(axis=0, dtype=np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in to_mono.resample(frame)])


def read_audio(path: Path, start_s: float, length_s: float) -> AudioWindow:
    """`length_s` of a clip's audio from `start_s` (its own time), mixed to mono: only that part is
    decoded. Shorter when the audio ends (or breaks off) first; raises AudioUnreadable, or
    SyncExtraMissing."""
    av = _av()
    with _opened(path) as container:
        return _read_window(av, container, start_s, length_s)


# Matching


def rms_dbfs(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def correlate(window: np.ndarray, span: np.ndarray, rate: int) -> tuple[float, float]:
    """Where `window` sits in `span`, in samples (with a fraction), and the confidence: highest peak
    over the highest other peak. The correlation is whitened (PHAT) so the peak is sharp whatever
    the sound's colour; a tiny floor keeps silent frequency bins from being amplified into noise."""
    size = _fast_length(len(span))  # lags 0 .. len(span) - len(window) never wrap around: no more padding needed
    cross = np.conj(np.fft.rfft(window, size)) * np.fft.rfft(span, size)
    magnitude = np.abs(cross)
    cross /= magnitude + 1e-6 * magnitude.max() + 1e-30
    lags = np.fft.irfft(cross, size)[: len(span) - len(window) + 1]  # full overlap only
    strength = np.abs(lags)  # a microphone wired backwards still aligns
    peak = int(np.argmax(strength))
    guard = max(2, round(PEAK_GUARD_S * rate))
    others = np.concatenate([strength[: max(0, peak - guard)], strength[peak + guard + 1 :]])
    second = float(others.max()) if len(others) else 0.0
    confidence = float(strength[peak]) / max(second, 1e-12)
    if peak in (0, len(lags) - 1):  # at the edge of the search range: the true peak may lie beyond it
        return float(peak), 0.0
    below, top, above = (lags[peak - 1 : peak + 2] * np.sign(lags[peak])).tolist()
    curve = below - 2 * top + above
    fraction = 0.5 * (below - above) / curve if curve < 0 else 0.0
    return peak + fraction, confidence


def _fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c at least n: the FFT sizes numpy transforms fastest."""
    best, fives = 1 << max(n - 1, 0).bit_length(), 1
    while fives < best:
        odd = fives
        while odd < best:
            size = odd
            while size < n:
                size *= 2
            best = min(best, size)
            odd *= 3
        fives *= 5
    return best


# The audit


@dataclass(frozen=True)
class _Read:
    """One clip as the audit saw it: its span of audio, or why it has none."""

    camera: str
    path: Path
    info: ClipInfo | None
    span: AudioWindow | None
    flag: str | None
    detail: str


def _read_clip(camera: str, path: Path, options: SyncOptions) -> _Read:
    av = _av()
    start_s, end_s = options.span
    try:
        with _opened(path) as container:
            info = _info(container)
            if info.audio_s is None:
                return _Read(camera, path, info, None, UNREADABLE, "no audio track")
            if info.audio_s < end_s:
                return _Read(camera, path, info, None, TOO_SHORT, f"{info.audio_s:.1f} s of audio; needs {end_s:.1f} s")
            span = _read_window(av, container, start_s, end_s - start_s)
    except AudioUnreadable as exc:
        return _Read(camera, path, None, None, UNREADABLE, str(exc))
    if len(span.samples) < round((end_s - start_s) * span.rate):
        stops = start_s + len(span.samples) / span.rate
        detail = f"audio stops at {stops:.1f} s of {info.audio_s:.1f} s: damaged or cut short"
        return _Read(camera, path, info, None, UNREADABLE, detail)
    level = rms_dbfs(_window_of(span, options))
    if level < options.silence_dbfs:
        heard = "no sound" if level == -math.inf else f"{level:.0f} dBFS"
        return _Read(camera, path, info, None, SILENT, f"{heard}; the floor is {options.silence_dbfs:.0f} dBFS")
    return _Read(camera, path, info, span, None, "")


def _window_of(span: AudioWindow, options: SyncOptions) -> np.ndarray:
    """The reference window inside a span: the search range cut from both ends."""
    skip = round(options.search_s * span.rate)
    return span.samples[skip : skip + round(options.window_s * span.rate)]


def _to_rate(samples: np.ndarray, rate: int, wanted: int) -> np.ndarray:
    """Linear interpolation onto another rate: it keeps timing (it is symmetric), which is all matching needs."""
    if rate == wanted:
        return samples
    times = np.arange(round(len(samples) * wanted / rate)) / wanted
    return np.interp(times, np.arange(len(samples)) / rate, samples).astype(np.float32)


def timecode_seconds(timecode: str, fps: float) -> float | None:
    """A start timecode in seconds since midnight: frames counted at the nominal rate (drop-frame
    when written with ';'), divided by the real rate. None when it does not parse."""
    match = TIMECODE.match(timecode.strip())
    if not match or fps <= 0:
        return None
    hours, minutes, seconds, separator, frame = match.groups()
    nominal = round(fps)
    total_minutes = int(hours) * 60 + int(minutes)
    frames = (total_minutes * 60 + int(seconds)) * nominal + int(frame)
    if separator in ";," and nominal % 30 == 0:
        frames -= 2 * (nominal // 30) * (total_minutes - total_minutes // 10)
    return frames / fps


def _timecode_s(info: ClipInfo | None) -> tuple[float, float] | None:
    """(start timecode in seconds, frame rate), when the clip has both."""
    if info is None or info.timecode is None or not info.fps:
        return None
    seconds = timecode_seconds(info.timecode, info.fps)
    return None if seconds is None else (seconds, info.fps)


def _measure(reference: _Read, read: _Read, options: SyncOptions) -> ClipOffset:
    assert reference.span is not None
    if read.span is None:
        return _unaligned(read)
    duration = read.info.duration_s if read.info else None
    if read is reference:
        return ClipOffset(read.camera, read.path, 0.0, None, None, None, "", None, duration)
    rate = reference.span.rate
    span = _to_rate(read.span.samples, read.span.rate, rate)
    lag, confidence = correlate(_window_of(reference.span, options), span, rate)
    if confidence < options.min_confidence:
        detail = (
            f"peak at the edge of ±{options.search_s:g} s"
            if confidence == 0
            else f"confidence {confidence:.1f}; needs {options.min_confidence:g}"
        )
        return ClipOffset(read.camera, read.path, None, None, confidence, NO_MATCH, detail, None, duration)
    # The window starts search_s into the reference's span; in this clip it starts `lag` samples in.
    offset = options.search_s - lag / rate
    return ClipOffset(read.camera, read.path, offset, None, confidence, None, "", None, duration)


def _timecode_agrees(offset: ClipOffset, read: _Read, reference: _Read) -> tuple[ClipOffset, bool | None]:
    """The clip with its timecode offset, and whether that agrees with its audio offset within 1.5
    frames (None: nothing to compare, e.g. the reference itself or a clip without timecode)."""
    mine, theirs = _timecode_s(read.info), _timecode_s(reference.info)
    if mine is None or theirs is None:
        return offset, None
    timecode_offset = mine[0] - theirs[0]
    with_timecode = replace(offset, timecode_offset_s=timecode_offset)
    if offset.offset_s is None or read is reference:
        return with_timecode, None
    return with_timecode, abs(timecode_offset - offset.offset_s) <= TIMECODE_TOLERANCE_FRAMES / mine[1]


def _align(reference: _Read, reads: list[_Read], options: SyncOptions, pool: ThreadPoolExecutor) -> list[ClipOffset]:
    """Each clip measured against the reference, then cross-checked with timecode: when most clips'
    timecodes agree with their sound, the cameras' clocks were synced and a clip whose timecode
    disagrees is flagged; when most disagree, the clocks were not synced and nothing is held against
    anyone (the timecodes are reported)."""
    measured = list(pool.map(lambda r: _measure(reference, r, options), reads))
    checked = [_timecode_agrees(o, r, reference) for o, r in zip(measured, reads, strict=True)]
    votes = [agrees for _, agrees in checked if agrees is not None]
    synced = sum(votes) * 2 > len(votes)
    found = []
    for offset, agrees in checked:
        if synced and agrees is False and offset.offset_s is not None and offset.timecode_offset_s is not None:
            detail = f"timecode says {offset.timecode_offset_s * 1000:+.1f} ms, audio {offset.offset_s * 1000:+.3f} ms"
            offset = replace(offset, flag=TIMECODE_DISAGREES, detail=detail)
        found.append(offset)
    return found


def _candidates(reads: list[_Read], wanted: str | None) -> list[_Read]:
    """Usable references, best first: the camera asked for, then the clips in order."""
    usable = [r for r in reads if r.span is not None]
    chosen = [r for r in usable if wanted is not None and wanted in (r.camera, str(r.path))]
    return chosen + [r for r in usable if r not in chosen]


MAX_REFERENCE_TRIES = 3  # a reference that matches nobody may itself be the odd one out; try a few others


def audit_take(clips: Mapping[str, Path] | Sequence[Path], options: SyncOptions | None = None) -> TakeSync:
    """Each clip's start offset from its audio. `clips`: camera name -> its (first) clip, or clip paths
    (named by file stem). Never raises for a clip it cannot read: that clip is flagged.
    Raises SyncExtraMissing without PyAV."""
    options = options or SyncOptions()
    _av()
    pairs = clips.items() if isinstance(clips, Mapping) else ((Path(p).stem, p) for p in clips)
    named = [(camera, Path(path)) for camera, path in pairs]
    with ThreadPoolExecutor(options.threads) as pool:
        reads = list(pool.map(lambda item: _read_clip(*item, options), named))
        best: tuple[_Read, list[ClipOffset]] | None = None
        for reference in _candidates(reads, options.reference)[:MAX_REFERENCE_TRIES]:
            offsets = _align(reference, reads, options, pool)
            if best is None or _aligned_count(offsets) > _aligned_count(best[1]):
                best = (reference, offsets)
            if _aligned_count(offsets) > 1:  # the reference itself, and someone else
                break
    if best is None:
        return TakeSync(None, tuple(_unaligned(r) for r in reads), None)
    return _relative_to_earliest(best[0].camera, best[1])


def _aligned_count(offsets: list[ClipOffset]) -> int:
    return sum(o.aligned for o in offsets)


def _unaligned(read: _Read) -> ClipOffset:
    duration = read.info.duration_s if read.info else None
    return ClipOffset(read.camera, read.path, None, None, None, read.flag, read.detail, None, duration)


def _relative_to_earliest(reference: str, offsets: list[ClipOffset]) -> TakeSync:
    starts = [o.offset_s for o in offsets if o.offset_s is not None]
    earliest = min(starts)
    placed = tuple(o if o.offset_s is None else replace(o, from_earliest_s=o.offset_s - earliest) for o in offsets)
    return TakeSync(reference, placed, max(starts) - earliest)
