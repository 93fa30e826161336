"""The download screen: start an offload, and watch it camera by camera.

The offload itself belongs to the App: leaving this screen (Escape) never stops it, and coming
back shows where it is.
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, RichLog, Static

from rigtui.gopro.offload import CameraProgress
from rigtui.ops.offload import OffloadRun

BAR_WIDTH = 12


class OffloadHost(Protocol):
    """Who owns the offload (the app): the screen shows it and asks it to start one."""

    offload_dest: str
    offload_run: OffloadRun | None
    offload_running: bool
    hosts_progress: dict[str, str]  # several host PCs: each host's own offload, as its agent last told

    def start_offload(self, dest: str) -> None: ...


def bar(done: int, total: int) -> Text:
    """A progress bar in one table cell (a widget per camera would not scale to a big rig)."""
    share = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    filled = round(share * BAR_WIDTH)
    text = Text("█" * filled, style="green")
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(f" {share * 100:3.0f}%")
    return text


class DownloadScreen(Screen[None]):
    BINDINGS = [Binding("escape", "leave", "Back (offload continues)", id="download.back")]

    def __init__(self, host: OffloadHost) -> None:
        super().__init__()
        self.host = host
        self._errors_shown = 0

    def compose(self) -> ComposeResult:
        yield Static("Offload: every camera's footage into take folders, verified", id="download-title")
        with Horizontal(id="download-start"):
            yield Static("Destination: ", id="dest-label")
            yield Input(self.host.offload_dest, placeholder="folder for the take folders; Enter starts", id="dest")
        yield ProgressBar(id="overall", show_eta=False)
        yield Static("", id="rate")
        yield DataTable(id="download-cameras", cursor_type="row")
        yield Static("", id="takes")
        yield RichLog(id="download-errors", max_lines=500, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#download-cameras", DataTable)
        for key, label, width in (
            ("camera", "Camera", 16),
            ("files", "Files", 8),
            ("bar", "Progress", 18),
            ("bytes", "GB", 7),
            ("current", "Now", 14),
            ("errors", "Errors", 6),
        ):
            table.add_column(label, key=key, width=width)
        self.set_interval(0.5, self.refresh_progress)
        self.refresh_progress()
        if self.host.offload_run is None:
            self.query_one("#dest", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.host.offload_running:
            self.query_one("#rate", Static).update("an offload is already running: start another once it has ended")
            return
        self.host.start_offload(event.value.strip())

    def refresh_progress(self) -> None:
        job = self.host.offload_run
        self.query_one("#download-start").display = not self.host.offload_running
        if job is None:
            each_host = [text for _, text in sorted(self.host.hosts_progress.items())]
            self.query_one("#rate", Static).update("\n".join(each_host) or "Choose a destination and press Enter.")
            return
        table = self.query_one("#download-cameras", DataTable)
        for camera, progress in sorted(job.progress.items()):
            cells = self._cells(progress)
            if camera not in table.rows:
                table.add_row(*cells, key=camera)
            else:
                for key, value in zip(("camera", "files", "bar", "bytes", "current", "errors"), cells, strict=True):
                    table.update_cell(camera, key, value)
        total = sum(p.bytes_total for p in job.progress.values())
        done = sum(p.bytes_done for p in job.progress.values())
        self.query_one("#overall", ProgressBar).update(total=max(total, 1), progress=done)
        self.query_one("#rate", Static).update("\n".join([job.rate(), *job.by_destination()]))
        if job.plan:
            takes = "  ".join(job.take_list())
            self.query_one("#takes", Static).update(f"takes: {takes}" if takes else "no takes")
        log = self.query_one("#download-errors", RichLog)
        errors = [e for p in job.progress.values() for e in p.errors]
        for line in errors[self._errors_shown :]:
            log.write(Text(line, style="red"))
        self._errors_shown = len(errors)

    @staticmethod
    def _cells(progress: CameraProgress) -> tuple[object, ...]:
        return (
            progress.camera,
            f"{progress.files_done}/{progress.files}",
            bar(progress.bytes_done, progress.bytes_total),
            f"{progress.bytes_done / 1e9:.2f}",
            progress.current,
            Text(str(progress.files_failed), style="bold red" if progress.files_failed else ""),
        )

    def action_leave(self) -> None:
        self.app.pop_screen()
