# SPDX-License-Identifier: MIT
"""The C conversion kernel (csrc/pse_conv.c) against the NumPy rules.

``Classifier.classify_records`` gathers each record's facts in C and
looks them up in the rule table; ``Classifier.classify`` takes the same
facts as NumPy arrays.  Both must agree for every mix of protocols,
ports, directions, address kinds and configuration switches, so the
records here are random (seeded) over small pools that hit every rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.convert import layout as L
from pysilk_ext.convert.addrs import AddressSet, pack_addresses
from pysilk_ext.convert.classify import Classifier, no_network
from pysilk_ext.convert.config import ClassifyConfig, Direction
from pysilk_ext.silkfmt.appender import RepositoryWriter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE, TCP_STATE_IPV6
from pysilk_ext.silkfmt.siteconf import load_siteconf

POOL = [
    "10.0.1.5",
    "10.0.2.9",
    "198.51.100.7",
    "52.216.8.100",
    "0.0.0.0",  # noqa: S104 - an address on no network, not a bind
    "224.0.0.251",
    "239.255.255.255",
    "255.255.255.255",
    "fd00::5",
    "2001:db8::7",
    "::",
    "ff02::1",
    "::ffff:10.0.1.5",
]
#: Interface addresses the classifier has "learned".
OWN = ["10.0.1.5", "10.0.2.9", "fd00::5"]


def _random_records(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random FLOW_DTYPE records over POOL, and a random REJECT mask."""
    rng = np.random.default_rng(seed)
    addrs = pack_addresses(POOL)
    recs = np.zeros(n, dtype=FLOW_DTYPE)
    raw = recs.view(np.uint8).reshape(n, FLOW_DTYPE.itemsize)
    for name in ("sip", "dip"):
        at = FLOW_DTYPE.fields[name][1]  # type: ignore[index]  # a struct
        raw[:, at : at + 16] = addrs[rng.integers(0, len(POOL), n)]
    recs["proto"] = rng.choice([1, 6, 17, 58], n)
    recs["sport"] = rng.choice([0, 22, 80, 443, 5555, 8080, 65535], n)
    recs["dport"] = rng.choice([0, 25, 80, 443, 5353, 8080], n)
    recs["input"] = rng.integers(0, 4, n)
    recs["tcp_state"] = np.where(rng.random(n) < 0.5, TCP_STATE_IPV6, 0)
    recs["memo"] = rng.choice(
        [0, L.MEMO_SRC_AWS_SERVICE, L.MEMO_DST_AWS_SERVICE, 0x0603], n
    )
    return recs, rng.random(n) < 0.3


def _numpy_classify(
    classifier: Classifier,
    recs: np.ndarray,
    reject: np.ndarray,
    own: AddressSet,
    extra: dict[str, np.ndarray],
) -> np.ndarray:
    """The facts as the converter used to compute them, then classify()."""
    sip = np.ascontiguousarray(recs["sip"])
    dip = np.ascontiguousarray(recs["dip"])
    memo = recs["memo"]
    zeros = np.zeros(len(recs), dtype=bool)
    return classifier.classify(
        reject=reject,
        direction=recs["input"],
        proto=recs["proto"],
        sport=recs["sport"],
        dport=recs["dport"],
        ipv6=(recs["tcp_state"] & TCP_STATE_IPV6) != 0,
        src_internal=own.contains(sip) | extra.get("src_internal", zeros),
        dst_internal=own.contains(dip) | extra.get("dst_internal", zeros),
        src_aws=((memo & L.MEMO_SRC_AWS_SERVICE) != 0)
        | extra.get("src_aws", zeros),
        dst_aws=((memo & L.MEMO_DST_AWS_SERVICE) != 0)
        | extra.get("dst_aws", zeros),
        src_none=no_network(sip),
        dst_none=no_network(dip),
    )


@pytest.mark.parametrize(
    "config",
    [
        ClassifyConfig(),
        ClassifyConfig(icmp_types=False, aws_types=False),
        ClassifyConfig(
            default_direction=Direction.EGRESS,
            web_ports=frozenset({22, 443}),
        ),
    ],
    ids=["default", "no-icmp-no-aws", "egress-default-ssh-web"],
)
@pytest.mark.parametrize("with_extra", [False, True])
def test_c_classification_equals_numpy_rules(
    config: ClassifyConfig, with_extra: bool
) -> None:
    """classify_records (C) == classify (NumPy) on random records."""
    recs, reject = _random_records(4000, seed=11)
    own = AddressSet()
    own.add(pack_addresses(OWN))
    rng = np.random.default_rng(5)
    extra = (
        {
            name: rng.random(len(recs)) < 0.2
            for name in ("src_internal", "dst_internal", "src_aws", "dst_aws")
        }
        if with_extra
        else {}
    )
    classifier = Classifier(config)
    expected = _numpy_classify(classifier, recs, reject, own, extra)
    classifier.classify_records(recs, reject, own, **extra)
    assert expected.tolist() == recs["flowtype"].tolist()


def test_c_classification_without_learned_addresses() -> None:
    """An empty address set: only the extra masks make endpoints internal."""
    recs, reject = _random_records(500, seed=3)
    classifier = Classifier()
    expected = _numpy_classify(classifier, recs, reject, AddressSet(), {})
    classifier.classify_records(recs, reject, AddressSet())
    assert expected.tolist() == recs["flowtype"].tolist()


def test_sorted_members_are_what_contains_finds() -> None:
    """sorted_members: IPv4 as sorted integers, the rest as sorted rows."""
    own = AddressSet()
    own.add(pack_addresses(["10.0.2.9", "fd00::5", "10.0.1.5", "::1"]))
    v4, v6 = own.sorted_members()
    assert [0x0A000105, 0x0A000209] == v4.tolist()
    assert sorted(
        bytes(row) for row in pack_addresses(["fd00::5", "::1"])
    ) == [bytes(row) for row in v6]


def test_group_rows_into_a_buffer_gives_the_same_groups(
    silk_fixtures: Path, tmp_path: Path
) -> None:
    """group_rows(out=...) fills the caller's buffer with the same groups."""
    shutil.copyfile(silk_fixtures / "site" / "silk.conf", tmp_path / "s.conf")
    site = load_siteconf(tmp_path / "s.conf")
    recs, _ = _random_records(3000, seed=8)
    rng = np.random.default_rng(2)
    recs["flowtype"] = rng.choice(sorted(site.flowtypes)[:4], len(recs))
    recs["sensor"] = rng.choice(sorted(site.sensors)[:3], len(recs))
    recs["stime"] = 1_700_000_000_000 + rng.integers(
        0, 4 * 3_600_000, len(recs)
    )
    order = rng.integers(0, 1 << 20, len(recs)).astype(np.uint64)
    writer = RepositoryWriter(tmp_path / "repo", site)
    buffer = np.empty(len(recs) + 10, dtype=FLOW_DTYPE)
    plain = writer.group_rows(recs, order).parts
    into = writer.group_rows(recs, order, out=buffer).parts
    writer.abort()
    assert [key for key, _ in plain] == [key for key, _ in into]
    for (_, a), (_, b) in zip(plain, into, strict=True):
        assert np.shares_memory(b, buffer)
        assert a.view("V88").tolist() == b.view("V88").tolist()


def test_fact_bits_are_those_of_the_c_header() -> None:
    """classify.FACT_* and pse_conv.h's PSE_CONV_FACT_* are one layout."""
    from pysilk_ext.convert import classify

    names = [
        "REJECT", "INGRESS", "EGRESS", "WEB", "ICMP", "SRC_INT", "DST_INT",
        "SRC_AWS", "DST_AWS", "SRC_NONE", "DST_NONE",
    ]  # fmt: skip
    expected = [getattr(classify.lib, f"PSE_CONV_FACT_{n}") for n in names]
    expected.append(classify.lib.PSE_CONV_FACTS)
    actual = [getattr(classify, f"FACT_{n}") for n in names]
    actual.append(classify.FACT_COMBINATIONS)
    assert expected == actual


def test_issue_reasons_cover_the_c_counters() -> None:
    """One RecordIssues reason per counter of pse_conv_records."""
    from pysilk_ext.convert import records

    assert records._lib.PSE_CONV_ISSUES == len(records._ISSUE_REASONS)
