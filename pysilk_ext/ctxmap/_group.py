# SPDX-License-Identifier: MIT
"""Vectorised group-by over integer columns (no Python per row).

Rows are grouped by a 64-bit mix of their key columns, sorted with
NumPy's SIMD sort; every group is then checked against its first row, and
a collision (two keys, one hash) falls back to an exact lexicographic
sort.  The reductions (min, max, sum) run as ``ufunc.reduceat`` over the
sorted order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_U64 = np.uint64
_SEED = _U64(0x9E3779B97F4A7C15)
_MUL = _U64(0xBF58476D1CE4E5B9)
_SHIFT = _U64(31)

IntArray = npt.NDArray[np.integer]


def mix(cols: Sequence[IntArray]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each row of ``cols`` (splitmix-style)."""
    n = len(cols[0])
    h = np.full(n, _SEED, dtype=_U64)
    for col in cols:
        h ^= col.astype(_U64, copy=False)
        h *= _MUL
        h ^= h >> _SHIFT
    return h


class Grouping:
    """Rows of ``cols`` grouped by equal keys.

    ``order`` sorts the rows so that groups are contiguous; ``starts`` are
    the positions (in that order) where groups begin; ``first`` is one row
    index per group; ``inverse`` maps each row to its group.
    """

    __slots__ = ("inverse", "order", "starts")

    def __init__(self, cols: Sequence[IntArray]) -> None:
        n = len(cols[0])
        if n == 0:
            self.order = np.zeros(0, dtype=np.intp)
            self.starts = np.zeros(0, dtype=np.intp)
            self.inverse = np.zeros(0, dtype=np.intp)
            return
        h = mix(cols)
        order = np.argsort(h)
        hs = h[order]
        head = np.empty(n, dtype=bool)
        head[0] = True
        np.not_equal(hs[1:], hs[:-1], out=head[1:])
        if not self._consistent(cols, order, head):
            order = np.lexsort(tuple(cols)[::-1])
            head[1:] = False
            for col in cols:
                cs = col[order]
                head[1:] |= cs[1:] != cs[:-1]
        self.order = order
        self.starts = np.flatnonzero(head)
        gid = np.cumsum(head) - 1
        self.inverse = np.empty(n, dtype=np.intp)
        self.inverse[order] = gid

    @staticmethod
    def _consistent(
        cols: Sequence[IntArray],
        order: npt.NDArray[np.intp],
        head: npt.NDArray[np.bool_],
    ) -> bool:
        """True when every group's rows equal its first row (no collision)."""
        gid = np.cumsum(head) - 1
        rep = order[head]
        return all(np.array_equal(c[order], c[rep][gid]) for c in cols)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def first(self) -> npt.NDArray[np.intp]:
        """One row index per group (the group's first in sorted order)."""
        return self.order[self.starts]

    def min(self, values: IntArray) -> IntArray:
        """Minimum of ``values`` per group."""
        if len(self.starts) == 0:
            return values[:0]
        return np.minimum.reduceat(values[self.order], self.starts)

    def max(self, values: IntArray) -> IntArray:
        """Maximum of ``values`` per group."""
        if len(self.starts) == 0:
            return values[:0]
        return np.maximum.reduceat(values[self.order], self.starts)

    def sum(self, values: IntArray) -> IntArray:
        """Sum of ``values`` per group."""
        if len(self.starts) == 0:
            return values[:0]
        return np.add.reduceat(values[self.order], self.starts)
