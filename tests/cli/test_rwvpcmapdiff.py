# SPDX-License-Identifier: MIT
"""rwvpcmapdiff: change events as JSON lines and the alerting status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pysilk_ext.cli import rwvpcmapbuild, rwvpcmapdiff
from tests.cli.rwvpcmap_support import (
    FakeStdin,
    _clean_env,  # noqa: F401 - autouse fixture
    build_map,
    reuse_records,
    write_log,
)
from tests.conftest import SEED_LOG
from tests.ctxmap_support import rec

USAGE = "Use 'rwvpcmapdiff --help' for usage\n"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """Run rwvpcmapdiff in-process; return status, stdout, stderr."""
    status = rwvpcmapdiff.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def maps(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An old map (vpc-0a's first hour) and the logs of a later hour in
    which 10.0.0.5 is re-bound, a new VPC with a new interface appears,
    a new S3 address is used and eni-0b7 falls silent; the new map is
    the old one updated with them."""
    recs = reuse_records()
    old_log = write_log(tmp_path / "old.log", [recs[0], recs[3], recs[4]])
    later = [
        rec(
            srcaddr="10.0.0.5",
            dstaddr="198.51.100.9",
            vpc_id="vpc-0a",
            interface_id="eni-0a2",
            instance_id="i-0a2",
            start=9000,
            end=9060,
        ),
        rec(
            srcaddr="10.9.0.1",
            dstaddr="52.216.215.7",
            vpc_id="vpc-0c",
            interface_id="eni-0c1",
            instance_id="i-0c1",
            account_id="222233334444",
            pkt_dst_aws_service="S3",
            start=9000,
            end=9060,
        ),
    ]
    new_log = write_log(tmp_path / "new.log", later)
    old = build_map(tmp_path / "old.vpcmap", old_log)
    new = tmp_path / "new.vpcmap"
    assert 0 == rwvpcmapbuild.main(
        [f"--update={old}", f"--output-path={new}", str(new_log)]
    )
    return old, new, new_log


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --
def test_logs_from_terminal(
    maps: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--logs without logs and stdin a terminal: SiLK's error."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    status, out, err = run(["--logs", str(maps[0])], capsys)
    assert (1, "") == (status, out)
    assert (
        "rwvpcmapdiff: No input files on command line and stdin is "
        "connected to a terminal\n" + USAGE
    ) == err


def test_null_input(
    maps: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A map against itself, or against empty logs: no event, exit 0."""
    old = str(maps[0])
    assert (0, "", "") == run([old, old], capsys)
    assert (0, "", "") == run(["--logs", old], capsys)


# -- events -------------------------------------------------------------------
def test_events(
    maps: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every kind of change, as one JSON object per line, by time; the
    exit status 2 says events were found."""
    old, new, _log = maps
    status, out, err = run([str(old), str(new)], capsys)
    assert (2, "") == (status, err)
    events = _events(out)
    assert [
        ("address-rebound", "1970-01-01T02:30:00Z"),
        ("new-interface", "1970-01-01T02:30:00Z"),
        ("new-interface", "1970-01-01T02:30:00Z"),
        ("new-service-address", "1970-01-01T02:30:00Z"),
        ("new-vpc", "1970-01-01T02:30:00Z"),
        ("interface-quiet", "1970-01-01T02:31:00Z"),
        ("interface-quiet", "1970-01-01T02:31:00Z"),
    ] == [(e["event"], e["time"]) for e in events]
    rebound, iface_a, iface, service, vpc, quiet_a, quiet_b = events
    assert {
        "event": "address-rebound",
        "time": "1970-01-01T02:30:00Z",
        "address": "10.0.0.5",
        "scope": "vpc-0a",
        "old": {
            "interface-id": "eni-0a1",
            "instance-id": "i-0a1",
            "first_seen": 1000,
            "last_seen": 1060,
        },
        "new": {
            "interface-id": "eni-0a2",
            "instance-id": "i-0a2",
            "first_seen": 9000,
            "last_seen": 9060,
        },
    } == rebound
    assert ("eni-0a2", "vpc-0a") == (
        iface_a["interface-id"],
        iface_a["vpc-id"],
    )
    assert ("eni-0c1", "vpc-0c", "222233334444") == (
        iface["interface-id"],
        iface["vpc-id"],
        iface["account-id"],
    )
    assert ("52.216.215.7", "S3") == (
        service["address"],
        service["aws-service"],
    )
    assert "vpc-0c" == vpc["vpc-id"]
    assert ["eni-0a1", "eni-0b7"] == [
        quiet_a["interface-id"],
        quiet_b["interface-id"],
    ]


def test_logs_mode_matches_updated_map(
    maps: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--logs compares with the map an --update would write."""
    old, new, log = maps
    expected = run([str(old), str(new)], capsys)
    assert expected == run(["--logs", str(old), str(log)], capsys)


def test_logs_on_stdin(
    maps: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--logs reads the standard input when no log is named."""
    old, new, log = maps
    expected = run([str(old), str(new)], capsys)
    monkeypatch.setattr(sys, "stdin", FakeStdin(log.read_bytes()))
    assert expected == run(["--logs", str(old)], capsys)


def test_event_filter_and_quiet_after(
    maps: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--events keeps the named events (the status counts only them);
    a long --quiet-after silences the quiet events."""
    old, new, _log = maps
    status, out, _err = run(
        ["--events=new-vpc,new-interface", str(old), str(new)], capsys
    )
    assert 2 == status
    assert ["new-interface", "new-interface", "new-vpc"] == [
        e["event"] for e in _events(out)
    ]
    status, out, _err = run(
        ["--events=interface-quiet", "--quiet-after=100000", str(old),
         str(new)],
        capsys,
    )  # fmt: skip
    assert (0, "") == (status, out)


def test_output_path(
    maps: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--output-path writes the JSON lines to a file."""
    old, new, _log = maps
    target = tmp_path / "events.json"
    status, out, _err = run(
        [f"--output-path={target}", "--events=new-vpc", str(old), str(new)],
        capsys,
    )
    assert (2, "") == (status, out)
    assert ["new-vpc"] == [e["event"] for e in _events(target.read_text())]


def test_seed_against_itself_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seed map against its own logs: nothing changed (idempotence
    seen from the alerting side)."""
    seed = build_map(tmp_path / "seed.vpcmap", SEED_LOG)
    assert (0, "", "") == run(["--logs", str(seed), str(SEED_LOG)], capsys)


# -- errors -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{old}"], "Expected OLD-MAP and NEW-MAP arguments, got 1"),
        (
            ["{old}", "{new}", "{old}"],
            "Expected OLD-MAP and NEW-MAP arguments, got 3",
        ),
        (
            ["--eni-json=x.json", "{old}", "{new}"],
            "The --eni-json switch requires --logs",
        ),
        (
            ["--stop-on-error", "{old}", "{new}"],
            "The --stop-on-error switch requires --logs",
        ),
        (
            ["--quiet-after=1h", "{old}", "{new}"],
            "Invalid quiet-after '1h': Expected a number of seconds",
        ),
        (
            ["--events=moved", "{old}", "{new}"],
            "Invalid events 'moved': Unknown name 'moved'",
        ),
        (
            ["--logs", "--stop-on-error", "--bad-input-lines=b", "{old}"],
            "May not use --stop-on-error when --bad-input-lines is specified",
        ),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    maps: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each usage error prints its message and the usage hint, exit 1."""
    old, new, _log = maps
    argv = [a.format(old=old, new=new) for a in argv]
    status, out, err = run(argv, capsys)
    assert (1, "") == (status, out)
    assert f"rwvpcmapdiff: {message}\n{USAGE}" == err


def test_bad_map_and_log(
    maps: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A foreign map or a missing log is an error (status 1, never 2)."""
    old, _new, _log = maps
    foreign = tmp_path / "f.vpcmap"
    foreign.write_bytes(b"not a map at all" * 8)
    status, out, err = run([str(old), str(foreign)], capsys)
    assert (1, "") == (status, out)
    assert (
        f"rwvpcmapdiff: Cannot read context map '{foreign}': Bad magic "
        "number: not a context map\n"
    ) == err
    missing = tmp_path / "nope.log"
    status, out, err = run(["--logs", str(old), str(missing)], capsys)
    assert (1, "") == (status, out)
    assert (
        f"rwvpcmapdiff: Cannot open '{missing}': No such file or directory\n"
    ) == err


def test_entry_point(maps: tuple[Path, Path, Path]) -> None:
    """The installed console script runs."""
    exe = shutil.which("rwvpcmapdiff")
    if exe is None:
        pytest.skip("rwvpcmapdiff is not installed on PATH")
    result = subprocess.run(
        [exe, "--events=new-vpc", str(maps[0]), str(maps[1])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (2, "") == (result.returncode, result.stderr)
    assert result.stdout.startswith('{"event":"new-vpc"')
