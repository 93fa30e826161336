"""config.toml: the shipped file is true to the defaults, and every bad input is one clear line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import MISSING, asdict, fields
from pathlib import Path

import pytest

from rigtui.config import SECTIONS, ConfigError, load, parse

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_documents_every_option_with_its_default() -> None:
    text = (REPO / "config.toml").read_text()
    shipped, defaults = parse(text), parse("")
    assert [getattr(shipped, s) for s in SECTIONS] == [getattr(defaults, s) for s in SECTIONS]
    for section, options in SECTIONS.items():
        assert f"[{section}]" in text
        lines = text.splitlines()
        for option in fields(options):
            index = next(i for i, line in enumerate(lines) if line.startswith(f"{option.name} ="))
            assert lines[index - 1].startswith("#"), f"{option.name} has no comment"


def test_an_empty_file_gives_every_option_its_declared_default() -> None:
    config = parse("")
    for section, options in SECTIONS.items():
        parsed = getattr(config, section)
        declared = {
            option.name: option.default_factory() if option.default is MISSING else option.default
            for option in fields(options)
        }
        assert (parsed if section == "keys" else asdict(parsed)) == declared, section
    assert config.pis == []


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
        ('[keys]\nrecord = "R"\n', "x.toml:2: [keys] record: expected a string, got 'R'"),
        ('[keys]\nrecrod = "r"\n', "x.toml:2: [keys] recrod: unknown option"),
        (
            "[gopro]\nx = 1\n",
            "x.toml:1: [gopro]: unknown section "
            "(known: [rig], [offload], [record], [pi], [remote], [keys], [sim], [[pis]], [[hosts]])",
        ),
        ("[sim\ncameras = 3\n", "x.toml:1: not valid TOML ("),
    ],
)
def test_bad_values_name_file_line_key_and_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(text, Path("x.toml"))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize("number", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_is_refused(number: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(f"[pi]\nfps = 10\nnight_gain = {number}\n", Path("x.toml"))
    assert str(error.value) == f"x.toml:3: [pi] night_gain: expected a number from 1 to 64, got {number}"


def test_pis_entries_are_checked_one_by_one() -> None:
    text = '[[pis]]\nname = "a"\nhost = "pi-a"\n\n[[pis]]\nname = "b"\nhots = "pi-b"\n'
    with pytest.raises(ConfigError) as error:
        parse(text, Path("x.toml"))
    assert str(error.value) == "x.toml:5: [[pis]] #2 hots: unknown option"
    with pytest.raises(ConfigError) as error:
        parse(text.replace("hots", "port = 70000\nhost"), Path("x.toml"))
    assert str(error.value) == "x.toml:5: [[pis]] #2 port: expected an integer from 0 to 65535, got 70000"
    with pytest.raises(ConfigError) as error:
        parse('[[pis]]\nname = "a"\n', Path("x.toml"))
    assert str(error.value) == "x.toml:1: [[pis]] #1 host: missing (every entry needs it)"
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
