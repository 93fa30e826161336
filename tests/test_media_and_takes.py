"""Media lists into recordings, and recordings into takes."""

from __future__ import annotations

import json

from rigtui.gopro.media import MediaFile, Recording, card_contents, parse_media_list
from rigtui.gopro.replies import MediaListing, decode
from rigtui.gopro.takes import Take, cluster, destination

LISTING = {
    "id": "1",
    "media": [
        {
            "d": "100GOPRO",
            "fs": [
                {
                    "n": "GX010007.MP4",
                    "cre": "1700000000",
                    "mod": "1700000600",
                    "s": "4000000000",
                    "glrv": "1",
                    "ls": "99",
                },
                {
                    "n": "GX020007.MP4",
                    "cre": "1700000600",
                    "mod": "1700000900",
                    "s": "6000000000",
                    "glrv": "1",
                    "ls": "-1",
                },
                {"n": "GOPR0008.JPG", "cre": "1700001000", "mod": "1700001000", "s": "2064314", "raw": "1"},
                {
                    "n": "G0010009.JPG",
                    "g": "1",
                    "b": "9",
                    "l": "13",
                    "m": ["11"],
                    "t": "b",
                    "cre": "1700002000",
                    "mod": "1700002000",
                    "s": "5000000",
                },
            ],
        },
        {"d": "101GOPRO", "fs": [{"n": "GH010001.MP4", "cre": "1700003000", "mod": "1700003000", "s": "12"}]},
        {
            "d": "100GOPRO",
            "fs": [
                {"n": "../../escape.MP4", "cre": "1", "mod": "1", "s": "1"},
                {"n": "GX010042.MP4", "cre": "1", "mod": "1", "s": "lots"},
            ],
        },
        {"d": "/etc", "fs": [{"n": "GX010001.MP4", "cre": "1", "mod": "1", "s": "1"}]},
    ],
}


def typed(listing: dict[str, object]) -> MediaListing:
    """A media list as it comes through the parse boundary."""
    return decode("/gopro/media/list", 200, json.dumps(listing).encode(), MediaListing)


def test_media_list_becomes_recordings_with_chapters_sidecars_photos_and_bursts() -> None:
    parsed = parse_media_list(typed(LISTING))
    video, photo, burst, other = parsed.recordings
    assert video.kind == "video" and [f.name for f in video.files] == ["GX010007.MP4", "GX020007.MP4"]
    assert video.size == 10_000_000_000, "sizes over 4 GiB, from strings"
    assert [f.name for f in video.sidecars] == ["GL010007.LRV", "GX010007.THM", "GL020007.LRV", "GX020007.THM"]
    assert (video.sidecars[0].size, video.sidecars[2].size) == (99, 1), "ls, else glrv when ls is -1"
    assert all(f.sidecar for f in video.sidecars)
    assert photo.kind == "photo" and [f.name for f in photo.files] == ["GOPR0008.JPG", "GOPR0008.GPR"]
    assert burst.kind == "burst" and [f.name for f in burst.files] == [
        "G0010009.JPG",
        "G0010010.JPG",
        "G0010012.JPG",
        "G0010013.JPG",
    ]
    assert burst.size == 5_000_000
    assert other.directory == "101GOPRO" and other.files[0].name == "GH010001.MP4"
    assert sorted(parsed.rejected) == [
        "/etc/GX010001.MP4: folder '/etc' is not a camera folder name",
        "100GOPRO/../../escape.MP4: name '../../escape.MP4' is not a camera file name",
        "100GOPRO/GX010042.MP4: s='lots' is not a number",
    ]
    assert card_contents(typed(LISTING)).files == 8


def rec(cre: int, name: str = "GX010001.MP4", kind: str = "video") -> Recording:
    return Recording(kind, "100GOPRO", int(name[4:8]), cre, (MediaFile("100GOPRO", name, 10),))


def test_a_camera_that_missed_a_take_shifts_nothing() -> None:
    recordings = [
        ("A", rec(1000)),
        ("B", rec(1001)),
        ("C", rec(1002)),
        ("A", rec(2000, "GX010002.MP4")),
        ("B", rec(2003, "GX010002.MP4")),  # C missed take 2
        ("A", rec(3000, "GX010003.MP4")),
        ("B", rec(3001, "GX010003.MP4")),
        ("C", rec(2999, "GX010002.MP4")),
    ]
    takes = cluster([(camera, r, r.cre) for camera, r in recordings], tolerance_s=5)
    assert [(t.number, sorted(t.members)) for t in takes] == [
        (1, ["A", "B", "C"]),
        (2, ["A", "B"]),
        (3, ["A", "B", "C"]),
    ]
    assert takes[2].members["C"].files[0].name == "GX010002.MP4"


def test_one_recording_per_camera_per_take_and_photos_apart() -> None:
    items = [("A", rec(1000)), ("A", rec(1002, "GX010002.MP4")), ("B", rec(1001, "GOPR0003.JPG", "photo"))]
    takes = cluster([(camera, r, r.cre) for camera, r in items], tolerance_s=5)
    assert [(t.kind, sorted(t.members)) for t in takes] == [("video", ["A"]), ("photo", ["B"]), ("video", ["A"])]


def test_new_recordings_join_known_takes_or_follow_them() -> None:
    earlier = [Take(1, 1000, "video", {"A": None}, existing=True), Take(2, 2000, "video", {"A": None}, existing=True)]
    items = [("B", rec(1002)), ("A", rec(5000, "GX010005.MP4"))]
    takes = cluster([(camera, r, r.cre) for camera, r in items], tolerance_s=5, existing=earlier)
    assert [(t.number, t.anchor, sorted(t.members)) for t in takes] == [
        (1, 1000, ["A", "B"]),
        (2, 2000, ["A"]),
        (3, 5000, ["A"]),
    ]


def test_folder_names_and_layouts() -> None:
    take = Take(3, 1711035045, "photo")
    media_file = MediaFile("100GOPRO", "GOPR0001.JPG", 5)
    assert take.folder("scene") == "scene03_2024_03_21_15_30_45"
    assert destination(take, "take", "C3501", media_file, 2, False) == "take03_2024_03_21_15_30_45/C3501_GOPR0001.JPG"
    assert destination(take, "take", "C3501", media_file, 2, True) == "take03_2024_03_21_15_30_45/rig/002/GOPR0001.JPG"


def test_a_camera_clock_offset_is_taken_out_before_grouping() -> None:
    """Three cameras shot together, their clocks 90 s apart: by `cre` alone three takes; with each
    clock's measured offset taken out, one."""
    offsets = {"A": 0, "B": 90, "C": -45}
    items = [("A", rec(1000)), ("B", rec(1091)), ("C", rec(956))]
    assert len(cluster([(c, r, r.cre) for c, r in items], tolerance_s=5)) == 3
    takes = cluster([(c, r, r.cre - offsets[c]) for c, r in items], tolerance_s=5)
    assert [(t.anchor, sorted(t.members), t.clock_based) for t in takes] == [(1000, ["A", "B", "C"], True)]


def test_takes_from_the_shot_log_are_numbered_in_time_with_the_others() -> None:
    logged = Take(0, 3000, "video", {"A": rec(9999), "B": rec(1)}, shot="20261202T031501.123Z")
    takes = cluster([("A", rec(1000, "GX010001.MP4"), 1000)], tolerance_s=5, formed=[logged])
    assert [(t.number, t.shot, t.clock_based) for t in takes] == [(1, None, True), (2, "20261202T031501.123Z", False)]
