# SPDX-License-Identifier: MIT
"""Read the golden fixtures' MANIFEST.md and replay its commands.

Each fixture row names the file and the exact SiLK command that made it.
Tests use this to (a) take inputs such as rwpmaplookup's keys or the
invocation text from the fixture record rather than retyping them, and
(b) re-run a fixture's command line against files our code wrote, so the
comparison with the golden text is like for like.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

_ROW = re.compile(r"^\| `([^`]+)` \| \d+ \| `[0-9a-f]{64}` \| `(.*)` \|$")


def manifest_commands(fixtures: Path, section: str) -> dict[str, str]:
    """Map file name -> command of one MANIFEST section (``pmap/``...)."""
    text = (fixtures / "MANIFEST.md").read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end >= 0 else len(text)]
    commands = {}
    for line in body.splitlines():
        m = _ROW.match(line)
        if m:
            commands[m.group(1)] = m.group(2).replace("\\|", "|")
    return commands


def command_argv(command: str) -> list[list[str]]:
    """Split a MANIFEST command (``sh -c A | B > out``) into argvs."""
    command = command.removeprefix("sh -c ")
    command = re.sub(r"\s*>\s*\S+\s*$", "", command)
    return [shlex.split(part) for part in command.split(" | ")]


def run_pipeline(
    argvs: list[list[str]], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argvs`` as a pipeline; return the last process's result."""
    data: bytes | None = None
    result: subprocess.CompletedProcess[bytes] | None = None
    for argv in argvs:
        result = subprocess.run(
            argv, input=data, cwd=cwd, env=env, capture_output=True,
            check=False, timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            return result
        data = result.stdout
    assert result is not None
    return result


def recorded_invocation(rwfileinfo_text: str) -> str | None:
    """The first command line rwfileinfo lists (None when absent)."""
    lines = rwfileinfo_text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("command-lines") and i + 1 < len(lines):
            return lines[i + 1].strip().split("  ", 1)[1]
    return None
