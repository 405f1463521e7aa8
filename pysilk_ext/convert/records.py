# SPDX-License-Identifier: MIT
"""VPC flow records (a FlowBatch) to SiLK flow records (FLOW_DTYPE).

Per batch, not per record: the columns are gathered with NumPy and the
records built in one C pass (``csrc/pse_conv.c``, which follows the
rules written down here); no Python code runs per record.  The layout
(which SiLK field holds what) is :mod:`.layout`'s; this module fills it.

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

from pysilk_ext._binding import check, load
from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.config import OverflowPolicy
from pysilk_ext.errors import CoreError
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE

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
_conv = load("conv")
_ffi, _lib = _conv.ffi, _conv.lib
_U32 = np.int64(L.U32_MAX)


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
        # two 64-bit words per row: 8 times fewer elements than bytes
        wide = np.where(
            has_pkt[:, None],
            np.ascontiguousarray(pkt.addr).view(np.uint64),
            np.ascontiguousarray(logged.addr).view(np.uint64),
        )
        addr = wide.view(np.uint8)
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


#: ``RecordIssues.lossy`` reasons counted by the C record builder, in the
#: order of ``enum pse_conv_issue_en`` (csrc/pse_conv.h).
_ISSUE_REASONS = (
    "duration above 49.7 days",
    "protocol -",
    "srcport -",
    "dstport -",
    "srcaddr and dstaddr both differ from pkt-*",
    "pkt-srcaddr or pkt-dstaddr -",
    "packets 0 or - (stored as 1)",
    "traffic-path 0",
    "unknown reject-reason",
)


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

    One C pass over the rows (``pse_conv_records``), which applies this
    module's rules field by field:

    * sTime = ``start`` x 1000, duration (``end`` - ``start``) x 1000
      clamped to 2^32-1 ms; a ``-`` in protocol or ports is stored as 0;
    * sIP/dIP the packet-level endpoints; nhIP the logged address of the
      side AWS rewrote (the egress side when both differ), with memo
      NH_SRC/NH_DST, else ``0.0.0.0`` (``::`` in an IPv6 record); the
      record is IPv6 when sIP, dIP or nhIP is;
    * ICMP ports swapped as the module doc says; flags, packets (0 or
      ``-`` stored as 1), bytes (``-`` stored as 0 with a memo bit);
    * input = direction (memo bit when inferred), output = traffic-path;
      memo also holds ``type`` relative to the record's family, the
      reject reason and the AWS-service labels.
    """
    n = len(rows)
    start = int_col(batch, "start", rows)
    end = int_col(batch, "end", rows)
    if start is None or end is None:
        raise CoreError("Records selected without start/end; please report")
    recs = np.empty(n, dtype=FLOW_DTYPE)
    packets = np.empty(n, dtype=np.int64)
    nbytes = np.empty(n, dtype=np.int64)
    counts = np.zeros(len(_ISSUE_REASONS), dtype=np.int64)
    # the cdata pointers below keep their arrays alive until the call ends
    cols: dict[str, Any] = {
        "start": _ints(start),
        "end": _ints(end),
        "pkt_logged": int(ends.pkt_logged),
    }
    for name, key in (
        ("protocol", "protocol"),
        ("srcport", "srcport"),
        ("dstport", "dstport"),
        ("tcp-flags", "tcp_flags"),
        ("packets", "packets"),
        ("bytes", "bytes"),
        ("traffic-path", "traffic_path"),
        ("type", "type"),
    ):
        values = int_col(batch, name, rows)
        if values is not None:
            cols[key] = _ints(values)
    reason = str_col(batch, "reject-reason", rows)
    if reason is not None:
        cols["reason_codes"] = _buffer("uint32_t[]", reason.codes, np.uint32)
        cols["reason_table"] = _buffer(
            "uint16_t[]", _reason_table(reason.values), np.uint16
        )
    for side in ("src", "dst"):
        labels = str_col(batch, f"pkt-{side}-aws-service", rows)
        if labels is not None:
            cols[f"{side}_service"] = _buffer(
                "uint32_t[]", labels.codes, np.uint32
            )
    for key, col in (
        ("sip", ends.sip),
        ("dip", ends.dip),
        ("src", ends.src),
        ("dst", ends.dst),
    ):
        cols[key] = _buffer("uint8_t[]", col.addr, np.uint8)
        cols[f"{key}_family"] = _buffer("uint8_t[]", col.family, np.uint8)
    for key, flags in (
        ("src_rewritten", ends.src_rewritten),
        ("dst_rewritten", ends.dst_rewritten),
        ("direction", direction),
        ("inferred", inferred),
    ):
        cols[key] = _buffer("uint8_t[]", flags, flags.dtype)
    status = _lib.pse_conv_records(
        _ffi.new("struct pse_conv_columns *", cols),
        n,
        _ffi.from_buffer("uint8_t[]", recs),
        _ffi.from_buffer("int64_t[]", packets),
        _ffi.from_buffer("int64_t[]", nbytes),
        _ffi.from_buffer("int64_t[]", counts),
    )
    check(_conv, status, CoreError, "Cannot build records")
    for why, hits in zip(_ISSUE_REASONS, counts.tolist(), strict=True):
        if hits:
            issues.lossy[why] += hits
    return recs, packets, nbytes


def _ints(values: npt.NDArray[Any]) -> Any:
    return _buffer("int64_t[]", values, np.int64)


def _buffer(ctype: str, values: npt.NDArray[Any], dtype: Any) -> Any:
    """A C pointer to a contiguous copy (or ``values`` itself) of dtype."""
    return _ffi.from_buffer(
        ctype, np.ascontiguousarray(values, dtype=dtype).view(np.uint8)
    )


def _reason_table(values: list[str]) -> npt.NDArray[np.uint16]:
    """The RejectReason of every string code of a reject-reason column."""
    by_text = {text: code for code, text in L.REJECT_REASON_TEXT.items()}
    return np.array(
        [
            L.RejectReason.NONE
            if i == 0
            else by_text.get(text, L.RejectReason.OTHER)
            for i, text in enumerate(values)
        ],
        dtype=np.uint16,
    )


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
