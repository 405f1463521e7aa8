# SPDX-License-Identifier: MIT
"""rwvpcstats: SiLK's baseline cases, the output forms, every error."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pysilk_ext import fields as F
from pysilk_ext.cli import rwvpcstats
from pysilk_ext.reader import VpcReader
from tests.cli.stdio_support import FakeStdin
from tests.conftest import REPO

SAMPLES = REPO / "share" / "samples"
HEADER = " ".join(F.DEFAULT_FORMAT)
GOOD = "2 123 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK"
NODATA = "2 123 eni-a - - - - - - - 100 160 - NODATA"
USAGE = "Use 'rwvpcstats --help' for usage\n"


def run(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """Run rwvpcstats in-process; return status, stdout, stderr."""
    status = rwvpcstats.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """A header, two flows and a NODATA line."""
    path = tmp_path / "small.log"
    path.write_text("\n".join([HEADER, GOOD, GOOD, NODATA]) + "\n")
    return path


@pytest.fixture
def bad_log(tmp_path: Path) -> Path:
    """One good line and two bad ones."""
    path = tmp_path / "bad.log"
    path.write_text(
        "\n".join([HEADER, GOOD, "2 123 eni-a", GOOD.replace(" 6 ", " 300 ")])
        + "\n"
    )
    return path


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --
def test_null_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty standard input: one empty row and a zero total."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    status, out, err = run(["--delimited", "--no-titles"], capsys)
    assert (0, "") == (status, err)
    assert "text|0|0|0|0|0|0|0|0|0|0|-\n-|0|0|0|0|0|0|0|0|0|0|TOTAL\n" == out


def test_stdin_pipe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gzip stream on stdin is read (named '-')."""
    data = gzip.compress(("\n".join([HEADER, GOOD, NODATA]) + "\n").encode())
    monkeypatch.setattr(sys, "stdin", FakeStdin(data))
    status, out, _err = run(["--delimited", "--no-titles", "-"], capsys)
    assert 0 == status
    assert out.startswith(f"gzip|{len(data)}|3|2|1|1|0|1|0|0|0|-\n")


# -- output forms ------------------------------------------------------------
def test_columns_right_justified(
    small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default output: padded columns, final delimiter, titles first."""
    size = small_log.stat().st_size
    status, out, err = run([str(small_log)], capsys)
    assert (0, "") == (status, err)
    titles = (
        "container",
        "bytes",
        "lines",
        "records",
        "flows",
        "nodata",
        "skipdata",
        "headers",
        "ms-times",
        "tgw",
        "bad",
    )
    values = ("text", str(size), "4", "3", "2", "1", "0", "1", "0", "0", "0")
    totals = ("-", *values[1:])
    widths = [max(len(t), len(v)) for t, v in zip(titles, values, strict=True)]

    def line(cells: tuple[str, ...], last: str) -> str:
        padded = [c.rjust(w) for c, w in zip(cells, widths, strict=True)]
        return "|".join([*padded, last]) + "|\n"

    assert (
        line(titles, "file")
        + line(values, str(small_log))
        + line(totals, "TOTAL")
    ) == out


def test_delimited_and_separator(
    small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--delimited=C drops padding and final delimiter; separator applies."""
    size = small_log.stat().st_size
    _s, out, _e = run(["--delimited=,", "--no-titles", str(small_log)], capsys)
    assert (
        f"text,{size},4,3,2,1,0,1,0,0,0,{small_log}\n"
        == out.splitlines(keepends=True)[0]
    )
    _s, out, _e = run(["--column-sep=:", str(small_log)], capsys)
    assert out.splitlines()[1].endswith(f":{small_log}:")
    assert out.splitlines()[1].startswith("     text:")


def test_samples_demo(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo: one row per sample, totals equal the sums, no bad lines."""
    status, out, err = run(["--delimited", str(SAMPLES)], capsys)
    assert (0, "") == (status, err)
    rows = [r.split("|") for r in out.splitlines()]
    assert list(rwvpcstats.COLUMNS) == rows[0]
    body, total = rows[1:-1], rows[-1]
    expected_files = sorted(
        str(p)
        for p in SAMPLES.rglob("*")
        if p.is_file() and not p.name.startswith(("_", "."))
    )
    assert expected_files == sorted(r[-1] for r in body)
    for col in range(1, 11):
        assert sum(int(r[col]) for r in body) == int(total[col])
    containers = {r[0] for r in body}
    assert {"text", "gzip", "json", "parquet"} == containers
    assert "0" == total[10]


def test_print_filenames_and_verbose(
    bad_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--print-filenames names inputs; --verbose details every bad line."""
    status, out, err = run(
        ["--print-filenames", "--verbose", "--delimited", str(bad_log)],
        capsys,
    )
    assert 0 == status
    assert (
        f"{bad_log}\n"
        f"rwvpcstats: {bad_log}:3: Expected 14 fields but found 3\n"
        f"rwvpcstats: {bad_log}:4: protocol: Value '300' out of range 0-255\n"
    ) == err
    assert "\nreason|bad\nfield-count|1\nout-of-range|1\n" in out


def test_verbose_status_and_skipped(
    tmp_path: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--verbose lists NODATA per interface and the skipped objects."""
    other = (
        tmp_path
        / "AWSLogs/444455556666/vpcflowlogs/us-east-1/2026/08/01"
        / "444455556666_vpcflowlogs_us-east-1_fl-1_20260801T0000Z_ab.log"
    )
    other.parent.mkdir(parents=True)
    other.write_text(HEADER + "\n")
    _s, out, _e = run(
        ["--verbose", "--delimited", "--account=111122223333", str(tmp_path)],
        capsys,
    )
    assert "\ninterface-id|nodata|skipdata\neni-a|1|0\n" in out
    assert (
        f"\nreason|skipped\naccount|{tmp_path}/AWSLogs/444455556666/\n" in out
    )


def test_filters_by_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--start-date/--end-date select objects by the time in their key."""
    base = tmp_path / "AWSLogs/111122223333/vpcflowlogs/us-east-1/2026/08/01"
    base.mkdir(parents=True)
    for hhmm in ("0055", "0100", "0155", "0200"):
        (
            base
            / f"111122223333_vpcflowlogs_us-east-1_fl-1_20260801T{hhmm}Z_a.log"
        ).write_text(HEADER + "\n" + GOOD + "\n")
    _s, out, _e = run(
        [
            "--delimited",
            "--no-titles",
            "--start-date=2026/08/01:01",
            "--end-date=2026/08/01:01",
            str(tmp_path),
        ],
        capsys,
    )
    names = [r.split("|")[-1] for r in out.splitlines()[:-1]]
    assert ["T0100Z", "T0155Z"] == [n.split("_")[-2][8:] for n in names]


# -- bad input ---------------------------------------------------------------
def test_bad_lines_summary_and_file(
    bad_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad lines are counted, written out, and summed up rwtuc's way."""
    bad_file = tmp_path / "bad.txt"
    status, out, err = run(
        [
            "--delimited",
            "--no-titles",
            f"--bad-input-lines={bad_file}",
            str(bad_log),
        ],
        capsys,
    )
    assert 0 == status
    assert (
        "rwvpcstats: Could not parse 2 lines; try again with --stop-on-error "
        "or --verbose for details\n"
    ) == err
    assert out.splitlines()[0].split("|")[10] == "2"
    text = bad_log.read_text().splitlines()
    assert (
        f"{bad_log}:3:field-count:{text[2]}\n{bad_log}:4:out-of-range:{text[3]}\n"
    ) == bad_file.read_text()


def test_stop_on_error(
    bad_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--stop-on-error: the first bad line is the error, exit 1."""
    status, out, err = run(["--stop-on-error", str(bad_log)], capsys)
    assert (1, "") == (status, out)
    assert f"rwvpcstats: {bad_log}:3: Expected 14 fields but found 3\n" == err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--stop-on-error", "--bad-input-lines=x", "f"],
            "May not use --stop-on-error when --bad-input-lines is specified",
        ),
        (
            ["--account=12345", "f"],
            "Invalid account '12345': Expected a 12-digit AWS account id",
        ),
        (
            ["--account=111122223333,abc", "f"],
            "Invalid account 'abc': Expected a 12-digit AWS account id",
        ),
        (
            ["--region=mars", "f"],
            "Invalid region 'mars': Expected an AWS region name such as "
            "'us-east-1'",
        ),
        (
            ["--start-date=yesterday", "f"],
            "Invalid start-date 'yesterday': Expected YYYY/MM/DD[:HH]",
        ),
        (
            ["--start-date=2026/02/30", "f"],
            "Invalid start-date '2026/02/30': Day is out of range for month",
        ),
        (
            ["--start-date=2026/08/02", "--end-date=2026/08/01", "f"],
            "Invalid end-date '2026/08/01': Ends before the start-date",
        ),
        (
            ["--log-format=${version} ${version}", "f"],
            "Invalid log-format '${version} ${version}': Field 'version' "
            "appears more than once",
        ),
        (
            ["--region=us-east-1", "--region=eu-west-1", "f"],
            "Invalid region: Switch used multiple times",
        ),
        (
            ["--delimited=ab", "f"],
            "Invalid delimited 'ab': Expected one character",
        ),
        (
            ["--column-separator=", "f"],
            "Invalid column-separator '': Expected one character",
        ),
        (["--account"], "Switch '--account' requires an argument"),
        (["--frobnicate", "f"], "Unrecognized switch '--frobnicate'"),
    ],
)
def test_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each usage error: the exact SiLK-style message, the hint, exit 1."""
    status, out, err = run(argv, capsys)
    assert (1, "") == (status, out)
    assert f"rwvpcstats: {message}\n{USAGE}" == err


def test_cannot_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing input: SiLK's 'Cannot open' message, exit 1."""
    missing = tmp_path / "missing.log"
    status, out, err = run([str(missing)], capsys)
    assert (1, "") == (status, out)
    assert (
        f"rwvpcstats: Cannot open '{missing}': No such file or directory\n"
        == err
    )


def test_cannot_open_bad_lines_file(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unwritable --bad-input-lines path is reported before reading."""
    target = tmp_path / "no" / "such" / "dir.txt"
    status, _out, err = run(
        [f"--bad-input-lines={target}", str(small_log)], capsys
    )
    assert 1 == status
    assert (
        f"rwvpcstats: Cannot open '{target}': No such file or directory\n"
        == err
    )


def test_log_format_for_headerless_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--log-format parses records that have no header."""
    path = tmp_path / "cw.log"
    path.write_text("eni-a 10.0.0.1 10.0.0.9\n")
    fmt = "${interface-id} ${srcaddr} ${dstaddr}"
    status, out, _e = run(
        ["--delimited", "--no-titles", f"--log-format={fmt}", str(path)],
        capsys,
    )
    assert 0 == status
    assert out.startswith("text|24|1|1|1|0|0|0|0|0|0|")
    records = sum(b.n for b in VpcReader([path], log_format=fmt))
    assert 1 == records


def test_console_script_entry_point(small_log: Path) -> None:
    """The installed ``rwvpcstats`` script runs (skipped if not installed)."""
    exe = shutil.which("rwvpcstats")
    if exe is None:
        pytest.skip("rwvpcstats is not installed on PATH")
    result = subprocess.run(
        [exe, "--delimited", "--no-titles", str(small_log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert result.stdout.splitlines()[-1].endswith("|TOTAL")
