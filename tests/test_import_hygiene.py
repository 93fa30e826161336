"""The core works without the TUI: importing it never imports textual."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "rigtui.config",
    "rigtui.gopro.rig",
    "rigtui.gopro.offload",
    "rigtui.pi.service",
    "rigtui.pi.server",
    "rigtui.remote.pilink",
    "rigtui.sim.rig",
    "rigtui.cli",
]

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


def test_core_packages_import_with_textual_unavailable() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK_TEXTUAL, *CORE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
