"""The preflight report in a dialog: the same lines as `rigtui check`, trouble in red. Escape closes it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from rigtui.ops.report import Line


class CheckScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close", id="check.close")]

    def __init__(self, title: str, lines: list[Line], *, ready: bool) -> None:
        super().__init__()
        self.title_text, self.lines, self.ready = title, lines, ready

    @property
    def text(self) -> str:
        """The report as plain text (what `rigtui check` prints)."""
        return "\n".join(line.text for line in self.lines)

    def compose(self) -> ComposeResult:
        body = Text()
        for index, line in enumerate(self.lines):
            body.append(("\n" if index else "") + line.text, style="red" if line.problem else "")
        with Vertical(id="dialog", classes="" if self.ready else "danger"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            with VerticalScroll(id="dialog-body"):
                yield Static(body, id="check-report")
            yield Static("Escape closes; the same report as `rigtui check`.", id="help-note")

    def action_close(self) -> None:
        self.dismiss(None)
