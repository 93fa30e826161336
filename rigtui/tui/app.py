"""The rigtui terminal app: a live camera table, keys that act on every camera at once, a log.

The App owns the long jobs (poller, discovery, commands, offload) so leaving a screen never cancels
them. What an action does, checks and says is rigtui.ops's; the App renders snapshots, asks the
questions ops hands it, and logs the reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path

from rich.color import STANDARD_PALETTE
from rich.terminal_theme import TerminalTheme
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.message import Message
from textual.widgets import Footer, Input, RichLog
from textual.worker import Worker, WorkerState

from rigtui.config import Config
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.offload import FileTask
from rigtui.gopro.shotlog import ShotLog
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.ops.check import check, check_options
from rigtui.ops.clock import sync_time
from rigtui.ops.condition import acknowledge, condition, problems_first
from rigtui.ops.errors import UsageError
from rigtui.ops.format import DECLINED, FormatPlan, execute_format, plan_format
from rigtui.ops.hosts import Hosts, HostsFormatPlan, HostsReport, chosen_hosts
from rigtui.ops.offload import CameraIndexes, OffloadRun, file_line, offload_options
from rigtui.ops.pi import default_pull_folder, pull, pull_lines, save, save_stacked
from rigtui.ops.power import power_off, power_off_question
from rigtui.ops.report import Line, Report
from rigtui.ops.rig import RigOptions, RigSession, action_targets, actions_that_apply, matches
from rigtui.ops.settings import copy_settings, prime_of
from rigtui.ops.shutter import record, record_options, stop
from rigtui.remote.hostlink import HostEvent
from rigtui.remote.pilink import PiError, PiLink
from rigtui.sessionlog import SessionLog
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.check_screen import CheckScreen
from rigtui.tui.commands import PaletteEntry, RigCommands
from rigtui.tui.confirm import ConfirmScreen
from rigtui.tui.download_screen import DownloadScreen
from rigtui.tui.help import HELP_TEXT, HelpScreen
from rigtui.tui.pi_pane import PiPane, PreviewScreen, preview_frame_width
from rigtui.tui.prompt import PromptScreen
from rigtui.tui.summary_bar import MessageLine, SummaryBar, summarize
from rigtui.userstate import UserState


class PisUpdated(Message):
    """A Pi's status changed. A backlog collapses to the newest."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PisUpdated)


class SnapshotsUpdated(Message):
    """One poller tick: every camera's snapshot. A backlog collapses to the newest."""

    def __init__(self, snapshots: list[CameraSnapshot]) -> None:
        super().__init__()
        self.snapshots = snapshots

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotsUpdated)


# Named colours ("red") as the 16 colours every terminal has: with Textual's default theme a 16-colour
# terminal would show red as magenta and yellow as bright red.
TERMINAL_COLOURS = TerminalTheme(
    (0, 0, 0),
    (170, 170, 170),
    [tuple(STANDARD_PALETTE[index]) for index in range(8)],  # type: ignore[misc]
    [tuple(STANDARD_PALETTE[index]) for index in range(8, 16)],  # type: ignore[misc]
)
EVERY_SCREEN = ("help", "quit")
KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "exclamation_mark": "!",
}


TEXTUAL_HELP = {"help_quit": "only says that ctrl+q quits"}  # Textual's keys that have no description


def declared_bindings(owner: type) -> list[Binding]:
    """The bindings a class declares, its own and its bases' (Textual merges them the same way)."""
    return [
        binding for cls in owner.__mro__ for binding in vars(cls).get("BINDINGS", []) if isinstance(binding, Binding)
    ]


def cursor_movement(binding: Binding) -> bool:
    """Textual's own cursor, scroll and focus keys: every list has them, help need not repeat them."""
    action = binding.action.rsplit(".", 1)[-1]
    return action.startswith(("scroll_", "cursor_", "focus_", "page_")) or action == "select_cursor"


def key_names(keys: str) -> str:
    """A binding's keys as the operator types them."""
    return ",".join(KEY_NAMES.get(key, key) for key in keys.split(","))


# the app's keys that work whatever screen is in front


class RigApp(App[None]):
    CSS_PATH = "rigtui.tcss"
    TITLE = "rigtui"
    COMMANDS = App.COMMANDS | {RigCommands}
    BINDINGS = [
        Binding("r", "record", "Record", id="record"),
        Binding("s", "stop", "Stop", id="stop"),
        Binding("t", "sync_time", "Sync", id="sync_time"),
        Binding("c", "copy_settings", "Copy", id="copy_settings"),
        Binding("p", "make_prime", "Prime", id="make_prime", show=False),
        Binding("f", "format", "Format", id="format"),
        Binding("o", "power_off", "Off", id="power_off"),
        Binding("d", "download", "Offload", id="download"),
        Binding("space", "toggle_select", "Select", id="toggle_select"),
        Binding("slash", "filter", "Filter", id="filter", show=False),
        Binding("n", "nickname", "Nickname", id="nickname", show=False),
        Binding("l", "show_log_path", "Log file", id="show_log_path", show=False),
        Binding("h", "check", "Check", id="check", show=False),
        Binding("a", "acknowledge", "Ack", id="acknowledge", show=False),
        Binding("j", "next_problem", "Next problem", id="next_problem", show=False),
        Binding("x", "clear_selection", "Clear selection", id="clear_selection", show=False),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("ctrl+q", "quit", "Quit", id="quit", show=False, priority=True),
    ]

    def __init__(
        self,
        config: Config,
        rig: RigOptions,
        *,
        state: UserState,
        session_log: SessionLog,
        ledger: Ledger,
        shotlog: ShotLog,
        pis: list[PiLink],
    ) -> None:
        super().__init__()
        self.ansi_theme_dark = self.ansi_theme_light = TERMINAL_COLOURS
        self.config = config
        self.session = RigSession(rig, on_event=self.log_event, log=shotlog, prime=lambda: self.prime)
        self.rig = self.session.rig
        self.state = state
        self.session_log = session_log
        self.ledger = ledger
        self.shotlog = shotlog
        self.keymap_overrides = {action: key for action, key in config.keys.items() if key}
        self.offload_dest = config.offload.dest
        self.offload_run: OffloadRun | None = None
        self.offload_running = False
        self.pis = pis
        for link in self.pis:  # a Pi's day/night switches, saves and link changes go to the log
            link.on_event = lambda event: self.log_event(Line(event.text, event.problem))
        self.snapshots: list[CameraSnapshot] = []
        self.last_spread_ms: float | None = None
        self.selected: set[str] = set()
        self.filter_text = ""
        self.busy_actions: set[str] = set()
        self.animation_level = "none"  # over SSH every frame costs
        self._summary: Text | None = None
        self._applies: set[str] | None = None
        self.pulling: set[str] = set()  # the Pis a pull is copying from now
        # config.toml's [[hosts]], unless cameras were named: the app drives every host's agent
        self.hosts = (
            Hosts(config, chosen_hosts(config), on_event=self.log_host_event)
            if config.hosts and not rig.named
            else None
        )
        self.hosts_offloading = False
        self.hosts_progress: dict[str, str] = {}

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield MessageLine(id="message")
        yield CameraTable(hosts=self.hosts is not None, id="cameras")
        yield Input(placeholder="filter: serial, nickname or model (Enter keeps, Escape clears)", id="filter")
        if self.pis:
            yield PiPane(id="pis")
        yield RichLog(id="log", max_lines=2000, wrap=False, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        self.query_one("#filter", Input).display = False
        self.query_one(CameraTable).focus()
        self.log_line(f"rigtui started; session log: {self.session_log.path}")
        if self.hosts is not None:
            self.open_hosts()
        else:
            self.bring_up()
        for link in self.pis:
            self.run_worker(
                link.watch(lambda: self.post_message(PisUpdated())),
                name=f"pi {link.endpoint.name}",
                group=f"pi-{link.endpoint.name}",
                exit_on_error=False,
            )

    # -- background work ------------------------------------------------------------------------
    @work(group="discovery", exit_on_error=False)
    async def bring_up(self) -> None:
        """Bring the cameras up, keep listening for new ones, then poll forever."""
        await self.session.follow()
        self.post_message(SnapshotsUpdated(self.current_snapshots()))
        self.poll()

    @work(group="poller", exclusive=True, exit_on_error=False)
    async def poll(self) -> None:
        """One tick after another; each tick is one batched message."""
        post = lambda snaps: self.post_message(SnapshotsUpdated(snaps))  # noqa: E731
        await (self.hosts.poll_forever(post) if self.hosts is not None else self.rig.run_poller(post))

    def current_snapshots(self) -> list[CameraSnapshot]:
        """Every camera as the core knows it now: the hosts' (HOST/CAMERA) or this computer's rig."""
        return self.hosts.snapshots() if self.hosts is not None else self.rig.snapshots()

    async def on_unmount(self) -> None:
        if self.hosts is not None:
            await self.hosts.close()  # each agent lets its cameras go and ends
        await self.session.close()
        for link in self.pis:
            await link.close()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures become a log line and a notification, never a traceback."""
        if event.state != WorkerState.ERROR:
            return
        self.log_line(f"{event.worker.name or 'background job'} failed: {event.worker.error}", error=True)
        if event.worker.group in ("poller", "discovery"):
            self.poll()  # the poller must not die with one bad tick, nor wait on a failed discovery

    # -- snapshots ------------------------------------------------------------------------------
    @on(SnapshotsUpdated)
    def show_snapshots(self, message: SnapshotsUpdated) -> None:
        self.snapshots = message.snapshots
        self.refresh_view()

    def name_of(self, key: str) -> str:
        return self.state.nicknames.get(key) or key

    def visible(self) -> list[CameraSnapshot]:
        return [s for s in self.snapshots if matches(s, self.name_of(s.key), self.filter_text)]

    def say(self, text: str, *, failure: bool = False) -> None:
        """The message line (never a toast over the table)."""
        with contextlib.suppress(NoMatches):
            self.query_one(MessageLine).say(text, failure=failure)

    def refresh_view(self) -> None:
        try:
            table = self.query_one(CameraTable)
        except NoMatches:
            return  # a tick that arrived while the app was closing
        visible = self.visible()
        summary = summarize(
            self.snapshots,
            self.name_of,
            spread_ms=self.last_spread_ms,
            prime=self.prime,
            selected=len(self.selected),
            filtered=len(visible) if self.filter_text else None,
        )
        if self.hosts is not None:
            summary.append(f" · {self.hosts.host_summary()}", "dim")
        with self.batch_update():
            table.apply((s, self.name_of(s.key), s.key in self.selected) for s in visible)
            bar = self.query_one(SummaryBar)
            if summary != self._summary:  # an idle rig redraws nothing
                self._summary = summary
                bar.update(summary)
        applies = self._actions_that_apply()
        if applies != self._applies:
            self._applies = applies
            self.refresh_bindings()

    # -- selection ------------------------------------------------------------------------------
    @property
    def prime(self) -> str:
        return prime_of(self.config, self.state)

    def targets(self) -> list[str] | None:
        """What actions act on: the selection, else the filtered cameras, else None (all of them)."""
        return action_targets(self.selected, [s.key for s in self.visible()] if self.filter_text else None)

    def target_names(self) -> list[str]:
        keys = self.targets() or [s.key for s in self.snapshots]
        return [self.name_of(k) for k in keys]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out what does not apply now (None greys the key out in the footer); the rig's keys
        belong to the main screen only (False hides them on the others)."""
        if action not in EVERY_SCREEN and len(self.screen_stack) > 1:
            return False
        if action in self.busy_actions:
            return None
        if action in ("record", "stop", "sync_time", "format", "power_off", "download", "copy_settings"):
            return True if action in self._actions_that_apply() else None
        if action in ("make_prime", "toggle_select", "nickname"):
            tables = self.query(CameraTable)
            return True if tables and tables.first().cursor_key else None
        return True

    def _actions_that_apply(self) -> set[str]:
        return actions_that_apply(self.snapshots, self.targets(), bool(self.prime))

    # -- logging --------------------------------------------------------------------------------
    def log_line(self, line: str, *, error: bool = False, warning: bool = False) -> None:
        """A line in the log pane and the session log; errors also pop up, warnings stand out."""
        self.session_log.write(line)
        with contextlib.suppress(NoMatches):  # closing: the file still gets the line
            style = "red" if error else "yellow" if warning else ""
            self.query_one("#log", RichLog).write(Text(line, style=style))
        self.say(line, failure=error)

    def log_event(self, line: Line) -> None:
        self.log_line(line.text, error=line.problem)

    def log_lines(self, lines: Iterable[Line]) -> None:
        for line in lines:
            self.log_event(line)

    def log_report(self, report: Report, verb: str | None = None) -> None:
        verb = verb or report.verb
        for problem in report.problems:
            self.log_line(f"{verb}: not ready: {problem}")
        for outcome in report.outcomes:
            name = self.name_of(outcome.key)
            if outcome.ok:
                self.log_line(f"{verb}: {name}: {outcome.detail}")
            else:
                self.log_line(f"{verb}: {name} FAILED: {outcome.detail}", error=True)
        for warning in report.warnings:
            self.log_line(f"{verb}: warning: {warning}", warning=True)
        if report.refused and not report.outcomes:
            return
        summary = report.summary()
        self.log_line(summary if verb == report.verb else summary.replace(report.verb, verb, 1))

    def run_command(self, action: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run a command on the App (it outlives any screen); its key is greyed out meanwhile."""

        async def wrapped() -> None:
            self.busy_actions.add(action)
            self.refresh_bindings()
            try:
                await job()
            finally:
                self.busy_actions.discard(action)
                self.post_message(SnapshotsUpdated(self.current_snapshots()))

        self.run_worker(wrapped(), name=action.replace("_", " "), group=f"command-{action}", exit_on_error=False)

    # -- actions --------------------------------------------------------------------------------
    def action_record(self) -> None:
        if self.hosts is not None:
            self.hosts_record()
            return

        async def job() -> None:
            report = await record(self.rig, self.targets(), record_options(self.config, self.shotlog))
            if report.refused:
                self.log_report(report)
                if not await self.record_anyway("Cameras not ready", report.problems):
                    return
                report = await record(self.rig, self.targets(), record_options(self.config, self.shotlog, force=True))
            self.last_spread_ms = report.dispatch_spread_ms
            self.log_report(report)

        self.run_command("record", job)

    async def record_anyway(self, title: str, problems: list[str]) -> bool:
        """A refused record's findings, and whether the operator records anyway."""
        details = "\n".join(problems)
        if await self.push_screen_wait(ConfirmScreen(title, f"{details}\n\nRecord anyway?", "Record anyway")):
            return True
        self.log_line("record: cancelled")
        return False

    def action_stop(self) -> None:
        if self.hosts is not None:
            self.hosts_stop()
            return

        async def job() -> None:
            self.log_report(await stop(self.rig, self.targets(), self.shotlog))

        self.run_command("stop", job)

    def action_sync_time(self) -> None:
        if self.hosts is not None:
            self.hosts_everywhere("sync_time", self.hosts.sync_time)
            return

        async def job() -> None:
            self.log_report(await sync_time(self.rig, self.targets()))

        self.run_command("sync_time", job)

    def action_copy_settings(self) -> None:
        if self.hosts is not None:
            hosts, prime = self.hosts, self.prime
            self.hosts_everywhere("copy_settings", lambda: hosts.copy_settings(prime))
            return

        async def job() -> None:
            report = await copy_settings(self.rig, self.prime, self.targets())
            self.log_report(report, f"copy settings from {self.name_of(self.prime)}")

        self.run_command("copy_settings", job)

    def action_make_prime(self) -> None:
        key = self.query_one(CameraTable).cursor_key
        if key is None:
            return
        self.state.prime = key
        self.state.save()
        self.log_line(f"prime camera: {self.name_of(key)} (saved in {self.state.path})")
        self.refresh_view()

    def action_format(self) -> None:
        """The same plan and rule as `rigtui format`; here forcing is offered by the typed question."""

        hosts = self.hosts
        if hosts is not None and self.hosts_refuse_selection("format"):
            return

        async def job() -> None:
            plan: FormatPlan | HostsFormatPlan = (
                await hosts.plan_format(force=True)
                if hosts is not None
                else await plan_format(self.rig, self.ledger, self.targets(), force=True, log=self.shotlog)
            )
            self.log_lines(plan.lines())
            question = plan.confirmation()
            if question is None:
                self.log_line(plan.refusal() or DECLINED, error=True)
                return
            details = "\n".join(line.text for line in plan.lines())
            if question.typed is not None:
                answer = await self.push_screen_wait(PromptScreen(f"{question.question}, or Escape:", details=details))
                confirmed = answer == question.typed
            else:
                confirmed = await self.push_screen_wait(
                    ConfirmScreen("Format SD cards?", f"{question.question}\n\n{details}", "Erase", danger=True)
                )
            if not confirmed:
                self.log_line(DECLINED)
            elif isinstance(plan, HostsFormatPlan) and hosts is not None:
                await self.show_hosts_report(await hosts.execute_format(plan))
            elif isinstance(plan, FormatPlan):
                self.log_report(await execute_format(self.rig, self.ledger, plan))

        self.run_command("format", job)

    def action_power_off(self) -> None:
        async def job() -> None:
            title, details = power_off_question(self.target_names())
            if not await self.push_screen_wait(ConfirmScreen(title, details, "Power off", danger=True)):
                self.log_line("power off: cancelled")
            elif self.hosts is not None:
                await self.show_hosts_report(await self.hosts.power_off())
            else:
                self.log_report(await power_off(self.rig, self.targets()))

        if self.hosts is None or not self.hosts_refuse_selection("power off"):
            self.run_command("power_off", job)

    # -- offload --------------------------------------------------------------------------------
    def action_download(self) -> None:
        self.push_screen(DownloadScreen(self))

    def start_offload(self, dest: str) -> None:
        """Offload every camera (or the selection) to `dest`; the job belongs to the App."""
        if self.hosts is not None:
            self.hosts_offload(dest)
            return
        try:
            options = offload_options(self.config, dest)
        except UsageError as exc:
            self.say(str(exc), failure=True)
            return
        self.offload_dest = dest
        indexes = CameraIndexes(self.config.rig.order, self.state)
        run = OffloadRun(
            self.rig,
            options,
            self.ledger,
            self.targets(),
            on_file_done=self._file_done,
            log=self.shotlog,
            indexes=indexes,
        )
        self.offload_run, self.offload_running = run, True

        async def job() -> None:
            try:
                self.log_lines(await run.prepare())
                report = await run.run()
            except UsageError as exc:
                self.log_line(f"offload: {exc}", error=True)
                return
            finally:
                self.offload_running = False
            self.log_lines(report.summary_lines())
            if report.ok:
                self.say(f"offload finished: {len(report.plan.tasks)} files verified")

        self.run_worker(job(), name="offload", group="offload", exit_on_error=False)

    def _file_done(self, task: FileTask) -> None:
        line = file_line(task)
        if line.problem:  # verified files would drown the log
            self.log_line(f"offload: {line.text}", error=True)

    # -- selection, filter, names ---------------------------------------------------------------
    def action_toggle_select(self) -> None:
        key = self.query_one(CameraTable).cursor_key
        if key is None:
            return
        self.selected.symmetric_difference_update({key})
        self.refresh_view()
        table = self.query_one(CameraTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_clear_selection(self) -> None:
        if self.selected:
            self.say(f"selection cleared ({len(self.selected)} cameras)")
            self.selected.clear()
            self.refresh_view()

    def action_acknowledge(self) -> None:
        """The operator has seen the failures: the message line and the rows calm down."""
        count = self.query_one(MessageLine).acknowledge()
        lines = acknowledge(self.rig, self.targets())
        self.log_lines(lines)
        self.log_line(f"acknowledged {count} failure{'s' if count != 1 else ''}")
        self.post_message(SnapshotsUpdated(self.current_snapshots()))

    @on(SummaryBar.Clicked)
    def action_next_problem(self) -> None:
        """The cursor to the next camera with a problem, the loudest first (wrapping round)."""
        table = self.query_one(CameraTable)
        troubled = [s.key for s in problems_first(self.visible()) if condition(s).problem]
        if not troubled:
            self.say("no camera has a problem")
            return
        current = table.cursor_key
        following = troubled[(troubled.index(current) + 1) % len(troubled)] if current in troubled else troubled[0]
        self.jump_to(following)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.refresh_view()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)
        self.query_one(CameraTable).focus()

    def on_key(self, event: object) -> None:
        box = self.query_one("#filter", Input)
        if getattr(event, "key", None) == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self.query_one(CameraTable).focus()

    def action_nickname(self) -> None:
        key = self.query_one(CameraTable).cursor_key
        if key is None:
            return

        def done(name: str | None) -> None:
            if name is None:
                return
            if name:
                self.state.nicknames[key] = name
            else:
                self.state.nicknames.pop(key, None)
            self.state.save()
            self.refresh_view()

        self.push_screen(PromptScreen(f"Nickname for {key} (empty: none)", self.state.nicknames.get(key, "")), done)

    def action_check(self) -> None:
        """The preflight report of `rigtui check`, on the selection (or every camera), in a dialog."""

        async def job() -> None:
            if self.hosts is not None:
                found = await self.hosts.check()
                verdict, lines, ready = found.verdict, found.lines, found.ready
            else:
                report = await check(self.rig, check_options(self.config, self.prime), self.targets())
                verdict, lines, ready = report.verdict(), report.lines(findings_first=True), report.ready
            self.log_line(f"check: {verdict}", warning=not ready)
            self.push_screen(CheckScreen(verdict, lines, ready=ready))

        self.run_command("check", job)

    async def action_quit(self) -> None:
        """Quitting while an offload or a pull runs asks first, saying what stops and how it resumes."""
        interrupted = []
        if self.offload_running and self.offload_run is not None:
            interrupted.append(self.offload_run.interruption())
        if self.hosts_offloading:
            interrupted.append("The hosts' offloads stop with their agents; offload again and they resume.")
        interrupted += [
            f"Pulling from {name} stops; pull again and it resumes the partial files." for name in sorted(self.pulling)
        ]
        if not interrupted:
            self.exit()
            return

        def answer(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        details = "\n\n".join(interrupted)
        self.push_screen(ConfirmScreen("Quit while copying?", details, "Quit", danger=True), answer)

    def action_help_quit(self) -> None:
        """ctrl+c (Textual's hint for people who expect it to quit), in the message line, not a toast."""
        self.say("ctrl+q quits")

    def action_show_log_path(self) -> None:
        self.say(f"session log: {self.session_log.path}")

    def bindings_in_front(self) -> list[tuple[Binding, DOMNode]]:
        """Every key of the screen in front and what it acts on (Textual's own cursor movement aside):
        on the main screen the app's, the table's and the Pi pane's; on any other screen that
        screen's own and the keys that work everywhere."""
        if len(self.screen_stack) > 1:
            found = [(b, self) for b in declared_bindings(type(self)) if b.action in EVERY_SCREEN]
            found += [(b, self.screen) for b in declared_bindings(type(self.screen))]
        else:
            found = [(b, self) for b in declared_bindings(type(self))]
            found += [(b, self.screen) for b in declared_bindings(type(self.screen))]
            for widget in [self.query_one(CameraTable), *self.query(PiPane)]:
                found += [(b, widget) for b in declared_bindings(type(widget))]
        unique = {(b.key, b.action): (b, node) for b, node in found if not cursor_movement(b)}
        return list(unique.values())

    def action_help(self) -> None:
        keys = []
        for binding, _ in self.bindings_in_front():
            key = self.keymap_overrides.get(binding.id or "", binding.key)
            text = HELP_TEXT.get(binding.id or "") or binding.description or TEXTUAL_HELP.get(binding.action, "")
            keys.append((key_names(key), text))
        keys.append(("ctrl+p", "command palette: actions, jump to a camera"))
        self.push_screen(HelpScreen(keys))

    def jump_to(self, key: str) -> None:
        table = self.query_one(CameraTable)
        if key in table.shown:
            table.move_cursor(row=table.get_row_index(key))
            table.focus()

    def palette_entries(self) -> list[PaletteEntry]:
        """Every key of the screen in front that applies now, and a jump to every camera."""
        entries = []
        for binding, node in self.bindings_in_front():
            if binding.action in ("quit", "help_quit") or node.check_action(binding.action, ()) is not True:
                continue
            help_text = HELP_TEXT.get(binding.id or "", "")
            entries.append(PaletteEntry(binding.description, help_text, partial(node.run_action, binding.action)))
        for snapshot in self.snapshots:
            name = self.name_of(snapshot.key)
            entries.append(
                PaletteEntry(f"Jump to {name}", snapshot.model or "camera", partial(self.jump_to, snapshot.key))
            )
        return entries

    # -- Pis ------------------------------------------------------------------------------------
    @on(PisUpdated)
    def show_pis(self) -> None:
        try:
            pane = self.query_one(PiPane)
        except NoMatches:
            return  # closing
        pane.apply([link.snapshot() for link in self.pis])

    def _pi(self) -> PiLink | None:
        name = self.query_one(PiPane).cursor_name if self.pis else None
        return next((link for link in self.pis if link.endpoint.name == name), None)

    def action_pi_save(self, fmt: str) -> None:
        self._pi_job("save", lambda link: save(link, [fmt]))

    def action_pi_stack(self) -> None:
        self._pi_job("stacked save", save_stacked)

    def _pi_job(self, verb: str, action: Callable[[PiLink], Awaitable[object]]) -> None:
        link = self._pi()
        if link is None:
            return

        async def job() -> None:
            try:
                report = await action(link)
            except PiError as exc:
                self.log_line(f"{link.endpoint.name}: {verb} failed: {exc}", error=True)
                return
            self.log_event(report.line())  # type: ignore[attr-defined]

        self.run_worker(job(), name=f"{link.endpoint.name} {verb}", group="pi-commands", exit_on_error=False)

    def action_pi_preview(self) -> None:
        link = self._pi()
        if link is None:
            return

        async def job() -> None:
            try:
                jpeg = await link.frame(preview_frame_width(self.size))
            except PiError as exc:
                self.log_line(f"{link.endpoint.name}: preview failed: {exc}", error=True)
                return
            self.push_screen(PreviewScreen(link.endpoint.name, jpeg))

        self.run_worker(job(), name="preview", group="pi-commands", exit_on_error=False)

    def action_pi_pull(self) -> None:
        link = self._pi()
        if link is None:
            return
        name = link.endpoint.name

        async def job() -> None:
            dest = await self.push_screen_wait(
                PromptScreen(f"Pull {name}'s captures into:", str(default_pull_folder(name)))
            )
            if not dest:
                return
            self.log_line(f"{name}: pulling captures into {dest}")
            self.pulling.add(name)

            def progress(done: int, total: int) -> None:
                link.pulled = f"pulling {done / 1e6:.1f} of {total / 1e6:.1f} MB"
                self.post_message(PisUpdated())

            try:
                report = await pull(link, Path(dest).expanduser(), progress=progress)
            except PiError as exc:
                self.log_line(f"{name}: pull failed: {exc}", error=True)
                return
            finally:
                self.pulling.discard(name)
            self.log_lines(Line(f"{name}: {line.text}", line.problem) for line in pull_lines(report))

        self.run_worker(job(), name="pull", group="pi-pull", exit_on_error=False)

    # -- several host PCs ([[hosts]]) -------------------------------------------------------------
    @work(group="discovery", exit_on_error=False)
    async def open_hosts(self) -> None:
        """Start every host's agent, then poll them all."""
        assert self.hosts is not None
        names = ", ".join(link.name for link in self.hosts.links)
        self.log_line(f"hosts mode: starting the agents on {names}")
        await self.hosts.open()
        self.log_lines(self.hosts.link_lines())
        self.post_message(SnapshotsUpdated(self.hosts.snapshots()))
        self.poll()

    def log_host_event(self, event: HostEvent) -> None:
        """A host's camera events and link changes go to the log; offload progress to the message line."""
        if event.kind == "progress":
            self.hosts_progress[event.host] = event.text  # the download screen shows each host's
            self.say(event.text)
        else:
            self.log_line(event.text, error=event.problem)

    async def show_hosts_report(self, report: HostsReport) -> None:
        """After an action: every host read at once and the rows redrawn, then the report logged, so
        what the operator reads and the keys that apply (stop after record) follow what just happened."""
        if self.hosts is not None:
            await self.hosts.poll_all()
            self.show_snapshots(SnapshotsUpdated(self.hosts.snapshots()))
        self.log_hosts_report(report)

    def log_hosts_report(self, report: HostsReport) -> None:
        for line in report.lines(force_hint="record anyway"):
            self.log_line(line.text, error=line.problem)

    def hosts_refuse_selection(self, verb: str) -> bool:
        """Across hosts an action acts on every camera: a selection or filter would be ignored, so say no."""
        if self.targets() is None:
            return False
        self.say(
            f"{verb}: across hosts every camera is acted on; clear the selection (x) and filter first", failure=True
        )
        return True

    def hosts_record(self) -> None:
        hosts = self.hosts
        if hosts is None or self.hosts_refuse_selection("record"):
            return

        async def job() -> None:
            report = await hosts.record()
            if report.refused:
                self.log_hosts_report(report)
                if not await self.record_anyway("Hosts not ready", report.problems):
                    return
                report = await hosts.record(force=True)
            spread = report.extra.get("host_spread_ms")
            self.last_spread_ms = spread if isinstance(spread, float | int) else None
            await self.show_hosts_report(report)

        self.run_command("record", job)

    def hosts_everywhere(self, action: str, run: Callable[[], Awaitable[HostsReport]]) -> None:
        """An action every host's agent does on all its cameras (sync time): each outcome logged."""
        if self.hosts_refuse_selection(action.replace("_", " ")):
            return

        async def job() -> None:
            await self.show_hosts_report(await run())

        self.run_command(action, job)

    def hosts_stop(self) -> None:
        hosts = self.hosts
        if hosts is None or self.hosts_refuse_selection("stop"):
            return

        async def job() -> None:
            await self.show_hosts_report(await hosts.stop())

        self.run_command("stop", job)

    def hosts_offload(self, dest: str) -> None:
        """Each host offloads its own cameras into `dest` on its own disks (`{host}`: the host's name)."""
        hosts = self.hosts
        if hosts is None or self.hosts_refuse_selection("offload"):
            return
        if not dest:
            self.say("offload: choose a destination folder on the hosts", failure=True)
            return
        self.offload_dest, self.hosts_offloading, self.offload_running = dest, True, True
        self.hosts_progress.clear()
        self.log_line(f"offload: every host into {dest}")

        async def job() -> None:
            try:
                report = await hosts.offload([dest])
            finally:
                self.hosts_offloading = self.offload_running = False
            self.log_hosts_report(report)

        self.run_worker(job(), name="offload", group="offload", exit_on_error=False)
