# SPDX-License-Identifier: MIT
"""Open VPC Flow Log inputs and cut them into chunks of whole lines.

AWS delivers flow logs in several containers; this module hides them from
the parser.  Every input becomes a stream of *source events*:

* :class:`SourceOpened`, then any number of
* :class:`LineChunk` -- about :data:`CHUNK_SIZE` bytes of complete lines
  (plain text, gzip, CloudWatch Logs exports and Firehose records, whose
  JSON is unwrapped into the record lines it carries), or
  :class:`~pysilk_ext.vpcparse.ParseResult` -- rows of a Parquet object,
  converted column by column (never rendered to text),
* :class:`ContainerError` -- damage in the container itself (truncated or
  corrupt gzip, bad JSON, unreadable Parquet), always *after* every good
  line before it,
* :class:`SourceClosed` with the number of bytes read.

Inputs that a filter rules out are reported as :class:`SourceSkipped`
without being opened.

Containers are recognised by content, never by name: gzip by its magic
bytes (multi-member, so concatenated objects work), Parquet by ``PAR1``,
JSON by a first ``{`` or ``[``; anything else is text.  Gzip is inflated
with the fastest library present (:data:`INFLATERS`; measured by
``benchmarks/bench_reader.py``: ISA-L, then zlib-ng, then stdlib zlib).

Directories are walked recursively in sorted order.  Object keys in AWS's
S3 layouts (plain and Hive-style) are parsed by :func:`parse_log_key`, so
that account, region and time filters (:class:`KeyFilter`) prune whole
sub-trees and skip objects before they are opened.  Files whose name
starts with ``_`` or ``.`` are skipped, as Athena and Hive do (the
generator's ``_truth.json`` relies on this).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

import numpy as np
import numpy.typing as npt

from pysilk_ext._binding import load
from pysilk_ext._reuse import ReusePool
from pysilk_ext.errors import PysilkExtError
from pysilk_ext.s3keys import KeyFilter, LogKey, parse_log_key
from pysilk_ext.vpcparse import ParseResult

__all__ = [
    "CHUNK_SIZE",
    "INFLATERS",
    "ContainerError",
    "InputFile",
    "KeyFilter",
    "LineChunk",
    "LogKey",
    "OpenFailure",
    "SourceClosed",
    "SourceEvent",
    "SourceOpened",
    "SourceSkipped",
    "available_inflaters",
    "expand_inputs",
    "iter_source_events",
    "open_source",
    "parse_log_key",
    "select_inflater",
]

CHUNK_SIZE = 2 << 20  # bytes of text per LineChunk (about 8,000 v5 lines)
READ_SIZE = 256 << 10  # bytes of compressed input per read
MAX_LINE = 65536  # longest line kept whole (longer ones are cut)
BIG_BLOCK = 256 << 10  # blocks this big are passed on without copying
_BLOCKS_KEPT = 12  # read buffers reused per input (chunks in flight + 2)

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
STDIN_NAME = "-"

# zlib-compatible inflaters, fastest first (see bench_reader.py).
INFLATERS: tuple[tuple[str, str], ...] = (
    ("isal", "isal.isal_zlib"),
    ("zlib-ng", "zlib_ng.zlib_ng"),
    ("zlib", "zlib"),
)

# CloudWatch Logs export tasks prefix each event with its ISO timestamp.
_CWL_EXPORT_PREFIX = re.compile(
    rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z "
)
_CWL_EXPORT_PREFIX_ALL = re.compile(
    rb"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z "
)


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SourceOpened:
    """An input was opened; ``container`` says what it turned out to be.

    ``container`` is ``text``, ``gzip``, ``json``, ``json+gzip``,
    ``cwl-export`` (text lines with timestamps), ``cwl-export+gzip`` or
    ``parquet``.  ``framed`` is True when the lines come out of JSON
    records, which never hold a header line: those need the format from
    the user (or the default format).
    """

    source: str
    container: str
    size: int | None
    framed: bool = False
    key: LogKey | None = None


@dataclass(frozen=True, slots=True)
class LineChunk:
    """Complete lines of one input, each ending in a newline.

    The lines are ``head`` followed by ``data``: ``head`` holds the line
    that straddled two input blocks (copied together; usually empty),
    ``data`` the block's other lines, passed on without a copy.  Keeping
    both in one chunk makes one batch of them, not a one-line batch per
    block.

    ``first_lineno`` is the line number of the first line in the input,
    or None when lines are not counted here (``count_lines=False``: the
    chunk follows the previous one of its input, and the parser's line
    count says where the next one starts).  ``line_numbers``, when set,
    gives each line's own number instead (for JSON containers, the line
    of the JSON value that carried it), and the lines are not
    consecutive.
    """

    source: str
    data: bytes | memoryview
    first_lineno: int | None
    line_numbers: npt.NDArray[np.uint64] | None = None
    head: bytes = b""


@dataclass(frozen=True, slots=True)
class ContainerError:
    """The container itself is damaged at ``lineno``; reading stops there.

    ``reason`` is ``truncated-gzip``, ``trailing-data``, ``bad-json`` or
    ``bad-parquet``;
    ``text`` holds the partial line (or JSON text) where it applies.
    ``lineno`` is None when lines are not counted: the line after the
    last one of the input's chunks.
    """

    source: str
    lineno: int | None
    reason: str
    message: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class SourceClosed:
    """An input was read to its end (or to its damage).

    ``bytes_in`` counts bytes read from the input as stored (compressed);
    ``lines`` its lines (None when not counted); ``control_messages``
    counts CloudWatch CONTROL_MESSAGE envelopes.
    """

    source: str
    bytes_in: int
    lines: int | None
    control_messages: int = 0


@dataclass(frozen=True, slots=True)
class SourceSkipped:
    """An input left unopened because a filter rules it out.

    ``reason`` is ``account``, ``region``, ``time`` or ``service`` (an
    ``AWSLogs/`` object of another AWS service, e.g. CloudTrail).
    """

    source: str
    reason: str


# Everything a source yields (see the module docstring).
SourceEvent = (
    SourceOpened
    | LineChunk
    | ParseResult
    | ContainerError
    | SourceClosed
    | SourceSkipped
)


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input selected for reading (a path, ``-`` for stdin, or an
    ``s3://`` URL, whose listing gives ``size`` and ``etag``)."""

    path: str
    key: LogKey | None = None
    size: int | None = None
    etag: str | None = None


def _skip_name(name: str) -> bool:
    return name.startswith(("_", "."))


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str] | InputFile],
    key_filter: KeyFilter | None = None,
) -> Iterator[InputFile | SourceSkipped]:
    """Turn command-line inputs into files to read, in a stable order.

    Directories are walked recursively, entries sorted by name; a
    sub-directory whose partial key the filter rules out is not even
    listed.  ``s3://`` URLs are listed the same way
    (:func:`pysilk_ext.s3input.expand_url`).  Explicit files are kept in
    the order given; :class:`InputFile` items (already selected, e.g. by
    a parallel run's planner) are passed on as they are.  Nothing is
    opened here.
    """
    flt = key_filter or KeyFilter()
    for item in inputs:
        if isinstance(item, InputFile):
            yield item
            continue
        path = os.fspath(item)
        if path.startswith(("s3://", "s3a://")):
            from pysilk_ext import s3input  # noqa: PLC0415 - optional

            yield from s3input.expand_url(path, flt)
            continue
        if path != STDIN_NAME and os.path.isdir(path):
            yield from _walk(path, flt)
            continue
        key = parse_log_key(path) if path != STDIN_NAME else None
        reason = flt.reject_reason(key)
        if reason is not None:
            yield SourceSkipped(path, reason)
        else:
            yield InputFile(path, key)


def _walk(top: str, flt: KeyFilter) -> Iterator[InputFile | SourceSkipped]:
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        # an unreadable directory is an input that cannot be opened: its
        # open fails with the system's reason (say "Permission denied"),
        # reported and counted like any other, never skipped in silence
        yield InputFile(top, None)
        return
    for entry in entries:
        if _skip_name(entry.name):
            continue
        if entry.is_dir():
            reason = flt.reject_reason(parse_log_key(entry.path + "/"))
            if reason is not None:
                yield SourceSkipped(entry.path + "/", reason)
                continue
            yield from _walk(entry.path, flt)
        elif entry.is_file():
            key = parse_log_key(entry.path)
            reason = flt.reject_reason(key)
            if reason is not None:
                yield SourceSkipped(entry.path, reason)
            else:
                yield InputFile(entry.path, key)


# ---------------------------------------------------------------------------
# Inflaters
# ---------------------------------------------------------------------------
def available_inflaters() -> list[str]:
    """Names of the gzip inflaters importable here, fastest first."""
    names = []
    for name, module in INFLATERS:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        names.append(name)
    return names


def select_inflater(name: str | None = None) -> tuple[str, Any]:
    """Return ``(name, module)`` of the inflater to use.

    ``name`` (or the environment variable ``PYSILK_EXT_INFLATER``) forces
    one; otherwise the fastest importable one of :data:`INFLATERS`.  Each
    module offers the zlib API (``decompressobj(wbits=31)``).
    """
    wanted = name or os.environ.get("PYSILK_EXT_INFLATER") or None
    for cand, module in INFLATERS:
        if wanted is not None and cand != wanted:
            continue
        try:
            return cand, importlib.import_module(module)
        except ImportError as exc:
            if wanted is not None:
                raise PysilkExtError(
                    f"Cannot use the inflater '{wanted}' "
                    f"(PYSILK_EXT_INFLATER): {exc}"
                ) from exc
    names = ", ".join(cand for cand, _ in INFLATERS)
    raise PysilkExtError(
        f"Invalid inflater '{wanted}' (PYSILK_EXT_INFLATER): "
        f"expected one of {names}"
    )


class _GzipDamage(Exception):
    """The gzip stream is truncated or corrupt (message says which).

    ``reason`` is the bad-line reason it is counted under:
    ``truncated-gzip`` (cut short or corrupt) or ``trailing-data`` (bytes
    that are no gzip member after the last one: every record was read).
    """

    def __init__(self, message: str, reason: str = "truncated-gzip") -> None:
        super().__init__(message)
        self.reason = reason


def _gzip_blocks(
    raw: BinaryIO,
    head: bytes,
    inflater: Any,
    counter: list[int],
    max_out: int,
) -> Iterator[bytes]:
    """Inflate every gzip member of ``raw``; raise _GzipDamage on damage.

    ``head`` is what was already read from ``raw``; ``counter[0]`` counts
    compressed bytes read.  Output comes in blocks of at most ``max_out``
    bytes so that a bomb cannot exhaust memory.
    """
    dec = inflater.decompressobj(31)
    in_member = False
    pending = head
    while True:
        if not pending:
            pending = raw.read(READ_SIZE)
            if not pending:
                break
            counter[0] += len(pending)
        if not in_member:
            if pending.count(0) == len(pending):
                pending = b""  # zero padding after the last member
                continue
            if len(pending) >= 2 and pending[:2] != GZIP_MAGIC:
                raise _GzipDamage(
                    "Trailing data after the last gzip member",
                    "trailing-data",
                )
        in_member = True
        try:
            out = dec.decompress(pending, max_out)
        except Exception as exc:  # isal/zlib-ng raise their own error types
            raise _GzipDamage(f"Corrupt gzip data: {exc}") from exc
        pending = dec.unconsumed_tail
        if out:
            yield out
        if dec.eof:
            pending = dec.unused_data + pending
            dec = inflater.decompressobj(31)
            in_member = False
    if in_member:
        # drain what the inflater still buffers, then report the damage
        try:
            out = dec.flush()
        except Exception:
            out = b""
        if out:
            yield out
        raise _GzipDamage("Compressed data ends before the end of the stream")


def _raw_blocks(
    raw: BinaryIO, head: bytes, counter: list[int], size: int
) -> Iterator[bytes | bytearray]:
    """Read ``raw`` in blocks of ``size`` bytes.

    Full blocks are read into buffers reused once no chunk refers to them
    (:mod:`pysilk_ext._reuse`: fresh memory per block costs page faults);
    a short read (end of file, pipes) is passed on as a copy.
    """
    if head:
        yield head
    pool: ReusePool[bytearray] = ReusePool(bytearray, keep=_BLOCKS_KEPT)
    readinto = getattr(raw, "readinto", None)
    while readinto is not None:
        buf = pool.take(size)
        try:
            got = readinto(buf)
        except (NotImplementedError, io.UnsupportedOperation):
            break  # a stream that can only read() (some wrappers)
        if not got:
            return
        counter[0] += got
        yield buf if got == len(buf) else bytes(memoryview(buf)[:got])
    while block := raw.read(size):
        counter[0] += len(block)
        yield block


# ---------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------
def _count_lines_py(buf: bytes | memoryview) -> int:
    return bytes(buf).count(b"\n")


def _line_counter() -> Callable[[bytes | memoryview], int]:
    """The C line counter (releases the GIL) when built, else Python's."""
    try:
        mod = load("vpc")
        count = mod.lib.pse_vpc_count_lines
        from_buffer = mod.ffi.from_buffer
    except (ImportError, AttributeError):
        return _count_lines_py

    def counter(buf: bytes | memoryview) -> int:
        # every chunk ends in a newline, so lines == newlines
        return int(count(from_buffer(buf), len(buf)))

    return counter


# Complete lines: a copied head (maybe empty), then a zero-copy body.
Lines = tuple[bytes, bytes | memoryview]


class _LineSplitter:
    """Cuts a stream of blocks into chunks of complete lines.

    Big blocks (inflater output, file reads) are passed on as zero-copy
    views; only the line straddling two blocks is copied (as the head of
    the next block's lines).  Small blocks
    (pipes) are gathered until a chunk is worth parsing.

    A line that is still unterminated when a chunk is cut, and longer
    than ``max_line``, is cut to ``max_line + 1`` bytes (the rest is
    dropped up to its newline), so that memory stays bounded by the chunk
    size whatever the input; the parser reports such lines (cut or not)
    as too long, at their own line number.
    """

    def __init__(self, chunk_size: int, max_line: int) -> None:
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.parts: list[bytes | bytearray] = []
        self.size = 0
        self.dropping = False  # inside an over-long line

    def _guard(self) -> None:
        """Cut an unterminated line that grew beyond max_line."""
        if self.size > self.max_line:
            rest = b"".join(self.parts)
            self.parts = [rest[: self.max_line + 1]]
            self.size = len(self.parts[0])
            self.dropping = True

    def feed(self, block: bytes | bytearray) -> Iterator[Lines]:
        if self.dropping:
            nl = block.find(b"\n")
            if nl < 0:
                return
            self.dropping = False
            block = block[nl + 1 :]
            self.parts.append(b"\n")
            self.size += 1
        if len(block) >= min(BIG_BLOCK, self.chunk_size // 2):
            yield from self._feed_big(block)
            return
        self.parts.append(block)
        self.size += len(block)
        if self.size < self.chunk_size:
            return
        joined = b"".join(self.parts)
        cut = joined.rfind(b"\n")
        if cut < 0:
            self.parts = [joined]
            self._guard()
            return
        self.parts = [joined[cut + 1 :]]
        self.size = len(self.parts[0])
        self._guard()
        yield b"", memoryview(joined)[: cut + 1]

    def _feed_big(self, block: bytes | bytearray) -> Iterator[Lines]:
        first = block.find(b"\n")
        if first < 0:
            self.parts.append(block)
            self.size += len(block)
            self._guard()
            return
        last = block.rfind(b"\n")
        head = b""
        start = 0
        if self.parts:
            self.parts.append(block[: first + 1])
            head = b"".join(self.parts)
            start = first + 1
        yield head, memoryview(block)[start : last + 1]
        rest = block[last + 1 :]
        self.parts = [rest] if rest else []
        self.size = len(rest)
        self._guard()

    def tail(self) -> bytes:
        """Whatever follows the last newline (an unterminated line)."""
        rest = b"".join(self.parts)
        self.parts, self.size = [], 0
        return rest

    def finish(self) -> Iterator[Lines]:
        """The remaining lines; a last line without newline gets one."""
        rest = self.tail()
        if self.dropping:
            rest += b"\n"
            self.dropping = False
        if rest:
            yield b"", rest if rest.endswith(b"\n") else rest + b"\n"


# ---------------------------------------------------------------------------
# Opening one input
# ---------------------------------------------------------------------------
def _open_binary(path: str) -> BinaryIO:
    """Open ``path`` for reading bytes (the one place inputs are opened)."""
    return open(path, "rb")


def _open_remote(url: str, size: int | None) -> BinaryIO:
    """Open an ``s3://`` URL as a streaming reader; ``size`` (from the
    listing) spares it a request."""
    from pysilk_ext import s3input  # noqa: PLC0415 - optional

    return s3input.open_object(url, size=size)  # type: ignore[return-value]


def _first_block(raw: BinaryIO, counter: list[int], limit: int) -> bytes:
    head = raw.read(min(READ_SIZE, limit))
    counter[0] += len(head)
    return head


def _describe_oserror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def open_source(
    path: str,
    *,
    stdin: BinaryIO | None = None,
    key: LogKey | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_line: int = MAX_LINE,
    inflater: str | None = None,
    count_lines: bool = True,
    size: int | None = None,
) -> Iterator[SourceEvent]:
    """Yield the events of one input (``-`` reads ``stdin``).

    With ``count_lines=False`` text chunks carry no line numbers (the
    reader derives them from the parser, saving a pass over the data).
    ``size`` is the input's size when already known (an S3 listing's).

    Raises:
        OSError: the input cannot be opened (the caller words the error).
    """
    counter = [0]
    if path == STDIN_NAME:
        raw: BinaryIO = stdin if stdin is not None else sys.stdin.buffer
        size = None
        close = False
    else:
        raw = (
            _open_remote(path, size)
            if path.startswith(("s3://", "s3a://"))
            else _open_binary(path)
        )
        try:
            size = os.fstat(raw.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            size = getattr(raw, "size", size)  # an S3 object's listed size
        close = True
    try:
        yield from _events(
            path,
            raw,
            size,
            counter,
            key=key,
            chunk_size=chunk_size,
            max_line=max_line,
            inflater=inflater,
            count_lines=count_lines,
        )
    finally:
        if close:
            raw.close()


def _events(
    source: str,
    raw: BinaryIO,
    size: int | None,
    counter: list[int],
    *,
    key: LogKey | None,
    chunk_size: int,
    max_line: int,
    inflater: str | None,
    count_lines: bool,
) -> Iterator[SourceEvent]:
    head = _first_block(raw, counter, chunk_size)
    if head.startswith(PARQUET_MAGIC):
        yield SourceOpened(source, "parquet", size, True, key)
        yield from _parquet_events(source, raw, head, counter)
        return
    gz = head.startswith(GZIP_MAGIC)
    blocks: Iterator[bytes | bytearray]
    if gz:
        _name, module = select_inflater(inflater)
        blocks = _gzip_blocks(raw, head, module, counter, chunk_size)
    else:
        blocks = _raw_blocks(raw, head, counter, chunk_size)
    # find the first non-empty block to sniff the content
    damage: _GzipDamage | None = None
    first: bytes | bytearray = b""
    try:
        for block in blocks:
            if block:
                first = block
                break
    except _GzipDamage as exc:
        damage = exc
    sniff = first.lstrip()[:1]
    suffix = "+gzip" if gz else ""
    if sniff in (b"{", b"["):
        yield SourceOpened(source, "json" + suffix, size, True, key)
        yield from _json_events(
            source, _chain(first, blocks, damage), counter, chunk_size
        )
        return
    export = bool(_CWL_EXPORT_PREFIX.match(first))
    container = (
        ("cwl-export" if export else "text")
        if gz is False
        else ("cwl-export+gzip" if export else "gzip")
    )
    yield SourceOpened(source, container, size, export, key)
    yield from _text_events(
        source,
        _chain(first, blocks, damage),
        counter,
        chunk_size,
        max_line,
        strip_timestamps=export,
        count_lines=count_lines,
    )


def _chain(
    first: bytes | bytearray,
    rest: Iterator[bytes | bytearray],
    damage: _GzipDamage | None,
) -> Iterator[bytes | bytearray]:
    if first:
        yield first
    if damage is not None:
        raise damage
    yield from rest


def _text_events(
    source: str,
    blocks: Iterator[bytes | bytearray],
    counter: list[int],
    chunk_size: int,
    max_line: int,
    *,
    strip_timestamps: bool,
    count_lines: bool = True,
) -> Iterator[SourceEvent]:
    counter_fn = _line_counter() if count_lines else None
    splitter = _LineSplitter(chunk_size, max_line)
    lineno = 1

    def emit(head: bytes, data: bytes | memoryview) -> LineChunk:
        nonlocal lineno
        if strip_timestamps:
            head = _CWL_EXPORT_PREFIX_ALL.sub(b"", head)
            data = _CWL_EXPORT_PREFIX_ALL.sub(b"", bytes(data))
        if counter_fn is None:
            return LineChunk(source, data, None, head=head)
        chunk = LineChunk(source, data, lineno, head=head)
        lineno += counter_fn(head) + counter_fn(data)
        return chunk

    try:
        for block in blocks:
            for head, data in splitter.feed(block):
                yield emit(head, data)
    except _GzipDamage as exc:
        if exc.reason == "trailing-data":
            # every member was inflated whole: its last line is a record
            # even without a newline
            for head, data in splitter.finish():
                yield emit(head, data)
            broken = b""
        else:
            partial = splitter.tail()
            whole, _sep, broken = partial.rpartition(b"\n")
            if whole:
                yield emit(b"", whole + b"\n")
        yield ContainerError(
            source,
            lineno if count_lines else None,
            exc.reason,
            str(exc),
            broken[:max_line].decode("utf-8", "replace"),
        )
        yield SourceClosed(
            source, counter[0], lineno - 1 if count_lines else None
        )
        return
    for head, data in splitter.finish():
        yield emit(head, data)
    yield SourceClosed(source, counter[0], lineno - 1 if count_lines else None)


# ---------------------------------------------------------------------------
# JSON containers: CloudWatch Logs and Firehose
# ---------------------------------------------------------------------------
class _NotFlowJson(Exception):
    """A JSON value that carries no flow-log message."""


def _messages(obj: Any, control: list[int]) -> list[str]:
    """The flow-log lines one JSON value carries.

    Understands CloudWatch Logs subscription envelopes (``messageType``,
    ``logEvents``; CONTROL_MESSAGE skipped and counted), ``aws logs``
    output (``events``), single events and Firehose records
    (``message``), and lists of any of these.
    """
    if isinstance(obj, list):
        out: list[str] = []
        for item in obj:
            out.extend(_messages(item, control))
        return out
    if not isinstance(obj, dict):
        raise _NotFlowJson("JSON value is not an object")
    if obj.get("messageType") == "CONTROL_MESSAGE":
        control[0] += 1
        return []
    for list_key in ("logEvents", "events"):
        events = obj.get(list_key)
        if isinstance(events, list):
            return _messages(events, control)
    message = obj.get("message")
    if isinstance(message, str):
        return [message]
    raise _NotFlowJson("JSON object has no 'message'")


def _iter_lines(blocks: Iterator[bytes | bytearray]) -> Iterator[bytes]:
    """Lines (without newline) of a block stream; damage propagates."""
    carry = b""
    try:
        for block in blocks:
            data = carry + block
            lines = data.split(b"\n")
            carry = lines.pop()
            yield from lines
    except _GzipDamage as exc:
        if carry and exc.reason == "trailing-data":
            yield carry  # the members were whole: so is their last line
        raise
    if carry:
        yield carry


def _json_events(
    source: str,
    blocks: Iterator[bytes | bytearray],
    counter: list[int],
    chunk_size: int,
) -> Iterator[SourceEvent]:
    """Unwrap JSON Lines, concatenated JSON values or one JSON document."""
    control = [0]
    messages: list[bytes] = []
    numbers: list[int] = []
    size = 0
    lineno = 0

    def flush() -> Iterator[LineChunk]:
        nonlocal messages, numbers, size
        if messages:
            data = b"\n".join(messages) + b"\n"
            nums = np.asarray(numbers, dtype=np.uint64)
            yield LineChunk(source, data, int(nums[0]), nums)
        messages, numbers, size = [], [], 0

    def add(texts: list[str], at: int) -> Iterator[LineChunk]:
        nonlocal size
        for text in texts:
            line = text.replace("\r", " ").replace("\n", " ").encode()
            messages.append(line)
            numbers.append(at)
            size += len(line) + 1
        if size >= chunk_size:
            yield from flush()

    lines = _iter_lines(blocks)
    decoder = json.JSONDecoder()
    try:
        for raw_line in lines:
            lineno += 1
            text = raw_line.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                values = [json.loads(text)]
            except ValueError as exc:
                values_or_none = _split_concatenated(decoder, text)
                if values_or_none is None:
                    if _looks_incomplete(exc, text):
                        # a pretty-printed document: read it whole
                        rest = [text]
                        rest.extend(
                            ln.decode("utf-8", "replace") for ln in lines
                        )
                        yield from _json_document(
                            source,
                            decoder,
                            "\n".join(rest),
                            lineno,
                            control=control,
                            add=add,
                            flush=flush,
                        )
                        yield SourceClosed(
                            source, counter[0], lineno, control[0]
                        )
                        return
                    yield from flush()
                    yield ContainerError(
                        source,
                        lineno,
                        "bad-json",
                        f"Invalid JSON: {_json_reason(exc)}",
                        text[:200],
                    )
                    continue
                values = values_or_none
            for value in values:
                try:
                    texts = _messages(value, control)
                except _NotFlowJson as exc:
                    yield from flush()
                    yield ContainerError(
                        source, lineno, "bad-json", str(exc), text[:200]
                    )
                    continue
                yield from add(texts, lineno)
    except _GzipDamage as exc:
        yield from flush()
        yield ContainerError(source, lineno + 1, exc.reason, str(exc))
        yield SourceClosed(source, counter[0], lineno, control[0])
        return
    yield from flush()
    yield SourceClosed(source, counter[0], lineno, control[0])


def _json_reason(exc: ValueError) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return msg[:1].lower() + msg[1:]


def _looks_incomplete(exc: ValueError, text: str) -> bool:
    """True when JSON parsing failed only because the text ended."""
    pos = getattr(exc, "pos", None)
    return pos is not None and pos >= len(text)


def _split_concatenated(
    decoder: json.JSONDecoder, text: str
) -> list[Any] | None:
    """Values of ``{...}{...}`` (Firehose concatenates records) or None."""
    values = []
    pos = 0
    end = len(text)
    while pos < end:
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return None
        values.append(value)
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
    return values if len(values) > 1 else None


def _json_document(
    source: str,
    decoder: json.JSONDecoder,
    text: str,
    first_lineno: int,
    *,
    control: list[int],
    add: Callable[[list[str], int], Iterator[LineChunk]],
    flush: Callable[[], Iterator[LineChunk]],
) -> Iterator[SourceEvent]:
    """Decode pretty-printed JSON values one after the other."""
    pos = 0
    line_at = first_lineno
    counted = 0
    end = len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        line_at += text.count("\n", counted, pos)
        counted = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            yield from flush()
            yield ContainerError(
                source,
                line_at,
                "bad-json",
                f"Invalid JSON: {_json_reason(exc)}",
                text[counted : counted + 200],
            )
            return
        try:
            texts = _messages(value, control)
        except _NotFlowJson as exc:
            yield from flush()
            yield ContainerError(source, line_at, "bad-json", str(exc))
            continue
        yield from add(texts, line_at)
    yield from flush()


# ---------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------
def _parquet_events(
    source: str,
    raw: BinaryIO,
    head: bytes,
    counter: list[int],
) -> Iterator[SourceEvent]:
    """Convert a Parquet object to ParseResults, batch by batch.

    Parquet needs random access, so the object is read whole (AWS writes
    them per 5-minute window; they are small).
    """
    # pyarrow takes a while to import: only Parquet inputs pay for it
    from pysilk_ext import vpcparquet  # noqa: PLC0415

    rest = raw.read()
    counter[0] += len(rest)
    rows = 0
    try:
        for result in vpcparquet.parquet_results(source, head + rest):
            rows += result.lines
            yield result
    except vpcparquet.ParquetDamage as exc:
        yield ContainerError(source, exc.row, "bad-parquet", str(exc))
    yield SourceClosed(source, counter[0], rows)


# ---------------------------------------------------------------------------
# All inputs
# ---------------------------------------------------------------------------
@dataclass(slots=True)
class OpenFailure:
    """An input that could not be opened or read (the reader decides).

    ``opened`` tells whether the failure came after the input was open
    (a read error) rather than on opening it.
    """

    source: str
    error: OSError = field(repr=False)
    opened: bool = False

    @property
    def message(self) -> str:
        """SiLK's wording: ``Cannot open 'x': No such file or directory``."""
        verb = "read" if self.opened else "open"
        why = _describe_oserror(self.error)
        return f"Cannot {verb} '{self.source}': {why}"


def iter_source_events(
    inputs: Sequence[str | os.PathLike[str] | InputFile],
    *,
    key_filter: KeyFilter | None = None,
    stdin: BinaryIO | IO[bytes] | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_line: int = MAX_LINE,
    inflater: str | None = None,
    count_lines: bool = True,
) -> Iterator[SourceEvent | OpenFailure]:
    """Yield the events of every input in order; no input means stdin."""
    items: Sequence[str | os.PathLike[str] | InputFile] = inputs or [
        STDIN_NAME
    ]
    for entry in expand_inputs(items, key_filter):
        if isinstance(entry, SourceSkipped):
            yield entry
            continue
        opened = False
        try:
            for event in open_source(
                entry.path,
                stdin=stdin,  # type: ignore[arg-type]
                key=entry.key,
                chunk_size=chunk_size,
                max_line=max_line,
                inflater=inflater,
                count_lines=count_lines,
                size=entry.size,
            ):
                opened = True
                yield event
        except OSError as exc:
            yield OpenFailure(entry.path, exc, opened)
