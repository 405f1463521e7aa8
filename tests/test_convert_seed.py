# SPDX-License-Identifier: MIT
"""The talk's 31 rows (seed-sample-v5.log) convert to the expected types."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.convert import Converter
from pysilk_ext.convert.addrs import format_addresses
from pysilk_ext.convert.classify import DEFAULT_TYPE_IDS
from pysilk_ext.convert.config import parse_config
from pysilk_ext.convert.sensors import parse_description
from pysilk_ext.silkfmt.siteconf import load_siteconf
from pysilk_ext.vpcparse import ChunkParser, iter_records
from tests.conftest import SEED_S3

NAMES = {v: k for k, v in DEFAULT_TYPE_IDS.items()}


@pytest.fixture
def seed(shared: Path) -> bytes:
    """The seed sample as bytes."""
    return (shared / "data" / "seed-sample-v5.log").read_bytes()


def _types(data: bytes, config: str) -> tuple[np.ndarray, Converter]:
    batch = ChunkParser(source="seed").feed(data).batch
    conv = Converter(parse_config(config))
    return conv.convert(batch), conv


def _expected(data: bytes, internal_peer: bool) -> Counter[str]:
    """Types by the issue's rules, computed from the parsed rows."""
    out: Counter[str] = Counter()
    batch = ChunkParser(source="seed").feed(data).batch
    for r in iter_records(batch):
        egress = r["flow-direction"].name == "EGRESS"
        svc = r["pkt-dst-aws-service" if egress else "pkt-src-aws-service"]
        if svc:
            out["int2aws" if egress else "aws2int"] += 1
        elif internal_peer:
            out["int2int"] += 1
        else:  # 10.1.1.25 is never an interface's own address here
            out["outweb" if egress else "inweb"] += 1
    return out


def test_seed_types_from_records_alone(seed: bytes) -> None:
    """No networks configured: the peer 10.1.1.25 counts as external."""
    recs, conv = _types(seed, "action: all")
    got = Counter(NAMES[int(t)] for t in recs["flowtype"])
    assert _expected(seed, internal_peer=False) == got
    assert (
        Counter({"int2aws": 10, "inweb": 9, "outweb": 8, "aws2int": 4}) == got
    )
    assert 31 == conv.stats.written


def test_seed_types_with_vpc_network(seed: bytes) -> None:
    """With the VPC's network internal, 10.1.1.25 <-> 10.1.1.50 is int2int."""
    recs, _ = _types(seed, "action: all\ninternal-networks: [10.1.0.0/16]")
    got = Counter(NAMES[int(t)] for t in recs["flowtype"])
    assert _expected(seed, internal_peer=True) == got


def test_seed_service_addresses_are_the_talks(seed: bytes) -> None:
    """The AWS side of int2aws/aws2int is exactly the talk's S3 list."""
    recs, _ = _types(seed, "action: all")
    ft = recs["flowtype"]
    to_aws = recs[ft == DEFAULT_TYPE_IDS["int2aws"]]
    from_aws = recs[ft == DEFAULT_TYPE_IDS["aws2int"]]
    addrs = set(format_addresses(np.ascontiguousarray(to_aws["dip"])))
    addrs |= set(format_addresses(np.ascontiguousarray(from_aws["sip"])))
    assert set(SEED_S3) == addrs


def test_seed_default_converts_only_rejects(seed: bytes) -> None:
    """All 31 rows are ACCEPT: the default selection writes none."""
    recs, conv = _types(seed, "")
    assert 0 == len(recs)
    assert 31 == conv.stats.skipped["ACCEPT not selected"]


def test_seed_sensor_is_the_interface(
    seed: bytes, silk_fixtures: Path, tmp_path: Path
) -> None:
    """One sensor named after the ENI, described with its AWS ids."""
    conf = tmp_path / "silk.conf"
    conf.write_bytes((silk_fixtures / "site" / "silk.conf").read_bytes())
    batch = ChunkParser(source="seed").feed(seed).batch
    conv = Converter(
        parse_config("action: all"), site=load_siteconf(conf), site_path=conf
    )
    recs = conv.convert(batch)
    site = load_siteconf(conf)
    sensor = site.sensor("eni-0ffa7e54f1ae8fa1b")
    assert sensor is not None
    assert {sensor.id} == set(recs["sensor"].tolist())
    assert ("interface-id", "eni-0ffa7e54f1ae8fa1b") == parse_description(
        sensor.description
    )
    assert "vpc-id vpc-0844e5fb7dab616dd" in (sensor.description or "")
    assert "account-id 904652123456" in (sensor.description or "")
