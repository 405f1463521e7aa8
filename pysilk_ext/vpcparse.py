# SPDX-License-Identifier: MIT
"""Parse VPC Flow Log text into columnar :class:`FlowBatch` objects.

The C tokeniser (``pysilk_ext._vpc``) types a whole buffer of lines per
call; this module compiles a :class:`LogFormat` into the C layout, feeds
chunks of complete lines through it and turns the C's line events into
:class:`BadLine` objects.  No Python object is made per field on this
path; :func:`iter_records` offers a per-record view for tests and
debugging only.

Field order always comes from a header line, a format string or a
Parquet schema, never from the number of tokens on a line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pysilk_ext import fields as F
from pysilk_ext._binding import check, load
from pysilk_ext._reuse import ReusePool
from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.errors import CoreError, VpcParseError

__all__ = [
    "DEFAULT_MAX_LINE",
    "BadLine",
    "ChunkParser",
    "LogFormat",
    "ParseResult",
    "Reason",
    "VpcRecord",
    "addr_column_from_strings",
    "iter_records",
    "screen_batch",
    "str_column_from_strings",
]

DEFAULT_MAX_LINE = 65536
_EVENT_CAPACITY = 4096
_DICT_LIMIT = 1 << 19  # distinct strings a parser keeps between feeds
_ROWS_MARGIN = 1.25  # rows allocated per line expected
_LINES_TO_LEARN = 64  # lines a feed needs to teach the line length
_POOL_KEEP = 6  # output buffers a parser keeps (batches in flight + 1)
_VALUE_SHOWN = 80  # longest value quoted in a message


class Reason(StrEnum):
    """Why a line (or a container) was not turned into a record.

    The one list of bad-input categories: the reader, the container
    layer and the commands count and report by these names (man page
    rwvpc2silk(1) describes each).  The C tokeniser finds the token
    faults; :func:`screen_batch` the records whose valid fields
    contradict each other (``wrong-family``, ``missing-time``,
    ``missing-address``, ``end-before-start``);
    :mod:`pysilk_ext.sources` the container damage (``truncated-gzip``,
    ``trailing-data``, ``bad-json``, ``bad-parquet``).
    """

    FIELD_COUNT = "field-count"
    BAD_INTEGER = "bad-integer"
    OUT_OF_RANGE = "out-of-range"
    BAD_ADDRESS = "bad-address"
    BAD_ENUM = "bad-enum"
    BAD_UTF8 = "bad-utf8"
    NUL_BYTE = "nul-byte"
    LINE_TOO_LONG = "line-too-long"
    UNKNOWN_VERSION = "unknown-version"
    UNDECLARED_VERSION = "undeclared-version"
    BAD_HEADER = "bad-header"
    TGW_RECORD = "tgw-record"
    WRONG_FAMILY = "wrong-family"
    MISSING_TIME = "missing-time"
    MISSING_ADDRESS = "missing-address"
    END_BEFORE_START = "end-before-start"
    TRUNCATED_GZIP = "truncated-gzip"
    TRAILING_DATA = "trailing-data"
    BAD_JSON = "bad-json"
    BAD_PARQUET = "bad-parquet"


# ---------------------------------------------------------------------
# Log formats
# ---------------------------------------------------------------------

# Parquet/Athena column names (underscores) back to AWS field names.
_UNDERSCORED: dict[str, str] = {
    name.replace("-", "_"): name for name in (*F.FIELDS_BY_NAME, *F.TGW_FIELDS)
}
_TEMPLATE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class LogFormat:
    """The ordered field names of a flow log (AWS's ``LogFormat``).

    Raises:
        VpcParseError: no field, an empty name, or a name twice.
    """

    fields: tuple[str, ...]

    DEFAULT: ClassVar[LogFormat]

    def __post_init__(self) -> None:
        names = tuple(self.fields)
        object.__setattr__(self, "fields", names)
        if not names:
            raise VpcParseError(
                "Invalid log format: No fields", reason=Reason.BAD_HEADER
            )
        seen: set[str] = set()
        for name in names:
            if not isinstance(name, str):
                raise TypeError(
                    f"Field names must be str, not {type(name).__name__}"
                )
            if not name or any(ch.isspace() for ch in name):
                raise VpcParseError(
                    f"Invalid log format: Invalid field name '{name}'",
                    field=name,
                    reason=Reason.BAD_HEADER,
                )
            if name in seen:
                raise VpcParseError(
                    f"Invalid log format: Field '{name}' appears more "
                    f"than once",
                    field=name,
                    reason=Reason.BAD_HEADER,
                )
            seen.add(name)

    @classmethod
    def from_header_line(cls, line: str | bytes) -> LogFormat:
        """Return the format named by an S3 header line.

        Raises:
            VpcParseError: the line is not valid UTF-8 or names a field
                twice (or holds an empty name).
        """
        if isinstance(line, bytes | bytearray | memoryview):
            try:
                line = bytes(line).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise VpcParseError(
                    "Invalid header line: Not valid UTF-8",
                    reason=Reason.BAD_HEADER,
                ) from exc
        text = line.rstrip("\r\n")
        return cls(tuple(text.split(" ")) if text else ())

    @classmethod
    def parse(cls, spec: str) -> LogFormat:
        """Return the format of a user-given spec.

        Accepts AWS's ``${version} ${account-id} ...`` form, or a plain
        list separated by spaces and/or commas.  Underscored names of
        known fields (Parquet/Athena columns) are read as AWS names.

        Raises:
            VpcParseError: text outside ``${...}``, or an invalid list.
        """
        text = spec.strip()
        if "${" in text:
            names = _TEMPLATE.findall(text)
            rest = _TEMPLATE.sub("", text)
            if rest.strip(" ,\t"):
                raise VpcParseError(
                    f"Invalid log format '{spec}': Text outside ${{...}}",
                    reason=Reason.BAD_HEADER,
                )
        else:
            names = re.split(r"[\s,]+", text) if text else []
        return cls(tuple(_UNDERSCORED.get(n, n) for n in names))

    @property
    def declared_version(self) -> int:
        """The version AWS writes in records of this format."""
        return F.version_of_fields(self.fields)

    @property
    def is_tgw(self) -> bool:
        """True when the format names Transit Gateway-only fields."""
        return any(name in F.TGW_FIELDS for name in self.fields)

    @property
    def unknown_fields(self) -> tuple[str, ...]:
        """Names that are neither VPC nor TGW fields (newer versions)."""
        return tuple(
            n
            for n in self.fields
            if n not in F.FIELDS_BY_NAME and n not in F.TGW_FIELDS
        )

    def __str__(self) -> str:
        return " ".join(f"${{{name}}}" for name in self.fields)


LogFormat.DEFAULT = LogFormat(F.DEFAULT_FORMAT)


# ---------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BadLine:
    """One input line (or item) that did not become a record.

    ``reason`` is a :class:`Reason` value; ``field``/``value`` name the
    offending column and token when one is to blame; ``text`` is the raw
    line (without its newline) for a bad-lines file.
    """

    source: str
    lineno: int
    reason: str
    field: str | None = None
    value: str | None = None
    text: bytes = b""
    message: str = ""

    def __post_init__(self) -> None:
        if not self.message:
            object.__setattr__(self, "message", _default_message(self))

    def __str__(self) -> str:
        return f"{self.source}:{self.lineno}: {self.message}"


def _default_message(bad: BadLine) -> str:
    text = _REASON_TEXT.get(bad.reason, f"Bad input ({bad.reason})")
    return f"{bad.field}: {text}" if bad.field else text


_REASON_TEXT: dict[str, str] = {
    Reason.FIELD_COUNT: "Wrong number of fields",
    Reason.BAD_INTEGER: "Invalid integer",
    Reason.OUT_OF_RANGE: "Value out of range",
    Reason.BAD_ADDRESS: "Invalid IP address",
    Reason.BAD_ENUM: "Invalid value",
    Reason.BAD_UTF8: "Value is not valid UTF-8",
    Reason.NUL_BYTE: "Line contains a NUL byte",
    Reason.LINE_TOO_LONG: "Line is too long",
    Reason.UNKNOWN_VERSION: "Unknown flow log version",
    Reason.UNDECLARED_VERSION: "Version higher than the format declares",
    Reason.BAD_HEADER: "Invalid header line",
    Reason.TGW_RECORD: "Transit Gateway flow log record, not a VPC record",
    Reason.WRONG_FAMILY: "Address family differs from the record's type",
    Reason.MISSING_TIME: "Missing start or end time in a flow record",
    Reason.MISSING_ADDRESS: "Missing address in a flow record",
    Reason.END_BEFORE_START: "End time is before start time",
    Reason.TRUNCATED_GZIP: "Compressed input is truncated",
    Reason.TRAILING_DATA: "Trailing data after the compressed input",
    Reason.BAD_JSON: "Invalid JSON",
    Reason.BAD_PARQUET: "Invalid Parquet data",
}


@dataclass(slots=True)
class ParseResult:
    """What one :meth:`ChunkParser.feed` call produced.

    ``bad`` holds every line that is not a record, TGW records included
    (reason ``tgw-record``); header lines are only counted.
    """

    batch: FlowBatch
    bad: list[BadLine] = field(default_factory=list)
    headers: int = 0
    ms_times: int = 0
    lines: int = 0
    format: LogFormat = LogFormat.DEFAULT


# ---------------------------------------------------------------------
# The compiled layout and the chunk parser
# ---------------------------------------------------------------------

_ENUM_ID: dict[type[IntEnum], str] = {
    F.Action: "PSE_VPC_ENUM_ACTION",
    F.LogStatus: "PSE_VPC_ENUM_LOG_STATUS",
    F.FlowDirection: "PSE_VPC_ENUM_FLOW_DIRECTION",
    F.AddrType: "PSE_VPC_ENUM_ADDR_TYPE",
}

_HEADER_NAMES = " ".join(sorted({*F.FIELDS_BY_NAME, *F.TGW_FIELDS})).encode()


def _event_reasons(lib: Any) -> dict[int, Reason]:
    return {
        lib.PSE_VPC_EV_TGW: Reason.TGW_RECORD,
        lib.PSE_VPC_EV_FIELD_COUNT: Reason.FIELD_COUNT,
        lib.PSE_VPC_EV_BAD_INTEGER: Reason.BAD_INTEGER,
        lib.PSE_VPC_EV_OUT_OF_RANGE: Reason.OUT_OF_RANGE,
        lib.PSE_VPC_EV_BAD_ADDRESS: Reason.BAD_ADDRESS,
        lib.PSE_VPC_EV_BAD_ENUM: Reason.BAD_ENUM,
        lib.PSE_VPC_EV_NUL_BYTE: Reason.NUL_BYTE,
        lib.PSE_VPC_EV_LINE_TOO_LONG: Reason.LINE_TOO_LONG,
        lib.PSE_VPC_EV_UNKNOWN_VERSION: Reason.UNKNOWN_VERSION,
        lib.PSE_VPC_EV_UNDECLARED_VERSION: Reason.UNDECLARED_VERSION,
        lib.PSE_VPC_EV_BAD_UTF8: Reason.BAD_UTF8,
    }


class _Layout:
    """A LogFormat compiled into a C parser handle.

    Also owns the per-kind slot numbering that maps C output rows back to
    field names.
    """

    def __init__(
        self, fmt: LogFormat, max_line: int, *, simd: str = "best"
    ) -> None:
        mod = load("vpc")
        ffi, lib = mod.ffi, mod.lib
        self.mod = mod
        self.format = fmt
        self.specs = [F.field(name) for name in fmt.fields]
        self.slots: dict[F.FieldKind, list[int]] = {k: [] for k in F.FieldKind}
        # (name, kind, slot) of each column, in format order
        self.plan: list[tuple[str, F.FieldKind, int]] = []
        cols = ffi.new("pse_vpc_column_t[]", len(self.specs))
        for i, spec in enumerate(self.specs):
            col = cols[i]
            col.kind = int(spec.kind)
            col.slot = len(self.slots[spec.kind])
            self.plan.append((spec.name, spec.kind, col.slot))
            self.slots[spec.kind].append(i)
            if spec.kind is F.FieldKind.INT:
                col.lo, col.hi = spec.lo, spec.hi
                if spec.name == "version":
                    col.role = lib.PSE_VPC_ROLE_VERSION
                elif spec.is_time:
                    col.role = lib.PSE_VPC_ROLE_TIME
            elif spec.kind is F.FieldKind.ENUM:
                assert spec.enum is not None  # noqa: S101 - table invariant
                col.enum_id = getattr(lib, _ENUM_ID[spec.enum])
        flags = 0
        if fmt.is_tgw:
            flags |= lib.PSE_VPC_F_TGW
        if fmt.unknown_fields:
            flags |= lib.PSE_VPC_F_FUTURE
        if simd == "portable":
            flags |= lib.PSE_VPC_F_BASELINE
        elif simd == "avx2":
            flags |= lib.PSE_VPC_F_NO_AVX512
        names = b" ".join([_HEADER_NAMES, *(n.encode() for n in fmt.fields)])
        handle = ffi.new("pse_vpc_parser_t **")
        check(
            mod,
            lib.pse_vpc_parser_create(
                handle,
                cols,
                len(self.specs),
                names,
                len(names),
                fmt.declared_version,
                sum(1 << v for v in F.VPC_VERSIONS),
                1 << F.TGW_VERSION,
                flags,
                max_line,
            ),
            VpcParseError,
            "Cannot compile log format",
        )
        self.handle = ffi.gc(handle[0], lib.pse_vpc_parser_free)
        # the text of every uid (value of any STR column) the C holds
        self._values: npt.NDArray[np.object_] = np.empty(0, dtype=object)
        self._count = 0
        self._forget_values()
        # the fewest bytes a good line takes: one per non-STR token
        # (STR tokens may be empty), the spaces and a newline
        self.min_line = len(self.specs) + sum(
            spec.kind is not F.FieldKind.STR for spec in self.specs
        )

    def count(self, kind: F.FieldKind) -> int:
        return len(self.slots[kind])

    def _forget_values(self) -> None:
        self._values = np.empty(1024, dtype=object)
        self._values[0] = ""
        self._count = 1

    def begin_batch(self) -> None:
        """Number the next rows' strings from 1; bound the dictionaries.

        The C dictionaries keep every distinct value for the life of the
        parser (so a value costs Python work once, not once per batch);
        once they hold more than :data:`_DICT_LIMIT` values (ids unique
        per record, say) they are emptied here, between batches.
        """
        lib = self.mod.lib
        if self._count > _DICT_LIMIT:
            lib.pse_vpc_dict_reset(self.handle)
            self._forget_values()
        else:
            lib.pse_vpc_dict_begin(self.handle)

    def _learn_values(self) -> None:
        """Copy the text of the uids the C added since the last call."""
        ffi, lib = self.mod.ffi, self.mod.lib
        handle = self.handle
        size = int(lib.pse_vpc_dict_size(handle))
        have = self._count
        if size <= have:
            return
        needed = ffi.new("size_t *")
        # first call only sizes (and so returns PSE_ERR_BUFFER)
        lib.pse_vpc_dict_join(handle, have, ffi.NULL, 0, needed)
        joined = bytearray(needed[0])
        check(
            self.mod,
            lib.pse_vpc_dict_join(
                handle, have, ffi.from_buffer(joined), len(joined), needed
            ),
            CoreError,
            "VPC string dictionary",
        )
        known = self._values
        if size > len(known):
            grown = np.empty(max(size, 2 * len(known)), dtype=object)
            grown[:have] = known[:have]
            self._values = known = grown
        # the C checked that every value is UTF-8; none holds a newline
        new = joined.decode("utf-8").split("\n")
        known[have:size] = np.array(new, dtype=object)
        self._count = size

    def batch_values(self, rows: int) -> list[list[str]]:
        """Per STR column (slot), the values of the batch's codes.

        Each list is ``[""]`` followed by the column's values in order of
        first use in the batch (of ``rows`` rows), so that the codes
        index it directly.
        """
        nstr = self.count(F.FieldKind.STR)
        if not nstr:
            return []
        ffi, lib = self.mod.ffi, self.mod.lib
        self._learn_values()
        counts = ffi.new("uint32_t[]", nstr)
        needed = ffi.new("uint64_t *")
        cap = nstr * (rows + 1)  # a column has at most rows + 1 codes
        while True:
            uids = np.empty(cap, np.uint32)
            status = lib.pse_vpc_dict_batch(
                self.handle,
                counts,
                ffi.cast("uint32_t *", ffi.from_buffer(uids)),
                cap,
                needed,
            )
            if status != lib.PSE_ERR_BUFFER:
                break
            cap = int(needed[0])
        check(self.mod, status, CoreError, "VPC string dictionary")
        texts: list[str] = self._values[uids[: needed[0]]].tolist()
        out: list[list[str]] = []
        at = 0
        for count in counts:
            out.append(texts[at : at + count])
            at += count
        return out


@dataclass(slots=True)
class _Part:
    """The finished columns of one segment."""

    n: int
    linenos: npt.NDArray[np.uint64]
    columns: dict[str, Any]
    specs: list[F.FieldSpec]


class _Segment:
    """Output arrays of one layout over part of one buffer."""

    def __init__(
        self,
        layout: _Layout,
        cap: int,
        out: Any,
        pool: ReusePool[npt.NDArray[np.uint8]],
    ) -> None:
        self.layout = layout
        self.pool = pool
        self._allocate(cap, out)
        out.rows = 0
        layout.begin_batch()

    def _allocate(self, cap: int, out: Any) -> None:
        """Give ``out`` arrays of ``cap`` rows: one buffer from the pool
        (see :mod:`pysilk_ext._reuse`), cut into the arrays, 8-byte
        aligned ones first."""
        layout = self.layout
        ffi = layout.mod.ffi
        kinds = F.FieldKind
        cap = max(cap, 1)  # the C wants valid pointers even for no rows
        self.cap = cap
        nint, naddr = layout.count(kinds.INT), layout.count(kinds.ADDR)
        nenum, nstr = layout.count(kinds.ENUM), layout.count(kinds.STR)
        per_row = 8 * (nint + 1) + 16 * naddr + 4 * nstr + naddr + nenum
        mem = self.pool.take(per_row * cap)[: per_row * cap]
        at = 0

        def cut(
            dtype: type[np.generic], shape: tuple[int, ...]
        ) -> npt.NDArray[Any]:
            nonlocal at
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            arr = mem[at : at + size].view(dtype).reshape(shape)
            at += size
            return arr

        self.ints = cut(np.int64, (nint, cap))
        self.linenos = cut(np.uint64, (cap,))
        self.addrs = cut(np.uint8, (naddr, cap, 16))
        self.strs = cut(np.uint32, (nstr, cap))
        self.fams = cut(np.uint8, (naddr, cap))
        self.enums = cut(np.uint8, (nenum, cap))

        def ptr(ctype: str, arr: npt.NDArray[Any]) -> Any:
            if arr.size == 0:
                return ffi.NULL
            return ffi.cast(ctype, ffi.from_buffer(arr))

        out.ints = ptr("int64_t *", self.ints)
        out.addrs = ptr("uint8_t *", self.addrs)
        out.fams = ptr("uint8_t *", self.fams)
        out.enums = ptr("uint8_t *", self.enums)
        out.strs = ptr("uint32_t *", self.strs)
        out.linenos = ptr("uint64_t *", self.linenos)
        out.cap = cap

    def grow(self, cap: int, out: Any) -> None:
        """Move the ``out.rows`` rows so far into arrays of ``cap`` rows.

        Rare: feeds size their arrays from the line length seen so far.
        """
        rows = int(out.rows)
        old = (self.ints, self.addrs, self.fams, self.enums, self.strs)
        linenos = self.linenos
        self._allocate(cap, out)
        for dst, src in zip(
            (self.ints, self.addrs, self.fams, self.enums, self.strs),
            old,
            strict=True,
        ):
            dst[:, :rows] = src[:, :rows]
        self.linenos[:rows] = linenos[:rows]

    def finish(self, n: int) -> _Part:
        """Return the first ``n`` rows; read the batch's strings now,
        before the layout's next segment starts another batch."""
        return _Part(n, self.linenos[:n], self.columns(n), self.layout.specs)

    def columns(self, n: int) -> dict[str, Any]:
        """Return the first ``n`` rows as batch columns, by field name."""
        layout = self.layout
        ints = list(self.ints[:, :n])
        addrs = list(self.addrs[:, :n])
        fams = list(self.fams[:, :n])
        enums = list(self.enums[:, :n])
        strs = list(self.strs[:, :n])
        values = layout.batch_values(n)
        cols: dict[str, Any] = {}
        for name, kind, slot in layout.plan:
            if kind is F.FieldKind.INT:
                cols[name] = ints[slot]
            elif kind is F.FieldKind.ADDR:
                cols[name] = AddrColumn(addrs[slot], fams[slot])
            elif kind is F.FieldKind.ENUM:
                cols[name] = enums[slot]
            else:
                cols[name] = StrColumn(strs[slot], values[slot])
        return cols


class ChunkParser:
    """Parse chunks of complete VPC Flow Log lines of one input.

    Args:
        fmt: the format of the records; ``None`` expects a header line
            first and falls back to :attr:`LogFormat.DEFAULT` when the
            first line is not one.  A header line anywhere (concatenated
            objects) switches the format for the lines that follow.
        source: the input's name, used in :class:`BadLine` messages.
        max_line: lines longer than this many bytes are bad.

    The current format is the public attribute :attr:`format`; it
    carries over from one :meth:`feed` to the next (so an input is fed in
    order through one parser) and may be set between feeds.

    A parser owns C state (string dictionaries): use one per thread.  The
    C call releases the GIL, so parsers in two threads use two cores.
    Chunks of 1-16 MiB amortise the per-call costs.  Each batch's
    :class:`StrColumn` values hold only the values of that batch (in
    order of first use), but the parser remembers every value it has
    seen, so a value repeated over many feeds is decoded once.
    """

    def __init__(
        self,
        fmt: LogFormat | None = None,
        *,
        source: str,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        if max_line <= 0:
            raise ValueError(f"Invalid max_line '{max_line}'")
        self.source = source
        self.max_line = max_line
        self.format = fmt if fmt is not None else LogFormat.DEFAULT
        self._layouts: dict[LogFormat, _Layout] = {}
        self._mod = load("vpc")
        self._events = self._mod.ffi.new("pse_vpc_event_t[]", _EVENT_CAPACITY)
        self._reasons = _event_reasons(self._mod.lib)
        # tests set this ("portable", "avx2") to compare the C paths
        self._simd = "best"
        # bytes per line of the last feed (sizes the next one's arrays)
        self._line_bytes: float | None = None
        # output memory, reused once the batches made in it are gone
        self._pool: ReusePool[npt.NDArray[np.uint8]] = ReusePool(
            _empty_bytes, keep=_POOL_KEEP, slack=0.25
        )

    def _layout(self, fmt: LogFormat) -> _Layout:
        layout = self._layouts.get(fmt)
        if layout is None:
            layout = _Layout(fmt, self.max_line, simd=self._simd)
            self._layouts[fmt] = layout
        return layout

    def feed(
        self,
        data: bytes | bytearray | memoryview,
        first_lineno: int = 1,
        *,
        head: bytes | bytearray | memoryview = b"",
    ) -> ParseResult:
        """Parse ``head`` then ``data``, which hold only complete lines.

        The last line may lack its newline (end of input).  Line numbers
        start at ``first_lineno``.  ``head`` (complete lines too) saves
        the caller joining a few lines to a big zero-copy ``data``: both
        make one batch.
        """
        ffi, lib = self._mod.ffi, self._mod.lib
        views = [
            view
            for view in (memoryview(head), memoryview(data))
            if view.nbytes
        ]
        sizes = [view.nbytes for view in views]
        out = ffi.new("pse_vpc_out_t *")
        out.events = self._events
        out.ev_cap = _EVENT_CAPACITY
        out.lineno = first_lineno
        result = ParseResult(FlowBatch(self.source, 0, _NO_LINES))
        layout = self._layout(self.format)
        seg = _Segment(
            layout, self._rows_for(views, 0, 0, layout), out, self._pool
        )
        done: list[_Part] = []
        for k, view in enumerate(views):
            view = view.cast("B")  # noqa: PLW2901 - a byte view of it
            cbuf = ffi.from_buffer(view)
            size = sizes[k]
            out.pos = 0
            while True:
                status = lib.pse_vpc_parse(layout.handle, cbuf, size, out)
                check(self._mod, status, CoreError, "VPC tokeniser failed")
                header = self._collect(out, view, layout, result)
                out.n_events = 0
                if out.stop == lib.PSE_VPC_STOP_END:
                    break
                if out.stop == lib.PSE_VPC_STOP_ROWS:
                    # the lines are shorter than guessed: room for the rest
                    rest = size - out.pos + sum(sizes[k + 1 :])
                    seg.grow(int(out.rows) + rest // layout.min_line + 1, out)
                    continue
                if header is not None and header != layout.format:
                    done.append(seg.finish(out.rows))
                    self.format = header
                    layout = self._layout(header)
                    rows = self._rows_for(views, k, out.pos, layout)
                    seg = _Segment(layout, rows, out, self._pool)
        done.append(seg.finish(out.rows))
        self._screen(done, views, first_lineno, result)
        if out.lines >= _LINES_TO_LEARN:
            self._line_bytes = sum(sizes) / out.lines
        result.lines = out.lines
        result.ms_times = out.ms_times
        result.format = self.format
        result.batch = _assemble(self.source, done)
        return result

    def _screen(
        self,
        parts: list[_Part],
        views: list[memoryview],
        first_lineno: int,
        result: ParseResult,
    ) -> None:
        """Drop the records :func:`screen_batch` finds bad from ``parts``;
        add their BadLines to ``result`` in line order."""
        texts = _text_lines(
            [view.cast("B") for view in views], first_lineno, self.max_line
        )
        found: list[BadLine] = []
        for part in parts:
            if not part.n:
                continue
            batch = FlowBatch(self.source, part.n, part.linenos, part.columns)
            fields = [spec.name for spec in part.specs]
            kept, bad = screen_batch(batch, fields, texts)
            if bad:
                part.n, part.linenos, part.columns = (
                    kept.n,
                    kept.lineno,
                    kept.columns,
                )
                found.extend(bad)
        if found:
            result.bad.extend(found)
            result.bad.sort(key=lambda bad: bad.lineno)

    def _rows_for(
        self, views: list[memoryview], k: int, pos: int, layout: _Layout
    ) -> int:
        """Rows to allocate for the lines from ``views[k][pos:]`` on.

        Counting the lines costs a pass over the text, so only a parser's
        first feed does it; later ones go by an earlier feed's average
        line length (with a margin), and in the rare case that is not
        enough the parser stops at a full segment, which grows.
        """
        if self._line_bytes is None:
            ffi, lib = self._mod.ffi, self._mod.lib
            lines = 0
            for i, view in enumerate(views[k:]):
                cbuf = ffi.from_buffer(view)
                at = pos if i == 0 else 0
                lines += lib.pse_vpc_count_lines(cbuf + at, view.nbytes - at)
            return int(lines)
        size = sum(view.nbytes for view in views[k:]) - pos
        return int(size / self._line_bytes * _ROWS_MARGIN) + 64

    def _collect(
        self,
        out: Any,
        view: memoryview,
        layout: _Layout,
        result: ParseResult,
    ) -> LogFormat | None:
        """Turn the C's events into BadLines; return a header's format."""
        lib = self._mod.lib
        header: LogFormat | None = None
        for k in range(out.n_events):
            ev = self._events[k]
            code = ev.code
            line_len = min(ev.line_len, self.max_line)
            text = bytes(view[ev.line_off : ev.line_off + line_len])
            if code == lib.PSE_VPC_EV_HEADER:
                try:
                    header = LogFormat.from_header_line(text)
                except VpcParseError as exc:
                    result.bad.append(
                        BadLine(
                            self.source,
                            ev.lineno,
                            Reason.BAD_HEADER,
                            text=text,
                            message=str(exc),
                        )
                    )
                else:
                    result.headers += 1
                continue
            result.bad.append(
                self._bad_line(ev, self._reasons[code], text, view, layout)
            )
        return header

    def _bad_line(
        self,
        ev: Any,
        reason: Reason,
        text: bytes,
        view: memoryview,
        layout: _Layout,
    ) -> BadLine:
        spec: F.FieldSpec | None = None
        value: str | None = None
        if ev.column >= 0 and reason is not Reason.TGW_RECORD:
            spec = layout.specs[ev.column]
            raw = bytes(view[ev.tok_off : ev.tok_off + ev.tok_len])
            value = raw.decode("utf-8", "backslashreplace")
        message = _message(
            reason,
            spec,
            value=value,
            text=text,
            layout=layout,
            max_line=self.max_line,
        )
        return BadLine(
            self.source,
            ev.lineno,
            reason,
            spec.name if spec else None,
            value,
            text,
            message,
        )


_NO_LINES: npt.NDArray[np.uint64] = np.empty(0, np.uint64)


def _empty_bytes(nbytes: int) -> npt.NDArray[np.uint8]:
    return np.empty(nbytes, np.uint8)


def _shown(value: str) -> str:
    if len(value) > _VALUE_SHOWN:
        return value[:_VALUE_SHOWN] + "..."
    return value


def _message(
    reason: Reason,
    spec: F.FieldSpec | None,
    *,
    value: str | None,
    text: bytes,
    layout: _Layout,
    max_line: int,
) -> str:
    """Return the SiLK-style message of a bad line."""
    name = spec.name if spec else ""
    shown = _shown(value or "")
    if reason is Reason.FIELD_COUNT:
        found = len(text.split(b" "))
        want = len(layout.format.fields)
        return f"Expected {want} fields but found {found}"
    if reason is Reason.BAD_INTEGER:
        return f"{name}: Invalid integer '{shown}'"
    if reason is Reason.OUT_OF_RANGE:
        lo, hi = (spec.lo, spec.hi) if spec else (0, F.INT64_MAX)
        return f"{name}: Value '{shown}' out of range {lo}-{hi}"
    if reason is Reason.BAD_ADDRESS:
        return f"{name}: Invalid IP address '{shown}'"
    if reason is Reason.BAD_ENUM:
        words = ", ".join(F.ENUM_TEXT[spec.enum]) if spec and spec.enum else ""
        return f"{name}: Invalid value '{shown}'; expected one of {words}"
    if reason is Reason.BAD_UTF8:
        return f"{name}: Value '{shown}' is not valid UTF-8"
    if reason is Reason.NUL_BYTE:
        return "Line contains a NUL byte"
    if reason is Reason.LINE_TOO_LONG:
        return f"Line is longer than {max_line} bytes"
    if reason is Reason.UNKNOWN_VERSION:
        return f"version: Unknown flow log version '{shown}'"
    if reason is Reason.UNDECLARED_VERSION:
        declared = layout.format.declared_version
        return (
            f"version: Version '{shown}' is higher than the format "
            f"declares ({declared})"
        )
    return _REASON_TEXT[reason]


def _assemble(source: str, parts: list[_Part]) -> FlowBatch:
    """Join the segments of one feed into one batch.

    Usually there is one segment.  After a header switched formats the
    batch holds the union of the formats' columns, missing where a
    segment's format lacked the field.
    """
    # a segment without rows (e.g. before a leading header) adds nothing
    parts = [part for part in parts if part.n] or parts[-1:]
    if len(parts) == 1:
        part = parts[0]
        return FlowBatch(source, part.n, part.linenos, part.columns)
    names: dict[str, F.FieldSpec] = {}
    for part in parts:
        for spec in part.specs:
            names.setdefault(spec.name, spec)
    columns: dict[str, Any] = {}
    for name, spec in names.items():
        present = [(part.columns.get(name), part.n) for part in parts]
        columns[name] = _concat(spec.kind, present)
    return FlowBatch(
        source,
        sum(part.n for part in parts),
        np.concatenate([part.linenos for part in parts]),
        columns,
    )


def _concat(kind: F.FieldKind, parts: list[tuple[Any, int]]) -> Any:
    """Concatenate one column over segments, filling absent parts."""
    if kind is F.FieldKind.INT:
        return np.concatenate(
            [
                c if c is not None else np.full(n, -1, np.int64)
                for c, n in parts
            ]
        )
    if kind is F.FieldKind.ENUM:
        return np.concatenate(
            [c if c is not None else np.zeros(n, np.uint8) for c, n in parts]
        )
    if kind is F.FieldKind.ADDR:
        return AddrColumn(
            np.concatenate(
                [
                    c.addr if c is not None else np.zeros((n, 16), np.uint8)
                    for c, n in parts
                ]
            ),
            np.concatenate(
                [
                    c.family if c is not None else np.zeros(n, np.uint8)
                    for c, n in parts
                ]
            ),
        )
    values = [""]
    index = {"": 0}
    codes = []
    for c, n in parts:
        if c is None:
            codes.append(np.zeros(n, np.uint32))
            continue
        for v in c.values:
            if v not in index:
                index[v] = len(values)
                values.append(v)
        remap = np.array([index[v] for v in c.values], np.uint32)
        codes.append(remap[c.codes])
    return StrColumn(np.concatenate(codes), values)


# ---------------------------------------------------------------------
# Record checks: fields that are each valid but contradict each other
# ---------------------------------------------------------------------

#: The address fields whose family the ``type`` field states: the
#: interface's own side of the traffic (no VPC field holds IPv4 addresses
#: only, in any version).  Not ``pkt-srcaddr``/``pkt-dstaddr``: behind a
#: NAT64 gateway the original endpoint of an IPv4 record is IPv6, and such
#: a record is good data, not a bad line.
_TYPED_ADDRS = ("srcaddr", "dstaddr")
#: Family byte a ``type`` code demands (IPv4, IPv6; none for ``-``/EFA).
_TYPE_FAMILY: npt.NDArray[np.uint8] = np.zeros(256, np.uint8)
_TYPE_FAMILY[F.AddrType.IPV4] = 4
_TYPE_FAMILY[F.AddrType.IPV6] = 6
_FAMILY_NAME = {4: "IPv4", 6: "IPv6"}

#: Returns the raw text (no newline) of each of the given line numbers.
LineTexts = Callable[[list[int]], dict[int, bytes]]


def screen_batch(
    batch: FlowBatch, fields: Sequence[str], line_texts: LineTexts
) -> tuple[FlowBatch, list[BadLine]]:
    """Return ``batch`` without the records no consumer can use, and a
    :class:`BadLine` for each, in line order.

    Every token of such a record is well-formed, so the C tokeniser
    takes it; what is wrong is how two fields relate, which is cheaper
    to check on whole columns here than token by token in C:

    * ``wrong-family``: ``type`` is ``IPv4`` but ``srcaddr`` or
      ``dstaddr`` holds an IPv6 address, or the reverse (SiLK would get
      an IPv4-mapped ``::ffff:`` address mixed into IPv4 data).  ``type``
      ``-`` or ``EFA``, and logs without a ``type`` field, are not
      checked; nor are ``pkt-srcaddr``/``pkt-dstaddr`` (NAT64).
    * ``missing-time``: a flow record (``log-status`` OK, ``-`` or not
      logged) whose ``start`` or ``end`` is ``-``.  NODATA and SKIPDATA
      records legitimately hold ``-`` in most fields: not flagged.
    * ``missing-address``: a record whose ``log-status`` is ``OK``
      (stated, not assumed: without it a NODATA record looks alike) and
      whose ``srcaddr`` or ``dstaddr`` is ``-``.
    * ``end-before-start``: ``end`` earlier than ``start``, in any
      record.

    They are bad lines of the parser, not skips of one command, so that
    rwvpcstats, rwvpcmapbuild and rwvpc2silk count them alike and name
    their file and line.  A record with several faults is reported once,
    for the first of them in the order above.

    Args:
        batch: parsed records.
        fields: the log format of every row (token order of its text).
        line_texts: gives the raw text of line numbers; called only when
            some record is bad.
    """
    found = _record_faults(batch)
    if not found:
        return batch, []
    rows = sorted(found)
    linenos = batch.lineno[rows].tolist()
    texts = line_texts(linenos)
    bad = []
    for row, lineno in zip(rows, linenos, strict=True):
        reason, name = found[row]
        text = texts.get(lineno, b"")
        tokens = text.split(b" ")
        if len(tokens) != len(fields):
            tokens = []  # no text: quote the parsed values instead
        value = _token(batch, fields, tokens, name, row)
        if reason is Reason.WRONG_FAMILY:
            family = int(batch.columns[name].family[row])
            wanted = 4 if family == 6 else 6
            message = (
                f"{name}: {_FAMILY_NAME[family]} address '{value}' in an "
                f"{_FAMILY_NAME[wanted]} record"
            )
        elif reason in (Reason.MISSING_TIME, Reason.MISSING_ADDRESS):
            message = f"{name}: Missing value '{value}' in a flow record"
        else:
            start = _token(batch, fields, tokens, "start", row)
            message = f"{name}: Value '{value}' is before start '{start}'"
        bad.append(
            BadLine(batch.source, lineno, reason, name, value, text, message)
        )
    keep = np.ones(batch.n, dtype=bool)
    keep[rows] = False
    return _take_rows(batch, keep), bad


def _record_faults(batch: FlowBatch) -> dict[int, tuple[Reason, str]]:
    """Rows whose fields contradict each other: row -> (reason, field).

    Runs on every batch: a few whole-column operations, no Python work
    per row unless a row is bad.
    """
    found: dict[int, tuple[Reason, str]] = {}
    if not batch.n:
        return found
    cols = batch.columns

    def flag(mask: npt.NDArray[np.bool_], reason: Reason, name: str) -> None:
        if mask.any():
            for row in np.flatnonzero(mask).tolist():
                found.setdefault(row, (reason, name))

    kind = cols.get("type")
    if kind is not None:
        want = _TYPE_FAMILY[kind]
        for name in _TYPED_ADDRS:
            col = cols.get(name)
            if col is not None:
                # family and want are each 0 (no check), 4 or 6: the
                # product is 24 exactly when both are set and differ
                flag(col.family * want == 24, Reason.WRONG_FAMILY, name)
    start = cols.get("start")
    end = cols.get("end")
    status = cols.get("log-status")
    flow = (
        None if status is None else (status == F.LogStatus.OK) | (status == 0)
    )
    for name, col in (("start", start), ("end", end)):
        if col is not None:
            missing = col < 0
            flag(
                missing if flow is None else missing & flow,
                Reason.MISSING_TIME,
                name,
            )
    if status is not None:
        stated_ok = status == F.LogStatus.OK
        for name in ("srcaddr", "dstaddr"):
            col = cols.get(name)
            if col is not None:
                flag(
                    stated_ok & (col.family == 0),
                    Reason.MISSING_ADDRESS,
                    name,
                )
    if start is not None and end is not None:
        flag((end < start) & (end >= 0), Reason.END_BEFORE_START, "end")
    return found


def _token(
    batch: FlowBatch,
    fields: Sequence[str],
    tokens: list[bytes],
    name: str,
    row: int,
) -> str:
    """The token of field ``name`` as written on the line (``tokens``),
    else its parsed value as text."""
    if tokens and name in fields:
        raw = tokens[list(fields).index(name)]
        return _shown(raw.decode("utf-8", "backslashreplace"))
    col = batch.columns.get(name)
    if isinstance(col, AddrColumn):
        addr = _addr_value(col.addr[row].tobytes(), int(col.family[row]))
        return "-" if addr is None else str(addr)
    if col is None or int(col[row]) < 0:
        return "-"
    return str(int(col[row]))


def _take_rows(batch: FlowBatch, keep: npt.NDArray[np.bool_]) -> FlowBatch:
    """The rows of ``batch`` where ``keep`` is true."""
    columns: dict[str, Any] = {}
    for name, col in batch.columns.items():
        if isinstance(col, AddrColumn):
            columns[name] = AddrColumn(col.addr[keep], col.family[keep])
        elif isinstance(col, StrColumn):
            columns[name] = StrColumn(col.codes[keep], col.values)
        else:
            columns[name] = col[keep]
    return FlowBatch(
        batch.source, int(keep.sum()), batch.lineno[keep], columns
    )


def _text_lines(
    views: Sequence[memoryview], first_lineno: int, max_line: int
) -> LineTexts:
    """A :data:`LineTexts` over the buffers of one feed, numbered as the
    C numbers them (every newline ends a line)."""

    def texts(linenos: list[int]) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        wanted = sorted(set(linenos))
        at = first_lineno
        for view in views:
            data = np.frombuffer(view, np.uint8)
            ends = np.flatnonzero(data == 0x0A)
            count = len(ends) + (len(data) > 0 and data[-1] != 0x0A)
            for lineno in wanted:
                i = lineno - at
                if 0 <= i < count:
                    a = int(ends[i - 1]) + 1 if i else 0
                    b = int(ends[i]) if i < len(ends) else len(data)
                    if b > a and data[b - 1] == 0x0D:
                        b -= 1
                    out[lineno] = bytes(view[a : min(b, a + max_line)])
            at += count
        return out

    return texts


# ---------------------------------------------------------------------
# Column helpers (for containers that already hold per-column values)
# ---------------------------------------------------------------------


def addr_column_from_strings(
    values: Sequence[str | None], *, invalid: list[int] | None = None
) -> AddrColumn:
    """Return an :class:`AddrColumn` of address texts.

    ``None``, ``""`` and ``"-"`` are missing.  An invalid text raises
    :class:`VpcParseError` (``lineno`` = its 1-based index), unless
    ``invalid`` is a list: then its 0-based index is appended there and
    the row is stored as missing.
    """
    mod = load("vpc")
    ffi, lib = mod.ffi, mod.lib
    n = len(values)
    # one text per line: a text holding a line break is never an
    # address, so it becomes "!" (invalid) rather than two rows
    texts = [
        "-" if v is None else ("!" if "\n" in v or "\r" in v else v)
        for v in values
    ]
    buf = "\n".join(texts).encode("utf-8", "surrogatepass")
    addrs = np.zeros((n, 16), np.uint8)
    fams = np.zeros(n, np.uint8)
    bad = np.zeros(n, np.uint8)
    if n:
        nbad = lib.pse_vpc_parse_addrs(
            buf,
            len(buf),
            n,
            ffi.cast("uint8_t *", ffi.from_buffer(addrs)),
            ffi.cast("uint8_t *", ffi.from_buffer(fams)),
            ffi.cast("uint8_t *", ffi.from_buffer(bad)),
        )
        if nbad == 2**64 - 1:
            raise CoreError("Address parser lost its row count")
        if nbad:
            rows = np.flatnonzero(bad).tolist()
            if invalid is None:
                i = rows[0]
                raise VpcParseError(
                    f"Invalid IP address '{_shown(str(values[i]))}'",
                    lineno=i + 1,
                    value=values[i],
                    reason=Reason.BAD_ADDRESS,
                )
            invalid.extend(rows)
    return AddrColumn(addrs, fams)


def str_column_from_strings(values: Sequence[str | None]) -> StrColumn:
    """Return a dictionary-encoded :class:`StrColumn`.

    ``None``, ``""`` and ``"-"`` are missing (code 0).
    """
    index: dict[str, int] = {"": 0, "-": 0}
    uniques = [""]
    codes = np.empty(len(values), np.uint32)
    for i, v in enumerate(values):
        if v is None:
            codes[i] = 0
            continue
        code = index.get(v)
        if code is None:
            code = index[v] = len(uniques)
            uniques.append(v)
        codes[i] = code
    return StrColumn(codes, uniques)


# ---------------------------------------------------------------------
# Record view (tests and debugging; not for hot paths)
# ---------------------------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class VpcRecord:
    """One record of a batch with typed Python values.

    ``values`` maps each field name to an ``int``, an ``ipaddress``
    address, an ``IntEnum`` member, a ``str``, or ``None`` (missing).
    """

    source: str
    lineno: int
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        """Return the value of ``name``, ``default`` if not in the format."""
        return self.values.get(name, default)


def _addr_value(raw: bytes, family: int) -> Address | None:
    if family == 4:
        return ipaddress.IPv4Address(raw[12:])
    if family == 6:
        return ipaddress.IPv6Address(raw)
    return None


def iter_records(batch: FlowBatch) -> Iterator[VpcRecord]:
    """Yield each record of ``batch`` as a :class:`VpcRecord`."""
    decoded: dict[str, list[Any]] = {}
    for name, col in batch.columns.items():
        spec = F.field(name)
        if isinstance(col, AddrColumn):
            raw = col.addr.tobytes()
            decoded[name] = [
                _addr_value(raw[16 * i : 16 * i + 16], fam)
                for i, fam in enumerate(col.family.tolist())
            ]
        elif isinstance(col, StrColumn):
            decoded[name] = col.decode()
        elif spec.enum is not None:
            enum = spec.enum
            decoded[name] = [enum(v) if v else None for v in col.tolist()]
        else:
            decoded[name] = [v if v >= 0 else None for v in col.tolist()]
    linenos = batch.lineno.tolist()
    for i in range(batch.n):
        yield VpcRecord(
            batch.source,
            linenos[i],
            {name: vals[i] for name, vals in decoded.items()},
        )
