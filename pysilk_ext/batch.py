# SPDX-License-Identifier: MIT
"""Columnar batches of parsed VPC Flow Log records.

This is the contract between the reader (which fills batches in C) and
everything downstream (context map, converter, statistics).  No Python
object is made per field: every column is a NumPy array of ``n`` rows.

Column kinds, by the field's type in :mod:`pysilk_ext.fields`:

* integers (``srcport``, ``packets``, ``start``, ``tcp-flags`` ...):
  ``int64`` arrays, ``-1`` where the log had ``-`` (missing);
* addresses (``srcaddr``, ``dstaddr``, ``pkt-srcaddr``, ``pkt-dstaddr``):
  :class:`AddrColumn` -- 16 bytes in network order per row (IPv4 as the
  IPv4-mapped ``::ffff:a.b.c.d``) plus a family byte (0 missing, 4, 6);
* enumerations (``action``, ``log-status``, ``flow-direction``, ``type``):
  ``uint8`` codes of the matching ``IntEnum`` in :mod:`pysilk_ext.fields`,
  ``0`` = missing;
* strings (ids, names, unknown future fields): :class:`StrColumn` --
  ``uint32`` codes into ``values``; code 0 (``values[0] == ""``) = missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(slots=True)
class AddrColumn:
    """IPv4/IPv6 addresses of one column."""

    addr: npt.NDArray[np.uint8]  # shape (n, 16), network byte order
    family: npt.NDArray[np.uint8]  # shape (n,), 0 missing, 4 or 6


@dataclass(slots=True)
class StrColumn:
    """Dictionary-encoded strings of one column."""

    codes: npt.NDArray[np.uint32]  # shape (n,), index into values
    values: list[str]  # values[0] == "" means missing

    def decode(self) -> list[str | None]:
        """Return the column as Python strings (``None`` for missing)."""
        vals: list[str | None] = [None, *self.values[1:]]
        return [vals[c] for c in self.codes.tolist()]


@dataclass(slots=True)
class FlowBatch:
    """``n`` consecutive good records of one input, column by column.

    ``lineno`` holds each record's 1-based line (or row) number in
    ``source`` so that any consumer can point an analyst back at the input.
    Batches hold every well-formed record, NODATA and SKIPDATA included;
    consumers select on the ``log-status`` column.
    """

    source: str
    n: int
    lineno: npt.NDArray[np.uint64]
    columns: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.n
