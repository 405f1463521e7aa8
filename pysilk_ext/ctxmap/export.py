# SPDX-License-Identifier: MIT
"""Views of a context map for output: the binding table, prefix maps,
IPsets.

Why a module of its own: the commands (rwvpcmapcat, rwvpcmaplookup) only
parse switches and print; what a row, a prefix-map label or an IPset
member *is* is decided here, once, so that the map's lookup rules (see
:mod:`pysilk_ext.ctxmap`) and the exports never disagree.

* :func:`iter_table` -- one :class:`TableRow` per binding (the seed's
  table), fields the binding lacks filled in from the ip-ranges layer, as
  a lookup would (the layer has the lowest precedence).
* :func:`prefix_map` -- a SiLK prefix map of one field at a time or over a
  time range: each address labelled with its resolved value,
  :data:`~pysilk_ext.ctxmap.model.AMBIGUOUS_LABEL` when the VPCs it is
  bound in disagree on the field (unscoped) or it changed value during
  the range, and
  :data:`NO_VALUE_LABEL` elsewhere (the map's default).  The map's name is
  the field's, so ``rwfilter --pmap-file=F --pmap-any-vpc-id=...`` works.
* :func:`value_set` / :func:`internal_set` -- IPsets: every address that
  has one of the values (in some VPC; ambiguity never hides a member),
  or every address owned by an interface.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pysilk_ext.ctxmap.cmap import OWNING, RESOLVING, ContextMap
from pysilk_ext.ctxmap.model import (
    FIELDS,
    KIND_NAMES,
    RELATION_NAMES,
    Relation,
    addresses_to_words,
    field_ref,
    is_v4,
    parse_time,
    words_to_addresses,
)
from pysilk_ext.errors import ContextMapError
from pysilk_ext.silkfmt.ipset import IPSet
from pysilk_ext.silkfmt.pmap import PrefixMapBuilder

__all__ = [
    "INTERNAL_SET",
    "NO_VALUE_LABEL",
    "RELATION_BY_NAME",
    "ExportStats",
    "TableRow",
    "choose_mode",
    "field_widths",
    "internal_set",
    "iter_table",
    "prefix_map",
    "value_set",
]

U32 = np.uint32
U64 = np.uint64
V4_MARK = U64(0xFFFF) << U64(32)

#: Label of addresses without a value (the prefix map's default); the
#: plug-in prints and accepts the same text for "no value".
NO_VALUE_LABEL = "-"
#: Name of the IPset of every address an interface owns.
INTERNAL_SET = "internal"
#: Relation names as the commands spell them.
RELATION_BY_NAME = {name: rel for rel, name in RELATION_NAMES.items()}

TimeSpec = object  # None, a time, or a (start, end) pair (see _instants)


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of the binding table.

    ``address`` is an address, or a CIDR block for ip-ranges rows (which
    have no times: ``first_seen``/``last_seen`` are None); ``scope`` is
    the VPC the binding belongs to (None: global).
    """

    address: str
    first_seen: int | None
    last_seen: int | None
    relation: str
    scope: str | None
    kinds: tuple[str, ...]
    fields: dict[str, str]


@dataclass(slots=True)
class ExportStats:
    """What an export holds (for ``--print-statistics``)."""

    mode: str = "ipv4"
    segments: int = 0  # labelled ranges (prefix map) or ranges (IPset)
    labels: dict[str, int] = field(default_factory=dict)
    dropped_ipv6: int = 0  # IPv6 ranges left out of an ipv4 export


# -- addresses ------------------------------------------------------------


def address_text(raw: bytes) -> str:
    """SiLK's text of a 16-byte address: IPv4 for ``::ffff:a.b.c.d``,
    else what ``inet_ntop`` prints (as rwcut does)."""
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)


def _row_addresses(cmap: ContextMap) -> npt.NDArray[np.uint8]:
    """``(nbind, 16)`` address of every BIND row."""
    hi, lo = cmap.binding_words()
    return words_to_addresses(hi, lo)


def _relations(bind: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    out: npt.NDArray[np.uint32] = bind[:, 3] >> U32(28)
    return out


def has_ipv6_bindings(cmap: ContextMap) -> bool:
    """True when a binding (not the ip-ranges layer) is an IPv6 address."""
    return bool(len(cmap.tables.addr6))


def choose_mode(cmap: ContextMap, mode: str | None) -> str:
    """The key space of an export: ``mode`` when given, else ``ipv6`` when
    the map binds IPv6 addresses, else ``ipv4``.

    The ip-ranges layer alone does not make an export IPv6: every
    ip-ranges.json lists IPv6 prefixes, and a site whose logs show no
    IPv6 wants an IPv4 prefix map.
    """
    if mode is None:
        return "ipv6" if has_ipv6_bindings(cmap) else "ipv4"
    if mode not in ("ipv4", "ipv6"):
        raise ContextMapError(f"Invalid mode '{mode}': Expected ipv4 or ipv6")
    return mode


# -- the table --------------------------------------------------------------


def field_widths(cmap: ContextMap) -> dict[str, int]:
    """Longest value of each field anywhere in the map (column widths
    known before the first row, so a table of millions of rows streams)."""
    t = cmap.tables
    strings = t.strings
    lengths = np.fromiter(
        (len(strings[i]) for i in range(len(strings))),
        dtype=np.int64,
        count=len(strings),
    )
    out = {}
    for ref in FIELDS:
        col = t.ctx[:, ref.ctx_col]
        ids = t.groups[ref.group][col, ref.grp_col] if ref.group else col
        out[ref.name] = int(lengths[ids].max()) if len(ids) else 0
    return out


def _kinds(meta: int) -> tuple[str, ...]:
    flags = KIND_NAMES.get(Relation(meta & 0xFF))
    bits = meta >> 8
    if flags is None or not bits:
        return ()
    return tuple(str(m.name).lower() for m in flags if m.value & bits)


def _range_fields(
    cmap: ContextMap, addrs: npt.NDArray[np.uint8]
) -> list[dict[str, str]]:
    """The ip-ranges layer's fields for each address."""
    if not len(addrs) or not (
        len(cmap.tables.range4) or len(cmap.tables.range6)
    ):
        return [{} for _ in range(len(addrs))]
    names = [ref.name for ref in FIELDS]
    vals = cmap.value_ids(addrs, 0, None, names, relations=[Relation.RANGE])
    out: list[dict[str, str]] = [{} for _ in range(len(addrs))]
    for i, k in zip(*np.nonzero(vals), strict=True):
        text = cmap.label(int(vals[i, k]))
        if text is not None:
            out[int(i)][names[int(k)]] = text
    return out


def iter_table(
    cmap: ContextMap,
    *,
    relations: Iterable[Relation] = OWNING,
    scope: str | None = None,
    start: int | None = None,
    end: int | None = None,
    fill_from_ranges: bool = True,
) -> Iterator[TableRow]:
    """Rows of the binding table, in the map's order (address, scope,
    relation, time), then the ip-ranges rows when asked for.

    ``scope`` keeps that VPC's and the global bindings; ``start``/``end``
    keep bindings whose seen interval overlaps ``[start, end]``.  With
    ``fill_from_ranges`` a binding's missing fields come from the
    ip-ranges layer (an S3 address seen in logs gets its region).
    """
    wanted = set(relations)
    t = cmap.tables
    bind = t.bind
    keep = np.isin(
        _relations(bind),
        np.array([int(r) for r in wanted if r != Relation.RANGE], dtype=U32),
    )
    if scope is not None:
        sid = cmap.sid(scope)
        in_scope = bind[:, 0] == U32(0)
        if sid is not None:
            in_scope |= bind[:, 0] == U32(sid)
        keep &= in_scope
    if start is not None:
        keep &= bind[:, 2] >= U32(max(start, 0))
    if end is not None:
        keep &= bind[:, 1] <= U32(max(end, 0))
    rows = np.flatnonzero(keep)
    if len(rows):
        addrs = _row_addresses(cmap)[rows]
        extra = (
            _range_fields(cmap, addrs)
            if fill_from_ranges
            else [{}] * len(rows)
        )
        cache: dict[int, tuple[str, tuple[str, ...], dict[str, str]]] = {}
        strings = t.strings
        for k, r in enumerate(rows.tolist()):
            b = bind[r]
            ctx = int(b[3]) & 0x0FFFFFFF
            info = cache.get(ctx)
            if info is None:
                meta = int(t.ctx[ctx, 0])
                info = (
                    RELATION_NAMES[Relation(meta & 0xFF)],
                    _kinds(meta),
                    cmap.context_fields(ctx),
                )
                cache[ctx] = info
            relation, kinds, fields = info
            yield TableRow(
                address=address_text(bytes(addrs[k])),
                first_seen=int(b[1]),
                last_seen=int(b[2]),
                relation=relation,
                scope=strings[int(b[0])] if b[0] else None,
                kinds=kinds,
                fields={**extra[k], **fields} if extra[k] else fields,
            )
    if Relation.RANGE in wanted:
        for lo, hi, fields in cmap.iter_ranges():
            for net in ipaddress.summarize_address_range(lo, hi):
                yield TableRow(
                    address=(
                        f"{address_text(_raw16(net.network_address))}"
                        f"/{net.prefixlen}"
                    ),
                    first_seen=None,
                    last_seen=None,
                    relation=RELATION_NAMES[Relation.RANGE],
                    scope=None,
                    kinds=(),
                    fields=fields,
                )


def _raw16(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    if addr.version == 4:
        return b"\0" * 10 + b"\xff\xff" + addr.packed
    return addr.packed


# -- time ---------------------------------------------------------------------


def _span(at: TimeSpec) -> tuple[int, int] | None:
    """(start, end) of a time or range; None for "no time"."""
    if at is None:
        return None
    if isinstance(at, tuple):
        t0, t1 = parse_time(at[0]), parse_time(at[1])
        if t1 < t0:
            raise ContextMapError(
                f"Invalid time range '{at[0]}-{at[1]}': End before start"
            )
        return t0, t1
    t = parse_time(at)
    return t, t


def _default_at(cmap: ContextMap, at: TimeSpec) -> TimeSpec:
    """The export time: ``at``, else the end of the map's time range."""
    if at is not None:
        return at
    span = cmap.time_range
    return span[1] if span else 0


# -- prefix maps --------------------------------------------------------------


def prefix_map(
    cmap: ContextMap,
    field_name: str,
    *,
    at: TimeSpec = None,
    scope: str | None = None,
    mode: str | None = None,
    include_ranges: bool = True,
) -> tuple[PrefixMapBuilder, ExportStats]:
    """A SiLK prefix map of ``field_name`` (see the module doc).

    ``at`` is a time or a ``(start, end)`` pair (default: the end of the
    map's time range).  ``mode`` ``ipv4`` leaves IPv6 ranges out;
    ``ipv6`` holds IPv4 as ``::ffff:a.b.c.d`` (SiLK maps IPv4 flow
    addresses there when it looks them up in an IPv6 map).

    Raises:
        ContextMapError: unknown field, bad time or mode.
    """
    field_ref(field_name)
    mode = choose_mode(cmap, mode)
    stats = ExportStats(mode=mode)
    builder = PrefixMapBuilder(
        mode, map_name=field_name, default_label=NO_VALUE_LABEL
    )
    builder.label_id(NO_VALUE_LABEL)
    lo4: list[int] = []
    hi4: list[int] = []
    val4: list[int] = []
    lo6: list[int] = []
    hi6: list[int] = []
    val6: list[int] = []
    for lo, hi, label in cmap.field_ranges(
        field_name,
        _default_at(cmap, at),
        scope,
        include_ranges=include_ranges,
    ):
        if lo.version == 6 and mode == "ipv4":
            stats.dropped_ipv6 += 1
            continue
        value = builder.label_id(label)
        stats.labels[label] = stats.labels.get(label, 0) + 1
        stats.segments += 1
        if lo.version == 4:
            lo4.append(int(lo))
            hi4.append(int(hi))
            val4.append(value)
        else:
            lo6.append(int(lo))
            hi6.append(int(hi))
            val6.append(value)
    if mode == "ipv4":
        builder.add_ranges(
            np.array(lo4, dtype=np.uint32),
            np.array(hi4, dtype=np.uint32),
            np.array(val4, dtype=np.uint32),
        )
    else:
        base = 0xFFFF << 32
        builder.add_ranges(
            _keys128([base | v for v in lo4] + lo6),
            _keys128([base | v for v in hi4] + hi6),
            np.array(val4 + val6, dtype=np.uint32),
        )
    return builder, stats


def _keys128(values: Sequence[int]) -> npt.NDArray[np.uint64]:
    out = np.empty((len(values), 2), dtype=U64)
    mask = (1 << 64) - 1
    for i, v in enumerate(values):
        out[i, 0] = v >> 64
        out[i, 1] = v & mask
    return out


# -- IPsets -------------------------------------------------------------------


def _instants(
    cmap: ContextMap,
    raws: npt.NDArray[np.uint8],
    span: tuple[int, int],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(candidate index, time) pairs at which to ask the map: the start of
    ``span`` and every binding start inside it (a lookup's answer only
    changes where a binding starts)."""
    t0, t1 = span
    idx: list[int] = list(range(len(raws)))
    times: list[int] = [t0] * len(raws)
    if t1 > t0 and len(raws):
        starts = cmap.tables.bind[:, 1].astype(np.int64)
        inside = np.flatnonzero((starts > t0) & (starts <= t1))
        if len(inside):
            all_raws = _row_addresses(cmap)
            where: dict[bytes, list[int]] = {}
            for i, raw in enumerate(raws):
                where.setdefault(raw.tobytes(), []).append(i)
            for r in inside.tolist():
                for i in where.get(all_raws[r].tobytes(), ()):
                    idx.append(i)
                    times.append(int(starts[r]))
    return np.array(idx, dtype=np.int64), np.array(times, dtype=np.int64)


@dataclass(slots=True)
class _Members:
    """IPset members gathered as arrays: single addresses (16 bytes each)
    and inclusive integer ranges per family."""

    points: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    ranges4: list[tuple[int, int]] = field(default_factory=list)
    ranges6: list[tuple[int, int]] = field(default_factory=list)

    def add_range(
        self,
        lo: ipaddress.IPv4Address | ipaddress.IPv6Address,
        hi: ipaddress.IPv4Address | ipaddress.IPv6Address,
    ) -> None:
        target = self.ranges4 if lo.version == 4 else self.ranges6
        target.append((int(lo), int(hi)))

    def ipset(self, mode: str, stats: ExportStats) -> IPSet:
        """The normalised set (IPv6 members dropped from an ipv4 set)."""
        raws = (
            np.concatenate(self.points)
            if self.points
            else np.zeros((0, 16), dtype=np.uint8)
        )
        hi, lo = addresses_to_words(raws)
        v4 = is_v4(hi, lo)
        if mode == "ipv4":
            stats.dropped_ipv6 += int(np.count_nonzero(~v4))
            stats.dropped_ipv6 += len(self.ranges6)
            pts = (lo[v4] & U64(0xFFFFFFFF)).astype(np.uint64)
            starts = np.concatenate(
                [pts, np.array([r[0] for r in self.ranges4], dtype=U64)]
            )
            ends = np.concatenate(
                [pts, np.array([r[1] for r in self.ranges4], dtype=U64)]
            )
            ipset = IPSet.from_ranges(starts, ends)
        else:
            base = 0xFFFF << 32
            extra = [(base | a, base | b) for a, b in self.ranges4]
            extra += self.ranges6
            pts = np.stack([hi, lo], axis=1)
            starts = np.concatenate([pts, _keys128([r[0] for r in extra])])
            ends = np.concatenate([pts, _keys128([r[1] for r in extra])])
            ipset = IPSet.from_ranges(starts, ends, ipv6=True)
        stats.segments = len(ipset.ranges)
        return ipset


def _candidates(
    cmap: ContextMap, rows: npt.NDArray[np.uint32], scope: str | None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint32]]:
    """Distinct (address, lookup scope) of BIND ``rows``: a binding is
    asked about in its own VPC, so an address bound in several VPCs is
    a member when it has the value in one of them."""
    bind = cmap.tables.bind
    if scope is not None:
        sid = cmap.sid(scope)
        sc = bind[rows, 0]
        ok = sc == U32(0)
        if sid is not None:
            ok |= sc == U32(sid)
        rows = rows[ok]
    raws = _row_addresses(cmap)[rows]
    scopes = bind[rows, 0].astype(U32)
    # Global bindings are asked with the caller's scope (or none).
    glob = cmap.scope_id(scope)
    scopes = np.where(scopes == U32(0), U32(glob), scopes).astype(U32)
    if not len(rows):
        return raws, scopes
    pairs = np.concatenate([raws, scopes.view(np.uint8).reshape(-1, 4)], 1)
    uniq = np.unique(pairs, axis=0)
    return (
        np.ascontiguousarray(uniq[:, :16]),
        np.ascontiguousarray(uniq[:, 16:]).view(U32).reshape(-1),
    )


def value_set(
    cmap: ContextMap,
    field_name: str,
    values: Sequence[str],
    *,
    at: TimeSpec = None,
    scope: str | None = None,
    mode: str | None = None,
    include_ranges: bool = True,
) -> tuple[IPSet, ExportStats]:
    """IPset of the addresses whose ``field_name`` is one of ``values``.

    Without ``at``: every address ever bound with a value (the map's
    bindings; packet-level addresses excluded) plus the ip-ranges
    prefixes carrying it.  With a time: the addresses that have the
    value at that time by the lookup rules, in their own VPC (so an
    address bound in two VPCs is never left out as ambiguous); with a
    ``(start, end)`` pair: at some time in that range.

    Raises:
        ContextMapError: unknown field, bad time or mode.
    """
    field_ref(field_name)
    mode = choose_mode(cmap, mode)
    stats = ExportStats(mode=mode)
    span = _span(at)
    members = _Members()
    wanted = set(values)
    sids = [s for s in (cmap.sid(v) for v in values) if s]
    row_parts = [cmap.value_rows(field_name, v) for v in values]
    rows = (
        np.unique(np.concatenate(row_parts)).astype(U32)
        if row_parts
        else np.zeros(0, dtype=U32)
    )
    if span is None:
        raws, _scopes = _candidates(cmap, rows, scope)
        members.points.append(raws)
        if include_ranges:
            for lo, hi, fields in cmap.iter_ranges():
                if fields.get(field_name) in wanted:
                    members.add_range(lo, hi)
        return members.ipset(mode, stats), stats
    # Segments of the overlaid view (ranges and unambiguous addresses).
    when: TimeSpec = span[0] if span[0] == span[1] else span
    for lo, hi, label in cmap.field_ranges(
        field_name, when, scope, include_ranges=include_ranges
    ):
        if label in wanted:
            members.add_range(lo, hi)
    # Bound candidates asked in their own scope at every instant.
    raws, scopes = _candidates(cmap, rows, scope)
    if len(raws):
        idx, times = _instants(cmap, raws, span)
        got = cmap.value_ids(
            raws[idx],
            times,
            scopes[idx],
            [field_name],
            relations=[
                r for r in RESOLVING if include_ranges or r != Relation.RANGE
            ],
        )[:, 0]
        hit = np.unique(idx[np.isin(got, np.array(sids, dtype=U32))])
        members.points.append(raws[hit])
    return members.ipset(mode, stats), stats


def internal_set(
    cmap: ContextMap,
    *,
    at: TimeSpec = None,
    scope: str | None = None,
    mode: str | None = None,
) -> tuple[IPSet, ExportStats]:
    """IPset of every address owned by an interface: bound by the
    ``interface`` (logs) or ``inventory`` relation -- in ``scope`` when
    given, and by the end of ``at`` (a time or range) when given (the map
    keeps an owned address until it is re-bound, see the lookup rules).
    """
    mode = choose_mode(cmap, mode)
    stats = ExportStats(mode=mode)
    bind = cmap.tables.bind
    rel = _relations(bind)
    keep = (rel == U32(Relation.IFACE)) | (rel == U32(Relation.ENI))
    if scope is not None:
        sid = cmap.sid(scope)
        ok = bind[:, 0] == U32(0)
        if sid is not None:
            ok |= bind[:, 0] == U32(sid)
        keep &= ok
    span = _span(at)
    if span is not None:
        keep &= bind[:, 1].astype(np.int64) <= span[1]
    members = _Members([_row_addresses(cmap)[np.flatnonzero(keep)]])
    return members.ipset(mode, stats), stats
