# SPDX-License-Identifier: MIT
"""Hypothesis strategies for VPC Flow Log formats and records.

A generated record is a dict mapping each field name of a format to a
pair ``(text, value)``: the token as AWS would write it, and the typed
value the reader must produce for it (``int``, ``ipaddress`` address,
``IntEnum`` member, ``str``, or ``None`` for missing).  Everything is
derived from :mod:`pysilk_ext.fields`, so a field added to the table is
generated without touching this file.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pysilk_ext import fields as F

Token = tuple[str, Any]
Record = dict[str, Token]

MISSING: Token = ("-", None)

# Names a string value must never be: a record made only of such tokens
# could read as a header line.
_ALL_NAMES = frozenset({*F.FIELDS_BY_NAME, *F.TGW_FIELDS})

_STR_ALPHABET = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
    blacklist_characters=" \n\r\t\x0b\x0c\x85",
)


def unknown_field_names() -> st.SearchStrategy[str]:
    """Names of fields from a future version (hyphenated lower case)."""
    word = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
    return (
        st.lists(word, min_size=1, max_size=3)
        .map(lambda ws: "x-" + "-".join(ws))
        .filter(lambda n: n not in _ALL_NAMES)
    )


@st.composite
def log_formats(
    draw: st.DrawFn, *, unknown: bool = True, max_version: int = 11
) -> tuple[str, ...]:
    """Any non-empty subset of the VPC fields in any order.

    With ``unknown``, up to two future field names may be mixed in (never
    first, so that the header stays recognisable by its first name).
    """
    pool = [f.name for f in F.FIELDS if f.version <= max_version]
    names = draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
    if unknown:
        extra = draw(st.lists(unknown_field_names(), max_size=2, unique=True))
        for name in extra:
            pos = draw(st.integers(1, len(names)))
            names.insert(pos, name)
    return tuple(names)


def addresses(version: int | None = None) -> st.SearchStrategy[Token]:
    """IPv4 or IPv6 addresses (only ``version`` when given), IPv6 in
    compressed or exploded text."""
    v4 = st.ip_addresses(v=4).map(lambda a: (str(a), a))
    v6 = st.ip_addresses(v=6).flatmap(
        lambda a: st.sampled_from([(str(a), a), (a.exploded, a)])
    )
    if version is not None:
        return v4 if version == 4 else v6
    return st.one_of(v4, v6)


def _enum_tokens(enum: type[Any]) -> st.SearchStrategy[Token]:
    def spell(member: Any) -> st.SearchStrategy[Token]:
        text = F.enum_text(member)
        return st.sampled_from([text, text.upper(), text.lower()]).map(
            lambda t: (t, member)
        )

    return st.sampled_from(list(enum)).flatmap(spell)


def _int_tokens(spec: F.FieldSpec) -> st.SearchStrategy[Token]:
    hi = min(spec.hi, 2**31 - 1) if spec.is_time else spec.hi
    return st.integers(spec.lo, hi).map(lambda v: (str(v), v))


def account_ids() -> st.SearchStrategy[Token]:
    """12-digit account ids (leading zeros kept) or ``unknown``."""
    digits = st.text("0123456789", min_size=12, max_size=12)
    return st.one_of(digits, st.just("unknown")).map(lambda t: (t, t))


def string_values() -> st.SearchStrategy[Token]:
    """Any non-empty text without spaces or line breaks (not ``-``)."""
    return (
        st.text(_STR_ALPHABET, min_size=1, max_size=30)
        .filter(lambda t: t != "-" and t not in _ALL_NAMES)
        .map(lambda t: (t, t))
    )


def field_tokens(
    name: str, *, version: int | None = None
) -> st.SearchStrategy[Token]:
    """Tokens of one field, missing (``-``) included.

    ``version`` is the declared version of the format: the ``version``
    field then holds it (as AWS writes it).
    """
    spec = F.field(name)
    if name == "version":
        value = version if version is not None else 2
        return st.sampled_from([(str(value), value), MISSING])
    if name == "account-id":
        base = account_ids()
    elif spec.kind is F.FieldKind.INT:
        base = _int_tokens(spec)
    elif spec.kind is F.FieldKind.ADDR:
        base = addresses()
    elif spec.kind is F.FieldKind.ENUM:
        assert spec.enum is not None
        base = _enum_tokens(spec.enum)
    else:
        base = string_values()
    return st.one_of(st.just(MISSING), base)


@st.composite
def records(
    draw: st.DrawFn, names: tuple[str, ...], *, coherent: bool = True
) -> Record:
    """One record of the format ``names``.

    With ``coherent`` (the default) fields that relate agree, as in
    records AWS writes (see :func:`record_fault`); without it each field
    is drawn on its own, so a record may be a bad line.
    """
    version = F.version_of_fields(names)
    rec = {n: draw(field_tokens(n, version=version)) for n in names}
    if coherent:
        _make_coherent(draw, rec)
    return rec


#: the fields whose family ``type`` states (not pkt-*: NAT64 mixes them)
_TYPED_ADDRS = ("srcaddr", "dstaddr")
_TYPE_FAMILY = {F.AddrType.IPV4: 4, F.AddrType.IPV6: 6}


def _is_flow(rec: Record) -> bool:
    return rec.get("log-status", MISSING)[1] in (None, F.LogStatus.OK)


def _stated_ok(rec: Record) -> bool:
    return rec.get("log-status", MISSING)[1] == F.LogStatus.OK


def _make_coherent(draw: st.DrawFn, rec: Record) -> None:
    """Redraw what :func:`record_fault` would call a fault."""
    want = _TYPE_FAMILY.get(rec.get("type", MISSING)[1])
    for name in _TYPED_ADDRS:
        addr = rec.get(name, MISSING)[1]
        if want is not None and addr is not None and addr.version != want:
            rec[name] = draw(addresses(want))
        if name in rec and addr is None and _stated_ok(rec):
            rec[name] = draw(addresses(want or 4))
    times = [n for n in ("start", "end") if n in rec]
    for name in times:
        if rec[name][1] is None and _is_flow(rec):
            rec[name] = draw(_int_tokens(F.field(name)))
    if len(times) == 2:
        start, end = rec["start"], rec["end"]
        if None not in (start[1], end[1]) and end[1] < start[1]:
            rec["start"], rec["end"] = end, start


def record_fault(rec: Record) -> tuple[str, str] | None:
    """The (reason, field) the reader reports for ``rec``, a record whose
    every token is valid, or None when it is good: an oracle written
    apart from ``pysilk_ext.vpcparse.screen_batch``."""
    want = _TYPE_FAMILY.get(rec.get("type", MISSING)[1])
    for name in _TYPED_ADDRS:
        addr = rec.get(name, MISSING)[1]
        if want is not None and addr is not None and addr.version != want:
            return "wrong-family", name
    for name in ("start", "end"):
        if name in rec and rec[name][1] is None and _is_flow(rec):
            return "missing-time", name
    for name in ("srcaddr", "dstaddr"):
        if name in rec and rec[name][1] is None and _stated_ok(rec):
            return "missing-address", name
    start = rec.get("start", MISSING)[1]
    end = rec.get("end", MISSING)[1]
    if start is not None and end is not None and end < start:
        return "end-before-start", "end"
    return None


def render(names: tuple[str, ...], record: Record) -> str:
    """The text line of ``record`` (no newline)."""
    return " ".join(record[n][0] for n in names)


def expected_values(names: tuple[str, ...], record: Record) -> dict[str, Any]:
    """The typed values the reader must produce for ``record``."""
    return {n: record[n][1] for n in names}
