# SPDX-License-Identifier: MIT
"""Helpers for the context-map tests: flow-log lines -> FlowBatch -> map.

Records are written as real log text and parsed by the team's
:class:`~pysilk_ext.vpcparse.ChunkParser`, so the tests exercise the same
batches the commands will build maps from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pysilk_ext.batch import FlowBatch
from pysilk_ext.ctxmap import ContextMap, ContextMapBuilder
from pysilk_ext.fields import DEFAULT_FORMAT
from pysilk_ext.vpcparse import ChunkParser
from tests.conftest import load_gen_vpclogs

DATA = Path(__file__).resolve().parent / "data"

# A version 5 format with every field the map reads: the seed sample's
# order (as the log generator knows it) without tcp-flags and
# traffic-path, which the map does not read.
V5 = [
    f
    for f in load_gen_vpclogs().FIELDS_SEED
    if f not in ("tcp-flags", "traffic-path")
]
V2 = list(DEFAULT_FORMAT)

DEFAULTS = {
    "version": "5",
    "account-id": "111122223333",
    "interface-id": "eni-0aaaaaaaaaaaaaaa1",
    "instance-id": "i-0aaaaaaaaaaaaaaa1",
    "vpc-id": "vpc-0aaaaaaaaaaaaaaa1",
    "subnet-id": "subnet-0aaaaaaaaaaaaaaa1",
    "region": "us-east-1",
    "az-id": "use1-az1",
    "sublocation-type": "-",
    "sublocation-id": "-",
    "srcport": "443",
    "dstport": "50000",
    "protocol": "6",
    "packets": "10",
    "bytes": "1000",
    "start": "1000",
    "end": "1060",
    "action": "ACCEPT",
    "log-status": "OK",
    "type": "IPv4",
    "flow-direction": "egress",
    "pkt-src-aws-service": "-",
    "pkt-dst-aws-service": "-",
}


def rec(**fields: object) -> dict[str, str]:
    """One record: keyword names use ``_`` for ``-``; pkt-* addresses
    default to srcaddr/dstaddr."""
    out = dict(DEFAULTS)
    for key, value in fields.items():
        out[key.replace("_", "-")] = str(value)
    out.setdefault("pkt-srcaddr", out["srcaddr"])
    out.setdefault("pkt-dstaddr", out["dstaddr"])
    if out["version"] == "2":
        out["type"] = "-"
    return out


def log_text(
    records: Iterable[dict[str, str]], header: Sequence[str]
) -> bytes:
    """The S3-style text (header line, then one line per record)."""
    lines = [" ".join(header)]
    lines += [" ".join(r.get(f, "-") for f in header) for r in records]
    return ("\n".join(lines) + "\n").encode()


def batch_of(
    records: Iterable[dict[str, str]], header: Sequence[str] = V5
) -> FlowBatch:
    """Parse records written in ``header``'s format into one batch."""
    result = ChunkParser(source="test.log").feed(log_text(records, header))
    assert [] == result.bad
    return result.batch


def parse_file(path: Path) -> FlowBatch:
    """One batch of every record of a (plain text) log file."""
    result = ChunkParser(source=str(path)).feed(path.read_bytes())
    assert [] == result.bad
    return result.batch


def build(
    *batches: FlowBatch,
    eni: Path | None = None,
    eni_at: int | None = None,
    ranges: Path | None = None,
) -> ContextMap:
    """A map of ``batches`` plus optional inventory and ip-ranges."""
    builder = ContextMapBuilder()
    for b in batches:
        builder.add_batch(b)
    if eni is not None:
        builder.add_eni_json(eni, at=eni_at)
    if ranges is not None:
        builder.add_ip_ranges(ranges)
    return builder.build()


def bindings_of(
    cmap: ContextMap, address: str
) -> list[tuple[str, str | None]]:
    """(relation, interface-id) of every binding of ``address``."""
    return [
        (b.relation, b.fields.get("interface-id"))
        for b in cmap.iter_bindings()
        if b.address == address
    ]
