# SPDX-License-Identifier: MIT
"""rwvpc2silk's storage choices: record format per hourly file, an IPv4
file upgraded when IPv6 records arrive in a later run, and the
``--compression-level`` switch.

The records are compared with a repository converted in one run (the
reference), and with SiLK's own rwcut when it is on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pysilk_ext.cli import rwvpc2silk
from pysilk_ext.convert.ledger import LEDGER_NAME
from pysilk_ext.silkfmt.flowfile import read_flows
from pysilk_ext.silkfmt.header import Compression, FileFormat, read_header
from tests.cli.convert_support import (
    ENI_A,
    HEADER,
    SITE_CONF,
    T0,
    line,
    record_keys,
    repo_files,
    repo_records,
)

USAGE = "Use 'rwvpc2silk --help' for usage\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SILK_CONFIG_FILE", "SILK_COMPRESSION_METHOD"):
        monkeypatch.delenv(name, raising=False)


def _log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def _v4(n: int, start: int) -> list[str]:
    """``n`` IPv4 REJECTs of ENI_A (ingress, so innull) in hour 0."""
    return [
        line(
            srcaddr=f"198.51.100.{i % 250}",
            dstaddr="10.0.1.10",
            srcport=str(1024 + i),
            flow_direction="ingress",
            start=str(T0 + start + i),
            end=str(T0 + start + i + 5),
        )
        for i in range(n)
    ]


def _v6(n: int, start: int) -> list[str]:
    """``n`` IPv6 REJECTs to the same interface, same hour."""
    return [
        line(
            srcaddr=f"2001:db8::{i + 1:x}",
            dstaddr="2600:1f18::10",
            srcport=str(2000 + i),
            type="IPv6",
            flow_direction="ingress",
            start=str(T0 + start + i),
            end=str(T0 + start + i + 5),
        )
        for i in range(n)
    ]


def _convert(
    root: Path, inputs: list[Path], capsys: pytest.CaptureFixture[str],
    *extra: str,
) -> tuple[int, str]:  # fmt: skip
    status = rwvpc2silk.main(
        ["--action=all", f"--root-directory={root}", *extra]
        + [str(p) for p in inputs]
    )
    return status, capsys.readouterr().err


def _formats(root: Path) -> dict[str, int]:
    return {
        p.name: read_header(p.read_bytes()).format for p in repo_files(root)
    }


def test_ipv4_files_compact_and_upgraded_by_a_later_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run 1 (IPv4): FT_RWGENERIC; run 2 adds IPv6 to that hour: rewritten
    as FT_RWIPV6ROUTING with every record of both runs, as one run gives."""
    first = _log(tmp_path / "a.log", _v4(40, 60))
    second = _log(tmp_path / "b.log", _v4(10, 900) + _v6(5, 960))
    reference = tmp_path / "ref"
    assert (0, "") == _convert(
        reference, [first, second], capsys, "--compression-method=zlib"
    )
    root = tmp_path / "repo"
    assert (0, "") == _convert(
        root, [first], capsys, "--compression-method=zlib"
    )
    name = f"innull-{ENI_A}_20260801.00"
    assert {name: FileFormat.FT_RWGENERIC} == _formats(root)
    status, err = _convert(
        root, [second], capsys, "--compression-method=lzo1x",
        "--print-statistics",
    )  # fmt: skip
    assert 0 == status
    assert {name: FileFormat.FT_RWIPV6ROUTING} == _formats(root)
    header = read_header(next(iter(repo_files(root))).read_bytes())
    assert Compression.ZLIB == header.compression  # the file's own
    assert "Hourly files appended:" in err
    assert record_keys(repo_records(reference)) == record_keys(
        repo_records(root)
    )
    hidden = [p.name for p in (root / "innull").rglob(".*")]
    assert [] == hidden  # the backup went with the transaction's commit
    assert '"backup"' in (root / LEDGER_NAME).read_text()


@pytest.mark.silk
def test_silk_reads_the_upgraded_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], silk: dict[str, str]
) -> None:
    """rwcut shows the same flows for the two-run and the one-run repo."""
    first = _log(tmp_path / "a.log", _v4(30, 60))
    second = _log(tmp_path / "b.log", _v6(7, 300) + _v4(3, 400))
    cuts = []
    for root, runs in (
        (tmp_path / "ref", [[first, second]]),
        (tmp_path / "repo", [[first], [second]]),
    ):
        for inputs in runs:
            assert (0, "") == _convert(
                root, inputs, capsys, "--compression-method=zlib",
                "--compression-level=9",
            )  # fmt: skip
        cuts.append(
            sorted(
                subprocess.run(
                    [
                        "rwcut",
                        "--all-fields",
                        "--no-titles",
                        "--ipv6-policy=force",
                        *map(str, repo_files(root)),
                    ],
                    capture_output=True,
                    check=True,
                    env=silk,
                    text=True,
                ).stdout.splitlines()
            )
        )
    assert 40 == len(cuts[0])
    assert cuts[0] == cuts[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--compression-level=3"],
            "May not use --compression-level unless the compression "
            "method is zlib",
        ),
        (
            ["--compression-method=lzo1x", "--compression-level=3"],
            "May not use --compression-level unless the compression "
            "method is zlib",
        ),
        (
            ["--compression-method=zlib", "--compression-level=13"],
            "Invalid compression-level '13': Expected an integer between "
            "1 and 12",
        ),
        (
            ["--compression-method=zlib", "--compression-level=fast"],
            "Invalid compression-level 'fast': Expected an integer between "
            "1 and 12",
        ),
    ],
)
def test_compression_level_usage_errors(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Levels apply to zlib only, 1 to 12."""
    log = _log(tmp_path / "a.log", _v4(2, 60))
    status = rwvpc2silk.main(
        [*args, f"--output-path={tmp_path / 'o'}", str(log)]
    )
    out, err = capsys.readouterr()
    assert (1, "", f"rwvpc2silk: {message}\n{USAGE}") == (status, out, err)


@pytest.mark.parametrize("level", ["1", "12"])
def test_compression_level_output_reads_back(
    level: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any level: a zlib file with the same records as level 6."""
    log = _log(tmp_path / "a.log", _v4(50, 60) + _v6(5, 200))
    site = tmp_path / "silk.conf"
    shutil.copyfile(SITE_CONF, site)
    files = {}
    for lvl in ("6", level):
        out = tmp_path / f"o{lvl}.rw"
        status = rwvpc2silk.main(
            ["--action=all", "--compression-method=zlib",
             f"--compression-level={lvl}", f"--site-config-file={site}",
             f"--output-path={out}", str(log)]
        )  # fmt: skip
        assert (0, "") == (status, capsys.readouterr().err)
        files[lvl] = out
    header = read_header(files[level].read_bytes())
    assert Compression.ZLIB == header.compression
    records = {lvl: read_flows(path)[1] for lvl, path in files.items()}
    assert 55 == len(records[level])
    assert record_keys(records["6"]) == record_keys(records[level])
