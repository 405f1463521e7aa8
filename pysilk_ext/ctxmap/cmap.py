# SPDX-License-Identifier: MIT
"""ContextMap: a map file opened over a buffer (usually an mmap).

The C core (``pysilk_ext._ctxmap``) validates the image once and answers
lookups; this class adds names, strings and export helpers.  Tables are
NumPy views of the buffer, so opening costs one validation pass and no
copying.  See :mod:`pysilk_ext.ctxmap` for the semantics.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from pysilk_ext import _binding
from pysilk_ext.ctxmap import _format as fmt
from pysilk_ext.ctxmap.ipranges import RangeLayer
from pysilk_ext.ctxmap.model import (
    AMBIGUOUS_LABEL,
    CTX_WIDTH,
    FIELDS,
    GROUP_WIDTH,
    KIND_NAMES,
    NREL,
    RELATION_NAMES,
    FieldRef,
    Relation,
    address_object,
    address_text,
    field_ref,
    format_time,
    parse_address,
    parse_time,
    words_to_addresses,
)
from pysilk_ext.errors import ContextMapError

__all__ = ["Binding", "ContextMap", "ContextMapFileError", "LookupResult"]

U32 = np.uint32
U64 = np.uint64
# Relations whose bindings say an address has a value (the default of the
# value -> address queries); the packet relation is only seen-behind.
OWNING = (Relation.IFACE, Relation.ENI, Relation.SVC)
# Relations that supply field values (the packet relation never does).
RESOLVING = (Relation.IFACE, Relation.SVC, Relation.ENI, Relation.RANGE)
ROW_NONE = -1
ROW_AMBIGUOUS = -2
SCOPE_ANY = 0xFFFFFFFF
SCOPE_NONE = 0xFFFFFFFE
VALUE_AMBIGUOUS = 0xFFFFFFFF
FLAG_AMBIGUOUS = 0x80

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ContextMapFileError(ContextMapError):
    """A map file is not a map, is truncated, corrupt or too new.

    ``reason`` is one of ``"format"``, ``"truncated"``, ``"corrupt"``,
    ``"version"``; ``path`` names the file.
    """

    def __init__(self, message: str, *, path: str, reason: str) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Binding:
    """One binding: ``address`` in ``scope`` has ``fields`` over
    ``[first_seen, last_seen]`` according to ``relation``."""

    row: int
    address: str
    scope: str | None  # VPC id; None = global
    relation: str
    kinds: tuple[str, ...]
    first_seen: int
    last_seen: int
    fields: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "address": self.address,
            "scope": self.scope,
            "relation": self.relation,
            "kinds": list(self.kinds),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "first_seen_time": format_time(self.first_seen),
            "last_seen_time": format_time(self.last_seen),
            **self.fields,
        }


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What the map says about one address at one time.

    ``fields`` are resolved with the precedence rules (empty when none);
    ``bindings`` holds the binding each relation answered with;
    ``stale`` is True when every answering binding had ended before
    ``at`` (extrapolated until the address is re-bound); ``ambiguous``
    is True when an unscoped lookup found the address in several VPCs:
    then ``scopes`` lists them, ``bindings`` is empty, and ``fields``
    holds what those VPCs agree on -- a field on which they disagree is
    :data:`~model.AMBIGUOUS_LABEL`, one none of them has is absent.
    """

    address: str
    at: int
    scope: str | None
    fields: dict[str, str]
    bindings: dict[str, Binding] = field(default_factory=dict)
    stale: bool = False
    ambiguous: bool = False
    scopes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "address": self.address,
            "time": format_time(self.at),
            "scope": self.scope,
        }
        if self.ambiguous:
            out["ambiguous"] = list(self.scopes)
        out["stale"] = self.stale
        out.update(self.fields)
        return out


class _Strings(Sequence[str]):
    """The string dictionary, decoded on demand."""

    def __init__(
        self, offsets: npt.NDArray[np.uint32], data: npt.NDArray[np.uint8]
    ) -> None:
        self._off = offsets
        self._data = data
        self._cache: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._off) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        text = self._cache.get(i)
        if text is None:
            lo, hi = int(self._off[i]), int(self._off[i + 1])
            text = self._data[lo:hi].tobytes().decode("utf-8")
            self._cache[i] = text
        return text


_STATUS_REASON = {
    "PSE_ERR_FORMAT": "format",
    "PSE_ERR_SHORT": "truncated",
    "PSE_ERR_CORRUPT": "corrupt",
    "PSE_ERR_UNSUPPORTED": "version",
}


class ContextMap:
    """A cloud-context map (read-only).  Open with :meth:`open`."""

    def __init__(self, buffer: Any, name: str) -> None:
        """Validate ``buffer`` (bytes, mmap ...) as a map image.

        Raises:
            ContextMapFileError: not a valid map.
        """
        mod = _binding.load("ctxmap")
        self._mod = mod
        self.name = name
        ffi, lib = mod.ffi, mod.lib
        cdata = ffi.from_buffer("uint8_t[]", buffer)
        if int(ffi.cast("uintptr_t", cdata)) % 8:
            copy = np.empty((len(buffer) + 7) // 8, dtype=U64)
            copy.view(np.uint8)[: len(buffer)] = np.frombuffer(
                buffer, dtype=np.uint8
            )
            ffi.release(cdata)
            buffer = copy.view(np.uint8)[: len(buffer)].data
            cdata = ffi.from_buffer("uint8_t[]", buffer)
        self._buffer = buffer
        self._cdata = cdata
        out = ffi.new("pse_ctxmap_t **")
        _binding.check(mod, lib.pse_ctxmap_new(out), ContextMapError)
        self._h = ffi.gc(out[0], lib.pse_ctxmap_free)
        status = lib.pse_ctxmap_open(self._h, cdata, len(buffer))
        if status != lib.PSE_OK:
            detail = ffi.string(lib.pse_ctxmap_detail(self._h)).decode()
            # Drop the buffer export so that the caller can close an mmap.
            ffi.release(cdata)
            self._cdata = self._buffer = None
            reason = "corrupt"
            for const, why in _STATUS_REASON.items():
                if status == getattr(lib, const):
                    reason = why
            raise ContextMapFileError(
                f"Cannot read context map '{name}': {detail}",
                path=name,
                reason=reason,
            )
        self.tables = self._views()
        try:
            meta = json.loads(
                bytes(self._section(fmt.SEC_META, np.uint8, 1)).decode()
            )
        except (ValueError, UnicodeDecodeError):
            meta = None
        if not isinstance(meta, dict):
            ffi.release(cdata)
            self.tables = None  # type: ignore[assignment]
            self._cdata = self._buffer = None
            raise ContextMapFileError(
                f"Cannot read context map '{name}': Bad META section",
                path=name,
                reason="corrupt",
            )
        self.meta: dict[str, Any] = meta
        bind = self.tables.bind
        self._span = (
            (int(bind[:, 1].min()), int(bind[:, 2].max()))
            if len(bind)
            else None
        )
        self._mm: mmap.mmap | None = None

    # -- opening ----------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ContextMap:
        """Memory-map and validate the map file ``path``.

        Raises:
            ContextMapError: the file cannot be opened.
            ContextMapFileError: it is not a valid map.
        """
        name = str(path)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    return cls(b"", name)
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise ContextMapError(
                f"Cannot open '{name}': {exc.strerror}"
            ) from None
        try:
            cmap = cls(mm, name)
        except BaseException:
            mm.close()
            raise
        cmap._mm = mm
        return cmap

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<memory>") -> ContextMap:
        """Validate an in-memory map image."""
        return cls(data, name)

    def close(self) -> None:
        """Release the mapping early (views handed out become invalid)."""
        self.tables = None  # type: ignore[assignment]
        self._h = None
        if self._cdata is not None:
            self._mod.ffi.release(self._cdata)
        self._cdata = None
        self._buffer = None
        mm, self._mm = self._mm, None
        if mm is not None:
            # A view the caller still holds keeps the mapping alive.
            with contextlib.suppress(BufferError):
                mm.close()

    def __enter__(self) -> ContextMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _section(self, sec: int, dtype: Any, width: int) -> npt.NDArray[Any]:
        ffi, lib = self._mod.ffi, self._mod.lib
        off = ffi.new("uint64_t *")
        count = ffi.new("uint64_t *")
        esize = ffi.new("uint32_t *")
        _binding.check(
            self._mod,
            lib.pse_ctxmap_section(self._h, sec, off, count, esize),
            ContextMapError,
        )
        n = int(count[0]) * int(esize[0]) // np.dtype(dtype).itemsize
        arr = np.frombuffer(
            self._buffer, dtype=dtype, count=n, offset=int(off[0])
        )
        return arr.reshape(-1, width) if width > 1 else arr

    def _views(self) -> fmt.MapTables:
        groups = {
            g: self._section(fmt.SEC_GROUP + g, U32, w)
            for g, w in GROUP_WIDTH.items()
        }
        return fmt.MapTables(
            strings=_Strings(
                self._section(fmt.SEC_STROFF, U32, 1),
                self._section(fmt.SEC_STRDATA, np.uint8, 1),
            ),
            ctx=self._section(fmt.SEC_CTX, U32, CTX_WIDTH),
            groups=groups,
            addr4=self._section(fmt.SEC_ADDR4, U32, 1),
            start4=self._section(fmt.SEC_START4, U32, 1),
            addr6=self._section(fmt.SEC_ADDR6, U64, 2),
            start6=self._section(fmt.SEC_START6, U32, 1),
            bind=self._section(fmt.SEC_BIND, U32, 4),
            range4=self._section(fmt.SEC_RANGE4, U32, 3),
            range6=self._section(fmt.SEC_RANGE6, U64, 5),
        )

    # -- basic facts ------------------------------------------------------

    @property
    def data(self) -> bytes:
        """The file image."""
        return bytes(self._buffer)

    def __len__(self) -> int:
        """Number of bindings (ip-ranges rows not counted)."""
        return len(self.tables.bind)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContextMap):
            return NotImplemented
        return bool(self.data == other.data)

    __hash__ = None  # type: ignore[assignment]

    @property
    def time_range(self) -> tuple[int, int] | None:
        """(earliest first seen, latest last seen), None when empty."""
        return self._span

    @property
    def field_names(self) -> tuple[str, ...]:
        """Every field a binding can carry."""
        return tuple(f.name for f in FIELDS)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the map to ``path`` atomically (temp file + rename)."""
        fmt.write_atomic(path, self.data)

    def sid(self, text: str) -> int | None:
        """String id of ``text`` in this map, None when absent."""
        ffi, lib = self._mod.ffi, self._mod.lib
        raw = text.encode("utf-8")
        out = ffi.new("uint32_t *")
        _binding.check(
            self._mod,
            lib.pse_ctxmap_find_string(self._h, raw, len(raw), out),
            ContextMapError,
        )
        return None if out[0] == 0xFFFFFFFF else int(out[0])

    def scope_id(self, scope: str | None) -> int:
        """The C scope argument for ``scope`` (None: unscoped)."""
        if scope is None:
            return SCOPE_ANY
        sid = self.sid(scope)
        return SCOPE_NONE if sid is None else sid

    # -- contexts and bindings ---------------------------------------------

    def _value(self, ctx: int, ref: FieldRef) -> int:
        v = int(self.tables.ctx[ctx, ref.ctx_col])
        if ref.group:
            v = int(self.tables.groups[ref.group][v, ref.grp_col])
        return v

    def context_fields(self, ctx: int) -> dict[str, str]:
        """Non-empty fields of context ``ctx``."""
        out = {}
        strings = self.tables.strings
        for ref in FIELDS:
            v = self._value(ctx, ref)
            if v:
                out[ref.name] = strings[v]
        return out

    def _kinds(self, meta: int) -> tuple[str, ...]:
        rel = Relation(meta & 0xFF)
        flags = KIND_NAMES.get(rel)
        bits = meta >> 8
        if flags is None or not bits:
            return ()
        return tuple(str(m.name).lower() for m in flags if m.value & bits)

    def binding_words(
        self,
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """(high, low) address words of every BIND row."""
        t = self.tables
        c4 = np.diff(t.start4).astype(np.int64)
        c6 = np.diff(t.start6).astype(np.int64)
        lo4 = (U64(0xFFFF) << U64(32)) | t.addr4.astype(U64)
        hi = np.concatenate(
            [np.zeros(int(c4.sum()), dtype=U64), np.repeat(t.addr6[:, 0], c6)]
        )
        lo = np.concatenate([np.repeat(lo4, c4), np.repeat(t.addr6[:, 1], c6)])
        return hi, lo

    def _row_addresses(self, rows: npt.NDArray[np.uint32]) -> list[bytes]:
        ffi, lib = self._mod.ffi, self._mod.lib
        rows = np.ascontiguousarray(rows, dtype=U32)
        out = np.empty((len(rows), 16), dtype=np.uint8)
        _binding.check(
            self._mod,
            lib.pse_ctxmap_row_addresses(
                self._h,
                ffi.from_buffer("uint32_t[]", rows),
                len(rows),
                ffi.from_buffer("uint8_t[]", out),
            ),
            ContextMapError,
        )
        return [bytes(r) for r in out]

    def binding(self, row: int, address: bytes | None = None) -> Binding:
        """The binding of BIND row ``row``."""
        b = self.tables.bind[row]
        ctx = int(b[3]) & 0x0FFFFFFF
        meta = int(self.tables.ctx[ctx, 0])
        if address is None:
            address = self._row_addresses(np.array([row], dtype=U32))[0]
        scope = self.tables.strings[int(b[0])] if b[0] else None
        return Binding(
            row=row,
            address=address_text(address),
            scope=scope,
            relation=RELATION_NAMES[Relation(meta & 0xFF)],
            kinds=self._kinds(meta),
            first_seen=int(b[1]),
            last_seen=int(b[2]),
            fields=self.context_fields(ctx),
        )

    def iter_bindings(self) -> Iterator[Binding]:
        """Every binding, by address, scope, relation and time."""
        hi, lo = self.binding_words()
        raw = words_to_addresses(hi, lo)
        for row in range(len(self.tables.bind)):
            yield self.binding(row, bytes(raw[row]))

    def iter_ranges(self) -> Iterator[tuple[Address, Address, dict[str, str]]]:
        """The ip-ranges layer: (first, last, fields) per range."""
        for lo, hi, ctx in self.tables.range4.tolist():
            yield (
                ipaddress.IPv4Address(lo),
                ipaddress.IPv4Address(hi),
                self.context_fields(ctx),
            )
        for lh, ll, hh, hl, ctx in self.tables.range6.tolist():
            yield (
                ipaddress.IPv6Address(lh << 64 | ll),
                ipaddress.IPv6Address(hh << 64 | hl),
                self.context_fields(int(ctx)),
            )

    def range_layer(self) -> RangeLayer | None:
        """The ip-ranges layer as the builder holds it (None if absent)."""
        info = self.meta.get("ip-ranges")
        if not isinstance(info, dict):
            return None
        try:
            token = int(info.get("syncToken", 0))
        except (TypeError, ValueError):
            token = 0
        layer = RangeLayer(
            sync_token=token, create_date=str(info.get("createDate", ""))
        )
        for lo, hi, f in self.iter_ranges():
            row = (
                int(lo),
                int(hi),
                f.get("aws-service", ""),
                f.get("region", ""),
                f.get("network-border-group", ""),
            )
            (layer.v4 if lo.version == 4 else layer.v6).append(row)
        return layer

    # -- lookups --------------------------------------------------------------

    def _time(self, at: object) -> int:
        if at is None:
            span = self.time_range
            return span[1] if span else 0
        return parse_time(at)

    def _times_scopes(
        self,
        n: int,
        at: object,
        scope: str | npt.NDArray[np.uint32] | None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
        """The C time and scope arguments (1 or ``n`` entries each)."""
        if isinstance(at, np.ndarray):
            times = np.ascontiguousarray(at, dtype=np.int64)
        else:
            times = np.array([self._time(at)], dtype=np.int64)
        if isinstance(scope, np.ndarray):
            scopes = np.ascontiguousarray(scope, dtype=U32)
        else:
            scopes = np.array([self.scope_id(scope)], dtype=U32)
        if len(times) not in (1, n) or len(scopes) not in (1, n):
            raise ValueError("times and scopes must have 1 or n entries")
        return times, scopes

    def lookup_rows(
        self,
        addrs: npt.NDArray[np.uint8],
        at: object = None,
        scope: str | npt.NDArray[np.uint32] | None = None,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
        """Batch lookup in C (see ``pse_ctxmap_lookup``).

        Args:
            addrs: ``(n, 16)`` uint8 addresses in network order.
            at: one time for all, an ``int64`` array of epoch seconds, or
                None for the map's latest time.
            scope: a VPC id, None (unscoped), or a uint32 array of scope
                ids (:meth:`scope_id`).

        Returns:
            ``rows`` ``(n, 5)`` int32 (columns = :class:`Relation`; BIND
            rows, RANGE rows for the last column; -1 none, -2 ambiguous)
            and ``flags`` (n,) uint8 (bit r: relation r stale; 0x80:
            ambiguous).  Rows hold one answer per relation, so for the
            fields of an ambiguous address use :meth:`value_ids`.
        """
        ffi, lib = self._mod.ffi, self._mod.lib
        addrs = np.ascontiguousarray(addrs, dtype=np.uint8).reshape(-1, 16)
        n = len(addrs)
        rows = np.empty((n, NREL), dtype=np.int32)
        flags = np.empty(n, dtype=np.uint8)
        if n == 0:
            return rows, flags
        times, scopes = self._times_scopes(n, at, scope)
        _binding.check(
            self._mod,
            lib.pse_ctxmap_lookup(
                self._h,
                ffi.from_buffer("uint8_t[]", addrs),
                n,
                ffi.from_buffer("int64_t[]", times),
                len(times),
                ffi.from_buffer("uint32_t[]", scopes),
                len(scopes),
                ffi.from_buffer("int32_t[]", rows),
                ffi.from_buffer("uint8_t[]", flags),
            ),
            ContextMapError,
        )
        return rows, flags

    def value_ids(
        self,
        addrs: npt.NDArray[np.uint8],
        at: object = None,
        scope: str | npt.NDArray[np.uint32] | None = None,
        fields: Sequence[str] = (),
        *,
        relations: Iterable[Relation] = RESOLVING,
    ) -> npt.NDArray[np.uint32]:
        """Resolved string ids of ``fields`` for each address, in C (see
        ``pse_ctxmap_values``): ``(n, len(fields))`` uint32, 0 for no
        value, :data:`VALUE_AMBIGUOUS` where the VPCs of an address bound
        in several (unscoped lookup) disagree on the field.

        ``addrs``, ``at`` and ``scope`` are as for :meth:`lookup_rows`;
        ``relations`` limits the sources that may supply a value (e.g.
        without ``Relation.RANGE`` for bindings only).
        """
        ffi, lib = self._mod.ffi, self._mod.lib
        addrs = np.ascontiguousarray(addrs, dtype=np.uint8).reshape(-1, 16)
        n = len(addrs)
        index = np.array([field_ref(f).index for f in fields], dtype=U32)
        out = np.zeros((n, len(index)), dtype=U32)
        if n == 0 or len(index) == 0:
            return out
        times, scopes = self._times_scopes(n, at, scope)
        mask = 0
        for rel in relations:
            mask |= 1 << int(rel)
        _binding.check(
            self._mod,
            lib.pse_ctxmap_values(
                self._h,
                ffi.from_buffer("uint8_t[]", addrs),
                n,
                ffi.from_buffer("int64_t[]", times),
                len(times),
                ffi.from_buffer("uint32_t[]", scopes),
                len(scopes),
                ffi.from_buffer("uint32_t[]", index),
                len(index),
                mask,
                ffi.from_buffer("uint32_t[]", out),
            ),
            ContextMapError,
        )
        return out

    def label(self, value_id: int) -> str | None:
        """Text of a resolved value id (None for "no value")."""
        if value_id == VALUE_AMBIGUOUS:
            return AMBIGUOUS_LABEL
        return self.tables.strings[value_id] if value_id else None

    def lookup(
        self,
        addresses: Iterable[str | bytes | Address],
        at: object = None,
        scope: str | None = None,
    ) -> list[LookupResult]:
        """Look addresses up at time ``at`` (default: the map's latest).

        Raises:
            ContextMapError: an address or the time is invalid.
        """
        raws = [
            a
            if isinstance(a, bytes) and len(a) == 16
            else parse_address(str(a))
            for a in addresses
        ]
        t = self._time(at)
        arr = np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(-1, 16)
        rows, flags = self.lookup_rows(arr, t, scope)
        names = [f.name for f in FIELDS]
        values = self.value_ids(arr, t, scope, names)
        out = []
        for i, raw in enumerate(raws):
            ambiguous = bool(flags[i] & FLAG_AMBIGUOUS)
            fields: dict[str, str] = {}
            bindings: dict[str, Binding] = {}
            scopes: tuple[str, ...] = ()
            for k, name in enumerate(names):
                text = self.label(int(values[i, k]))
                if text is not None:
                    fields[name] = text
            if ambiguous:
                scopes = self._scopes_at(raw, t)
            else:
                for rel in (
                    Relation.IFACE,
                    Relation.PKT,
                    Relation.SVC,
                    Relation.ENI,
                ):
                    row = int(rows[i, rel])
                    if row >= 0:
                        bindings[RELATION_NAMES[rel]] = self.binding(row, raw)
            timed = [
                bool(flags[i] & (1 << r))
                for r in (Relation.IFACE, Relation.SVC, Relation.ENI)
                if rows[i, r] >= 0
            ]
            out.append(
                LookupResult(
                    address=address_text(raw),
                    at=t,
                    scope=scope,
                    fields=fields,
                    bindings=bindings,
                    stale=bool(timed) and all(timed),
                    ambiguous=ambiguous,
                    scopes=scopes,
                )
            )
        return out

    def _rows_of(self, raw: bytes) -> range:
        t = self.tables
        if raw[:12] == b"\0" * 10 + b"\xff\xff":
            v = int.from_bytes(raw[12:], "big")
            i = int(np.searchsorted(t.addr4, v))
            if i < len(t.addr4) and t.addr4[i] == v:
                return range(int(t.start4[i]), int(t.start4[i + 1]))
            return range(0)
        hi = np.uint64(int.from_bytes(raw[:8], "big"))
        lo = np.uint64(int.from_bytes(raw[8:], "big"))
        a = int(np.searchsorted(t.addr6[:, 0], hi, "left"))
        b = int(np.searchsorted(t.addr6[:, 0], hi, "right"))
        i = a + int(np.searchsorted(t.addr6[a:b, 1], lo))
        if i < b and t.addr6[i, 1] == lo:
            return range(int(t.start6[i]), int(t.start6[i + 1]))
        return range(0)

    def _scopes_at(self, raw: bytes, t: int) -> tuple[str, ...]:
        bind = self.tables.bind
        sids = sorted(
            {int(bind[r, 0]) for r in self._rows_of(raw) if bind[r, 1] <= t}
            - {0}
        )
        return tuple(self.tables.strings[s] for s in sids)

    # -- value -> addresses -------------------------------------------

    def value_rows(
        self,
        field: str,
        value: str,
        relations: Iterable[Relation] = OWNING,
    ) -> npt.NDArray[np.uint32]:
        """BIND rows of ``relations`` whose context has ``value`` in
        ``field`` (ascending).

        One scan of the map in C (there is no value index): a few
        milliseconds per million bindings, for exports and start-up.
        """
        ffi, lib = self._mod.ffi, self._mod.lib
        ref = field_ref(field)
        sid = self.sid(value)
        if sid is None or sid == 0:
            return np.zeros(0, dtype=U32)
        mask = 0
        for rel in relations:
            mask |= 1 << int(rel)
        # Room for every row: one scan, no second call to size the output.
        out = np.empty(len(self.tables.bind), dtype=U32)
        needed = ffi.new("size_t *")
        _binding.check(
            self._mod,
            lib.pse_ctxmap_value_rows(
                self._h,
                ref.index,
                sid,
                mask,
                ffi.from_buffer("uint32_t[]", out) if len(out) else ffi.NULL,
                len(out),
                needed,
            ),
            ContextMapError,
        )
        return out[: int(needed[0])].copy()

    def lookup_value(
        self,
        field: str,
        value: str,
        scope: str | None = None,
        relations: Iterable[Relation] = OWNING,
    ) -> list[Binding]:
        """Every binding of ``relations`` whose fields hold ``value`` in
        ``field`` (any time; with ``scope``: that VPC's and global
        bindings only).  By default the owning relations: packet-level
        addresses seen behind an interface (NAT peers, pods) are not the
        interface's unless ``Relation.PKT`` is asked for."""
        rows = self.value_rows(field, value, relations)
        if scope is not None:
            sid = self.scope_id(scope)
            sc = self.tables.bind[rows, 0]
            rows = rows[(sc == sid) | (sc == 0)]
        raws = self._row_addresses(rows)
        return [
            self.binding(int(r), a) for r, a in zip(rows, raws, strict=True)
        ]

    def _range_rows_with(
        self, ref: FieldRef, sid: int
    ) -> list[tuple[int, int, int]]:
        """(family, lo, hi) of ip-ranges rows whose field equals ``sid``."""
        out = []
        for lo, hi, ctx in self.tables.range4.tolist():
            if self._value(ctx, ref) == sid:
                out.append((4, lo, hi))
        for lh, ll, hh, hl, ctx in self.tables.range6.tolist():
            if self._value(int(ctx), ref) == sid:
                out.append((6, lh << 64 | ll, hh << 64 | hl))
        return out

    def addresses(
        self,
        field: str,
        value: str,
        *,
        at: object = None,
        scope: str | None = None,
        include_ranges: bool = True,
        relations: Iterable[Relation] = OWNING,
    ) -> list[Network]:
        """Addresses with ``value`` in ``field``, as collapsed CIDR blocks
        (IPv4 first), ready for an IPset writer.

        Without ``at``: every address ever bound with that value by one
        of ``relations`` (a scan in C; by default not packet-level
        addresses), plus matching ip-ranges prefixes.  With ``at`` (a time
        or a ``(start, end)`` pair): the addresses whose resolved value at
        that time is ``value`` (as in :meth:`field_ranges`).
        """
        nets: list[Network] = []
        if at is None:
            bindings = self.lookup_value(field, value, scope, relations)
            for b in bindings:
                nets.append(ipaddress.ip_network(b.address))
            ref = field_ref(field)
            sid = self.sid(value)
            if include_ranges and sid:
                for fam, lo, hi in self._range_rows_with(ref, sid):
                    cls = (
                        ipaddress.IPv4Address
                        if fam == 4
                        else ipaddress.IPv6Address
                    )
                    nets += ipaddress.summarize_address_range(cls(lo), cls(hi))
        else:
            for lo_a, hi_a, label in self.field_ranges(
                field, at, scope, include_ranges=include_ranges
            ):
                if label == value:
                    nets += ipaddress.summarize_address_range(lo_a, hi_a)
        v4 = [n for n in nets if n.version == 4]
        v6 = [n for n in nets if n.version == 6]
        return [
            *ipaddress.collapse_addresses(v4),
            *ipaddress.collapse_addresses(v6),
        ]

    def relation_addresses(self, *relations: Relation) -> list[Network]:
        """Every address bound by one of ``relations`` (e.g. the internal
        addresses: ``Relation.IFACE, Relation.ENI``), collapsed."""
        rels = np.array([int(r) for r in relations], dtype=U32)
        rows = np.flatnonzero(np.isin(self.tables.bind[:, 3] >> U32(28), rels))
        raws = sorted(set(self._row_addresses(rows.astype(U32))))
        nets = [ipaddress.ip_network(address_object(r)) for r in raws]
        v4 = [n for n in nets if n.version == 4]
        v6 = [n for n in nets if n.version == 6]
        return [
            *ipaddress.collapse_addresses(v4),
            *ipaddress.collapse_addresses(v6),
        ]

    # -- exports ------------------------------------------------------

    def _all_addresses(self) -> npt.NDArray[np.uint8]:
        t = self.tables
        n4, n6 = len(t.addr4), len(t.addr6)
        hi = np.concatenate([np.zeros(n4, dtype=U64), t.addr6[:, 0]])
        lo = np.concatenate(
            [(U64(0xFFFF) << U64(32)) | t.addr4.astype(U64), t.addr6[:, 1]]
        )
        assert len(hi) == n4 + n6  # noqa: S101 - shape invariant
        return words_to_addresses(hi, lo)

    def point_labels(
        self, field: str, at: object = None, scope: str | None = None
    ) -> list[tuple[bytes, str]]:
        """(address, label) of every mapped address with a value of
        ``field`` at ``at`` (a time or a ``(start, end)`` pair)."""
        addrs = self._all_addresses()
        n = len(addrs)
        if n == 0:
            return []
        if isinstance(at, tuple):
            t0, t1 = parse_time(at[0]), parse_time(at[1])
            if t1 < t0:
                raise ContextMapError(
                    f"Invalid time range '{at[0]}-{at[1]}': End before start"
                )
            bind = self.tables.bind
            counts = np.diff(
                np.concatenate([self.tables.start4, self.tables.start6[1:]])
            ).astype(np.int64)
            owner = np.repeat(np.arange(n), counts)
            later = (bind[:, 1] > t0) & (bind[:, 1] <= t1)
            idx = np.concatenate([np.arange(n), owner[later]])
            times = np.concatenate(
                [
                    np.full(n, t0, dtype=np.int64),
                    bind[later, 1].astype(np.int64),
                ]
            )
        else:
            idx = np.arange(n)
            times = np.full(n, self._time(at), dtype=np.int64)
        # Ranges are exported as ranges: resolve points without them.
        vals = self.value_ids(
            addrs[idx],
            times,
            scope,
            [field],
            relations=[r for r in RESOLVING if r != Relation.RANGE],
        )[:, 0]
        order = np.lexsort((vals, idx))
        idx, vals = idx[order], vals[order]
        out: list[tuple[bytes, str]] = []
        k = 0
        while k < len(idx):
            j = k
            labels = set()
            while j < len(idx) and idx[j] == idx[k]:
                if vals[j]:
                    labels.add(int(vals[j]))
                j += 1
            if len(labels) == 1:
                text = self.label(labels.pop())
                assert text is not None  # noqa: S101 - nonzero id
                out.append((bytes(addrs[idx[k]]), text))
            elif labels:
                out.append((bytes(addrs[idx[k]]), AMBIGUOUS_LABEL))
            k = j
        return out

    def field_ranges(
        self,
        field: str,
        at: object = None,
        scope: str | None = None,
        *,
        include_ranges: bool = True,
    ) -> Iterator[tuple[Address, Address, str]]:
        """Disjoint ``(first, last, label)`` address ranges of ``field``,
        ascending, IPv4 then IPv6, for a prefix-map export.

        ``at`` is a time (default: the map's latest) or a ``(start, end)``
        pair: then an address whose value changed during the range is
        labelled :data:`AMBIGUOUS_LABEL`, like an address whose VPCs
        disagree on the field in an unscoped export (when they agree, on
        a value or on none, the address gets that answer).  Addresses of
        the ip-ranges layer keep the layer's label unless a binding says
        otherwise.
        Unlabelled space is not yielded (the prefix map's default).
        """
        ref = field_ref(field)
        points = self.point_labels(field, at, scope)
        by_family: dict[int, list[tuple[int, str]]] = {4: [], 6: []}
        for raw, text in points:
            obj = address_object(raw)
            by_family[obj.version].append((int(obj), text))
        ranges: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        if include_ranges:
            strings = self.tables.strings
            for lo, hi, ctx in self.tables.range4.tolist():
                v = self._value(ctx, ref)
                if v:
                    ranges[4].append((lo, hi, strings[v]))
            for lh, ll, hh, hl, ctx in self.tables.range6.tolist():
                v = self._value(int(ctx), ref)
                if v:
                    ranges[6].append(
                        (lh << 64 | ll, hh << 64 | hl, strings[v])
                    )
        for fam, cls in (
            (4, ipaddress.IPv4Address),
            (6, ipaddress.IPv6Address),
        ):
            for lo, hi, text in _overlay(ranges[fam], by_family[fam]):
                yield cls(lo), cls(hi), text


def _overlay(
    ranges: list[tuple[int, int, str]], points: list[tuple[int, str]]
) -> list[tuple[int, int, str]]:
    """Disjoint segments: ``points`` over ``ranges``; adjacent equal
    labels merged."""
    out: list[tuple[int, int, str]] = []

    def emit(lo: int, hi: int, text: str) -> None:
        if lo > hi:
            return
        if out and out[-1][1] == lo - 1 and out[-1][2] == text:
            out[-1] = (out[-1][0], hi, text)
        else:
            out.append((lo, hi, text))

    ri = 0
    cur = ranges[0][0] if ranges else 0
    for a, text in points:
        while ri < len(ranges) and ranges[ri][1] < a:
            emit(max(cur, ranges[ri][0]), ranges[ri][1], ranges[ri][2])
            ri += 1
            cur = ranges[ri][0] if ri < len(ranges) else 0
        if ri < len(ranges) and ranges[ri][0] <= a:
            emit(max(cur, ranges[ri][0]), a - 1, ranges[ri][2])
            cur = a + 1
            if cur > ranges[ri][1]:
                ri += 1
                cur = ranges[ri][0] if ri < len(ranges) else 0
        emit(a, a, text)
    while ri < len(ranges):
        emit(max(cur, ranges[ri][0]), ranges[ri][1], ranges[ri][2])
        ri += 1
        cur = ranges[ri][0] if ri < len(ranges) else 0
    return out
