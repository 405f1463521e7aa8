# SPDX-License-Identifier: MIT
"""rwsilk2vpc: SiLK's baseline cases, every error, fields, split records."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.cli import rwsilk2vpc, rwvpc2silk
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.mapping import round_trip_fields
from pysilk_ext.convert.reverse import DEFAULT_OUTPUT_FIELDS
from pysilk_ext.silkfmt.flowfile import FlowReader, FlowWriter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from tests.cli.convert_support import (
    ENI_A,
    HEADER,
    SITE_CONF,
    build_map,
    flow_tuples,
    line,
    read_batches,
    small_log_text,
    text_tuples,
)
from tests.cli.stdio_support import FakeStdin

USAGE = "Use 'rwsilk2vpc --help' for usage\n"


def _records(path: Path) -> np.ndarray:
    with FlowReader(path) as reader:
        return reader.read_all()


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run rwsilk2vpc in-process; return status, stdout, stderr."""
    status = rwsilk2vpc.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


pytestmark = pytest.mark.usefixtures("clean_silk_env")


@pytest.fixture
def converted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Path, Path, Path]:
    """The small log, its map, its silk.conf and its SiLK file."""
    log = tmp_path / "small.log"
    log.write_text(small_log_text())
    site = tmp_path / "silk.conf"
    shutil.copy(SITE_CONF, site)
    cmap = build_map([log], tmp_path / "cloud.vpcmap")
    silk = tmp_path / "small.rw"
    assert 0 == rwvpc2silk.main(
        [
            "--action=all",
            f"--map={cmap}",
            f"--site-config-file={site}",
            f"--output-path={silk}",
            str(log),
        ]
    )
    capsys.readouterr()
    return log, cmap, site, silk


@pytest.fixture
def empty_silk(tmp_path: Path) -> Path:
    """A valid SiLK flow file without records."""
    path = tmp_path / "empty.rw"
    with FlowWriter(path):
        pass
    return path


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --


def test_null_input(
    empty_silk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SiLK file without records gives the header line only."""
    status, out, err = run([str(empty_silk)], capsys)
    assert (0, "") == (status, err)
    assert " ".join(DEFAULT_OUTPUT_FIELDS) + "\n" == out
    assert (0, "", "") == run(["--no-titles", str(empty_silk)], capsys)


def test_reads_standard_input(
    converted: tuple[Path, Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``-`` (and no input) reads records piped in, e.g. from rwfilter."""
    _, _, site, silk = converted
    expected = run([f"--site-config-file={site}", str(silk)], capsys)[1]
    for argv in (["-"], []):
        monkeypatch.setattr(sys, "stdin", FakeStdin(silk.read_bytes()))
        status, out, err = run([f"--site-config-file={site}", *argv], capsys)
        assert (0, "", expected) == (status, err, out)


def test_console_script_entry_point(
    converted: tuple[Path, Path, Path, Path],
) -> None:
    """The installed ``rwsilk2vpc`` script runs (skipped if not installed)."""
    exe = shutil.which("rwsilk2vpc")
    if exe is None:
        pytest.skip("rwsilk2vpc is not installed on PATH")
    result = subprocess.run(
        [exe, "--fields=srcaddr,dstaddr", str(converted[3])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert "srcaddr dstaddr" == result.stdout.splitlines()[0]


# -- errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--fields=srcaddr,bogus"],
            "Invalid fields: No match was found for the field 'bogus'",
        ),
        (
            ["--fields=srcaddr,srcaddr"],
            "Invalid fields: Field 'srcaddr' given more than once",
        ),
        (["--fields=,"], "Invalid fields: No fields given"),
        (
            ["--fields=srcaddr", "--fields=dstaddr"],
            "Invalid fields: Switch used multiple times",
        ),
        (
            ["--sensor-policy=az"],
            "Invalid sensor-policy 'az': Expected interface, subnet, vpc "
            "or account",
        ),
        (["--bogus"], "Unrecognized switch '--bogus'"),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    empty_silk: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad switch value: the message, the hint, exit 1, no output."""
    status, out, err = run([*argv, str(empty_silk)], capsys)
    assert (1, "") == (status, out)
    assert f"rwsilk2vpc: {message}\n{USAGE}" == err


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ("", "Cannot open '/nonexistent/f.rw': No such file or directory"),
        (
            "--map=",
            "Cannot open '/nonexistent/f.rw': No such file or directory",
        ),
        (
            "--site-config-file=",
            "Cannot read config '/nonexistent/f.rw': File does not exist or "
            "is not a regular file",
        ),
        (
            "--config-file=",
            "Cannot open '/nonexistent/f.rw': No such file or directory",
        ),
    ],
)
def test_missing_files(
    switch: str,
    message: str,
    empty_silk: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing input or auxiliary file: the message, exit 1, no text."""
    argv = [f"{switch}/nonexistent/f.rw"]
    if switch:
        argv.append(str(empty_silk))
    status, out, err = run(argv, capsys)
    assert (1, "", f"rwsilk2vpc: {message}\n") == (status, out, err)


def test_not_a_silk_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not SiLK's: SiLK's wording, exit 1."""
    path = tmp_path / "text.rw"
    path.write_text("not a flow file\n")
    status, out, err = run(["--no-titles", str(path)], capsys)
    assert (1, "") == (status, out)
    assert (
        f"rwsilk2vpc: File does not appear to be a SiLK data file '{path}'\n"
        == err
    )


def test_refuses_existing_output(
    empty_silk: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An existing --output-path is kept unless SILK_CLOBBER is set."""
    target = tmp_path / "out.log"
    target.write_text("keep me")
    status, _, err = run([f"--output-path={target}", str(empty_silk)], capsys)
    assert (1, f"rwsilk2vpc: Cannot open '{target}': File exists\n") == (
        status,
        err,
    )
    assert "keep me" == target.read_text()
    monkeypatch.setenv("SILK_CLOBBER", "1")
    assert 0 == run([f"--output-path={target}", str(empty_silk)], capsys)[0]
    assert target.read_text().startswith("version ")


# -- content ---------------------------------------------------------------


def test_round_trip_of_the_small_log(
    converted: tuple[Path, Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Default fields, map and silk.conf: every kept field comes back."""
    log, cmap, site, silk = converted
    status, out, err = run(
        [f"--map={cmap}", f"--site-config-file={site}", str(silk)], capsys
    )
    assert (0, "") == (status, err)
    names = round_trip_fields(DEFAULT_OUTPUT_FIELDS)
    assert flow_tuples(read_batches([log]), names) == text_tuples(
        out.encode(), names
    )


def test_fields_order_and_version(
    converted: tuple[Path, Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--fields: that header, those columns; version is the format's."""
    _, _, site, silk = converted
    _status, out, _ = run(
        [
            f"--site-config-file={site}",
            "--fields=version,interface-id,srcaddr,action",
            str(silk),
        ],
        capsys,
    )
    rows = [r.split(" ") for r in out.splitlines()]
    assert ["version", "interface-id", "srcaddr", "action"] == rows[0]
    assert {"2"} == {r[0] for r in rows[1:]}
    assert ENI_A in {r[1] for r in rows[1:]}
    assert {"ACCEPT", "REJECT"} == {r[3] for r in rows[1:]}
    _, out5, _ = run(["--fields=version,flow-direction", str(silk)], capsys)
    assert {"5"} == {r.split(" ")[0] for r in out5.splitlines()[1:]}


def test_without_map_and_site(
    converted: tuple[Path, Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No map, no silk.conf: cloud fields are '-', counted by --verbose."""
    silk = converted[3]
    n = len(_records(silk))
    status, out, err = run(
        ["--verbose", "--fields=srcaddr,vpc-id,interface-id", str(silk)],
        capsys,
    )
    assert 0 == status
    assert {"-"} == {r.split(" ")[1] for r in out.splitlines()[1:]}
    assert (
        f"rwsilk2vpc: {n} values of 'interface-id' unknown\n"
        f"rwsilk2vpc: {n} values of 'vpc-id' unknown\n"
    ) == err


def test_sensor_policy_vpc_takes_interfaces_from_the_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With VPC sensors the interface id comes back from the map."""
    log = tmp_path / "small.log"
    log.write_text(small_log_text())
    site = tmp_path / "silk.conf"
    shutil.copy(SITE_CONF, site)
    cmap = build_map([log], tmp_path / "cloud.vpcmap")
    silk = tmp_path / "vpc.rw"
    rwvpc2silk.main(
        [
            "--action=all",
            "--sensor-policy=vpc",
            f"--map={cmap}",
            f"--site-config-file={site}",
            f"--output-path={silk}",
            str(log),
        ]
    )
    capsys.readouterr()
    names = ("interface-id", "srcaddr", "dstaddr", "vpc-id", "account-id")
    status, out, _ = run(
        [
            "--sensor-policy=vpc",
            f"--map={cmap}",
            f"--site-config-file={site}",
            f"--fields={','.join(names)}",
            str(silk),
        ],
        capsys,
    )
    assert 0 == status
    assert flow_tuples(read_batches([log]), names) == text_tuples(
        out.encode(), names
    )


def _split_log(tmp_path: Path, count: int) -> Path:
    """``count`` flows whose bytes exceed 2^32-1 (records get split)."""
    lines = [HEADER]
    for i in range(count):
        lines.append(
            line(
                action="ACCEPT",
                dstaddr="198.51.100.50",
                srcport=str(40000 + i),
                dstport="443",
                packets=str(7_000_000 + i),
                bytes=str(9_876_543_210 + i),
            )
        )
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("batch", [2, 3, 65536])
def test_split_records_come_back_whole(
    batch: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pieces (T/C) are added up, even when a batch boundary cuts them."""
    log = _split_log(tmp_path, 4)
    silk = tmp_path / "big.rw"
    site = tmp_path / "silk.conf"
    shutil.copy(SITE_CONF, site)
    rwvpc2silk.main(
        [
            "--action=all",
            f"--site-config-file={site}",
            f"--output-path={silk}",
            str(log),
        ]
    )
    capsys.readouterr()
    recs = _records(silk)
    assert 4 < len(recs)  # split
    assert ((recs["tcp_state"] & L.SPLIT_MASK) != 0).all()
    monkeypatch.setattr(rwsilk2vpc, "BATCH", batch)
    names = ("srcport", "packets", "bytes")
    status, out, _ = run(
        [
            f"--site-config-file={site}",
            "--fields=srcport,packets,bytes",
            str(silk),
        ],
        capsys,
    )
    assert 0 == status
    assert flow_tuples(read_batches([log]), names) == text_tuples(
        out.encode(), names
    )


def test_defer_pieces_holds_every_piece_to_the_end() -> None:
    """Whole records pass at once; pieces come last, all together."""
    recs = np.zeros(7, dtype=FLOW_DTYPE)
    first, more, last = (
        L.SPLIT_FIRST,
        L.SPLIT_FIRST | L.SPLIT_CONTINUED,
        L.SPLIT_CONTINUED,
    )
    recs["tcp_state"] = [0, first, first, 0, more, last, last]
    recs["sport"] = np.arange(7)
    cuts = [recs[:2], recs[2:5], recs[5:]]
    out = list(rwsilk2vpc.defer_pieces(iter(cuts)))
    assert [[0], [3], [1, 2, 4, 5, 6]] == [b["sport"].tolist() for b in out]
