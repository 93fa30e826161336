"""The camera table: one line per camera, problems first, drawn with Textual's Line API.

Only visible rows are ever rendered, and a tick redraws only the visible rows whose cells changed:
each row's Strip is cached by camera key (with the width and cursor state it was built for) and
dropped when that camera's cells change. A thousand cameras cost what the rows on screen cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.condition import (
    BUSY,
    CLASH,
    COLD,
    HOT,
    LOW_BAT,
    NOT_REC,
    OFFLINE,
    READY,
    REC,
    SD_ERR,
    SD_LOW,
    Condition,
    condition,
)
from rigtui.ops.hosts import split_host_key

Row = tuple[CameraSnapshot, str, bool]  # (snapshot, name shown, selected)
Cell = tuple[str, str]  # (text, style): cheap to build and compare; styled only when drawn
Cells = tuple[Cell, ...]
SortValue = Callable[[CameraSnapshot, str], object]  # None sorts last in either direction


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # includes one column of gap; the last column takes what is left
    sort_value: SortValue


def natural(text: str) -> tuple[object, ...]:
    """Numbers inside text compare as numbers: cam9 before cam10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def _battery(snap: CameraSnapshot, name: str) -> int | None:
    return snap.battery_percent if snap.online and snap.battery_present else None


def _temperature(snap: CameraSnapshot, name: str) -> int | None:
    return None if not snap.online else 2 if snap.hot else 1 if snap.cold else 0


def _clock(snap: CameraSnapshot, name: str) -> float | None:
    return None if snap.clock_offset_s is None else abs(snap.clock_offset_s)


# Status, name and model, then the numbers; fits 80 columns with a few columns of the last error.
COLUMNS = (
    Column("state", "Status", 10, lambda s, n: condition(s).rank),
    Column("name", " Camera", 16, lambda s, n: natural(n)),  # rows start with the selection mark
    Column("model", "Model", 7, lambda s, n: natural(s.model) if s.model else None),
    Column("battery", "Batt", 6, _battery),
    Column("sd", "SD free", 10, lambda s, n: s.sd_remaining_kb if s.online else None),
    Column("temp", "Temp", 6, _temperature),
    Column("rec", "Rec", 7, lambda s, n: s.recording_seconds if s.online and s.recording else None),
    Column("clock", "Clock", 7, _clock),
    Column("error", "Last error", 0, lambda s, n: natural(s.last_error) if s.last_error else None),
)
# Across hosts ([[hosts]]) a Host column follows the status, and the Camera column shows the camera alone.
HOST_COLUMN = Column("host", "Host", 11, lambda s, n: natural(split_host_key(s.key)[0]))
HOST_COLUMNS = (COLUMNS[0], HOST_COLUMN, *COLUMNS[1:])

# Plain ANSI colour names, so a 16-colour terminal shows red as red; the word reads without colour.
# Red is for problems only: the loudest (reversed) is a camera that should record and does not.
CONDITION_STYLES: dict[Condition, str] = {
    NOT_REC: "bold reverse red",
    OFFLINE: "bold red",
    CLASH: "bold red",
    SD_ERR: "bold red",
    HOT: "bold red",
    COLD: "bold yellow",
    LOW_BAT: "bold yellow",
    SD_LOW: "bold yellow",
    BUSY: "yellow",
    REC: "bold cyan",
    READY: "green",
}


def status_cell(snap: CameraSnapshot) -> Cell:
    found = condition(snap)
    return (f"{found.glyph} {found.word}", CONDITION_STYLES[found])


def render_cells(snap: CameraSnapshot, name: str, selected: bool) -> Cells:
    """What a camera's row shows: its condition first, then the detail behind it in colour (low
    battery or SD as [rig] defines them, hot, cold, a clock further off than a take allows)."""
    status = status_cell(snap)
    first = (("▸" if selected else " ") + name, "bold" if selected else "")
    if not snap.online:
        return (status, first, (snap.model or "?", "dim"), *(("-", "dim"),) * 5, (snap.last_error or "", "red"))
    if not snap.battery_present:
        battery = "USB"  # no battery: on USB power, and ready
    else:
        battery = "-" if snap.battery_percent is None else f"{snap.battery_percent}%{'+' if snap.charging else ''}"
    if snap.sd_state not in (None, "ok"):
        sd = (str(snap.sd_state), "bold red")
    else:
        gigabytes = "-" if snap.sd_remaining_kb is None else f"{snap.sd_remaining_kb / 1024 / 1024:.0f}G"
        minutes = "" if snap.minutes_left is None else f" {snap.minutes_left}m"
        sd = (gigabytes + minutes, "bold red" if snap.sd_low else "")
    temp = ("HOT", "bold red") if snap.hot else ("COLD", "bold yellow") if snap.cold else ("ok", "dim")
    seconds = snap.recording_seconds
    rec = (f"●{seconds // 60:02d}:{seconds % 60:02d}", "cyan") if snap.recording else ("-", "dim")
    return (
        status,
        first,
        (snap.model or "?", ""),
        (battery, "bold red" if snap.battery_low else ""),
        sd,
        temp,
        rec,
        clock_cell(snap),
        (snap.last_error or "", "red"),
    )


def clock_cell(snap: CameraSnapshot) -> Cell:
    """The camera's clock against the host's: quiet when within a take's tolerance, loud when not."""
    if snap.clock_offset_s is None:
        return ("?", "dim")
    return (f"{round(snap.clock_offset_s):+d}s", "bold yellow" if snap.clock_off else "dim")


def to_text(cell: Cell) -> Text:
    return Text(cell[0], style=cell[1], no_wrap=True, overflow="ellipsis")


_CONTROLS = {code: " " for code in (*range(32), 127)}  # camera text is hostile: one line, always


def fit(text: str, width: int) -> str:
    """Exactly `width` cells: padded, or clipped with an ellipsis; never wrapped."""
    text = text.translate(_CONTROLS)
    length = cell_len(text)
    if length <= width:
        return text + " " * (width - length)
    return set_cell_size(text, width - 1) + "…" if width > 0 else ""


def column_widths(width: int, columns: tuple[Column, ...] = COLUMNS) -> list[int]:
    """Each column's width with its gap; the last (no gap) takes what is left."""
    fixed = [column.width for column in columns[:-1]]
    return [*fixed, max(0, width - sum(fixed))]


def line_strip(
    cells: Iterable[tuple[str, Style]], width: int, base: Style, columns: tuple[Column, ...] = COLUMNS
) -> Strip:
    """One line of cells at the columns' widths, the last one clipped at the edge."""
    *texts, (last_text, last_style) = cells
    *widths, last_width = column_widths(width, columns)
    segments = []
    gap = Segment(" ", base)
    for (text, style), column_width in zip(texts, widths, strict=True):
        segments += (Segment(fit(text, column_width - 1), style), gap)
    segments.append(Segment(fit(last_text, last_width), last_style))
    return Strip(segments).adjust_cell_length(width, base)


class CameraTable(ScrollView, can_focus=True):
    """Rows keyed by camera key, sorted problems first; the header line stays at the top."""

    DEFAULT_CSS = """
    CameraTable {
        background: $surface;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        & > .camera-table--header {
            text-style: bold;
            background: $panel;
        }
        & > .camera-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .camera-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    COMPONENT_CLASSES = {"camera-table--header", "camera-table--cursor"}
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
        Binding("less_than_sign", "sort_step(-1)", "Sort by the column to the left", id="sort_previous", show=False),
        Binding("greater_than_sign", "sort_step(1)", "Sort by the column to the right", id="sort_next", show=False),
        Binding("exclamation_mark", "sort_reverse", "Reverse the sort order", id="sort_reverse", show=False),
    ]

    def __init__(
        self, *, hosts: bool = False, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = HOST_COLUMNS if hosts else COLUMNS
        self.column_index = {column.key: index for index, column in enumerate(self.columns)}
        self.shown: dict[str, Cells] = {}  # key -> cells, in the order shown
        self.sort_column = "state"  # the default: problems first, then by key
        self.sort_reverse = False
        self._rows: dict[str, Row] = {}
        self._drawn: dict[str, dict[str, object]] = {}  # key -> its snapshot's fields as last drawn
        self._values: dict[str, object] = {}  # key -> its value in the sort column
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._strips: dict[str, tuple[int, bool | None, Strip]] = {}  # key -> (width, cursor state, strip)
        self._cursor: str | None = None
        self._cursor_row = 0  # where the cursor goes when its camera leaves the table

    # -- data -----------------------------------------------------------------------------------
    def apply(self, rows: Iterable[Row]) -> None:
        """Show exactly these (snapshot, name, selected) rows, sorted; redraw only what changed."""
        wanted: dict[str, Row] = {}
        changed: list[Row] = []
        added = False
        for row in rows:
            snap, name, selected = row
            wanted[snap.key] = row
            fields = self._drawn.get(snap.key)
            if fields is None:
                added = True
                changed.append(row)
                continue
            fields["updated"] = snap.updated  # every poll moves it; no row shows it: not a change
            if fields != snap.__dict__ or self._rows[snap.key][1:] != (name, selected):
                changed.append(row)
        removed = [key for key in self._rows if key not in wanted] if added or len(wanted) != len(self._rows) else []
        if not changed and not removed:
            return  # the usual idle tick: nothing to sort, nothing to draw
        for key in removed:
            del self._rows[key], self._drawn[key], self._values[key], self.shown[key]
            self._strips.pop(key, None)
        sort_value = self.columns[self.column_index[self.sort_column]].sort_value
        reorder = bool(removed)
        redraw = set()
        for row in changed:
            snap = row[0]
            self._rows[snap.key] = row
            self._drawn[snap.key] = dict(snap.__dict__)
            value = sort_value(snap, row[1])
            if snap.key not in self._values or self._values[snap.key] != value:
                self._values[snap.key] = value
                reorder = True
            cells = self.cells_of(row)
            if self.shown.get(snap.key) != cells:
                self.shown[snap.key] = cells  # in place: a camera already shown keeps its position
                self._strips.pop(snap.key, None)
                redraw.add(snap.key)
        if reorder:
            self._reorder(redraw)
        else:
            self._refresh_rows(lambda index: self._order[index] in redraw)

    def cells_of(self, row: Row) -> Cells:
        """A row's cells; across hosts the host in its own column and the camera's own name after it."""
        snap, name, selected = row
        if self.columns is not HOST_COLUMNS:
            return render_cells(snap, name, selected)
        host, camera = split_host_key(snap.key)
        status, *rest = render_cells(snap, camera if name == snap.key else name, selected)
        return (status, (host, "bold" if selected else ""), *rest)

    def _reorder(self, redraw: set[str]) -> None:
        """Sort by the sort column, keep the cursor on its camera, refresh the visible lines that differ."""
        before = self._order
        values = self._values
        present = sorted((k for k in self.shown if values[k] is not None), key=lambda k: (values[k], k))
        if self.sort_reverse:
            present.reverse()
        self._order = present + sorted(k for k in self.shown if values[k] is None)
        self._index = {key: index for index, key in enumerate(self._order)}
        self.shown = {key: self.shown[key] for key in self._order}
        self._follow_cursor()
        if len(before) != len(self._order):
            self.virtual_size = Size(0, len(self._order) + 1)
        after = self._order
        self._refresh_rows(
            lambda index: (
                index >= len(after) or index >= len(before) or before[index] != after[index] or after[index] in redraw
            ),
            max(len(before), len(after)),
        )

    def _refresh_rows(self, differs: Callable[[int], bool], rows: int | None = None) -> None:
        """Refresh the visible lines whose row differs from what is on screen."""
        top = round(self.scroll_y)
        end = min(top + self._page_height(), len(self._order) if rows is None else rows)
        lines = [Region(0, 1 + index - top, self.size.width, 1) for index in range(top, end) if differs(index)]
        if lines:
            self.refresh(*lines)

    def _follow_cursor(self) -> None:
        """The cursor stays on its camera; if that camera left, on the row where it was."""
        index = self._index.get(self._cursor) if self._cursor is not None else None
        if index is None:
            index = min(self._cursor_row, len(self._order) - 1)
            self._cursor = self._order[index] if index >= 0 else None
        self._cursor_row = max(index, 0)

    def _resort(self) -> None:
        sort_value = self.columns[self.column_index[self.sort_column]].sort_value
        self._values = {key: sort_value(row[0], row[1]) for key, row in self._rows.items()}
        self._reorder(set())
        self.refresh_line(0)  # the header's ▲/▼ moved
        self._scroll_to_cursor()

    def sort_by(self, column: str, reverse: bool = False) -> None:
        """Sort by a column's natural value (numbers as numbers, nothing last), then by key."""
        self.sort_column, self.sort_reverse = column, reverse
        self._resort()

    def get_cell(self, key: str, column: str) -> Text:
        return to_text(self.shown[key][self.column_index[column]])

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    @property
    def row_count(self) -> int:
        return len(self._order)

    # -- cursor ---------------------------------------------------------------------------------
    @property
    def cursor_key(self) -> str | None:
        return self._cursor

    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    def move_cursor(self, *, row: int | None = None, animate: bool = False, scroll: bool = True) -> None:
        if row is None or not self._order:
            return
        old = self._cursor_row
        self._cursor_row = max(0, min(row, len(self._order) - 1))
        self._cursor = self._order[self._cursor_row]
        self.refresh_line(old + 1)
        self.refresh_line(self._cursor_row + 1)
        if scroll:
            self._scroll_to_cursor()

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # less the header

    def _scroll_to_cursor(self) -> None:
        top, page = round(self.scroll_y), self._page_height()
        if self._cursor_row < top:
            self.scroll_to(y=self._cursor_row, animate=False)
        elif self._cursor_row >= top + page:
            self.scroll_to(y=self._cursor_row - page + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor_row - self._page_height())

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor_row + self._page_height())

    def action_cursor_first(self) -> None:
        self.move_cursor(row=0)

    def action_cursor_last(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_sort_step(self, step: int) -> None:
        index = (self.column_index[self.sort_column] + step) % len(self.columns)
        self.sort_by(self.columns[index].key)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def on_click(self, event: events.Click) -> None:
        """A click on a row moves the cursor there; on a header label sorts by it (again: reversed)."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            edge = 0
            widths = column_widths(self.scrollable_content_region.width, self.columns)
            for column, width in zip(self.columns, widths, strict=True):
                edge += width
                if offset.x < edge:
                    self.sort_by(column.key, column.key == self.sort_column and not self.sort_reverse)
                    return
            return
        row = round(self.scroll_y) + offset.y - 1
        if row < len(self._order):
            self.move_cursor(row=row)

    def on_focus(self) -> None:
        self.refresh_line(self._cursor_row + 1)

    def on_blur(self) -> None:
        self.refresh_line(self._cursor_row + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a theme or focus change restyles every row

    # -- drawing --------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # the last column ends before the scrollbar
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._order):
            return Strip.blank(width, self.rich_style)
        key = self._order[index]
        cursor = self.has_focus if index == self._cursor_row else None
        cached = self._strips.get(key)
        if cached is not None and cached[0] == width and cached[1] == cursor:
            return cached[2]
        strip = self.render_row(self.shown[key], width, cursor)
        self._strips[key] = (width, cursor, strip)
        return strip

    def render_row(self, cells: Cells, width: int, cursor: bool | None) -> Strip:
        """One camera's line; `cursor` is None off the cursor, else whether the table has focus."""
        base = self.rich_style
        if cursor is not None:
            base += self.get_component_rich_style("camera-table--cursor")
        return line_strip(((text, base + Style.parse(style)) for text, style in cells), width, base, self.columns)

    def _header(self, width: int) -> Strip:
        base = self.rich_style + self.get_component_rich_style("camera-table--header")
        mark = "▼" if self.sort_reverse else "▲"
        labels = ((column.label + (mark if column.key == self.sort_column else ""), base) for column in self.columns)
        return line_strip(labels, width, base, self.columns)
