# SPDX-License-Identifier: MIT
"""rwvpcmaplookup: the lookup rule in time and scope, inputs, errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pysilk_ext.cli import rwvpcmaplookup
from tests.cli.rwvpcmap_support import (
    FakeStdin,
    _clean_env,  # noqa: F401 - autouse fixture
    rows_of,
)
from tests.conftest import SEED_INTERNAL

USAGE = "Use 'rwvpcmaplookup --help' for usage\n"
DEFAULT_TITLES = [
    "address",
    "status",
    "first-seen",
    "last-seen",
    "az-id",
    "instance-id",
    "interface-id",
    "aws-service",
    "region",
    "subnet-id",
    "account-id",
    "vpc-id",
    "sublocation-id",
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """Run rwvpcmaplookup in-process; return status, stdout, stderr."""
    status = rwvpcmaplookup.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _lookup(
    map_path: Path,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    fields: str = "address,status,first-seen,interface-id,vpc-id",
) -> list[list[str]]:
    status, out, err = run(
        [
            f"--map={map_path}",
            "--delimited",
            "--no-titles",
            "--timestamp-format=epoch",
            f"--fields={fields}",
            *argv,
        ],
        capsys,
    )
    assert (0, "") == (status, err)
    return rows_of(out)


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --
def test_null_input(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No address on an empty standard input: the titles only."""
    status, out, err = run([f"--map={seed_map}", "--delimited"], capsys)
    assert (0, "") == (status, err)
    assert "|".join(DEFAULT_TITLES) + "\n" == out


# -- the seed -----------------------------------------------------------------
def test_seed_internal_address(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10.1.1.50 inside the sample's interval: every field of the talk's
    internal-labelling table, status current."""
    status, out, err = run(
        [f"--map={seed_map}", "--at=2023/07/26T00:00:10", "10.1.1.50"],
        capsys,
    )
    assert (0, "") == (status, err)
    titles, row = (
        [c.strip() for c in line.split("|")[:-1]] for line in out.splitlines()
    )
    assert DEFAULT_TITLES == titles
    got = dict(zip(titles, row, strict=True))
    assert SEED_INTERNAL == {k: got[k] for k in SEED_INTERNAL}
    assert (
        "current",
        "2023/07/26T00:00:06",
        "2023/07/26T00:00:25",
        "-",
    ) == (
        got["status"],
        got["first-seen"],
        got["last-seen"],
        got["aws-service"],
    )


def test_seed_service_and_ranges(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An S3 address seen in the logs answers from its service binding;
    an address only in ip-ranges answers from the layer; an unknown
    address answers nothing."""
    rows = _lookup(
        seed_map,
        capsys,
        "--at=1690329610",
        "52.217.118.120",
        "1.178.4.1",
        "2600:1f18::1",
        "192.0.2.7",
        fields="address,status,relation,aws-service,region",
    )
    assert [
        ["52.217.118.120", "current", "service", "S3", "us-east-1"],
        ["1.178.4.1", "ip-ranges", "ip-ranges", "S3", "us-east-1"],
        ["2600:1f18::1", "ip-ranges", "ip-ranges", "EC2", "us-east-1"],
        ["192.0.2.7", "none", "-", "-", "-"],
    ] == rows


# -- the lookup rule ----------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "scope", "expected"),
    [
        ("900", None, ["none", "-", "-", "-"]),
        ("1030", None, ["current", "1000", "eni-0a1", "vpc-0a"]),
        ("1200", None, ["stale", "1000", "eni-0a1", "vpc-0a"]),
        ("1530", None, ["ambiguous", "-", "(ambiguous)", "vpc-0a,vpc-0b"]),
        ("1530", "vpc-0a", ["stale", "1000", "eni-0a1", "vpc-0a"]),
        ("1530", "vpc-0b", ["current", "1500", "eni-0b1", "vpc-0b"]),
        ("1700", "vpc-0b", ["stale", "1500", "eni-0b1", "vpc-0b"]),
        ("2030", "vpc-0a", ["current", "2000", "eni-0a2", "vpc-0a"]),
        ("5000", "vpc-0a", ["stale", "2000", "eni-0a2", "vpc-0a"]),
        # A VPC that does not hold the address then: answered unscoped.
        ("1030", "vpc-0b", ["current", "1000", "eni-0a1", "vpc-0a"]),
        # Time forms: SiLK's, with hour only, and ISO.
        (
            "1970/01/01T00:17:10",
            None,
            ["current", "1000", "eni-0a1", "vpc-0a"],
        ),
        ("1970/01/01:00", None, ["none", "-", "-", "-"]),
        ("1970-01-01T00:20:00Z", None, ["stale", "1000", "eni-0a1", "vpc-0a"]),
    ],
)
def test_lookup_rule(
    at: str,
    scope: str | None,
    expected: list[str],
    reuse_map: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before the first binding nothing; inside an interval that binding;
    between intervals the previous one, stale, until re-bound; bound in
    two VPCs without a scope: ambiguous, listing the VPCs, and a field
    they disagree on is (ambiguous)."""
    argv = [f"--at={at}", "10.0.0.5"]
    if scope is not None:
        argv.insert(0, f"--scope={scope}")
    assert [["10.0.0.5", *expected]] == _lookup(reuse_map, capsys, *argv)


def test_ambiguous_address_shows_agreeing_fields(
    reuse_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ambiguity is per field: 10.0.0.5 in vpc-0a and vpc-0b (one
    account, one region, no AWS service in either) shows the account and
    region, '-' for the service, (ambiguous) for the instance and subnet,
    and its VPCs in the vpc-id and scope columns."""
    rows = _lookup(
        reuse_map,
        capsys,
        "--at=1530",
        "10.0.0.5",
        fields="status,account-id,region,aws-service,instance-id,"
        "subnet-id,vpc-id,scope",
    )
    assert [
        [
            "ambiguous",
            "111122223333",
            "us-east-1",
            "-",
            "(ambiguous)",
            "(ambiguous)",
            "vpc-0a,vpc-0b",
            "vpc-0a,vpc-0b",
        ]
    ] == rows


def test_default_time_is_map_end(
    reuse_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --at the lookup is at the end of the map's time range."""
    rows = _lookup(
        reuse_map,
        capsys,
        "--scope=vpc-0a",
        "10.0.0.5",
        fields="address,status,time,interface-id",
    )
    assert [["10.0.0.5", "current", "2060", "eni-0a2"]] == rows


def test_streaming_widths(
    reuse_map: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the exact-width limit the address column is 39 wide (any
    IPv6 address fits) and the others take the map's widths."""
    monkeypatch.setattr(rwvpcmaplookup, "EXACT_WIDTH_ROWS", 0)
    status, out, _err = run(
        [f"--map={reuse_map}", "--fields=address,status,vpc-id", "10.0.0.7"],
        capsys,
    )
    assert 0 == status
    assert (
        f"{'10.0.0.7':>39}|{'stale':>9}|{'vpc-0b':>6}|"
        == (out.splitlines()[1])
    )


def test_scope_column(
    reuse_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scope column names the answering binding's VPC, '-' for a
    global one, the candidate VPCs for an ambiguous address."""
    rows = _lookup(
        reuse_map,
        capsys,
        "--at=1530",
        "10.0.0.5",
        "10.0.0.7",
        "52.216.215.0",
        fields="address,scope",
    )
    assert [
        ["10.0.0.5", "vpc-0a,vpc-0b"],
        ["10.0.0.7", "vpc-0b"],
        ["52.216.215.0", "-"],
    ] == rows


# -- inputs -------------------------------------------------------------------
def test_address_file_and_stdin(
    reuse_map: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Addresses from the command line, then files ('#' comments, blank
    lines), in input order; without either, from the standard input."""
    listing = tmp_path / "addrs.txt"
    listing.write_text("# hosts\n10.0.0.7\n\n52.216.215.0  # S3\n")
    rows = _lookup(
        reuse_map,
        capsys,
        f"--address-file={listing}",
        "10.0.0.5",
        "--at=1030",
        fields="address",
    )
    assert [["10.0.0.5"], ["10.0.0.7"], ["52.216.215.0"]] == rows
    monkeypatch.setattr(
        sys, "stdin", FakeStdin(b"10.0.0.7\n::ffff:10.0.0.5\n")
    )
    rows = _lookup(reuse_map, capsys, "--at=1030", fields="address,status")
    assert [["10.0.0.7", "current"], ["10.0.0.5", "current"]] == rows


def test_bad_addresses(
    reuse_map: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad addresses are reported (with path:line from a file) and
    skipped; the good ones are printed; the exit status is 1."""
    listing = tmp_path / "addrs.txt"
    listing.write_text("10.0.0.7\n10.0.0.300\n")
    status, out, err = run(
        [
            f"--map={reuse_map}",
            "--delimited",
            "--no-titles",
            "--fields=address",
            f"--address-file={listing}",
            "host.example",
        ],
        capsys,
    )
    assert (1, "10.0.0.7\n") == (status, out)
    assert (
        "rwvpcmaplookup: Invalid IP address 'host.example': Not an IPv4 or "
        "IPv6 address\n"
        f"rwvpcmaplookup: {listing}:2: Invalid IP address '10.0.0.300': Not "
        "an IPv4 or IPv6 address\n"
    ) == err


def test_map_from_environment(
    reuse_map: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --map: AWSVPC_MAP, else the data root's awsvpc.vpcmap (the
    plug-in's choice)."""
    monkeypatch.setenv("AWSVPC_MAP", str(reuse_map))
    status, out, _err = run(
        ["--delimited", "--no-titles", "--fields=vpc-id", "10.0.0.7"], capsys
    )
    assert (0, "vpc-0b\n") == (status, out)
    monkeypatch.delenv("AWSVPC_MAP")
    (tmp_path / "awsvpc.vpcmap").write_bytes(reuse_map.read_bytes())
    monkeypatch.setenv("SILK_DATA_ROOTDIR", str(tmp_path))
    status, out, _err = run(
        ["--delimited", "--no-titles", "--fields=vpc-id", "10.0.0.7"], capsys
    )
    assert (0, "vpc-0b\n") == (status, out)


def test_output_path(
    reuse_map: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output-path writes the table to a file."""
    target = tmp_path / "out.txt"
    status, out, _err = run(
        [
            f"--map={reuse_map}",
            f"--output-path={target}",
            "--fields=address",
            "10.0.0.7",
        ],
        capsys,
    )
    assert (0, "") == (status, out)
    assert " address|\n10.0.0.7|\n" == target.read_text()


# -- errors -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--at=yesterday"],
            (
                "Invalid at 'yesterday': Expected YYYY/MM/DD[Thh[:mm[:ss]]] "
                "(UTC) or epoch seconds"
            ),
        ),
        (
            ["--at=2023/02/30"],
            (
                "Invalid at '2023/02/30': Expected YYYY/MM/DD[Thh[:mm[:ss]]] "
                "(UTC) or epoch seconds"
            ),
        ),
        (
            ["--scope=vpc-XYZ"],
            "Invalid scope 'vpc-XYZ': Expected vpc-<hex digits>",
        ),
        (["--fields=ip"], "Invalid fields 'ip': Unknown name 'ip'"),
        (
            ["--column-separator=::"],
            "Invalid column-separator '::': Expected one character",
        ),
        (["--map=a", "--map=b"], "Invalid map: Switch used multiple times"),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    reuse_map: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each usage error prints its message and the usage hint, exit 1."""
    if not any(a.startswith("--map") for a in argv):
        argv = [f"--map={reuse_map}", *argv]
    status, out, err = run([*argv, "10.0.0.5"], capsys)
    assert (1, "") == (status, out)
    assert f"rwvpcmaplookup: {message}\n{USAGE}" == err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Cannot open '{p}': No such file or directory"),
        (
            b"GIF89a" * 20,
            (
                "Cannot read context map '{p}': Bad magic number: not a "
                "context map"
            ),
        ),
    ],
)
def test_bad_map(
    content: bytes | None,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing or foreign map: a named error, exit 1."""
    path = tmp_path / "m.vpcmap"
    if content is not None:
        path.write_bytes(content)
    status, out, err = run([f"--map={path}", "10.0.0.5"], capsys)
    assert (1, "") == (status, out)
    assert f"rwvpcmaplookup: {message.format(p=path)}\n" == err


def test_truncated_map(
    reuse_map: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated map says how much of it is there."""
    data = reuse_map.read_bytes()
    path = tmp_path / "t.vpcmap"
    path.write_bytes(data[:200])
    status, _out, err = run([f"--map={path}", "10.0.0.5"], capsys)
    assert 1 == status
    assert (
        f"rwvpcmaplookup: Cannot read context map '{path}': File is "
        f"truncated: 200 of {len(data)} bytes\n"
    ) == err


def test_entry_point(reuse_map: Path) -> None:
    """The installed console script runs."""
    exe = shutil.which("rwvpcmaplookup")
    if exe is None:
        pytest.skip("rwvpcmaplookup is not installed on PATH")
    result = subprocess.run(
        [
            exe,
            f"--map={reuse_map}",
            "--delimited",
            "--fields=vpc-id",
            "10.0.0.7",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert "vpc-id\nvpc-0b\n" == result.stdout
