# SPDX-License-Identifier: MIT
"""Big buffers reused once nothing refers to them any more.

Why: the reader needs a few MiB of fresh memory per chunk (a block of
input, the batch's arrays).  Fresh memory is fresh pages: glibc hands big
freed blocks back to the kernel, and the next chunk faults them in (and
the kernel zeroes them) again -- on plain text that cost the reader about
a third of its time.  Handing the same buffers out again avoids it.

A buffer is handed out again only when no object made from it is alive:
NumPy views and memoryviews hold a reference to the object that owns the
memory, so its reference count says whether anything still uses it.  A
batch or chunk that a consumer keeps is therefore never overwritten; the
pool just allocates another buffer.  (``sys.getrefcount`` is CPython's;
so is the rest of this package's C binding.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sized
from typing import Generic, TypeVar

__all__ = ["ReusePool"]

B = TypeVar("B", bound=Sized)


class ReusePool(Generic[B]):
    """Hands out buffers of at least ``nbytes``, reusing idle ones.

    Args:
        make: allocates a buffer of the given size (``bytearray``, or a
            NumPy ``empty`` of uint8).
        keep: buffers kept at most (chunks in flight at once, plus one);
            beyond that, buffers are allocated and forgotten.
        slack: extra fraction allocated, so that slightly larger requests
            reuse a buffer too.

    A pool is not thread-safe: use one per thread (or per input).
    """

    def __init__(
        self, make: Callable[[int], B], *, keep: int, slack: float = 0.0
    ) -> None:
        self._make = make
        self._keep = keep
        self._slack = slack
        self._buffers: list[B] = []

    def take(self, nbytes: int) -> B:
        """Return a buffer of at least ``nbytes`` that nothing refers to."""
        small = -1
        buffers = self._buffers
        for i in range(len(buffers)):
            # referenced by the list and by getrefcount's argument only
            if sys.getrefcount(buffers[i]) <= 2:
                if len(buffers[i]) >= nbytes:
                    return buffers[i]
                small = i  # idle but too small: replace it
        new = self._make(nbytes + int(nbytes * self._slack))
        if small >= 0:
            self._buffers[small] = new
        elif len(self._buffers) < self._keep:
            self._buffers.append(new)
        return new
