# SPDX-License-Identifier: MIT
"""Helpers shared by the rwvpcmap* command tests.

Logs are written as real flow-log text (header line first) with the
record helpers of :mod:`tests.ctxmap_support`, and every command runs
in-process through its ``main``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pysilk_ext.cli import rwvpcmapbuild
from tests.cli.stdio_support import FakeStdin
from tests.conftest import SHARED
from tests.ctxmap_support import V5, log_text, rec

IP_RANGES = SHARED / "data" / "ip-ranges.json"

SEED_START = 1690329606
SEED_END = 1690329625

Main = Callable[[list[str] | None], int]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SILK_CLOBBER, timestamp or map variables leak into a test;
    stdin is an empty pipe unless a test says otherwise."""
    for var in (
        "SILK_CLOBBER",
        "SILK_TIMESTAMP_FORMAT",
        "AWSVPC_MAP",
        "PYSILK_EXT_MAP",
        "SILK_DATA_ROOTDIR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "stdin", FakeStdin())


def run(
    main: Main, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run a command in-process; return status, stdout, stderr."""
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def write_log(
    path: Path,
    records: Sequence[dict[str, str]],
    header: Sequence[str] = V5,
) -> Path:
    """Write ``records`` as an S3-style text log; return the path."""
    path.write_bytes(log_text(records, header))
    return path


def build_map(
    path: Path,
    *inputs: os.PathLike[str] | str,
    extra: Sequence[str] = (),
) -> Path:
    """Build ``path`` with rwvpcmapbuild (must succeed)."""
    status = rwvpcmapbuild.main(
        [f"--output-path={path}", *extra, *(str(i) for i in inputs)]
    )
    assert 0 == status
    return path


def reuse_records() -> list[dict[str, str]]:
    """10.0.0.5 in two VPCs over time, an address re-bound, and an S3
    address:

    * vpc-a: eni-a1/i-a1 owns 10.0.0.5 over [1000, 1060], then
      eni-a2/i-a2 over [2000, 2060];
    * vpc-b: eni-b1/i-b1 owns 10.0.0.5 over [1500, 1560], and 10.0.0.7
      over [1000, 1060];
    * 52.216.215.0 is labelled S3 at eni-a1 over [1000, 1060].
    """

    def own(addr: str, vpc: str, eni: str, inst: str, t: int) -> dict:
        return rec(
            srcaddr=addr,
            dstaddr="198.51.100.9",
            vpc_id=vpc,
            interface_id=eni,
            instance_id=inst,
            subnet_id=f"subnet-{vpc[4:]}",
            start=t,
            end=t + 60,
        )

    return [
        own("10.0.0.5", "vpc-0a", "eni-0a1", "i-0a1", 1000),
        own("10.0.0.5", "vpc-0a", "eni-0a2", "i-0a2", 2000),
        own("10.0.0.5", "vpc-0b", "eni-0b1", "i-0b1", 1500),
        own("10.0.0.7", "vpc-0b", "eni-0b7", "i-0b7", 1000),
        rec(
            srcaddr="10.0.0.5",
            dstaddr="52.216.215.0",
            vpc_id="vpc-0a",
            interface_id="eni-0a1",
            instance_id="i-0a1",
            subnet_id="subnet-0a",
            pkt_dst_aws_service="S3",
            start=1000,
            end=1060,
        ),
    ]


def rows_of(text: str, sep: str = "|") -> list[list[str]]:
    """Cells of ``--delimited`` output lines (titles included)."""
    return [line.split(sep) for line in text.splitlines()]
