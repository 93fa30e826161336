"""The layers of DESIGN.md, enforced: who may import whom, and no import cycles anywhere.

The rules read every `import` in the package (inside functions and `if TYPE_CHECKING:` blocks too),
so a lazy import does not slip a layer past them. One more test imports the core with Textual
blocked, proving it works without the TUI.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rigtui"
DEVICES = (
    "rigtui.gopro",
    "rigtui.pi",
    "rigtui.remote",
    "rigtui.config",
    "rigtui.paths",
    "rigtui.files",
    "rigtui.text",
    "rigtui.userstate",
)
CORE = (*DEVICES, "rigtui.sessionlog", "rigtui.ops")
SIM_MAY_IMPORT = ("rigtui.sim", "rigtui.pi", "rigtui.gopro.protocol", "rigtui.gopro.spec_tables")
APP_LAUNCHER = "rigtui.cli.app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every module `name` imports: rigtui modules by their most specific existing name, others by
    their top-level package."""
    path = MODULES[name]
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, `level - 1` steps up
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("rigtui"):
                while target not in MODULES:
                    target = target.rpartition(".")[0]
                found.add(target)
            else:
                found.add(target.split(".")[0])
    found.discard(name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(modules: tuple[str, ...] | str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if within(name, modules)
        for target in targets
        if within(target, forbidden)
    )


def test_the_walk_sees_the_whole_package() -> None:
    assert {"rigtui.ops.format", "rigtui.cli.main", "rigtui.tui.app", "rigtui.gopro.warm"} <= set(GRAPH)
    assert "rigtui.ops.format" in GRAPH["rigtui.cli.footage"] and "textual" in GRAPH["rigtui.tui.app"]


def test_the_core_never_imports_a_front_end() -> None:
    assert offenders(CORE, ("textual", "rich", "argparse", "rigtui.cli", "rigtui.tui")) == []


def test_devices_and_files_never_import_the_operations_above_them() -> None:
    assert offenders(DEVICES, ("rigtui.ops", "rigtui.sim")) == []


def test_the_tui_never_imports_the_cli_or_argparse() -> None:
    assert offenders("rigtui.tui", ("rigtui.cli", "argparse")) == []


def test_only_one_entry_point_launches_the_app() -> None:
    importers = sorted(
        name
        for name, targets in GRAPH.items()
        if not within(name, "rigtui.tui") and any(within(t, "rigtui.tui") for t in targets)
    )
    assert importers == [APP_LAUNCHER]


def test_simulators_never_import_the_client_they_test() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if within(name, "rigtui.sim")
        for target in targets
        if target.startswith("rigtui") and not within(target, SIM_MAY_IMPORT)
    ]
    assert wrong == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_is_no_import_cycle_anywhere() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


BLOCK_TEXTUAL = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "textual" or name.startswith("textual."):
            raise ImportError("textual is blocked in this test")
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
assert not any(m == "textual" or m.startswith("textual.") for m in sys.modules)
"""


def test_the_core_and_the_command_line_load_with_textual_unavailable() -> None:
    """Headless commands never load Textual: the app's launcher imports it only to start the app."""
    names = [name for name in MODULES if within(name, (*CORE, "rigtui.cli"))]
    result = subprocess.run([sys.executable, "-c", BLOCK_TEXTUAL, *names], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
