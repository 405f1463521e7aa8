# SPDX-License-Identifier: MIT
"""Remove copies of a flow logged on several monitored interfaces.

A connection between two monitored interfaces is logged twice: egress on
the sender's interface and ingress on the receiver's (four times through
a transit gateway, twice more through a NAT gateway's interface).  The
copies share the packet-level 5-tuple (sIP/dIP hold ``pkt-*``, so even
the hop into a NAT gateway matches) and overlap in time, but each
interface has its own capture windows: a 60 s window on one interface
can straddle two on the other, and each window's ``start``/``end`` lag
the packets by up to 60 s.  So copies are found by interface, 5-tuple
and window -- never by 5-tuple alone:

1. Records are grouped by (sIP, dIP, sPort, dPort, protocol, REJECT or
   not).  Records of one interface are never compared with each other.
2. Within a group, records whose windows, widened by ``dedup.slack``
   seconds on each side, overlap (transitively) form a cluster.
3. A cluster holding records of two or more interfaces is one flow seen
   several times: the records of one interface are kept -- the one that
   already had records kept in an earlier batch, else the one with the
   most packets (ties: the lower interface number) -- and the others
   are removed and counted.

Across batches the kept records of the last ``dedup.horizon`` seconds
(bounded by ``dedup.max-entries``) are remembered and take part in step
2, so copies in different files are found when the files are converted
within the horizon of each other.  A kept record is never revisited: the
first interface seen wins across batches.

Limit: two distinct connections reusing one 5-tuple on two interfaces
within the slack are taken for one.  With ephemeral source ports this is
rare; set ``dedup.slack`` to 0 to require real overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pysilk_ext.convert.config import DedupConfig
from pysilk_ext.errors import CoreError

__all__ = ["Deduplicator"]


def _key_columns(
    recs: npt.NDArray[np.void], reject: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint64]:
    """Return the 5-tuple + action key as 5 uint64 columns, shape (n, 5)."""
    n = len(recs)
    out = np.empty((n, 5), dtype=np.uint64)
    for i, name in enumerate(("sip", "dip")):
        raw = np.ascontiguousarray(recs[name])
        out[:, 2 * i] = raw[:, :8].copy().view(">u8").reshape(-1)
        out[:, 2 * i + 1] = raw[:, 8:].copy().view(">u8").reshape(-1)
    out[:, 4] = (
        (recs["proto"].astype(np.uint64) << np.uint64(40))
        | (recs["sport"].astype(np.uint64) << np.uint64(24))
        | (recs["dport"].astype(np.uint64) << np.uint64(8))
        | reject.astype(np.uint64)
    )
    return out


def _hash_keys(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Return a 64-bit hash of each key row (FNV-style over the words).

    Sorting one hash instead of five columns is several times faster;
    equal keys always hash equal, and rows of different keys that share
    a hash are still told apart by the full comparison after sorting.
    """
    h = np.full(len(keys), 0xCBF29CE484222325, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    shift = np.uint64(29)
    for j in range(keys.shape[1]):
        h ^= keys[:, j]
        h *= prime
        h ^= h >> shift
    return h


@dataclass(slots=True)
class _Memory:
    """Kept records of recent batches (columns only)."""

    keys: npt.NDArray[np.uint64] = field(
        default_factory=lambda: np.empty((0, 5), dtype=np.uint64)
    )
    t0: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.empty(0, dtype=np.int64)
    )
    t1: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.empty(0, dtype=np.int64)
    )
    iface: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.empty(0, dtype=np.int64)
    )
    packets: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.empty(0, dtype=np.int64)
    )


class Deduplicator:
    """Finds and drops copies of flows (see the module doc)."""

    def __init__(self, config: DedupConfig | None = None) -> None:
        self.config = config or DedupConfig()
        self.removed = 0
        self._memory = _Memory()
        self._latest = np.iinfo(np.int64).min

    def __len__(self) -> int:
        """Return how many kept records are remembered across batches."""
        return len(self._memory.t0)

    def keep_mask(
        self,
        recs: npt.NDArray[np.void],
        iface: npt.NDArray[np.int64],
        reject: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_]:
        """Return True for the records of ``recs`` to keep.

        ``iface`` numbers the interface that logged each record (stable
        across batches); ``reject`` marks REJECT records.
        """
        n = len(recs)
        if n == 0:
            return np.ones(0, dtype=bool)
        slack = np.int64(self.config.slack) * 1000
        mem = self._memory
        m = len(mem.t0)
        keys = np.concatenate([mem.keys, _key_columns(recs, reject)])
        stime = recs["stime"].astype(np.int64)
        t0 = np.concatenate([mem.t0, stime - slack])
        t1 = np.concatenate(
            [mem.t1, stime + recs["elapsed"].astype(np.int64) + slack]
        )
        owner = np.concatenate([mem.iface, iface.astype(np.int64)])
        packets = np.concatenate(
            [mem.packets, recs["packets"].astype(np.int64)]
        )
        is_prev = np.arange(m + n) < m

        # sort by (key hash, start); groups are runs of equal full keys
        hashed = _hash_keys(keys)
        order = np.lexsort((t0, hashed))
        k = keys[order]
        h = hashed[order]
        new_group = np.ones(len(order), dtype=bool)
        new_group[1:] = (h[1:] != h[:-1]) | np.any(k[1:] != k[:-1], axis=1)
        group = np.cumsum(new_group) - 1
        # running maximum of window ends, restarted at each group: times
        # are made relative to the group's first start and tagged with
        # the group number in the high bits, so one accumulate does it
        o_t0 = t0[order]
        group_base = o_t0[np.flatnonzero(new_group)][group]
        rel0 = o_t0 - group_base
        rel1 = t1[order] - group_base
        time_bits = max(int(rel1.max()).bit_length(), 1)
        if time_bits + int(group[-1]).bit_length() > 62:
            raise CoreError(
                "De-duplication keys do not fit 63 bits; please report"
            )
        tagged = (group.astype(np.int64) << time_bits) | rel1
        running = np.maximum.accumulate(tagged)
        mask = (1 << time_bits) - 1
        new_cluster = new_group.copy()
        new_cluster[1:] |= rel0[1:] > (running[:-1] & mask)
        cluster = np.cumsum(new_cluster) - 1

        # only clusters logged by two or more interfaces hold copies
        o_owner = owner[order]
        starts = np.flatnonzero(new_cluster)
        multi = np.minimum.reduceat(o_owner, starts) != np.maximum.reduceat(
            o_owner, starts
        )
        keep_sorted = np.ones(len(order), dtype=bool)
        sel = np.flatnonzero(multi[cluster])
        if len(sel):
            keep_sorted[sel] = self._choose(
                cluster[sel], o_owner[sel], packets[order][sel],
                is_prev[order][sel],
            )  # fmt: skip
        keep_all = np.empty(m + n, dtype=bool)
        keep_all[order] = keep_sorted
        keep = keep_all[m:]
        self.removed += int(n - np.count_nonzero(keep))
        self._remember(
            keys=keys[m:],
            t0=t0[m:],
            t1=t1[m:],
            owner=owner[m:],
            packets=packets[m:],
            keep=keep,
        )
        return keep

    @staticmethod
    def _choose(
        cluster: npt.NDArray[np.int64],
        owner: npt.NDArray[np.int64],
        packets: npt.NDArray[np.int64],
        is_prev: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_]:
        """Return True for the rows of each cluster's chosen interface.

        The interface that already had records kept wins; else the one
        with the most packets; ties go to the lower interface number.
        """
        pair_key = (cluster.astype(np.int64) << 32) | owner
        pairs, inverse = np.unique(pair_key, return_inverse=True)
        inverse = inverse.reshape(-1)
        pkt_sum = np.bincount(inverse, weights=packets)
        prev_sum = np.bincount(inverse, weights=is_prev)
        score = np.where(prev_sum > 0, np.inf, pkt_sum)
        pair_cluster = pairs >> 32
        pair_owner = pairs & 0xFFFF_FFFF
        best = np.lexsort((pair_owner, -score, pair_cluster))
        first = np.ones(len(best), dtype=bool)
        first[1:] = pair_cluster[best[1:]] != pair_cluster[best[:-1]]
        chosen = np.zeros(len(pairs), dtype=bool)
        chosen[best[first]] = True
        picked: npt.NDArray[np.bool_] = chosen[inverse]
        return picked

    def _remember(
        self,
        *,
        keys: npt.NDArray[np.uint64],
        t0: npt.NDArray[np.int64],
        t1: npt.NDArray[np.int64],
        owner: npt.NDArray[np.int64],
        packets: npt.NDArray[np.int64],
        keep: npt.NDArray[np.bool_],
    ) -> None:
        """Add kept records to the memory; forget old and excess ones."""
        mem = self._memory
        if len(t1):
            self._latest = max(self._latest, int(t1.max()))
        horizon = np.int64(self.config.horizon) * 1000
        all_t1 = np.concatenate([mem.t1, t1[keep]])
        fresh = all_t1 >= self._latest - horizon
        self._memory = _Memory(
            np.concatenate([mem.keys, keys[keep]])[fresh],
            np.concatenate([mem.t0, t0[keep]])[fresh],
            all_t1[fresh],
            np.concatenate([mem.iface, owner[keep]])[fresh],
            np.concatenate([mem.packets, packets[keep]])[fresh],
        )
        excess = len(self._memory.t1) - self.config.max_entries
        if excess > 0:
            newest = np.argsort(self._memory.t1, kind="stable")[excess:]
            newest.sort()
            mem = self._memory
            self._memory = _Memory(
                mem.keys[newest],
                mem.t0[newest],
                mem.t1[newest],
                mem.iface[newest],
                mem.packets[newest],
            )
