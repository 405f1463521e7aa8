# SPDX-License-Identifier: MIT
"""Vectorised address helpers and the reverse formatter's fallbacks."""

from __future__ import annotations

import ipaddress
import random

import numpy as np

from pysilk_ext.convert import VpcTextFormatter
from pysilk_ext.convert.addrs import (
    AddressRanges,
    AddressSet,
    format_addresses,
    pack_addresses,
)
from pysilk_ext.convert.config import ActionSelection, ConvertConfig
from pysilk_ext.convert.converter import Converter
from pysilk_ext.vpcparse import ChunkParser

NETS = [
    "10.0.0.0/8",
    "192.168.4.0/22",
    "2001:db8:1::/48",
    "2001:db8::5/128",
    "2600:1f18:4000::/36",
]


def _random_addresses(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        pick = rng.random()
        if pick < 0.3:
            out.append(f"10.{rng.randrange(256)}.0.{rng.randrange(256)}")
        elif pick < 0.5:
            out.append(f"192.168.{rng.randrange(2, 9)}.{rng.randrange(256)}")
        elif pick < 0.7:
            out.append(f"2001:db8:{rng.randrange(3)}::{rng.randrange(8):x}")
        elif pick < 0.8:
            out.append(f"2600:1f18:{rng.randrange(0x3000, 0x5000):x}::1")
        else:
            out.append(str(ipaddress.IPv4Address(rng.randrange(2**32))))
    return out


def test_ranges_agree_with_ipaddress() -> None:
    """CIDR matching equals the ipaddress module's answer, v4 and v6."""
    rng = random.Random(3)
    texts = _random_addresses(rng, 2000)
    nets = [ipaddress.ip_network(n) for n in NETS]
    expected = [any(ipaddress.ip_address(t) in n for n in nets) for t in texts]
    got = AddressRanges(NETS).contains(pack_addresses(texts)).tolist()
    assert expected == got


def test_address_set_membership() -> None:
    """AddressSet grows in bulk and answers exact membership."""
    members = AddressSet()
    members.add(pack_addresses(["10.0.0.1", "2001:db8::1"]))
    members.add(pack_addresses(["10.0.0.1", "10.0.0.2"]))
    probe = pack_addresses(["10.0.0.1", "10.0.0.3", "2001:db8::1", "::1"])
    assert 3 == len(members)
    assert [True, False, True, False] == members.contains(probe).tolist()


def test_format_addresses_like_aws() -> None:
    """IPv4 as dotted quads (mapped or not), IPv6 compressed."""
    texts = ["10.1.1.50", "2001:db8::1", "::", "0.0.0.0"]  # noqa: S104
    assert texts == format_addresses(pack_addresses(texts)).tolist()


def test_reverse_without_context_writes_dashes() -> None:
    """Without a map, cloud fields are '-' and counted per field."""
    text = (
        "version interface-id srcaddr dstaddr srcport dstport protocol "
        "packets bytes start end action log-status vpc-id\n"
        "3 eni-0a 198.51.100.1 10.0.0.5 1 22 6 2 80 1700000000 1700000004 "
        "REJECT OK vpc-0b\n"
    )
    batch = ChunkParser(source="t").feed(text.encode()).batch
    recs = Converter(ConvertConfig(action=ActionSelection.ALL)).convert(batch)
    formatter = VpcTextFormatter(
        fields=("srcaddr", "vpc-id", "interface-id", "action")
    )
    assert ["198.51.100.1 - - REJECT"] == formatter.lines(recs)
    assert {"vpc-id": 1, "interface-id": 1} == dict(formatter.stats.unknown)
    assert "srcaddr vpc-id interface-id action" == formatter.header()
    assert np.all(recs["memo"] & 0xF000 == 0)  # reserved bits stay 0
