# SPDX-License-Identifier: MIT
"""Address back-ends of the awsvpc plug-in: PySiLK's objects or plain Python.

The plug-in's per-record work is a handful of membership tests and dict
lookups on the record's addresses.  Inside rwfilter those must be
PySiLK's own C-implemented objects (``silk.IPSet``, hashing of
``silk.IPAddr``) so that a record costs no conversion at all; in unit
tests there is no PySiLK, so :class:`PythonBackend` offers the same
operations on :mod:`ipaddress` objects.  :mod:`pysilk_ext.plugin` never
touches an address type directly: it asks its back-end.

Both back-ends take sets as a normalised :class:`~pysilk_ext.silkfmt.
ipset.IPSet` (128-bit keys, IPv4 as ``::ffff:a.b.c.d``) and return an
object supporting ``addr in obj`` for the record's address objects.
"""

from __future__ import annotations

import bisect
import ipaddress
import os
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the IPset codec loads only when a filter needs a set
    from pysilk_ext.silkfmt.ipset import IPSet

__all__ = [
    "V4_MAPPED",
    "AddressBackend",
    "PythonBackend",
    "SilkBackend",
]

V4_MAPPED = 0xFFFF << 32
_V4_PAIR = struct.Struct(">QIIQII")  # two ::ffff:a.b.c.d addresses
_DEFAULT_ROOTDIR = "/data"  # SiLK's compiled-in default data root


def _is_mapped(key: int) -> bool:
    """True for a 128-bit key in ``::ffff:0:0/96``."""
    return key >> 32 == 0xFFFF


class AddressBackend(Protocol):
    """What :mod:`pysilk_ext.plugin` needs from the address world."""

    def make_set(self, ipset: IPSet) -> Any:
        """A container answering ``addr in obj`` for record addresses."""

    def keys(self, key128: int) -> list[Any]:
        """Dict keys under which a record address equal to ``key128``
        (IPv4 as ``::ffff:``) may arrive (both forms for IPv4)."""

    def pack_pair(self, rec: Any, buf: Any) -> None:
        """Write the record's sIP and dIP (16 bytes each, network order,
        IPv4 as ``::ffff:a.b.c.d``) into the writable 32-byte ``buf``."""

    def sensor_description(self, name: str) -> str | None:
        """The site's description of sensor ``name`` (None if unknown)."""

    def data_rootdir(self) -> str:
        """The SiLK data root directory (``SILK_DATA_ROOTDIR`` honoured)."""


class _RangeSet:
    """Sorted disjoint 128-bit ranges with bisect membership."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ipset: IPSet) -> None:
        wide = ipset if ipset.is_ipv6 else ipset.as_ipv6()
        pairs = list(wide.iter_ranges())
        self._starts = [lo for lo, _ in pairs]
        self._ends = [hi for _, hi in pairs]

    def __contains__(self, addr: object) -> bool:
        key = _py_key(addr)
        i = bisect.bisect_right(self._starts, key) - 1
        return i >= 0 and key <= self._ends[i]

    def __len__(self) -> int:
        return len(self._starts)


def _py_key(addr: object) -> int:
    """128-bit key of an :mod:`ipaddress` address (IPv4 mapped)."""
    if isinstance(addr, ipaddress.IPv4Address):
        return V4_MAPPED | int(addr)
    if isinstance(addr, ipaddress.IPv6Address):
        return int(addr)
    raise TypeError(
        f"Expected an IPv4Address or IPv6Address, got {type(addr).__name__}"
    )


class PythonBackend:
    """Plain-Python back-end: records carry :mod:`ipaddress` objects.

    Used by the unit tests (fake records) and by anything driving the
    plug-in logic outside SiLK.  ``rootdir`` and ``descriptions`` stand in
    for the site configuration.
    """

    def __init__(
        self,
        *,
        rootdir: str | None = None,
        descriptions: dict[str, str] | None = None,
    ) -> None:
        self._rootdir = rootdir
        self._descriptions = dict(descriptions or {})

    def make_set(self, ipset: IPSet) -> _RangeSet:
        """A bisect-based container of ``ipset``'s ranges."""
        return _RangeSet(ipset)

    def keys(self, key128: int) -> list[Any]:
        """IPv4 addresses arrive as IPv4Address or as the mapped IPv6."""
        v6 = ipaddress.IPv6Address(key128)
        if _is_mapped(key128):
            return [ipaddress.IPv4Address(key128 & 0xFFFFFFFF), v6]
        return [v6]

    def pack_pair(self, rec: Any, buf: Any) -> None:
        """Both addresses as 16 network-order bytes each."""
        buf[0:16] = _py_key(rec.sip).to_bytes(16, "big")
        buf[16:32] = _py_key(rec.dip).to_bytes(16, "big")

    def sensor_description(self, name: str) -> str | None:
        """From the ``descriptions`` given at construction."""
        return self._descriptions.get(name)

    def data_rootdir(self) -> str:
        """``rootdir`` if given, else ``SILK_DATA_ROOTDIR``, else /data."""
        if self._rootdir is not None:
            return self._rootdir
        return os.environ.get("SILK_DATA_ROOTDIR") or _DEFAULT_ROOTDIR


class SilkBackend:
    """PySiLK back-end: ``silk.IPSet`` membership, ``silk.IPAddr`` keys.

    ``silk`` is imported here, lazily, so that importing
    :mod:`pysilk_ext` never needs PySiLK.  Sets are handed to PySiLK as an
    IPset file written by :mod:`pysilk_ext.silkfmt.ipset` and read with
    ``silk.IPSet.load`` (C), which is much faster than adding a large
    number of addresses one call at a time.
    """

    def __init__(self) -> None:
        # PySiLK ships no type information (and CI may not have it).
        import silk  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        import silk.site  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        self._silk = silk
        self._site = silk.site
        self._pack = _V4_PAIR.pack_into

    def make_set(self, ipset: IPSet) -> Any:
        """A ``silk.IPSet`` (IPv4 set when every address is IPv4)."""
        silk = self._silk
        if not ipset:
            return silk.IPSet()
        if ipset.is_ipv6 and not ipset.contains_v6():
            ipset = ipset.as_ipv4()
        fd, tmp = tempfile.mkstemp(prefix="awsvpc-", suffix=".set")
        os.close(fd)
        try:
            ipset.write(tmp)
            return silk.IPSet.load(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def keys(self, key128: int) -> list[Any]:
        """``silk.IPv4Addr`` and ``silk.IPv6Addr`` hash differently even
        when equal, so an IPv4 address is keyed under both."""
        silk = self._silk
        v6 = silk.IPv6Addr(key128)
        if _is_mapped(key128):
            return [silk.IPv4Addr(key128 & 0xFFFFFFFF), v6]
        return [v6]

    def pack_pair(self, rec: Any, buf: Any) -> None:
        """IPv4 records: one ``struct.pack_into`` (``int(IPv4Addr)`` is
        cheap); IPv6 records: ``int(IPv6Addr)``, which is slower."""
        if rec.is_ipv6():
            buf[0:16] = int(rec.sip).to_bytes(16, "big")
            buf[16:32] = int(rec.dip).to_bytes(16, "big")
        else:
            self._pack(
                buf, 0, 0, 0xFFFF, int(rec.sip), 0, 0xFFFF, int(rec.dip)
            )

    def sensor_description(self, name: str) -> str | None:
        """``silk.site.sensor_description`` (None when unknown)."""
        try:
            text = self._site.sensor_description(name)
        except Exception:  # no site config, unknown name: no description
            return None
        return text or None

    def data_rootdir(self) -> str:
        """``silk.site.get_data_rootdir()`` (honours SILK_DATA_ROOTDIR)."""
        return str(self._site.get_data_rootdir())
