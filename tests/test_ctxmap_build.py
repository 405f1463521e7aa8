# SPDX-License-Identifier: MIT
"""Context map: bindings learned from logs, inventory and ip-ranges."""

from __future__ import annotations

import bisect
import ipaddress
import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from pysilk_ext.ctxmap import (
    AMBIGUOUS_LABEL,
    UNKNOWN_SCOPE,
    ContextMap,
    ContextMapBuilder,
    merge,
)
from pysilk_ext.ctxmap.ipranges import load_ip_ranges
from pysilk_ext.errors import ContextMapError
from tests.conftest import SEED_INTERNAL, SEED_S3
from tests.ctxmap_support import (
    DATA,
    V2,
    batch_of,
    bindings_of,
    build,
    parse_file,
    rec,
)

#: What the map answers for the seed's internal address (no sublocation).
SEED_FIELDS = {
    k: v
    for k, v in SEED_INTERNAL.items()
    if k not in ("address", "sublocation-id")
}
SEED_T = 1690329610


@pytest.fixture(scope="module")
def seed_map(shared: Path):
    """The map of the talk's 31 rows (plus the real ip-ranges.json)."""
    return build(
        parse_file(shared / "data" / "seed-sample-v5.log"),
        ranges=shared / "data" / "ip-ranges.json",
    )


def test_seed_s3_labels(seed_map) -> None:
    """The talk's S3 table: every S3 address of the seed is labelled S3,
    and the logs' own service bindings are exactly those addresses."""
    found = {
        r.address: r.fields.get("aws-service")
        for r in seed_map.lookup(SEED_S3, at=SEED_T)
    }
    assert dict.fromkeys(SEED_S3, "S3") == found
    observed = seed_map.addresses("aws-service", "S3", include_ranges=False)
    assert sorted(SEED_S3, key=lambda a: tuple(map(int, a.split(".")))) == [
        str(n.network_address) for n in observed
    ]
    assert {"service"} == {
        b.relation for b in seed_map.lookup_value("aws-service", "S3")
    }


def test_seed_internal_labels(seed_map) -> None:
    """The talk's internal table: 10.1.1.50 -> AZ, instance, interface,
    region, subnet, account, VPC, no sublocation; first/last seen are the
    records' start/end."""
    (result,) = seed_map.lookup(["10.1.1.50"], at=SEED_T)
    expected = dict(SEED_FIELDS, type="IPv4")
    assert expected == result.fields
    binding = result.bindings["interface"]
    assert (1690329606, 1690329625) == (binding.first_seen, binding.last_seen)
    assert "vpc-0844e5fb7dab616dd" == binding.scope
    assert not result.stale
    assert "sublocation-id" not in result.fields


def test_seed_peer_is_not_an_interface(seed_map) -> None:
    """10.1.1.25 only ever appears as the remote side: no binding."""
    assert [] == bindings_of(seed_map, "10.1.1.25")
    (result,) = seed_map.lookup(["10.1.1.25"], at=SEED_T)
    assert {} == result.fields


def test_overlapping_vpcs_kept_apart() -> None:
    """One private address in two VPCs: two bindings, each scoped lookup
    finds its own, the unscoped lookup is ambiguous (no guess) for the
    fields the VPCs disagree on, and gives the ones they agree on."""
    recs = [
        rec(
            srcaddr="10.0.0.5",
            dstaddr="8.8.8.8",
            vpc_id="vpc-a",
            interface_id="eni-a",
            instance_id="i-a",
        ),
        rec(
            srcaddr="10.0.0.5",
            dstaddr="8.8.4.4",
            vpc_id="vpc-b",
            interface_id="eni-b",
            instance_id="i-b",
        ),
    ]
    cmap = build(batch_of(recs))
    assert [("interface", "eni-a"), ("interface", "eni-b")] == sorted(
        bindings_of(cmap, "10.0.0.5")
    )
    (a,) = cmap.lookup(["10.0.0.5"], at=1030, scope="vpc-a")
    (b,) = cmap.lookup(["10.0.0.5"], at=1030, scope="vpc-b")
    (any_,) = cmap.lookup(["10.0.0.5"], at=1030)
    assert ("eni-a", "i-a") == (
        a.fields["interface-id"],
        a.fields["instance-id"],
    )
    assert ("eni-b", "i-b") == (
        b.fields["interface-id"],
        b.fields["instance-id"],
    )
    assert any_.ambiguous
    assert ("vpc-a", "vpc-b") == any_.scopes
    # Per field: what both VPCs say when they agree, else ambiguous.
    agreed = {
        name: (
            a.fields[name]
            if a.fields.get(name) == b.fields.get(name)
            else AMBIGUOUS_LABEL
        )
        for name in a.fields.keys() | b.fields.keys()
    }
    assert agreed == any_.fields
    assert AMBIGUOUS_LABEL == any_.fields["instance-id"]
    assert "us-east-1" == any_.fields["region"]
    assert "aws-service" not in any_.fields
    rows, _flags = cmap.lookup_rows(cmap._all_addresses()[:1], 1030, None)
    assert -2 == rows[0, 0]
    ids = cmap.value_ids(
        cmap._all_addresses()[:1], 1030, None, ["vpc-id", "region"]
    )
    assert [AMBIGUOUS_LABEL, "us-east-1"] == [
        cmap.label(int(v)) for v in ids[0]
    ]


def test_scope_never_hides_a_unique_answer() -> None:
    """A lookup scoped to a VPC where the address is unknown answers as
    an unscoped lookup (the address is bound in one VPC only)."""
    cmap = build(batch_of([rec(srcaddr="10.9.9.9", dstaddr="1.1.1.1")]))
    for scope in ("vpc-0aaaaaaaaaaaaaaa1", "vpc-other", "vpc-not-in-map"):
        (r,) = cmap.lookup(["10.9.9.9"], at=1030, scope=scope)
        assert "eni-0aaaaaaaaaaaaaaa1" == r.fields["interface-id"]


def _per_vpc(cmap: ContextMap, address: str, at: int, field: str) -> str:
    """Reference for an ambiguous address: ask each of its VPCs (scoped
    lookups) and keep the answer they share, else ``(ambiguous)``."""
    (found,) = cmap.lookup([address], at=at)
    assert found.ambiguous
    answers = {
        cmap.lookup([address], at=at, scope=vpc)[0].fields.get(field, "-")
        for vpc in found.scopes
    }
    return answers.pop() if len(answers) == 1 else AMBIGUOUS_LABEL


def test_unscoped_service_disagrees_with_none() -> None:
    """A private address that is an S3 endpoint in one VPC and an
    instance's address in another: its VPCs disagree on aws-service (a
    value against none) and on the instance's fields (the endpoint has
    none), so those are ambiguous; both have no sublocation."""
    recs = [
        rec(srcaddr="10.0.0.9", dstaddr="10.0.0.5", vpc_id="vpc-a",
            interface_id="eni-a9", pkt_dst_aws_service="S3"),
        rec(srcaddr="10.0.0.5", dstaddr="8.8.8.8", vpc_id="vpc-b",
            interface_id="eni-b5"),
    ]  # fmt: skip
    cmap = build(batch_of(recs))
    (r,) = cmap.lookup(["10.0.0.5"], at=1030)
    assert r.ambiguous
    for field in ("aws-service", "interface-id", "account-id", "region"):
        assert _per_vpc(cmap, "10.0.0.5", 1030, field) == r.fields.get(
            field, "-"
        ), field
    assert AMBIGUOUS_LABEL == r.fields["aws-service"]
    assert AMBIGUOUS_LABEL == r.fields["account-id"]
    assert "sublocation-id" not in r.fields


def test_unscoped_candidates_include_global_bindings() -> None:
    """A public address that two VPCs' interfaces own (an Elastic IP
    moved) and the logs label S3 (a global binding): each VPC's answer
    includes the global label, so aws-service is S3 unscoped while the
    interface is ambiguous."""
    recs = [
        rec(srcaddr="54.1.1.1", dstaddr="8.8.8.8", vpc_id="vpc-a",
            interface_id="eni-a1", start=1000, end=1060),
        rec(srcaddr="54.1.1.1", dstaddr="8.8.8.8", vpc_id="vpc-b",
            interface_id="eni-b1", start=2000, end=2060),
        rec(srcaddr="10.0.0.1", dstaddr="54.1.1.1", vpc_id="vpc-c",
            interface_id="eni-c1", pkt_dst_aws_service="S3"),
    ]  # fmt: skip
    cmap = build(batch_of(recs))
    assert {None, "vpc-a", "vpc-b"} == {
        b.scope for b in cmap.iter_bindings() if b.address == "54.1.1.1"
    }
    (before,) = cmap.lookup(["54.1.1.1"], at=1500)
    assert not before.ambiguous
    assert ("eni-a1", "S3") == (
        before.fields["interface-id"],
        before.fields["aws-service"],
    )
    (after,) = cmap.lookup(["54.1.1.1"], at=2030)
    assert after.ambiguous
    assert ("vpc-a", "vpc-b") == after.scopes
    assert AMBIGUOUS_LABEL == after.fields["interface-id"]
    assert "S3" == after.fields["aws-service"]


def test_unscoped_ipv6_private_space_per_field() -> None:
    """Unique-local IPv6 space reused in two VPCs of one account: the
    account is answered, the subnet is ambiguous (the C core's IPv6
    path)."""
    recs = [
        rec(srcaddr="fd00::5", dstaddr="fd00::99", vpc_id="vpc-a",
            subnet_id="subnet-a", interface_id="eni-a", type="IPv6"),
        rec(srcaddr="fd00::5", dstaddr="fd00::99", vpc_id="vpc-b",
            subnet_id="subnet-b", interface_id="eni-b", type="IPv6"),
    ]  # fmt: skip
    cmap = build(batch_of(recs))
    (r,) = cmap.lookup(["fd00::5"], at=1030)
    assert r.ambiguous
    assert "111122223333" == r.fields["account-id"]
    assert AMBIGUOUS_LABEL == r.fields["subnet-id"]
    assert "aws-service" not in r.fields


def test_batch_and_pair_entries_agree_on_ambiguity() -> None:
    """The batch entry (pse_ctxmap_values) and the plug-in's pair entry
    (pse_ctxmap_pair_values) give the same per-field answers, for every
    address, time and scope of a map with reused space."""
    from pysilk_ext import _binding
    from pysilk_ext.ctxmap.model import FIELDS

    recs = [
        rec(srcaddr="10.0.0.5", dstaddr="10.0.0.6", vpc_id=vpc,
            interface_id=f"eni-{vpc}", account_id=acct, start=t, end=t + 60,
            pkt_dst_aws_service=svc)
        for vpc, acct, t, svc in (
            ("vpc-a", "111111111111", 1000, "-"),
            ("vpc-b", "111111111111", 1500, "S3"),
            ("vpc-c", "222222222222", 2000, "-"),
        )
    ]  # fmt: skip
    cmap = build(batch_of(recs))
    mod = _binding.load("ctxmap")
    ffi, lib = mod.ffi, mod.lib
    addrs = cmap._all_addresses()
    index = [f.index for f in FIELDS]
    fields = ffi.new("uint32_t[]", index)
    out = ffi.new("uint32_t[]", 2 * len(index))
    for scope in (None, "vpc-a", "vpc-b", "vpc-zzz"):
        for t in (900, 1030, 1530, 2030, 3000):
            batch = cmap.value_ids(addrs, t, scope, [f.name for f in FIELDS])
            for i in range(len(addrs)):
                pair = bytes(addrs[i]) + bytes(addrs[-1 - i])
                assert lib.PSE_OK == lib.pse_ctxmap_pair_values(
                    cmap._h, pair, t, cmap.scope_id(scope), fields,
                    len(index), out,
                )  # fmt: skip
                got = list(out)
                assert batch[i].tolist() == got[: len(index)]
                assert batch[-1 - i].tolist() == got[len(index) :]
    # 10.0.0.5: VPCs a and b (one account) by 1530, and c (another) by
    # 2030; the service label belongs to 10.0.0.6 in VPC b only.
    (mid,) = cmap.lookup(["10.0.0.5"], at=1530)
    (late,) = cmap.lookup(["10.0.0.5"], at=2030)
    assert (("vpc-a", "vpc-b"), "111111111111") == (
        mid.scopes,
        mid.fields["account-id"],
    )
    assert (("vpc-a", "vpc-b", "vpc-c"), AMBIGUOUS_LABEL) == (
        late.scopes,
        late.fields["account-id"],
    )
    for at in (1530, 2030):
        for field in ("account-id", "aws-service", "vpc-id", "region"):
            (r,) = cmap.lookup(["10.0.0.5"], at=at)
            assert _per_vpc(cmap, "10.0.0.5", at, field) == r.fields.get(
                field, "-"
            ), (at, field)


def test_ip_reuse_starts_a_new_interval() -> None:
    """An address re-bound to another ENI/instance keeps both intervals;
    lookups before, within, between and after them follow the rule."""
    recs = [
        rec(
            srcaddr="10.0.0.9",
            dstaddr="1.1.1.1",
            interface_id="eni-1",
            instance_id="i-1",
            start=1000,
            end=1100,
        ),
        rec(
            srcaddr="10.0.0.9",
            dstaddr="1.1.1.1",
            interface_id="eni-1",
            instance_id="i-1",
            start=1040,
            end=1090,
        ),
        rec(
            srcaddr="10.0.0.9",
            dstaddr="1.1.1.1",
            interface_id="eni-2",
            instance_id="i-2",
            start=2000,
            end=2100,
        ),
    ]
    cmap = build(batch_of(recs))
    spans = sorted(
        (b.fields["interface-id"], b.first_seen, b.last_seen)
        for b in cmap.iter_bindings()
    )
    assert [("eni-1", 1000, 1100), ("eni-2", 2000, 2100)] == spans
    cases = [
        (900, None, False),  # before the first interval: none
        (1050, "eni-1", False),  # inside the first
        (1100, "eni-1", False),  # on its last second
        (1500, "eni-1", True),  # between: extrapolated, stale
        (2000, "eni-2", False),  # re-bound
        (3000, "eni-2", True),  # after the last: stale
    ]
    for at, iface, stale in cases:
        (r,) = cmap.lookup(["10.0.0.9"], at=at)
        assert (iface, stale) == (r.fields.get("interface-id"), r.stale), at


def test_nat_packet_addresses_kept_separate() -> None:
    """On a NAT gateway ENI the forwarded internet host appears only in
    pkt-dstaddr: it becomes a 'packet' binding (kind forwarded), never
    an address owned by the NAT interface."""
    nat = {"interface_id": "eni-nat", "instance_id": "-"}
    recs = [
        # instance -> NAT ENI (ingress on the NAT ENI)
        rec(
            srcaddr="10.0.1.5",
            dstaddr="10.0.0.220",
            pkt_dstaddr="203.0.113.5",
            flow_direction="ingress",
            **nat,
        ),
        # NAT ENI -> internet
        rec(srcaddr="10.0.0.220", dstaddr="203.0.113.5", **nat),
    ]
    cmap = build(batch_of(recs))
    (host,) = cmap.lookup(["203.0.113.5"], at=1030)
    assert "interface-id" not in host.fields
    packet = host.bindings["packet"]
    assert ("eni-nat", ("forwarded",), None) == (
        packet.fields["interface-id"],
        packet.kinds,
        packet.scope,
    )
    (own,) = cmap.lookup(["10.0.0.220"], at=1030)
    assert "eni-nat" == own.fields["interface-id"]
    assert [("interface", "eni-nat")] == bindings_of(cmap, "10.0.0.220")


def test_secondary_address_needs_inventory_evidence(tmp_path: Path) -> None:
    """A pod on a secondary IP shows only in pkt-srcaddr: a 'packet'
    binding without 'forwarded'; once the inventory lists the address as
    the ENI's secondary IP, the inventory answers for it."""
    recs = [
        rec(
            srcaddr="10.1.1.50",
            dstaddr="10.1.9.9",
            pkt_srcaddr="10.1.1.77",
            interface_id="eni-0ffa7e54f1ae8fa1b",
            vpc_id="vpc-0844e5fb7dab616dd",
            start=1690329606,
            end=1690329625,
        ),
    ]
    logs_only = build(batch_of(recs))
    (pod,) = logs_only.lookup(["10.1.1.77"], at=1690329610)
    assert {} == pod.fields
    assert () == pod.bindings["packet"].kinds
    with_inv = build(
        batch_of(recs), eni=DATA / "eni-describe.json", eni_at=1690329700
    )
    (pod,) = with_inv.lookup(
        ["10.1.1.77"], at=1690329700, scope="vpc-0844e5fb7dab616dd"
    )
    assert "eni-0ffa7e54f1ae8fa1b" == pod.fields["interface-id"]
    assert ("secondary",) == pod.bindings["inventory"].kinds


def test_v2_logs_infer_the_interface_side() -> None:
    """Version 2 records carry no flow-direction: the address present in
    every record of the ENI is its own, inbound REJECT scans included;
    without vpc-id the scope is unknown ('?')."""
    v2 = {"version": 2, "interface_id": "eni-v2"}
    recs = [
        rec(
            srcaddr="172.31.16.139",
            dstaddr="172.31.16.21",
            start=10,
            end=70,
            **v2,
        ),
        rec(
            srcaddr="172.31.16.21",
            dstaddr="172.31.16.139",
            start=15,
            end=70,
            **v2,
        ),
        rec(
            srcaddr="203.0.113.12",
            dstaddr="172.31.16.139",
            action="REJECT",
            start=20,
            end=80,
            **v2,
        ),
        rec(
            srcaddr="198.51.100.7",
            dstaddr="172.31.16.139",
            action="REJECT",
            start=30,
            end=95,
            **v2,
        ),
    ]
    builder = ContextMapBuilder()
    builder.add_batch(batch_of(recs, V2))
    cmap = builder.build()
    (b,) = list(cmap.iter_bindings())
    assert ("172.31.16.139", "eni-v2", UNKNOWN_SCOPE, 10, 95) == (
        b.address,
        b.fields["interface-id"],
        b.scope,
        b.first_seen,
        b.last_seen,
    )
    assert 4 == builder.stats.undirected
    assert 1 == builder.stats.inferred_interfaces
    assert 0 == builder.stats.unattributed


def test_v2_scan_only_interface_takes_the_destination() -> None:
    """An ENI that only receives REJECTed scans, one per scanner: every
    address appears once, and the REJECT rule picks the destination."""
    v2 = {"version": 2, "interface_id": "eni-scan", "action": "REJECT"}
    recs = [rec(srcaddr="198.51.100.7", dstaddr="10.5.5.5", **v2)]
    cmap = build(batch_of(recs, V2))
    assert [("interface", "eni-scan")] == bindings_of(cmap, "10.5.5.5")
    assert [] == bindings_of(cmap, "198.51.100.7")


def test_v2_scope_joined_from_inventory(tmp_path: Path) -> None:
    """With an inventory, a v2 binding of unknown VPC gets its ENI's VPC
    and the inventory fills the fields the logs lack."""
    v2 = {
        "version": 2,
        "interface_id": "eni-0ffa7e54f1ae8fa1b",
        "account_id": "904652123456",
    }
    t = {"start": 1690329600, "end": 1690329660}
    recs = [
        rec(srcaddr="10.1.1.50", dstaddr="10.1.1.25", **t, **v2),
        rec(srcaddr="10.1.1.25", dstaddr="10.1.1.50", **t, **v2),
    ]
    cmap = build(
        batch_of(recs, V2), eni=DATA / "eni-describe.json", eni_at=1690329700
    )
    iface = [b for b in cmap.iter_bindings() if b.relation == "interface"]
    assert ["vpc-0844e5fb7dab616dd"] == [b.scope for b in iface]
    (r,) = cmap.lookup(
        ["10.1.1.50"], at=1690329650, scope="vpc-0844e5fb7dab616dd"
    )
    assert ("i-0826dea5238644ce7", "subnet-0d7d9632ca72baf2") == (
        r.fields["instance-id"],
        r.fields["subnet-id"],
    )


def test_reingest_and_self_merge_change_nothing(shared: Path) -> None:
    """Ingesting the same logs twice, or merging a map with itself, gives
    the same bytes."""
    seed = parse_file(shared / "data" / "seed-sample-v5.log")
    once = build(seed)
    twice = build(seed, seed)
    assert once.data == twice.data
    assert once.data == merge(once, once).data
    builder = ContextMapBuilder()
    builder.add_map(once)
    builder.add_batch(seed)
    assert once.data == builder.build().data


def test_builder_can_build_again() -> None:
    """build() does not consume the builder: more input, newer map."""
    builder = ContextMapBuilder()
    builder.add_batch(batch_of([rec(srcaddr="10.0.0.1", dstaddr="1.1.1.1")]))
    first = builder.build()
    builder.add_batch(
        batch_of(
            [rec(srcaddr="10.0.0.1", dstaddr="1.1.1.1", start=5000, end=5060)]
        )
    )
    second = builder.build()
    assert [(1000, 1060)] == [
        (b.first_seen, b.last_seen) for b in first.iter_bindings()
    ]
    assert [(1000, 5060)] == [
        (b.first_seen, b.last_seen) for b in second.iter_bindings()
    ]


def test_status_records_are_not_bindings() -> None:
    """NODATA/SKIPDATA lines carry no addresses and bind nothing."""
    recs = [
        rec(
            srcaddr="-",
            dstaddr="-",
            pkt_srcaddr="-",
            pkt_dstaddr="-",
            log_status="NODATA",
            action="-",
            flow_direction="-",
        )
    ]
    builder = ContextMapBuilder()
    builder.add_batch(batch_of(recs))
    assert 0 == len(builder.build())
    assert 1 == builder.stats.not_flows


def test_eni_inventory_sample() -> None:
    """The describe-network-interfaces sample: primary, secondary, IPv6,
    public and Elastic IP addresses with their interface, instance,
    subnet, VPC, owner and region (from the AZ name)."""
    cmap = build(eni=DATA / "eni-describe.json", eni_at=1690329700)
    got = {
        (b.address, b.scope): (
            b.kinds,
            b.fields.get("interface-id"),
            b.fields.get("instance-id"),
            b.first_seen,
        )
        for b in cmap.iter_bindings()
    }
    web = "eni-0ffa7e54f1ae8fa1b"
    attach = 1689844502  # 2023-07-20T09:15:02Z
    expected = {
        ("10.1.1.50", "vpc-0844e5fb7dab616dd"): (
            ("primary",),
            web,
            "i-0826dea5238644ce7",
            attach,
        ),
        ("10.1.1.77", "vpc-0844e5fb7dab616dd"): (
            ("secondary",),
            web,
            "i-0826dea5238644ce7",
            1690329700,
        ),
        ("3.91.12.34", None): (
            ("public",),
            web,
            "i-0826dea5238644ce7",
            1690329700,
        ),
        ("2600:1f18:6a2:4b00:7e1a:2f3c:9d4e:51a0", None): (
            ("ipv6",),
            web,
            "i-0826dea5238644ce7",
            attach,
        ),
        ("10.1.0.220", "vpc-0844e5fb7dab616dd"): (
            ("primary",),
            "eni-0a1b2c3d4e5f60718",
            None,
            1690329700,
        ),
        ("54.210.7.9", None): (
            ("public", "elastic"),
            "eni-0a1b2c3d4e5f60718",
            None,
            1690329700,
        ),
        ("10.1.2.9", "vpc-0844e5fb7dab616dd"): (
            ("primary",),
            "eni-07e6d5c4b3a291807",
            None,
            1690329700,
        ),
        ("10.1.1.50", "vpc-0f3e2d1c0b9a87654"): (
            ("primary",),
            "eni-0c9b8a7f6e5d4c3b2",
            "i-05b4c3d2e1f0a9b8c",
            1690310411,
        ),
    }
    assert expected == got
    (nat,) = cmap.lookup(["10.1.0.220"], at=1690329700)
    assert {
        "interface-type": "nat_gateway",
        "region": "us-east-1",
        "availability-zone": "us-east-1b",
    }.items() <= nat.fields.items()
    (eu,) = cmap.lookup(
        ["10.1.1.50"], at=1690329700, scope="vpc-0f3e2d1c0b9a87654"
    )
    assert ("eu-west-1", "euw1-az3", "210987654321") == (
        eu.fields["region"],
        eu.fields["az-id"],
        eu.fields["account-id"],
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(NetworkInterfaces={}), "is not a list"),
        (lambda d: d.pop("NetworkInterfaces"), "No 'NetworkInterfaces' key"),
        (
            lambda d: d["NetworkInterfaces"][1].pop("NetworkInterfaceId"),
            r"NetworkInterfaces\[1\]: Missing 'NetworkInterfaceId'",
        ),
        (
            lambda d: d["NetworkInterfaces"][0]["PrivateIpAddresses"][
                1
            ].update(PrivateIpAddress="10.1.1.777"),
            r"NetworkInterfaces\[0\]: PrivateIpAddresses\[1\]: Invalid "
            r"PrivateIpAddress '10.1.1.777'",
        ),
        (
            lambda d: d["NetworkInterfaces"][0]["Ipv6Addresses"][0].update(
                Ipv6Address="10.0.0.1"
            ),
            "Not an IPv6 address",
        ),
        (
            lambda d: d["NetworkInterfaces"][0]["Attachment"].update(
                AttachTime="yesterday"
            ),
            "Invalid AttachTime 'yesterday'",
        ),
        (
            lambda d: d["NetworkInterfaces"][2].update(VpcId=7),
            "Invalid VpcId '7'",
        ),
    ],
)
def test_malformed_eni_json_named_error(
    tmp_path: Path, mutate, message
) -> None:
    """A malformed inventory gives a ContextMapError naming the file,
    the interface and the key."""
    doc = json.loads((DATA / "eni-describe.json").read_text())
    mutate(doc)
    path = tmp_path / "eni-bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ContextMapError, match=message):
        ContextMapBuilder().add_eni_json(path, at=0)


def test_eni_json_not_json(tmp_path: Path) -> None:
    """Text that is not JSON, and a missing file, are named errors."""
    path = tmp_path / "eni.json"
    path.write_text("{ NetworkInterfaces: ")
    with pytest.raises(
        ContextMapError, match=r"Invalid ENI inventory .*Not JSON"
    ):
        ContextMapBuilder().add_eni_json(path)
    with pytest.raises(ContextMapError, match=r"Cannot open .*No such file"):
        ContextMapBuilder().add_eni_json(tmp_path / "absent.json")


def _ip_ranges(
    tmp_path: Path, entries: list[dict[str, str]], sync: str = "1"
) -> Path:
    path = tmp_path / f"ip-ranges-{sync}.json"
    v4 = [e for e in entries if "ip_prefix" in e]
    v6 = [e for e in entries if "ipv6_prefix" in e]
    path.write_text(
        json.dumps(
            {
                "syncToken": sync,
                "createDate": "x",
                "prefixes": v4,
                "ipv6_prefixes": v6,
            }
        )
    )
    return path


def _p(prefix: str, service: str, region: str = "us-east-1") -> dict[str, str]:
    key = "ipv6_prefix" if ":" in prefix else "ip_prefix"
    return {
        key: prefix,
        "service": service,
        "region": region,
        "network_border_group": region,
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            _p("3.5.140.0/33", "S3"),
            r"prefixes\[1\]: Invalid ip_prefix '3.5.140.0/33'",
        ),
        (_p("3.5.140.1/22", "S3"), "Invalid ip_prefix '3.5.140.1/22'"),
        (_p("bogus", "S3"), "Invalid ip_prefix 'bogus'"),
        (
            {
                "ip_prefix": "2600::/32",
                "service": "S3",
                "region": "x",
                "network_border_group": "x",
            },
            "Not an IPv4 prefix",
        ),
        ({"ip_prefix": "3.0.0.0/8", "region": "x"}, "Missing 'service'"),
    ],
)
def test_ip_ranges_bad_prefix_named_error(
    tmp_path: Path, entry, message
) -> None:
    """A bad entry in ip-ranges.json names the file and the entry."""
    path = _ip_ranges(tmp_path, [_p("3.0.0.0/8", "AMAZON"), entry])
    with pytest.raises(ContextMapError, match=message):
        ContextMapBuilder().add_ip_ranges(path)


def test_ip_ranges_most_specific_service_wins(tmp_path: Path) -> None:
    """Non-AMAZON beats AMAZON; then the longer prefix; at equal length
    the narrower service (S3 over EC2); AMAZON is the fallback."""
    path = _ip_ranges(
        tmp_path,
        [
            _p("52.0.0.0/8", "AMAZON", "us-east-1"),
            _p("52.216.0.0/15", "EC2"),
            _p("52.216.0.0/15", "S3"),
            _p("52.216.8.0/24", "AMAZON"),
            _p("52.216.9.0/24", "CLOUDFRONT", "GLOBAL"),
            _p("52.100.0.0/16", "EC2"),
            _p("2600:1f00::/24", "AMAZON"),
            _p("2600:1f18::/33", "S3"),
        ],
    )
    cmap = build(ranges=path)
    want = {
        "52.1.2.3": ("AMAZON", "us-east-1"),
        "52.216.1.1": ("S3", "us-east-1"),
        "52.216.8.8": ("S3", "us-east-1"),
        "52.216.9.9": ("CLOUDFRONT", "GLOBAL"),
        "52.100.1.1": ("EC2", "us-east-1"),
        "2600:1f18::1": ("S3", "us-east-1"),
        "2600:1f00::1": ("AMAZON", "us-east-1"),
        "10.0.0.1": (None, None),
    }
    got = {
        r.address: (r.fields.get("aws-service"), r.fields.get("region"))
        for r in cmap.lookup(list(want), at=0)
    }
    assert want == got


def test_real_ip_ranges_seed_prefixes(shared: Path) -> None:
    """With the real file, a seed S3 address not seen in the logs is S3
    by its prefix, and 3.5.140.0/22 (AMAZON, EC2 and S3) is S3."""
    cmap = build(ranges=shared / "data" / "ip-ranges.json")
    got = [
        r.fields.get("aws-service")
        for r in cmap.lookup(["52.216.215.1", "3.5.140.9"], at=0)
    ]
    assert ["S3", "S3"] == got


def _winning_label(
    by_prefix: dict[tuple[int, int], set[tuple[str, str, str]]],
    size: dict[str, int],
    addr: int,
    width: int,
) -> tuple[str, str, str] | None:
    """The label the ipranges rules give ``addr``, found the slow way:
    every listed prefix holding it, ranked by the rules as written."""
    ranked = [
        (label[0] == "AMAZON", -length, size[label[0]], label)
        for length in range(width + 1)
        for label in by_prefix.get(
            (length, addr >> (width - length) << (width - length)), ()
        )
    ]
    return min(ranked)[3] if ranked else None


def test_real_ip_ranges_layer_matches_the_rules(shared: Path) -> None:
    """The flattened layer of the real file labels every address as the
    module's four rules say, checked entry by entry: at every range edge
    and one past it, at both ends of every listed prefix, and at random
    addresses, in both families."""
    path = shared / "data" / "ip-ranges.json"
    doc = json.loads(path.read_text())
    layer = load_ip_ranges(path)
    rng = random.Random(5)
    for list_key, prefix_key, width, rows in (
        ("prefixes", "ip_prefix", 32, layer.v4),
        ("ipv6_prefixes", "ipv6_prefix", 128, layer.v6),
    ):
        by_prefix: dict[tuple[int, int], set[tuple[str, str, str]]] = (
            defaultdict(set)
        )
        size: dict[str, int] = defaultdict(int)
        probes = {rng.getrandbits(width) for _ in range(2000)}
        for item in doc[list_key]:
            net = ipaddress.ip_network(item[prefix_key])
            label = (
                item["service"],
                item["region"],
                item["network_border_group"],
            )
            lo, hi = int(net.network_address), int(net.broadcast_address)
            by_prefix[(net.prefixlen, lo)].add(label)
            size[label[0]] += net.num_addresses
            probes |= {lo, hi}
        for lo, hi, *_ in rows:
            probes |= {lo, hi, max(lo - 1, 0), min(hi + 1, 2**width - 1)}
        starts = [row[0] for row in rows]
        want, got = [], []
        for addr in sorted(probes):
            want.append(_winning_label(by_prefix, size, addr, width))
            i = bisect.bisect_right(starts, addr) - 1
            inside = i >= 0 and rows[i][1] >= addr
            got.append(tuple(rows[i][2:]) if inside else None)
        assert want == got, list_key


def test_newest_ip_ranges_wins(tmp_path: Path) -> None:
    """Of two ip-ranges snapshots the higher syncToken is kept, in any
    order and through merges."""
    old = _ip_ranges(tmp_path, [_p("52.0.0.0/8", "EC2")], sync="100")
    new = _ip_ranges(tmp_path, [_p("52.0.0.0/8", "S3")], sync="200")
    a, b = build(ranges=old), build(ranges=new)
    for cmap in (build(ranges=new), merge(a, b), merge(b, a)):
        (r,) = cmap.lookup(["52.1.1.1"], at=0)
        assert "S3" == r.fields["aws-service"]
        assert "200" == cmap.meta["ip-ranges"]["syncToken"]


def test_precedence_logs_inventory_ranges(tmp_path: Path) -> None:
    """Current log binding > current inventory binding > ip-ranges; a
    current inventory binding beats a stale log binding."""
    recs = [
        rec(
            srcaddr="10.1.1.50",
            dstaddr="10.1.9.9",
            interface_id="eni-from-logs",
            instance_id="i-from-logs",
            vpc_id="vpc-0844e5fb7dab616dd",
            start=1690329000,
            end=1690329700,
        )
    ]
    cmap = build(
        batch_of(recs), eni=DATA / "eni-describe.json", eni_at=1690329700
    )
    scope = "vpc-0844e5fb7dab616dd"
    (now,) = cmap.lookup(["10.1.1.50"], at=1690329650, scope=scope)
    assert "eni-from-logs" == now.fields["interface-id"]
    # Both current at 1690329700: logs first.
    (both,) = cmap.lookup(["10.1.1.50"], at=1690329700, scope=scope)
    assert "eni-from-logs" == both.fields["interface-id"]
    # Fields the logs lack come from the inventory.
    assert "us-east-1b" == both.fields["availability-zone"]
    # Later: both stale, the inventory was seen last... at the same
    # second, so the order decides: logs.
    (later,) = cmap.lookup(["10.1.1.50"], at=1690339999, scope=scope)
    assert "eni-from-logs" == later.fields["interface-id"]
    assert later.stale
    # An older log binding, inventory current: inventory.
    old_recs = [dict(recs[0], start="1690000000", end="1690000060")]
    cmap2 = build(
        batch_of(old_recs), eni=DATA / "eni-describe.json", eni_at=1690329700
    )
    (r,) = cmap2.lookup(["10.1.1.50"], at=1690329700, scope=scope)
    assert "eni-0ffa7e54f1ae8fa1b" == r.fields["interface-id"]


def test_service_label_from_logs_beats_ip_ranges(tmp_path: Path) -> None:
    """The logs' own pkt-*-aws-service label wins over the prefix list."""
    path = _ip_ranges(tmp_path, [_p("52.216.0.0/15", "EC2")])
    recs = [
        rec(srcaddr="10.0.0.1", dstaddr="52.216.1.1", pkt_dst_aws_service="S3")
    ]
    cmap = build(batch_of(recs), ranges=path)
    (r,) = cmap.lookup(["52.216.1.1"], at=1030)
    assert ("S3", "us-east-1") == (r.fields["aws-service"], r.fields["region"])
    (other,) = cmap.lookup(["52.216.2.2"], at=1030)
    assert "EC2" == other.fields["aws-service"]


def test_ipv6_interface_addresses_are_global() -> None:
    """An ENI's IPv6 (AWS GUA) address is global: found with any scope,
    never ambiguous."""
    recs = [
        rec(
            srcaddr="2600:1f18:6a2:4b00::10",
            dstaddr="2606:4700::1111",
            type="IPv6",
        )
    ]
    cmap = build(batch_of(recs))
    (b,) = list(cmap.iter_bindings())
    assert (None, "interface") == (b.scope, b.relation)
    (r,) = cmap.lookup(["2600:1f18:6a2:4b00::10"], at=1030, scope="vpc-zzz")
    assert "eni-0aaaaaaaaaaaaaaa1" == r.fields["interface-id"]


def test_bad_lookup_inputs_named_errors() -> None:
    """A bad address, time or field is a ContextMapError."""
    cmap = build(batch_of([rec(srcaddr="10.0.0.1", dstaddr="1.1.1.1")]))
    with pytest.raises(
        ContextMapError, match=r"Invalid IP address '10.0.0.300'"
    ):
        cmap.lookup(["10.0.0.300"])
    with pytest.raises(ContextMapError, match="Invalid time 'soon'"):
        cmap.lookup(["10.0.0.1"], at="soon")
    with pytest.raises(ContextMapError, match="Invalid field 'colour'"):
        cmap.addresses("colour", "red")


def test_time_forms() -> None:
    """SiLK's YYYY/MM/DDThh:mm:ss (UTC), ISO 8601 and epoch seconds name
    the same time."""
    from pysilk_ext.ctxmap import parse_time

    want = 1690329606
    forms = [
        "2023/07/26T00:00:06",
        "2023/07/26:00:00:06",
        "2023-07-26T00:00:06Z",
        "1690329606",
        want,
    ]
    assert [want] * len(forms) == [parse_time(f) for f in forms]
    assert 1690329600 == parse_time("2023/07/26")


def test_incremental_update_equals_full_build(
    tmp_path: Path, shared: Path
) -> None:
    """Old map on disk + new logs, written back, equals one build of all
    the logs."""
    seed = parse_file(shared / "data" / "seed-sample-v5.log")
    more = batch_of([rec(srcaddr="10.1.1.60", dstaddr="1.1.1.1")])
    path = tmp_path / "cloud.vpcmap"
    build(seed).write(path)
    builder = ContextMapBuilder.from_file(path)
    builder.add_batch(more)
    builder.build().write(path)
    assert build(seed, more).data == ContextMap.open(path).data
