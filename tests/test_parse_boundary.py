"""Properties of the parse boundary, on any input: camera bytes become a typed reply or a CameraError,
never another exception; media lists never yield a name GoPro would not write; destinations never
leave their root; text shown to the operator carries no control characters."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rigtui.gopro.client import STATUS_RANGES, parse_state
from rigtui.gopro.errors import CameraError, CameraProtocolError
from rigtui.gopro.media import card_contents, deletions, listed_entries, parse_media_list
from rigtui.gopro.protocol import Status
from rigtui.gopro.replies import DateTime, Info, MediaListing, Presets, State, Version, decode
from rigtui.paths import UnsafePath, destination
from rigtui.text import shown

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = [State, MediaListing, Presets, Info, DateTime, Version]
# GoPro's names (notes §6), in ASCII: a DCIM folder, then 8 capitals or digits and a known extension
CAMERA_PATH = re.compile(r"[0-9]{3}[A-Z]{5}/[A-Z0-9]{8}\.(MP4|JPG|LRV|THM|GPR)", re.ASCII)
UNSHOWABLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, bidi and zero-width, surrogates, line separators

# -- strategies -----------------------------------------------------------------------------------------
# Every key rigtui reads somewhere, so generated objects reach deep into each reply type.
KEYS = [
    *("status", "settings", "8", "10", "33", "35", "54", "60", "70", "117"),
    *("media", "d", "fs", "n", "s", "cre", "mod", "glrv", "ls", "g", "b", "l", "m", "raw", "id"),
    *("version", "serial_number", "model_number", "firmware_version", "model_name"),
    *("presetGroupArray", "presetArray", "mode", "titleId", "customName", "date", "time", "tzone", "dst"),
    *("message", "setting_id", "option_id", "error", "supported_options", "display_name"),
]
ODD_TEXT = ["١٢٣", "Infinity", "NaN", "1e999", "-5", "0x10", "", " 1", "99999999999999999999999", "\x1b[2J\n", "⁵"]
NAMES = [
    "GX010001.MP4",
    "GX020001.MP4",
    "GOPR0001.JPG",
    "G0010008.JPG",
    "GL010001.LRV",
    "../../escape.MP4",
    "/etc/passwd",
    "GX01\x00001.MP4",
    "GX01\x1b[31.MP4",
    "GX01٠٠٠1.MP4",
    "gx010001.mp4",
    "GX010001.MP4\n",
    "GX01\u202e001.MP4",
]
FOLDERS = ["100GOPRO", "999GOPRO", "١٠٠GOPRO", "../..", "/", "100GOPRO/..", "100GOPRO\n", ""]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(ODD_TEXT)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=30,
)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70).map(str)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(ODD_TEXT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | scalars
)
entries = st.fixed_dictionaries(
    {"n": st.sampled_from(NAMES) | st.text(max_size=14) | scalars},
    optional={key: numbers for key in ("s", "cre", "glrv", "ls", "g", "b", "l", "raw")}
    | {"m": st.lists(numbers, max_size=4) | scalars},
)
media_lists = st.fixed_dictionaries(
    {
        "media": st.lists(
            st.fixed_dictionaries(
                {"d": st.sampled_from(FOLDERS) | st.text(max_size=9)},
                optional={"fs": st.lists(entries | json_values, max_size=8)},
            ),
            max_size=3,
        )
    },
    optional={"id": st.text(max_size=8)},
)


def encoded(value: object) -> bytes:
    """JSON text of a value (Python's encoder writes NaN and Infinity as bare words, which is not JSON)."""
    return json.dumps(value).encode("utf-8", "surrogatepass")


bodies = st.binary(max_size=64) | json_values.map(encoded) | media_lists.map(encoded)
statuses = st.sampled_from([200, 204, 400, 403, 404, 500, 501, 503]) | st.integers(min_value=100, max_value=599)


def decoded_listings() -> st.SearchStrategy[MediaListing]:
    def decode_or_skip(value: dict[str, object]) -> MediaListing | None:
        try:
            return decode("/gopro/media/list", 200, encoded(value), MediaListing)
        except CameraError:
            return None

    return media_lists.map(decode_or_skip).filter(lambda listing: listing is not None)  # type: ignore[return-value]


# -- decode: typed object or CameraError --------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
@SETTINGS
@given(status=statuses, body=bodies)
@example(status=200, body=b"[" * 100_000)
@example(status=503, body=b'{"message":' + b"[" * 100_000 + b"}")
@example(status=403, body=b'{"setting_id":1e999,"supported_options":[{"id":"x"}]}')
@example(status=200, body=b'{"status":{"8":0,"10":0,"70":1e999}}')
@example(status=200, body=b"\xff\xfe\x00")
def test_decode_gives_the_reply_or_a_camera_error(kind: type, status: int, body: bytes) -> None:
    try:
        reply = decode("/path", status, body, kind)
    except CameraError as exc:
        assert not any(unicodedata.category(c) in UNSHOWABLE for c in str(exc)), repr(str(exc))
        return
    assert 200 <= status < 300 and isinstance(reply, kind)


@SETTINGS
@given(body=json_values.map(lambda value: {"status": value}) | st.dictionaries(st.sampled_from(KEYS), json_values))
@example(body={"status": {"8": "٠", "10": 0}})
@example(body={"status": {"8": 0, "10": 0, "60": 2**62, "70": -5}})
def test_a_state_is_in_range_or_a_protocol_error(body: object) -> None:
    try:
        state = parse_state(decode("/gopro/camera/state", 200, encoded(body), State))
    except CameraProtocolError:
        return
    assert Status.BUSY in state.status and Status.ENCODING in state.status
    for key, (low, high) in STATUS_RANGES.items():
        value = state.status.get(key)
        assert value is None or (isinstance(value, int) and low <= value <= high), (key, value)
    for value in state.status.values():
        assert isinstance(value, int) or not any(unicodedata.category(c) in UNSHOWABLE for c in value)


# -- media lists: nothing but camera names --------------------------------------------------------------
def accepted_paths(listing: MediaListing) -> Iterator[str]:
    parsed = parse_media_list(listing)
    for recording in parsed.recordings:
        yield from (f.path for f in recording.all_files(True))
    yield from (path for path, _ in deletions(listing)[0])


@SETTINGS
@given(listing=decoded_listings())
def test_media_lists_yield_only_camera_file_names(listing: MediaListing) -> None:
    parsed = parse_media_list(listing)
    contents = card_contents(listing)
    entries = listed_entries(listing)
    assert len(entries) <= contents.files  # one name listed twice is one key
    assert contents.bytes >= 0
    for path in accepted_paths(listing):
        assert CAMERA_PATH.fullmatch(path), repr(path)
        name = path.split("/", 1)[1]
        assert "/" not in name and ".." not in path
        assert not any(unicodedata.category(c) == "Cc" for c in path)
    for recording in parsed.recordings:
        assert 0 <= recording.cre <= 2**40
        assert all(f.size is None or 0 <= f.size <= 2**48 for f in recording.all_files(True))
    for line in parsed.rejected:
        assert not any(unicodedata.category(c) in UNSHOWABLE for c in line), repr(line)


def test_a_folder_with_non_ascii_digits_is_no_camera_folder() -> None:
    body = b'{"media":[{"d":"\xd9\xa1\xd9\xa0\xd9\xa0GOPRO","fs":[{"n":"GX010001.MP4","cre":"1","s":"1"}]}]}'
    listing = decode("/gopro/media/list", 200, body, MediaListing)
    assert list(accepted_paths(listing)) == []
    assert parse_media_list(listing).rejected


# -- destinations stay inside their root ------------------------------------------------------------
@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A destination holding a folder and a link that leads out of it."""
    base = tmp_path_factory.mktemp("destination")
    (base / "outside").mkdir()
    root = base / "root"
    (root / "in").mkdir(parents=True)
    (root / "out").symlink_to(base / "outside")
    return root


PARTS = ["..", ".", "", "in", "out", "a", "~", "C:", "\\", "\x00", "\x85", "\u202e", "\ud800", "a" * 300]
relatives = st.text() | st.lists(st.sampled_from(PARTS) | st.text(max_size=4), min_size=1, max_size=6).map("/".join)


@SETTINGS
@given(relative=relatives)
@example(relative="out/x")
@example(relative="in/../../x")
@example(relative="a\ud800b")
@example(relative="a\x85b")
def test_a_destination_is_inside_its_root_or_refused(root: Path, relative: str) -> None:
    try:
        path = destination(root, relative)
    except UnsafePath:
        return
    assert path.resolve().is_relative_to(root.resolve()), (relative, path)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in str(path.relative_to(root)))


# -- text shown to the operator -----------------------------------------------------------------------
@SETTINGS
@given(
    text=st.text() | st.sampled_from(["\x1b[2J", "\u2028", "\x9b31m", "\ud800", "a\u202eb"]), limit=st.integers(0, 200)
)
def test_shown_text_has_no_control_characters_and_keeps_its_limit(text: str, limit: int) -> None:
    result = shown(text, limit)
    assert len(result) <= limit
    assert not any(unicodedata.category(c) in UNSHOWABLE for c in result), repr(result)
    if len(text) <= limit and not any(unicodedata.category(c) in UNSHOWABLE for c in text):
        assert result == text, "clean short text is shown as it is"
