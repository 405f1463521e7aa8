# SPDX-License-Identifier: MIT
"""Tests of the VPC Flow Log tokeniser (pysilk_ext.vpcparse + C core)."""

from __future__ import annotations

import ipaddress
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysilk_ext import fields as F
from pysilk_ext.batch import AddrColumn, StrColumn
from pysilk_ext.errors import VpcParseError
from pysilk_ext.vpcparse import (
    BadLine,
    ChunkParser,
    LogFormat,
    ParseResult,
    Reason,
    addr_column_from_strings,
    iter_records,
    screen_batch,
    str_column_from_strings,
)
from tests import strategies as S

# AWS documentation examples (spec section 8 and section 4).
DEFAULT_EXAMPLES = [
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 "
    "20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 "
    "49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
    "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 "
    "0 0 1 4 336 1432917027 1432917142 ACCEPT OK",
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 "
    "0 0 1 4 336 1432917094 1432917142 REJECT OK",
    "2 123456789010 eni-1235b8ca123456789 "
    "2001:db8:1234:a100:8d6e:3477:df66:f105 "
    "2001:db8:1234:a102:3304:8879:34cf:4071 "
    "34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - "
    "1431280876 1431280934 - NODATA",
]

V5_HEADER = (
    "version srcaddr dstaddr srcport dstport protocol start end type "
    "packets bytes account-id vpc-id subnet-id instance-id interface-id "
    "region az-id sublocation-type sublocation-id action tcp-flags "
    "pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service "
    "traffic-path flow-direction log-status"
)
V5_EXAMPLES = [
    "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 "
    "15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 "
    "i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 "
    "- - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
    "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 "
    "471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 "
    "i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 "
    "- - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
]

GOOD_V2 = DEFAULT_EXAMPLES[0]


def parse(
    text: str | bytes,
    fmt: LogFormat | None = None,
    *,
    first_lineno: int = 1,
    max_line: int = 65536,
) -> ParseResult:
    """Parse a whole text with a fresh parser."""
    data = text.encode() if isinstance(text, str) else text
    parser = ChunkParser(fmt, source="test.log", max_line=max_line)
    return parser.feed(data, first_lineno)


def values(result: ParseResult) -> list[dict[str, Any]]:
    """The records of a result as dicts of typed values."""
    return [rec.values for rec in iter_records(result.batch)]


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Shorthand for ipaddress.ip_address."""
    return ipaddress.ip_address(text)


# ---------------------------------------------------------------------
# LogFormat
# ---------------------------------------------------------------------


def test_logformat_default_is_v2() -> None:
    """LogFormat.DEFAULT is the 14-field version 2 format."""
    assert F.DEFAULT_FORMAT == LogFormat.DEFAULT.fields
    assert 2 == LogFormat.DEFAULT.declared_version


@pytest.mark.parametrize(
    "spec",
    [
        "${version} ${account-id} ${srcaddr}",
        "version account-id srcaddr",
        "version,account-id,srcaddr",
        " version, account-id ,srcaddr\n",
        "version account_id srcaddr",
    ],
)
def test_logformat_parse_forms(spec: str) -> None:
    """Template, space, comma and underscored lists give one format."""
    assert ("version", "account-id", "srcaddr") == LogFormat.parse(spec).fields


def test_logformat_str_is_aws_template() -> None:
    """str(LogFormat) is AWS's ${...} template, which parses back."""
    fmt = LogFormat.parse("srcaddr dstaddr x-future")
    assert "${srcaddr} ${dstaddr} ${x-future}" == str(fmt)
    assert fmt == LogFormat.parse(str(fmt))


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "No fields"),
        ("srcaddr srcaddr", "'srcaddr' appears more than once"),
        ("${srcaddr} junk", "Text outside"),
        ("${srcaddr} ${}", "Invalid field name ''"),
    ],
)
def test_logformat_parse_errors(spec: str, match: str) -> None:
    """Empty, duplicate and malformed formats are VpcParseErrors."""
    with pytest.raises(VpcParseError, match=match):
        LogFormat.parse(spec)


def test_logformat_from_header_line() -> None:
    """A header line (bytes or str, with line end) names the fields."""
    fmt = LogFormat.from_header_line(V5_HEADER.encode() + b"\r\n")
    assert tuple(V5_HEADER.split()) == fmt.fields
    assert 5 == fmt.declared_version
    assert fmt == LogFormat.from_header_line(V5_HEADER)


def test_logformat_header_empty_name_is_error() -> None:
    """Two spaces in a header make an empty name: an error."""
    with pytest.raises(VpcParseError, match="Invalid field name"):
        LogFormat.from_header_line("version  srcaddr")


def test_logformat_properties() -> None:
    """declared_version, is_tgw and unknown_fields derive from names."""
    fmt = LogFormat.parse("version reject-reason x-new")
    assert 8 == fmt.declared_version
    assert ("x-new",) == fmt.unknown_fields
    assert not fmt.is_tgw
    assert LogFormat(F.TGW_DEFAULT_FORMAT).is_tgw


# ---------------------------------------------------------------------
# AWS documentation examples
# ---------------------------------------------------------------------


def test_default_format_examples() -> None:
    """The AWS default-format examples parse to the documented values."""
    result = parse("\n".join(DEFAULT_EXAMPLES) + "\n")
    assert [] == result.bad
    assert len(DEFAULT_EXAMPLES) == result.batch.n
    recs = values(result)
    first = recs[0]
    assert 2 == first["version"]
    assert "123456789010" == first["account-id"]
    assert "eni-1235b8ca123456789" == first["interface-id"]
    assert ip("172.31.16.139") == first["srcaddr"]
    assert ip("172.31.16.21") == first["dstaddr"]
    assert (20641, 22, 6) == (
        first["srcport"],
        first["dstport"],
        first["protocol"],
    )
    assert (20, 4249) == (first["packets"], first["bytes"])
    assert (1418530010, 1418530070) == (first["start"], first["end"])
    assert F.Action.ACCEPT == first["action"]
    assert F.LogStatus.OK == first["log-status"]
    assert F.Action.REJECT == recs[1]["action"]
    assert ip("2001:db8:1234:a100:8d6e:3477:df66:f105") == recs[4]["srcaddr"]


def test_nodata_example_is_kept_with_missing_flow_fields() -> None:
    """A NODATA record is a good record whose flow fields are missing."""
    result = parse(DEFAULT_EXAMPLES[-1])
    assert [] == result.bad
    (rec,) = values(result)
    assert F.LogStatus.NODATA == rec["log-status"]
    assert (1431280876, 1431280934) == (rec["start"], rec["end"])
    for name in ("srcaddr", "dstaddr", "srcport", "dstport", "protocol"):
        assert rec[name] is None, name
    for name in ("packets", "bytes", "action"):
        assert rec[name] is None, name


def test_nodata_columns_use_missing_markers() -> None:
    """Missing is -1 in int columns, family 0 and code 0 elsewhere."""
    batch = parse(DEFAULT_EXAMPLES[-1]).batch
    assert -1 == batch.columns["packets"][0]
    assert 0 == batch.columns["srcaddr"].family[0]
    assert bytes(16) == batch.columns["srcaddr"].addr[0].tobytes()
    assert 0 == batch.columns["action"][0]


def test_v5_examples_with_header() -> None:
    """The AWS v5 examples in their custom order, with an S3 header."""
    text = "\n".join([V5_HEADER, *V5_EXAMPLES]) + "\n"
    result = parse(text)
    assert [] == result.bad
    assert 1 == result.headers
    assert 3 == result.lines
    ingress, egress = values(result)
    assert F.FlowDirection.INGRESS == ingress["flow-direction"]
    assert ingress["traffic-path"] is None
    assert "S3" == ingress["pkt-src-aws-service"]
    assert ingress["pkt-dst-aws-service"] is None
    assert ingress["sublocation-type"] is None
    assert F.AddrType.IPV4 == ingress["type"]
    assert 19 == ingress["tcp-flags"]
    assert "apse2-az3" == ingress["az-id"]
    assert F.FlowDirection.EGRESS == egress["flow-direction"]
    assert 8 == egress["traffic-path"]
    assert ip("52.95.128.179") == egress["pkt-dstaddr"]
    assert [2, 3] == result.batch.lineno.tolist()


def test_seed_sample(shared: Any) -> None:
    """The bundled seed sample (v5, S3 header) parses without a bad line."""
    data = (shared / "data" / "seed-sample-v5.log").read_bytes()
    result = parse(data)
    assert [] == result.bad
    assert 1 == result.headers
    assert data.count(b"\n") - 1 == result.batch.n


def test_batch_columns_follow_format_order_and_kinds() -> None:
    """Columns are keyed by AWS name in format order, typed by kind."""
    batch = parse("\n".join([V5_HEADER, *V5_EXAMPLES])).batch
    assert V5_HEADER.split() == list(batch.columns)
    assert np.int64 == batch.columns["bytes"].dtype
    assert np.uint8 == batch.columns["action"].dtype
    assert isinstance(batch.columns["srcaddr"], AddrColumn)
    assert isinstance(batch.columns["vpc-id"], StrColumn)
    assert 4 == batch.columns["srcaddr"].family[0]
    v4mapped = bytes(10) + b"\xff\xff" + bytes([52, 95, 128, 179])
    assert v4mapped == batch.columns["srcaddr"].addr[0].tobytes()


# ---------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------


def _round_trip(
    names: tuple[str, ...], recs: list[S.Record], with_header: bool
) -> None:
    lines = [S.render(names, r) for r in recs]
    if with_header:
        text = "\n".join([" ".join(names), *lines]) + "\n"
        result = parse(text)
        first = 2
    else:
        result = parse("\n".join(lines) + "\n", LogFormat(names))
        first = 1
    assert [] == result.bad
    assert len(recs) == result.batch.n
    assert list(range(first, first + len(recs))) == (
        result.batch.lineno.tolist()
    )
    expected = [S.expected_values(names, r) for r in recs]
    assert expected == values(result)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), with_header=st.booleans())
def test_round_trip_random_formats(data: Any, with_header: bool) -> None:
    """Random records in a random field order parse back to their values.

    With a header line the parser learns the order from it; without one
    it is given the format.
    """
    names = data.draw(S.log_formats())
    recs = data.draw(st.lists(S.records(names), min_size=1, max_size=8))
    _round_trip(names, recs, with_header)


@pytest.mark.parametrize("version", F.VPC_VERSIONS)
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_every_version_field_set(version: int, data: Any) -> None:
    """Every field of versions 2..version, shuffled, round-trips."""
    names = tuple(data.draw(st.permutations(F.fields_of_version(version))))
    recs = data.draw(st.lists(S.records(names), min_size=1, max_size=4))
    _round_trip(names, recs, with_header=data.draw(st.booleans()))


@settings(max_examples=100)
@given(
    value=st.one_of(
        st.integers(0, 2**63 - 1),
        st.integers(0, 10**9),
        st.sampled_from([0, 9, 10, 99999999, 100000000, 2**63 - 1]),
    ),
    zeros=st.integers(0, 3),
    at_end=st.booleans(),
)
def test_int64_values_anywhere(value: int, zeros: int, at_end: bool) -> None:
    """Any int64 (leading zeros too) parses, also as the buffer's end."""
    fmt = LogFormat(("packets",))
    text = "0" * zeros + str(value)
    data = text if at_end else text + "\n"
    (rec,) = values(parse(data, fmt))
    assert value == rec["packets"]


@settings(max_examples=100)
@given(addr=st.ip_addresses(), at_end=st.booleans())
def test_addresses_anywhere(addr: Any, at_end: bool) -> None:
    """Any IPv4/IPv6 address parses, also as the buffer's last bytes."""
    fmt = LogFormat(("srcaddr",))
    text = str(addr) if at_end else str(addr) + "\n"
    (rec,) = values(parse(text, fmt))
    assert addr == rec["srcaddr"]


@pytest.mark.parametrize(
    "text",
    [
        "::",
        "::1",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1::8",
        "1:2:3:4:5:6::8",
        "::ffff:1.2.3.4",
        "64:ff9b::192.0.2.33",
        "1:2:3:4:5:6:1.2.3.4",
        "fe80::1ff:fe23:4567:890A",
        "0000:0000:0000:0000:0000:0000:0000:0001",
    ],
)
def test_ipv6_forms(text: str) -> None:
    """IPv6 text forms, '::' and embedded IPv4 included, parse exactly."""
    (rec,) = values(parse(text, LogFormat(("srcaddr",))))
    assert ip(text) == rec["srcaddr"]
    assert 6 == rec["srcaddr"].version


def test_ipv4_mapped_ipv6_text_keeps_family_6() -> None:
    """'::ffff:a.b.c.d' is written as IPv6, so its family is 6."""
    batch = parse(
        "::ffff:10.0.0.1 10.0.0.1", LogFormat.parse("srcaddr dstaddr")
    ).batch
    assert 6 == batch.columns["srcaddr"].family[0]
    assert 4 == batch.columns["dstaddr"].family[0]
    assert (
        batch.columns["srcaddr"].addr[0].tobytes()
        == batch.columns["dstaddr"].addr[0].tobytes()
    )


def test_enum_letter_case_is_ignored() -> None:
    """ACCEPT/accept/Accept, OK/ok, EGRESS, ipv6 all parse."""
    fmt = LogFormat.parse("action log-status flow-direction type")
    (rec,) = values(parse("accept ok EGRESS ipv6", fmt))
    assert F.Action.ACCEPT == rec["action"]
    assert F.LogStatus.OK == rec["log-status"]
    assert F.FlowDirection.EGRESS == rec["flow-direction"]
    assert F.AddrType.IPV6 == rec["type"]


def test_efa_and_skipdata() -> None:
    """EFA traffic type and SKIPDATA status are known values."""
    fmt = LogFormat.parse("type log-status")
    (rec,) = values(parse("EFA SKIPDATA", fmt))
    assert F.AddrType.EFA == rec["type"]
    assert F.LogStatus.SKIPDATA == rec["log-status"]


# ---------------------------------------------------------------------
# Special values and line handling
# ---------------------------------------------------------------------


def test_account_id_keeps_leading_zeros_and_unknown() -> None:
    """account-id is a string: leading zeros and 'unknown' survive."""
    lines = [
        GOOD_V2.replace("123456789010", "000123456789"),
        GOOD_V2.replace("123456789010", "unknown"),
    ]
    recs = values(parse("\n".join(lines)))
    assert ["000123456789", "unknown"] == [r["account-id"] for r in recs]


def test_millisecond_times_are_converted_and_counted() -> None:
    """start/end above 2^31-1 are milliseconds: divided and counted."""
    ms = GOOD_V2.replace(
        "1418530010 1418530070", "1418530010123 1418530070999"
    )
    line3 = GOOD_V2.replace("1418530010 1418530070", "2147483647 2147483647")
    result = parse("\n".join([ms, GOOD_V2, line3]))
    recs = values(result)
    assert (1418530010, 1418530070) == (recs[0]["start"], recs[0]["end"])
    assert (1418530010, 1418530070) == (recs[1]["start"], recs[1]["end"])
    assert 2147483647 == recs[2]["start"]
    assert 1 == result.ms_times


def test_crlf_line_ends() -> None:
    """CRLF line ends (header included) are accepted."""
    text = "\r\n".join([V5_HEADER, *V5_EXAMPLES]) + "\r\n"
    result = parse(text)
    assert [] == result.bad
    assert 2 == result.batch.n
    assert F.LogStatus.OK == values(result)[1]["log-status"]


def test_empty_lines_are_skipped_but_counted() -> None:
    """Empty lines are not bad; they count as lines for numbering."""
    result = parse(f"\n{GOOD_V2}\n\r\n\n{GOOD_V2}\n")
    assert [] == result.bad
    assert [2, 5] == result.batch.lineno.tolist()
    assert 5 == result.lines


def test_last_line_without_newline() -> None:
    """The input's last line may lack its newline."""
    result = parse(f"{GOOD_V2}\n{GOOD_V2}")
    assert 2 == result.batch.n
    assert 2 == result.lines


def test_empty_input() -> None:
    """No data gives an empty batch with the format's columns."""
    result = parse(b"")
    assert 0 == result.batch.n
    assert 0 == result.lines
    assert list(F.DEFAULT_FORMAT) == list(result.batch.columns)


def test_first_lineno_offsets_numbers() -> None:
    """Line numbers start at first_lineno (for chunked input)."""
    result = parse(f"{GOOD_V2}\nbad\n", first_lineno=1001)
    assert [1001] == result.batch.lineno.tolist()
    assert 1002 == result.bad[0].lineno


def test_format_persists_across_feeds() -> None:
    """A header in one chunk sets the format for the next chunks."""
    parser = ChunkParser(None, source="s3.log")
    first = parser.feed((V5_HEADER + "\n" + V5_EXAMPLES[0] + "\n").encode())
    second = parser.feed((V5_EXAMPLES[1] + "\n").encode(), first.lines + 1)
    assert [] == second.bad
    assert [3] == second.batch.lineno.tolist()
    assert V5_HEADER.split() == list(second.batch.columns)


def test_feed_accepts_memoryview_slices() -> None:
    """feed() takes a memoryview slice of a larger buffer."""
    data = b"junk\n" + (GOOD_V2 + "\n").encode() * 3
    parser = ChunkParser(None, source="x")
    result = parser.feed(memoryview(data)[5:], 2)
    assert [2, 3, 4] == result.batch.lineno.tolist()
    assert "eni-1235b8ca123456789" == values(result)[2]["interface-id"]


def test_string_dictionary_is_per_batch() -> None:
    """Repeated strings share a code; values[0] is the missing value."""
    lines = [
        GOOD_V2,
        GOOD_V2.replace("eni-1235b8ca123456789", "eni-2"),
        GOOD_V2,
        GOOD_V2.replace("eni-1235b8ca123456789", "-"),
    ]
    col = parse("\n".join(lines)).batch.columns["interface-id"]
    assert "" == col.values[0]
    assert ["eni-1235b8ca123456789", "eni-2"] == col.values[1:]
    assert [1, 2, 1, 0] == col.codes.tolist()


def test_long_and_unicode_strings() -> None:
    """Strings longer than 32 bytes and non-ASCII text are kept."""
    arn = "arn:aws:ecs:us-east-1:123456789012:task/cluster/" + "f" * 40
    tag = "caf%C3%A9-\u00e9t\u00e9-\U0001f600"
    fmt = LogFormat.parse("ecs-task-arn instance-tag")
    lines = [f"{arn} {tag}", f"{arn}x {tag}", f"{arn} -"]
    recs = values(parse("\n".join(lines), fmt))
    assert [arn, arn + "x", arn] == [r["ecs-task-arn"] for r in recs]
    assert [tag, tag, None] == [r["instance-tag"] for r in recs]


def test_unknown_fields_are_strings_and_future_versions_pass() -> None:
    """Unknown names are kept as strings; their records' version passes."""
    text = "version srcaddr x-new-field\n12 10.0.0.1 hello\n11 - -\n"
    result = parse(text)
    assert [] == result.bad
    recs = values(result)
    assert ["hello", None] == [r["x-new-field"] for r in recs]
    assert [12, 11] == [r["version"] for r in recs]


# ---------------------------------------------------------------------
# Header lines mid-stream
# ---------------------------------------------------------------------


def test_repeated_header_mid_stream_is_skipped() -> None:
    """A repeated identical header (concatenated objects) is counted only."""
    text = "\n".join([V5_HEADER, V5_EXAMPLES[0], V5_HEADER, V5_EXAMPLES[1]])
    result = parse(text)
    assert [] == result.bad
    assert 2 == result.headers
    assert [2, 4] == result.batch.lineno.tolist()
    assert V5_HEADER.split() == list(result.batch.columns)


def test_header_switch_mid_stream() -> None:
    """A different header switches the layout for the following lines."""
    v2_header = " ".join(F.DEFAULT_FORMAT)
    text = "\n".join(
        [V5_HEADER, V5_EXAMPLES[0], v2_header, GOOD_V2, V5_HEADER]
    )
    text += "\n" + V5_EXAMPLES[1] + "\n"
    result = parse(text)
    assert [] == result.bad
    assert 3 == result.headers
    assert [2, 4, 6] == result.batch.lineno.tolist()
    recs = values(result)
    assert [5, 2, 5] == [r["version"] for r in recs]
    assert ["vpc-abcdefab012345678", None, "vpc-abcdefab012345678"] == [
        r["vpc-id"] for r in recs
    ]
    assert [ip("52.95.128.179"), ip("172.31.16.139"), ip("10.0.0.71")] == [
        r["srcaddr"] for r in recs
    ]
    assert [80, 20641, 34210] == [r["srcport"] for r in recs]
    assert set(V5_HEADER.split()) == set(result.batch.columns)
    assert V5_HEADER.split() == list(result.format.fields)


def test_header_replaces_given_format() -> None:
    """A header line overrides a format given by the caller."""
    text = V5_HEADER + "\n" + V5_EXAMPLES[0] + "\n"
    result = parse(text, LogFormat.DEFAULT)
    assert [] == result.bad
    assert V5_HEADER.split() == list(result.format.fields)


def test_future_header_with_unknown_first_name() -> None:
    """A header of mostly known names is recognised even if it starts
    with an unknown one."""
    text = "x-brand-new version srcaddr\nabc 2 10.1.2.3\n"
    result = parse(text)
    assert [] == result.bad
    assert 1 == result.headers
    assert values(result) == [
        {"x-brand-new": "abc", "version": 2, "srcaddr": ip("10.1.2.3")}
    ]


# ---------------------------------------------------------------------
# Bad input: one test per class
# ---------------------------------------------------------------------


def assert_one_bad(
    bad_line: str | bytes,
    reason: str,
    *,
    fmt: LogFormat | None = None,
    good: str = GOOD_V2,
    field: str | None = None,
    value: str | None = None,
) -> BadLine:
    """Parse good, bad, good: check the bad line and both good ones."""
    raw = bad_line.encode() if isinstance(bad_line, str) else bad_line
    data = good.encode() + b"\n" + raw + b"\n" + good.encode() + b"\n"
    result = parse(data, fmt)
    assert 1 == len(result.bad), result.bad
    bad = result.bad[0]
    assert reason == bad.reason
    assert 2 == bad.lineno
    assert "test.log" == bad.source
    assert field == bad.field
    assert value == bad.value
    assert raw.rstrip(b"\r") == bad.text
    assert [1, 3] == result.batch.lineno.tolist()
    assert 3 == result.lines
    assert str(bad).startswith("test.log:2: ")
    return bad


@pytest.mark.parametrize("drop", [1, 5, 13])
def test_bad_field_count_too_few(drop: int) -> None:
    """A line with a token missing is 'field-count', never shifted."""
    tokens = GOOD_V2.split()
    del tokens[drop]
    bad = assert_one_bad(" ".join(tokens), Reason.FIELD_COUNT)
    assert "Expected 14 fields but found 13" == bad.message


def test_bad_field_count_too_many() -> None:
    """A line with an extra token is 'field-count'."""
    bad = assert_one_bad(GOOD_V2 + " extra", Reason.FIELD_COUNT)
    assert "Expected 14 fields but found 15" == bad.message


def test_bad_field_count_v5_record_under_default() -> None:
    """A v5 record read with the default format is not mis-parsed."""
    assert_one_bad(V5_EXAMPLES[0], Reason.FIELD_COUNT)


def test_bad_field_count_double_space() -> None:
    """Two spaces make an empty token, so a wrong field count."""
    assert_one_bad(GOOD_V2.replace(" 22 ", "  22 "), Reason.FIELD_COUNT)


@pytest.mark.parametrize("token", ["2x", "-5", "+5", "1.5", "0x10", "--"])
def test_bad_integer(token: str) -> None:
    """Non-numeric integers are 'bad-integer' naming field and value."""
    bad = assert_one_bad(
        GOOD_V2.replace(" 20641 ", f" {token} "),
        Reason.BAD_INTEGER,
        field="srcport",
        value=token,
    )
    assert f"srcport: Invalid integer '{token}'" == bad.message


@pytest.mark.parametrize(
    ("old", "new", "field", "value", "bounds"),
    [
        (" 20641 ", " 70000 ", "srcport", "70000", "0-65535"),
        (" 22 ", " 65536 ", "dstport", "65536", "0-65535"),
        (" 6 20 ", " 256 20 ", "protocol", "256", "0-255"),
        (
            " 20 4249 ",
            " 20 99999999999999999999 ",
            "bytes",
            "99999999999999999999",
            f"0-{2**63 - 1}",
        ),
        (
            " 20 4249 ",
            " 9223372036854775808 4249 ",
            "packets",
            "9223372036854775808",
            f"0-{2**63 - 1}",
        ),
    ],
)
def test_out_of_range(
    old: str, new: str, field: str, value: str, bounds: str
) -> None:
    """Ports, protocol and int64 counters are range-checked."""
    bad = assert_one_bad(
        GOOD_V2.replace(old, new),
        Reason.OUT_OF_RANGE,
        field=field,
        value=value,
    )
    assert f"{field}: Value '{value}' out of range {bounds}" == bad.message


def test_out_of_range_tcp_flags() -> None:
    """tcp-flags above 255 is out of range."""
    fmt = LogFormat.parse("srcaddr tcp-flags")
    assert_one_bad(
        "10.0.0.1 256",
        Reason.OUT_OF_RANGE,
        fmt=fmt,
        good="10.0.0.1 18",
        field="tcp-flags",
        value="256",
    )


@pytest.mark.parametrize(
    "addr",
    [
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.",
        "a.b.c.d",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "12345::1",
        "1:2:3:4:5:6:7::8",
        ":1::",
        "1:",
        "fe80::1%eth0",
        "::1.2.3",
        "1.2.3.4::",
        "",
    ],
)
def test_bad_address(addr: str) -> None:
    """Malformed IPv4/IPv6 texts are 'bad-address'."""
    fmt = LogFormat.parse("srcaddr dstport")
    text = f"{addr} 22"
    if addr == "":
        text = " 22"
    bad = assert_one_bad(
        text,
        Reason.BAD_ADDRESS,
        fmt=fmt,
        good="10.0.0.1 22",
        field="srcaddr",
        value=addr,
    )
    assert f"srcaddr: Invalid IP address '{addr}'" == bad.message


def test_bad_enum() -> None:
    """An unknown action is 'bad-enum' listing the valid values."""
    bad = assert_one_bad(
        GOOD_V2.replace("ACCEPT", "ALLOW"),
        Reason.BAD_ENUM,
        field="action",
        value="ALLOW",
    )
    expected = "action: Invalid value 'ALLOW'; expected one of ACCEPT, REJECT"
    assert expected == bad.message


def test_nul_byte() -> None:
    """A NUL byte anywhere in a line makes it 'nul-byte'."""
    line = GOOD_V2.replace("eni-1235", "eni-\x001235").encode()
    bad = assert_one_bad(line, Reason.NUL_BYTE)
    assert "Line contains a NUL byte" == bad.message


def test_line_too_long() -> None:
    """A line longer than max_line is 'line-too-long', text truncated."""
    long_line = "x" * 300
    data = f"{GOOD_V2}\n{long_line}\n{GOOD_V2}\n"
    result = parse(data, max_line=200)
    (bad,) = result.bad
    assert Reason.LINE_TOO_LONG == bad.reason
    assert 2 == bad.lineno
    assert 200 == len(bad.text)
    assert "Line is longer than 200 bytes" == bad.message
    assert [1, 3] == result.batch.lineno.tolist()


def test_line_too_long_without_newline_at_end() -> None:
    """An over-long last line without newline is still reported."""
    result = parse(f"{GOOD_V2}\n" + "y" * 100_000)
    assert [Reason.LINE_TOO_LONG] == [b.reason for b in result.bad]
    assert 1 == result.batch.n


@pytest.mark.parametrize("version", ["0", "1", "12", "99"])
def test_unknown_version(version: str) -> None:
    """A version value that no VPC format has is 'unknown-version'."""
    bad = assert_one_bad(
        version + GOOD_V2[1:],
        Reason.UNKNOWN_VERSION,
        field="version",
        value=version,
    )
    assert f"version: Unknown flow log version '{version}'" == bad.message


def test_undeclared_version() -> None:
    """A record claiming a version above its format's is rejected."""
    bad = assert_one_bad(
        "5" + GOOD_V2[1:],
        Reason.UNDECLARED_VERSION,
        field="version",
        value="5",
    )
    expected = "version: Version '5' is higher than the format declares (2)"
    assert expected == bad.message


def test_bad_utf8_in_string_field() -> None:
    """Invalid UTF-8 in a string field is 'bad-utf8'."""
    line = GOOD_V2.encode().replace(b"eni-1235", b"eni-\xff1235")
    bad = assert_one_bad(
        line,
        Reason.BAD_UTF8,
        field="interface-id",
        value="eni-\\xff1235b8ca123456789",
    )
    assert (
        "interface-id: Value 'eni-\\xff1235b8ca123456789' is not valid UTF-8"
        == bad.message
    )


def test_tgw_record_by_version_value() -> None:
    """A record with version 6 is a Transit Gateway record."""
    bad = assert_one_bad("6" + GOOD_V2[1:], Reason.TGW_RECORD)
    assert bad.field is None


TGW_LINE = (
    "6 TransitGateway 123456789010 tgw-0c7f5a1b2c3d4e5f6 "
    "tgw-attach-0a1b2c3d4e5f60718 123456789010 123456789010 "
    "vpc-0a1b2c3d vpc-0d4e5f6a subnet-0a1b subnet-0c2d eni-0a1b eni-0c2d "
    "use1-az1 use1-az2 tgw-attach-0b2c 10.0.1.5 10.1.2.6 49152 443 6 10 "
    "840 1700000000 1700000060 OK IPv4 0 0 0 0 3 us-east-1 egress - -"
)


def test_tgw_default_record_in_vpc_stream() -> None:
    """A TGW default-format line among VPC records is recognised."""
    assert 36 == len(TGW_LINE.split())
    bad = assert_one_bad(TGW_LINE, Reason.TGW_RECORD)
    assert "Transit Gateway flow log record, not a VPC record" == bad.message


def test_tgw_header_makes_every_record_tgw() -> None:
    """After a TGW header every record is reported as TGW, not parsed."""
    header = " ".join(F.TGW_DEFAULT_FORMAT)
    text = "\n".join([header, TGW_LINE, TGW_LINE]) + "\n"
    result = parse(text)
    assert 1 == result.headers
    assert 0 == result.batch.n
    assert [Reason.TGW_RECORD] * 2 == [b.reason for b in result.bad]
    assert [2, 3] == [b.lineno for b in result.bad]


def test_bad_header_with_duplicate_names() -> None:
    """A header naming a field twice is reported; the layout stays."""
    bad = assert_one_bad("version srcaddr srcaddr", Reason.BAD_HEADER)
    expected = "Invalid log format: Field 'srcaddr' appears more than once"
    assert expected == bad.message


def test_many_bad_lines_overflow_event_buffer() -> None:
    """More bad lines than one C call reports are all collected."""
    lines = []
    for i in range(10_000):
        lines.append(GOOD_V2 if i % 3 == 0 else "garbage")
    result = parse("\n".join(lines))
    assert 3334 == result.batch.n
    assert 6666 == len(result.bad)
    expected = [i + 1 for i in range(10_000) if i % 3]
    assert expected == [b.lineno for b in result.bad]


@settings(max_examples=60)
@given(
    noise=st.binary(min_size=1, max_size=60).filter(
        lambda b: b"\n" not in b and b.strip(b"\r")
    )
)
def test_random_bytes_never_crash(noise: bytes) -> None:
    """Random junk is a record, a header or a named bad line -- each of
    the three lines is accounted for once, and the good lines around the
    junk still parse to their values."""
    result = parse(GOOD_V2.encode() + b"\n" + noise + b"\n" + GOOD_V2.encode())
    assert 3 == result.lines
    records = result.batch.lineno.tolist()
    bad_lines = [bad.lineno for bad in result.bad]
    header_lines = [2] * result.headers  # only the junk can be a header
    assert [1, 2, 3] == sorted(records + bad_lines + header_lines)
    assert values(parse(GOOD_V2))[0] == values(result)[0]
    if not result.headers:  # same layout: the last line is good too
        assert {1, 3} <= set(records)
        assert values(result)[0] == values(result)[-1]
    for bad in result.bad:
        assert bad.reason in set(Reason)


def _summary(result: ParseResult) -> tuple[Any, ...]:
    """Everything a result says, in comparable form."""
    return (
        [rec.values for rec in iter_records(result.batch)],
        result.batch.lineno.tolist(),
        [(b.lineno, b.reason, b.field, b.value, b.text) for b in result.bad],
        result.headers,
        result.lines,
        result.ms_times,
    )


SIMD_LEVELS = ("best", "avx2", "portable")  # ChunkParser._simd values
EDIT_BYTES = [b"\x00", b" ", b"\r", b"\n", b"-", b".", b":", b"7", b"\xff"]
LINE_PIECES = [
    V5_HEADER,
    *V5_EXAMPLES,
    " ".join(F.DEFAULT_FORMAT),
    *DEFAULT_EXAMPLES,
    TGW_LINE,
    "",
    "x" * 70,
    "y" * 400,
]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(LINE_PIECES), min_size=1, max_size=6),
    edits=st.lists(
        st.tuples(
            st.integers(0, 2000),
            st.lists(st.sampled_from(EDIT_BYTES), max_size=3).map(b"".join),
            st.integers(0, 3),
        ),
        max_size=4,
    ),
    sep=st.sampled_from([b"\n", b"\r\n"]),
    trailing=st.booleans(),
)
def test_simd_and_portable_scanners_agree(
    pieces: list[str],
    edits: list[tuple[int, bytes, int]],
    sep: bytes,
    trailing: bool,
) -> None:
    """The C paths (AVX-512 scanner, AVX2, portable) agree.

    Inputs are real lines with random byte edits, so both well-formed and
    broken lines of every length and position are compared.
    """
    data = bytearray(sep.join(p.encode() for p in pieces))
    for pos, insert, delete in edits:
        at = pos % (len(data) + 1)
        data[at : at + delete] = insert
    if trailing:
        data += sep
    results = []
    for simd in SIMD_LEVELS:
        parser = ChunkParser(None, source="t", max_line=300)
        parser._simd = simd
        results.append(_summary(parser.feed(bytes(data))))
    assert [results[0]] * len(SIMD_LEVELS) == results


# ---------------------------------------------------------------------
# Records whose fields contradict each other (screen_batch)
# ---------------------------------------------------------------------

V5_NAMES = tuple(V5_HEADER.split(" "))


def v5(**values: str) -> str:
    """V5_EXAMPLES[0] with some fields replaced (``_`` for ``-``)."""
    tokens = dict(zip(V5_NAMES, V5_EXAMPLES[0].split(" "), strict=True))
    tokens.update({k.replace("_", "-"): v for k, v in values.items()})
    return " ".join(tokens[name] for name in V5_NAMES)


def faults(result: ParseResult) -> list[tuple[int, str, str | None, str]]:
    """(line, reason, field, message) of each bad line."""
    return [(b.lineno, b.reason, b.field, b.message) for b in result.bad]


@pytest.mark.parametrize("name", ["pkt-srcaddr", "pkt-dstaddr"])
def test_nat64_packet_address_is_kept(name: str) -> None:
    """An IPv4 record whose packet-level endpoint is IPv6 (a NAT64
    gateway's interface: the original source is the IPv6 client) is
    good data: kept, with the IPv6 address as written."""
    line = v5(**{name.replace("-", "_"): "64:ff9b::34c0:a001"})
    result = parse("\n".join([V5_HEADER, line]) + "\n")
    assert [] == faults(result)
    assert [2] == result.batch.lineno.tolist()
    column = result.batch.columns[name]
    assert [6] == column.family.tolist()
    assert (
        bytes.fromhex("0064ff9b000000000000000034c0a001")
        == column.addr[0].tobytes()
    )


@pytest.mark.parametrize("name", ["srcaddr", "dstaddr"])
def test_ipv6_address_in_ipv4_record(name: str) -> None:
    """type IPv4 with an IPv6 address in the interface's own address
    fields is a bad line
    quoting the token as written; the good lines around it are kept.  It
    was accepted and stored as a ::ffff: mix."""
    bad = v5(**{name.replace("-", "_"): "2001:DB8::1"})
    result = parse("\n".join([V5_HEADER, v5(), bad, v5()]) + "\n")
    assert [
        (
            3,
            "wrong-family",
            name,
            f"{name}: IPv6 address '2001:DB8::1' in an IPv4 record",
        )
    ] == faults(result)
    assert bad.encode() == result.bad[0].text
    assert "2001:DB8::1" == result.bad[0].value
    assert [2, 4] == result.batch.lineno.tolist()
    assert "test.log:3: " + result.bad[0].message == str(result.bad[0])


def test_ipv4_address_in_ipv6_record() -> None:
    """type IPv6 with an IPv4 address is the mirror fault; the first
    address field in the order checked is named."""
    result = parse("\n".join([V5_HEADER, v5(type="IPv6")]))
    assert [
        (
            2,
            "wrong-family",
            "srcaddr",
            "srcaddr: IPv4 address '52.95.128.179' in an IPv6 record",
        )
    ] == faults(result)
    assert 0 == result.batch.n


def test_ipv4_mapped_text_in_ipv4_record_is_ipv6() -> None:
    """'::ffff:10.0.0.71' is IPv6 text (family 6): wrong in an IPv4
    record, as AWS writes IPv4 addresses dotted."""
    result = parse("\n".join([V5_HEADER, v5(dstaddr="::ffff:10.0.0.71")]))
    assert ["dstaddr: IPv6 address '::ffff:10.0.0.71' in an IPv4 record"] == [
        b.message for b in result.bad
    ]


def test_family_not_checked_without_a_stated_family() -> None:
    """EFA records, type '-', and formats without a type field state no
    family: any address is good there."""
    lines = [
        V5_HEADER,
        v5(type="EFA", srcaddr="2001:db8::1"),
        v5(type="-", srcaddr="2001:db8::1"),
    ]
    result = parse("\n".join(lines))
    assert ([], 2) == (result.bad, result.batch.n)
    mixed = GOOD_V2.replace("172.31.16.139", "2001:db8::1")
    result = parse(mixed)
    assert ([], 1) == (result.bad, result.batch.n)


@pytest.mark.parametrize("name", ["start", "end"])
def test_missing_time_in_flow_record(name: str) -> None:
    """A flow record (log-status OK) with start or end '-' is a bad line;
    it was skipped by rwvpc2silk without naming file or line."""
    result = parse("\n".join([V5_HEADER, v5(**{name: "-"}), v5()]))
    assert [
        (
            2,
            "missing-time",
            name,
            f"{name}: Missing value '-' in a flow record",
        )
    ] == faults(result)
    assert [3] == result.batch.lineno.tolist()


@pytest.mark.parametrize("name", ["srcaddr", "dstaddr"])
def test_missing_address_in_ok_record(name: str) -> None:
    """A record stated OK with srcaddr or dstaddr '-' is a bad line; it
    was skipped by rwvpc2silk as "no addresses" without file or line."""
    result = parse("\n".join([V5_HEADER, v5(), v5(**{name: "-"})]))
    assert [
        (
            3,
            "missing-address",
            name,
            f"{name}: Missing value '-' in a flow record",
        )
    ] == faults(result)
    assert [2] == result.batch.lineno.tolist()


def test_missing_address_needs_a_stated_ok() -> None:
    """Without a log-status field, or with NODATA, '-' addresses are not
    a fault: such a line may be a NODATA record."""
    fmt = LogFormat(("srcaddr", "dstaddr", "start", "end"))
    result = parse("- - 5 6\n", fmt)
    assert ([], 1) == (faults(result), result.batch.n)
    nodata = DEFAULT_EXAMPLES[-1]
    assert "NODATA" in nodata
    result = parse(nodata)
    assert ([], 1) == (faults(result), result.batch.n)


def test_missing_time_without_log_status_field_or_with_dash() -> None:
    """No log-status field, or log-status '-': every record is a flow."""
    fmt = LogFormat(("srcaddr", "dstaddr", "start", "end"))
    result = parse("10.0.0.1 10.0.0.2 - 5\n", fmt)
    assert [(1, "missing-time", "start")] == [
        (b.lineno, b.reason, b.field) for b in result.bad
    ]
    result = parse(GOOD_V2.replace("1418530070 ACCEPT OK", "- ACCEPT -"))
    assert [(1, "missing-time", "end")] == [
        (b.lineno, b.reason, b.field) for b in result.bad
    ]


def test_status_records_may_lack_times() -> None:
    """NODATA/SKIPDATA records hold '-' in most fields, times included
    in some logs: they stay records."""
    nodata = DEFAULT_EXAMPLES[-1].replace("1431280876 1431280934", "- -")
    skipdata = nodata.replace("NODATA", "SKIPDATA")
    result = parse("\n".join([nodata, skipdata]))
    assert ([], 2) == (result.bad, result.batch.n)


def test_end_before_start() -> None:
    """end earlier than start is a bad line quoting both tokens, in a
    status record too (the window is the record's only content)."""
    nodata = DEFAULT_EXAMPLES[-1].replace(
        "1431280876 1431280934", "1431280934 1431280876"
    )
    lines = [V5_HEADER, v5(start="1616729349", end="1616729292"), nodata]
    result = parse("\n".join(lines))
    message = "end: Value '1616729292' is before start '1616729349'"
    assert [(2, "end-before-start", "end", message)] == faults(result)[:1]
    assert (3, "field-count") == (result.bad[1].lineno, result.bad[1].reason)
    result = parse(nodata)
    assert [
        (
            1,
            "end-before-start",
            "end",
            "end: Value '1431280876' is before start '1431280934'",
        )
    ] == faults(result)


def test_equal_start_and_end_is_good() -> None:
    """A one-second flow (start == end) is not 'before'."""
    result = parse(GOOD_V2.replace("1418530070", "1418530010"))
    assert ([], 1) == (result.bad, result.batch.n)


def test_one_bad_line_per_record_in_line_order() -> None:
    """A record with several faults is reported once (the address
    first); the screened lines merge with the tokeniser's bad lines in
    line order."""
    lines = [
        V5_HEADER,
        v5(srcaddr="::1", start="-"),
        "garbage",
        v5(start="9", end="8"),
        v5(action="MAYBE"),
        v5(),
    ]
    result = parse("\n".join(lines))
    assert [
        (2, "wrong-family", "srcaddr"),
        (3, "field-count", None),
        (4, "end-before-start", "end"),
        (5, "bad-enum", "action"),
    ] == [(b.lineno, b.reason, b.field) for b in result.bad]
    assert [6] == result.batch.lineno.tolist()


def test_screened_tokens_follow_each_header() -> None:
    """After a header switches formats inside one chunk, a bad line's
    tokens are read in its own format (as written: milliseconds, an
    uncompressed IPv6 text); first_lineno numbers the lines."""
    other = ("start", "end", "srcaddr", "type")
    lines = [
        V5_HEADER,
        v5(start="30", end="20"),
        " ".join(other),
        "3000000000000 2000000000000 10.0.0.1 IPv4",
        "60 70 0:0::1 IPv4",
    ]
    result = parse("\r\n".join(lines), first_lineno=10)
    assert [
        (11, "end: Value '20' is before start '30'"),
        (13, "end: Value '2000000000000' is before start '3000000000000'"),
        (14, "srcaddr: IPv6 address '0:0::1' in an IPv4 record"),
    ] == [(b.lineno, b.message) for b in result.bad]
    assert [b"60 70 0:0::1 IPv4"] == [result.bad[-1].text]


def test_screen_batch_without_line_text_quotes_parsed_values() -> None:
    """When the line's text is not at hand (or does not split into the
    format's fields) the message quotes the parsed values."""
    batch = parse("\n".join([V5_HEADER, v5(), v5()])).batch
    batch.columns["type"][0] = F.AddrType.IPV6
    batch.columns["end"][1] = 1616729291
    kept, bad = screen_batch(batch, V5_NAMES, lambda linenos: {})
    assert 0 == kept.n
    assert [
        "test.log:2: srcaddr: IPv4 address '52.95.128.179' in an IPv6 record",
        "test.log:3: end: Value '1616729291' is before start '1616729292'",
    ] == [str(b) for b in bad]
    assert [b"", b""] == [b.text for b in bad]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_screen_agrees_with_an_oracle(data: Any) -> None:
    """Records drawn field by field (types and windows that may
    disagree): exactly the ones the oracle faults are bad lines, with
    its reason and field; the others are records."""
    names = data.draw(S.log_formats(unknown=False))
    recs = data.draw(
        st.lists(S.records(names, coherent=False), min_size=1, max_size=8)
    )
    text = "\n".join([" ".join(names), *(S.render(names, r) for r in recs)])
    result = parse(text)
    expected = [
        (i + 2, *fault)
        for i, rec in enumerate(recs)
        if (fault := S.record_fault(rec)) is not None
    ]
    assert expected == [(b.lineno, b.reason, b.field) for b in result.bad]
    faulted = {line for line, *_ in expected}
    good = [i + 2 for i in range(len(recs)) if i + 2 not in faulted]
    assert good == result.batch.lineno.tolist()


# ---------------------------------------------------------------------
# BadLine, column helpers
# ---------------------------------------------------------------------


def test_badline_str_and_default_message() -> None:
    """BadLine prints as 'source:line: message'; containers may omit it."""
    bad = BadLine("a.log.gz", 7, Reason.TRUNCATED_GZIP)
    assert "a.log.gz:7: Compressed input is truncated" == str(bad)
    bad = BadLine("a", 1, Reason.BAD_JSON, message="Invalid JSON: x")
    assert "a:1: Invalid JSON: x" == str(bad)


def test_addr_column_from_strings() -> None:
    """Address texts become an AddrColumn; None/''/'-' are missing."""
    col = addr_column_from_strings(["10.0.0.1", None, "-", "", "::1"])
    assert [4, 0, 0, 0, 6] == col.family.tolist()
    assert bytes(15) + b"\x01" == col.addr[4].tobytes()
    assert bytes(10) + b"\xff\xff\x0a\x00\x00\x01" == col.addr[0].tobytes()


def test_addr_column_from_strings_invalid() -> None:
    """An invalid text raises, or is listed and stored as missing."""
    texts = ["10.0.0.1", "10.0.0.300", "a\nb", "::2"]
    with pytest.raises(VpcParseError, match=r"'10\.0\.0\.300'") as info:
        addr_column_from_strings(texts)
    assert 2 == info.value.lineno
    invalid: list[int] = []
    col = addr_column_from_strings(texts, invalid=invalid)
    assert [1, 2] == invalid
    assert [4, 0, 0, 6] == col.family.tolist()


def test_str_column_from_strings() -> None:
    """Strings are dictionary-encoded; None/''/'-' get code 0."""
    col = str_column_from_strings(["a", None, "b", "a", "-", ""])
    assert ["", "a", "b"] == col.values
    assert [1, 0, 2, 1, 0, 0] == col.codes.tolist()
    assert ["a", None, "b", "a", None, None] == col.decode()


def test_iter_records_on_empty_batch() -> None:
    """iter_records of an empty batch yields nothing."""
    assert [] == list(iter_records(parse("").batch))
