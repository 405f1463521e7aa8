# SPDX-License-Identifier: MIT
"""ContextMapBuilder: bindings from flow-log batches, inventory, ip-ranges.

``add_batch`` turns a parsed :class:`~pysilk_ext.batch.FlowBatch` into
observations ``(address, scope, context, first, last)`` with NumPy only:
strings are mapped to builder ids once per distinct batch value, contexts
are interned once per distinct field tuple in the batch, and observations
are reduced per batch with a hash group-by.  Python runs per distinct
value, never per record.  ``build`` reduces everything into one interval
per (address, scope, context) and assembles the canonical map.

Merging is the same operation: :meth:`ContextMapBuilder.add_map` turns a
map's bindings back into observations, and since an interval is just
``[min first, max last]`` of its observations, merging is associative,
commutative and idempotent (see :mod:`pysilk_ext.ctxmap`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext import __version__
from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.ctxmap._assemble import Bindings, Ranges, assemble
from pysilk_ext.ctxmap._format import encode
from pysilk_ext.ctxmap._group import Grouping
from pysilk_ext.ctxmap.cmap import ContextMap
from pysilk_ext.ctxmap.eni import EniAddress, load_eni_json
from pysilk_ext.ctxmap.ipranges import RangeLayer, load_ip_ranges
from pysilk_ext.ctxmap.model import (
    CTX_WIDTH,
    FIELDS,
    FORWARDING_INTERFACE_TYPES,
    GLOBAL_SCOPE,
    GROUP_CTX_COL,
    GROUP_EXTRA,
    GROUP_FIELDS,
    GROUP_PLACE,
    GROUP_WIDTH,
    TIME_MAX,
    UNKNOWN_SCOPE,
    EniKind,
    PktKind,
    Relation,
    addresses_to_words,
    is_nonglobal,
    is_v4,
)
from pysilk_ext.fields import Action, FlowDirection, LogStatus

__all__ = ["BuildStats", "ContextMapBuilder", "merge"]

U32 = np.uint32
U64 = np.uint64
COMPACT_ROWS = 4_000_000

# Fields a flow log can carry, by group (availability-zone and
# network-border-group come only from the inventory and ip-ranges).
_LOG_FIELDS = {
    GROUP_PLACE: tuple(
        n
        for n in GROUP_FIELDS[GROUP_PLACE]
        if n not in ("availability-zone", "network-border-group")
    ),
    GROUP_EXTRA: GROUP_FIELDS[GROUP_EXTRA],
}
_TYPE_TEXT = ("", "IPv4", "IPv6", "EFA")


@dataclass(slots=True)
class BuildStats:
    """What the builder did with its input (for ``--verbose`` output).

    Not stored in the map: counters would break idempotent merging.
    """

    records: int = 0  # every record seen
    not_flows: int = 0  # NODATA / SKIPDATA status records
    untimed: int = 0  # no usable start time
    undirected: int = 0  # no flow-direction: ENI side inferred at build
    inferred_interfaces: int = 0  # (interface, family) own addresses inferred
    # Undirected records that match no own address (a lower bound: the
    # per-record pairing of sides is reduced away before the decision).
    unattributed: int = 0
    no_interface: int = 0  # records without interface-id (no own binding)
    eni_addresses: int = 0  # inventory addresses
    maps_merged: int = 0


@dataclass(slots=True)
class _Chunks:
    """Column chunks appended batch by batch, compacted now and then."""

    names: tuple[str, ...]
    parts: dict[str, list[npt.NDArray[Any]]] = field(default_factory=dict)
    rows: int = 0

    def __post_init__(self) -> None:
        self.parts = {n: [] for n in self.names}

    def append(self, **cols: npt.NDArray[Any]) -> None:
        for name in self.names:
            self.parts[name].append(cols[name])
        self.rows += len(cols[self.names[0]])

    def concat(self) -> dict[str, npt.NDArray[Any]]:
        return {
            n: (
                np.concatenate(p)
                if p
                else np.zeros(0, dtype=U64 if n in ("hi", "lo") else U32)
            )
            for n, p in self.parts.items()
        }

    def replace(self, cols: dict[str, npt.NDArray[Any]]) -> None:
        self.parts = {n: [cols[n]] for n in self.names}
        self.rows = len(cols[self.names[0]])


def _reduce_obs(cols: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """One row per (address, scope, context): [min first, max last]."""
    g = Grouping([cols["hi"], cols["lo"], cols["scope"], cols["ctx"]])
    rep = g.first
    return {
        "hi": cols["hi"][rep],
        "lo": cols["lo"][rep],
        "scope": cols["scope"][rep],
        "ctx": cols["ctx"][rep],
        "first": g.min(cols["first"]),
        "last": g.max(cols["last"]),
    }


_PENDING_KEY = ("hi", "lo", "phi", "plo", "vpc", "ctx", "flags")


def _reduce_pending(cols: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """One row per pending key, counts summed, times min/max."""
    g = Grouping([cols[k] for k in _PENDING_KEY])
    rep = g.first
    out = {k: cols[k][rep] for k in _PENDING_KEY}
    out["first"] = g.min(cols["first"])
    out["last"] = g.max(cols["last"])
    out["count"] = g.sum(cols["count"])
    return out


class ContextMapBuilder:
    """Accumulates bindings; :meth:`build` returns a :class:`ContextMap`.

    Typical use::

        builder = ContextMapBuilder()
        for batch in VpcReader(paths):
            builder.add_batch(batch)
        builder.add_eni_json("enis.json")
        builder.add_ip_ranges("ip-ranges.json")
        builder.build().write("cloud.vpcmap")
    """

    def __init__(self) -> None:
        self._strings: list[str] = [""]
        self._sid: dict[str, int] = {"": 0}
        self._groups: dict[int, list[tuple[int, ...]]] = {}
        self._group_id: dict[int, dict[tuple[int, ...], int]] = {}
        for g, width in GROUP_WIDTH.items():
            zero = (0,) * width
            self._groups[g] = [zero]
            self._group_id[g] = {zero: 0}
        self._ctx: list[tuple[int, ...]] = []
        self._ctx_id: dict[tuple[int, ...], int] = {}
        self._obs = _Chunks(("hi", "lo", "scope", "ctx", "first", "last"))
        self._pending = _Chunks((*_PENDING_KEY, "first", "last", "count"))
        self._eni_vpc: dict[int, int] = {}
        self._ranges: RangeLayer | None = None
        self.stats = BuildStats()
        for f in FIELDS:
            self._intern(f.name)
        self._unknown = self._intern(UNKNOWN_SCOPE)
        self._global = self._intern(GLOBAL_SCOPE)

    @classmethod
    def from_file(cls, path: str | Path) -> ContextMapBuilder:
        """A builder holding an existing map file (an incremental update:
        add batches, build, write back -- the write is atomic, and readers
        that have the old file mapped keep it)."""
        builder = cls()
        with ContextMap.open(path) as cmap:
            builder.add_map(cmap)
        return builder

    # -- interning ------------------------------------------------------

    def _intern(self, text: str) -> int:
        sid = self._sid.get(text)
        if sid is None:
            sid = len(self._strings)
            self._sid[text] = sid
            self._strings.append(text)
        return sid

    def _lut(self, values: list[str]) -> npt.NDArray[np.uint32]:
        """Builder ids of a batch column's dictionary (values[0] = "")."""
        out = np.fromiter(
            (self._intern(v) for v in values), dtype=U32, count=len(values)
        )
        if len(out):
            out[0] = 0
        return out

    def _group(self, g: int, row: tuple[int, ...]) -> int:
        ids = self._group_id[g]
        gid = ids.get(row)
        if gid is None:
            gid = len(self._groups[g])
            ids[row] = gid
            self._groups[g].append(row)
        return gid

    def _context(self, row: tuple[int, ...]) -> int:
        cid = self._ctx_id.get(row)
        if cid is None:
            cid = len(self._ctx)
            self._ctx_id[row] = cid
            self._ctx.append(row)
        return cid

    def _place_text(self, cid: int, name: str) -> str:
        col = GROUP_FIELDS[GROUP_PLACE].index(name)
        place = self._groups[GROUP_PLACE][self._ctx[cid][GROUP_CTX_COL[1]]]
        return self._strings[place[col]]

    # -- flow logs ------------------------------------------------------

    def _str_ids(self, batch: FlowBatch, name: str) -> npt.NDArray[np.uint32]:
        col = batch.columns.get(name)
        out: npt.NDArray[np.uint32]
        if isinstance(col, StrColumn):
            out = self._lut(col.values)[col.codes]
        elif name == "type" and col is not None:
            lut = np.array([self._intern(t) for t in _TYPE_TEXT], dtype=U32)
            lut[0] = 0
            out = lut[np.minimum(col, 3)]
        else:
            out = np.zeros(batch.n, dtype=U32)
        return out

    def _interface_contexts(
        self, batch: FlowBatch, iface: npt.NDArray[np.uint32]
    ) -> npt.NDArray[np.uint32]:
        """IFACE context id of every record (interned per distinct tuple)."""
        cols: list[npt.NDArray[np.uint32]] = [
            iface,
            self._str_ids(batch, "instance-id"),
        ]
        layout: list[tuple[int, int]] = []  # (group, column) per extra col
        for g, names in _LOG_FIELDS.items():
            for name in names:
                if name in batch.columns:
                    cols.append(self._str_ids(batch, name))
                    layout.append((g, GROUP_FIELDS[g].index(name)))
        grouping = Grouping(cols)
        firsts = grouping.first
        uniq = [c[firsts].tolist() for c in cols]
        ids = np.empty(len(firsts), dtype=U32)
        meta = int(Relation.IFACE)
        for k in range(len(firsts)):
            rows = {g: [0] * GROUP_WIDTH[g] for g in GROUP_WIDTH}
            for (g, col), values in zip(layout, uniq[2:], strict=True):
                rows[g][col] = values[k]
            ids[k] = self._context(
                (
                    meta,
                    uniq[0][k],
                    uniq[1][k],
                    0,
                    self._group(GROUP_PLACE, tuple(rows[GROUP_PLACE])),
                    self._group(GROUP_EXTRA, tuple(rows[GROUP_EXTRA])),
                )
            )
        return ids[grouping.inverse]

    def _variants(
        self,
        ctx: npt.NDArray[np.uint32],
        kind: npt.NDArray[np.uint32],
        relation: Relation,
    ) -> npt.NDArray[np.uint32]:
        """Contexts of ``relation`` sharing the fields of IFACE ``ctx``.

        For packet bindings the interface type adds FORWARDED evidence.
        """
        if len(ctx) == 0:
            return np.zeros(0, dtype=U32)
        grouping = Grouping([ctx, kind])
        firsts = grouping.first
        ids = np.empty(len(firsts), dtype=U32)
        for k, (c, kd) in enumerate(
            zip(ctx[firsts].tolist(), kind[firsts].tolist(), strict=True)
        ):
            forwards = (
                relation == Relation.PKT
                and self._place_text(c, "interface-type")
                in FORWARDING_INTERFACE_TYPES
            )
            bits = kd | (PktKind.FORWARDED if forwards else 0)
            ids[k] = self._context(
                (int(relation) | bits << 8, *self._ctx[c][1:])
            )
        return ids[grouping.inverse]

    def _service_contexts(
        self, service: npt.NDArray[np.uint32]
    ) -> npt.NDArray[np.uint32]:
        uniq, inv = np.unique(service, return_inverse=True)
        ids = np.array(
            [
                self._context((int(Relation.SVC), 0, 0, s, 0, 0))
                for s in uniq.tolist()
            ],
            dtype=U32,
        )
        return ids[inv.reshape(-1)]

    @staticmethod
    def _addr(
        batch: FlowBatch, name: str
    ) -> tuple[
        npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.bool_]
    ]:
        """(high, low, present) of an address column (absent: none)."""
        col = batch.columns.get(name)
        if not isinstance(col, AddrColumn):
            zero = np.zeros(batch.n, dtype=U64)
            return zero, zero, np.zeros(batch.n, dtype=bool)
        hi, lo = addresses_to_words(col.addr)
        return hi, lo, col.family != 0

    def _scope(
        self,
        hi: npt.NDArray[np.uint64],
        lo: npt.NDArray[np.uint64],
        vpc: npt.NDArray[np.uint32],
        own: bool,
    ) -> npt.NDArray[np.uint32]:
        """Scope of each address (module doc, "Scope")."""
        private = is_nonglobal(hi, lo)
        if own:
            private |= is_v4(hi, lo)
        return np.where(private, vpc, U32(self._global)).astype(U32)

    def add_batch(self, batch: FlowBatch) -> None:
        """Add the bindings shown by one batch of parsed flow-log records."""
        n = batch.n
        self.stats.records += n
        if n == 0:
            return
        cols = batch.columns
        status = cols.get("log-status")
        flows = np.ones(n, dtype=bool)
        if status is not None:
            flows = (status == LogStatus.OK) | (status == 0)
            self.stats.not_flows += int(n - np.count_nonzero(flows))
        start = cols.get("start")
        if start is None:
            self.stats.untimed += int(np.count_nonzero(flows))
            return
        end = cols.get("end", start)
        timed = start >= 0
        self.stats.untimed += int(np.count_nonzero(flows & ~timed))
        flows &= timed
        first = np.clip(start, 0, TIME_MAX).astype(U32)
        last = np.clip(np.maximum(end, start), 0, TIME_MAX).astype(U32)

        iface = self._str_ids(batch, "interface-id")
        vpc = self._str_ids(batch, "vpc-id")
        vpc[vpc == 0] = self._unknown
        ctx = self._interface_contexts(batch, iface)
        has_iface = iface != 0
        self.stats.no_interface += int(np.count_nonzero(flows & ~has_iface))

        s_hi, s_lo, s_ok = self._addr(batch, "srcaddr")
        d_hi, d_lo, d_ok = self._addr(batch, "dstaddr")
        ps_hi, ps_lo, ps_ok = self._addr(batch, "pkt-srcaddr")
        pd_hi, pd_lo, pd_ok = self._addr(batch, "pkt-dstaddr")

        direction = cols.get("flow-direction")
        if direction is None:
            direction = np.zeros(n, dtype=np.uint8)
        egress = direction == FlowDirection.EGRESS
        directed = egress | (direction == FlowDirection.INGRESS)

        # (a) the interface's own address: srcaddr on egress, dstaddr on
        # ingress.
        o_hi = np.where(egress, s_hi, d_hi)
        o_lo = np.where(egress, s_lo, d_lo)
        o_ok = np.where(egress, s_ok, d_ok)
        sel = flows & directed & has_iface & o_ok
        if sel.any():
            self._observe(
                hi=o_hi[sel],
                lo=o_lo[sel],
                scope=self._scope(o_hi[sel], o_lo[sel], vpc[sel], own=True),
                ctx=ctx[sel],
                first=first[sel],
                last=last[sel],
            )

        # (b) packet-level address on the interface's side that differs
        # from the interface's own address.
        p_hi = np.where(egress, ps_hi, pd_hi)
        p_lo = np.where(egress, ps_lo, pd_lo)
        p_ok = np.where(egress, ps_ok, pd_ok)
        sel &= p_ok & ((p_hi != o_hi) | (p_lo != o_lo))
        if sel.any():
            self._observe_packets(
                o_hi=o_hi[sel],
                o_lo=o_lo[sel],
                p_hi=p_hi[sel],
                p_lo=p_lo[sel],
                vpc=vpc[sel],
                ctx=ctx[sel],
                first=first[sel],
                last=last[sel],
            )

        # (c) remote addresses labelled with an AWS service.
        for svc_name, a_hi, a_lo, a_ok, b_hi, b_lo, b_ok in (
            ("pkt-src-aws-service", ps_hi, ps_lo, ps_ok, s_hi, s_lo, s_ok),
            ("pkt-dst-aws-service", pd_hi, pd_lo, pd_ok, d_hi, d_lo, d_ok),
        ):
            if svc_name not in cols:
                continue
            service = self._str_ids(batch, svc_name)
            r_hi = np.where(a_ok, a_hi, b_hi)
            r_lo = np.where(a_ok, a_lo, b_lo)
            sel = flows & (service != 0) & (a_ok | b_ok)
            if sel.any():
                self._observe(
                    hi=r_hi[sel],
                    lo=r_lo[sel],
                    scope=self._scope(
                        r_hi[sel], r_lo[sel], vpc[sel], own=False
                    ),
                    ctx=self._service_contexts(service[sel]),
                    first=first[sel],
                    last=last[sel],
                )

        # Records without flow-direction (versions 2-4): both sides are
        # candidates; the own address is decided at build time.
        und = flows & ~directed & has_iface
        if und.any():
            self.stats.undirected += int(np.count_nonzero(und))
            action = cols.get("action")
            reject = (
                np.zeros(n, dtype=U32)
                if action is None
                else (action == Action.REJECT).astype(U32)
            )
            for side, a_hi, a_lo, a_ok, q_hi, q_lo, q_ok in (
                (0, s_hi, s_lo, s_ok, ps_hi, ps_lo, ps_ok),
                (1, d_hi, d_lo, d_ok, pd_hi, pd_lo, pd_ok),
            ):
                sel = und & a_ok
                differs = q_ok & ((q_hi != a_hi) | (q_lo != a_lo))
                zero = np.zeros(n, dtype=U64)
                self._pending.append(
                    hi=a_hi[sel],
                    lo=a_lo[sel],
                    phi=np.where(differs, q_hi, zero)[sel],
                    plo=np.where(differs, q_lo, zero)[sel],
                    vpc=vpc[sel],
                    ctx=ctx[sel],
                    flags=(U32(side) | reject[sel] << U32(1)).astype(U32),
                    first=first[sel],
                    last=last[sel],
                    count=np.ones(int(np.count_nonzero(sel)), dtype=U32),
                )
            if self._pending.rows > COMPACT_ROWS:
                self._pending.replace(_reduce_pending(self._pending.concat()))

    def _observe(
        self,
        *,
        hi: npt.NDArray[np.uint64],
        lo: npt.NDArray[np.uint64],
        scope: npt.NDArray[np.uint32],
        ctx: npt.NDArray[np.uint32],
        first: npt.NDArray[np.uint32],
        last: npt.NDArray[np.uint32],
        sink: _Chunks | None = None,
    ) -> None:
        target = self._obs if sink is None else sink
        reduced = _reduce_obs(
            {
                "hi": hi,
                "lo": lo,
                "scope": scope,
                "ctx": ctx,
                "first": first,
                "last": last,
            }
        )
        target.append(**reduced)
        if target.rows > COMPACT_ROWS:
            target.replace(_reduce_obs(target.concat()))

    def _observe_packets(
        self,
        *,
        o_hi: npt.NDArray[np.uint64],
        o_lo: npt.NDArray[np.uint64],
        p_hi: npt.NDArray[np.uint64],
        p_lo: npt.NDArray[np.uint64],
        vpc: npt.NDArray[np.uint32],
        ctx: npt.NDArray[np.uint32],
        first: npt.NDArray[np.uint32],
        last: npt.NDArray[np.uint32],
        sink: _Chunks | None = None,
    ) -> None:
        """Packet bindings; FORWARDED when a public address hides behind a
        private interface address (or the interface type forwards)."""
        forwarded = is_nonglobal(o_hi, o_lo) & ~is_nonglobal(p_hi, p_lo)
        kind = np.where(forwarded, U32(PktKind.FORWARDED), U32(0)).astype(U32)
        self._observe(
            hi=p_hi,
            lo=p_lo,
            scope=self._scope(p_hi, p_lo, vpc, own=False),
            ctx=self._variants(ctx, kind, Relation.PKT),
            first=first,
            last=last,
            sink=sink,
        )

    def _resolve_pending(self, sink: _Chunks) -> None:
        """Decide the own address of undirected interfaces; emit bindings
        into ``sink`` (pending rows are kept, so a later build decides
        again over everything added).

        Rule: per (interface-id, address family) the own address is the
        address present in the most records (it is on one side of every
        record of that interface); ties go to a private address, then to
        the one most often the destination of REJECTed records (inbound
        scans), then to the lowest address.
        """
        if self._pending.rows == 0:
            return
        p = _reduce_pending(self._pending.concat())
        self._pending.replace(p)
        ctx_iface = np.array([row[1] for row in self._ctx], dtype=U32)
        iface = ctx_iface[p["ctx"]]
        fam = is_v4(p["hi"], p["lo"]).astype(U32)
        g = Grouping([iface, fam, p["hi"], p["lo"]])
        rep = g.first
        count = p["count"].astype(np.int64)
        total = g.sum(count)
        dst_reject = g.sum(np.where(p["flags"] == 3, count, 0))
        private = is_nonglobal(p["hi"][rep], p["lo"][rep])
        order = np.lexsort(
            (
                p["lo"][rep],
                p["hi"][rep],
                -dst_reject,
                ~private,
                -total,
                fam[rep],
                iface[rep],
            )
        )
        key_i, key_f = iface[rep][order], fam[rep][order]
        best = np.ones(len(order), dtype=bool)
        best[1:] = (key_i[1:] != key_i[:-1]) | (key_f[1:] != key_f[:-1])
        is_own = np.zeros(len(rep), dtype=bool)
        is_own[order[best]] = True
        own = is_own[g.inverse]
        self.stats.inferred_interfaces = int(np.count_nonzero(best))
        self.stats.unattributed = max(
            0, self.stats.undirected - int(count[own].sum())
        )
        if own.any():
            self._observe(
                hi=p["hi"][own],
                lo=p["lo"][own],
                scope=self._scope(
                    p["hi"][own], p["lo"][own], p["vpc"][own], True
                ),
                ctx=p["ctx"][own],
                first=p["first"][own],
                last=p["last"][own],
                sink=sink,
            )
        sel = own & ((p["phi"] != 0) | (p["plo"] != 0))
        if sel.any():
            self._observe_packets(
                o_hi=p["hi"][sel],
                o_lo=p["lo"][sel],
                p_hi=p["phi"][sel],
                p_lo=p["plo"][sel],
                vpc=p["vpc"][sel],
                ctx=p["ctx"][sel],
                first=p["first"][sel],
                last=p["last"][sel],
                sink=sink,
            )

    # -- other sources ---------------------------------------------------

    def add_eni_addresses(self, addresses: Iterable[EniAddress]) -> None:
        """Add inventory addresses (see :mod:`pysilk_ext.ctxmap.eni`)."""
        place_names = GROUP_FIELDS[GROUP_PLACE]
        rows: list[tuple[bytes, int, int, int, int]] = []
        for item in addresses:
            f = item.fields
            place = tuple(self._intern(f.get(n, "")) for n in place_names)
            iface = self._intern(f.get("interface-id", ""))
            vpc = self._intern(f["vpc-id"]) if f.get("vpc-id") else 0
            if iface and vpc:
                self._eni_vpc[iface] = vpc
            cid = self._context(
                (
                    int(Relation.ENI) | int(item.kind) << 8,
                    iface,
                    self._intern(f.get("instance-id", "")),
                    0,
                    self._group(GROUP_PLACE, place),
                    0,
                )
            )
            if item.kind & EniKind.PUBLIC:
                sid = self._global
            else:
                sid = vpc or self._unknown
            rows.append((item.address, sid, cid, item.first, item.last))
            self.stats.eni_addresses += 1
        if not rows:
            return
        raw = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.uint8)
        hi, lo = addresses_to_words(raw.reshape(-1, 16))
        scope = np.array([r[1] for r in rows], dtype=U32)
        # An inventory IPv6 address is global unless it is private space.
        scope = np.where(
            is_v4(hi, lo) | is_nonglobal(hi, lo), scope, U32(self._global)
        ).astype(U32)
        self._observe(
            hi=hi,
            lo=lo,
            scope=scope,
            ctx=np.array([r[2] for r in rows], dtype=U32),
            first=np.clip([r[3] for r in rows], 0, TIME_MAX).astype(U32),
            last=np.clip([r[4] for r in rows], 0, TIME_MAX).astype(U32),
        )

    def add_eni_json(self, path: str | Path, at: int | None = None) -> None:
        """Add a ``describe-network-interfaces`` snapshot taken at ``at``
        (epoch seconds; default: the file's modification time)."""
        self.add_eni_addresses(load_eni_json(path, at))

    def add_ip_ranges(self, path: str | Path) -> None:
        """Use an ``ip-ranges.json`` as base layer (the newest one wins)."""
        self.add_range_layer(load_ip_ranges(path))

    def add_range_layer(self, layer: RangeLayer) -> None:
        """Keep ``layer`` if it is newer than the current base layer."""
        if self._ranges is None or layer.key() > self._ranges.key():
            self._ranges = layer

    def add_map(self, cmap: ContextMap) -> None:
        """Add every binding and the base layer of an existing map."""
        t = cmap.tables
        lut = self._lut(list(t.strings))
        group_lut = {0: np.zeros(1, dtype=U32)}
        for g in GROUP_WIDTH:
            rows = lut[t.groups[g]]
            group_lut[g] = np.array(
                [self._group(g, tuple(r)) for r in rows.tolist()], dtype=U32
            )
        ctx_lut = np.empty(len(t.ctx), dtype=U32)
        for k, row in enumerate(t.ctx.tolist()):
            ctx_lut[k] = self._context(
                (
                    row[0],
                    int(lut[row[1]]),
                    int(lut[row[2]]),
                    int(lut[row[3]]),
                    int(group_lut[GROUP_PLACE][row[4]]),
                    int(group_lut[GROUP_EXTRA][row[5]]),
                )
            )
        hi, lo = cmap.binding_words()
        bind = t.bind
        ctx = ctx_lut[bind[:, 3] & U32(0x0FFFFFFF)]
        scope = lut[bind[:, 0]]
        eni = ((bind[:, 3] >> U32(28)) == U32(Relation.ENI)) & (
            scope != self._global
        )
        eni &= scope != self._unknown
        for c, vpc in zip(ctx[eni].tolist(), scope[eni].tolist(), strict=True):
            if self._ctx[c][1]:
                self._eni_vpc[self._ctx[c][1]] = vpc
        self._observe(
            hi=hi,
            lo=lo,
            scope=scope,
            ctx=ctx,
            first=bind[:, 1].copy(),
            last=bind[:, 2].copy(),
        )
        layer = cmap.range_layer()
        if layer is not None:
            self.add_range_layer(layer)
        self.stats.maps_merged += 1

    # -- build -----------------------------------------------------------

    def _range_tables(self) -> Ranges:
        layer = self._ranges
        v4 = np.zeros((0, 3), dtype=U32)
        v6 = np.zeros((0, 5), dtype=U64)
        if layer is None:
            return Ranges(v4, v6)
        place_names = GROUP_FIELDS[GROUP_PLACE]
        region_col = place_names.index("region")
        nbg_col = place_names.index("network-border-group")
        cache: dict[tuple[str, str, str], int] = {}

        def ctx_of(service: str, region: str, nbg: str) -> int:
            key = (service, region, nbg)
            cid = cache.get(key)
            if cid is None:
                place = [0] * len(place_names)
                place[region_col] = self._intern(region)
                place[nbg_col] = self._intern(nbg)
                cid = self._context(
                    (
                        int(Relation.RANGE),
                        0,
                        0,
                        self._intern(service),
                        self._group(GROUP_PLACE, tuple(place)),
                        0,
                    )
                )
                cache[key] = cid
            return cid

        if layer.v4:
            v4 = np.array(
                [(lo, hi, ctx_of(*lab)) for lo, hi, *lab in layer.v4],
                dtype=U32,
            )
        if layer.v6:
            mask = (1 << 64) - 1
            v6 = np.array(
                [
                    (lo >> 64, lo & mask, hi >> 64, hi & mask, ctx_of(*lab))
                    for lo, hi, *lab in layer.v6
                ],
                dtype=U64,
            )
        return Ranges(v4, v6)

    def _join_unknown_scopes(self, obs: dict[str, Any]) -> None:
        """Give a VPC to bindings of unknown scope whose interface the
        inventory places in a VPC (version 2 logs carry no vpc-id)."""
        unknown = obs["scope"] == self._unknown
        if not unknown.any() or not self._eni_vpc:
            return
        lut = np.zeros(len(self._strings), dtype=U32)
        for iface, vpc in self._eni_vpc.items():
            lut[iface] = vpc
        ctx_iface = np.array([row[1] for row in self._ctx], dtype=U32)
        joined = lut[ctx_iface[obs["ctx"]]]
        upgrade = unknown & (joined != 0)
        obs["scope"] = np.where(upgrade, joined, obs["scope"]).astype(U32)

    def build(self) -> ContextMap:
        """Return the map of everything added so far (the builder stays
        usable: add more and build again for an updated map)."""
        inferred = _Chunks(self._obs.names)
        self._resolve_pending(inferred)
        self._obs.replace(_reduce_obs(self._obs.concat()))
        obs = self._obs.concat()
        if inferred.rows:
            more = inferred.concat()
            obs = {k: np.concatenate([obs[k], more[k]]) for k in obs}
        self._join_unknown_scopes(obs)
        obs = _reduce_obs(obs)
        ranges = self._range_tables()
        groups = {
            g: np.array(rows, dtype=U32).reshape(-1, GROUP_WIDTH[g])
            for g, rows in self._groups.items()
        }
        ctx = np.array(self._ctx, dtype=U32).reshape(-1, CTX_WIDTH)
        meta: dict[str, Any] = {"creator": f"pysilk_ext {__version__}"}
        if self._ranges is not None:
            meta["ip-ranges"] = {
                "syncToken": str(self._ranges.sync_token),
                "createDate": self._ranges.create_date,
            }
        if len(obs["first"]):
            meta["time-range"] = [
                int(obs["first"].min()),
                int(obs["last"].max()),
            ]
        tables = assemble(
            self._strings,
            groups,
            ctx,
            Bindings(
                obs["hi"],
                obs["lo"],
                obs["scope"],
                obs["ctx"],
                obs["first"],
                obs["last"],
            ),
            ranges,
            meta=meta,
        )
        return ContextMap.from_bytes(encode(tables))


def merge(*maps: ContextMap) -> ContextMap:
    """The map holding every binding of ``maps`` (and the newest base layer).

    Associative, commutative and idempotent: ``merge(a, a) == a`` and any
    grouping of partial maps gives the same bytes.
    """
    builder = ContextMapBuilder()
    for m in maps:
        builder.add_map(m)
    return builder.build()
