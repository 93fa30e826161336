"""The Pi pane: one row per Pi (online, stale or offline; day or night with its level against the
thresholds and a sparkline; ring, fps, exposure, gain, last save, disk), and its keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from rigtui.remote.pilink import PiSnapshot

SPARK = "▁▂▃▄▅▆▇█"
COLUMNS = (
    ("pi", "Pi", 10),
    ("state", "State", 8),
    ("mode", "Mode", 6),
    ("level", "Level", 14),
    ("trend", "Trend", 16),
    ("ring", "Ring", 11),
    ("fps", "FPS", 5),
    ("exposure", "Exp", 8),
    ("gain", "Gain", 5),
    ("save", "Last save", 26),
    ("disk", "Disk", 6),
    ("health", "Health", 8),
)


def sparkline(levels: list[float], width: int = 15) -> str:
    """The last levels, on a log scale (night and day differ by orders of magnitude)."""
    import math

    recent = levels[-width:]
    if not recent:
        return ""
    logs = [math.log10(max(v, 0.01)) for v in recent]
    low, high = min(logs), max(logs)
    span = high - low or 1.0
    return "".join(SPARK[min(7, int((v - low) / span * 7.999))] for v in logs)


def pi_cells(snap: PiSnapshot) -> tuple[Text, ...]:
    s = snap.status
    state_style = {"online": "green", "stale": "bold yellow", "offline": "bold red"}.get(snap.state, "dim")
    if s is None or snap.state == "offline":
        blank = Text("-", style="dim")
        return (
            Text(snap.name),
            Text(snap.state, style=state_style),
            *(blank,) * (len(COLUMNS) - 2),
            Text(snap.error or "", style="red"),
        )
    paths = s.last_save.paths if s.last_save else ()
    return (
        Text(snap.name),
        Text(snap.state, style=state_style),
        Text("NIGHT" if s.night else "DAY", style="bold blue" if s.night else "bold yellow"),
        Text(f"{s.level} ({s.dark_threshold:g}/{s.bright_threshold:g})"),
        Text(sparkline(snap.levels), style="cyan"),
        Text(f"{s.ring.frames}f {s.ring.seconds}s"),
        Text(f"{s.fps}"),
        Text("-" if s.exposure_us is None else f"{s.exposure_us / 1000:.0f}ms"),
        Text("-" if s.gain is None else f"{s.gain:.1f}"),
        Text(Path(paths[0]).name if paths else "-"),
        Text("-" if s.disk_free_mb is None else f"{s.disk_free_mb / 1000:.0f}G"),
        Text("-" if s.rss_mb is None else f"{s.rss_mb}MiB", style="red" if s.dropped else ""),
        Text(s.error or snap.pulled or "", style="red" if s.error else ""),
    )


class PiPane(DataTable[Text]):
    """Rows keyed by Pi name; only changed cells are redrawn."""

    BINDINGS = [
        Binding("g", "app.pi_save('jpg')", "Save jpg", id="pi_save"),
        Binding("k", "app.pi_stack", "Stacked save", id="pi_stack"),
        Binding("v", "app.pi_preview", "Preview", id="pi_preview"),
        Binding("u", "app.pi_pull", "Pull captures", id="pi_pull"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.shown: dict[str, tuple[str, ...]] = {}

    def _ensure_columns(self) -> None:
        if not self.columns:  # an update may come before the pane is mounted
            for key, label, width in COLUMNS:
                self.add_column(label, key=key, width=width)
            self.add_column("Note", key="error", width=40)

    def on_mount(self) -> None:
        self._ensure_columns()

    def apply(self, snapshots: list[PiSnapshot]) -> None:
        self._ensure_columns()
        for snap in snapshots:
            cells = pi_cells(snap)
            plain = tuple(c.plain + str(c.style) for c in cells)
            before = self.shown.get(snap.name)
            if before is None:
                self.add_row(*cells, key=snap.name)
            else:
                keys = [c[0] for c in COLUMNS] + ["error"]
                for key, old, new, cell in zip(keys, before, plain, cells, strict=True):
                    if old != new:
                        self.update_cell(snap.name, key, cell)
            self.shown[snap.name] = plain

    @property
    def cursor_name(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value


def half_blocks(jpeg: bytes, width: int) -> Text:
    """A picture in the terminal: each cell shows two pixels (upper half block, fg over bg)."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return Text("(the frame could not be decoded)")
    height = max(2, round(image.shape[0] * width / image.shape[1] / 2) * 2)
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    text = Text()
    for y in range(0, height, 2):
        for x in range(width):
            b1, g1, r1 = (int(v) for v in small[y, x])
            b2, g2, r2 = (int(v) for v in small[y + 1, x])
            text.append("▀", style=f"rgb({r1},{g1},{b1}) on rgb({r2},{g2},{b2})")
        text.append("\n")
    return text


class PreviewScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,v,q", "close", "Close", id="preview.close")]

    def __init__(self, name: str, picture: Text) -> None:
        super().__init__()
        self.pi_name, self.picture = name, picture

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"{self.pi_name}: latest frame", id="dialog-title")
            yield Static(self.picture, id="preview")

    def action_close(self) -> None:
        self.dismiss(None)
