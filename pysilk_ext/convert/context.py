# SPDX-License-Identifier: MIT
"""What the converter asks of the cloud-context map, and a memory stand-in.

The converter and :mod:`.reverse` need three answers, all by address and
time and all for a whole batch at once:

* :meth:`CloudContext.owned` -- was this address bound to a monitored
  interface at that time?  ("internal" for class/type);
* :meth:`CloudContext.aws_service` -- is it an AWS-service address?
* :meth:`CloudContext.lookup` -- the cloud fields of the interface that
  owned the address (account, VPC, subnet, instance, region, AZ,
  sublocation, ECS ...), or the ``aws-service`` label of an address.

``scope`` narrows a lookup where private address space is reused across
VPCs: per row a VPC id (``vpc-...``) or missing (unscoped).  An address
bound in several VPCs answers nothing to an unscoped lookup rather than
a guess.  :class:`MapContext` answers from the persistent context map
(:mod:`pysilk_ext.ctxmap`, lookups in C); :class:`MemoryContext` is a
small pure-Python implementation for tests and for runs too small to
warrant a map file.

Times are epoch seconds.  The time rule is the map's: inside a binding's
seen interval that binding answers; between intervals the preceding
binding answers until the address is re-bound; before the first binding
there is no answer.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.convert.addrs import Addr16, BoolArray, as_void
from pysilk_ext.convert.config import DEFAULT_EXCLUDED_SERVICES
from pysilk_ext.fields import FlowDirection

if TYPE_CHECKING:
    from pysilk_ext.ctxmap import ContextMap

__all__ = [
    "AWS_SERVICE",
    "Binding",
    "CloudContext",
    "MapContext",
    "MemoryContext",
]

#: Field name under which :meth:`CloudContext.lookup` answers the
#: AWS-service label of an address.
AWS_SERVICE = "aws-service"

Times = npt.NDArray[np.int64]


@runtime_checkable
class CloudContext(Protocol):
    """Batch lookups the converter needs from a cloud-context map."""

    def owned(self, addr: Addr16, at: Times) -> BoolArray:
        """Return True where ``addr`` belonged to a monitored interface."""
        ...

    def aws_service(self, addr: Addr16, at: Times) -> BoolArray:
        """Return True where ``addr`` is a known AWS-service address."""
        ...

    def lookup(
        self,
        addr: Addr16,
        at: Times,
        fields: Sequence[str],
        scope: StrColumn | None = None,
    ) -> dict[str, StrColumn]:
        """Return, per requested field, one value per row (0 = unknown)."""
        ...


@dataclass(slots=True)
class Binding:
    """One address bound to one interface (or service) over a time span."""

    first: int
    last: int
    fields: dict[str, str]
    scopes: frozenset[str] = frozenset()


@dataclass(slots=True)
class MemoryContext:
    """An in-memory :class:`CloudContext` (tests and small runs).

    Bindings are kept per 16-byte address, sorted by first-seen time.
    Lookups are made once per distinct (address, time, scope) row, so it
    is fine for thousands of rows, not for millions.
    """

    bindings: dict[bytes, list[Binding]] = field(default_factory=dict)
    services: dict[bytes, list[Binding]] = field(default_factory=dict)

    # -- building ----------------------------------------------------------

    def bind(
        self,
        addr: bytes,
        first: int,
        last: int,
        fields: Mapping[str, str],
    ) -> None:
        """Record that ``addr`` belonged to an interface with ``fields``.

        A binding with the same fields that overlaps or follows the
        previous one extends it; different fields start a new binding
        (the address moved).
        """
        scopes = frozenset(v for k, v in fields.items() if k == "vpc-id")
        _extend(
            self.bindings.setdefault(addr, []),
            first,
            last,
            dict(fields),
            scopes,
        )

    def label(self, addr: bytes, first: int, last: int, service: str) -> None:
        """Record that AWS labelled ``addr`` with ``service``."""
        _extend(
            self.services.setdefault(addr, []),
            first,
            last,
            {AWS_SERVICE: service},
            frozenset(),
        )

    def learn(self, batch: FlowBatch, fields: Sequence[str]) -> None:
        """Learn bindings and service labels from a parsed batch.

        The interface's own address of each OK record (``srcaddr`` on
        egress, ``dstaddr`` on ingress; records without flow-direction
        are skipped) is bound to the record's values of ``fields``.
        """
        cols = batch.columns
        direction = cols.get("flow-direction")
        start = cols.get("start")
        end = cols.get("end")
        if direction is None or start is None or end is None:
            return
        src: AddrColumn | None = cols.get("srcaddr")
        dst: AddrColumn | None = cols.get("dstaddr")
        decoded = {
            name: cols[name].decode() for name in fields if name in cols
        }
        for i in range(batch.n):
            eni: AddrColumn | None
            if direction[i] == FlowDirection.EGRESS:
                eni = src
            elif direction[i] == FlowDirection.INGRESS:
                eni = dst
            else:
                continue
            if eni is None or eni.family[i] == 0:
                continue
            values = {k: v[i] for k, v in decoded.items() if v[i] is not None}
            self.bind(bytes(eni.addr[i]), int(start[i]), int(end[i]), values)
        for side in ("src", "dst"):
            addr_col: AddrColumn | None = cols.get(f"pkt-{side}addr")
            svc_col: StrColumn | None = cols.get(f"pkt-{side}-aws-service")
            if addr_col is None or svc_col is None:
                continue
            names = svc_col.decode()
            for i in range(batch.n):
                service = names[i]
                if service is not None and addr_col.family[i]:
                    self.label(
                        bytes(addr_col.addr[i]),
                        int(start[i]),
                        int(end[i]),
                        service,
                    )

    # -- CloudContext ------------------------------------------------------

    def owned(self, addr: Addr16, at: Times) -> BoolArray:
        """Return True where ``addr`` was bound to an interface at ``at``."""
        return self._answer_mask(self.bindings, addr, at)

    def aws_service(self, addr: Addr16, at: Times) -> BoolArray:
        """Return True where ``addr`` carried an AWS-service label."""
        return self._answer_mask(self.services, addr, at)

    def lookup(
        self,
        addr: Addr16,
        at: Times,
        fields: Sequence[str],
        scope: StrColumn | None = None,
    ) -> dict[str, StrColumn]:
        """Return the fields of the binding of each row (see module doc)."""
        n = len(addr)
        scopes = scope.decode() if scope is not None else [None] * n
        keys = as_void(addr)
        out_codes = {f: np.zeros(n, dtype=np.uint32) for f in fields}
        values: dict[str, dict[str, int]] = {f: {"": 0} for f in fields}
        cache: dict[tuple[bytes, int, str | None], dict[str, str]] = {}
        for i in range(n):
            key = (bytes(keys[i]), int(at[i]), scopes[i])
            found = cache.get(key)
            if found is None:
                found = {}
                if AWS_SERVICE in fields:
                    svc = _find(self.services.get(key[0], []), key[1], None)
                    if svc is not None:
                        found.update(svc.fields)
                if any(f != AWS_SERVICE for f in fields):
                    own = _find(self.bindings.get(key[0], []), key[1], key[2])
                    if own is not None:
                        found.update(own.fields)
                cache[key] = found
            for name in fields:
                text = found.get(name)
                if text is None:
                    continue
                codes = values[name]
                out_codes[name][i] = codes.setdefault(text, len(codes))
        return {
            name: StrColumn(out_codes[name], list(values[name]))
            for name in fields
        }

    def _answer_mask(
        self, table: dict[bytes, list[Binding]], addr: Addr16, at: Times
    ) -> BoolArray:
        out = np.zeros(len(addr), dtype=bool)
        if not table:
            return out
        keys = as_void(addr)
        for i in range(len(addr)):
            found = _find(table.get(bytes(keys[i]), []), int(at[i]), None)
            out[i] = found is not None
        return out


class MapContext:
    """A :class:`CloudContext` answered by a context map file (issue 4).

    ``owned`` is true for an address with an interface binding (from the
    logs) or an inventory binding (``describe-network-interfaces``);
    ``aws_service`` for an address whose resolved ``aws-service`` is a
    service other than ``excluded`` (by default AMAZON and EC2, which
    also label every customer's public EC2 addresses); ``lookup``
    resolves fields by the map's precedence rules.  An ambiguous answer
    (an address bound in several VPCs, asked without scope) is "unknown".

    The map's own modules are imported by the methods that need them:
    a run without ``--map`` never loads them (start-up time).
    """

    def __init__(
        self,
        cmap: ContextMap,
        *,
        excluded: Sequence[str] = DEFAULT_EXCLUDED_SERVICES,
    ) -> None:
        self.cmap = cmap
        self.excluded = frozenset(excluded)

    def _scopes(
        self, scope: StrColumn | None
    ) -> npt.NDArray[np.uint32] | None:
        if scope is None:
            return None
        table = np.array(
            [
                self.cmap.scope_id(None if i == 0 else value)
                for i, value in enumerate(scope.values)
            ],
            dtype=np.uint32,
        )
        scopes: npt.NDArray[np.uint32] = table[scope.codes]
        return scopes

    def _rows(
        self, addr: Addr16, at: Times, scope: StrColumn | None = None
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
        return self.cmap.lookup_rows(
            addr, np.asarray(at, dtype=np.int64), self._scopes(scope)
        )

    def owned(self, addr: Addr16, at: Times) -> BoolArray:
        """Return True where ``addr`` had an interface/inventory binding."""
        if len(addr) == 0:
            return np.zeros(0, dtype=bool)
        from pysilk_ext.ctxmap.model import Relation  # noqa: PLC0415

        rows, _ = self._rows(addr, at)
        found: BoolArray = (rows[:, Relation.IFACE] != -1) | (
            rows[:, Relation.ENI] != -1
        )
        return found

    def aws_service(self, addr: Addr16, at: Times) -> BoolArray:
        """Return True where the map names a counted AWS service."""
        if len(addr) == 0:
            return np.zeros(0, dtype=bool)
        col = self.lookup(addr, at, [AWS_SERVICE])[AWS_SERVICE]
        counted = np.array(
            [i != 0 and v not in self.excluded for i, v in
             enumerate(col.values)],
            dtype=bool,
        )  # fmt: skip
        mask: BoolArray = counted[col.codes]
        return mask

    def lookup(
        self,
        addr: Addr16,
        at: Times,
        fields: Sequence[str],
        scope: StrColumn | None = None,
    ) -> dict[str, StrColumn]:
        """Return the resolved value of each field per row (0 = none)."""
        n = len(addr)
        if n == 0:
            return {
                f: StrColumn(np.zeros(0, dtype=np.uint32), [""])
                for f in fields
            }
        from pysilk_ext.ctxmap.cmap import VALUE_AMBIGUOUS  # noqa: PLC0415

        all_ids = self.cmap.value_ids(
            addr, np.asarray(at, dtype=np.int64), self._scopes(scope), fields
        )
        out: dict[str, StrColumn] = {}
        for k, name in enumerate(fields):
            ids = all_ids[:, k]
            uniq, inverse = np.unique(ids, return_inverse=True)
            values = [""]
            table = np.zeros(len(uniq), dtype=np.uint32)
            for i, value_id in enumerate(uniq.tolist()):
                if value_id in (0, VALUE_AMBIGUOUS):
                    continue
                text = self.cmap.label(int(value_id))
                if text:
                    table[i] = len(values)
                    values.append(text)
            out[name] = StrColumn(table[inverse.reshape(-1)], values)
        return out


def _extend(
    spans: list[Binding],
    first: int,
    last: int,
    fields: dict[str, str],
    scopes: frozenset[str],
) -> None:
    for span in spans:
        if span.fields == fields:
            span.first = min(span.first, first)
            span.last = max(span.last, last)
            return
    spans.append(Binding(first, last, fields, scopes))
    spans.sort(key=lambda b: b.first)


def _find(spans: list[Binding], at: int, scope: str | None) -> Binding | None:
    """Return the binding answering at time ``at`` (module doc rule)."""
    candidates = [b for b in spans if scope is None or scope in b.scopes]
    if not candidates:
        return None
    firsts = [b.first for b in candidates]
    idx = bisect.bisect_right(firsts, at) - 1
    if idx < 0:
        return None
    return candidates[idx]
