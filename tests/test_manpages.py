# SPDX-License-Identifier: MIT
"""Man pages and command-line parsers agree (STYLE B4).

Every console script has a POD page in ``man/``; every ``--switch`` that
the command's ``--help`` lists is an ``=item B<--switch>`` in the page, and
the reverse; ``podchecker`` finds no error.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pysilk_ext.vpcparse import Reason
from tests.conftest import REPO, SCRIPTS, script_main

ITEM_RE = re.compile(r"^=item B<(--[a-z0-9-]+)>", re.MULTILINE)
HELP_RE = re.compile(r"^(--[a-z0-9-]+) (?:No|Req|Opt) Arg\.", re.MULTILINE)


def _help_switches(name: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    assert 0 == script_main(name)(["--help"])
    return set(HELP_RE.findall(capsys.readouterr().out))


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_command_has_a_pod(name: str) -> None:
    """Each console script ships its POD source."""
    assert (REPO / "man" / f"{name}.pod").is_file()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_pod_items_match_help(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The POD documents exactly the switches the parser accepts."""
    pod = (REPO / "man" / f"{name}.pod").read_text()
    assert _help_switches(name, capsys) == set(ITEM_RE.findall(pod))


@pytest.mark.skipif(shutil.which("podchecker") is None, reason="no perl")
def test_podchecker_clean() -> None:
    """podchecker reports no errors in any page."""
    pods = sorted(str(p) for p in (REPO / "man").glob("*.pod"))
    if not pods:
        pytest.skip("no POD pages yet")
    result = subprocess.run(
        ["podchecker", *pods], capture_output=True, text=True, check=False
    )
    assert "" == "\n".join(
        line for line in result.stderr.splitlines() if "ERROR" in line
    )
    assert 0 == result.returncode


def test_every_bad_line_reason_is_documented() -> None:
    """rwvpc2silk(1) lists every reason a bad line is counted under
    (Transit Gateway records are counted apart), and nothing else."""
    pod = (REPO / "man" / "rwvpc2silk.pod").read_text()
    listed = set(re.findall(r"^=item C<([a-z0-9-]+)>$", pod, re.MULTILINE))
    assert {str(r) for r in Reason} - {str(Reason.TGW_RECORD)} == listed
