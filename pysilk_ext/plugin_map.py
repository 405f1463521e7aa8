# SPDX-License-Identifier: MIT
"""The context map as the awsvpc plug-in uses it: opened once, pre-digested.

A flow reaches the plug-in as a PySiLK record, and rwfilter spends about
a microsecond per record in PySiLK already; the issue allows the plug-in
30 % on top.  Converting both addresses for one C lookup costs more than
that, so :meth:`PluginMap.filter_tables` digests the map at start-up for
one switch (a field and its list of values) into structures the record
path tests with C-implemented operations only:

``maybe``
    Every address that can have one of the values at some time, in some
    scope: the bound addresses that do, and the ip-ranges prefixes that
    carry one.  A record none of whose addresses is in it fails at once
    -- the path taken by almost every record.
``steps``
    For a bound address whose bindings all lie in one scope (a public
    address, or a private address seen in one VPC only), whether it
    matches as a function of time: ``(breaks, verdicts)`` with
    ``verdicts[bisect_right(breaks, t)]`` the answer at time ``t``.
    The function is exact: the lookup rules of :mod:`pysilk_ext.ctxmap`
    only change their answer where a binding starts or ends, so the map's
    own C lookup is evaluated once at each of those instants.  Keys are
    the back-end's address objects (dict lookup, no conversion).
``scoped``
    Bound addresses seen in more than one scope (reused private space):
    their answer depends on the record's scope, so these -- and only
    these -- take the time- and scope-aware C lookup per record.
``range_accept`` / ``ranged``
    The ip-ranges prefixes whose label matches / that carry the field at
    all; they answer for unbound addresses (the map's lowest-precedence
    layer, timeless).

Fields (rwcut and the other tools) use the C lookup for every record:
:meth:`PluginMap.pair_lookup`, one call for both endpoints.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pysilk_ext import _binding
from pysilk_ext.ctxmap import ContextMap
from pysilk_ext.ctxmap.model import (
    AMBIGUOUS_LABEL,
    field_ref,
    words_to_addresses,
)
from pysilk_ext.errors import ContextMapError, CoreError
from pysilk_ext.plugin_backend import V4_MAPPED, AddressBackend

if TYPE_CHECKING:
    from pysilk_ext.silkfmt.ipset import IPSet

__all__ = [
    "NO_VALUE",
    "SCOPE_ANY",
    "SCOPE_NONE",
    "VALUE_AMBIGUOUS",
    "FilterTables",
    "PluginMap",
]

SCOPE_ANY = 0xFFFFFFFF  # unscoped lookup (PSE_CTXMAP_SCOPE_ANY)
SCOPE_NONE = 0xFFFFFFFE  # a VPC the map does not hold
VALUE_AMBIGUOUS = 0xFFFFFFFF  # resolved value: the address's VPCs disagree
NO_VALUE = "-"  # printed, and accepted by the switches, for "no value"

_VPC_IN_TEXT = re.compile(r"\b(vpc-[0-9a-f]{8,17})\b")
_U64 = np.uint64


@dataclass(slots=True)
class FilterTables:
    """What one filter switch tests per record (see the module doc)."""

    field_index: int
    sids: frozenset[int]  # accepted value ids; 0 when "-" was asked
    dash: bool  # "-" (no value) accepted
    maybe: Any  # backend set
    steps: dict[Any, tuple[tuple[int, ...], tuple[bool, ...]]]
    scoped: Any  # backend set
    range_accept: Any  # backend set
    ranged: Any  # backend set
    counts: dict[str, int] = field(default_factory=dict)


class _PairLookup:
    """The C core's one-record entry on our own handle of the mapping.

    :class:`~pysilk_ext.ctxmap.ContextMap` validates the image; this
    handle is opened over the same ``mmap`` (no copy) so that the record
    path makes exactly one cffi call and allocates nothing.
    """

    def __init__(self, buffer: Any) -> None:
        mod = _binding.load("ctxmap")
        ffi, lib = mod.ffi, mod.lib
        self._cdata = ffi.from_buffer("uint8_t[]", buffer)
        out = ffi.new("pse_ctxmap_t **")
        _binding.check(mod, lib.pse_ctxmap_new(out), ContextMapError)
        self.handle = ffi.gc(out[0], lib.pse_ctxmap_free)
        _binding.check(
            mod,
            lib.pse_ctxmap_open(self.handle, self._cdata, len(buffer)),
            ContextMapError,
        )
        self.ok = lib.PSE_OK
        self.function = lib.pse_ctxmap_pair_values
        self.ffi = ffi

    def buffers(self, field_index: int) -> tuple[Any, Any, Any, Any]:
        """Fresh (addresses, writable view of them, fields, values)."""
        ffi = self.ffi
        addrs = ffi.new("uint8_t[32]")
        return (
            addrs,
            ffi.buffer(addrs),
            ffi.new("uint32_t[1]", [field_index]),
            ffi.new("uint32_t[2]"),
        )


def _lookup_failed(status: int) -> CoreError:
    return CoreError(
        f"Context-map lookup failed with status {status}; please report this"
    )


def _words(keys: Iterable[int]) -> npt.NDArray[np.uint64]:
    """``(n, 2)`` uint64 (high, low) words of 128-bit keys."""
    flat = [(k >> 64, k & 0xFFFFFFFFFFFFFFFF) for k in keys]
    return np.array(flat, dtype=_U64).reshape(-1, 2)


def _ipset(ranges: list[tuple[int, int]]) -> IPSet:
    """A normalised 128-bit :class:`IPSet` of inclusive key ranges.

    (Imported here: the field tools never need the IPset codec.)
    """
    from pysilk_ext.silkfmt.ipset import IPSet  # noqa: PLC0415

    if not ranges:
        return IPSet(ipv6=True)
    return IPSet.from_ranges(
        _words(lo for lo, _ in ranges),
        _words(hi for _, hi in ranges),
        ipv6=True,
    )


class PluginMap:
    """An opened context map plus the plug-in's view of it.

    Args:
        path: the ``.vpcmap`` file (memory-mapped, read-only).
        backend: see :mod:`pysilk_ext.plugin_backend`.
        sensor_scopes: explicit sensor -> VPC id (``--awsvpc-scope``;
            the key ``""`` applies to sensors no other rule places).

    Raises:
        ContextMapError: the file cannot be opened.
        ContextMapFileError: it is not a valid map.
    """

    def __init__(
        self,
        path: str,
        backend: AddressBackend,
        sensor_scopes: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.backend = backend
        self._sensor_rules = dict(sensor_scopes or {})
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    self._mm: Any = b""
                else:
                    self._mm = mmap.mmap(
                        fh.fileno(), 0, access=mmap.ACCESS_READ
                    )
        except OSError as exc:
            raise ContextMapError(
                f"Cannot open context map '{path}': {exc.strerror}"
            ) from None
        self.cmap = ContextMap(self._mm, path)
        self._pair = _PairLookup(self._mm)
        self._texts: dict[int, str] = {0: NO_VALUE}
        self._scope_of: dict[str, int] = {}
        self._scope_by_id: dict[int, int] = {}
        self._ranges: list[tuple[int, int, dict[str, str]]] | None = None
        self._index: _AddressIndex | None = None

    # -- strings ------------------------------------------------------------

    def text(self, sid: int) -> str:
        """Printed text of a value id (``-`` none, ``(ambiguous)``)."""
        text = self._texts.get(sid)
        if text is None:
            if sid == VALUE_AMBIGUOUS:
                text = AMBIGUOUS_LABEL
            else:
                text = self.cmap.tables.strings[sid]
            self._texts[sid] = text
        return text

    def sid(self, text: str) -> int | None:
        """Value id of ``text`` (None when the map has no such string)."""
        return self.cmap.sid(text)

    def has_value(self, field_name: str, value: str) -> bool:
        """True when some binding or ip-ranges prefix has ``value``."""
        if len(self.cmap.value_rows(field_name, value)):
            return True
        return any(f.get(field_name) == value for _, _, f in self.ranges())

    def ranges(self) -> list[tuple[int, int, dict[str, str]]]:
        """The ip-ranges layer as (low key, high key, fields)."""
        if self._ranges is None:
            out = []
            for lo, hi, fields in self.cmap.iter_ranges():
                base = V4_MAPPED if lo.version == 4 else 0
                out.append((base | int(lo), base | int(hi), fields))
            self._ranges = out
        return self._ranges

    # -- scope --------------------------------------------------------------

    def scope_for_sensor(self, name: str) -> int:
        """Scope argument of the C lookup for records of sensor ``name``.

        Rules, first match wins: an explicit ``--awsvpc-scope``
        SENSOR:VPC entry; a sensor named after a VPC (``vpc-...``); a
        sensor named after an interface or a subnet (``eni-...``,
        ``subnet-...``: the converter's default sensors) whose bindings
        in the map all lie in one VPC; a VPC id in the sensor's
        silk.conf description; the ``--awsvpc-scope`` entry without a
        sensor; else unscoped.
        """
        sid = self._scope_of.get(name)
        if sid is None:
            vpc = self._vpc_of_sensor(name)
            sid = SCOPE_ANY if vpc is None else self.cmap.scope_id(vpc)
            self._scope_of[name] = sid
        return sid

    def _vpc_of_sensor(self, name: str) -> str | None:
        if name in self._sensor_rules:
            return self._sensor_rules[name]
        if name.startswith("vpc-"):
            return name
        for prefix, field_name in (
            ("eni-", "interface-id"),
            ("subnet-", "subnet-id"),
        ):
            if name.startswith(prefix):
                vpcs = {
                    b.fields["vpc-id"]
                    for b in self.cmap.lookup_value(field_name, name)
                    if "vpc-id" in b.fields
                }
                if len(vpcs) == 1:
                    return vpcs.pop()
        text = self.backend.sensor_description(name)
        if text:
            found = _VPC_IN_TEXT.search(text)
            if found:
                return found.group(1)
        return self._sensor_rules.get("")

    # -- record path (C) ------------------------------------------------------

    def record_scope(self, rec: Any) -> int:
        """Scope of ``rec``'s sensor, cached by sensor id: PySiLK's
        ``rec.sensor`` searches for silk.conf on every call when the
        site has none (four stat calls), ``rec.sensor_id`` is a field."""
        sensor_id = rec.sensor_id
        scope = self._scope_by_id.get(sensor_id)
        if scope is None:
            scope = self.scope_for_sensor(str(rec.sensor))
            self._scope_by_id[sensor_id] = scope
        return scope

    def pair_lookup(
        self, field_index: int
    ) -> Callable[[Any], tuple[int, int]]:
        """A function: record -> exact (source, destination) value ids of
        the field at the record's start time, in its sensor's scope.

        One cffi call per record; buffers are the function's own, the
        addresses are written by the back-end's ``pack_pair``.
        """
        addrs, view, fields, out = self._pair.buffers(field_index)
        pack = self.backend.pack_pair
        function = self._pair.function
        handle = self._pair.handle
        ok = self._pair.ok
        scopes = self._scope_by_id
        record_scope = self.record_scope

        def lookup(rec: Any) -> tuple[int, int]:
            pack(rec, view)
            scope = scopes.get(rec.sensor_id)
            if scope is None:
                scope = record_scope(rec)
            when = int(rec.stime_epoch_secs)
            status = function(handle, addrs, when, scope, fields, 1, out)
            if status != ok:
                raise _lookup_failed(status)
            return out[0], out[1]

        return lookup

    # -- filter tables --------------------------------------------------

    def filter_tables(
        self, field_name: str, values: Iterable[str]
    ) -> FilterTables:
        """Digest the map for a filter on ``field_name`` in ``values``.

        ``values`` are canonical texts; ``-`` accepts "no value".
        Values the map does not hold match nothing.
        """
        ref = field_ref(field_name)
        wanted = [v for v in values if v != NO_VALUE]
        dash = NO_VALUE in values
        sids = {s for s in (self.sid(v) for v in wanted) if s}
        accepted = frozenset(sids | ({0} if dash else set()))
        backend = self.backend

        accept_r = [
            (lo, hi)
            for lo, hi, f in self.ranges()
            if f.get(field_name) in wanted
        ]
        ranged_r = [(lo, hi) for lo, hi, f in self.ranges() if field_name in f]
        accept_set = _ipset(accept_r)

        index = self._address_index()
        cand = np.zeros(index.n, dtype=bool)
        for value in wanted:
            rows = self.cmap.value_rows(field_name, value)
            cand[index.owner[rows]] = True
        if accept_r and index.n:
            cand |= accept_set.contains_many(index.words)
        if dash:
            cand[:] = True

        scoped_idx = np.flatnonzero(cand & index.multi)
        single_idx = np.flatnonzero(cand & ~index.multi)
        steps_of = self._steps(field_name, single_idx, accepted)

        steps: dict[Any, tuple[tuple[int, ...], tuple[bool, ...]]] = {}
        maybe_keys: list[int] = []
        for i, entry in zip(single_idx.tolist(), steps_of, strict=True):
            key = index.key(i)
            matches = any(entry[1])
            if not matches and not dash and key not in accept_set:
                continue  # never matches, and no range would claim it
            for k in backend.keys(key):
                steps[k] = entry
            if matches:
                maybe_keys.append(key)
        scoped_keys = [index.key(i) for i in scoped_idx.tolist()]
        maybe = _ipset(accept_r + [(k, k) for k in maybe_keys + scoped_keys])
        return FilterTables(
            field_index=ref.index,
            sids=accepted,
            dash=dash,
            maybe=backend.make_set(maybe),
            steps=steps,
            scoped=backend.make_set(_ipset([(k, k) for k in scoped_keys])),
            range_accept=backend.make_set(accept_set),
            ranged=backend.make_set(_ipset(ranged_r)),
            counts={
                "steps": len(maybe_keys),
                "scoped": len(scoped_keys),
                "ranges": len(accept_r),
            },
        )

    def _address_index(self) -> _AddressIndex:
        if self._index is None:
            self._index = _AddressIndex(self.cmap)
        return self._index

    def _steps(
        self,
        field_name: str,
        addr_idx: npt.NDArray[np.intp],
        accepted: frozenset[int],
    ) -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
        """Verdict-over-time of each address in ``addr_idx`` (sorted).

        The answer can only change where one of the address's bindings
        starts (``first``) or has just ended (``last + 1``); the C lookup
        is asked at each such instant and once before them all.
        """
        if len(addr_idx) == 0:
            return []
        index = self._address_index()
        bind = self.cmap.tables.bind
        sel = np.zeros(index.n, dtype=bool)
        sel[addr_idx] = True
        rows = np.flatnonzero(sel[index.owner])
        owner = index.owner[rows]
        first = bind[rows, 1].astype(np.int64)
        after = bind[rows, 2].astype(np.int64) + 1
        who = np.concatenate([addr_idx, owner, owner])
        when = np.concatenate(
            [np.zeros(len(addr_idx), dtype=np.int64), first, after]
        )
        order = np.lexsort((when, who))
        who, when = who[order], when[order]
        keep = np.ones(len(who), dtype=bool)
        keep[1:] = (who[1:] != who[:-1]) | (when[1:] != when[:-1])
        who, when = who[keep], when[keep]
        addrs = words_to_addresses(index.hi[who], index.lo[who])
        sids = self.cmap.value_ids(addrs, when, None, [field_name])[:, 0]
        verdict = np.isin(sids, np.array(sorted(accepted), dtype=np.uint32))
        out: list[tuple[tuple[int, ...], tuple[bool, ...]]] = []
        bounds = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
        ends = np.r_[bounds[1:], len(who)]
        when_l = when.tolist()
        verdict_l = verdict.tolist()
        for lo, hi in zip(bounds.tolist(), ends.tolist(), strict=True):
            breaks: list[int] = []
            verdicts = [verdict_l[lo]]
            for j in range(lo + 1, hi):
                if verdict_l[j] != verdicts[-1]:
                    breaks.append(when_l[j])
                    verdicts.append(verdict_l[j])
            out.append((tuple(breaks), tuple(verdicts)))
        return out


class _AddressIndex:
    """Every bound address of a map: words, owner of each BIND row, and
    whether its bindings span more than one scope."""

    def __init__(self, cmap: ContextMap) -> None:
        t = cmap.tables
        n4, n6 = len(t.addr4), len(t.addr6)
        self.n = n4 + n6
        self.hi = np.concatenate(
            [np.zeros(n4, dtype=_U64), t.addr6[:, 0].astype(_U64)]
        )
        self.lo = np.concatenate(
            [_U64(V4_MAPPED) | t.addr4.astype(_U64), t.addr6[:, 1]]
        )
        self.words = np.stack([self.hi, self.lo], axis=1)
        starts = np.concatenate([t.start4[:-1], t.start6[:-1]]).astype(
            np.int64
        )
        nrows = len(t.bind)
        # BIND rows are grouped by address in address order (IPv4 first).
        if len(starts) and (starts[0] != 0 or np.any(np.diff(starts) < 0)):
            raise CoreError(
                f"Context map '{cmap.name}': BIND rows are not grouped by "
                "address; please report this"
            )
        self.owner = (
            np.searchsorted(starts, np.arange(nrows), side="right") - 1
        )
        scope = t.bind[:, 0]
        if nrows:
            lo = np.minimum.reduceat(scope, starts.clip(max=nrows - 1))
            hi = np.maximum.reduceat(scope, starts.clip(max=nrows - 1))
            self.multi = lo != hi
        else:
            self.multi = np.zeros(self.n, dtype=bool)

    def key(self, i: int) -> int:
        """128-bit key of address ``i``."""
        return int(self.hi[i]) << 64 | int(self.lo[i])


def step_verdict(
    entry: tuple[tuple[int, ...], tuple[bool, ...]], when: float
) -> bool:
    """The verdict of a ``steps`` entry at time ``when``."""
    breaks, verdicts = entry
    return verdicts[bisect.bisect_right(breaks, when)]
