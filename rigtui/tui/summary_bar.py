"""The two lines above the table: the rig as a whole (every problem class counted, the cameras that
should record and do not named), and the message line (failures stay until acknowledged)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.condition import NOT_REC, REC, summary_parts

# Plain ANSI colours: a 16-colour terminal shows them as themselves (theme colours turn red magenta).
PROBLEM = "bold red"
LOUDEST = "bold white on red"


def summarize(
    snapshots: list[CameraSnapshot],
    name: Callable[[str], str],
    *,
    spread_ms: float | None = None,
    prime: str = "",
    selected: int = 0,
    filtered: int | None = None,
) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, (part, found) in enumerate(summary_parts(snapshots, name)):
        if index:
            text.append(" · ", "dim")
        style = LOUDEST if found is NOT_REC else "bold" if found in (None, REC) else PROBLEM
        text.append(f" {part} " if found is NOT_REC else part, style)
    if spread_ms is not None:
        text.append(f" · spread {spread_ms:.2f} ms", "dim")
    if prime:
        text.append(f" · prime {prime[-6:]}", "dim")
    if filtered is not None and not selected:
        text.append(f" · FILTER {filtered}/{len(snapshots)} (actions act on these)", "bold yellow")
    if selected:
        text.append(f" · SELECTED {selected} (x clears)", "bold yellow")
    return text


class SummaryBar(Static):
    """Clicking it jumps to the next camera with a problem (as `j` does)."""

    DEFAULT_CSS = """
    SummaryBar { height: 1; padding: 0 1; background: $panel; }
    """

    class Clicked(Message):
        """The operator clicked the summary."""

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Clicked())


class MessageLine(Static):
    """The last thing that happened, in one line that never covers the table. Failures stay (red,
    counted) until acknowledged; anything else is replaced by the next message."""

    DEFAULT_CSS = """
    MessageLine { height: 1; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.failures: list[str] = []
        self.last = ""

    def say(self, text: str, *, failure: bool = False) -> None:
        if failure:
            self.failures.append(text)
        else:
            self.last = text
        self._show()

    def acknowledge(self) -> int:
        count = len(self.failures)
        self.failures.clear()
        self._show()
        return count

    def _show(self) -> None:
        if self.failures:
            line = Text(f"⚠ {len(self.failures)} (a) ", PROBLEM, no_wrap=True, overflow="ellipsis")  # failures, the key
            line.append(self.failures[-1], "red")
        else:
            line = Text(self.last, "dim", no_wrap=True, overflow="ellipsis")
        self.update(line)
