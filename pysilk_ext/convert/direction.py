# SPDX-License-Identifier: MIT
"""Flow direction of records whose log has no ``flow-direction``.

Versions 2-4 of VPC Flow Logs do not say whether a record is ingress or
egress at its interface, yet the direction decides ``innull`` versus
``outnull`` and which of ``srcaddr``/``dstaddr`` is the interface's own
address.  The rules, first that decides wins (all vectorised):

1. AWS rewrites only the interface side: ``srcaddr != pkt-srcaddr`` means
   the interface sent it (egress); ``dstaddr != pkt-dstaddr`` means it
   received it (ingress).
2. The interface's own address, once known: learned exactly from records
   that do carry ``flow-direction`` (``srcaddr`` on egress, ``dstaddr``
   on ingress) and, for logs without it, as the address that appears in
   every record of the interface within a batch (AWS writes the primary
   private address of the interface on its side of every record) when
   exactly one address does.  Kept across batches in an
   :class:`InterfaceAddressBook`; records with ``flow-direction`` teach
   it only in batches that also hold records without.
3. The context map: the side whose address belongs to a monitored
   interface.
4. Configured internal networks: internal destination and external
   source is ingress, and the reverse is egress.
5. The configured default (``classify.default-direction``, ingress --
   REJECT volume is dominated by inbound scans).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from pysilk_ext.batch import StrColumn
from pysilk_ext.convert.addrs import Addr16, BoolArray, is_v4_mapped
from pysilk_ext.convert.layout import INPUT_EGRESS, INPUT_INGRESS

__all__ = ["InterfaceAddressBook", "infer_direction"]

MaskFn = Callable[[Addr16], BoolArray]


def _pair_keys(
    codes: npt.NDArray[np.uint32], addr: Addr16
) -> npt.NDArray[np.void]:
    """Return (interface code, address) rows as 20-byte void values."""
    buf = np.empty((len(codes), 20), dtype=np.uint8)
    buf[:, :4] = codes.astype(">u4").view(np.uint8).reshape(-1, 4)
    buf[:, 4:] = addr
    return buf.view("V20").reshape(-1)


class InterfaceAddressBook:
    """Own addresses of interfaces, learned from the records over time.

    Keyed by interface id (string), so it spans batches; its size is the
    number of interfaces, not of records.
    """

    def __init__(self) -> None:
        self.addresses: dict[str, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self.addresses)

    def learn(
        self, ifaces: StrColumn, rows: npt.NDArray[np.intp], addr: Addr16
    ) -> None:
        """Record ``addr[i]`` as the own address of ``ifaces`` row i."""
        if len(rows) == 0:
            return
        pairs = np.unique(_pair_keys(ifaces.codes[rows], addr))
        for raw in pairs.tolist():
            value = bytes(raw)
            code = int.from_bytes(value[:4], "big")
            if code == 0:
                continue
            name = ifaces.values[code]
            self.addresses.setdefault(name, set()).add(value[4:])

    def keys_for(self, ifaces: StrColumn) -> npt.NDArray[np.void]:
        """Return the known (code, address) pairs for this batch's ids."""
        out: list[bytes] = []
        for code, name in enumerate(ifaces.values):
            if code == 0:
                continue
            for own in self.addresses.get(name, ()):
                out.append(code.to_bytes(4, "big") + own)
        if not out:
            return np.empty(0, dtype="V20")
        return np.frombuffer(b"".join(out), dtype="V20")


def _learn_constant_addresses(
    ifaces: StrColumn,
    src: Addr16,
    dst: Addr16,
    book: InterfaceAddressBook,
) -> None:
    """Learn, per interface and family, the one address in all records.

    Dual-stack interfaces have one own address per family, so records
    are grouped by (interface, address family) before counting.
    """
    codes = ifaces.codes.astype(np.int64)
    n = len(codes)
    if n == 0:
        return
    v6 = (~is_v4_mapped(src)).astype(np.int64)
    groups = codes * 2 + v6
    per_group = np.bincount(groups, minlength=2 * len(ifaces.values))
    same = np.all(src == dst, axis=1)
    keys = np.concatenate(
        [
            _pair_keys(groups.astype(np.uint32), src),
            _pair_keys(groups[~same].astype(np.uint32), dst[~same]),
        ]
    )
    uniq, counts = np.unique(keys, return_counts=True)
    raw = uniq.view(np.uint8).reshape(-1, 20)
    group = raw[:, :4].copy().view(">u4").reshape(-1).astype(np.int64)
    everywhere = (counts == per_group[group]) & (per_group[group] > 1)
    # exactly one constant address per group, else ambiguous
    found, how_many = np.unique(group[everywhere], return_counts=True)
    single = set(found[how_many == 1].tolist())
    for row in np.flatnonzero(everywhere).tolist():
        g = int(group[row])
        code = g // 2
        if g in single and code != 0:
            name = ifaces.values[code]
            book.addresses.setdefault(name, set()).add(bytes(raw[row, 4:]))


def infer_direction(
    *,
    ifaces: StrColumn | None,
    src: Addr16,
    dst: Addr16,
    src_rewritten: BoolArray,
    dst_rewritten: BoolArray,
    book: InterfaceAddressBook,
    owned: MaskFn | None,
    internal: MaskFn | None,
    default: int,
) -> npt.NDArray[np.uint8]:
    """Return :data:`INPUT_INGRESS`/``INPUT_EGRESS`` for every row.

    ``src``/``dst`` are the logged ``srcaddr``/``dstaddr``;
    ``*_rewritten`` say where they differ from ``pkt-*``; ``owned`` and
    ``internal`` answer rules 3 and 4 (either may be None).
    """
    n = len(src)
    out = np.zeros(n, dtype=np.uint8)
    undecided = np.ones(n, dtype=bool)

    def decide(egress: BoolArray, ingress: BoolArray) -> None:
        only_e = undecided & egress & ~ingress
        only_i = undecided & ingress & ~egress
        out[only_e] = INPUT_EGRESS
        out[only_i] = INPUT_INGRESS
        undecided[only_e | only_i] = False

    decide(src_rewritten, dst_rewritten)
    if ifaces is not None and undecided.any():
        _learn_constant_addresses(ifaces, src, dst, book)
        known = book.keys_for(ifaces)
        if len(known):
            codes = ifaces.codes
            decide(
                np.isin(_pair_keys(codes, src), known),
                np.isin(_pair_keys(codes, dst), known),
            )
    if owned is not None and undecided.any():
        decide(owned(src), owned(dst))
    if internal is not None and undecided.any():
        s_int = internal(src)
        d_int = internal(dst)
        decide(s_int & ~d_int, d_int & ~s_int)
    out[undecided] = default
    return out
