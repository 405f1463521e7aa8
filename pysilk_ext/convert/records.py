# SPDX-License-Identifier: MIT
"""VPC flow records (a FlowBatch) to SiLK flow records (FLOW_DTYPE).

Vectorised: each SiLK field is computed for the whole batch with NumPy;
no Python code runs per record.  The layout (which SiLK field holds
what) is :mod:`.layout`'s; this module fills it.

Times.  VPC ``start``/``end`` are the epoch seconds of the first and the
last packet the flow-log pipeline received within the capture window (up
to 60 s after the packet crossed the interface), not the window's
bounds.  sTime = ``start`` x 1000 and duration = (``end`` - ``start``) x
1000 ms, so eTime is ``end``; the milliseconds are always 0.  A long
flow is one record per window, as AWS logged it.

ICMP.  AWS writes srcport 0 and dstport 0 for ICMP (and ICMPv6): the
logs do not carry the ICMP type and code.  SiLK reads dPort as
``type << 8 | code``, so rwcut shows iType 0 / iCode 0 for these records
-- read it as "not logged", not as "echo reply".  The ports are stored
as logged; the only change is that a record logged as srcport N /
dstport 0 is stored swapped (memo bit ICMP_PORTS_SWAPPED), because
SiLK's reader would otherwise swap it silently.

Counts above 2^32-1.  SiLK holds packets and bytes in 32 bits.  A VPC
record can exceed that: 2^32 bytes in a 60 s window is 573 Mbit/s, a
rate a single large instance reaches.  SiLK itself is inconsistent here
(rwtuc rejects such a line; rwflowpack clamps IPFIX counts; reading
FT_RWIPV6ROUTING v3 clamps).  Our default policy is ``split``: the
record becomes k = max(ceil(packets / M), ceil(bytes / M)) records
(M = 2^32-1) with the same key and times, the counts spread evenly, the
first piece marked T (ended by active timeout), later ones C
(continuation) -- so byte and packet totals in rwcount/rwuniq/rwstats
stay exact, the attributes show the split, and rwsilk2vpc adds the
pieces up again.  ``clamp`` keeps one record with 2^32-1 (lossy,
counted).  Both are counted in :class:`RecordIssues`.

Other values SiLK cannot hold (duration above 49.7 days, packets 0 or
``-``, which some SiLK tools divide by) are clamped and counted; a
``-`` in bytes or tcp-flags is stored as 0 with a memo bit, so nothing
is lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.config import OverflowPolicy
from pysilk_ext.errors import CoreError
from pysilk_ext.fields import AddrType
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE, TCP_STATE_IPV6

__all__ = [
    "RecordIssues",
    "addr_col",
    "apply_overflow",
    "endpoints",
    "int_col",
    "str_col",
    "to_records",
]

IntArray = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]
Rows = npt.NDArray[np.intp]
_V4_PREFIX = np.array([0] * 10 + [0xFF, 0xFF], dtype=np.uint8)
_U32 = np.int64(L.U32_MAX)
_OFFSETS: dict[str, int] = {
    name: FLOW_DTYPE.fields[name][1]  # type: ignore[index]  # a struct
    for name in ("sip", "dip", "nhip")
}


@dataclass(slots=True)
class RecordIssues:
    """Values SiLK could not hold as they were, by reason.

    ``lossy`` counts records whose VPC fields cannot all be written back
    exactly; ``split_records``/``split_pieces`` count the records split
    for packets/bytes above 2^32-1 and the extra records made.
    """

    lossy: Counter[str] = field(default_factory=Counter)
    split_records: int = 0
    split_pieces: int = 0
    clamped: int = 0

    def add(self, other: RecordIssues) -> None:
        """Add another batch's counts to these."""
        self.lossy.update(other.lossy)
        self.split_records += other.split_records
        self.split_pieces += other.split_pieces
        self.clamped += other.clamped

    def count(self, reason: str, mask: npt.NDArray[np.bool_]) -> None:
        hits = int(np.count_nonzero(mask))
        if hits:
            self.lossy[reason] += hits


# -- column access ----------------------------------------------------------
#
# ``rows`` are increasing row numbers of the batch.  When they are all of
# its rows (the common case: almost every record is a flow) the columns
# are returned as they are, without a copy.


def take(values: npt.NDArray[Any], rows: Rows) -> npt.NDArray[Any]:
    """Return ``values[rows]``; ``values`` itself when rows are all rows."""
    if len(rows) == len(values):
        return values
    return values[rows]


def take_addr(
    addr: npt.NDArray[np.uint8], rows: Rows
) -> npt.NDArray[np.uint8]:
    """Return address rows ``rows`` (16 bytes each, copied as one unit)."""
    if len(rows) == len(addr):
        return addr
    flat = np.ascontiguousarray(addr).view("V16").reshape(-1)
    return flat[rows].view(np.uint8).reshape(-1, 16)


def set_addr(
    recs: npt.NDArray[np.void], name: str, addr: npt.NDArray[np.uint8]
) -> None:
    """Store (n, 16) addresses into field ``name`` of FLOW_DTYPE records.

    Writes through a byte view: assigning a (16,) subarray field directly
    is element by element and some 20 times slower.
    """
    offset = _OFFSETS[name]
    raw = recs.view(np.uint8).reshape(len(recs), FLOW_DTYPE.itemsize)
    raw[:, offset : offset + 16] = addr


def int_col(batch: FlowBatch, name: str, rows: Rows) -> IntArray | None:
    """Return an INT column for ``rows`` (-1 = missing), or None."""
    col = batch.columns.get(name)
    if col is None:
        return None
    return take(np.asarray(col, dtype=np.int64), rows)


def addr_col(batch: FlowBatch, name: str, rows: Rows) -> AddrColumn | None:
    """Return an address column restricted to ``rows``, or None."""
    col: AddrColumn | None = batch.columns.get(name)
    if col is None:
        return None
    return AddrColumn(take_addr(col.addr, rows), take(col.family, rows))


def str_col(batch: FlowBatch, name: str, rows: Rows) -> StrColumn | None:
    """Return a string column restricted to ``rows`` (same values)."""
    col: StrColumn | None = batch.columns.get(name)
    if col is None:
        return None
    return StrColumn(take(col.codes, rows), col.values)


def _enum_col(batch: FlowBatch, name: str, rows: Rows) -> IntArray | None:
    return int_col(batch, name, rows)


# -- endpoints ----------------------------------------------------------------


@dataclass(slots=True)
class Endpoints:
    """Addresses of selected rows, as the converter needs them.

    ``sip``/``dip`` are the packet-level endpoints (``pkt-*`` when
    logged, else ``srcaddr``/``dstaddr``); ``src``/``dst`` the logged
    ``srcaddr``/``dstaddr``; ``*_rewritten`` where they differ.
    """

    sip: AddrColumn
    dip: AddrColumn
    src: AddrColumn
    dst: AddrColumn
    src_rewritten: npt.NDArray[np.bool_]
    dst_rewritten: npt.NDArray[np.bool_]
    pkt_logged: bool


def endpoints(batch: FlowBatch, rows: Rows) -> Endpoints:
    """Return the :class:`Endpoints` of ``rows``."""
    n = len(rows)
    empty = AddrColumn(
        np.zeros((n, 16), dtype=np.uint8), np.zeros(n, dtype=np.uint8)
    )
    src = addr_col(batch, "srcaddr", rows) or empty
    dst = addr_col(batch, "dstaddr", rows) or empty
    psrc = addr_col(batch, "pkt-srcaddr", rows)
    pdst = addr_col(batch, "pkt-dstaddr", rows)
    sip, s_rw = _pick(src, psrc)
    dip, d_rw = _pick(dst, pdst)
    return Endpoints(
        sip, dip, src, dst, s_rw, d_rw, psrc is not None or pdst is not None
    )


def _pick(
    logged: AddrColumn, pkt: AddrColumn | None
) -> tuple[AddrColumn, npt.NDArray[np.bool_]]:
    if pkt is None:
        return logged, np.zeros(len(logged.family), dtype=bool)
    has_pkt = pkt.family != 0
    if has_pkt.all():
        addr, family = pkt.addr, pkt.family
    else:
        addr = np.where(has_pkt[:, None], pkt.addr, logged.addr)
        family = np.where(has_pkt, pkt.family, logged.family)
    rewritten = has_pkt & (logged.family != 0) & _differ(pkt.addr, logged.addr)
    return AddrColumn(addr, family), rewritten


def _differ(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> BoolArr:
    """Return True where two address rows differ (compared as 2 x u64)."""
    wide_a = np.ascontiguousarray(a).view(np.uint64)
    wide_b = np.ascontiguousarray(b).view(np.uint64)
    out: BoolArr = (wide_a[:, 0] != wide_b[:, 0]) | (
        wide_a[:, 1] != wide_b[:, 1]
    )
    return out


# -- the conversion -----------------------------------------------------------


def to_records(
    batch: FlowBatch,
    rows: Rows,
    ends: Endpoints,
    *,
    direction: npt.NDArray[np.uint8],
    inferred: npt.NDArray[np.bool_],
    issues: RecordIssues,
) -> tuple[npt.NDArray[np.void], IntArray, IntArray]:
    """Return FLOW_DTYPE records for ``rows`` plus their 64-bit counts.

    flowtype and sensor are left unset (255 / 65535); packets and bytes
    are left 0 -- :func:`apply_overflow` fills them from the returned
    64-bit counts once the records are classified.

    ``direction`` holds the ``input`` code of each row and ``inferred``
    whether it was inferred rather than logged.
    """
    n = len(rows)
    recs = np.zeros(n, dtype=FLOW_DTYPE)
    recs["flowtype"] = 255
    recs["sensor"] = 65535
    memo = np.zeros(n, dtype=np.uint16)

    start = int_col(batch, "start", rows)
    end = int_col(batch, "end", rows)
    if start is None or end is None:
        raise CoreError("Records selected without start/end; please report")
    recs["stime"] = start * 1000
    elapsed = (end - start) * 1000
    too_long = elapsed > _U32
    issues.count("duration above 49.7 days", too_long)
    recs["elapsed"] = np.minimum(elapsed, _U32)

    proto = _int_or_zero(batch, "protocol", rows, issues, "protocol -")
    sport = _int_or_zero(batch, "srcport", rows, issues, "srcport -")
    dport = _int_or_zero(batch, "dstport", rows, issues, "dstport -")
    recs["proto"] = proto

    # -- addresses, family, nhIP
    nh_src = ends.src_rewritten.copy()
    nh_dst = ends.dst_rewritten.copy()
    both = nh_src & nh_dst
    issues.count("srcaddr and dstaddr both differ from pkt-*", both)
    egress = direction == L.INPUT_EGRESS
    nh_src &= ~both | egress
    nh_dst &= ~both | ~egress
    if ends.pkt_logged:
        lost = (ends.sip.family == 0) | (ends.dip.family == 0)
        issues.count("pkt-srcaddr or pkt-dstaddr -", lost)
    nh_family = np.where(
        nh_src, ends.src.family, np.where(nh_dst, ends.dst.family, 4)
    )
    ipv6 = (ends.sip.family == 6) | (ends.dip.family == 6) | (nh_family == 6)
    set_addr(recs, "sip", ends.sip.addr)
    set_addr(recs, "dip", ends.dip.addr)
    nhip = np.zeros((n, 16), dtype=np.uint8)
    nhip[~ipv6, :12] = _V4_PREFIX
    nhip[nh_src] = ends.src.addr[nh_src]
    nhip[nh_dst] = ends.dst.addr[nh_dst]
    set_addr(recs, "nhip", nhip)
    memo |= np.where(nh_src, L.MEMO_NH_SRC, 0).astype(np.uint16)
    memo |= np.where(nh_dst, L.MEMO_NH_DST, 0).astype(np.uint16)
    recs["tcp_state"] = np.where(ipv6, TCP_STATE_IPV6, 0)

    # -- ICMP ports that SiLK's reader would swap
    icmp = (proto == 1) | ((proto == 58) & ipv6)
    swap = icmp & (sport != 0) & (dport == 0)
    recs["sport"] = np.where(swap, 0, sport)
    recs["dport"] = np.where(swap, sport, dport)
    memo |= np.where(swap, L.MEMO_ICMP_PORTS_SWAPPED, 0).astype(np.uint16)

    # -- flags
    tcp_flags = int_col(batch, "tcp-flags", rows)
    if tcp_flags is None:
        memo |= L.MEMO_TCP_FLAGS_MISSING
    else:
        missing = tcp_flags < 0
        recs["flags"] = np.where(missing, 0, tcp_flags & 0xFF)
        memo |= np.where(missing, L.MEMO_TCP_FLAGS_MISSING, 0).astype(
            np.uint16
        )

    # -- counts (filled in by apply_overflow)
    packets = int_col(batch, "packets", rows)
    if packets is None:
        packets = np.full(n, -1, dtype=np.int64)
    bad_packets = packets < 1
    issues.count("packets 0 or - (stored as 1)", bad_packets)
    packets = np.where(bad_packets, 1, packets)
    nbytes = int_col(batch, "bytes", rows)
    if nbytes is None:
        nbytes = np.full(n, -1, dtype=np.int64)
    bytes_missing = nbytes < 0
    memo |= np.where(bytes_missing, L.MEMO_BYTES_MISSING, 0).astype(np.uint16)
    nbytes = np.where(bytes_missing, 0, nbytes)

    # -- direction and path
    recs["input"] = direction
    memo |= np.where(inferred, L.MEMO_DIRECTION_INFERRED, 0).astype(np.uint16)
    path = int_col(batch, "traffic-path", rows)
    if path is not None:
        issues.count("traffic-path 0", path == 0)
        recs["output"] = np.clip(path, 0, 65535)

    # -- type, reject reason, AWS-service labels
    memo |= _type_code(batch, rows, ipv6)
    memo |= _reject_reason(batch, rows, issues)
    for side, bit in (
        ("src", L.MEMO_SRC_AWS_SERVICE),
        ("dst", L.MEMO_DST_AWS_SERVICE),
    ):
        labels = str_col(batch, f"pkt-{side}-aws-service", rows)
        if labels is not None:
            memo |= np.where(labels.codes != 0, bit, 0).astype(np.uint16)
    recs["memo"] = memo
    return recs, packets, nbytes


def _int_or_zero(
    batch: FlowBatch, name: str, rows: Rows, issues: RecordIssues, why: str
) -> IntArray:
    values = int_col(batch, name, rows)
    if values is None:
        return np.zeros(len(rows), dtype=np.int64)
    missing = values < 0
    issues.count(why, missing)
    return np.where(missing, 0, values)


def _type_code(
    batch: FlowBatch, rows: Rows, ipv6: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint16]:
    types = _enum_col(batch, "type", rows)
    if types is None:
        return np.zeros(len(rows), dtype=np.uint16)
    own = np.where(ipv6, AddrType.IPV6, AddrType.IPV4)
    code = np.select(
        [types == 0, types == AddrType.EFA, types == own],
        [L.TypeCode.MISSING, L.TypeCode.EFA, L.TypeCode.FAMILY],
        default=L.TypeCode.OTHER_FAMILY,
    )
    return (code << L.MEMO_TYPE_SHIFT).astype(np.uint16)


def _reject_reason(
    batch: FlowBatch, rows: Rows, issues: RecordIssues
) -> npt.NDArray[np.uint16]:
    col = str_col(batch, "reject-reason", rows)
    if col is None:
        return np.zeros(len(rows), dtype=np.uint16)
    by_text = {text: code for code, text in L.REJECT_REASON_TEXT.items()}
    table = np.array(
        [
            L.RejectReason.NONE
            if i == 0
            else by_text.get(text, L.RejectReason.OTHER)
            for i, text in enumerate(col.values)
        ],
        dtype=np.uint16,
    )
    codes = table[col.codes]
    issues.count("unknown reject-reason", codes == L.RejectReason.OTHER)
    return codes


# -- packets and bytes above 2^32-1 -----------------------------------------


def apply_overflow(
    recs: npt.NDArray[np.void],
    packets: IntArray,
    nbytes: IntArray,
    policy: OverflowPolicy,
    issues: RecordIssues,
) -> npt.NDArray[np.void]:
    """Fill packets/bytes, splitting or clamping what exceeds 32 bits.

    Returns ``recs`` itself unless a record is split; then the first
    piece of each split record stays in its place and the other pieces
    are appended after the batch's records (order within a SiLK file
    carries no meaning; the work is proportional to the pieces made).
    See the module doc for why split is the default.
    """
    recs["packets"] = np.minimum(packets, _U32)
    recs["bytes"] = np.minimum(nbytes, _U32)
    over = (packets > _U32) | (nbytes > _U32)
    if not over.any():
        return recs
    if policy is OverflowPolicy.CLAMP:
        issues.clamped += int(np.count_nonzero(over))
        issues.count("packets or bytes above 2^32-1 (clamped)", over)
        return recs
    idx = np.flatnonzero(over)
    p, b = packets[idx], nbytes[idx]
    k = np.maximum(-(-p // _U32), -(-b // _U32))
    first_p = p // k + (p % k > 0)
    starved = np.count_nonzero(first_p < 1)
    recs["packets"][idx] = np.maximum(first_p, 1)
    recs["bytes"][idx] = b // k + (b % k > 0)
    recs["tcp_state"][idx] |= np.uint8(L.SPLIT_FIRST)
    more = k - 1
    extra = np.repeat(recs[idx], more)
    piece = (
        np.arange(len(extra), dtype=np.int64)
        - np.repeat(np.cumsum(more) - more, more)
        + 1
    )
    kk = np.repeat(k, more)
    pp = np.repeat(p, more)
    bb = np.repeat(b, more)
    part_p = pp // kk + (piece < pp % kk)
    starved += np.count_nonzero(part_p < 1)
    extra["packets"] = np.maximum(part_p, 1)
    extra["bytes"] = bb // kk + (piece < bb % kk)
    last = piece == kk - 1
    extra["tcp_state"] = (
        extra["tcp_state"] & np.uint8(~L.SPLIT_MASK & 0xFF)
    ) | np.where(last, L.SPLIT_CONTINUED, L.SPLIT_MASK).astype(np.uint8)
    if starved:
        issues.lossy["split piece without packets (stored as 1)"] += int(
            starved
        )
    issues.split_records += len(idx)
    issues.split_pieces += len(extra)
    return np.concatenate([recs, extra])
