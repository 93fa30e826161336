"""The key list, as the user has mapped the keys, with what each does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP_TEXT = {
    "record": "start every camera at once (readiness check first)",
    "stop": "stop recording",
    "sync_time": "set every camera's clock to this computer's local time",
    "copy_settings": "copy the prime camera's settings to the others",
    "make_prime": "make the camera under the cursor the prime",
    "format": "erase SD cards (verified footage only; asks first)",
    "power_off": "put cameras to sleep (asks first)",
    "download": "the download screen: offload into take folders, verified",
    "toggle_select": "select or deselect the camera under the cursor",
    "filter": "show only cameras matching a text",
    "nickname": "give the camera under the cursor a nickname",
    "show_log_path": "show where the session log is written",
    "check": "preflight check: is the rig ready for a take?",
    "acknowledge": "acknowledge failures: the message line calms down; cameras that did not start leave NOT REC",
    "next_problem": "move the cursor to the next camera with a problem, the loudest first",
    "clear_selection": "clear the selection",
    "sort_previous": "sort by the column to the left",
    "sort_next": "sort by the column to the right",
    "sort_reverse": "reverse the sort order",
    "help": "this list",
    "pi_save": "Pi pane: save the Pi's latest frame as a JPEG, on the Pi",
    "pi_stack": "Pi pane: save a stack of the Pi's recent frames (less noise at night), on the Pi",
    "pi_preview": "Pi pane: show the Pi's latest frame, sized to the terminal",
    "pi_pull": "Pi pane: copy the Pi's captures to this computer over SSH, checked",
    "quit": "quit (jobs in progress stop)",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in self.keys)
        lines = "\n".join(f"{key:>{width}}  {text}" for key, text in self.keys)
        with Vertical(id="dialog"):
            yield Static("Keys", id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Static(lines, markup=False)
            yield Static("Actions apply to the selected cameras, or to all when none is selected.", id="help-note")

    def action_close(self) -> None:
        self.dismiss(None)
