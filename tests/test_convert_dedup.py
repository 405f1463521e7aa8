# SPDX-License-Identifier: MIT
"""De-duplication: by interface, 5-tuple and window -- never 5-tuple alone."""

from __future__ import annotations

import ipaddress

import numpy as np

from pysilk_ext.convert import Converter
from pysilk_ext.convert.config import parse_config
from pysilk_ext.vpcparse import ChunkParser

FMT = (
    "version interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport "
    "dstport protocol packets bytes start end action log-status "
    "flow-direction"
)
A, B, NAT = "eni-0aaaaaaaaaaaaaaaa", "eni-0bbbbbbbbbbbbbbbb", "eni-0cccccccc"
T = 1_700_000_000


def row(  # noqa: PLR0917 - the fields of a log line, in order
    eni: str,
    src: str,
    dst: str,
    start: int,
    end: int,
    direction: str,
    *,
    action: str = "ACCEPT",
    packets: int = 10,
    psrc: str | None = None,
    pdst: str | None = None,
    ports: tuple[int, int] = (40000, 443),
) -> str:
    """One v5 line."""
    return (
        f"5 {eni} {src} {dst} {psrc or src} {pdst or dst} {ports[0]} "
        f"{ports[1]} 6 {packets} {packets * 100} {start} {end} {action} OK "
        f"{direction}"
    )


def convert(conv: Converter, lines: list[str]) -> tuple[np.ndarray, list[str]]:
    """Convert lines; return records and the text of their sensors."""
    text = "\n".join([FMT, *lines]) + "\n"
    recs = conv.convert(ChunkParser(source="t").feed(text.encode()).batch)
    names = {sid: name for name, sid in conv.sensors.ids.items()}
    return recs, [names[int(s)] for s in recs["sensor"]]


def kept(
    recs: np.ndarray, sensors: list[str]
) -> list[tuple[str, str, str, int, int]]:
    """(sensor, sIP, dIP, packets, start second) of each written record,
    so a test names the very copy it expects to survive."""
    out = []
    for rec, sensor in zip(recs, sensors, strict=True):
        sip = ipaddress.IPv6Address(bytes(rec["sip"])).ipv4_mapped
        dip = ipaddress.IPv6Address(bytes(rec["dip"])).ipv4_mapped
        out.append(
            (
                sensor,
                str(sip),
                str(dip),
                int(rec["packets"]),
                int(rec["stime"]) // 1000,
            )
        )
    return out


def dedup_converter(extra: str = "") -> Converter:
    """A converter with de-duplication on, every action."""
    return Converter(
        parse_config(f"action: all\ndedup: {{enabled: true{extra}}}")
    )


def test_flow_between_two_interfaces_kept_once() -> None:
    """Egress on A and ingress on B of one flow: one record remains."""
    conv = dedup_converter()
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 20, "egress", packets=12),
        row(B, "10.0.1.5", "10.0.2.9", T + 3, T + 25, "ingress", packets=11),
        # the reply direction, also logged twice
        row(
            B,
            "10.0.2.9",
            "10.0.1.5",
            T + 3,
            T + 25,
            "egress",
            ports=(443, 40000),
        ),
        row(
            A, "10.0.2.9", "10.0.1.5", T, T + 20, "ingress", ports=(443, 40000)
        ),
    ]
    recs, sensors = convert(conv, lines)
    # request: A's copy has more packets (12 > 11); reply: a tie (10 and
    # 10) goes to the lower interface number, A's (seen first)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 12, T),
        (A, "10.0.2.9", "10.0.1.5", 10, T),
    ] == kept(recs, sensors)
    assert 2 == conv.stats.dedup_removed


def test_same_interface_windows_never_merged() -> None:
    """Consecutive windows of one interface are distinct records."""
    conv = dedup_converter()
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 59, "egress"),
        row(A, "10.0.1.5", "10.0.2.9", T + 60, T + 119, "egress"),
        row(A, "10.0.1.5", "10.0.2.9", T + 120, T + 179, "egress"),
    ]
    recs, sensors = convert(conv, lines)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 10, T),
        (A, "10.0.1.5", "10.0.2.9", 10, T + 60),
        (A, "10.0.1.5", "10.0.2.9", 10, T + 120),
    ] == kept(recs, sensors)
    assert 0 == conv.stats.dedup_removed


def test_long_flow_keeps_one_interfaces_windows() -> None:
    """Misaligned windows on A and B: all of A's records, none of B's."""
    conv = dedup_converter()
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 59, "egress", packets=20),
        row(A, "10.0.1.5", "10.0.2.9", T + 60, T + 119, "egress", packets=20),
        row(B, "10.0.1.5", "10.0.2.9", T + 10, T + 69, "ingress"),
        row(B, "10.0.1.5", "10.0.2.9", T + 70, T + 129, "ingress"),
    ]
    recs, sensors = convert(conv, lines)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 20, T),
        (A, "10.0.1.5", "10.0.2.9", 20, T + 60),
    ] == kept(recs, sensors)
    assert 2 == conv.stats.dedup_removed


def test_not_by_five_tuple_alone() -> None:
    """Same 5-tuple on two interfaces, hours apart: both kept."""
    conv = dedup_converter()
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 10, "egress"),
        row(B, "10.0.1.5", "10.0.2.9", T + 7200, T + 7210, "ingress"),
    ]
    recs, sensors = convert(conv, lines)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 10, T),
        (B, "10.0.1.5", "10.0.2.9", 10, T + 7200),
    ] == kept(recs, sensors)
    assert 0 == conv.stats.dedup_removed


def test_different_action_is_not_a_copy() -> None:
    """Sent by A (ACCEPT) and refused by B (REJECT): both kept."""
    conv = dedup_converter()
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 10, "egress"),
        row(B, "10.0.1.5", "10.0.2.9", T, T + 10, "ingress", action="REJECT"),
    ]
    recs, sensors = convert(conv, lines)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 10, T),
        (B, "10.0.1.5", "10.0.2.9", 10, T),
    ] == kept(recs, sensors)
    assert 0 == conv.stats.dedup_removed


def test_nat_hop_matches_on_packet_endpoints() -> None:
    """Instance egress and the NAT interface's ingress are one flow."""
    conv = dedup_converter()
    lines = [
        row(A, "10.0.1.5", "198.51.100.7", T, T + 10, "egress", packets=9),
        # at the NAT interface: dstaddr is its own address, pkt-dst real
        row(
            NAT,
            "10.0.1.5",
            "10.0.0.220",
            T + 1,
            T + 11,
            "ingress",
            pdst="198.51.100.7",
            packets=8,
        ),
    ]
    recs, sensors = convert(conv, lines)
    assert [(A, "10.0.1.5", "198.51.100.7", 9, T)] == kept(recs, sensors)
    assert 1 == conv.stats.dedup_removed


def test_slack_zero_requires_overlap() -> None:
    """dedup.slack: 0 keeps copies whose windows do not overlap."""
    conv = dedup_converter(", slack: 0")
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 10, "egress"),
        row(B, "10.0.1.5", "10.0.2.9", T + 30, T + 40, "ingress"),
    ]
    recs, sensors = convert(conv, lines)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 10, T),
        (B, "10.0.1.5", "10.0.2.9", 10, T + 30),
    ] == kept(recs, sensors)
    conv = dedup_converter()  # default slack 60 s
    recs, sensors = convert(conv, lines)
    assert [(A, "10.0.1.5", "10.0.2.9", 10, T)] == kept(recs, sensors)
    assert 1 == conv.stats.dedup_removed


def test_copies_across_batches() -> None:
    """A's copy in one file, B's in the next: B's is removed."""
    conv = dedup_converter()
    _, s1 = convert(
        conv, [row(A, "10.0.1.5", "10.0.2.9", T, T + 20, "egress", packets=1)]
    )
    second, _ = convert(
        conv,
        [row(B, "10.0.1.5", "10.0.2.9", T + 2, T + 22, "ingress", packets=50)],
    )
    assert ([A], 0) == (s1, len(second))
    assert 1 == conv.stats.dedup_removed


def test_memory_forgets_after_horizon() -> None:
    """Beyond dedup.horizon the earlier batch is forgotten."""
    conv = dedup_converter(", horizon: 100")
    convert(conv, [row(A, "10.0.1.5", "10.0.2.9", T, T + 20, "egress")])
    convert(
        conv, [row(A, "10.0.3.3", "10.0.4.4", T + 5000, T + 5001, "egress")]
    )
    late, sensors = convert(
        conv, [row(B, "10.0.1.5", "10.0.2.9", T + 2, T + 22, "ingress")]
    )
    assert [(B, "10.0.1.5", "10.0.2.9", 10, T + 2)] == kept(late, sensors)
    assert 0 == conv.stats.dedup_removed


def test_dedup_off_by_default() -> None:
    """Without dedup.enabled every copy is written (nothing lost)."""
    conv = Converter(parse_config("action: all"))
    lines = [
        row(A, "10.0.1.5", "10.0.2.9", T, T + 20, "egress"),
        row(B, "10.0.1.5", "10.0.2.9", T + 3, T + 25, "ingress"),
    ]
    recs, sensors = convert(conv, lines)
    assert [
        (A, "10.0.1.5", "10.0.2.9", 10, T),
        (B, "10.0.1.5", "10.0.2.9", 10, T + 3),
    ] == kept(recs, sensors)
    assert 0 == conv.stats.dedup_removed
