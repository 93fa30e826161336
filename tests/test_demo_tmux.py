"""`rigtui demo` in a real terminal (tmux): keys in, screen out, and nothing left behind on quit."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


class Pane:
    def __init__(self, session: str) -> None:
        self.session = session

    def text(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.session, *keys)

    def processes(self) -> set[int]:
        """The pane's shell and every process under it (the demo, anything it started)."""
        found = {int(tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())}
        table = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
        children = [tuple(map(int, line.split())) for line in table.splitlines()]
        grown = True
        while grown:
            grown = False
            for pid, ppid in children:
                if ppid in found and pid not in found:
                    found.add(pid)
                    grown = True
        return found

    def wait(self, condition: Callable[[str], bool], timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if condition(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"screen never matched:\n{self.text()}")


def listening_on_rig_addresses(pids: set[int]) -> list[str]:
    """Sockets these processes still listen on at the rig's addresses (other test runs may use them too)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    owned = [line for line in out.splitlines() if " 127.0.1." in line]
    return [line for line in owned if any(f"pid={pid}," in line for pid in pids)]


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    session = f"rigtui-demo-{os.getpid()}"
    env = " ".join(
        f"{name}={shlex.quote(str(tmp_path / name.lower()))}"
        for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TMPDIR")
    )
    (tmp_path / "tmpdir").mkdir()
    command = (
        f"cd {shlex.quote(str(tmp_path))} && env {env} {shlex.quote(sys.executable)} -m rigtui demo; "
        "echo DEMO-EXITED $?; sleep 60"
    )
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command)
    try:
        yield Pane(session)
    finally:
        tmux("kill-session", "-t", session)


def test_demo_shows_the_rig_and_the_pi_records_stops_and_quits_cleanly(pane: Pane, tmp_path: Path) -> None:
    """The demo through a real terminal: record with one camera refusing (someone in its menus); its
    row and the summary say NOT REC and keep saying it until `a` acknowledges; stop; quit."""

    def rows(screen: str) -> list[str]:
        return [line for line in screen.splitlines() if re.search(r"C3\d{12} +HERO1\d ", line)]

    screen = pane.wait(lambda s: "ONLINE 12/12" in s and len(rows(s)) >= 10)  # the rest scroll at 80x24
    assert {model for model in ("HERO10", "HERO11", "HERO12", "HERO13") if any(model in r for r in rows(screen))} == {
        "HERO10",
        "HERO11",
        "HERO12",
        "HERO13",
    }
    assert "14%" in screen and "LOW BAT" in screen, "the weak-battery camera shows"
    demo = pane.processes()

    pane.keys("r")
    screen = pane.wait(lambda s: "Cameras not ready" in s and "battery 14%" in s and "in its menus" in s)
    in_menus = re.search(r"(C3\d{12}): someone is in its menus", screen)
    assert in_menus, "the check names the camera someone is in the menus of"
    serial = in_menus.group(1)
    pane.keys("y")
    screen = pane.wait(lambda s: f"NOT REC: {serial[:3]}…{serial[-4:]}" in s and "11 of 12 cameras ok" in s)
    assert "HTTP 409" in screen, "the camera's refusal shows"
    row = next(line for line in screen.splitlines() if serial in line and "HERO1" in line)
    assert "NOT REC" in row and "●" not in row, "that camera does not record, and says so"
    assert screen.splitlines().index(row) < min(i for i, line in enumerate(screen.splitlines()) if "● REC" in line), (
        "the row that is not recording is above the ones that are"
    )
    pane.wait(lambda s: sum(re.search(r"●\d\d:\d\d", line) is not None for line in s.splitlines()) >= 10)
    time.sleep(2)
    assert f"NOT REC: {serial[:3]}…{serial[-4:]}" in pane.text(), "it stays until acknowledged"
    pane.keys("a")
    screen = pane.wait(lambda s: "NOT REC" not in s and "acknowledged" in s)

    pane.keys("s")
    pane.wait(lambda s: "stop: 12 of 12 cameras ok" in s and "● REC" not in s)

    pane.wait(lambda s: re.search(r"pi-sim +online +DAY", s) is not None)
    pane.wait(lambda s: re.search(r"pi-sim +online +NIGHT", s) is not None, timeout=40)

    pane.keys("C-q")
    pane.wait(lambda s: "DEMO-EXITED 0" in s)
    assert listening_on_rig_addresses(demo) == []
    assert not list((tmp_path / "tmpdir").glob("rigtui-demo-*")), "the demo's own folder is gone"
    assert not (tmp_path / "xdg_data_home").exists(), "nothing in the user's data folder"
