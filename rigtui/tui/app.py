"""The rigtui terminal app: a live camera table, keys that act on every camera at once, a log.

The App owns the long jobs (poller, discovery, commands) so leaving a screen never cancels them;
screens and widgets only render snapshots and send intents to the core.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Footer, Input, RichLog
from textual.worker import Worker, WorkerState

from rigtui.gopro.discovery import Endpoint, MdnsBrowser, load_cache, merge, save_cache, scan_usb
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.media import CardContents
from rigtui.gopro.offload import Offload, OffloadError, OffloadOptions, unverified_files
from rigtui.gopro.rig import Report, Rig
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.remote.pilink import PiError, PiLink
from rigtui.sessionlog import SessionLog
from rigtui.tui.camera_table import CameraTable
from rigtui.tui.commands import RigCommands
from rigtui.tui.confirm import ConfirmScreen
from rigtui.tui.download_screen import DownloadScreen
from rigtui.tui.help import HELP_TEXT, HelpScreen
from rigtui.tui.pi_pane import PiPane, PreviewScreen, half_blocks
from rigtui.tui.prompt import PromptScreen
from rigtui.tui.summary_bar import SummaryBar, summarize
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


@dataclass(frozen=True)
class DiscoveryPlan:
    """Where the app looks for cameras beyond the ones it is given."""

    static: tuple[Endpoint, ...] = ()
    mdns_interfaces: tuple[str, ...] | None = None  # None: no mDNS; (): every interface
    usb: bool = False
    cache: bool = False


@dataclass
class OffloadSettings:
    """How the download screen offloads: config.toml's [offload], and the ledger format consults."""

    dest: str = ""
    make_options: Callable[[Path], OffloadOptions] = OffloadOptions
    ledger: Ledger | None = None


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
        Binding("question_mark", "help", "Help", id="help"),
        Binding("ctrl+q", "quit", "Quit", id="quit", show=False, priority=True),
    ]

    def __init__(
        self,
        rig: Rig,
        *,
        endpoints: list[Endpoint],
        discovery: DiscoveryPlan,
        state: UserState,
        session_log: SessionLog,
        keymap: dict[str, str] | None = None,
        config_prime: str = "",
        offload: OffloadSettings | None = None,
        pis: list[PiLink] | None = None,
    ) -> None:
        super().__init__()
        self.rig = rig
        self.endpoints = endpoints
        self.discovery = discovery
        self.state = state
        self.session_log = session_log
        self.keymap_overrides = keymap or {}
        self.config_prime = config_prime
        self.offload_settings = offload or OffloadSettings()
        self.offload_dest = self.offload_settings.dest
        self.offload_job: Offload | None = None
        self.offload_running = False
        self.pis = pis or []
        self.snapshots: list[CameraSnapshot] = []
        self.selected: set[str] = set()
        self.filter_text = ""
        self.busy_actions: set[str] = set()
        self.animation_level = "none"  # over SSH every frame costs
        self._browser: MdnsBrowser | None = None

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield CameraTable(id="cameras")
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
        self.watch_rig()
        for link in self.pis:
            self.run_worker(
                link.watch(lambda: self.post_message(PisUpdated())),
                name=f"pi {link.endpoint.name}",
                group=f"pi-{link.endpoint.name}",
                exit_on_error=False,
            )

    # -- background work ------------------------------------------------------------------------
    @work(group="poller", exclusive=True, exit_on_error=False)
    async def watch_rig(self) -> None:
        """Bring the cameras up, keep discovering, and poll forever (one tick after another)."""
        found = list(self.endpoints) + list(self.discovery.static)
        if self.discovery.usb:
            found += await asyncio.to_thread(scan_usb)
        if self.discovery.cache:
            found += load_cache()
        await self.add_cameras(merge(found))
        if self.discovery.mdns_interfaces is not None:
            self._browser = MdnsBrowser(
                list(self.discovery.mdns_interfaces),
                self.on_camera_found,
                lambda serial: self.log_line(f"{serial}: no longer advertised over mDNS"),
            )
            await self._browser.start()
        await self.rig.run_poller(lambda snaps: self.post_message(SnapshotsUpdated(snaps)))

    async def add_cameras(self, endpoints: list[Endpoint]) -> None:
        outcomes = await self.rig.add(endpoints)
        for outcome in outcomes:
            self.log_line(f"{outcome.key}: {'connected, ' + outcome.detail if outcome.ok else outcome.detail}")
        for line in self.rig.collisions():
            self.log_line(f"warning: {line}", error=True)
        if self.discovery.cache:
            save_cache(
                Endpoint(link.endpoint.host, link.endpoint.port, link.serial)
                for link in self.rig.cameras()
                if link.online
            )
        self.post_message(SnapshotsUpdated(self.rig.snapshots()))

    def on_camera_found(self, endpoint: Endpoint) -> None:
        if endpoint.address not in self.rig.links:
            self.run_worker(self.add_cameras([endpoint]), group="discovery", exit_on_error=False)

    async def on_unmount(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        await self.rig.close()
        for link in self.pis:
            await link.close()

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
        self._pi_command(f"save {fmt}", "save")

    def action_pi_stack(self) -> None:
        self._pi_command("pastStack", "stacked save")

    def _pi_command(self, line: str, verb: str) -> None:
        link = self._pi()
        if link is None:
            return

        async def job() -> None:
            try:
                reply = await link.command(line)
            except PiError as exc:
                self.log_line(f"{link.endpoint.name}: {verb} failed: {exc}", error=True)
                return
            self.log_line(f"{link.endpoint.name}: {reply}", error=not reply.startswith("SAVED"))

        self.run_worker(job(), name=f"{link.endpoint.name} {verb}", group="pi-commands", exit_on_error=False)

    def action_pi_preview(self) -> None:
        link = self._pi()
        if link is None:
            return

        async def job() -> None:
            width = max(20, min(self.size.width - 10, 120))
            try:
                picture = half_blocks(await link.frame(width), width)
            except PiError as exc:
                self.log_line(f"{link.endpoint.name}: preview failed: {exc}", error=True)
                return
            self.push_screen(PreviewScreen(link.endpoint.name, picture))

        self.run_worker(job(), name="preview", group="pi-commands", exit_on_error=False)

    def action_pi_pull(self) -> None:
        link = self._pi()
        if link is None:
            return

        async def job() -> None:
            default = str(Path("~/rigtui-pi").expanduser() / link.endpoint.name)
            dest = await self.push_screen_wait(PromptScreen(f"Pull {link.endpoint.name}'s captures into:", default))
            if not dest:
                return
            self.log_line(f"{link.endpoint.name}: pulling captures into {dest}")

            def progress(done: int, total: int) -> None:
                link.pulled = f"pulling {done / 1e6:.1f} of {total / 1e6:.1f} MB"
                self.post_message(PisUpdated())

            try:
                report = await link.pull(Path(dest).expanduser(), progress=progress)
            except PiError as exc:
                self.log_line(f"{link.endpoint.name}: pull failed: {exc}", error=True)
                return
            for line in report.failed:
                self.log_line(f"{link.endpoint.name}: pull: {line}", error=True)
            self.log_line(f"{link.endpoint.name}: pull: {report.pulled} pulled, {report.skipped} already here")

        self.run_worker(job(), name="pull", group="pi-pull", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures become a log line and a notification, never a traceback."""
        if event.state != WorkerState.ERROR:
            return
        self.log_line(f"{event.worker.name or 'background job'} failed: {event.worker.error}", error=True)
        if event.worker.group == "poller":
            self.watch_rig()  # the poller must not die with one bad tick

    # -- snapshots ------------------------------------------------------------------------------
    @on(SnapshotsUpdated)
    def show_snapshots(self, message: SnapshotsUpdated) -> None:
        self.snapshots = message.snapshots
        self.refresh_view()

    def name_of(self, key: str) -> str:
        return self.state.nicknames.get(key) or key

    def visible(self) -> list[CameraSnapshot]:
        needle = self.filter_text.lower()
        if not needle:
            return self.snapshots
        return [
            s
            for s in self.snapshots
            if needle in s.key.lower() or needle in self.name_of(s.key).lower() or needle in (s.model or "").lower()
        ]

    def refresh_view(self) -> None:
        try:
            table = self.query_one(CameraTable)
        except NoMatches:
            return  # a tick that arrived while the app was closing
        with self.batch_update():
            table.apply((s, self.name_of(s.key), s.key in self.selected) for s in self.visible())
            self.query_one(SummaryBar).update(
                summarize(self.snapshots, self.rig.last_dispatch_spread_ms, self.prime, len(self.selected))
            )
        self.refresh_bindings()

    # -- selection ------------------------------------------------------------------------------
    @property
    def prime(self) -> str:
        return self.state.prime or self.config_prime

    def targets(self) -> list[str] | None:
        """The selected cameras, or None for all."""
        return sorted(self.selected) or None

    def target_names(self) -> list[str]:
        keys = self.targets() or [s.key for s in self.snapshots]
        return [self.name_of(k) for k in keys]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out what does not apply now (None greys the key out in the footer)."""
        online = [s for s in self.snapshots if s.online and (not self.selected or s.key in self.selected)]
        if action in self.busy_actions:
            return None
        if action == "record":
            return True if any(not s.recording for s in online) else None
        if action == "stop":
            return True if any(s.recording for s in online) else None
        if action == "download":
            return True if self.snapshots else None
        if action in ("sync_time", "format", "power_off"):
            return True if online else None
        if action == "copy_settings":
            return True if self.prime and len(self.snapshots) > 1 else None
        if action in ("make_prime", "toggle_select", "nickname"):
            tables = self.query(CameraTable)
            return True if tables and tables.first().cursor_key else None
        return True

    # -- logging --------------------------------------------------------------------------------
    def log_line(self, line: str, *, error: bool = False) -> None:
        self.session_log.write(line)
        with contextlib.suppress(NoMatches):  # closing: the file still gets the line
            self.query_one("#log", RichLog).write(Text(line, style="red" if error else ""))
        if error:
            self.notify(line, severity="error", timeout=6)

    def log_report(self, verb: str, report: Report) -> None:
        for problem in report.problems:
            self.log_line(f"{verb}: not ready: {problem}", error=False)
        for outcome in report.outcomes:
            name = self.name_of(outcome.key)
            if outcome.ok:
                self.log_line(f"{verb}: {name}: {outcome.detail}")
            else:
                self.log_line(f"{verb}: {name} FAILED: {outcome.detail}", error=True)
        if report.problems and not report.outcomes:
            return
        failed = sum(not o.ok for o in report.outcomes)
        spread = (
            f"; dispatch spread {report.dispatch_spread_ms:.2f} ms" if report.dispatch_spread_ms is not None else ""
        )
        summary = f"{verb}: {len(report.outcomes) - failed} of {len(report.outcomes)} cameras ok{spread}"
        self.log_line(summary)
        if not failed and not report.problems:
            self.notify(summary, timeout=3)

    def run_command(self, action: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run a command on the App (it outlives any screen); its key is greyed out meanwhile."""

        async def wrapped() -> None:
            self.busy_actions.add(action)
            self.refresh_bindings()
            try:
                await job()
            finally:
                self.busy_actions.discard(action)
                self.post_message(SnapshotsUpdated(self.rig.snapshots()))

        self.run_worker(wrapped(), name=action.replace("_", " "), group=f"command-{action}", exit_on_error=False)

    # -- actions --------------------------------------------------------------------------------
    def action_record(self) -> None:
        async def job() -> None:
            report = await self.rig.record(self.targets())
            if report.problems:
                self.log_report("record", report)
                details = "\n".join(report.problems)
                if await self.push_screen_wait(
                    ConfirmScreen("Cameras not ready", f"{details}\n\nRecord anyway?", "Record anyway")
                ):
                    report = await self.rig.record(self.targets(), force=True)
                else:
                    self.log_line("record: cancelled")
                    return
            self.log_report("record", report)

        self.run_command("record", job)

    def action_stop(self) -> None:
        async def job() -> None:
            self.log_report("stop", await self.rig.stop(self.targets()))

        self.run_command("stop", job)

    def action_sync_time(self) -> None:
        async def job() -> None:
            self.log_report("sync time", await self.rig.sync_time(self.targets()))

        self.run_command("sync_time", job)

    def action_copy_settings(self) -> None:
        async def job() -> None:
            report = await self.rig.copy_settings(self.prime, self.targets())
            self.log_report(f"copy settings from {self.name_of(self.prime)}", report)

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
        async def job() -> None:
            targets = self.targets()
            contents = await self.rig.card_contents(targets)
            erasable = [k for k, v in contents.items() if not isinstance(v, str)]
            if not erasable:
                self.log_line("format: no card could be read; nothing erased", error=True)
                return
            unverified = await unverified_files(self.rig, self.ledger, erasable)
            blocked = {k: files for k, files in unverified.items() if files}
            lines = [f"{self.name_of(k)}: {v if isinstance(v, str) else v.describe()}" for k, v in contents.items()]
            total = CardContents(
                sum(v.files for v in contents.values() if not isinstance(v, str)),
                sum(v.bytes for v in contents.values() if not isinstance(v, str)),
            )
            title = f"Erase the SD cards of {len(erasable)} camera{'s' if len(erasable) != 1 else ''}?"
            if blocked:
                missing = sum(len(f) for f in blocked.values())
                listed = [
                    f"{self.name_of(k)}: {', '.join(f[:3])}{' …' if len(f) > 3 else ''}" for k, f in blocked.items()
                ]
                details = (
                    f"{missing} file(s) on {len(blocked)} camera(s) are NOT verified as offloaded and would be "
                    "lost:\n\n"
                    + "\n".join(listed)
                    + f"\n\nThis erases {total.describe()} in all.\n\n"
                    + "\n".join(lines)
                )
                answer = await self.push_screen_wait(
                    PromptScreen(
                        f"{title}\n\n{details}\n\nType the number of cameras ({len(erasable)}) to erase "
                        "unverified footage, or Escape:"
                    )
                )
                if answer != str(len(erasable)):
                    self.log_line(f"format: refused, {missing} unverified file(s); nothing erased")
                    return
            else:
                details = (
                    f"This erases {total.describe()} in all; every file is verified as offloaded.\n\n"
                    + "\n".join(lines)
                )
                if not await self.push_screen_wait(ConfirmScreen(title, details, "Erase", danger=True)):
                    self.log_line("format: cancelled, nothing erased")
                    return
            self.log_report("format", await self.rig.erase(erasable))

        self.run_command("format", job)

    @property
    def ledger(self) -> Ledger:
        if self.offload_settings.ledger is None:
            self.offload_settings.ledger = Ledger()
        return self.offload_settings.ledger

    def action_download(self) -> None:
        self.push_screen(DownloadScreen())

    def start_offload(self, dest: str) -> None:
        """Offload every camera (or the selection) to `dest`; the job belongs to the App."""
        if not dest:
            self.notify("choose a destination folder", severity="warning")
            return
        self.offload_dest = dest
        job = Offload(self.rig, self.offload_settings.make_options(Path(dest)), self.ledger, self.targets())
        self.offload_job, self.offload_running = job, True

        async def run() -> None:
            try:
                plan = await job.prepare()
                for camera, why in plan.unreachable.items():
                    self.log_line(f"offload: {camera}: {why}", error=True)
                for camera, rejected in plan.rejected.items():
                    for line in rejected:
                        self.log_line(f"offload: {camera}: left out {line}", error=True)
                self.log_line(
                    f"offload to {job.root}: {len(plan.tasks)} files in {len(plan.takes)} takes, "
                    f"{plan.already} already verified"
                )
                await job.run()
            except OffloadError as exc:
                self.log_line(f"offload: {exc}", error=True)
                return
            finally:
                self.offload_running = False
            failed = [t for t in plan.tasks if t.state != "verified"]
            for task in failed:
                self.log_line(f"offload: {task.camera} {task.file.path} FAILED: {task.error}", error=True)
            self.log_line(
                f"offload: {len(plan.tasks) - len(failed)} of {len(plan.tasks)} files verified; "
                f"{len(job.sealed)} take manifests written"
            )
            if not failed:
                self.notify(f"offload finished: {len(plan.tasks)} files verified", timeout=5)

        self.run_worker(run(), name="offload", group="offload", exit_on_error=False)

    def action_power_off(self) -> None:
        async def job() -> None:
            names = self.target_names()
            details = "\n".join(names) + "\n\nOver USB nothing wakes a sleeping camera: its button must."
            title = f"Power off {len(names)} camera{'s' if len(names) != 1 else ''}?"
            if await self.push_screen_wait(ConfirmScreen(title, details, "Power off", danger=True)):
                self.log_report("power off", await self.rig.power_off(self.targets()))
            else:
                self.log_line("power off: cancelled")

        self.run_command("power_off", job)

    def action_toggle_select(self) -> None:
        key = self.query_one(CameraTable).cursor_key
        if key is None:
            return
        self.selected.symmetric_difference_update({key})
        self.refresh_view()
        table = self.query_one(CameraTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

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

    def action_show_log_path(self) -> None:
        self.notify(f"session log: {self.session_log.path}", timeout=10)

    def action_help(self) -> None:
        keys = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            key = self.keymap_overrides.get(binding.id or "", binding.key)
            keys.append((key.replace("question_mark", "?").replace("slash", "/"), HELP_TEXT[binding.id or ""]))
        keys.append(("ctrl+p", "command palette: actions, jump to a camera"))
        self.push_screen(HelpScreen(keys))

    def jump_to(self, key: str) -> None:
        table = self.query_one(CameraTable)
        if key in table.shown:
            table.move_cursor(row=table.get_row_index(key))
            table.focus()
