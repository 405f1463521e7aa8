# SPDX-License-Identifier: MIT
"""Export helpers (prefix-map ranges, IPset addresses) and change events."""

from __future__ import annotations

import ipaddress
import itertools
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pysilk_ext.ctxmap import AMBIGUOUS_LABEL, Relation, diff
from pysilk_ext.ctxmap.cmap import _overlay
from tests.ctxmap_support import batch_of, build, rec

V4 = ipaddress.IPv4Address


def _ranges(cmap, field, at=None, scope=None, **kw):
    return [
        (str(lo), str(hi), label)
        for lo, hi, label in cmap.field_ranges(field, at, scope, **kw)
    ]


def _two_vpcs():
    recs = [
        rec(
            srcaddr="10.0.0.5",
            dstaddr="8.8.8.8",
            vpc_id="vpc-a",
            interface_id="eni-a",
            start=1000,
            end=1060,
        ),
        rec(
            srcaddr="10.0.0.6",
            dstaddr="8.8.8.8",
            vpc_id="vpc-a",
            interface_id="eni-a6",
            start=1000,
            end=1060,
        ),
        rec(
            srcaddr="10.0.0.5",
            dstaddr="8.8.8.8",
            vpc_id="vpc-b",
            interface_id="eni-b",
            start=1000,
            end=1060,
        ),
        rec(
            srcaddr="10.0.0.7",
            dstaddr="8.8.8.8",
            vpc_id="vpc-b",
            interface_id="eni-b7",
            start=1000,
            end=1060,
        ),
    ]
    return build(batch_of(recs))


def test_field_ranges_ambiguous_label_unscoped() -> None:
    """An unscoped vpc-id export labels the shared address ambiguous and
    merges nothing across labels."""
    cmap = _two_vpcs()
    assert [
        ("10.0.0.5", "10.0.0.5", AMBIGUOUS_LABEL),
        ("10.0.0.6", "10.0.0.6", "vpc-a"),
        ("10.0.0.7", "10.0.0.7", "vpc-b"),
    ] == _ranges(cmap, "vpc-id", at=1030)


def test_field_ranges_unscoped_agreeing_fields() -> None:
    """Ambiguity is per field: the shared address's VPCs agree on the
    account (one range over all three addresses) and on having no AWS
    service (no entry at all: no (ambiguous) /32 in the prefix map)."""
    cmap = _two_vpcs()
    assert [("10.0.0.5", "10.0.0.7", "111122223333")] == _ranges(
        cmap, "account-id", at=1030
    )
    assert [] == _ranges(cmap, "aws-service", at=1030)
    assert [] == _ranges(cmap, "aws-service", at=(1000, 1060))


def test_field_ranges_unscoped_disagreeing_account() -> None:
    """When the VPCs of a shared address belong to different accounts,
    its account-id is ambiguous; unshared addresses keep their own."""
    recs = [
        rec(srcaddr="10.0.0.5", dstaddr="8.8.8.8", vpc_id="vpc-a",
            account_id="111111111111"),
        rec(srcaddr="10.0.0.5", dstaddr="8.8.8.8", vpc_id="vpc-b",
            account_id="222222222222"),
        rec(srcaddr="10.0.0.6", dstaddr="8.8.8.8", vpc_id="vpc-b",
            account_id="222222222222"),
    ]  # fmt: skip
    cmap = build(batch_of(recs))
    assert [
        ("10.0.0.5", "10.0.0.5", AMBIGUOUS_LABEL),
        ("10.0.0.6", "10.0.0.6", "222222222222"),
    ] == _ranges(cmap, "account-id", at=1030)
    assert [("10.0.0.5", "10.0.0.6", "222222222222")] == _ranges(
        cmap, "account-id", at=1030, scope="vpc-b"
    )


def test_field_ranges_scoped() -> None:
    """A scoped export resolves the shared address to that VPC; the other
    VPC's unique addresses keep their own label (never hidden)."""
    cmap = _two_vpcs()
    assert [
        ("10.0.0.5", "10.0.0.6", "vpc-a"),
        ("10.0.0.7", "10.0.0.7", "vpc-b"),
    ] == _ranges(cmap, "vpc-id", at=1030, scope="vpc-a")


def test_field_ranges_time_range_flags_changes() -> None:
    """Over a time range, an address re-bound inside it is ambiguous;
    before its first binding it is absent."""
    recs = [
        rec(
            srcaddr="10.0.0.9",
            dstaddr="1.1.1.1",
            interface_id="eni-1",
            start=1000,
            end=1100,
        ),
        rec(
            srcaddr="10.0.0.9",
            dstaddr="1.1.1.1",
            interface_id="eni-2",
            start=2000,
            end=2100,
        ),
        rec(
            srcaddr="10.0.0.10",
            dstaddr="1.1.1.1",
            interface_id="eni-3",
            start=1000,
            end=2100,
        ),
    ]
    cmap = build(batch_of(recs))
    assert [
        ("10.0.0.9", "10.0.0.9", "eni-1"),
        ("10.0.0.10", "10.0.0.10", "eni-3"),
    ] == _ranges(cmap, "interface-id", at=(1000, 1999))
    assert [
        ("10.0.0.9", "10.0.0.9", AMBIGUOUS_LABEL),
        ("10.0.0.10", "10.0.0.10", "eni-3"),
    ] == _ranges(cmap, "interface-id", at=(1500, 2500))
    assert [] == _ranges(cmap, "interface-id", at=(0, 999))


def test_field_ranges_overlay_ip_ranges(tmp_path: Path) -> None:
    """Prefix labels from ip-ranges, split where the logs say otherwise;
    agreeing addresses merge into the prefix."""
    path = tmp_path / "ip-ranges.json"
    path.write_text(
        json.dumps(
            {
                "syncToken": "1",
                "createDate": "x",
                "prefixes": [
                    {
                        "ip_prefix": "52.216.0.0/30",
                        "service": "S3",
                        "region": "us-east-1",
                        "network_border_group": "us-east-1",
                    },
                ],
                "ipv6_prefixes": [],
            }
        )
    )
    recs = [
        rec(
            srcaddr="10.0.0.1", dstaddr="52.216.0.1", pkt_dst_aws_service="S3"
        ),
        rec(
            srcaddr="10.0.0.1", dstaddr="52.216.0.2", pkt_dst_aws_service="EC2"
        ),
    ]
    cmap = build(batch_of(recs), ranges=path)
    assert [
        ("52.216.0.0", "52.216.0.1", "S3"),
        ("52.216.0.2", "52.216.0.2", "EC2"),
        ("52.216.0.3", "52.216.0.3", "S3"),
    ] == _ranges(cmap, "aws-service", at=1030)
    assert [
        ("52.216.0.1", "52.216.0.1", "S3"),
        ("52.216.0.2", "52.216.0.2", "EC2"),
    ] == _ranges(cmap, "aws-service", at=1030, include_ranges=False)


@given(
    ranges=st.lists(
        st.tuples(
            st.integers(0, 60), st.integers(0, 6), st.sampled_from("AB")
        ),
        max_size=6,
    ),
    points=st.dictionaries(
        st.integers(0, 70), st.sampled_from("ABC"), max_size=10
    ),
)
def test_overlay_matches_brute_force(ranges, points) -> None:
    """Overlaying points on disjoint ranges equals labelling each key."""
    disjoint: list[tuple[int, int, str]] = []
    for lo, width, text in sorted(ranges):
        if disjoint and lo <= disjoint[-1][1]:
            continue
        disjoint.append((lo, lo + width, text))
    pts = sorted(points.items())
    out = _overlay(disjoint, pts)
    want = {}
    for lo, hi, text in disjoint:
        for k in range(lo, hi + 1):
            want[k] = text
    want.update(points)
    got = {}
    for lo, hi, text in out:
        for k in range(lo, hi + 1):
            assert k not in got
            got[k] = text
    assert want == got
    for (_, hi, a), (lo, _, b) in itertools.pairwise(out):
        assert not (hi + 1 == lo and a == b)


def test_addresses_for_ipsets(tmp_path: Path) -> None:
    """addresses(): every address of a VPC, collapsed; S3 with and without
    its prefixes; at a time, only those holding the value then."""
    cmap = _two_vpcs()
    assert [
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("10.0.0.6/32"),
    ] == cmap.addresses("vpc-id", "vpc-a")
    assert [
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("10.0.0.7/32"),
    ] == cmap.addresses("vpc-id", "vpc-b", at=1030, scope="vpc-b")
    path = tmp_path / "ip-ranges.json"
    path.write_text(
        json.dumps(
            {
                "syncToken": "1",
                "createDate": "x",
                "prefixes": [
                    {
                        "ip_prefix": "52.216.0.0/24",
                        "service": "S3",
                        "region": "r",
                        "network_border_group": "r",
                    }
                ],
                "ipv6_prefixes": [],
            }
        )
    )
    recs = [
        rec(srcaddr="10.0.0.1", dstaddr="54.231.0.9", pkt_dst_aws_service="S3")
    ]
    s3 = build(batch_of(recs), ranges=path)
    assert [
        ipaddress.ip_network("52.216.0.0/24"),
        ipaddress.ip_network("54.231.0.9/32"),
    ] == s3.addresses("aws-service", "S3")
    assert [ipaddress.ip_network("54.231.0.9/32")] == s3.addresses(
        "aws-service", "S3", include_ranges=False
    )
    internal = s3.relation_addresses(Relation.IFACE, Relation.ENI)
    assert [ipaddress.ip_network("10.0.0.1/32")] == internal


def _events(old, new, **kw):
    return [json.loads(json.dumps(e)) for e in diff(old, new, **kw)]


def test_diff_events() -> None:
    """Each change gives its event: new VPC, new interface, rebound
    address, new service address, interface gone quiet."""
    base = [
        rec(
            srcaddr="10.0.0.9",
            dstaddr="1.1.1.1",
            interface_id="eni-1",
            instance_id="i-1",
            start=1000,
            end=1100,
        ),
        rec(
            srcaddr="10.0.0.4",
            dstaddr="1.1.1.1",
            interface_id="eni-4",
            instance_id="i-4",
            start=1000,
            end=1100,
        ),
    ]
    later = [
        rec(
            srcaddr="10.0.0.9",
            dstaddr="52.216.0.1",
            interface_id="eni-2",
            instance_id="i-2",
            start=9000,
            end=9100,
            pkt_dst_aws_service="S3",
        ),
        rec(
            srcaddr="10.8.0.1",
            dstaddr="1.1.1.1",
            vpc_id="vpc-new",
            interface_id="eni-8",
            instance_id="i-8",
            start=9000,
            end=9100,
        ),
    ]
    old = build(batch_of(base))
    new = build(batch_of(base + later))
    events = _events(old, new, quiet=3600)
    names = [
        (
            e["event"],
            e.get("address") or e.get("interface-id") or e.get("vpc-id"),
        )
        for e in events
    ]
    assert [
        ("address-rebound", "10.0.0.9"),
        ("new-interface", "eni-2"),
        ("new-interface", "eni-8"),
        ("new-service-address", "52.216.0.1"),
        ("new-vpc", "vpc-new"),
        ("interface-quiet", "eni-1"),
        ("interface-quiet", "eni-4"),
    ] == names
    moved = events[0]
    assert (
        {
            "interface-id": "eni-1",
            "instance-id": "i-1",
            "first_seen": 1000,
            "last_seen": 1100,
        },
        "eni-2",
        "vpc-0aaaaaaaaaaaaaaa1",
    ) == (moved["old"], moved["new"]["interface-id"], moved["scope"])
    assert "1970-01-01T02:30:00Z" == moved["time"]
    assert [] == _events(new, new)


def test_value_queries_exclude_packet_addresses_by_default() -> None:
    """Internet hosts seen behind a NAT ENI carry its fields only in the
    packet relation: not addresses of the VPC unless asked for."""
    nat = {"interface_id": "eni-nat", "instance_id": "-"}
    recs = [
        rec(
            srcaddr="10.0.1.5",
            dstaddr="10.0.0.220",
            pkt_dstaddr="203.0.113.5",
            flow_direction="ingress",
            **nat,
        ),
    ]
    cmap = build(batch_of(recs))
    vpc = "vpc-0aaaaaaaaaaaaaaa1"
    assert [ipaddress.ip_network("10.0.0.220/32")] == cmap.addresses(
        "vpc-id", vpc
    )
    assert [ipaddress.ip_network("203.0.113.5/32")] == cmap.addresses(
        "vpc-id", vpc, relations=(Relation.PKT,)
    )
    assert ["interface"] == [
        b.relation for b in cmap.lookup_value("interface-id", "eni-nat")
    ]
