"""The Pi pane: one row per Pi (online, stale or offline; day or night with its level against the
thresholds and a sparkline; ring, fps, exposure, gain, last save, disk), and its keys."""

from __future__ import annotations

import math
import os
import time
from io import BytesIO
from pathlib import Path
from typing import Any, NamedTuple

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Static

from rigtui.remote.pilink import PiSnapshot
from rigtui.tui.help import HELP_TEXT

SPARK = "▁▂▃▄▅▆▇█"
TREND = 12  # levels in the sparkline


class PiColumn(NamedTuple):
    key: str
    label: str
    width: int  # cells, fixed (the flexible column's least)
    rank: int  # 0 is dropped last as the terminal narrows


COLUMNS = (
    PiColumn("pi", "Pi", 10, 0),
    PiColumn("state", "State", 10, 1),
    PiColumn("mode", "Mode", 5, 2),
    PiColumn("level", "Level", 13, 5),
    PiColumn("trend", "Trend", TREND, 11),
    PiColumn("ring", "Ring", 10, 7),
    PiColumn("fps", "FPS", 5, 8),
    PiColumn("exposure", "Exp", 6, 10),
    PiColumn("gain", "Gain", 5, 9),
    PiColumn("save", "Last save", 16, 4),
    PiColumn("disk", "Disk", 5, 6),
    PiColumn("health", "Health", 12, 3),
)
NOTE = PiColumn("changes", "Last switch", 24, 12)  # what the last day/night switch changed
FLEXIBLE = "health"  # takes the width left over: errors and a pull's progress are long
FLEXIBLE_WIDTH = next(c.width for c in COLUMNS if c.key == FLEXIBLE)
ROOMY = 40  # the flexible column's width before NOTE is shown
PADDING = 1  # cells each side of a column (DataTable's cell_padding)


def fit_columns(width: int) -> list[tuple[str, str, int]]:
    """The columns shown in `width` cells, in table order, as (key, label, width): the most important
    ones while they fit, the flexible one widened to fill what is left."""
    kept: dict[str, int] = {}
    used = 0
    for column in sorted((*COLUMNS, NOTE), key=lambda c: c.rank):
        if used + column.width + 2 * PADDING > width:
            break
        kept[column.key] = column.width
        used += column.width + 2 * PADDING
    if NOTE.key in kept and width - used < ROOMY - FLEXIBLE_WIDTH:  # the note only where errors have room
        used -= kept.pop(NOTE.key) + 2 * PADDING
    if FLEXIBLE in kept:
        kept[FLEXIBLE] += width - used
    return [(c.key, c.label, kept[c.key]) for c in (*COLUMNS, NOTE) if c.key in kept]


def sparkline(levels: list[float], width: int = TREND) -> str:
    """The last levels, on a log scale (night and day differ by orders of magnitude)."""
    recent = levels[-width:]
    if not recent:
        return ""
    logs = [math.log10(max(v, 0.01)) for v in recent]
    low, high = min(logs), max(logs)
    span = high - low or 1.0
    return "".join(SPARK[min(7, int((v - low) / span * 7.999))] for v in logs)


def pi_cells(snap: PiSnapshot) -> tuple[Text, ...]:
    """A Pi's row: a cell for each of COLUMNS, then NOTE's."""
    s = snap.status
    state_style = {"online": "green", "stale": "bold yellow", "offline": "bold red"}.get(snap.state, "dim")
    if s is None or snap.state == "offline":
        blank = Text("-", style="dim")
        return (
            Text(snap.name),
            Text(snap.state, style=state_style),
            *(blank,) * (len(COLUMNS) - 3),
            Text(_unnamed(snap.error, snap.name), style="red") if snap.error else Text(snap.pulled or "-", style="dim"),
            blank,
        )
    return (
        Text(snap.name),
        Text(snap.state, style=state_style),
        Text("NIGHT" if s.night else "DAY", style="bold blue" if s.night else "bold yellow"),
        Text(f"{'-' if s.level is None else f'{s.level:g}'} ({s.dark_threshold:g}/{s.bright_threshold:g})"),
        Text(sparkline(snap.levels), style="cyan"),
        Text(f"{s.ring.frames}f {s.ring.seconds:g}s"),
        Text(f"{s.fps:g}"),
        Text("-" if s.exposure_us is None else f"{s.exposure_us / 1000:.0f}ms"),
        Text("-" if s.gain is None else f"{s.gain:.1f}"),
        Text(_last_save(snap)),
        Text("-" if s.disk_free_mb is None else f"{s.disk_free_mb / 1000:.0f}G"),
        _health(snap),
        Text("; ".join(s.changes)),
    )


def _unnamed(error: str, name: str) -> str:
    """An error without the Pi's name in front (the row names the Pi)."""
    return error.removeprefix(f"{name}: ")


def _last_save(snap: PiSnapshot) -> str:
    save = snap.status.last_save if snap.status else None
    if save is None:
        return "-"
    name = Path(save.paths[0]).name if save.paths else save.reason
    try:
        return f"{time.strftime('%H:%M:%S', time.localtime(save.time))} {name}"
    except (OverflowError, OSError, ValueError):  # a time no clock here can show (the Pi's clock is its own)
        return name


def _health(snap: PiSnapshot) -> Text:
    """The service's own error, else a pull's progress or outcome, else frames dropped, else ok and its
    memory."""
    s = snap.status
    assert s is not None
    if s.error:
        return Text(s.error, style="red")
    if snap.pulled:
        return Text(snap.pulled)
    memory = "" if s.rss_mb is None else f" {s.rss_mb}MiB"
    if s.dropped:
        return Text(f"{s.dropped} dropped{memory}", style="yellow")
    return Text(f"ok{memory}", style="green")


def clipped(cell: Text, width: int) -> Text:
    """The cell on one line of at most `width` cells, cut short with an ellipsis."""
    cell = cell.copy()
    cell.no_wrap = True
    cell.truncate(width, overflow="ellipsis")
    return cell


class PiPane(DataTable[Text]):
    """Rows keyed by Pi name; only changed cells are redrawn. Columns are dropped, least important
    first, when the pane is too narrow for them all (recomputed on resize)."""

    BINDINGS = [
        Binding("g", "app.pi_save('jpg')", "Save jpg", id="pi_save"),
        Binding("k", "app.pi_stack", "Stacked save", id="pi_stack"),
        Binding("v", "app.pi_preview", "Preview", id="pi_preview"),
        Binding("u", "app.pi_pull", "Pull captures", id="pi_pull"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", cell_padding=PADDING, **kwargs)
        self.shown: dict[str, tuple[str, ...]] = {}  # per Pi, what each cell was built from
        self.cells: dict[str, tuple[Text, ...]] = {}
        self.layout_shown: list[tuple[str, str, int]] = []

    def help_entries(self) -> list[tuple[str, str]]:
        """(key, what it does) for each of the pane's keys, for the app's key list."""
        remapped: dict[str, str] = getattr(self.app, "keymap_overrides", {})
        entries = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding) and binding.id
            entries.append((remapped.get(binding.id, binding.key), HELP_TEXT[binding.id]))
        return entries

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        self._fit()

    def _fit(self) -> None:
        """Lay the columns out for the width there is; rows are rebuilt only when the layout changes."""
        width = self.size.width - (self.styles.scrollbar_size_vertical if self.show_vertical_scrollbar else 0)
        layout = fit_columns(width if width > 0 else 80)
        if layout == self.layout_shown:
            return
        cursor = self.cursor_name
        self.clear(columns=True)
        self.layout_shown = layout
        for key, label, column_width in layout:
            self.add_column(label, key=key, width=column_width)
        for name, cells in self.cells.items():
            self.add_row(*self._visible(cells), key=name)
        if cursor is not None:
            self.move_cursor(row=self.get_row_index(cursor))

    def _visible(self, cells: tuple[Text, ...]) -> list[Text]:
        by_key = dict(zip((c.key for c in (*COLUMNS, NOTE)), cells, strict=True))
        return [clipped(by_key[key], width) for key, _, width in self.layout_shown]

    def apply(self, snapshots: list[PiSnapshot]) -> None:
        if not self.layout_shown:
            self._fit()
        widths = {key: width for key, _, width in self.layout_shown}
        keys = [c.key for c in (*COLUMNS, NOTE)]
        for snap in snapshots:
            cells = pi_cells(snap)
            plain = tuple(c.plain + str(c.style) for c in cells)
            before = self.shown.get(snap.name)
            self.cells[snap.name] = cells
            if before is None:
                self.add_row(*self._visible(cells), key=snap.name)
            else:
                for key, old, new, cell in zip(keys, before, plain, cells, strict=True):
                    if old != new and key in widths:
                        self.update_cell(snap.name, key, clipped(cell, widths[key]))
            self.shown[snap.name] = plain

    @property
    def cursor_name(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value


def half_blocks(jpeg: bytes, width: int, height: int | None = None) -> Text:
    """A picture in a box of `width` x `height` cells (height: as the picture's shape asks), each cell
    two pixels (an upper half block, fg over bg). The picture keeps its shape and is centred; every line
    is exactly `width` cells wide, with no newline after the last, so it never wraps."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return clipped(Text("(the frame could not be decoded)"), width)
    rows, columns = image.shape[:2]
    scale = width / columns if height is None else min(width / columns, 2 * height / rows)
    picture_width = max(1, min(width, round(columns * scale)))
    picture_height = max(2, round(rows * scale / 2) * 2)
    if height is not None:
        picture_height = min(picture_height, 2 * height)
    small = cv2.resize(image, (picture_width, picture_height), interpolation=cv2.INTER_AREA)
    left = (width - picture_width) // 2
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, picture_height, 2):
        if y:
            text.append("\n")
        text.append(" " * left)
        for x in range(picture_width):
            b1, g1, r1 = (int(v) for v in small[y, x])
            b2, g2, r2 = (int(v) for v in small[y + 1, x])
            text.append("▀", style=f"rgb({r1},{g1},{b1}) on rgb({r2},{g2},{b2})")
        text.append(" " * (width - left - picture_width))
    return text


# -- the preview ----------------------------------------------------------------------------------
CHROME = Size(4, 3)  # the preview dialog's border and padding (columns), border and title (lines)
GRAPHICS_FRAME_WIDTH = 640  # pixels asked for when the terminal draws real pictures
GRAPHICS_TERMINALS = ("kitty", "wezterm", "ghostty", "iterm", "foot", "mlterm", "konsole")


def _graphics_widget() -> type[Widget] | None:
    """textual-image's picture widget, if it is installed and the terminal draws pictures (Sixel or
    Kitty's graphics protocol); else None (half blocks). textual-image asks the terminal when it is
    imported, before the app starts; it is only imported where the terminal names itself as one that
    draws pictures (RIGTUI_GRAPHICS=1 or 0 decides instead), so a late answer over a slow SSH link
    cannot arrive in the app as key presses."""
    choice = os.environ.get("RIGTUI_GRAPHICS", "")
    terminal = f"{os.environ.get('TERM', '')} {os.environ.get('TERM_PROGRAM', '')}".lower()
    if choice == "0" or (choice != "1" and not any(name in terminal for name in GRAPHICS_TERMINALS)):
        return None
    try:
        from textual_image.renderable import Image as best
        from textual_image.renderable.sixel import Image as SixelRenderable
        from textual_image.renderable.tgp import Image as TGPRenderable
        from textual_image.widget import Image
    except ImportError:  # not installed (pip install 'rigtui[graphics]'), or no terminal to ask
        return None
    return Image if best in (SixelRenderable, TGPRenderable) else None


GRAPHICS = _graphics_widget()


def preview_box(screen: Size) -> Size:
    """The picture's box, in cells, on a screen of this size."""
    return Size(max(8, screen.width - CHROME.width), max(2, screen.height - CHROME.height))


def preview_frame_width(screen: Size) -> int:
    """The frame width, in pixels, to ask the Pi for: one pixel per cell for half blocks."""
    return GRAPHICS_FRAME_WIDTH if GRAPHICS is not None else preview_box(screen).width


class PreviewScreen(ModalScreen[None]):
    """The latest frame of a Pi, as large as the screen allows, redrawn to fit when the terminal is
    resized; never wider than the screen. Given a ready picture (Text), shows it as it is, cropped."""

    DEFAULT_CSS = """
    PreviewScreen { align: center middle; }
    #preview-dialog {
        width: auto; height: auto; max-width: 100%; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    #preview-title { text-style: bold; height: 1; }
    #preview { width: auto; height: auto; }
    """
    BINDINGS = [Binding("escape,v,q", "close", "Close", id="preview.close")]

    def __init__(self, name: str, picture: bytes | Text) -> None:
        super().__init__()
        self.pi_name, self.picture = name, picture

    def compose(self) -> ComposeResult:
        box = preview_box(self.app.size)
        with Vertical(id="preview-dialog"):
            yield Static(clipped(Text(f"{self.pi_name}: latest frame"), box.width), id="preview-title")
            if isinstance(self.picture, bytes) and GRAPHICS is not None:
                picture = GRAPHICS(BytesIO(self.picture), id="preview")
                picture.styles.width, picture.styles.height = box.width, box.height
                yield picture
            else:
                yield Static(self._drawn(box), id="preview")

    def _drawn(self, box: Size) -> Text:
        if isinstance(self.picture, bytes):
            return half_blocks(self.picture, box.width, box.height)
        picture = self.picture.copy()
        picture.no_wrap, picture.overflow = True, "crop"
        return picture

    def on_resize(self, event: events.Resize) -> None:
        box = preview_box(event.size)
        self.query_one("#preview-title", Static).update(clipped(Text(f"{self.pi_name}: latest frame"), box.width))
        preview = self.query_one("#preview")
        if isinstance(preview, Static):
            preview.update(self._drawn(box))
        else:
            preview.styles.width, preview.styles.height = box.width, box.height

    def action_close(self) -> None:
        self.dismiss(None)
