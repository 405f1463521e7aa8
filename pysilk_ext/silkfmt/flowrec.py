# SPDX-License-Identifier: MIT
"""The logical SiLK flow record, as a NumPy structured dtype.

:data:`FLOW_DTYPE` is our ``rwRec``: one row per flow, laid out exactly like
an FT_RWIPV6ROUTING record version 1 in a little-endian file (88 bytes,
spec section 3.3).  Writing that format is then a copy (or a byte swap for
big-endian files), and every other format is encoded from these columns.

Addresses are 16 bytes in network order.  An IPv4 record holds the
IPv4-mapped form ``::ffff:a.b.c.d`` in ``sip``/``dip``/``nhip`` and has bit
7 (0x80) of ``tcp_state`` clear; an IPv6 record has it set.

Codecs (C core ``pysilk_ext._flow``, one call per batch)::

    decode_records(data, format, version, byte_order, *, ipv6_policy="mix",
                   icmp_repair=True, stats=None, out=None) -> FLOW_DTYPE
    encode_records(rows, format, version, byte_order, *, ipv6_policy="mix",
                   stats=None, out=None) -> memoryview
    normalize_tcp_flags(rows) -> int          rwtuc's write-side rule
    fit_u32(values, policy="clamp", field="bytes") -> (uint32, too_large)
    fit_u16(values, policy="clamp", field="input") -> (uint16, too_large)
    FlowStats, RecordRefusedError

Values that do not fit (text for the man pages of the writing tools):

    SiLK flow records hold the packet and byte counts and the duration
    (in milliseconds) in 32 bits, and the SNMP interfaces in 16 bits.  A
    larger value is never wrapped.  By default it is clamped to the
    largest value the field holds (4294967295, or 65535), which is what
    SiLK's own collector, rwflowpack, does with 64-bit IPFIX and NetFlow
    v9 counters; the number of clamped values is reported.  With the
    reject policy the record is not written and is counted instead, as
    rwtuc does with such input lines ("Value overflows the parser").
    FT_RWGENERIC files hold IPv4 records only: like SiLK, a plain write
    of an IPv6 record fails ("Record has an unsupported IPv6 address");
    with the asv4 policy (rwcat --ipv4-output) records whose addresses
    are all IPv4-mapped (::ffff:0:0/96) are written as IPv4 and the
    others are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from pysilk_ext import _binding
from pysilk_ext.errors import SilkFormatError

FLOW_DTYPE = np.dtype(
    [
        ("stime", "<i8"),  # start, ms since epoch
        ("elapsed", "<u4"),  # duration, ms
        ("sport", "<u2"),
        ("dport", "<u2"),  # ICMP: type << 8 | code
        ("proto", "u1"),
        ("flowtype", "u1"),  # class/type id from silk.conf; 255 unset
        ("sensor", "<u2"),  # sensor id from silk.conf; 65535 unset
        ("flags", "u1"),  # OR of all TCP flags
        ("init_flags", "u1"),
        ("rest_flags", "u1"),
        ("tcp_state", "u1"),  # 0x01 EXPANDED ... 0x80 IPv6
        ("application", "<u2"),
        ("memo", "<u2"),
        ("input", "<u2"),
        ("output", "<u2"),
        ("packets", "<u4"),
        ("bytes", "<u4"),
        ("sip", "u1", (16,)),
        ("dip", "u1", (16,)),
        ("nhip", "u1", (16,)),
    ]
)
assert FLOW_DTYPE.itemsize == 88  # noqa: S101 - layout invariant

TCP_STATE_EXPANDED = 0x01
TCP_STATE_FIN_FOLLOWED_NOT_ACK = 0x08
TCP_STATE_UNIFORM_PACKET_SIZE = 0x10
TCP_STATE_TIMEOUT_KILLED = 0x20
TCP_STATE_TIMEOUT_STARTED = 0x40
TCP_STATE_IPV6 = 0x80

SENSOR_INVALID = 65535
FLOWTYPE_INVALID = 255


# --------------------------------------------------------------------------
# Record codecs (C core: csrc/pse_flow.c)
#
# Everything below works on whole FLOW_DTYPE arrays: one C call per batch.

IPV6_POLICIES = ("mix", "ignore", "asv4", "force", "only")
"""SiLK's ``--ipv6-policy`` values (spec 3.7), in the C core's order."""

FIT_POLICIES = ("clamp", "reject", "error")
"""What :func:`fit_u32` does with a value above 2^32 - 1."""

U32_MAX = 0xFFFFFFFF
U16_MAX = 0xFFFF


@dataclass(slots=True)
class FlowStats:
    """Counts of what the codecs did; added to across batches.

    ``expanded_cleared``, ``icmp_repaired`` and ``clamped`` count SiLK's
    read-side adjustments (spec 3.7); ``ipv6_converted``/``ipv6_dropped``
    etc. count the IPv6 policy; ``refused`` counts records a writer
    refused (FT_RWGENERIC cannot hold IPv6).
    """

    records_in: int = 0
    records_out: int = 0
    expanded_cleared: int = 0
    icmp_repaired: int = 0
    clamped: int = 0
    ipv6_converted: int = 0
    ipv4_converted: int = 0
    ipv6_dropped: int = 0
    ipv4_dropped: int = 0
    refused: int = 0

    def add_c(self, cstats: Any) -> None:
        """Add the counters of a ``pse_flow_stats_t``."""
        for name in (
            "records_in",
            "records_out",
            "expanded_cleared",
            "icmp_repaired",
            "clamped",
            "ipv6_converted",
            "ipv4_converted",
            "ipv6_dropped",
            "ipv4_dropped",
        ):
            setattr(self, name, getattr(self, name) + getattr(cstats, name))


class RecordRefusedError(SilkFormatError, ValueError):
    """A record cannot be stored in the requested format.

    ``index`` is its position in the batch given to the encoder; records
    before it were encoded (``encoded`` of them).
    """

    def __init__(self, message: str, *, index: int, encoded: int) -> None:
        super().__init__(message)
        self.index = index
        self.encoded = encoded


def _core() -> Any:
    # Loaded on first use so that importing FLOW_DTYPE never needs the C
    # core (the .so is only required once records are encoded/decoded).
    return _binding.load("flow")


def layout_id(file_format: int, record_version: int) -> int:
    """Return the C core's layout id ``(format << 8) | version``."""
    return (int(file_format) << 8) | int(record_version)


def record_size(file_format: int, record_version: int) -> int:
    """Return bytes per record of a layout, or 0 when we cannot decode it."""
    return int(_core().lib.pse_flow_record_size(
        layout_id(file_format, record_version)))  # fmt: skip


def _policy_code(ipv6_policy: str) -> int:
    try:
        return IPV6_POLICIES.index(ipv6_policy)
    except ValueError:
        raise ValueError(
            f"Invalid ipv6-policy '{ipv6_policy}': expected one of "
            f"{', '.join(IPV6_POLICIES)}"
        ) from None


def decode_records(
    data: bytes | bytearray | memoryview | np.ndarray,
    file_format: int,
    record_version: int,
    byte_order: str,
    *,
    ipv6_policy: str = "mix",
    icmp_repair: bool = True,
    stats: FlowStats | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode whole records of one layout into a FLOW_DTYPE array.

    ``data`` must hold a whole number of records.  SiLK's read-side
    adjustments are applied (EXPANDED fix-up, ICMP sPort repair unless
    ``icmp_repair`` is false, v2 application := 0, v3 clamping) and then
    ``ipv6_policy``, which may drop records (counted in ``stats``).

    ``out``, when given, is a contiguous FLOW_DTYPE array with room for
    every record; the result is then a view of its first rows (no
    allocation: readers decode blocks straight into their batch).
    """
    mod = _core()
    layout = layout_id(file_format, record_version)
    rsize = int(mod.lib.pse_flow_record_size(layout))
    if rsize == 0:
        raise SilkFormatError(
            f"Cannot decode record version {record_version} of file "
            f"format 0x{int(file_format):02x}"
        )
    nbytes = len(data) if not isinstance(data, np.ndarray) else data.nbytes
    nrecs, rest = divmod(nbytes, rsize)
    if rest:
        raise ValueError(
            f"{nbytes} bytes is not a whole number of {rsize}-byte records"
        )
    if out is None:
        out = np.empty(nrecs, FLOW_DTYPE)
    elif (
        out.dtype != FLOW_DTYPE
        or not out.flags.c_contiguous
        or len(out) < nrecs
    ):
        raise ValueError(
            f"Output must be a contiguous FLOW_DTYPE array of at least "
            f"{nrecs} rows"
        )
    if nrecs == 0:
        return out[:0]
    options = _policy_code(ipv6_policy)
    if not icmp_repair:
        options |= mod.lib.PSE_FLOW_ICMP_NOCHANGE
    cstats = mod.ffi.new("pse_flow_stats_t *")
    nout = mod.ffi.new("size_t *")
    status = mod.lib.pse_flow_decode(
        layout,
        1 if byte_order == "big" else 0,
        options,
        mod.ffi.from_buffer(data),
        nrecs,
        mod.ffi.from_buffer(out, require_writable=True),
        nout,
        cstats,
    )
    if status != mod.lib.PSE_OK:  # pragma: no cover - layout checked above
        raise SilkFormatError(f"Cannot decode records (status {status})")
    if stats is not None:
        stats.add_c(cstats)
    return out if nout[0] == len(out) else out[: nout[0]]


def encode_records(
    rows: np.ndarray,
    file_format: int,
    record_version: int,
    byte_order: str,
    *,
    ipv6_policy: str = "mix",
    stats: FlowStats | None = None,
    out: bytearray | memoryview | np.ndarray | None = None,
) -> memoryview:
    """Encode FLOW_DTYPE rows into records of a writable layout.

    Returns a view of the encoded bytes (into ``out`` when given; it must
    hold ``len(rows) * record size`` bytes).  IPv4 rows get the full
    ``::ffff:`` prefix in 16-byte address fields, as SiLK writes them.

    FT_RWGENERIC v5 holds IPv4 only.  With ``ipv6_policy="mix"`` (SiLK's
    default for a plain write) an IPv6 row raises
    :class:`RecordRefusedError` ("Record has an unsupported IPv6
    address"); ``"asv4"`` (what ``rwcat --ipv4-output`` does) converts
    rows whose three addresses are in ``::ffff:0:0/96`` and drops the
    others; ``"ignore"`` drops every IPv6 row.  Drops are counted in
    ``stats``.
    """
    mod = _core()
    if rows.dtype != FLOW_DTYPE:
        raise TypeError(f"Expected a FLOW_DTYPE array, got dtype {rows.dtype}")
    rows = np.ascontiguousarray(rows)
    layout = layout_id(file_format, record_version)
    rsize = int(mod.lib.pse_flow_record_size(layout))
    need = len(rows) * rsize
    if out is None:
        out = bytearray(need)
    view = memoryview(cast(Any, out)).cast("B")
    if len(view) < need:
        raise ValueError(f"Output buffer of {len(view)} bytes < {need}")
    if len(rows) == 0:
        return view[:0]
    cstats = mod.ffi.new("pse_flow_stats_t *")
    nout = mod.ffi.new("size_t *")
    status = mod.lib.pse_flow_encode(
        layout,
        1 if byte_order == "big" else 0,
        _policy_code(ipv6_policy),
        mod.ffi.from_buffer(rows),
        len(rows),
        mod.ffi.from_buffer(view, require_writable=True),
        nout,
        cstats,
    )
    if stats is not None:
        stats.add_c(cstats)
    if status == mod.lib.PSE_ERR_RANGE:
        if stats is not None:
            stats.refused += 1
        index = int(cstats.first_refused)
        raise RecordRefusedError(
            f"Record has an unsupported IPv6 address (record {index} of "
            f"the batch; FT_RWGENERIC holds IPv4 only)",
            index=index,
            encoded=int(nout[0]),
        )
    if status == mod.lib.PSE_ERR_UNSUPPORTED:
        raise SilkFormatError(
            f"Cannot write record version {record_version} of file format "
            f"0x{int(file_format):02x}"
        )
    if status != mod.lib.PSE_OK:
        raise ValueError(f"Invalid ipv6-policy '{ipv6_policy}'")
    return view[: nout[0] * rsize]


def normalize_tcp_flags(rows: np.ndarray) -> int:
    """Apply rwtuc's write-side rule to FLOW_DTYPE rows in place (spec 3.2).

    TCP rows with initial or session flags get ``flags = init | rest`` and
    the EXPANDED bit; every other row gets ``init = rest = 0`` and EXPANDED
    clear.  The unused tcp_state bits 1-2 are cleared and IPv4 rows get the
    ``::ffff:`` prefix.  Returns how many rows lost a stale EXPANDED bit.
    """
    if rows.dtype != FLOW_DTYPE or not rows.flags.c_contiguous:
        raise TypeError("Expected a contiguous FLOW_DTYPE array")
    if len(rows) == 0:
        return 0
    mod = _core()
    cstats = mod.ffi.new("pse_flow_stats_t *")
    mod.lib.pse_flow_normalize(
        mod.ffi.from_buffer(rows, require_writable=True), len(rows), cstats
    )
    return int(cstats.expanded_cleared)


def fit_u32(
    values: np.ndarray | list[int],
    policy: str = "clamp",
    *,
    field: str = "bytes",
) -> tuple[np.ndarray, np.ndarray]:
    """Narrow 64-bit counters (packets, bytes, elapsed ms) to 32 bits.

    SiLK's records hold packets, bytes and the duration in 32 bits.  A
    value above 4294967295 is never wrapped:

    * ``"clamp"`` stores 4294967295, as SiLK's flow collector does with
      64-bit IPFIX / NetFlow v9 counters (``rwflowpack``);
    * ``"reject"`` marks the record so that the caller drops and counts
      it, as ``rwtuc`` does ("Value overflows the parser");
    * ``"error"`` raises ``ValueError`` naming the field and value.

    Returns ``(narrowed, too_large)``: the uint32 values (clamped where
    they did not fit) and a boolean mask of the values that did not fit,
    so that callers count them (``too_large.sum()``) or drop those rows
    (``rows[~too_large]``).
    """
    return _fit(values, U32_MAX, "<u4", policy, field)


def fit_u16(
    values: np.ndarray | list[int],
    policy: str = "clamp",
    *,
    field: str = "input",
) -> tuple[np.ndarray, np.ndarray]:
    """Narrow SNMP interface numbers (or VLAN ids) to 16 bits.

    Same policies as :func:`fit_u32`; SiLK's collector clamps input and
    output to 65535.
    """
    return _fit(values, U16_MAX, "<u2", policy, field)


def _fit(
    values: np.ndarray | list[int],
    limit: int,
    dtype: str,
    policy: str,
    field: str,
) -> tuple[np.ndarray, np.ndarray]:
    if policy not in FIT_POLICIES:
        raise ValueError(
            f"Invalid overflow policy '{policy}': expected one of "
            f"{', '.join(FIT_POLICIES)}"
        )
    wide = np.asarray(values)
    if wide.dtype.kind not in "iu" or (
        wide.dtype.kind == "i" and wide.size and wide.min() < 0
    ):
        raise ValueError(f"Invalid {field}: expected non-negative integers")
    wide = wide.astype(np.uint64, copy=False)
    too_large = wide > limit
    if policy == "error" and too_large.any():
        first = int(wide[too_large][0])
        raise ValueError(
            f"Invalid {field} '{first}': Value is above maximum of {limit}"
        )
    narrowed = np.minimum(wide, limit).astype(dtype)
    return narrowed, too_large
