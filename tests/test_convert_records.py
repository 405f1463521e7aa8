# SPDX-License-Identifier: MIT
"""Field mapping of single records: endpoints, times, ports, flags, counts."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from pysilk_ext.convert import Converter, VpcTextFormatter
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.classify import DEFAULT_TYPE_IDS
from pysilk_ext.convert.config import parse_config
from pysilk_ext.silkfmt.flowrec import TCP_STATE_IPV6
from pysilk_ext.vpcparse import ChunkParser


def _convert(
    text: str, config: str = "action: all"
) -> tuple[np.ndarray, Converter]:
    batch = ChunkParser(source="t").feed(text.encode()).batch
    conv = Converter(parse_config(config))
    return conv.convert(batch), conv


def _ip(raw: np.ndarray) -> str:
    data = bytes(raw)
    if data[:12] == bytes(10) + b"\xff\xff":
        return str(ipaddress.IPv4Address(data[12:]))
    return str(ipaddress.IPv6Address(data))


# spec aws-vpc-flowlogs.md section 5: a NAT gateway interface, v3 fields
# without flow-direction (the direction is inferred)
NAT_FMT = (
    "version interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport "
    "dstport protocol packets bytes start end action log-status"
)
NAT_ROWS = [
    # instance -> NAT ENI; pkt-dst = internet host
    "3 eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
    # NAT ENI -> internet
    "3 eni-1235b8ca123456789 10.0.0.220 203.0.113.5 10.0.0.220 203.0.113.5",
    # internet -> NAT ENI
    "3 eni-1235b8ca123456789 203.0.113.5 10.0.0.220 203.0.113.5 10.0.0.220",
    # NAT ENI -> instance; pkt-src = internet host
    "3 eni-1235b8ca123456789 10.0.0.220 10.0.1.5 203.0.113.5 10.0.1.5",
]
NAT_TAIL = " 40000 443 6 10 1000 1700000000 1700000030 ACCEPT OK"


def test_nat_rows_map_real_endpoints() -> None:
    """sIP/dIP are the pkt-* endpoints; nhIP keeps the interface address."""
    text = "\n".join([NAT_FMT, *(r + NAT_TAIL for r in NAT_ROWS)]) + "\n"
    recs, conv = _convert(text)
    got = [
        (_ip(r["sip"]), _ip(r["dip"]), _ip(r["nhip"]), int(r["input"]))
        for r in recs
    ]
    assert [
        ("10.0.1.5", "203.0.113.5", "10.0.0.220", L.INPUT_INGRESS),
        ("10.0.0.220", "203.0.113.5", "0.0.0.0", L.INPUT_EGRESS),  # noqa: S104
        ("203.0.113.5", "10.0.0.220", "0.0.0.0", L.INPUT_INGRESS),  # noqa: S104
        ("203.0.113.5", "10.0.1.5", "10.0.0.220", L.INPUT_EGRESS),
    ] == got
    memo = recs["memo"]
    assert [0, 0, 0, L.MEMO_NH_SRC] == list(memo & L.MEMO_NH_SRC)
    assert [L.MEMO_NH_DST, 0, 0, 0] == list(memo & L.MEMO_NH_DST)
    assert all(memo & L.MEMO_DIRECTION_INFERRED)
    assert 4 == conv.stats.direction_inferred


def test_nat_rows_classify_by_real_endpoints() -> None:
    """With the VPC internal, the NAT hops are out and in, not int2int."""
    text = "\n".join([NAT_FMT, *(r + NAT_TAIL for r in NAT_ROWS)]) + "\n"
    recs, _ = _convert(text, "action: all\ninternal-networks: [10.0.0.0/16]")
    ids = DEFAULT_TYPE_IDS
    assert [ids["outweb"], ids["outweb"], ids["inweb"], ids["inweb"]] == list(
        recs["flowtype"]
    )


def test_tgw_request_leg_keeps_client() -> None:
    """A TGW interface's egress record: sIP is the client behind the TGW."""
    text = (
        "version interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr "
        "srcport dstport protocol packets bytes start end action log-status "
        "flow-direction\n"
        "5 eni-0aaaabbbbccccdddd 10.40.1.175 10.40.2.31 10.20.33.164 "
        "10.40.2.31 50000 443 6 4 200 1700000000 1700000010 ACCEPT OK "
        "egress\n"
    )
    recs, _ = _convert(text)
    assert "10.20.33.164" == _ip(recs["sip"][0])
    assert "10.40.1.175" == _ip(recs["nhip"][0])
    assert 0 == recs["memo"][0] & L.MEMO_DIRECTION_INFERRED


# AWS examples (spec section 8): default-format ping and v5 S3 rows
PING = (
    "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 "
    "4 336 1432917027 1432917142 ACCEPT OK\n"
)
S3_FMT = (
    "version srcaddr dstaddr srcport dstport protocol start end type packets "
    "bytes account-id vpc-id subnet-id instance-id interface-id region az-id "
    "sublocation-type sublocation-id action tcp-flags pkt-srcaddr "
    "pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path "
    "flow-direction log-status"
)
S3_ROWS = [
    "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 "
    "15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 "
    "i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - "
    "ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
    "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 "
    "123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 "
    "i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - "
    "ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
]


def test_times_are_first_and_last_packet_seconds() -> None:
    """sTime = start s as ms; duration = end - start; ms part is 0."""
    recs, _ = _convert(PING)
    assert 1432917027000 == recs["stime"][0]
    assert (1432917142 - 1432917027) * 1000 == recs["elapsed"][0]


def test_icmp_ports_as_logged() -> None:
    """AWS's ICMP 0/0 stays 0/0 (iType/iCode 0 means "not logged")."""
    recs, _ = _convert(PING)
    assert (1, 0, 0) == (recs["proto"][0], recs["sport"][0], recs["dport"][0])
    assert 0 == recs["memo"][0] & L.MEMO_ICMP_PORTS_SWAPPED


def test_icmp_srcport_only_is_swapped_for_silk() -> None:
    """ICMP srcport N / dstport 0 is stored so SiLK's repair keeps it."""
    text = PING.replace(" 0 0 1 ", " 8 0 1 ")
    recs, _ = _convert(text)
    assert (0, 8) == (recs["sport"][0], recs["dport"][0])
    assert recs["memo"][0] & L.MEMO_ICMP_PORTS_SWAPPED
    formatter = VpcTextFormatter(fields=("srcport", "dstport", "protocol"))
    assert ["8 0 1"] == formatter.lines(recs)


def test_s3_rows_flags_path_direction() -> None:
    """tcp-flags -> flags (EXPANDED clear); traffic-path -> out; in = dir."""
    text = "\n".join([S3_FMT, *S3_ROWS]) + "\n"
    recs, _ = _convert(text)
    assert [19, 3] == list(recs["flags"])
    assert [0, 0] == list(recs["init_flags"] | recs["rest_flags"])
    assert [0, 0] == list(recs["tcp_state"] & 1)
    assert [0, 8] == list(recs["output"])
    assert [L.INPUT_INGRESS, L.INPUT_EGRESS] == list(recs["input"])
    ids = DEFAULT_TYPE_IDS
    assert [ids["aws2int"], ids["int2aws"]] == list(recs["flowtype"])
    assert [L.MEMO_SRC_AWS_SERVICE, L.MEMO_DST_AWS_SERVICE] == list(
        recs["memo"] & (L.MEMO_SRC_AWS_SERVICE | L.MEMO_DST_AWS_SERVICE)
    )


def test_ipv6_record_family_and_empty_nhip() -> None:
    """An IPv6 record has tcpState bit 7 and nhIP ::; IPv4 0.0.0.0."""
    text = PING + PING.replace(
        "203.0.113.12 172.31.16.139", "2001:db8::1 2001:db8::2"
    ).replace(" 1 4 336", " 58 4 336")
    recs, _ = _convert(text)
    assert [0, TCP_STATE_IPV6] == list(recs["tcp_state"] & TCP_STATE_IPV6)
    assert ["0.0.0.0", "::"] == [_ip(r) for r in recs["nhip"]]  # noqa: S104


FULL_FMT = (
    "version interface-id srcaddr dstaddr srcport dstport protocol packets "
    "bytes start end action log-status tcp-flags type reject-reason"
)


def _full(packets: str, nbytes: str, extra: str = "6 IPv4 -") -> str:
    return (
        f"{FULL_FMT}\n8 eni-0a 198.51.100.1 10.0.0.5 1 2 6 {packets} "
        f"{nbytes} 1700000000 1700000060 REJECT OK {extra}\n"
    )


def test_missing_values_keep_their_dash() -> None:
    """bytes/tcp-flags '-', EFA and BPA are kept in memo, not lost."""
    recs, conv = _convert(_full("5", "-", "- EFA BPA"))
    memo = int(recs["memo"][0])
    assert memo & L.MEMO_BYTES_MISSING
    assert memo & L.MEMO_TCP_FLAGS_MISSING
    assert L.TypeCode.EFA == (memo & L.MEMO_TYPE_MASK) >> L.MEMO_TYPE_SHIFT
    assert L.RejectReason.BPA == memo & L.MEMO_REJECT_REASON_MASK
    assert (0, 0) == (recs["bytes"][0], recs["flags"][0])
    assert 0 == sum(conv.stats.issues.lossy.values())
    formatter = VpcTextFormatter(
        fields=("bytes", "tcp-flags", "type", "reject-reason", "action")
    )
    assert ["- - EFA BPA REJECT"] == formatter.lines(recs)


def test_zero_packets_stored_as_one_and_counted() -> None:
    """SiLK divides by packets: 0 becomes 1, counted as lossy."""
    recs, conv = _convert(_full("0", "0"))
    assert 1 == recs["packets"][0]
    assert 1 == conv.stats.issues.lossy["packets 0 or - (stored as 1)"]


def test_bad_window_is_skipped_and_counted() -> None:
    """end before start in a batch not screened by the parser (which
    makes such a line a bad line): no record, a counted skip."""
    batch = ChunkParser(source="t").feed(_full("5", "500").encode()).batch
    batch.columns["end"][0] = batch.columns["start"][0] - 1
    conv = Converter(parse_config("action: all"))
    assert 0 == len(conv.convert(batch))
    assert 1 == conv.stats.skipped["start/end - or end before start"]


BIG_PACKETS = 7_000_000
BIG_BYTES = 10_000_000_000  # 2.33 x 2^32


def test_overflow_split_keeps_totals() -> None:
    """bytes above 2^32-1: 3 pieces marked T, TC, C whose sums are exact."""
    recs, conv = _convert(_full(str(BIG_PACKETS), str(BIG_BYTES)))
    assert 3 == len(recs)
    assert BIG_BYTES == int(recs["bytes"].astype(np.int64).sum())
    assert BIG_PACKETS == int(recs["packets"].astype(np.int64).sum())
    assert [L.SPLIT_FIRST, L.SPLIT_MASK, L.SPLIT_CONTINUED] == list(
        recs["tcp_state"] & L.SPLIT_MASK
    )
    assert (1, 2) == (
        conv.stats.issues.split_records,
        conv.stats.issues.split_pieces,
    )
    assert 3 == conv.stats.written
    formatter = VpcTextFormatter(fields=("packets", "bytes"))
    assert [f"{BIG_PACKETS} {BIG_BYTES}"] == formatter.lines(recs)


def test_overflow_clamp_is_counted() -> None:
    """overflow: clamp keeps one record at 2^32-1 and counts it."""
    recs, conv = _convert(
        _full(str(BIG_PACKETS), str(BIG_BYTES)),
        "action: all\noverflow: clamp",
    )
    assert [L.U32_MAX] == list(recs["bytes"])
    assert 1 == conv.stats.issues.clamped
    assert 0 == recs["tcp_state"][0] & L.SPLIT_MASK


@pytest.mark.parametrize("nbytes", [L.U32_MAX, L.U32_MAX + 1])
def test_overflow_boundary(nbytes: int) -> None:
    """2^32-1 fits one record; 2^32 needs two."""
    recs, _ = _convert(_full("1000000", str(nbytes)))
    assert (1 if nbytes == L.U32_MAX else 2) == len(recs)
    assert nbytes == int(recs["bytes"].astype(np.int64).sum())


def test_both_sides_rewritten_is_counted_lossy() -> None:
    """srcaddr and dstaddr both differ from pkt-*: one is lost, counted."""
    text = (
        NAT_FMT + " flow-direction\n"
        "3 eni-1 10.0.0.220 10.0.0.221 198.51.100.1 198.51.100.2 1 2 6 1 40 "
        "1700000000 1700000001 ACCEPT OK egress\n"
    )
    recs, conv = _convert(text)
    assert "10.0.0.220" == _ip(recs["nhip"][0])
    assert (
        1
        == conv.stats.issues.lossy[
            "srcaddr and dstaddr both differ from pkt-*"
        ]
    )
