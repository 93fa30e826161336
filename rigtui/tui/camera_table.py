"""The camera table: one row per camera keyed by its key, updated cell by cell from snapshots."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from rigtui.gopro.snapshot import CameraSnapshot


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


# Widths include one column of gap (the table has no cell padding, so 80 columns go further).
# Few columns keep a redraw cheap: online and busy share "State", SD space and minutes share "SD".
COLUMNS = (
    Column("name", " Camera", 16),  # rows start with the selection mark
    Column("model", "Model", 7),
    Column("state", "State", 5),
    Column("battery", "Batt", 6),
    Column("sd", "SD free", 11),
    Column("temp", "Temp", 5),
    Column("rec", "Rec", 7),
    Column("clock", "Clock", 6),
    Column("error", "Last error", 80),  # clipped by the screen's edge; the log has the whole text
)

Cell = tuple[str, str]  # (text, style): cheap to build and compare; a Text is made only when shown
Cells = tuple[Cell, ...]


def render_cells(snap: CameraSnapshot, name: str, selected: bool) -> Cells:
    """What a camera's row shows; trouble in colour (low battery or SD as [rig] defines them, hot, cold,
    offline, a clock further off than a take allows)."""
    first = (("▸" if selected else " ") + name, "bold" if selected else "")
    if not snap.online:
        return (
            first,
            (snap.model or "?", "dim"),
            ("off", "bold red"),
            *(("-", "dim"),) * 5,
            (snap.last_error or "", "red"),
        )
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
    temp = (
        ("HOT", "bold white on red") if snap.hot else ("COLD", "bold white on blue") if snap.cold else ("ok", "green")
    )
    seconds = snap.recording_seconds
    rec = (f"●{seconds // 60:02d}:{seconds % 60:02d}", "bold red") if snap.recording else ("-", "dim")
    return (
        first,
        (snap.model or "?", ""),
        ("busy", "yellow") if snap.busy else ("ok", "green"),
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


class CameraTable(DataTable[Text]):
    """Rows keyed by camera key, columns by name; each update touches only the cells that changed."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, cell_padding=0, **kwargs)  # type: ignore[arg-type]
        self.shown: dict[str, Cells] = {}
        self._rows_seen: dict[str, tuple[CameraSnapshot, str, bool]] = {}

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, width=column.width, key=column.key)

    def apply(self, rows: Iterable[tuple[CameraSnapshot, str, bool]]) -> None:
        """Show exactly these (snapshot, name, selected) rows, in this order for new ones."""
        wanted: dict[str, tuple[CameraSnapshot, str, bool]] = {row[0].key: row for row in rows}
        for key in [k for k in self.shown if k not in wanted]:
            del self.shown[key]
            self._rows_seen.pop(key, None)
            with contextlib.suppress(RowDoesNotExist):
                self.remove_row(key)
        for key, row in wanted.items():
            if self._rows_seen.get(key) == row:
                continue  # same snapshot, name and selection: nothing to redraw
            self._rows_seen[key] = row
            cells = render_cells(*row)
            before = self.shown.get(key)
            if before is None:
                self.add_row(*map(to_text, cells), key=key)
            else:
                for column, old, new in zip(COLUMNS, before, cells, strict=True):
                    if old != new:
                        self.update_cell(key, column.key, to_text(new))
            self.shown[key] = cells

    @property
    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # cursor outside the rows while they change
            return None
