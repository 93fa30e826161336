"""The camera table: problems first, only visible rows drawn, sorting, a cursor that follows its camera."""

from __future__ import annotations

from dataclasses import replace

from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip

from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.condition import CONDITIONS, REC, condition, problems_first
from rigtui.tui.camera_table import CONDITION_STYLES, CameraTable, Cells


class CountingTable(CameraTable):
    """Counts the row lines it builds (cached lines are not built again)."""

    built = 0

    def render_row(self, cells: Cells, width: int, cursor: bool | None) -> Strip:
        self.built += 1
        return super().render_row(cells, width, cursor)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CountingTable()


def camera(i: int, **fields: object) -> CameraSnapshot:
    healthy = {"online": True, "battery_percent": 80, "sd_remaining_kb": 50_000_000, "minutes_left": 90}
    return CameraSnapshot(f"C3501{i:09d}", f"C3501{i:09d}", "HERO12", None, "127.0.1.1", 8080, **healthy | fields)  # type: ignore[arg-type]


def rows(snapshots: list[CameraSnapshot]) -> list[tuple[CameraSnapshot, str, bool]]:
    return [(s, s.key, False) for s in snapshots]


def line(table: CameraTable, y: int) -> str:
    return table.render_line(y).text


ONE_OF_EACH = [  # a camera in every condition, in no particular order
    camera(0),
    camera(1, recording=True, recording_seconds=75),
    camera(2, busy=True),
    camera(3, sd_low=True),
    camera(4, battery_low=True),
    camera(5, cold=True),
    camera(6, hot=True),
    camera(7, sd_state="full"),
    camera(8, clash="C3501000000108 shares its USB address"),
    camera(9, online=False),
    camera(10, should_record=True),
]


async def test_a_tick_draws_only_the_visible_rows_and_an_idle_tick_draws_nothing() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        snapshots = [camera(i, recording=True) for i in range(1000)]
        table.apply(rows(snapshots))
        await pilot.pause()
        visible = table.scrollable_content_region.height - 1  # under the header
        assert 0 < table.built <= visible
        table.built = 0
        snapshots = [replace(s, recording_seconds=7, updated=1.0) for s in snapshots]  # every camera changes
        table.apply(rows(snapshots))
        await pilot.pause()
        assert 0 < table.built <= visible, "a thousand changed cameras cost the rows on screen"
        table.built = 0
        table.apply(rows([replace(s, updated=2.0) for s in snapshots]))  # polled again, nothing new
        await pilot.pause()
        assert table.built == 0
        table.apply(rows([replace(s, recording_seconds=8) if i in (1, 500) else s for i, s in enumerate(snapshots)]))
        await pilot.pause()
        assert table.built == 1, "of two changed cameras only the one on screen is drawn"


async def test_problems_come_first_worst_first_then_by_key_and_stay_put() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        table.apply(rows(ONE_OF_EACH))
        await pilot.pause()
        expected = [s.key for s in problems_first(ONE_OF_EACH)]
        assert list(table.shown) == expected
        assert [condition(s) for s in problems_first(ONE_OF_EACH)] == list(CONDITIONS)
        assert line(table, 1).startswith("✖ NOT REC") and line(table, 11).startswith("✓ READY")
        twins = [camera(20 + i, recording=True) for i in range(5)]
        table.apply(rows(list(reversed(ONE_OF_EACH + twins))))
        await pilot.pause()
        assert list(table.shown) == [s.key for s in problems_first(ONE_OF_EACH + twins)], "ties go by key"
        assert line(table, 0).startswith("Status▲")


async def test_every_condition_reads_without_colour_and_only_problems_are_red() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        table.apply(rows(ONE_OF_EACH))
        await pilot.pause()
        for snap in ONE_OF_EACH:
            found = condition(snap)
            words = f"{found.glyph} {found.word}"
            assert table.get_cell(snap.key, "state").plain == words
            assert line(table, table.get_row_index(snap.key) + 1).startswith(words), "the word is on screen"
            assert (Style.parse(CONDITION_STYLES[found]).color.name == "red") == (found.rank <= 4)  # type: ignore[union-attr]
        assert Style.parse(CONDITION_STYLES[condition(ONE_OF_EACH[10])]).reverse, "NOT REC: loud in monochrome too"
        recording = ONE_OF_EACH[1].key
        assert condition(ONE_OF_EACH[1]) is REC and table.get_cell(recording, "rec").plain == "●01:15"
        assert "red" not in str(table.get_cell(recording, "rec").style)


async def test_a_long_error_is_clipped_at_the_edge_never_wrapped() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        error = "camera answered HTTP 500 to shutter start\nthen stopped answering " + "x" * 200
        table.apply(rows([camera(0, last_error=error), camera(1)]))
        await pilot.pause()
        first, second = line(table, 1), line(table, 2)
        assert first.rstrip().endswith("…") and "\n" not in first
        assert len(first) == table.scrollable_content_region.width
        assert second.startswith("✓ READY") and "C3501000000001" in second
        assert table.get_cell("C3501000000000", "error").plain == error, "the cell keeps the whole text"


async def test_sort_keys_cycle_the_column_and_reverse_nothing_last() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        table.focus()
        snapshots = [camera(i, battery_percent=b) for i, b in enumerate((40, 90, None, 10, 90))]
        table.apply(rows([*snapshots, camera(9, online=False)]))
        await pilot.pause()
        await pilot.press("greater_than_sign", "greater_than_sign", "greater_than_sign")
        assert table.sort_column == "battery" and "Batt▲" in line(table, 0)
        batteries = [table.get_cell(key, "battery").plain for key in table.shown]
        assert batteries == ["10%", "40%", "90%", "90%", "-", "-"]
        assert list(table.shown)[2:4] == ["C3501000000001", "C3501000000004"], "equal values go by key"
        await pilot.press("exclamation_mark")
        assert "Batt▼" in line(table, 0)
        assert [table.get_cell(key, "battery").plain for key in table.shown] == ["90%", "90%", "40%", "10%", "-", "-"]
        await pilot.press("less_than_sign")
        assert table.sort_column == "model" and "Model▲" in line(table, 0)
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")
        assert table.sort_column == "error", "it wraps around"


async def test_clicking_a_header_sorts_by_it_and_again_reverses_and_a_row_click_moves_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        table.apply(rows([camera(i, battery_percent=b) for i, b in enumerate((40, 90, 10))]))
        await pilot.pause()
        batt = line(table, 0).index("Batt")
        await pilot.click(CountingTable, offset=(batt + 1, 0))
        assert table.sort_column == "battery" and next(iter(table.shown)) == "C3501000000002"
        await pilot.click(CountingTable, offset=(batt + 1, 0))
        assert table.sort_reverse and next(iter(table.shown)) == "C3501000000001" and "Batt▼" in line(table, 0)
        await pilot.click(CountingTable, offset=(30, 3))
        assert table.cursor_row == 2 and table.cursor_key == list(table.shown)[2]


async def test_the_cursor_follows_its_camera_when_rows_reorder_and_keys_move_and_scroll() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CountingTable)
        table.focus()
        snapshots = [camera(i) for i in range(100)]
        table.apply(rows(snapshots))
        await pilot.pause()
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 3 and table.cursor_key == "C3501000000003"
        snapshots[50] = replace(snapshots[50], online=False)  # moves to the top, above the cursor
        table.apply(rows(snapshots))
        await pilot.pause()
        assert table.cursor_key == "C3501000000003" and table.cursor_row == 4
        assert "▸" not in line(table, 5)
        table.apply(rows([s for s in snapshots if s.key != "C3501000000003"]))  # its camera leaves
        await pilot.pause()
        assert table.cursor_row == 4 and table.cursor_key == list(table.shown)[4]
        await pilot.press("end")
        assert table.cursor_row == 98 and table.scroll_y > 0
        assert "C3501000000099" in line(table, table.scrollable_content_region.height - 1), "last row on screen"
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row == table.scrollable_content_region.height - 1
        table.move_cursor(row=table.get_row_index("C3501000000060"))
        await pilot.pause()
        assert table.cursor_key == "C3501000000060" and "C3501000000060" in "".join(
            line(table, y) for y in range(1, table.scrollable_content_region.height)
        )
