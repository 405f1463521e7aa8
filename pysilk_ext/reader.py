# SPDX-License-Identifier: MIT
"""Read VPC Flow Logs from any mix of inputs as columnar batches.

:class:`VpcReader` is the one entry point the commands use: give it
files, directories (walked in S3 key layout, filtered by account, region
and time before anything is opened) or ``-`` for standard input, and
iterate :class:`~pysilk_ext.batch.FlowBatch` objects.  It keeps
:class:`ReaderStats` as it goes, writes bad lines to a bad-lines file,
and stops at the first bad line only when asked to.

Why a second thread: inflating gzip and tokenising are both C calls that
release the GIL, so on two cores one thread inflates and cuts chunks of
lines (:mod:`pysilk_ext.sources`) while the other parses the previous
chunk.  ``benchmarks/bench_reader.py`` measures the gain.

Bad-lines file format (one line per bad input line, like rwtuc's
``path:line:text`` with the reason added so that lines can be triaged
and recovered with ``cut -d: -f4-``)::

    PATH:LINENO:REASON:RAW-TEXT

``RAW-TEXT`` is the input line byte for byte (JSON snippets for
``bad-json``; the partial last line for ``truncated-gzip``; nothing for
``trailing-data``; the row's values for Parquet).  Transit Gateway
records are not bad lines: they are counted (``tgw``) and never written
there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import queue
import re
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

import numpy as np

from pysilk_ext import fields as F
from pysilk_ext import sources as S
from pysilk_ext.batch import FlowBatch, StrColumn
from pysilk_ext.errors import VpcParseError
from pysilk_ext.vpcparse import (
    DEFAULT_MAX_LINE,
    BadLine,
    ChunkParser,
    LogFormat,
    ParseResult,
    Reason,
    VpcRecord,
    iter_records,
)

__all__ = ["FileStats", "ReaderStats", "VpcReader", "read_batches"]

_QUEUE_DEPTH = 6  # chunks read ahead (about 12 MiB of text)


@dataclass(slots=True)
class FileStats:
    """What was found in one input.

    ``records`` counts every good record, NODATA and SKIPDATA included;
    ``flows`` the records that are flows (log-status OK, or no log-status
    field).  ``bad`` counts bad lines by reason (TGW records excluded:
    see ``tgw``).  ``first_start``/``last_end`` bound the records' times
    (epoch seconds; None when no record had them).
    """

    source: str
    container: str = ""
    bytes_in: int = 0
    lines: int = 0
    records: int = 0
    flows: int = 0
    nodata: int = 0
    skipdata: int = 0
    headers: int = 0
    ms_times: int = 0
    tgw: int = 0
    control_messages: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    first_start: int | None = None
    last_end: int | None = None
    versions: Counter[int] = field(default_factory=Counter)

    @property
    def bad_lines(self) -> int:
        """Number of bad lines of every reason."""
        return sum(self.bad.values())

    def add(self, other: FileStats) -> None:
        """Add ``other``'s counts to these (for totals)."""
        for name in (
            "bytes_in",
            "lines",
            "records",
            "flows",
            "nodata",
            "skipdata",
            "headers",
            "ms_times",
            "tgw",
            "control_messages",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.bad.update(other.bad)
        self.versions.update(other.versions)
        if other.first_start is not None:
            self.first_start = (
                other.first_start
                if self.first_start is None
                else min(self.first_start, other.first_start)
            )
        if other.last_end is not None:
            self.last_end = (
                other.last_end
                if self.last_end is None
                else max(self.last_end, other.last_end)
            )


@dataclass(slots=True)
class ReaderStats:
    """Counts over a whole run, per file and in total.

    ``nodata_by_interface``/``skipdata_by_interface`` count status
    records per ``interface-id`` (``-`` when the format lacks it);
    ``skipped`` lists inputs left unopened by a filter, with the reason;
    ``failed`` the remote (``s3://``) objects that could not be read
    even after retries, which were skipped (see :class:`VpcReader`).
    """

    files: list[FileStats] = field(default_factory=list)
    skipped: list[S.SourceSkipped] = field(default_factory=list)
    failed: list[S.OpenFailure] = field(default_factory=list)
    nodata_by_interface: Counter[str] = field(default_factory=Counter)
    skipdata_by_interface: Counter[str] = field(default_factory=Counter)

    def totals(self) -> FileStats:
        """The sum of every file's counts."""
        total = FileStats("TOTAL")
        for fs in self.files:
            total.add(fs)
        return total

    @property
    def files_read(self) -> int:
        """Inputs opened."""
        return len(self.files)

    @property
    def files_skipped(self) -> Counter[str]:
        """Inputs skipped by a filter, by reason."""
        return Counter(s.reason for s in self.skipped)

    @property
    def bad_by_reason(self) -> Counter[str]:
        """Bad lines of every file, by reason."""
        return self.totals().bad


def _parse_log_format(
    value: LogFormat | str | Sequence[str] | None,
) -> LogFormat | None:
    if value is None or isinstance(value, LogFormat):
        return value
    if isinstance(value, str):
        return LogFormat.parse(value)
    return LogFormat(tuple(value))


class _BadLineWriter:
    """Writes ``PATH:LINENO:REASON:TEXT`` lines (see the module doc)."""

    def __init__(self, target: str | os.PathLike[str] | BinaryIO) -> None:
        self.close_it = False
        if isinstance(target, str | os.PathLike):
            name = os.fspath(target)
            if name in ("-", "stdout"):
                self.out: BinaryIO = sys.stdout.buffer
            elif name == "stderr":
                self.out = sys.stderr.buffer
            else:
                try:
                    self.out = open(name, "wb")  # noqa: SIM115 - see close()
                except OSError as exc:
                    raise VpcParseError(
                        f"Cannot open '{name}': {exc.strerror or exc}",
                        path=name,
                    ) from exc
                self.close_it = True
        else:
            self.out = target

    def write(self, bad: BadLine) -> None:
        raw = bytes(bad.text).replace(b"\n", b" ").replace(b"\r", b" ")
        self.out.write(
            f"{bad.source}:{bad.lineno}:{bad.reason}:".encode() + raw + b"\n"
        )

    def close(self) -> None:
        if self.close_it:
            self.out.close()
        else:
            self.out.flush()


_END = object()


class _Failure:
    """An exception raised in the read-ahead thread, carried over."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _read_ahead(events: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run ``events`` in a second thread, ``depth`` items ahead."""
    buf: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buf.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def work() -> None:
        try:
            for item in events:
                if not put(item):
                    return
        except BaseException as exc:
            put(_Failure(exc))
            return
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # closes the open input in this thread
        put(_END)

    thread = threading.Thread(target=work, name="vpc-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = buf.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


_IN_FLIGHT = 4  # chunks being parsed ahead of the one taken next


class _Done:
    """A finished 'future' (serial mode computes results at once)."""

    def __init__(self, value: ParseResult) -> None:
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> ParseResult:
        return self.value


@dataclass(slots=True)
class _SourceState:
    """Format bookkeeping of the input being read (main thread only).

    ``speculated`` is the format new chunks are dispatched with;
    ``confirmed`` the format in effect at the start of the next chunk to
    be taken in order.
    """

    stats: FileStats
    base: LogFormat
    sniff_header: bool = False
    speculated: LogFormat = field(init=False)
    confirmed: LogFormat = field(init=False)
    chunks: int = 0
    next_lineno: int = 1  # of the next chunk taken in order

    def __post_init__(self) -> None:
        self.speculated = self.base
        self.confirmed = self.base

    def dispatch_format(self, chunk: S.LineChunk) -> LogFormat:
        """The format to parse ``chunk`` with; learn a leading header."""
        fmt = self.speculated
        self.chunks += 1
        if self.chunks == 1 and self.sniff_header:
            header = _leading_header(chunk.head or chunk.data)
            if header is not None:
                self.speculated = header
        return fmt


_KNOWN_NAMES = frozenset(F.FIELDS_BY_NAME) | F.TGW_FIELDS


_NAME_TOKEN = re.compile(rb"^[a-z][a-z0-9-]*$")


def _leading_header(data: bytes | memoryview) -> LogFormat | None:
    """The format of a header line at the start of ``data``, if any.

    Only a guess to dispatch the next chunks with (the parser decides
    what a header is, and a wrong guess costs one re-parse): every token
    looks like a field name and one of them is a known field.
    """
    head = bytes(data[:4096])
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    names = line.split(b" ")
    if not all(_NAME_TOKEN.match(n) for n in names):
        return None
    if not any(n.decode() in _KNOWN_NAMES for n in names):
        return None
    try:
        return LogFormat.from_header_line(line)
    except VpcParseError:
        return None


@dataclass(slots=True)
class _Pending:
    """One event waiting to be handled in input order."""

    event: Any
    state: _SourceState | None
    fmt: LogFormat | None = None
    future: Future[ParseResult] | _Done | None = None

    def ready(self) -> bool:
        return self.future is None or self.future.done()


class _ParsePool:
    """Parses chunks in worker threads (one ChunkParser per thread).

    The C tokeniser releases the GIL, so two workers use two cores.  With
    ``threads`` <= 1 everything runs in the caller's thread.
    """

    def __init__(self, threads: int, max_line: int) -> None:
        self.threaded = threads > 1
        self.max_line = max_line
        self.local = threading.local()
        self.executor = (
            ThreadPoolExecutor(threads, thread_name_prefix="vpc-parse")
            if self.threaded
            else None
        )

    def _parser(self) -> ChunkParser:
        parser: ChunkParser | None = getattr(self.local, "parser", None)
        if parser is None:
            parser = ChunkParser(None, source="", max_line=self.max_line)
            self.local.parser = parser
        return parser

    def parse_here(self, chunk: S.LineChunk, fmt: LogFormat) -> ParseResult:
        """Parse ``chunk`` in this thread, starting in format ``fmt``."""
        parser = self._parser()
        parser.source = chunk.source
        parser.format = fmt
        return parser.feed(
            chunk.data, chunk.first_lineno or 1, head=chunk.head
        )

    def submit(
        self, chunk: S.LineChunk, fmt: LogFormat
    ) -> Future[ParseResult] | _Done:
        if self.executor is None:
            return _Done(self.parse_here(chunk, fmt))
        return self.executor.submit(self.parse_here, chunk, fmt)

    @staticmethod
    def result_format(item: _Pending) -> LogFormat:
        assert item.future is not None  # noqa: S101
        return item.future.result().format

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


class VpcReader:
    """Iterate FlowBatch objects over VPC Flow Log inputs.

    Args:
        inputs: files, directories (walked recursively, sorted; S3 key
            layouts understood) and ``-`` for standard input; empty means
            standard input.
        log_format: the format of records without a header line
            (CloudWatch Logs, Firehose, headerless text); a
            :class:`LogFormat`, an AWS ``${...}`` string or a list of
            names.  Default: the header line, else the v2 default format.
        accounts, regions: keep only objects whose key names one of
            these (keys that do not say are kept).
        start, end: keep only objects whose key period overlaps
            ``[start, end)`` (aware datetimes; naive ones are read as UTC).
        bad_lines_path: write every bad line there (see the module doc);
            ``-``/``stdout`` and ``stderr`` are understood.
        stop_on_error: raise :class:`VpcParseError` at the first bad line.
        on_bad_line: called with each :class:`BadLine` (for ``--verbose``).
        on_open: called with each input's name as it is opened
            (``--print-filenames``).
        stdin: the binary stream read for ``-`` (default: sys.stdin).
        read_ahead: inflate and cut chunks in a second thread.
        parse_threads: threads parsing chunks (the C releases the GIL);
            1 parses in the caller's thread.
        inflater: force a gzip library (``isal``, ``zlib-ng``, ``zlib``).
        on_failure: called with each ``s3://`` object that could not be
            read (after retries): such objects are skipped, never
            dropped silently -- they are listed in ``stats.failed``.

    Raises (while iterating):
        VpcParseError: an input cannot be opened (a local one, or an S3
            object that failed after some of it was read), or a bad line
            with ``stop_on_error``.
    """

    def __init__(
        self,
        inputs: Sequence[str | os.PathLike[str] | S.InputFile] = (),
        *,
        log_format: LogFormat | str | Sequence[str] | None = None,
        accounts: Iterable[str] | None = None,
        regions: Iterable[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        bad_lines_path: str | os.PathLike[str] | BinaryIO | None = None,
        stop_on_error: bool = False,
        on_bad_line: Callable[[BadLine], None] | None = None,
        on_open: Callable[[str], None] | None = None,
        stdin: BinaryIO | IO[bytes] | None = None,
        read_ahead: bool = True,
        parse_threads: int = 2,
        chunk_size: int = S.CHUNK_SIZE,
        max_line: int = DEFAULT_MAX_LINE,
        inflater: str | None = None,
        on_failure: Callable[[S.OpenFailure], None] | None = None,
    ) -> None:
        self.inputs = list(inputs)
        self.log_format = _parse_log_format(log_format)
        self.key_filter = S.KeyFilter(
            accounts=frozenset(accounts) if accounts is not None else None,
            regions=frozenset(regions) if regions is not None else None,
            start=_aware(start),
            end=_aware(end),
        )
        self.stop_on_error = stop_on_error
        self.on_bad_line = on_bad_line
        self.on_open = on_open
        self.stdin = stdin
        self.read_ahead = read_ahead
        self.parse_threads = parse_threads
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.inflater = inflater
        self.on_failure = on_failure
        self.stats = ReaderStats()
        self._bad_target = bad_lines_path
        self._bad_writer: _BadLineWriter | None = None

    # -- public API ------------------------------------------------------
    def __iter__(self) -> Iterator[FlowBatch]:
        return self.iter_batches()

    def __enter__(self) -> VpcReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the bad-lines file (also done at the end of iteration)."""
        if self._bad_writer is not None:
            self._bad_writer.close()
            self._bad_writer = None

    def iter_records(self) -> Iterator[VpcRecord]:
        """Yield one :class:`VpcRecord` per record (slow; for convenience)."""
        for batch in self.iter_batches():
            yield from iter_records(batch)

    def iter_batches(self) -> Iterator[FlowBatch]:
        """Yield the good records of every input, batch by batch."""
        if self._bad_target is not None and self._bad_writer is None:
            self._bad_writer = _BadLineWriter(self._bad_target)
        events: Iterator[Any] = S.iter_source_events(
            self.inputs,
            key_filter=self.key_filter,
            stdin=self.stdin,
            chunk_size=self.chunk_size,
            max_line=self.max_line,
            inflater=self.inflater,
            count_lines=False,
        )
        if self.read_ahead:
            events = _read_ahead(events, _QUEUE_DEPTH)
        try:
            yield from self._consume(events)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            self.close()

    # -- internals -------------------------------------------------------
    def _consume(self, events: Iterator[Any]) -> Iterator[FlowBatch]:
        """Parse chunks (in worker threads), handle events in input order.

        Chunks are dispatched as they arrive; results are taken strictly
        in order.  A chunk is parsed with the format expected at its
        start; if the chunk before it turns out to end in another format
        (a header line inside a file), it is parsed again, so results are
        the same as a serial run.
        """
        pool = _ParsePool(self.parse_threads, self.max_line)
        pending: deque[_Pending] = deque()
        state: _SourceState | None = None
        try:
            for event in events:
                if isinstance(event, S.LineChunk):
                    assert state is not None  # noqa: S101 - event order
                    fmt = state.dispatch_format(event)
                    pending.append(
                        _Pending(event, state, fmt, pool.submit(event, fmt))
                    )
                    if not pool.threaded:
                        state.speculated = pool.result_format(pending[-1])
                else:
                    if isinstance(event, S.SourceOpened):
                        state = self._open(event)
                    pending.append(_Pending(event, state))
                while pending and (
                    pending[0].ready() or len(pending) > _IN_FLIGHT
                ):
                    yield from self._process(pending.popleft(), pool)
            while pending:
                yield from self._process(pending.popleft(), pool)
        finally:
            pool.close()

    def _open(self, event: S.SourceOpened) -> _SourceState:
        fmt = self.log_format
        if fmt is None:
            fmt = LogFormat.DEFAULT
        return _SourceState(
            FileStats(event.source, event.container),
            fmt,
            sniff_header=not event.framed and self.log_format is None,
        )

    def _process(
        self, item: _Pending, pool: _ParsePool
    ) -> Iterator[FlowBatch]:
        event = item.event
        state = item.state
        if isinstance(event, S.LineChunk):
            assert state is not None  # noqa: S101 - event order
            assert item.future is not None  # noqa: S101 - chunks have one
            result = item.future.result()
            if item.fmt != state.confirmed:
                result = pool.parse_here(event, state.confirmed)
            state.confirmed = result.format
            if state.speculated != result.format:
                state.speculated = result.format
            if event.line_numbers is not None:
                result = _renumber(
                    result, event.line_numbers, event.first_lineno or 1
                )
            elif event.first_lineno is None:
                _shift(result, state.next_lineno - 1)
                state.next_lineno += result.lines
            yield from self._take(result, state.stats)
        elif isinstance(event, ParseResult):
            assert state is not None  # noqa: S101
            yield from self._take(event, state.stats)
        elif isinstance(event, S.SourceOpened):
            assert state is not None  # noqa: S101
            self.stats.files.append(state.stats)
            if self.on_open is not None:
                self.on_open(event.source)
        elif isinstance(event, S.ContainerError):
            assert state is not None  # noqa: S101
            self._bad(
                BadLine(
                    event.source,
                    state.next_lineno
                    if event.lineno is None
                    else event.lineno,
                    event.reason,
                    text=event.text.encode("utf-8", "replace"),
                    message=event.message,
                ),
                state.stats,
            )
        elif isinstance(event, S.SourceClosed):
            if state is not None:
                state.stats.bytes_in = event.bytes_in
                state.stats.lines = (
                    state.next_lineno - 1
                    if event.lines is None
                    else event.lines
                )
                state.stats.control_messages = event.control_messages
        elif isinstance(event, S.SourceSkipped):
            self.stats.skipped.append(event)
        elif isinstance(event, S.OpenFailure):
            if not event.opened and event.source.startswith("s3://"):
                # one unreadable object must not stop a run over a bucket
                self.stats.failed.append(event)
                if self.on_failure is not None:
                    self.on_failure(event)
                return
            raise VpcParseError(event.message, path=event.source)

    def _take(self, result: ParseResult, fs: FileStats) -> Iterator[FlowBatch]:
        fs.headers += result.headers
        fs.ms_times += result.ms_times
        for bad in result.bad:
            if bad.reason == Reason.TGW_RECORD:
                fs.tgw += 1
            else:
                self._bad(bad, fs)
        batch = result.batch
        if batch.n:
            self._count(batch, fs)
            yield batch

    def _bad(self, bad: BadLine, fs: FileStats) -> None:
        fs.bad[str(bad.reason)] += 1
        if self._bad_writer is not None:
            self._bad_writer.write(bad)
        if self.on_bad_line is not None:
            self.on_bad_line(bad)
        if self.stop_on_error:
            raise VpcParseError(
                str(bad),
                path=bad.source,
                lineno=bad.lineno,
                field=bad.field,
                value=bad.value,
                reason=str(bad.reason),
            )

    def _count(self, batch: FlowBatch, fs: FileStats) -> None:
        """Update counts from one batch (vectorised, no per-record work).

        Shaped for the common batch (all OK, one version, no missing
        times): a few whole-array reductions, the general case only when
        one of them says so.
        """
        n = batch.n
        fs.records += n
        status = batch.columns.get("log-status")
        if status is None:
            fs.flows += n
        else:
            is_nodata = status == F.LogStatus.NODATA
            is_skipdata = status == F.LogStatus.SKIPDATA
            nodata = int(np.count_nonzero(is_nodata))
            skipdata = int(np.count_nonzero(is_skipdata))
            fs.flows += n - nodata - skipdata
            fs.nodata += nodata
            fs.skipdata += skipdata
            if nodata:
                self._per_interface(
                    batch, is_nodata, self.stats.nodata_by_interface
                )
            if skipdata:
                self._per_interface(
                    batch, is_skipdata, self.stats.skipdata_by_interface
                )
        version = batch.columns.get("version")
        if version is not None:
            lo, hi = int(version.min()), int(version.max())
            if lo == hi:
                if lo >= 0:
                    fs.versions[lo] += n
            else:
                # versions are small (0-255): a bincount beats np.unique
                counts = np.bincount(version[version >= 0])
                for v in np.flatnonzero(counts).tolist():
                    fs.versions[v] += int(counts[v])
        start = batch.columns.get("start")
        if start is not None:
            lo = int(start.min())
            if lo < 0:  # some missing (-1): look at the others
                ok = start[start >= 0]
                lo = int(ok.min()) if ok.size else -1
            if lo >= 0:
                fs.first_start = (
                    lo if fs.first_start is None else min(fs.first_start, lo)
                )
        end = batch.columns.get("end")
        if end is not None:
            hi = int(end.max())  # -1 (missing) only if all are
            if hi >= 0:
                fs.last_end = (
                    hi if fs.last_end is None else max(fs.last_end, hi)
                )

    @staticmethod
    def _per_interface(
        batch: FlowBatch, mask: Any, counter: Counter[str]
    ) -> None:
        iface = batch.columns.get("interface-id")
        if not isinstance(iface, StrColumn):
            counter["-"] += int(mask.sum())
            return
        counts = np.bincount(iface.codes[mask], minlength=len(iface.values))
        for code in np.flatnonzero(counts).tolist():
            name = iface.values[code] or "-"
            counter[name] += int(counts[code])


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=dt.UTC)


def _shift(result: ParseResult, offset: int) -> None:
    """Add ``offset`` to the line numbers of a chunk parsed from line 1."""
    if not offset:
        return
    batch = result.batch
    if batch.n:
        batch.lineno += np.uint64(offset)
    result.bad = [
        dataclasses.replace(bad, lineno=bad.lineno + offset)
        for bad in result.bad
    ]


def _renumber(
    result: ParseResult, numbers: np.ndarray, first_lineno: int
) -> ParseResult:
    """Map message ordinals of a JSON chunk back to file line numbers."""
    batch = result.batch
    if batch.n:
        batch.lineno = numbers[(batch.lineno - first_lineno).astype(np.int64)]
    result.bad = [
        dataclasses.replace(
            bad, lineno=int(numbers[bad.lineno - first_lineno])
        )
        for bad in result.bad
    ]
    return result


def read_batches(
    inputs: Sequence[str | os.PathLike[str]], **options: Any
) -> Iterator[FlowBatch]:
    """Shorthand for ``iter(VpcReader(inputs, **options))``."""
    yield from VpcReader(inputs, **options)
