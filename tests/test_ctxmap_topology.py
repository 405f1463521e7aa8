# SPDX-License-Identifier: MIT
"""Known topology: logs from benchmarks/gen_vpclogs.py versus its truth.

The generator writes realistic logs (overlapping VPC CIDRs, NAT gateways,
secondary addresses, IP reuse, service addresses, scans, versions 2/5/8)
and ``_truth.json``; the map must reproduce every true binding the logs
can show, with its exact first/last seen.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from pysilk_ext.ctxmap import (
    AMBIGUOUS_LABEL,
    ContextMap,
    ContextMapBuilder,
    diff,
)
from tests.conftest import load_gen_vpclogs
from tests.ctxmap_support import parse_file


def _generate(out: Path, shared: Path, **kw: Any) -> dict[str, Any]:
    gen = load_gen_vpclogs()
    res = gen.generate(out, ip_ranges=shared / "data" / "ip-ranges.json", **kw)
    return json.loads(res.truth_path.read_text())


def _build(
    out: Path, files: list[str], inventory: Path | None = None
) -> ContextMap:
    builder = ContextMapBuilder()
    for name in sorted(files):
        builder.add_batch(parse_file(out / name))
    if inventory is not None:
        builder.add_eni_json(inventory, at=0)
    return builder.build()


RELATION = {"primary": "interface", "ipv6": "interface", "secondary": "packet"}


def _index(cmap: ContextMap) -> dict[tuple[str, str, str | None], list[Any]]:
    out: dict[tuple[str, str, str | None], list[Any]] = {}
    for b in cmap.iter_bindings():
        key = (b.address, b.relation, b.fields.get("interface-id"))
        out.setdefault(key, []).append(b)
    return out


@pytest.fixture(scope="module")
def v5(tmp_path_factory: pytest.TempPathFactory, shared: Path):
    """Version 5 logs (every field the map reads) and their map."""
    out = tmp_path_factory.mktemp("topo-v5")
    truth = _generate(
        out, shared, records=30_000, seed=11, version=5, layout="flat"
    )
    return truth, _build(out, truth["files"])


def test_every_true_binding_with_exact_interval(v5) -> None:
    """Each (address, interface) binding of the truth is in the map once,
    in its VPC scope, with the instance, subnet, AZ and the exact first
    and last seen of the records that show it."""
    truth, cmap = v5
    index = _index(cmap)
    seen = [b for b in truth["bindings"] if b["first_seen"] is not None]
    assert len(seen) > 30
    for tb in seen:
        found = index.get(
            (tb["ip"], RELATION[tb["role"]], tb["interface"]), []
        )
        scope = None if tb["scope"] == "global" else tb["scope"]
        got = [
            (
                b.scope,
                b.first_seen,
                b.last_seen,
                b.fields.get("instance-id"),
                b.fields.get("subnet-id"),
                b.fields.get("az-id"),
            )
            for b in found
        ]
        want = [
            (
                scope,
                tb["first_seen"],
                tb["last_seen"],
                tb["instance"],
                tb["subnet"],
                tb["az"],
            )
        ]
        assert want == got, tb


def test_no_invented_interface_bindings(v5) -> None:
    """Every interface binding of the map is a true binding."""
    truth, cmap = v5
    true = {(b["ip"], b["interface"]) for b in truth["bindings"]}
    made = {
        (b.address, b.fields["interface-id"])
        for b in cmap.iter_bindings()
        if b.relation == "interface"
    }
    assert set() == made - true


def test_overlapping_cidrs_kept_apart(v5) -> None:
    """VPCs sharing a CIDR: every address bound in two of them at once is
    ambiguous unscoped and resolves per VPC when scoped."""
    truth, cmap = v5
    by_ip: dict[str, set[str]] = {}
    for tb in truth["bindings"]:
        if tb["first_seen"] is not None and tb["role"] == "primary":
            by_ip.setdefault(tb["ip"], set()).add(tb["vpc"])
    shared_ips = sorted(ip for ip, vpcs in by_ip.items() if len(vpcs) > 1)
    assert shared_ips, "the generator always reuses 10.0.0.0/16"
    t = truth["time_range"]["end"] - 1
    for ip in shared_ips:
        (r,) = cmap.lookup([ip], at=t)
        assert r.ambiguous
        for tb in truth["bindings"]:
            if tb["ip"] == ip and tb["role"] == "primary" and tb["first_seen"]:
                (s,) = cmap.lookup([ip], at=tb["first_seen"], scope=tb["vpc"])
                assert tb["interface"] == s.fields["interface-id"]


def test_shared_addresses_resolve_per_field(v5) -> None:
    """Unscoped, a shared address has no AWS service (none of its VPCs
    gives one), its VPC is ambiguous, and every field is what its VPCs
    agree on -- the same in the prefix-map export."""
    truth, cmap = v5
    t = truth["time_range"]["end"] - 1
    everything = [bytes(a) for a in cmap._all_addresses()]
    shared = [r for r in cmap.lookup(everything, at=t) if r.ambiguous]
    assert shared
    fields = ("vpc-id", "instance-id", "account-id", "region", "aws-service")
    for r in shared:
        assert "aws-service" not in r.fields
        assert AMBIGUOUS_LABEL == r.fields["vpc-id"]
        per_vpc = [
            cmap.lookup([r.address], at=t, scope=vpc)[0] for vpc in r.scopes
        ]
        for name in fields:
            answers = {p.fields.get(name) for p in per_vpc}
            want = answers.pop() if len(answers) == 1 else AMBIGUOUS_LABEL
            assert want == r.fields.get(name), (r.address, name)
    labelled = [(lo, hi) for lo, hi, _ in cmap.field_ranges("aws-service", t)]
    for r in shared:
        addr = ipaddress.ip_address(r.address)
        assert not any(
            lo.version == addr.version and lo <= addr <= hi
            for lo, hi in labelled
        ), r.address


def test_every_service_address_labelled(v5) -> None:
    """Every service address the generator used carries its service."""
    truth, cmap = v5
    addrs = [s["ip"] for s in truth["service_addresses"]]
    got = [r.fields.get("aws-service") for r in cmap.lookup(addrs)]
    assert [s["service"] for s in truth["service_addresses"]] == got


def test_ip_reuse_rebinds(v5) -> None:
    """A reused address answers with the old ENI before the move and the
    new one after; the diff of the two halves reports the move."""
    truth, cmap = v5
    assert truth["ip_reuse"]
    for move in truth["ip_reuse"]:
        before = [
            b
            for b in truth["bindings"]
            if b["ip"] == move["ip"]
            and b["interface"] == move["before"]["interface"]
        ]
        after = [
            b
            for b in truth["bindings"]
            if b["ip"] == move["ip"]
            and b["interface"] == move["after"]["interface"]
        ]
        (old,) = cmap.lookup(
            [move["ip"]], at=before[0]["last_seen"], scope=move["vpc"]
        )
        (new,) = cmap.lookup(
            [move["ip"]], at=after[0]["first_seen"], scope=move["vpc"]
        )
        assert move["before"]["instance"] == old.fields["instance-id"]
        assert move["after"]["instance"] == new.fields["instance-id"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, shared: Path):
    """The generator's default mix (v2, v5 custom, v5 alphabetical, v8) in
    S3 layout, plus an inventory written from the truth's ENIs."""
    out = tmp_path_factory.mktemp("topo-mixed")
    truth = _generate(out, shared, records=40_000, seed=5, hours=2)
    inventory = out / "_enis.json"
    inventory.write_text(
        json.dumps(
            {
                "NetworkInterfaces": [
                    {
                        "NetworkInterfaceId": e["interface_id"],
                        "VpcId": e["vpc"],
                        "SubnetId": e["subnet"],
                        "PrivateIpAddress": e["primary_ipv4"],
                        "PrivateIpAddresses": [
                            {
                                "PrivateIpAddress": ip,
                                "Primary": ip == e["primary_ipv4"],
                            }
                            for ip in [e["primary_ipv4"], *e["secondary_ipv4"]]
                        ],
                        "Ipv6Addresses": [{"Ipv6Address": e["ipv6"]}]
                        if e["ipv6"]
                        else [],
                        **(
                            {"Attachment": {"InstanceId": e["instance_id"]}}
                            if e["instance_id"]
                            else {}
                        ),
                    }
                    for e in truth["enis"]
                ]
            }
        )
    )
    return truth, out, inventory


def test_mixed_versions_reproduce_what_logs_show(mixed) -> None:
    """Every true binding a flow log can show is reproduced with its exact
    interval -- inferred for v2/v8 logs, which have no flow-direction --
    except secondaries behind logs without pkt-* fields (invisible)."""
    truth, out, _ = mixed
    cmap = _build(out, truth["files"])
    index = _index(cmap)
    fields_of = {fl["vpc"]: set(fl["fields"]) for fl in truth["flow_logs"]}
    checked = 0
    for tb in truth["bindings"]:
        if tb["first_seen"] is None:
            continue
        fields = fields_of[tb["vpc"]]
        if tb["role"] == "secondary" and "pkt-srcaddr" not in fields:
            continue
        found = index.get(
            (tb["ip"], RELATION[tb["role"]], tb["interface"]), []
        )
        want_scope = (
            None
            if tb["scope"] == "global"
            else (tb["scope"] if "vpc-id" in fields else "?")
        )
        assert [(want_scope, tb["first_seen"], tb["last_seen"])] == [
            (b.scope, b.first_seen, b.last_seen) for b in found
        ], tb
        checked += 1
    assert checked > 30


def test_mixed_versions_with_inventory(mixed) -> None:
    """With the inventory, v2/v8 bindings get their VPC scope and the
    lookup fills instance and subnet from it."""
    truth, out, inventory = mixed
    cmap = _build(out, truth["files"], inventory)
    poor = {
        fl["vpc"] for fl in truth["flow_logs"] if "vpc-id" not in fl["fields"]
    }
    assert poor
    for tb in truth["bindings"]:
        if tb["vpc"] not in poor or tb["role"] != "primary":
            continue
        if tb["first_seen"] is None:
            continue
        (r,) = cmap.lookup([tb["ip"]], at=tb["first_seen"], scope=tb["vpc"])
        assert (tb["interface"], tb["instance"], tb["subnet"]) == (
            r.fields.get("interface-id"),
            r.fields.get("instance-id"),
            r.fields.get("subnet-id"),
        ), tb


def test_diff_of_growing_maps(v5, tmp_path: Path, shared: Path) -> None:
    """Diffing the first half-hour's map against the full map reports the
    address move of the generator's IP reuse."""
    truth, full = v5
    move = truth["ip_reuse"][0]
    cut = move["at"]
    builder = ContextMapBuilder()
    out = tmp_path / "half"
    gen_truth = _generate(
        out, shared, records=30_000, seed=11, version=5, layout="flat"
    )
    batch = parse_file(out / gen_truth["files"][0])
    start = batch.columns["start"]
    keep = start < cut
    from pysilk_ext.batch import FlowBatch

    half = FlowBatch(
        batch.source,
        int(keep.sum()),
        batch.lineno[keep],
        {k: _take(v, keep) for k, v in batch.columns.items()},
    )
    builder.add_batch(half)
    events = list(diff(builder.build(), full))
    moved = [
        e
        for e in events
        if e["event"] == "address-rebound" and e["address"] == move["ip"]
    ]
    assert 1 == len(moved)
    assert (move["before"]["interface"], move["after"]["interface"]) == (
        moved[0]["old"]["interface-id"],
        moved[0]["new"]["interface-id"],
    )


def _take(column: Any, keep: Any) -> Any:
    from pysilk_ext.batch import AddrColumn, StrColumn

    if isinstance(column, AddrColumn):
        return AddrColumn(column.addr[keep], column.family[keep])
    if isinstance(column, StrColumn):
        return StrColumn(column.codes[keep], column.values)
    return column[keep]


def test_reader_path_gives_the_same_map(mixed) -> None:
    """Maps are canonical: reading the S3 tree with the team's VpcReader
    (its own file order, two threads) gives the same bytes as parsing file
    by file."""
    from pysilk_ext.reader import VpcReader

    truth, out, _ = mixed
    builder = ContextMapBuilder()
    for batch in VpcReader([out]):
        builder.add_batch(batch)
    assert _build(out, truth["files"]).data == builder.build().data
