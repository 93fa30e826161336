"""The README's two set-up commands stay true: CI runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README starts with a sh block"
    return block.group(1).strip().splitlines()


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme.index("```sh") < readme.index("\n## ")
    demo, tests = setup_commands()
    assert demo.startswith("pip install -e . && rigtui ")
    assert tests == "pip install -e '.[test]' && pytest"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    install, run = setup_commands()[1].split(" && ")
    assert install in ci and re.search(rf"^{run}\b", ci, re.M)


def test_every_test_the_guarantees_name_exists() -> None:
    """The footage guarantees name the tests that prove them: those tests must exist."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## What rigtui guarantees about your footage", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", section)
    current = ""
    checked = 0
    for path, test in named:
        current = path or current
        source = (REPO / current).read_text()
        if test:
            assert f"def {test}(" in source, f"{current}::{test} is named in the README but does not exist"
        checked += 1
    assert checked >= 15
