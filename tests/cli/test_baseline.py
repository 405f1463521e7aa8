# SPDX-License-Identifier: MIT
"""SiLK's baseline cases, for every console script of pyproject.toml.

``--help`` and ``--version`` (stdout, exit 0) and the lone command (the
error SiLK gives when a tool has nothing to do, exit 1) behave the same
way for every command (STYLE B4/B5), so they are tested once here over
the ``[project.scripts]`` table; each ``tests/cli/test_<cmd>.py`` keeps
its command's own cases and error messages.
"""

from __future__ import annotations

import importlib
import re
import sys

import pytest

from pysilk_ext import __version__
from pysilk_ext.cli._app import SilkArgumentParser
from tests.cli.stdio_support import FakeStdin
from tests.conftest import SCRIPTS, script_main

NO_INPUT = (
    "No input files on command line and stdin is connected to a terminal"
)

#: A command run with no input, stdin on a terminal: its arguments and
#: its error (default: no arguments, SiLK's no-input error).  These
#: commands need a switch or an argument before they look for input.
LONE: dict[str, tuple[list[str], str]] = {
    "rwvpcmapbuild": ([], "Must specify --output-path or --update"),
    "rwvpcmapdiff": ([], "Missing OLD-MAP argument"),
    "rwvpcmaplookup": (["--map=x.vpcmap"], NO_INPUT),
}

SWITCH_LINE = re.compile(r"^--[a-z0-9-]+ (No|Req|Opt) Arg\. ")
KINDS = {0: "No", "?": "Opt"}


def _parser(name: str) -> SilkArgumentParser:
    module, _, _ = SCRIPTS[name].partition(":")
    parser: SilkArgumentParser = importlib.import_module(module).build_parser()
    return parser


@pytest.fixture(params=sorted(SCRIPTS))
def name(request: pytest.FixtureRequest) -> str:
    """Each console script in turn."""
    command: str = request.param
    return command


def test_lone_cases_name_scripts() -> None:
    """LONE names only real console scripts (a renamed command fails
    here instead of silently losing its case)."""
    assert set() == set(LONE) - set(SCRIPTS)


def test_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints SiLK's usage layout on stdout and exits 0: the usage
    line, the description indented by a tab, then one line per switch
    saying whether it takes no, a required or an optional argument."""
    status = script_main(name)(["--help"])
    out, err = capsys.readouterr()
    assert (0, "") == (status, err)
    parser = _parser(name)
    lines = out.splitlines()
    assert f"{name} [SWITCHES] {parser.usage_tail}".rstrip() == lines[0]
    assert lines[1].startswith("\t")
    switches = lines[lines.index("SWITCHES:") + 1 :]
    assert [] == [s for s in switches if not SWITCH_LINE.match(s)]
    expected = [
        f"{action.option_strings[0]} {KINDS.get(action.nargs, 'Req')} Arg."
        for action in parser._actions
        if action.option_strings
    ]
    assert expected == [" ".join(s.split()[:3]) for s in switches]


def test_version(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints SiLK's configuration block and exits 0."""
    status = script_main(name)(["--version"])
    out, err = capsys.readouterr()
    assert (0, "") == (status, err)
    assert out.startswith(
        f"{name}: part of pysilk_ext {__version__}; configuration settings:\n"
    )
    assert "\n    * Python: " in out


def test_lone_command(
    name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing to do and stdin on a terminal: the command's error, the
    usage hint, nothing on stdout, exit 1."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    argv, message = LONE.get(name, ([], NO_INPUT))
    status = script_main(name)(argv)
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert f"{name}: {message}\nUse '{name} --help' for usage\n" == err
