# SPDX-License-Identifier: MIT
"""SiLK IPsets (FT_IPSET): a normalised set type, writer and reader.

An :class:`IPSet` holds IPv4 or IPv6 addresses as sorted, merged,
inclusive ranges (spec 5.7: rwsetcat prints a file's items in file order
and sums them without merging, so only a normalised file prints right).
Files are written in record version 2 (IPv4, one /24 bitmap per occupied
/24), 4 (IPv4 or IPv6 CIDR blocks and /24 or /120 bitmaps) or 5 (IPv6,
grouped by /64), choosing items exactly as rwsetbuild does, so a set
written here is byte-identical to rwsetbuild's.  Every record version
SiLK 3.19.1 writes can be read (0-2, 3 by its leaf array, 4, 5), in
either byte order, compressed or not.

The payload codecs run in C (``pysilk_ext._pmap``); the context map
writes sets of hundreds of thousands of addresses.

Public API::

    IPSet(items=(), *, ipv6=False)      addresses, CIDR text, ranges
    IPSet.from_ranges(starts, ends, *, ipv6=False)   numpy fast path
    IPSet.from_addresses(addrs, *, ipv6=None)
    IPSet.read(path) / IPSet.from_bytes(data)
    s.write(path, *, record_version=None, compression=0, ...)
    s.to_bytes(...)   s.cardinality()   addr in s   s.contains_many(keys)
    s.iter_cidrs()    s.iter_ranges()   s.cidr_blocks()   s | t
    parse_ipset_text(text, *, ip_ranges=False, path=None) -> IPSet
    format_rwsetcat(s, *, cidr_blocks=None, ip_ranges=False,
                    count_ips=False, print_statistics=False) -> str

Keys are integers: an IPv4 set holds 32-bit addresses; an IPv6 set holds
128-bit addresses, IPv4 among them as ``::ffff:a.b.c.d``.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext.errors import IPSetError, SilkFormatError
from pysilk_ext.silkfmt import _ipaddr as ipa
from pysilk_ext.silkfmt.compression import (
    block_size_for,
    decompress_data,
    encode_blocks,
)
from pysilk_ext.silkfmt.header import (
    AnnotationEntry,
    ByteOrder,
    Compression,
    FileFormat,
    FileHeader,
    HeaderEntry,
    InvocationEntry,
    IPSetEntry,
    compression_from_name,
    encode_header,
    format_name,
    read_header,
)
from pysilk_ext.silkfmt.pmap import invocation_text

__all__ = [
    "IPSet",
    "IPSetCorruptError",
    "IPSetFileError",
    "IPSetTruncatedError",
    "format_rwsetcat",
    "parse_ipset_text",
]


class IPSetFileError(IPSetError, SilkFormatError):
    """An IPset file is not readable (wrong kind, bad header)."""


class IPSetTruncatedError(IPSetFileError):
    """An IPset file ends inside an item."""


class IPSetCorruptError(IPSetFileError):
    """An IPset file holds an invalid item (e.g. a bad prefix byte)."""


_MASK64 = (1 << 64) - 1
_EMPTY = np.empty((0, 4), dtype=np.uint64)
#: The v4 (CIDR+bitmap) and v5 leaf sizes in the IPset header entry.
_LEAF_V4 = 4
_LEAF_V6 = 16
#: v3 (radix) geometry: children per node, node and leaf sizes.
_RADIX_CHILDREN = 16
_RADIX_NODE = {False: 80, True: 96}
_RADIX_LEAF = {False: 8, True: 24}


_lib = ipa.core
_check = functools.partial(ipa.check, error=IPSetError)


def _ptr(ffi: Any, ctype: str, arr: npt.NDArray[Any]) -> Any:
    if arr.size == 0:
        return ffi.NULL
    return ffi.cast(ctype, ffi.from_buffer(arr))


def _normalize(ranges: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Sort and merge ranges (C); returns a new contiguous array."""
    arr = np.array(ranges, dtype=np.uint64, order="C", copy=True)
    arr = arr.reshape(-1, 4)
    if arr.shape[0] == 0:
        return _EMPTY.copy()
    mod = _lib()
    n_out = mod.ffi.new("size_t *")
    status = mod.lib.pse_ipset_normalize(
        _ptr(mod.ffi, "uint64_t *", arr), arr.shape[0], n_out
    )
    if status == mod.lib.PSE_ERR_ARG:
        raise IPSetError("Invalid IP range: start is greater than end")
    _check(status, "Cannot normalise IPset")
    return arr[: int(n_out[0])].copy()


def _range_row(start: int, end: int) -> list[int]:
    return [start >> 64, start & _MASK64, end >> 64, end & _MASK64]


def _needs_v6(item: tuple[int, int, bool]) -> bool:
    """Whether an item holds addresses outside ``::ffff:0:0/96``."""
    lo, hi, v6 = item
    return v6 and not (lo >> 32 == 0xFFFF and hi >> 32 == 0xFFFF)


def _rows(
    items: Iterable[tuple[int, int, bool]], is_v6: bool
) -> npt.NDArray[np.uint64]:
    """Raw ``(n, 4)`` ranges in the set's key space: IPv4 items of an
    IPv6 set are mapped, ``::ffff:`` items of an IPv4 set unmapped."""
    mapped = ipa.V4_MAPPED_BASE
    rows = []
    for lo, hi, v6 in items:
        if is_v6 and not v6:
            rows.append(_range_row(lo | mapped, hi | mapped))
        elif v6 and not is_v6:
            rows.append(_range_row(lo & ipa.MAX_V4, hi & ipa.MAX_V4))
        else:
            rows.append(_range_row(lo, hi))
    return np.array(rows, dtype=np.uint64).reshape(-1, 4)


class IPSet:
    """An immutable, normalised set of IPv4 or IPv6 addresses.

    ``items`` may hold address text (``"10.0.0.1"``), CIDR text
    (``"10.0.0.0/24"``), range text (``"10.0.0.1-10.0.0.9"``),
    :mod:`ipaddress` addresses and networks, integers (IPv4 when below
    2^32, as SiLK parses them) and ``(low, high)`` tuples.  As in SiLK,
    the set is IPv6 when ``ipv6`` is true or an item lies outside
    ``::ffff:0:0/96``; IPv4 items of an IPv6 set become
    ``::ffff:a.b.c.d``, and ``::ffff:`` items of an IPv4 set plain IPv4.
    """

    __slots__ = ("_is_v6", "_ranges")

    def __init__(self, items: Iterable[Any] = (), *, ipv6: bool = False):
        parsed: list[tuple[int, int, bool]] = [
            _parse_item(item) for item in items
        ]
        self._is_v6 = bool(ipv6 or any(map(_needs_v6, parsed)))
        self._ranges = _normalize(_rows(parsed, self._is_v6))

    @classmethod
    def _from_normalized(
        cls, ranges: npt.NDArray[np.uint64], is_v6: bool
    ) -> IPSet:
        obj = cls.__new__(cls)
        obj._is_v6 = is_v6
        obj._ranges = ranges
        return obj

    @classmethod
    def from_ranges(
        cls,
        starts: npt.ArrayLike,
        ends: npt.ArrayLike,
        *,
        ipv6: bool = False,
    ) -> IPSet:
        """Build from arrays of inclusive range bounds (fast path).

        IPv4: 1-D integer arrays.  IPv6 (``ipv6=True``): ``(n, 2)`` uint64
        (upper half first) or ``(n, 16)`` uint8 in network order.
        """
        s: npt.NDArray[Any]
        e: npt.NDArray[Any]
        if ipv6:
            s = ipa.as_keys128(starts)
            e = ipa.as_keys128(ends)
        else:
            s = _as_v4_keys(starts)
            e = _as_v4_keys(ends)
        if s.shape[0] != e.shape[0]:
            raise ValueError("starts and ends have different lengths")
        raw = np.empty((s.shape[0], 4), dtype=np.uint64)
        if ipv6:
            raw[:, 0:2] = s
            raw[:, 2:4] = e
        else:
            raw[:, 0] = 0
            raw[:, 1] = s
            raw[:, 2] = 0
            raw[:, 3] = e
        return cls._from_normalized(_normalize(raw), bool(ipv6))

    @classmethod
    def from_addresses(
        cls, addrs: npt.ArrayLike, *, ipv6: bool | None = None
    ) -> IPSet:
        """Build from an array of single addresses.

        A 1-D integer array gives an IPv4 set.  A 128-bit array
        (``(n, 2)`` uint64 or ``(n, 16)`` uint8, e.g. an
        :class:`~pysilk_ext.batch.AddrColumn`'s ``addr``) gives an IPv6
        set, or an IPv4 set with ``ipv6=False`` when every address is
        ``::ffff:a.b.c.d``.
        """
        arr = np.asarray(addrs)
        if arr.ndim == 1:
            if ipv6:
                keys = _as_v4_keys(arr).astype(np.uint64)
                wide = np.empty((keys.shape[0], 2), dtype=np.uint64)
                wide[:, 0] = 0
                wide[:, 1] = keys | np.uint64(ipa.V4_MAPPED_BASE)
                return cls.from_ranges(wide, wide, ipv6=True)
            return cls.from_ranges(arr, arr)
        keys = ipa.as_keys128(arr)
        if ipv6 is False:
            mapped = (keys[:, 0] == 0) & (
                (keys[:, 1] >> np.uint64(32)) == np.uint64(0xFFFF)
            )
            if not bool(mapped.all()):
                raise IPSetError(
                    "IPset does not allow IPv6 addresses (an address is not "
                    "IPv4-mapped)"
                )
            v4 = keys[:, 1] & np.uint64(ipa.MAX_V4)
            return cls.from_ranges(v4, v4)
        return cls.from_ranges(keys, keys, ipv6=True)

    # -- properties ---------------------------------------------------------

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 set (its file records leaf size 16)."""
        return self._is_v6

    @property
    def ranges(self) -> npt.NDArray[np.uint64]:
        """The normalised ranges, ``(n, 4)`` uint64: start_hi, start_lo,
        end_hi, end_lo (a read-only view)."""
        view = self._ranges.view()
        view.flags.writeable = False
        return view

    @property
    def key_bits(self) -> int:
        """32 for an IPv4 set, 128 for an IPv6 set."""
        return 128 if self._is_v6 else 32

    def contains_v6(self) -> bool:
        """True when an address outside ``::ffff:0:0/96`` is present
        (SiLK's test for whether the set needs an IPv6 file format)."""
        if not self._is_v6 or self._ranges.shape[0] == 0:
            return False
        r = self._ranges
        lo_ok = (r[0, 0] == 0) and (int(r[0, 1]) >> 32 == 0xFFFF)
        hi_ok = (r[-1, 2] == 0) and (int(r[-1, 3]) >> 32 == 0xFFFF)
        return not (lo_ok and hi_ok)

    def cardinality(self) -> int:
        """Number of addresses (an exact integer, up to 2^128)."""
        total = 0
        for start, end in self.iter_ranges():
            total += end - start + 1
        return total

    def __bool__(self) -> bool:
        return bool(self._ranges.shape[0] > 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IPSet):
            return NotImplemented
        return self._is_v6 == other._is_v6 and bool(
            np.array_equal(self._ranges, other._ranges)
        )

    def __hash__(self) -> int:
        return hash((self._is_v6, self._ranges.tobytes()))

    def __repr__(self) -> str:
        kind = "IPv6" if self._is_v6 else "IPv4"
        return (
            f"<IPSet {kind} ranges={self._ranges.shape[0]} "
            f"addresses={self.cardinality()}>"
        )

    # -- membership ---------------------------------------------------------

    def _key(self, addr: Any) -> int | None:
        value, is_v6 = ipa.address_key(addr)
        if self._is_v6:
            return value if is_v6 else ipa.V4_MAPPED_BASE | value
        return ipa.unmap_v4(value) if is_v6 else value

    def __contains__(self, addr: object) -> bool:
        try:
            key = self._key(addr)
        except (TypeError, ValueError):
            return False
        if key is None:
            return False
        return bool(self._contains_keys(ipa.keys128([key]))[0])

    def contains_many(self, keys: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Membership of many keys at once (C, binary search).

        ``keys``: a 1-D integer array (IPv4 set) or ``(n, 2)``/``(n, 16)``
        128-bit keys; for an IPv4 set 128-bit keys must be ``::ffff:``
        mapped to match, and for an IPv6 set 1-D IPv4 keys are mapped.
        """
        arr = np.asarray(keys)
        if arr.ndim == 1:
            v4 = _as_v4_keys(arr).astype(np.uint64)
            k = np.empty((v4.shape[0], 2), dtype=np.uint64)
            k[:, 0] = 0
            k[:, 1] = v4 | np.uint64(ipa.V4_MAPPED_BASE) if self._is_v6 else v4
        else:
            k = ipa.as_keys128(arr)
            if not self._is_v6:
                # only IPv4-mapped keys can be members of an IPv4 set
                mapped = (k[:, 0] == 0) & (
                    (k[:, 1] >> np.uint64(32)) == np.uint64(0xFFFF)
                )
                k = k.copy()
                k[:, 1] &= np.uint64(ipa.MAX_V4)
                k[~mapped, 0] = np.uint64(_MASK64)
        return self._contains_keys(k)

    def _contains_keys(
        self, k: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.bool_]:
        """Membership of ``(n, 2)`` keys already in the set's key space."""
        out = np.zeros(k.shape[0], dtype=np.uint8)
        if k.shape[0]:
            mod = _lib()
            ffi = mod.ffi
            _check(
                mod.lib.pse_ipset_contains(
                    _ptr(ffi, "const uint64_t *", self._ranges),
                    self._ranges.shape[0],
                    _ptr(ffi, "const uint64_t *", k), k.shape[0],
                    _ptr(ffi, "uint8_t *", out),
                ),
                "IPset membership",
            )  # fmt: skip
        return out.astype(bool)

    # -- iteration ----------------------------------------------------------

    def iter_ranges(self) -> Iterator[tuple[int, int]]:
        """Yield ``(first, last)`` of each maximal range, ascending."""
        for sh, sl, eh, el in self._ranges.tolist():
            yield (sh << 64) | sl, (eh << 64) | el

    def cidr_blocks(
        self,
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint8]]:
        """The canonical CIDR decomposition: ``(addrs (n, 2), prefixes)``.

        Maximal aligned blocks in ascending order -- the list
        ``rwsetcat --cidr-blocks`` prints for a normalised file.
        """
        mod = _lib()
        ffi = mod.ffi
        count = ffi.new("size_t *")
        rp = _ptr(ffi, "const uint64_t *", self._ranges)
        n = self._ranges.shape[0]
        _check(
            mod.lib.pse_ipset_cidr(rp, n, self.key_bits, ffi.NULL, ffi.NULL,
                                   0, count),
            "IPset CIDR blocks",
        )  # fmt: skip
        m = int(count[0])
        addrs = np.empty((m, 2), dtype=np.uint64)
        prefixes = np.empty(m, dtype=np.uint8)
        if m:
            _check(
                mod.lib.pse_ipset_cidr(
                    rp, n, self.key_bits,
                    _ptr(ffi, "uint64_t *", addrs),
                    _ptr(ffi, "uint8_t *", prefixes), m, count,
                ),
                "IPset CIDR blocks",
            )  # fmt: skip
        return addrs, prefixes

    def iter_cidrs(self) -> Iterator[tuple[int, int]]:
        """Yield ``(address, prefix)`` of each canonical CIDR block."""
        addrs, prefixes = self.cidr_blocks()
        for (hi, lo), prefix in zip(
            addrs.tolist(), prefixes.tolist(), strict=True
        ):
            yield (hi << 64) | lo, prefix

    # -- set algebra --------------------------------------------------------

    def __or__(self, other: IPSet) -> IPSet:
        if not isinstance(other, IPSet):
            return NotImplemented
        if self._is_v6 == other._is_v6:
            a, b = self._ranges, other._ranges
        else:
            a, b = self.as_ipv6()._ranges, other.as_ipv6()._ranges
        is_v6 = self._is_v6 or other._is_v6
        return IPSet._from_normalized(_normalize(np.vstack([a, b])), is_v6)

    def union(self, *others: IPSet) -> IPSet:
        """The union with every set in ``others``."""
        result = self
        for other in others:
            result = result | other
        return result

    def as_ipv6(self) -> IPSet:
        """This set as an IPv6 set (IPv4 addresses mapped)."""
        if self._is_v6:
            return self
        r = self._ranges.copy()
        r[:, 1] |= np.uint64(ipa.V4_MAPPED_BASE)
        r[:, 3] |= np.uint64(ipa.V4_MAPPED_BASE)
        return IPSet._from_normalized(r, True)

    def as_ipv4(self) -> IPSet:
        """This set as an IPv4 set; every address must be IPv4-mapped."""
        if not self._is_v6:
            return self
        if self.contains_v6():
            raise IPSetError("IPset does not allow IPv6 addresses")
        r = self._ranges.copy()
        r[:, 0] = 0
        r[:, 2] = 0
        r[:, 1] &= np.uint64(ipa.MAX_V4)
        r[:, 3] &= np.uint64(ipa.MAX_V4)
        return IPSet._from_normalized(r, False)

    # -- writing ------------------------------------------------------------

    def _choose_version(self, record_version: int | None) -> tuple[int, bool]:
        """(record version, IPv6 encoding) as skIPSetWrite chooses them."""
        contains_v6 = self.contains_v6()
        if record_version in (None, 0):
            return (4, True) if contains_v6 else (2, False)
        if record_version == 2:
            if contains_v6:
                raise IPSetError("IPset does not allow IPv6 addresses")
            return 2, False
        if record_version == 4:
            return 4, self._is_v6
        if record_version == 5:
            return (5, True) if contains_v6 else (4, self._is_v6)
        if record_version == 3:
            raise IPSetError(
                "Writing IPset record version 3 (radix) is not supported; "
                "use 4 (read by SiLK 3.7 and later) or 2"
            )
        raise IPSetError(f"Invalid IPset record version {record_version}")

    def payload(
        self,
        record_version: int,
        *,
        ipv6: bool | None = None,
        byte_order: ByteOrder | None = None,
    ) -> bytes:
        """The uncompressed data section of one record version."""
        is_v6 = self._is_v6 if ipv6 is None else ipv6
        src = self.as_ipv6() if is_v6 else self.as_ipv4()
        order = byte_order or ipa.native_order()
        mod = _lib()
        ffi = mod.ffi
        length = ffi.new("size_t *")
        rp = _ptr(ffi, "const uint64_t *", src._ranges)
        n = src._ranges.shape[0]
        swap = int(order != ipa.native_order())
        _check(
            mod.lib.pse_ipset_encode(rp, n, record_version, int(is_v6), swap,
                                     ffi.NULL, 0, length),
            "Cannot encode IPset",
        )  # fmt: skip
        size = int(length[0])
        out = np.empty(size, dtype=np.uint8)
        if size:
            _check(
                mod.lib.pse_ipset_encode(
                    rp, n, record_version, int(is_v6), swap,
                    _ptr(ffi, "uint8_t *", out), size, length,
                ),
                "Cannot encode IPset",
            )  # fmt: skip
        return out.tobytes()

    def to_bytes(
        self,
        *,
        record_version: int | None = None,
        compression: int | str = Compression.NONE,
        byte_order: ByteOrder | None = None,
        invocation: str | Sequence[str] | None = None,
        annotations: Iterable[str] = (),
    ) -> bytes:
        """Return the whole IPset file.

        ``record_version``: None/0 chooses 2 for an IPv4 set and 4 when
        IPv6 addresses are present; 5 on a set without IPv6 addresses
        gives 4 and 2 on one with them is an error, as with rwsetbuild.
        ``compression``: a method id or name (``"zlib"``...); the payload
        is block-framed like SiLK's.  ``byte_order`` defaults to the
        host's.  ``invocation`` adds the command-line entry.
        """
        version, is_v6 = self._choose_version(record_version)
        method = compression_from_name(compression)
        order: ByteOrder = byte_order or ipa.native_order()
        entries: list[HeaderEntry] = []
        if invocation is not None:
            entries.append(InvocationEntry(invocation_text(invocation)))
        entries.extend(AnnotationEntry(text) for text in annotations)
        if version in (4, 5):
            leaf = _LEAF_V6 if is_v6 else _LEAF_V4
            entries.append(IPSetEntry(0, 0, leaf, 0, 0, 0))
        header = FileHeader(
            format=FileFormat.FT_IPSET,
            record_version=version,
            record_size=1,
            byte_order=order,
            compression=method,
            entries=entries,
        )
        data = self.payload(version, ipv6=is_v6, byte_order=order)
        return encode_header(header) + encode_blocks(
            method, data, block_size_for(1)
        )

    def write(
        self,
        path: str | os.PathLike[str],
        *,
        record_version: int | None = None,
        compression: int | str = Compression.NONE,
        byte_order: ByteOrder | None = None,
        invocation: str | Sequence[str] | None = None,
        annotations: Iterable[str] = (),
    ) -> None:
        """Write the set to ``path`` atomically (see :meth:`to_bytes`)."""
        data = self.to_bytes(
            record_version=record_version, compression=compression,
            byte_order=byte_order, invocation=invocation,
            annotations=annotations,
        )  # fmt: skip
        ipa.write_atomic(path, data)

    # -- reading ------------------------------------------------------------

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> IPSet:
        """Read an IPset file of any record version SiLK 3.19.1 writes.

        Raises:
            OSError: the file cannot be opened.
            SilkFormatError: invalid SiLK header or compressed block.
            IPSetFileError: not an IPset, or truncated
                (:class:`IPSetTruncatedError`) or invalid
                (:class:`IPSetCorruptError`) contents.
        """
        with open(path, "rb") as fh:
            data = fh.read()
        return cls.from_bytes(data, path=os.fspath(path))

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, *, path: str | None = None
    ) -> IPSet:
        """Parse a whole IPset file held in memory."""
        where = f"'{path}'" if path is not None else "'<stream>'"
        header = read_header(data, path)
        if header.format != FileFormat.FT_IPSET:
            raise IPSetFileError(
                f"Unable to read IPset from {where}: File is "
                f"{format_name(header.format)}, not FT_IPSET(0x1d)"
            )
        if header.record_size not in (0, 1):
            raise IPSetFileError(
                f"Unable to read IPset from {where}: Record size "
                f"{header.record_size} is not 1"
            )
        version = header.record_version
        if version > 5:
            raise IPSetFileError(
                f"Unable to read IPset from {where}: This release does not "
                f"support IPset record version {version}"
            )
        assert header.length is not None  # noqa: S101 - set by read_header
        payload = decompress_data(
            memoryview(data)[header.length :], header.compression, where
        )
        swap = header.byte_order != ipa.native_order()
        entry = next(
            (e for e in header.entries if isinstance(e, IPSetEntry)), None
        )
        if version <= 2:
            return cls._decode(payload, 2, False, swap, where)
        if entry is None:
            raise IPSetFileError(
                f"Unable to read IPset from {where}: Record version "
                f"{version} needs the IPset header entry"
            )
        if version == 3:
            return cls._decode_radix(payload, entry, swap, where)
        if version == 4 and entry.leaf_size in (_LEAF_V4, _LEAF_V6):
            return cls._decode(
                payload, 4, entry.leaf_size == _LEAF_V6, swap, where
            )
        if version == 5 and entry.leaf_size == _LEAF_V6:
            return cls._decode(payload, 5, True, swap, where)
        raise IPSetFileError(
            f"Unable to read IPset from {where}: Invalid leaf size "
            f"{entry.leaf_size} for record version {version}"
        )

    @classmethod
    def _decode_radix(
        cls, payload: bytes, entry: IPSetEntry, swap: bool, where: str
    ) -> IPSet:
        is_v6 = entry.leaf_size == _RADIX_LEAF[True]
        if (
            entry.children_per_node != _RADIX_CHILDREN
            or entry.leaf_size != _RADIX_LEAF[is_v6]
            or entry.node_size != _RADIX_NODE[is_v6]
        ):
            raise IPSetFileError(
                f"Unable to read IPset from {where}: Invalid radix IPset "
                f"geometry ({entry.children_per_node}-way, "
                f"{entry.node_size}b nodes, {entry.leaf_size}b leaves)"
            )
        start = entry.node_count * entry.node_size
        end = start + entry.leaf_count * entry.leaf_size
        if len(payload) < end:
            raise IPSetTruncatedError(
                f"Unable to read IPset from {where}: Attempting to read "
                f"{end} bytes returned {len(payload)}"
            )
        return cls._decode(payload[start:end], 3, is_v6, swap, where)

    @classmethod
    def _decode(
        cls, payload: bytes, version: int, is_v6: bool, swap: bool, where: str
    ) -> IPSet:
        mod = _lib()
        ffi = mod.ffi
        buf = np.frombuffer(payload, dtype=np.uint8)
        count = ffi.new("size_t *")
        err_off = ffi.new("size_t *")
        err_val = ffi.new("uint32_t *")
        bp = _ptr(ffi, "const uint8_t *", buf)

        def run(out: npt.NDArray[np.uint64] | None, cap: int) -> None:
            status = mod.lib.pse_ipset_decode(
                bp, buf.shape[0], version, int(is_v6), int(swap),
                ffi.NULL if out is None else _ptr(ffi, "uint64_t *", out),
                cap, count, err_off, err_val,
            )  # fmt: skip
            if status == mod.lib.PSE_ERR_SHORT:
                raise IPSetTruncatedError(
                    f"Unable to read IPset from {where}: Attempting to read "
                    f"{err_val[0]} bytes returned "
                    f"{buf.shape[0] - err_off[0]} (data offset "
                    f"{err_off[0]})"
                )
            if status == mod.lib.PSE_ERR_FORMAT:
                raise IPSetCorruptError(
                    f"Unable to read IPset from {where}: Unexpected value "
                    f"for prefix {err_val[0]} (data offset {err_off[0]})"
                )
            _check(status, f"Unable to read IPset from {where}")

        run(None, 0)
        n = int(count[0])
        raw = np.empty((n, 4), dtype=np.uint64)
        if n:
            run(raw, n)
        return cls._from_normalized(_normalize(raw), is_v6)


def _as_v4_keys(keys: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    arr = np.asarray(keys)
    if arr.ndim != 1:
        raise ValueError(f"Expected a 1-D array of IPv4 keys, got {arr.shape}")
    if arr.dtype == np.uint32:
        return np.ascontiguousarray(arr)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"Expected integer IPv4 keys, got {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > ipa.MAX_V4):
        raise IPSetError("IPv4 key out of range 0..2^32-1")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def _parse_item(item: Any) -> tuple[int, int, bool]:
    """``(low, high, is_v6)`` of one IPSet constructor item."""
    if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
        v6 = isinstance(item, ipaddress.IPv6Network)
        return int(item.network_address), int(item.broadcast_address), v6
    if isinstance(item, tuple) and len(item) == 2:
        lo, lo_v6 = ipa.address_key(item[0])
        hi, hi_v6 = ipa.address_key(item[1])
        return _mixed_range(lo, lo_v6, hi, hi_v6, item)
    if isinstance(item, str):
        text = item.strip()
        if "-" in text:
            lo_text, _, hi_text = text.partition("-")
            try:
                lo, lo_v6 = ipa.parse_ip(lo_text)
                hi, hi_v6 = ipa.parse_ip(hi_text)
            except ValueError as exc:
                raise IPSetError(f"Invalid IP range '{item}': {exc}") from None
            return _mixed_range(lo, lo_v6, hi, hi_v6, item)
        try:
            value, prefix, v6 = ipa.parse_cidr(text)
        except ValueError as exc:
            raise IPSetError(f"Invalid IP '{item}': {exc}") from None
        lo, hi = ipa.cidr_range(value, prefix, 128 if v6 else 32)
        return lo, hi, v6
    try:
        value, v6 = ipa.address_key(item)
    except ValueError as exc:
        raise IPSetError(f"Invalid IP '{item}': {exc}") from None
    return value, value, v6


def _mixed_range(
    lo: int, lo_v6: bool, hi: int, hi_v6: bool, item: Any
) -> tuple[int, int, bool]:
    if lo_v6 != hi_v6:
        lo = lo if lo_v6 else ipa.V4_MAPPED_BASE | lo
        hi = hi if hi_v6 else ipa.V4_MAPPED_BASE | hi
    if lo > hi:
        raise IPSetError(f"Invalid IP range '{item}': min > max")
    return lo, hi, lo_v6 or hi_v6


# --------------------------------------------------------------------------
# rwsetbuild's input


_WILDCARD_PART = re.compile(
    r"(?:x|X|[0-9]+(?:-[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?)*)\Z"
)


def _wildcard_octet(part: str) -> list[tuple[int, int]]:
    if part in ("x", "X"):
        return [(0, 255)]
    runs = []
    for piece in part.split(","):
        lo_text, dash, hi_text = piece.partition("-")
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if lo > 255 or hi > 255 or lo > hi:
            raise ValueError(f"Invalid octet value '{piece}'")
        runs.append((lo, hi))
    runs.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in runs:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _wildcard_ranges(
    octets: list[list[tuple[int, int]]],
) -> list[tuple[int, int]]:
    """Ranges of an IPv4 wildcard, merging whole trailing octets."""
    if len(octets) == 1:
        return octets[0]
    tail = _wildcard_ranges(octets[1:])
    span = 256 ** (len(octets) - 1)
    out: list[tuple[int, int]] = []
    full_tail = tail == [(0, span - 1)]
    for lo, hi in octets[0]:
        if full_tail:
            out.append((lo * span, (hi + 1) * span - 1))
            continue
        for value in range(lo, hi + 1):
            out.extend((value * span + a, value * span + b) for a, b in tail)
    return out


def parse_ipset_text(
    text: str, *, ip_ranges: bool = False, path: str | None = None
) -> IPSet:
    """Build a set from rwsetbuild input (spec 5.8).

    Each line holds an address or CIDR block, or an IPv4 SiLK wildcard
    (``10.0.0.x``, ``172.16.0.1-6``, ``10.1,3.0.0``); with ``ip_ranges``
    a ``LOW-HIGH`` range instead of wildcards.  ``#`` starts a comment.
    Raises :class:`IPSetError` naming ``path:line`` for a bad line.
    """
    items: list[tuple[int, int, bool]] = []
    where = path if path is not None else "<input>"
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            items.extend(_parse_setbuild_line(line, ip_ranges))
        except (IPSetError, ValueError) as exc:
            raise IPSetError(f"{where}:{lineno}: {exc}") from None
    # like rwsetbuild: the set turns IPv6 only for a non-mappable address
    is_v6 = any(map(_needs_v6, items))
    return IPSet._from_normalized(_normalize(_rows(items, is_v6)), is_v6)


def _parse_setbuild_line(
    line: str, ip_ranges: bool
) -> list[tuple[int, int, bool]]:
    """The ranges of one rwsetbuild input line."""
    if ip_ranges and "-" in line:
        lo_text, _, hi_text = line.partition("-")
        try:
            lo, lo_v6 = ipa.parse_ip(lo_text)
        except ValueError as exc:
            raise IPSetError(f"Invalid minimum IP: {exc}") from None
        try:
            hi, hi_v6 = ipa.parse_ip(hi_text)
        except ValueError as exc:
            raise IPSetError(f"Invalid maximum IP: {exc}") from None
        return [_mixed_range(lo, lo_v6, hi, hi_v6, line)]
    try:
        value, prefix, v6 = ipa.parse_cidr(line)
    except ValueError as exc:
        parts = line.split(".")
        if (
            ip_ranges
            or len(parts) != 4
            or not all(_WILDCARD_PART.match(p) for p in parts)
        ):
            raise IPSetError(f"Invalid IP '{line}': {exc}") from None
        octets = [_wildcard_octet(p) for p in parts]
        return [(lo, hi, False) for lo, hi in _wildcard_ranges(octets)]
    lo, hi = ipa.cidr_range(value, prefix, 128 if v6 else 32)
    return [(lo, hi, v6)]


# --------------------------------------------------------------------------
# rwsetcat's output


def _addr_text(value: int, is_v6: bool) -> str:
    return ipa.format_ip(value, is_v6, unmap=True)


def _block_text(value: int, prefix: int, is_v6: bool) -> str:
    if prefix == (128 if is_v6 else 32):
        return _addr_text(value, is_v6)
    return ipa.format_cidr(value, prefix, is_v6, unmap=True)


def format_rwsetcat(
    ipset: IPSet,
    *,
    cidr_blocks: bool | None = None,
    ip_ranges: bool = False,
    count_ips: bool = False,
    print_statistics: bool = False,
    print_ips: bool = False,
) -> str:
    """Return what ``rwsetcat`` prints for a (normalised) set file.

    ``cidr_blocks`` None is rwsetcat's default (addresses one per line
    for an IPv4 set, CIDR blocks for an IPv6 set); True/False are
    ``--cidr-blocks=1``/``=0``.  Output order is rwsetcat's: count, then
    addresses or ranges, then statistics.  Beware: listing single
    addresses of a large IPv6 block prints every address, as rwsetcat
    does.

    SiLK 3.19.1's counter quirks are reproduced where they follow from
    the file's blocks (``--ip-ranges`` counts near 2^64, the IPv4 host
    total of a /1 or /0 block).  IPv6 ``--print-statistics`` counts are
    exact; rwsetcat's may be off once a level reaches 2^64 blocks.
    """
    if ip_ranges and cidr_blocks is not None:
        raise IPSetError(
            "Cannot combine the --ip-ranges and --cidr-blocks switches."
        )
    show_ips = print_ips or cidr_blocks is not None
    if ip_ranges:
        show_ips = False
    if not (print_statistics or count_ips or show_ips or ip_ranges):
        show_ips = True
    parts: list[str] = []
    if count_ips:
        parts.append(f"{ipset.cardinality()}\n")
    if show_ips:
        visit_cidr = ipset.is_ipv6 if cidr_blocks is None else cidr_blocks
        parts.append(_format_ips(ipset, visit_cidr))
    elif ip_ranges:
        parts.append(_format_ranges(ipset))
    if print_statistics:
        parts.append(_format_statistics(ipset))
    return "".join(parts)


def _format_ips(ipset: IPSet, visit_cidr: bool) -> str:
    is_v6 = ipset.is_ipv6
    lines: list[str] = []
    if visit_cidr:
        for value, prefix in ipset.iter_cidrs():
            lines.append(_block_text(value, prefix, is_v6))
    else:
        for start, end in ipset.iter_ranges():
            lines.extend(_addr_text(v, is_v6) for v in range(start, end + 1))
    return "".join(line + "\n" for line in lines)


def _silk_add(upper: int, lower: int, tmp: int) -> tuple[int, int]:
    """rwsetcat's two-word counter addition, quirk included.

    When ``lower + tmp`` is exactly 2^64 - 1 SiLK 3.19.1 carries anyway
    and keeps ``lower`` at 2^64 - 1, over-counting by 2^64; the text
    helpers reproduce it so that they stay an exact oracle.
    """
    if _MASK64 - tmp > lower:
        return upper, lower + tmp
    return (upper + 1) & _MASK64, (lower - (_MASK64 - tmp) - 1) & _MASK64


def _format_ranges(ipset: IPSet) -> str:
    """``rwsetcat --ip-ranges``: contiguous blocks joined, counted the way
    rwsetcat's callback counts them (over the file's CIDR blocks)."""
    is_v6 = ipset.is_ipv6
    width = 128 if is_v6 else 32
    count_w, ip_w = (39, 39) if is_v6 else (10, 15)
    lines: list[str] = []
    # state: start, end, count words (upper counts 2^64s; IPv4 uses lower)
    start = end = upper = lower = 0
    have = False

    def emit() -> None:
        count = ((upper << 64) | lower) if is_v6 else lower
        lines.append(
            f"{count:>{count_w}}|{_addr_text(start, is_v6):>{ip_w}}|"
            f"{_addr_text(end, is_v6):>{ip_w}}|\n"
        )

    for addr, prefix in ipset.iter_cidrs():
        last = addr + (1 << (width - prefix)) - 1
        if have and end + 1 == addr:
            end = last
            if not is_v6:
                # C adds an int here: a /1 is INT_MIN
                lower = (lower + _c_int_block_size(32 - prefix)) & _MASK64
            elif prefix <= 64:
                upper = (upper + (1 << (64 - prefix))) & _MASK64
            else:
                upper, lower = _silk_add(upper, lower, 1 << (128 - prefix))
            continue
        if have and (upper or lower):
            emit()
        have = True
        start, end = addr, last
        if not is_v6:
            upper, lower = 0, 1 << (32 - prefix)
        elif prefix <= 64:
            upper, lower = (1 << (64 - prefix)) & _MASK64, 0
        else:
            upper, lower = 0, 1 << (128 - prefix)
    if have and (upper or lower):
        emit()
    return "".join(lines)


def _occupied(ranges: list[tuple[int, int]], host_bits: int) -> int:
    """Number of distinct /N blocks (N = width - host_bits) touched."""
    total = 0
    last = -1
    for start, end in ranges:
        first, final = start >> host_bits, end >> host_bits
        if first == last:
            first += 1
        if final >= first:
            total += final - first + 1
        last = final
    return total


def _plural_comma(count: int, prefix: int) -> str:
    if count == 1:
        return ",  " if prefix < 10 else ", "
    return "s, " if prefix < 10 else "s,"


def _format_statistics(ipset: IPSet) -> str:
    ranges = list(ipset.iter_ranges())
    if not ipset.is_ipv6:
        return _format_statistics_v4(ipset, ranges)
    return _format_statistics_v6(ranges)


def _c_int_block_size(host_bits: int) -> int:
    """``1 << host_bits`` as rwsetcat's C computes it: in an ``int``,
    added to a uint64 (a /1 is INT_MIN, a /0 shifts by 32 -> 1)."""
    if host_bits == 32:
        return 1
    if host_bits == 31:
        return (1 << 64) - (1 << 31)
    return 1 << host_bits


def _format_statistics_v4(ipset: IPSet, ranges: list[tuple[int, int]]) -> str:
    levels = (8, 16, 24, 27)
    # the host total repeats rwsetcat's int arithmetic (exact below /1)
    hosts = 0
    for _, prefix in ipset.iter_cidrs():
        hosts = (hosts + _c_int_block_size(32 - prefix)) & _MASK64
    if ranges:
        low = ipa.format_ipv4(ranges[0][0])
        high = ipa.format_ipv4(ranges[-1][1])
    else:
        low = high = "-"
    lines = [
        "Network Summary",
        f"\tminimumIP = {low:>15}",
        f"\tmaximumIP = {high:>15}",
        f"\t{hosts:>10} host{' (/32),  ' if hosts == 1 else 's (/32s),'}  "
        f"{100.0 * hosts / 2.0**32:10.6f}% of 2^32",
    ]
    for prefix in levels:
        count = _occupied(ranges, 32 - prefix)
        lines.append(
            f"\t{count:>10} occupied /{prefix}"
            f"{_plural_comma(count, prefix)} "
            f"{100.0 * count / 2.0**prefix:10.6f}% of 2^{prefix}"
        )
    return "".join(line + "\n" for line in lines)


def _format_statistics_v6(ranges: list[tuple[int, int]]) -> str:
    hosts = sum(end - start + 1 for start, end in ranges)
    if ranges:
        low = ipa.format_ipv6(ranges[0][0])
        high = ipa.format_ipv6(ranges[-1][1])
    else:
        low = high = "-"
    lines = [
        "Network Summary",
        f"\tminimumIP = {low:>39}" if ranges else f"\tminimumIP = {low}",
        f"\tmaximumIP = {high:>39}" if ranges else f"\tmaximumIP = {high}",
    ]
    for prefix in range(8, 128, 8):
        # exact counts: they match rwsetcat, which iterates the set in
        # memory (its stream-order counter quirk does not show here)
        count = _occupied(ranges, 128 - prefix)
        if count < 1 << 64:
            plural = "" if count == 1 else "s"
            lines.append(f"\t{count:>39} occupied /{prefix}{plural}")
        else:
            # SiLK prints counts above 64 bits through a double
            upper, lower = count >> 64, count & _MASK64
            approx = float(upper) * 18446744073709551616.0 + float(lower)
            lines.append(f"\t{approx:>39.0f} occupied /{prefix}s")
    host_word = " (/128)" if hosts == 1 else "s (/128s)"
    lines.append(f"\t{hosts:>39} host{host_word}")
    return "".join(line + "\n" for line in lines)
