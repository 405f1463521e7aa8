# SPDX-License-Identifier: MIT
"""Tests of the tokeniser's fast paths (pysilk_ext.vpcparse + C core).

The C core has three instantiations of its line loop (AVX-512 scanner,
AVX2, portable; chosen by CPU, forced here through ``ChunkParser._simd``)
and string dictionaries that outlive a feed.  These tests pin that every
path gives the same answers, and that what a parser remembers between
feeds never leaks into (or out of) a batch.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysilk_ext import vpcparse
from pysilk_ext.batch import StrColumn
from pysilk_ext.vpcparse import (
    ChunkParser,
    LogFormat,
    ParseResult,
    Reason,
    iter_records,
)

SIMD_LEVELS = ("best", "avx2", "portable")
V2_LINE = (
    "2 123456789010 {eni} 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
    "1418530010 1418530070 ACCEPT OK"
)


def parser_at(level: str, fmt: LogFormat | None = None) -> ChunkParser:
    """A fresh parser forced to one C path."""
    parser = ChunkParser(fmt, source="t.log")
    parser._simd = level
    return parser


def summary(result: ParseResult) -> tuple[Any, ...]:
    """Everything a result says, in comparable form."""
    return (
        [rec.values for rec in iter_records(result.batch)],
        result.batch.lineno.tolist(),
        [(b.lineno, b.reason, b.field, b.value, b.text) for b in result.bad],
        result.headers,
        result.lines,
        result.ms_times,
    )


def v2(eni: str) -> str:
    """A default-format record of interface ``eni``."""
    return V2_LINE.format(eni=eni)


def strs(result: ParseResult, name: str = "interface-id") -> StrColumn:
    """The StrColumn ``name`` of a result's batch."""
    col: StrColumn = result.batch.columns[name]
    return col


# ---------------------------------------------------------------------
# The C paths agree
# ---------------------------------------------------------------------

_OCTETS = st.one_of(
    st.integers(0, 255).map(str),
    st.integers(0, 999).map(str),
    st.sampled_from(["", "00", "01", "007", "0", "255", "256", "1a", "-"]),
)


@st.composite
def _near_quads(draw: st.DrawFn) -> str:
    parts = draw(st.lists(_OCTETS, min_size=3, max_size=5))
    return draw(st.sampled_from([".", ".", ".", ".", ":", ".."])).join(parts)


def dotted() -> st.SearchStrategy[str]:
    """Texts shaped like (and often just unlike) dotted quads."""
    return st.one_of(st.ip_addresses(v=4).map(str), _near_quads())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=dotted(), at_end=st.booleans())
def test_ipv4_paths_match_ipaddress(text: str, at_end: bool) -> None:
    """Every path accepts exactly the addresses ipaddress accepts.

    (Dotted quads: no leading zeros, octets up to 255, four of them; a
    few texts are IPv6.)  ``at_end`` puts the address last in the
    buffer, where the SIMD parser may not read 16 bytes and must fall
    back.
    """
    try:
        expected: Any = None if text == "-" else ipaddress.ip_address(text)
    except ValueError:
        expected = Reason.BAD_ADDRESS
    fmt = LogFormat.parse("dstport srcaddr")
    line = f"22 {text}" if at_end else f"22 {text}\n22 10.0.0.1\n"
    for level in SIMD_LEVELS:
        result = parser_at(level, fmt).feed(line.encode())
        if expected is Reason.BAD_ADDRESS:
            assert [expected] == [b.reason for b in result.bad], level
        else:
            (rec, *_) = iter_records(result.batch)
            assert expected == rec["srcaddr"], level


ENUM_TOKENS = [
    "ACCEPT", "REJECT", "accept", "Reject", "-", "ACCEPTX", "ACCEP", "OK",
    "NODATA", "SKIPDATA", "SKIPDATAX", "NODATAXX", "O", "ingress", "egress",
    "EGRESS", "IPv4", "IPv6", "EFA", "efa", "IPv5", "\xff" * 8,
]  # fmt: skip


@pytest.mark.parametrize("token", ENUM_TOKENS)
def test_enum_paths_agree(token: str) -> None:
    """The one-word compare of the SIMD paths and the portable parser
    type (or reject) every enumeration token alike."""
    fmt = LogFormat.parse("action log-status flow-direction type")
    line = " ".join([token] * 4) + "\n"
    results = [
        summary(parser_at(level, fmt).feed(line.encode()))
        for level in SIMD_LEVELS
    ]
    assert [results[0]] * len(SIMD_LEVELS) == results


@pytest.mark.parametrize(
    "token", ["-", "0", "7", "12345678", "123456789", "1" * 16, "1" * 19,
              "9223372036854775807", "9223372036854775808", "12a", "-1",
              "0x10", "1-", "--", "+5", "0000000000000000000001"],
)  # fmt: skip
def test_integer_paths_agree(token: str) -> None:
    """Branch-free SWAR integers: every path gives the same value or the
    same reason, at the end of the buffer and inside it."""
    cases = [
        (LogFormat.parse("packets dstport"), f"{token} 22\n22 22\n"),
        (LogFormat.parse("dstport packets"), f"22 22\n22 {token}"),
    ]
    for fmt, text in cases:
        results = [
            summary(parser_at(level, fmt).feed(text.encode()))
            for level in SIMD_LEVELS
        ]
        assert [results[0]] * len(SIMD_LEVELS) == results


# ---------------------------------------------------------------------
# String dictionaries across feeds
# ---------------------------------------------------------------------


def test_batch_values_hold_only_the_batch() -> None:
    """The parser remembers values across feeds, but each batch lists
    only its own values, in order of first use."""
    parser = ChunkParser(None, source="t")
    first = parser.feed(f"{v2('eni-a')}\n{v2('eni-b')}\n".encode())
    second = parser.feed(f"{v2('eni-c')}\n{v2('eni-b')}\n{v2('-')}\n".encode())
    assert ["", "eni-a", "eni-b"] == strs(first).values
    assert [1, 2] == strs(first).codes.tolist()
    assert ["", "eni-c", "eni-b"] == strs(second).values
    assert [1, 2, 0] == strs(second).codes.tolist()
    # the first batch is unchanged by the second feed
    assert ["eni-a", "eni-b"] == strs(first).decode()


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_bad_line_leaves_no_value_in_batch(level: str) -> None:
    """A bad line's strings (new, or known from an earlier feed) are not
    values of the batch; a later good line may still add them."""
    parser = parser_at(level)
    parser.feed(f"{v2('eni-old')}\n".encode())
    bad_new = v2("eni-new").replace(" 22 ", " x ")
    bad_old = v2("eni-old").replace(" 22 ", " x ")
    result = parser.feed(
        f"{v2('eni-a')}\n{bad_new}\n{bad_old}\n{v2('eni-b')}\n".encode()
    )
    assert [Reason.BAD_INTEGER] * 2 == [b.reason for b in result.bad]
    assert ["", "eni-a", "eni-b"] == strs(result).values
    again = parser.feed(f"{v2('eni-new')}\n{v2('eni-old')}\n".encode())
    assert ["eni-new", "eni-old"] == strs(again).decode()


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_bad_utf8_value_is_never_learnt(level: str) -> None:
    """A value that is not UTF-8 makes its line bad and stays out of the
    dictionary (the next good line with a valid value decodes)."""
    parser = parser_at(level)
    data = v2("eni-\xff").encode("latin-1") + b"\n" + v2("eni-ok").encode()
    result = parser.feed(data)
    assert [Reason.BAD_UTF8] == [b.reason for b in result.bad]
    assert ["eni-ok"] == strs(result).decode()


def test_long_values_across_feeds() -> None:
    """Values longer than the 32-byte key compare in full, also against
    values learnt in an earlier feed (their bytes are kept)."""
    fmt = LogFormat.parse("ecs-task-arn")
    arn = "arn:aws:ecs:us-east-1:123456789012:task/cluster/" + "f" * 40
    parser = ChunkParser(fmt, source="t")
    parser.feed(f"{arn}\n{arn}x\n".encode())
    result = parser.feed(f"{arn}x\n{arn}\n{arn}y\n{arn}x\n".encode())
    col = strs(result, "ecs-task-arn")
    assert [arn + "x", arn, arn + "y", arn + "x"] == col.decode()
    assert ["", arn + "x", arn, arn + "y"] == col.values


def test_dictionary_limit_forgets_between_feeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the limit the dictionaries are emptied between feeds, and
    every batch still decodes right."""
    monkeypatch.setattr(vpcparse, "_DICT_LIMIT", 5)
    parser = ChunkParser(None, source="t")
    for feed in range(6):
        enis = [f"eni-{feed}-{i}" for i in range(4)] + ["eni-same"]
        result = parser.feed("\n".join(v2(e) for e in enis).encode())
        assert enis == strs(result).decode()
        assert ["", *enis] == strs(result).values


# ---------------------------------------------------------------------
# Array sizing and the head of a chunk
# ---------------------------------------------------------------------


def test_row_guess_too_small_grows() -> None:
    """When lines are much shorter than the last feed's, the arrays grow
    and nothing is lost."""
    parser = ChunkParser(None, source="t")
    parser.feed((v2("x" * 2000) + "\n").encode() * 64)  # learns long lines
    lines = [v2(f"eni-{i}") for i in range(500)]
    result = parser.feed("\n".join(lines).encode())
    assert 500 == result.batch.n
    assert [f"eni-{i}" for i in range(500)] == strs(result).decode()
    assert list(range(1, 501)) == result.batch.lineno.tolist()


@pytest.mark.parametrize("cut", [0, 1, 3, 5])
def test_head_and_data_make_one_batch(cut: int) -> None:
    """feed(data, head=...) equals feeding head + data: one batch, line
    numbers running on, a header in the head applying to the data."""
    lines = [
        "version srcaddr interface-id action",
        "2 10.0.0.1 eni-a ACCEPT",
        "2 10.0.0.2 eni-b REJECT",
        "2 bad eni-c ACCEPT",
        "5 10.0.0.3 eni-a ACCEPT",
        "2 10.0.0.4 eni-d ACCEPT",
        "2 10.0.0.5 eni-a ACCEPT",
    ]
    text = ("\n".join(lines) + "\n").encode()
    split = len(("\n".join(lines[:cut]) + "\n").encode()) if cut else 0
    whole = ChunkParser(None, source="t").feed(text, 10)
    parts = ChunkParser(None, source="t").feed(
        text[split:], 10, head=text[:split]
    )
    assert summary(whole) == summary(parts)
    assert 4 == parts.batch.n
