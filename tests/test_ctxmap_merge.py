# SPDX-License-Identifier: MIT
"""Merging maps: associative, commutative, idempotent; partial maps built
by parallel workers merge to the map one process builds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysilk_ext.ctxmap import ContextMap, ContextMapBuilder, merge
from tests.ctxmap_support import DATA, V2, batch_of, rec

ADDRS = ["10.0.0.1", "10.0.0.2", "172.16.0.9", "52.216.1.1", "3.91.12.34"]
V6 = ["2600:1f18::1", "2600:1f18::2", "fd00::7"]


@st.composite
def records(draw: st.DrawFn, directed: bool) -> dict[str, str]:
    """One flow record over a small, colliding address space."""
    v6 = draw(st.booleans())
    pool = V6 if v6 else ADDRS
    src = draw(st.sampled_from(pool))
    dst = draw(st.sampled_from(pool))
    start = draw(st.integers(0, 5000))
    fields = {
        "srcaddr": src,
        "dstaddr": dst,
        "type": "IPv6" if v6 else "IPv4",
        "vpc_id": draw(st.sampled_from(["vpc-a", "vpc-b"])),
        "interface_id": draw(st.sampled_from(["eni-1", "eni-2", "eni-3"])),
        "instance_id": draw(st.sampled_from(["i-1", "i-2", "-"])),
        "start": start,
        "end": start + draw(st.integers(0, 600)),
        "flow_direction": draw(
            st.sampled_from(
                ["egress", "ingress"]
                if directed
                else ["egress", "ingress", "-"]
            )
        ),
        "pkt_dst_aws_service": draw(st.sampled_from(["-", "-", "S3"])),
    }
    if draw(st.booleans()):
        fields["pkt_srcaddr"] = draw(st.sampled_from(pool))
    return rec(**fields)


def _map(recs: list[dict[str, str]]) -> ContextMap:
    builder = ContextMapBuilder()
    if recs:
        builder.add_batch(batch_of(recs))
    return builder.build()


def _parts(
    recs: list[dict[str, str]], where: list[int]
) -> list[list[dict[str, str]]]:
    parts: list[list[dict[str, str]]] = [[], [], []]
    for r, k in zip(recs, where, strict=False):
        parts[k].append(r)
    for r in recs[len(where) :]:
        parts[0].append(r)
    return parts


@given(
    recs=st.lists(records(directed=False), max_size=25),
    where=st.lists(st.integers(0, 2), max_size=25),
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_merge_is_associative_commutative_idempotent(recs, where) -> None:
    """(a+b)+c == a+(b+c), a+b == b+a, a+a == a, byte for byte."""
    a, b, c = (_map(p) for p in _parts(recs, where))
    left = merge(merge(a, b), c)
    right = merge(a, merge(b, c))
    assert left.data == right.data
    assert merge(a, b).data == merge(b, a).data
    assert a.data == merge(a, a).data
    assert left.data == merge(left, b).data


@given(
    recs=st.lists(records(directed=True), max_size=25),
    where=st.lists(st.integers(0, 2), max_size=25),
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_partial_maps_merge_to_the_one_process_map(recs, where) -> None:
    """Workers that each build a map of part of the logs, merged, give the
    map one process builds from all of them (logs with flow-direction)."""
    parts = _parts(recs, where)
    assert _map(recs).data == merge(*(_map(p) for p in parts)).data


def test_v2_inference_merges_when_each_interface_is_whole() -> None:
    """Without flow-direction, partial maps agree with one process when
    each interface's records stay in one part (the documented rule)."""
    one = [
        rec(
            version=2,
            interface_id="eni-1",
            srcaddr="10.0.0.1",
            dstaddr=f"10.0.9.{k}",
            start=k,
            end=k + 5,
        )
        for k in range(5)
    ]
    two = [
        rec(
            version=2,
            interface_id="eni-2",
            srcaddr=f"10.0.8.{k}",
            dstaddr="10.0.0.2",
            start=k,
            end=k + 5,
        )
        for k in range(4)
    ]
    whole = ContextMapBuilder()
    whole.add_batch(batch_of(one + two, V2))
    parts = []
    for recs in (one, two):
        b = ContextMapBuilder()
        b.add_batch(batch_of(recs, V2))
        parts.append(b.build())
    assert whole.build().data == merge(*parts).data


def test_merge_with_inventory_joins_unknown_scopes() -> None:
    """A v2 map (unknown VPC) merged with an inventory map gets the VPC,
    in either order."""
    recs = [
        rec(
            version=2,
            interface_id="eni-0ffa7e54f1ae8fa1b",
            srcaddr="10.1.1.50",
            dstaddr="10.1.1.25",
        )
    ]
    logs = ContextMapBuilder()
    logs.add_batch(batch_of(recs, V2))
    inv = ContextMapBuilder()
    inv.add_eni_json(DATA / "eni-describe.json", at=1690329700)
    a, b = logs.build(), inv.build()
    ab, ba = merge(a, b), merge(b, a)
    assert ab.data == ba.data
    scopes = {x.scope for x in ab.iter_bindings() if x.relation == "interface"}
    assert {"vpc-0844e5fb7dab616dd"} == scopes
