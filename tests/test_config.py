"""config.toml: the shipped file is true to the defaults, and every bad input is one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rigtui.config import SCHEMA, ConfigError, load, parse

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_documents_every_option_with_its_default() -> None:
    text = (REPO / "config.toml").read_text()
    shipped, defaults = parse(text), parse("")
    assert (shipped.rig, shipped.sim, shipped.offload, shipped.keys) == (
        defaults.rig,
        defaults.sim,
        defaults.offload,
        defaults.keys,
    )
    for section, options in SCHEMA.items():
        assert f"[{section}]" in text
        lines = text.splitlines()
        for key in options:
            index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
            assert lines[index - 1].startswith("#"), f"{key} has no comment"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sim]\ncameras = 0\n", "x.toml:2: [sim] cameras: expected an integer from 1 to 1000, got 0"),
        ("[sim]\n\ncameras = true\n", "x.toml:3: [sim] cameras: expected an integer from 1 to 1000, got True"),
        (
            '[sim]\nmodels = ["HERO9"]\n',
            "x.toml:2: [sim] models: expected a list of models from HERO10, HERO11, HERO12, HERO13, got ['HERO9']",
        ),
        ('[sim]\nbase_address = "10.0.0.1"\n', "x.toml:2: [sim] base_address: expected a string, got '10.0.0.1'"),
        ("[sim]\ncamreas = 3\n", "x.toml:2: [sim] camreas: unknown option"),
        (
            "[gopro]\nx = 1\n",
            "x.toml:1: [gopro]: unknown section (known: [rig], [offload], [pi], [remote], [keys], [sim], [[pis]])",
        ),
        ("[sim\ncameras = 3\n", "x.toml:1: not valid TOML ("),
    ],
)
def test_bad_values_name_file_line_key_and_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(text, Path("x.toml"))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_pis_entries_are_checked_one_by_one() -> None:
    text = '[[pis]]\nname = "a"\nhost = "pi-a"\n\n[[pis]]\nname = "b"\nhots = "pi-b"\n'
    with pytest.raises(ConfigError) as error:
        parse(text, Path("x.toml"))
    assert str(error.value) == "x.toml:5: [[pis]] #2 hots: unknown option"
    with pytest.raises(ConfigError, match="two entries are named 'a'"):
        parse('[[pis]]\nname = "a"\nhost = "x"\n[[pis]]\nname = "a"\nhost = "y"\n')
    assert [p.host for p in parse(text.replace("hots", "host")).pis] == ["pi-a", "pi-b"]


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")


def test_cli_exits_2_with_one_line_on_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[sim]\nthrottle_mbps = "fast"\n')
    result = subprocess.run(
        [sys.executable, "-m", "rigtui", "--config", str(bad), "sim"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"rigtui: {bad}:2: [sim] throttle_mbps: expected a number from 0 to 10000, got 'fast'"
    ]


def test_bad_fault_in_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[sim]\ncameras = 2\nfaults = ["1:gremlins"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "rigtui", "--config", str(bad), "sim"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"rigtui: {bad}:3: [sim] faults: unknown fault 'gremlins'")
