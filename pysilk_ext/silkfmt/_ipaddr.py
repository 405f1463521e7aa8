# SPDX-License-Identifier: MIT
"""Address text in SiLK's spelling, the 128-bit key helpers, and the
rest that prefix maps and IPsets share (their C core, byte order, atomic
writes).

Prefix maps and IPsets both speak in integer keys: an IPv4 address is a
32-bit integer, an IPv6 address a 128-bit one, and IPv4 inside an IPv6
context is the IPv4-mapped ``::ffff:a.b.c.d``.  The C core receives
128-bit keys as two native ``uint64`` (upper half first).

Text follows SiLK: dotted quads (or a plain integer) for IPv4, and
glibc's ``inet_ntop`` for IPv6 (``::ffff:10.0.5.5``, not Python's
``::ffff:a00:505``), which ``socket.inet_ntop`` reproduces.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext import _binding
from pysilk_ext.errors import PysilkExtError
from pysilk_ext.silkfmt.header import ByteOrder

#: ``::ffff:0.0.0.0``, the base of the IPv4-mapped block ``::ffff:0:0/96``.
V4_MAPPED_BASE = 0xFFFF << 32
MAX_V4 = (1 << 32) - 1
MAX_V6 = (1 << 128) - 1
_MASK64 = (1 << 64) - 1

AddressLike = str | int | ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ipv4(text: str) -> int:
    """Return the IPv4 address in ``text`` (dotted quad or integer).

    Raises:
        ValueError: with SiLK's reason text.
    """
    text = text.strip()
    if not text:
        raise ValueError("Input is empty")
    if text.isdigit() and text.isascii():
        value = int(text)
        if value > MAX_V4:
            raise ValueError("Value above maximum")
        return value
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError("Expected four octets in IPv4 address")
    value = 0
    for part in parts:
        if not (part.isdigit() and part.isascii()) or int(part) > 255:
            raise ValueError(f"Invalid octet '{part}' in IPv4 address")
        value = (value << 8) | int(part)
    return value


def parse_ip(text: str) -> tuple[int, bool]:
    """Return ``(value, is_v6)`` for an IPv4 or IPv6 address text.

    Like SiLK's parser, the address is IPv6 when a ':' comes before any
    '.'; ``::ffff:10.0.0.1`` stays IPv6 (is_v6 True).
    """
    text = text.strip()
    colon = text.find(":")
    dot = text.find(".")
    if colon < 0 or (0 <= dot < colon):
        return parse_ipv4(text), False
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        raise ValueError("Invalid IPv6 address") from None
    return int.from_bytes(packed, "big"), True


def parse_cidr(text: str, *, min_prefix: int = 0) -> tuple[int, int, bool]:
    """Return ``(address, prefix, is_v6)`` of ``ADDR[/PREFIX]``.

    Host bits may be set (they are masked by the caller's range
    computation, as SiLK does).  A bare address is a /32 or /128.
    """
    addr_text, slash, prefix_text = text.strip().partition("/")
    value, is_v6 = parse_ip(addr_text)
    width = 128 if is_v6 else 32
    if not slash:
        return value, width, is_v6
    if not (prefix_text.isdigit() and prefix_text.isascii()):
        raise ValueError(f"Invalid CIDR prefix '{prefix_text}'")
    prefix = int(prefix_text)
    if not min_prefix <= prefix <= width:
        raise ValueError(
            f"CIDR prefix {prefix} is not between {min_prefix} and {width}"
        )
    return value, prefix, is_v6


def cidr_range(value: int, prefix: int, width: int) -> tuple[int, int]:
    """Return the first and last key of ``value/prefix``."""
    host = width - prefix
    mask = (1 << host) - 1
    return value & ~mask, value | mask


def address_key(addr: AddressLike) -> tuple[int, bool]:
    """Return ``(value, is_v6)`` for a text, ipaddress object or integer.

    Plain integers are IPv4 when below 2^32, as SiLK parses them.
    """
    if isinstance(addr, bool):
        raise TypeError("Expected an address, got bool")
    if isinstance(addr, int):
        if not 0 <= addr <= MAX_V6:
            raise ValueError(f"Address value {addr} is out of range")
        return addr, addr > MAX_V4
    if isinstance(addr, ipaddress.IPv4Address):
        return int(addr), False
    if isinstance(addr, ipaddress.IPv6Address):
        return int(addr), True
    if isinstance(addr, str):
        return parse_ip(addr)
    raise TypeError(f"Expected an address, got {type(addr).__name__}")


def unmap_v4(value: int) -> int | None:
    """Return the IPv4 address of an IPv4-mapped IPv6 key, else None."""
    if value >> 32 == 0xFFFF:
        return value & MAX_V4
    return None


def format_ipv4(value: int) -> str:
    """Dotted-quad text of a 32-bit value."""
    return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))


def format_ipv6(value: int) -> str:
    """inet_ntop text of a 128-bit value (SiLK's canonical form)."""
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def format_ip(value: int, is_v6: bool, *, unmap: bool = False) -> str:
    """Text of an address; ``unmap`` prints ``::ffff:a.b.c.d`` as IPv4."""
    if not is_v6:
        return format_ipv4(value)
    if unmap:
        v4 = unmap_v4(value)
        if v4 is not None:
            return format_ipv4(v4)
    return format_ipv6(value)


def format_cidr(
    value: int, prefix: int, is_v6: bool, *, unmap: bool = False
) -> str:
    """``ADDR/PREFIX`` text; with ``unmap`` blocks inside ::ffff:0:0/96
    are printed as IPv4 blocks (SiLK's ``unmap-v6`` format)."""
    if is_v6 and unmap and prefix >= 96:
        v4 = unmap_v4(value)
        if v4 is not None:
            return f"{format_ipv4(v4)}/{prefix - 96}"
    return f"{format_ip(value, is_v6)}/{prefix}"


def keys128(values: list[int]) -> npt.NDArray[np.uint64]:
    """Return 128-bit keys as an ``(n, 2)`` native uint64 array."""
    out = np.empty((len(values), 2), dtype=np.uint64)
    for i, v in enumerate(values):
        out[i, 0] = v >> 64
        out[i, 1] = v & _MASK64
    return out


def as_keys128(addrs: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """Normalise a batch of 128-bit keys for the C core.

    Accepts ``(n, 2)`` unsigned 64-bit (upper half first) or ``(n, 16)``
    uint8 addresses in network order (the :class:`~pysilk_ext.batch.
    AddrColumn` layout).
    """
    arr = np.asarray(addrs)
    if arr.ndim == 2 and arr.shape[1] == 16 and arr.dtype == np.uint8:
        be = np.ascontiguousarray(arr).view(">u8").reshape(-1, 2)
        return np.ascontiguousarray(be.astype(np.uint64))
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.dtype.kind == "u":
        return np.ascontiguousarray(arr, dtype=np.uint64)
    raise TypeError(
        "Expected 128-bit keys as an (n, 2) uint64 or (n, 16) uint8 array, "
        f"got shape {arr.shape} of {arr.dtype}"
    )


def key_from_pair(hi: int, lo: int) -> int:
    """The 128-bit key of an (upper, lower) pair."""
    return (int(hi) << 64) | int(lo)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted writer
    leaves the previous file (if any) in place.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600; give the file the mode open() would have
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the C core and the host -------------------------------------------------


def core() -> Any:
    """The ``pmap`` cffi module (prefix trees and IPset codecs)."""
    return _binding.load("pmap")


def check(status: int, context: str, error: type[PysilkExtError]) -> None:
    """Raise for a failed call into :func:`core`: MemoryError when C ran
    out of memory, else ``error`` with ``context`` and the status text."""
    mod = core()
    if status == mod.lib.PSE_OK:
        return
    if status == mod.lib.PSE_ERR_NOMEM:
        raise MemoryError(context)
    _binding.check(mod, status, error, context)


def native_order() -> ByteOrder:
    """This host's byte order, as SiLK headers name it."""
    return "little" if sys.byteorder == "little" else "big"
