# SPDX-License-Identifier: MIT
"""Helpers for the rwvpc2silk / rwsilk2vpc tests.

A small version 5 log whose every line has a known class/type, a context
map built the way rwvpcmapbuild builds one (reader batches into
:class:`~pysilk_ext.ctxmap.ContextMapBuilder`), and readers that turn
logs and repositories into comparable multisets.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pysilk_ext.batch import FlowBatch
from pysilk_ext.ctxmap import ContextMapBuilder
from pysilk_ext.fields import LogStatus, fields_of_version
from pysilk_ext.reader import VpcReader
from pysilk_ext.silkfmt.flowfile import FlowReader
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.vpcparse import ChunkParser, iter_records
from tests.conftest import REPO

SAMPLES = REPO / "share" / "samples"
SITE_CONF = REPO / "share" / "silk.conf"
V5 = fields_of_version(5)
HEADER = " ".join(V5)
T0 = 1_785_542_400  # 2026-08-01T00:00:00Z

_DEFAULTS = {
    "version": "5",
    "account-id": "123456789012",
    "interface-id": "eni-0aaaaaaaaaaaaaaaa",
    "srcaddr": "10.0.1.10",
    "dstaddr": "198.51.100.7",
    "srcport": "40000",
    "dstport": "25",
    "protocol": "6",
    "packets": "3",
    "bytes": "180",
    "start": str(T0 + 60),
    "end": str(T0 + 70),
    "action": "REJECT",
    "log-status": "OK",
    "vpc-id": "vpc-0aaaaaaaaaaaaaaaa",
    "subnet-id": "subnet-0aaaaaaaaaaaaaaaa",
    "instance-id": "i-0aaaaaaaaaaaaaaaa",
    "tcp-flags": "2",
    "type": "IPv4",
    "pkt-srcaddr": "-",
    "pkt-dstaddr": "-",
    "region": "us-east-1",
    "az-id": "use1-az1",
    "sublocation-type": "-",
    "sublocation-id": "-",
    "pkt-src-aws-service": "-",
    "pkt-dst-aws-service": "-",
    "flow-direction": "egress",
    "traffic-path": "-",
}


def line(**values: str) -> str:
    """Return a v5 line: the defaults with ``values`` (``_`` for ``-``)."""
    rec = dict(_DEFAULTS)
    rec.update({k.replace("_", "-"): v for k, v in values.items()})
    if rec["pkt-srcaddr"] == "-" and rec["log-status"] == "OK":
        rec["pkt-srcaddr"] = rec["srcaddr"]
    if rec["pkt-dstaddr"] == "-" and rec["log-status"] == "OK":
        rec["pkt-dstaddr"] = rec["dstaddr"]
    return " ".join(rec[name] for name in V5)


ENI_A = "eni-0aaaaaaaaaaaaaaaa"
ENI_B = "eni-0bbbbbbbbbbbbbbbb"
ENI_C = "eni-0cccccccccccccccc"

#: (line, its type with --action=all); None: not a flow.
SMALL: list[tuple[str, str | None]] = [
    (  # an inbound scan, rejected
        line(
            srcaddr="198.51.100.7",
            dstaddr="10.0.1.10",
            srcport="50123",
            dstport="22",
            flow_direction="ingress",
        ),
        "innull",
    ),
    (line(), "outnull"),  # an outbound mail attempt, rejected
    (  # to S3 through a gateway endpoint
        line(
            dstaddr="52.216.8.100",
            dstport="443",
            action="ACCEPT",
            pkt_dst_aws_service="S3",
            traffic_path="7",
            packets="20",
            bytes="9000",
        ),
        "int2aws",
    ),
    (  # and back
        line(
            srcaddr="52.216.8.100",
            dstaddr="10.0.1.10",
            srcport="443",
            dstport="40001",
            action="ACCEPT",
            pkt_src_aws_service="S3",
            flow_direction="ingress",
        ),
        "aws2int",
    ),
    (  # a web client on the second interface
        line(
            interface_id=ENI_B,
            srcaddr="198.51.100.8",
            dstaddr="10.0.1.11",
            srcport="50000",
            dstport="443",
            action="ACCEPT",
            flow_direction="ingress",
            instance_id="i-0bbbbbbbbbbbbbbbb",
        ),
        "inweb",
    ),
    (  # a rejected probe an hour later
        line(
            interface_id=ENI_B,
            srcaddr="198.51.100.9",
            dstaddr="10.0.1.11",
            srcport="50001",
            dstport="3389",
            flow_direction="ingress",
            instance_id="i-0bbbbbbbbbbbbbbbb",
            start=str(T0 + 3700),
            end=str(T0 + 3710),
        ),
        "innull",
    ),
]


def status_line(interface_id: str, log_status: str) -> str:
    """Return a v5 NODATA/SKIPDATA line: every flow field ``-``."""
    rec = {
        **dict.fromkeys(V5, "-"),
        "version": "5",
        "account-id": "123456789012",
        "interface-id": interface_id,
        "start": str(T0),
        "end": str(T0 + 60),
        "log-status": log_status,
    }
    return " ".join(rec[name] for name in V5)


STATUS = [status_line(ENI_C, "NODATA"), status_line(ENI_B, "SKIPDATA")]


def small_log_text() -> str:
    """The small log: header, the SMALL flows, a NODATA and a SKIPDATA."""
    return "\n".join([HEADER, *(t for t, _ in SMALL), *STATUS]) + "\n"


def expected_types(action: str) -> Counter[str]:
    """Types written for the small log with ``--action=ACTION``."""
    rejects = {"innull", "outnull"}
    out: Counter[str] = Counter()
    for _, kind in SMALL:
        if kind is None:
            continue
        is_reject = kind in rejects
        if action == "all" or (action == "reject") == is_reject:
            out[kind] += 1
    return out


def read_batches(inputs: Sequence[str | Path]) -> list[FlowBatch]:
    """Every batch of ``inputs`` (small inputs only)."""
    return list(VpcReader([str(p) for p in inputs]))


def build_map(inputs: Sequence[str | Path], path: Path) -> Path:
    """Build a context map of ``inputs`` at ``path`` (as rwvpcmapbuild)."""
    builder = ContextMapBuilder()
    for batch in read_batches(inputs):
        builder.add_batch(batch)
    builder.build().write(path)
    return path


def flow_tuples(
    batches: Iterable[FlowBatch], names: Sequence[str]
) -> Counter[tuple[Any, ...]]:
    """The flow records (log-status OK) of ``batches`` as a multiset."""
    out: Counter[tuple[Any, ...]] = Counter()
    for batch in batches:
        for rec in iter_records(batch):
            if rec.get("log-status") in (None, LogStatus.OK):
                out[tuple(rec.get(n) for n in names)] += 1
    return out


def text_tuples(text: bytes, names: Sequence[str]) -> Counter[tuple[Any, ...]]:
    """Like :func:`flow_tuples` for VPC text with a header line."""
    batch = ChunkParser(source="text").feed(text).batch
    return flow_tuples([batch], names)


def repo_files(root: Path) -> list[Path]:
    """The hourly files of a repository (no dot-files, no silk.conf)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or name.startswith("silk.conf"):
                continue
            out.append(Path(dirpath) / name)
    return sorted(out)


def repo_records(root: Path) -> np.ndarray:
    """Every record of a repository, read with the project's reader."""
    parts = []
    for path in repo_files(root):
        with FlowReader(path) as reader:
            parts.append(reader.read_all())
    if not parts:
        return np.zeros(0, dtype=FLOW_DTYPE)
    return np.concatenate(parts)


def record_keys(recs: np.ndarray) -> Counter[bytes]:
    """Records as a multiset of their bytes (for exact comparisons)."""
    return Counter(r.tobytes() for r in recs)
