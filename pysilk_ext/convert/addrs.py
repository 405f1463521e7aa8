# SPDX-License-Identifier: MIT
"""Vectorised address helpers: CIDR ranges, address sets, text.

Addresses are ``(n, 16)`` ``uint8`` arrays in network order with IPv4 as
``::ffff:a.b.c.d`` -- the layout of :class:`pysilk_ext.batch.AddrColumn`
and of FLOW_DTYPE's ``sip``/``dip``/``nhip``.  Nothing here loops over
records in Python: ranges are matched with ``searchsorted``, sets with
``isin`` over a 16-byte void view, and text is made once per distinct
address.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from pysilk_ext.errors import ConvertError

Addr16 = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

_V4_PREFIX = np.array([0] * 10 + [0xFF, 0xFF], dtype=np.uint8)


def as_void(addr: Addr16) -> npt.NDArray[np.void]:
    """Return the addresses as one ``V16`` value per row (for set ops)."""
    return np.ascontiguousarray(addr, dtype=np.uint8).view("V16").reshape(-1)


_FFFF_WORD = np.frombuffer(b"\x00\x00\xff\xff", dtype=np.uint32)[0]


def _words(addr: Addr16) -> npt.NDArray[np.uint32]:
    """Return the addresses as (n, 4) 32-bit words in memory order."""
    return np.ascontiguousarray(addr, dtype=np.uint8).view(np.uint32)


def is_v4_mapped(addr: Addr16) -> BoolArray:
    """Return True where an address is in ``::ffff:0:0/96`` (IPv4)."""
    words = _words(addr)
    mapped: BoolArray = (
        (words[:, 0] == 0) & (words[:, 1] == 0) & (words[:, 2] == _FFFF_WORD)
    )
    return mapped


def v4_values(addr: Addr16) -> npt.NDArray[np.uint32]:
    """Return the last four bytes of each address as a host integer."""
    last = _words(addr)[:, 3]
    if sys.byteorder == "little":
        return last.byteswap()
    return last.copy()


def v6_halves(
    addr: Addr16,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Return the high and low 64 bits of each address."""
    contiguous = np.ascontiguousarray(addr, dtype=np.uint8)
    hi = contiguous[:, :8].copy().view(">u8").reshape(-1).astype(np.uint64)
    lo = contiguous[:, 8:].copy().view(">u8").reshape(-1).astype(np.uint64)
    return hi, lo


def pack_addresses(texts: Iterable[str]) -> Addr16:
    """Return text addresses as 16-byte rows (IPv4 mapped).

    Meant for configuration and tests, not for per-record work.

    Raises:
        ValueError: a text is not an IP address.
    """
    rows = [_pack_one(text) for text in texts]
    if not rows:
        return np.zeros((0, 16), dtype=np.uint8)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 16)


def _pack_one(text: str) -> bytes:
    ip = ipaddress.ip_address(text.strip())
    if ip.version == 4:
        return bytes(_V4_PREFIX) + ip.packed
    return ip.packed


def format_addresses(addr: Addr16) -> npt.NDArray[np.object_]:
    """Return each address as text, one ``str`` per row.

    Addresses in ``::ffff:0:0/96`` are written as dotted quads (AWS never
    writes IPv4-mapped IPv6 text); others as ``inet_ntop`` writes them,
    which is also how SiLK prints them.  Each distinct address is
    formatted once.
    """
    if len(addr) == 0:
        return np.empty(0, dtype=object)
    uniq, inverse = np.unique(as_void(addr), return_inverse=True)
    texts = np.empty(len(uniq), dtype=object)
    for i, value in enumerate(uniq.tolist()):
        raw = bytes(value)
        if raw[:12] == bytes(_V4_PREFIX):
            texts[i] = socket.inet_ntop(socket.AF_INET, raw[12:])
        else:
            texts[i] = socket.inet_ntop(socket.AF_INET6, raw)
    return texts[inverse.reshape(-1)]


class AddressRanges:
    """A set of CIDR blocks, matched against many addresses at once.

    IPv4 blocks are merged into sorted integer intervals and matched with
    ``searchsorted``; IPv6 blocks up to /64 likewise on the high 64 bits;
    the (rare) longer IPv6 blocks are checked one by one.  An address in
    ``::ffff:0:0/96`` is matched as IPv4.
    """

    def __init__(self, cidrs: Iterable[str] = (), *, source: str = "") -> None:
        v4: list[tuple[int, int]] = []
        v6_short: list[tuple[int, int]] = []
        self._v6_long: list[tuple[int, int, int]] = []
        self.cidrs: list[str] = []
        for text in cidrs:
            try:
                net = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError as exc:
                where = f" in {source}" if source else ""
                raise ConvertError(
                    f"Invalid network '{text}'{where}: {exc}"
                ) from None
            self.cidrs.append(str(net))
            first = int(net.network_address)
            last = int(net.broadcast_address)
            if net.version == 4:
                v4.append((first, last))
            elif net.prefixlen <= 64:
                v6_short.append((first >> 64, last >> 64))
            else:
                self._v6_long.append(
                    (first >> 64, first & (2**64 - 1), last & (2**64 - 1))
                )
        self._v4_lo, self._v4_hi = _merge(v4)
        self._v6_lo, self._v6_hi = _merge(v6_short)

    def __len__(self) -> int:
        return len(self.cidrs)

    def contains(self, addr: Addr16) -> BoolArray:
        """Return True for each address inside one of the blocks."""
        n = len(addr)
        out = np.zeros(n, dtype=bool)
        if n == 0 or not self.cidrs:
            return out
        v4 = is_v4_mapped(addr)
        if len(self._v4_lo):
            values = v4_values(addr[v4]).astype(np.uint64)
            out[v4] = _in_intervals(values, self._v4_lo, self._v4_hi)
        v6 = ~v4
        if v6.any() and (len(self._v6_lo) or self._v6_long):
            hi, lo = v6_halves(addr[v6])
            hit = _in_intervals(hi, self._v6_lo, self._v6_hi)
            for net_hi, lo_first, lo_last in self._v6_long:
                hit |= (hi == net_hi) & (lo >= lo_first) & (lo <= lo_last)
            out[v6] = hit
        return out


def _merge(
    intervals: list[tuple[int, int]],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Merge overlapping/adjacent inclusive intervals; return lo/hi arrays."""
    merged: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    lows = np.array([m[0] for m in merged], dtype=np.uint64)
    highs = np.array([m[1] for m in merged], dtype=np.uint64)
    return lows, highs


def _in_intervals(
    values: npt.NDArray[np.uint64],
    lows: npt.NDArray[np.uint64],
    highs: npt.NDArray[np.uint64],
) -> BoolArray:
    if len(lows) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.searchsorted(lows, values, side="right").astype(np.int64) - 1
    ok = idx >= 0
    safe = np.where(ok, idx, 0)
    return ok & (values <= highs[safe])


class AddressSet:
    """A growing set of exact addresses with vectorised membership.

    Used for the addresses learned to belong to monitored interfaces.
    IPv4 addresses are kept as a sorted ``uint32`` array (binary search
    on integers), IPv6 ones as a sorted ``V16`` array.  Additions first
    drop what is already known, so a batch repeating the same interface
    addresses costs one search, not a sort.
    """

    def __init__(self) -> None:
        self._v4 = np.empty(0, dtype=np.uint32)
        self._v6 = np.empty(0, dtype="V16")

    def __len__(self) -> int:
        return len(self._v4) + len(self._v6)

    def add(self, addr: Addr16) -> None:
        """Add every row of ``addr``."""
        if len(addr) == 0:
            return
        v4 = is_v4_mapped(addr)
        values = v4_values(addr[v4]) if v4.all() else v4_values(addr)[v4]
        fresh = values[~_sorted_member(self._v4, values)]
        if len(fresh):
            self._v4 = np.union1d(self._v4, fresh)
        if not v4.all():
            v6 = as_void(addr[~v4])
            fresh6 = v6[~np.isin(v6, self._v6)]
            if len(fresh6):
                self._v6 = np.union1d(self._v6, fresh6)

    def sorted_members(
        self,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8]]:
        """Return the IPv4 members (sorted host-order integers) and the
        others (sorted ``(k, 16)`` rows, ``memcmp`` order) -- what the C
        classification searches (:meth:`.Classifier.classify_records`)."""
        v6 = np.ascontiguousarray(self._v6).view(np.uint8).reshape(-1, 16)
        return np.ascontiguousarray(self._v4, dtype=np.uint32), v6

    def contains(self, addr: Addr16) -> BoolArray:
        """Return True for each row of ``addr`` that is in the set."""
        out = np.zeros(len(addr), dtype=bool)
        if len(addr) == 0 or len(self) == 0:
            return out
        v4 = is_v4_mapped(addr)
        out[v4] = _sorted_member(self._v4, v4_values(addr)[v4])
        if len(self._v6) and not v4.all():
            out[~v4] = np.isin(as_void(addr[~v4]), self._v6)
        return out


def _sorted_member(
    sorted_values: npt.NDArray[np.uint32], probe: npt.NDArray[np.uint32]
) -> BoolArray:
    """Return True where ``probe`` is in the sorted array."""
    if len(sorted_values) == 0:
        return np.zeros(len(probe), dtype=bool)
    pos = np.searchsorted(sorted_values, probe)
    pos[pos == len(sorted_values)] = 0
    found: BoolArray = sorted_values[pos] == probe
    return found
