# SPDX-License-Identifier: MIT
"""Streaming SiLK flow-file writer, reader and appender.

The writer produces files SiLK 3.19.1 reads (and, for the deterministic
cases, byte-identical to what SiLK writes); the reader returns records in
columnar FLOW_DTYPE batches; the appender adds records to an existing file
in that file's own format, byte order and compression, as rwflowappend
does.  Memory stays bounded: the writer buffers at most one compression
block, the reader one batch plus one block.

Public API::

    FlowWriter(dest, *, format=FT_RWIPV6ROUTING, record_version=None,
               byte_order="little", compression="none", entries=(),
               invocation=None, notes=(), ipv6_policy="mix",
               silk_version=SILK_VERSION_WRITTEN, compression_level=None,
               block_size=None)
        .write(rows)  .close()  .abort()  .header  .stats  .records_written
    FlowReader(source, *, ipv6_policy="mix", icmp_repair=True, path=None)
        .header  .iter_batches(n)  .read_all()  .stats  .close()
    read_flows(source, **kw) -> (FileHeader, FLOW_DTYPE array)
    write_flows(dest, rows, **kw) -> FlowStats
    open_append(target, *, path=None, truncate_torn=False,
                compression_level=None, block_size=None) -> FlowAppender
        .write(rows)  .close()  .abort()  .header  .original_length
    scan_data_section(fp, header, path=None) -> DataScan
    count_records(source) -> int

``dest``/``source``/``target`` are a path or an open binary file object.
All classes are context managers.  Writing to a *path* is atomic: records
go to a temporary file in the same directory, which is fsync'ed and
renamed over the final name on ``close()``; an exception inside the
``with`` block, ``abort()`` or a killed process leaves no file (or the old
one) at the final name.

Appending (for the repository's hourly files)::

    with open(path, "r+b") as fp:            # caller holds the lock
        fcntl.flock(fp, fcntl.LOCK_EX)
        with open_append(fp, path=path) as app:
            app.write(rows)                  # new blocks / whole records
        # leaving the block calls close(): flush + fsync.  On an exception
        # it calls abort(): the file is truncated back to its old length.

Paths are read through ordinary reads, not a memory map: a map would
turn a concurrent truncation (an appender rolling back) into SIGBUS.

``open_append`` first checks that the existing data section ends on a
record (uncompressed) or block (compressed) boundary and raises
:class:`~pysilk_ext.silkfmt.header.TruncatedError` otherwise; with
``truncate_torn=True`` it cuts a torn tail left by a killed writer back to
the last whole record/block instead (``.truncated_bytes`` says how much).

Errors: every malformed input raises a
:class:`~pysilk_ext.errors.SilkFormatError` subclass (``BadMagicError``,
``TruncatedError``, ``UnsupportedFormatError``, ``RecordSizeError``,
``BadBlockError``, ...); a short read is never silent.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, Any, BinaryIO, Self, cast

import numpy as np

from pysilk_ext.errors import SilkFormatError
from pysilk_ext.silkfmt import compression as comp
from pysilk_ext.silkfmt.flowrec import (
    FLOW_DTYPE,
    FlowStats,
    RecordRefusedError,
    decode_records,
    encode_records,
)
from pysilk_ext.silkfmt.header import (
    FLOW_RECORD_SIZES,
    FLOW_WRITABLE,
    SILK_VERSION_WRITTEN,
    AnnotationEntry,
    ByteOrder,
    Compression,
    FileFormat,
    FileHeader,
    HeaderEntry,
    InvocationEntry,
    TruncatedError,
    UnsupportedFormatError,
    check_flow_header,
    compression_from_name,
    encode_header,
    format_name,
    read_header,
)

_igzip: ModuleType | None
try:
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - isal is a dependency
    _igzip = None

#: Default record version written for each flow format.
DEFAULT_RECORD_VERSION = {
    FileFormat.FT_RWIPV6ROUTING: 1,
    FileFormat.FT_RWGENERIC: 5,
    FileFormat.FT_RWIPV6: 1,
}
#: Records per batch when the caller does not say.
DEFAULT_BATCH = 65536
GZIP_MAGIC = b"\x1f\x8b"

PathOrFile = str | os.PathLike[str] | BinaryIO


def _byte_order(byte_order: str) -> ByteOrder:
    if byte_order == "native":
        return sys.byteorder
    if byte_order == "little":
        return "little"
    if byte_order == "big":
        return "big"
    raise ValueError(
        f"Invalid byte-order '{byte_order}': expected big, little or native"
    )


def _quoted(path: str | None) -> str:
    return f"'{path}'" if path is not None else "'<stream>'"


def _umask() -> int:
    # Read without the racy os.umask() set-and-restore dance.
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:  # pragma: no cover - not Linux
        pass
    return 0o022


def _fsync(fp: IO[bytes]) -> None:
    """fsync a real file; in-memory streams have nothing to sync."""
    try:
        fd = fp.fileno()
    except (OSError, io.UnsupportedOperation):
        return
    os.fsync(fd)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform without dir fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# Block sink shared by the writer and the appender


class _RecordSink:
    """Encode rows and write them as whole records or compressed blocks.

    Holds at most one block of encoded bytes for compressed output; for
    uncompressed output it writes each encoded slice straight through.
    ``block_size`` (bytes, rounded down to records; SiLK's 65536 when
    None) and ``compression_level`` (zlib only) change how blocks are
    made, never what SiLK reads from them.
    """

    def __init__(
        self,
        fp: BinaryIO,
        header: FileHeader,
        ipv6_policy: str,
        stats: FlowStats,
        where: str,
        *,
        compression_level: int | None = None,
        block_size: int | None = None,
    ) -> None:
        self.fp = fp
        self.header = header
        self.ipv6_policy = ipv6_policy
        self.stats = stats
        self.where = where
        self.record_size = header.record_size
        self.method = Compression(header.compression)
        self.compress = comp.compressor_for(self.method, compression_level)
        self.block_size = comp.block_size_for(
            header.record_size,
            comp.WRITER_BLOCK_SIZE if block_size is None else block_size,
        )
        self.rows_per_slice = self.block_size // header.record_size
        self.pending = bytearray()
        self.records_written = 0
        # grown to one block on demand: most repository commits hold far
        # fewer records than a 1 MiB block
        self._scratch = bytearray()

    def write(self, rows: np.ndarray) -> int:
        if rows.dtype != FLOW_DTYPE:
            raise TypeError(
                f"Expected a FLOW_DTYPE array, got dtype {rows.dtype}"
            )
        written = 0
        need = min(len(rows), self.rows_per_slice) * self.record_size
        if len(self._scratch) < need:
            self._scratch = bytearray(need)
        for start in range(0, len(rows), self.rows_per_slice):
            chunk = rows[start : start + self.rows_per_slice]
            try:
                encoded = encode_records(
                    chunk,
                    self.header.format,
                    self.header.record_version,
                    self.header.byte_order,
                    ipv6_policy=self.ipv6_policy,
                    stats=self.stats,
                    out=self._scratch,
                )
            except RecordRefusedError as exc:
                self._emit(memoryview(self._scratch)[
                    : exc.encoded * self.record_size])  # fmt: skip
                written += exc.encoded
                raise RecordRefusedError(
                    f"Cannot write record {start + exc.index} to "
                    f"{self.where}: Record has an unsupported IPv6 address",
                    index=start + exc.index,
                    encoded=written,
                ) from None
            self._emit(encoded)
            written += len(encoded) // self.record_size
        return written

    def _emit(self, encoded: memoryview) -> None:
        n = len(encoded) // self.record_size
        self.records_written += n
        if self.method == Compression.NONE:
            self.fp.write(encoded)
            return
        if not self.pending and len(encoded) == self.block_size:
            # the usual case: one slice is exactly one block, no copy
            comp.write_block(self.fp, self.method, encoded, self.compress)
            return
        self.pending += encoded
        while len(self.pending) >= self.block_size:
            with memoryview(self.pending) as view:
                comp.write_block(
                    self.fp, self.method, view[: self.block_size],
                    self.compress,
                )  # fmt: skip
            del self.pending[: self.block_size]

    def flush(self) -> None:
        if self.pending:
            comp.write_block(self.fp, self.method, self.pending, self.compress)
            self.pending.clear()
        self.fp.flush()


# --------------------------------------------------------------------------
# Writer


def make_flow_header(
    *,
    format: int = FileFormat.FT_RWIPV6ROUTING,
    record_version: int | None = None,
    byte_order: str = "little",
    compression: str | int = "none",
    entries: Iterable[HeaderEntry] = (),
    invocation: str | None = None,
    notes: Iterable[str] = (),
    silk_version: int = SILK_VERSION_WRITTEN,
) -> FileHeader:
    """Return the header a :class:`FlowWriter` with these options writes.

    Entry order follows SiLK: ``entries`` (e.g. a packed-file entry), then
    the invocation, then one annotation per note (``--note-add``).
    """
    fmt = FileFormat(format)
    version = (
        DEFAULT_RECORD_VERSION.get(fmt, 0)
        if record_version is None
        else record_version
    )
    if (fmt, version) not in FLOW_WRITABLE:
        raise UnsupportedFormatError(
            f"Cannot write {format_name(fmt)} record version {version}: "
            f"writable are FT_RWIPV6ROUTING v1, FT_RWGENERIC v5, "
            f"FT_RWIPV6 v1"
        )
    all_entries = list(entries)
    if invocation is not None:
        all_entries.append(InvocationEntry(invocation))
    all_entries.extend(AnnotationEntry(note) for note in notes)
    return FileHeader(
        format=fmt,
        record_version=version,
        record_size=FLOW_RECORD_SIZES[(fmt, version)],
        byte_order=_byte_order(byte_order),
        compression=compression_from_name(compression),
        entries=all_entries,
        silk_version=silk_version,
    )


class _SinkFront:
    """What FlowWriter and FlowAppender share: a :class:`_RecordSink`
    behind ``write``, a closed flag, and ``with`` = close on success,
    abort on error (so an exception never publishes half a file)."""

    _sink: _RecordSink
    _closed: bool

    @property
    def records_written(self) -> int:
        """Records accepted so far (including those still buffered)."""
        return self._sink.records_written

    def write(self, rows: np.ndarray) -> int:
        """Encode and write FLOW_DTYPE rows; return how many were stored.

        Fewer than ``len(rows)`` are stored when the IPv6 policy drops
        records (counted in ``stats``).

        Raises:
            RecordRefusedError: a row cannot be stored in this format
                (rows before it were written).
        """
        if self._closed:
            raise ValueError(
                f"I/O operation on a closed {type(self).__name__}"
            )
        return self._sink.write(rows)

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class FlowWriter(_SinkFront):
    """Write a SiLK flow file, streaming, with bounded memory.

    Args:
        dest: a path (written atomically via a temporary file) or a binary
            file object positioned where the file should start (not
            closed by :meth:`close`).
        format, record_version: FT_RWIPV6ROUTING v1 (default; IPv4 and
            IPv6), FT_RWGENERIC v5 (IPv4 only) or FT_RWIPV6 v1.
        byte_order: ``"little"``, ``"big"`` or ``"native"``.
        compression: ``"none"``, ``"zlib"``, ``"lzo1x"``, ``"snappy"`` or
            a :class:`Compression`.
        entries: header entries written first (packed-file, probe name).
        invocation: command line for an invocation entry.
        notes: one annotation entry each.
        ipv6_policy: see :func:`~pysilk_ext.silkfmt.flowrec.encode_records`
            (only ``"mix"``, ``"asv4"`` and ``"ignore"`` make sense for
            FT_RWGENERIC).
        compression_level: zlib only: None for SiLK's bytes, 1-12 to
            trade speed for size (:func:`~pysilk_ext.silkfmt.compression.
            zlib_compressor`).
        block_size: bytes of records per compressed block (SiLK's 65536
            when None; at most 1 MiB - 3, which SiLK 3.19.1 reads).
    """

    def __init__(
        self,
        dest: PathOrFile,
        *,
        format: int = FileFormat.FT_RWIPV6ROUTING,
        record_version: int | None = None,
        byte_order: str = "little",
        compression: str | int = "none",
        entries: Iterable[HeaderEntry] = (),
        invocation: str | None = None,
        notes: Sequence[str] = (),
        ipv6_policy: str = "mix",
        silk_version: int = SILK_VERSION_WRITTEN,
        compression_level: int | None = None,
        block_size: int | None = None,
    ) -> None:
        self.header = make_flow_header(
            format=format,
            record_version=record_version,
            byte_order=byte_order,
            compression=compression,
            entries=entries,
            invocation=invocation,
            notes=notes,
            silk_version=silk_version,
        )
        self.stats = FlowStats()
        self.path: Path | None = None
        self._tmp_path: Path | None = None
        self._owns_fp = False
        self._closed = False
        if isinstance(dest, (str, os.PathLike)):
            self.path = Path(dest)
            directory = self.path.parent
            fd, tmp = tempfile.mkstemp(
                dir=directory, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            self._tmp_path = Path(tmp)
            os.fchmod(fd, 0o666 & ~_umask())
            self._fp: BinaryIO = os.fdopen(fd, "wb")
            self._owns_fp = True
        else:
            self._fp = dest
        where = _quoted(str(self.path) if self.path else None)
        try:
            self._sink = _RecordSink(
                self._fp, self.header, ipv6_policy, self.stats, where,
                compression_level=compression_level, block_size=block_size,
            )  # fmt: skip
            self._fp.write(encode_header(self.header))
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Flush, fsync and (for a path) rename into place."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sink.flush()
            if self._owns_fp:
                _fsync(self._fp)
                self._fp.close()
                assert self._tmp_path is not None  # noqa: S101
                assert self.path is not None  # noqa: S101
                os.replace(self._tmp_path, self.path)
                self._tmp_path = None
                _fsync_dir(self.path.parent)
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Stop writing; a path target is left untouched (temp removed)."""
        self._closed = True
        self._discard()

    def _discard(self) -> None:
        if self._owns_fp:
            with contextlib.suppress(OSError):
                self._fp.close()
        if self._tmp_path is not None:
            with contextlib.suppress(OSError):
                self._tmp_path.unlink()
            self._tmp_path = None


def write_flows(
    dest: PathOrFile, rows: np.ndarray, **kwargs: Any
) -> FlowStats:
    """Write ``rows`` to a new flow file; return the writer's counts."""
    with FlowWriter(dest, **kwargs) as writer:
        writer.write(rows)
    return writer.stats


# --------------------------------------------------------------------------
# Reader


class _Prefixed(io.RawIOBase):
    """A stream that first returns ``prefix`` and then reads ``fp``."""

    def __init__(self, prefix: bytes, fp: IO[bytes]) -> None:
        super().__init__()
        self._prefix = prefix
        self._fp = fp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._fp.read(len(view))
        view[: len(data)] = data
        return len(data)


def _open_gzip(fp: IO[bytes]) -> IO[bytes]:
    # ISA-L inflates ~2x faster than zlib; same file format.
    if _igzip is not None:
        ctor: Any = _igzip.IGzipFile
        return cast(IO[bytes], ctor(fileobj=fp, mode="rb"))
    return cast(IO[bytes], gzip.GzipFile(fileobj=fp, mode="rb"))


class FlowReader:
    """Read a SiLK flow file in columnar FLOW_DTYPE batches.

    ``source`` is a path, a binary file object or the file's bytes.  A
    whole-file gzip (``1F 8B``) is decompressed transparently.  Every
    record layout of :data:`~pysilk_ext.silkfmt.header.FLOW_RECORD_SIZES`
    is decoded, with SiLK's read-side adjustments; ``ipv6_policy`` and
    ``icmp_repair`` mean what ``--ipv6-policy`` and
    ``SILK_ICMP_SPORT_HANDLER`` mean to SiLK.

    Raises (on open or while iterating) SilkFormatError subclasses for a
    bad header, a truncated file, a partial trailing record or a bad
    compressed block.
    """

    def __init__(
        self,
        source: PathOrFile | bytes | bytearray | memoryview,
        *,
        ipv6_policy: str = "mix",
        icmp_repair: bool = True,
        path: str | None = None,
    ) -> None:
        self.ipv6_policy = ipv6_policy
        self.icmp_repair = icmp_repair
        self.stats = FlowStats()
        self._to_close: list[IO[bytes]] = []
        self._buffer: memoryview | None = None
        self._view: memoryview | None = None
        self._blocks: Iterator[bytes | bytearray] | None = None
        self._eof = False
        raw: IO[bytes] | None = None
        if isinstance(source, (str, os.PathLike)):
            self.path: str | None = str(source)
            try:
                raw = open(source, "rb")  # noqa: SIM115
            except OSError as exc:
                raise SilkFormatError(
                    f"Cannot open '{source}': {exc.strerror}"
                ) from exc
            self._to_close.append(raw)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.path = path
            self._buffer = memoryview(source).cast("B")
        else:
            self.path = path if path is not None else _name_of(source)
            raw = source
        self.where = _quoted(self.path)
        try:
            if self._buffer is not None and self._buffer[:2] != GZIP_MAGIC:
                self._open_buffer(self._buffer)
            else:
                if raw is None:
                    assert self._buffer is not None  # noqa: S101
                    raw = io.BytesIO(self._buffer)
                self._release_buffer()
                self._open_stream(raw)
        except BaseException:
            self.close()
            raise

    def _open_buffer(self, buffer: memoryview) -> None:
        self.header = read_header(buffer, self.path)
        self.record_size = check_flow_header(self.header, self.path)
        assert self.header.length is not None  # noqa: S101
        self._view = buffer[self.header.length :]
        if self.header.compression != Compression.NONE:
            self._blocks = comp.iter_blocks(
                self._view, self.header.compression, self.where
            )

    def _open_stream(self, raw: IO[bytes]) -> None:
        magic = _read_exact(raw, 2)
        stream: IO[bytes] = cast(IO[bytes], _Prefixed(magic, raw))
        if magic == GZIP_MAGIC:
            stream = _open_gzip(io.BufferedReader(_Prefixed(magic, raw)))
            self._to_close.append(stream)
            stream = cast(IO[bytes], _GzipErrors(stream, self.where))
        self.header = read_header(cast(BinaryIO, stream), self.path)
        self.record_size = check_flow_header(self.header, self.path)
        # without gzip the 2-byte prefix is consumed: read the file itself
        self._fp = stream if magic == GZIP_MAGIC else raw
        if self.header.compression != Compression.NONE:
            self._blocks = comp.iter_blocks(
                cast(BinaryIO, self._fp), self.header.compression, self.where
            )

    def _release_buffer(self) -> None:
        for view in (self._view, self._buffer):
            if view is not None:
                view.release()
        self._view = self._buffer = None

    def _decode(
        self,
        data: bytes | bytearray | memoryview,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        return decode_records(
            data,
            self.header.format,
            self.header.record_version,
            self.header.byte_order,
            ipv6_policy=self.ipv6_policy,
            icmp_repair=self.icmp_repair,
            stats=self.stats,
            out=out,
        )

    def _short_record(self, got: int) -> TruncatedError:
        return TruncatedError(
            f"Read incomplete record ({got} of {self.record_size} bytes) "
            f"from {self.where}"
        )

    def iter_batches(self, n: int = DEFAULT_BATCH) -> Iterator[np.ndarray]:
        """Yield FLOW_DTYPE arrays of up to ``n`` records until the end.

        Every batch but the last holds exactly ``n`` records.
        """
        if n < 1:
            raise ValueError(f"Invalid batch size {n}")
        if self._blocks is None:
            yield from self._iter_raw(n)
        else:
            yield from self._iter_blocks(n)

    def _iter_raw(self, n: int) -> Iterator[np.ndarray]:
        if self._view is not None:
            yield from self._iter_raw_view(n, self._view)
            return
        want = n * self.record_size
        batch = np.empty(n, FLOW_DTYPE)
        filled = 0
        chunk = bytearray(want)  # reused: no allocation per batch
        while not self._eof:
            size = _readinto_exact(self._fp, chunk)
            if size < want:
                self._eof = True
            data = memoryview(chunk)[:size]
            whole = size - size % self.record_size
            # drops (IPv6 policy) may leave room: top up before yielding
            pos = 0
            while pos < whole:
                take = min(whole - pos, (n - filled) * self.record_size)
                got = self._decode(
                    memoryview(data)[pos : pos + take], batch[filled:]
                )
                filled += len(got)
                pos += take
                if filled == n:
                    yield batch
                    batch = np.empty(n, FLOW_DTYPE)
                    filled = 0
            if whole != size:
                # the whole records before the cut are good: hand them
                # over first, as rwcut prints them before its error
                if filled:
                    yield batch[:filled]
                raise self._short_record(size - whole)
        if filled:
            yield batch[:filled]

    def _iter_raw_view(self, n: int, view: memoryview) -> Iterator[np.ndarray]:
        rsize = self.record_size
        whole = len(view) - len(view) % rsize
        batch = np.empty(n, FLOW_DTYPE)
        filled = 0
        pos = 0
        while pos < whole:
            take = min(whole - pos, (n - filled) * rsize)
            got = self._decode(view[pos : pos + take], batch[filled:])
            filled += len(got)
            pos += take
            if filled == n:
                yield batch
                batch = np.empty(n, FLOW_DTYPE)
                filled = 0
        self._eof = True
        if filled:
            yield batch[:filled]
        if whole != len(view):
            raise self._short_record(len(view) - whole)

    def _iter_blocks(self, n: int) -> Iterator[np.ndarray]:
        # Blocks are decoded straight into the batch; only a record split
        # across two blocks (legal, though SiLK never writes one) is
        # copied.
        assert self._blocks is not None  # noqa: S101
        rsize = self.record_size
        batch = np.empty(n, FLOW_DTYPE)
        filled = 0
        tail = b""
        blocks = iter(self._blocks)
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except Exception:
                # a bad or cut block: the records before it are good
                if filled:
                    yield batch[:filled]
                raise
            view = memoryview(block)
            if tail:
                need = rsize - len(tail)
                if len(view) < need:
                    tail += bytes(view)
                    continue
                pieces: list[bytes | memoryview] = [tail + bytes(view[:need])]
                view = view[need:]
                tail = b""
            else:
                pieces = []
            whole = len(view) - len(view) % rsize
            if whole != len(view):
                tail = bytes(view[whole:])
            pieces.append(view[:whole])
            for piece in pieces:
                pos = 0
                while pos < len(piece):
                    take = min(len(piece) - pos, (n - filled) * rsize)
                    got = self._decode(piece[pos : pos + take], batch[filled:])
                    filled += len(got)
                    pos += take
                    if filled == n:
                        yield batch
                        batch = np.empty(n, FLOW_DTYPE)
                        filled = 0
        self._eof = True
        if filled:
            yield batch[:filled]
        if tail:
            raise self._short_record(len(tail))

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_batches()

    def read_all(self) -> np.ndarray:
        """Return every remaining record as one FLOW_DTYPE array."""
        batches = list(self.iter_batches())
        if not batches:
            return np.empty(0, FLOW_DTYPE)
        return batches[0] if len(batches) == 1 else np.concatenate(batches)

    def close(self) -> None:
        """Close files (and the file mapping) this reader opened."""
        self._blocks = None
        self._release_buffer()
        for fp in reversed(self._to_close):
            with contextlib.suppress(OSError):
                fp.close()
        self._to_close.clear()

    def __enter__(self) -> FlowReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _GzipErrors(io.RawIOBase):
    """Turn a truncated/corrupt gzip layer into named SiLK errors."""

    def __init__(self, fp: IO[bytes], where: str) -> None:
        super().__init__()
        self._fp = fp
        self._where = where

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._fp.read(size)
        except EOFError as exc:
            raise TruncatedError(
                f"Unexpected end of file in the gzip layer of {self._where}"
            ) from exc
        except (gzip.BadGzipFile, OSError) as exc:
            raise SilkFormatError(
                f"Cannot decompress the gzip layer of {self._where}: {exc}"
            ) from exc

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)


def _name_of(fp: object) -> str | None:
    name = getattr(fp, "name", None)
    return name if isinstance(name, str) else None


def _readinto_exact(fp: IO[bytes], buffer: bytearray) -> int:
    """Fill ``buffer`` from ``fp`` unless the stream ends; return bytes."""
    view = memoryview(buffer)
    got = 0
    readinto = getattr(fp, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = fp.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def _read_exact(fp: IO[bytes], n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = fp.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_flows(
    source: PathOrFile | bytes | bytearray | memoryview, **kwargs: Any
) -> tuple[FileHeader, np.ndarray]:
    """Return the header and every record of a flow file."""
    with FlowReader(source, **kwargs) as reader:
        return reader.header, reader.read_all()


# --------------------------------------------------------------------------
# Appender


@dataclass(frozen=True, slots=True)
class DataScan:
    """Where the valid data section of an existing file ends.

    ``valid_end`` is the file offset after the last whole record (method
    0) or whole block (compressed); ``file_size`` the size found;
    ``records`` the whole records before ``valid_end``.  A file is torn
    when ``valid_end < file_size``.
    """

    valid_end: int
    file_size: int
    records: int

    @property
    def torn(self) -> bool:
        """True when bytes after the last whole record/block exist."""
        return self.valid_end < self.file_size


def scan_data_section(
    fp: BinaryIO, header: FileHeader, path: str | None = None
) -> DataScan:
    """Walk the data section without decoding it (block prefixes only).

    Raises BadBlockError for a block prefix SiLK would refuse.
    """
    assert header.length is not None  # noqa: S101 - header was read
    size = fp.seek(0, os.SEEK_END)
    rsize = max(header.record_size, 1)
    if header.compression == Compression.NONE:
        whole = (size - header.length) // rsize
        return DataScan(header.length + whole * rsize, size, whole)
    offset = header.length
    uncompressed = 0
    while offset + comp.BLOCK_PREFIX.size <= size:
        fp.seek(offset)
        prefix = fp.read(comp.BLOCK_PREFIX.size)
        clen, ulen = comp.BLOCK_PREFIX.unpack(prefix)
        if clen == 0:
            break
        if clen > comp.MAX_BLOCK_LENGTH or ulen + 3 > comp.MAX_BLOCK_LENGTH:
            raise comp.BadBlockError(
                f"Error reading iobuffer for {_quoted(path)}: Compressed "
                f"block at offset {offset} is too large"
            )
        end = offset + comp.BLOCK_PREFIX.size + clen
        if end > size:
            break
        offset = end
        uncompressed += ulen
    return DataScan(offset, size, uncompressed // rsize)


class FlowAppender(_SinkFront):
    """Append records to an existing flow file in its own encoding.

    Created by :func:`open_append`.  Compressed files get new blocks (as
    rwflowappend does), uncompressed files whole records.
    """

    def __init__(
        self,
        fp: BinaryIO,
        header: FileHeader,
        scan: DataScan,
        *,
        owns_fp: bool,
        path: str | None,
        ipv6_policy: str,
        compression_level: int | None = None,
        block_size: int | None = None,
    ) -> None:
        self.header = header
        self.path = path
        self.original_length = scan.valid_end
        #: bytes of a torn tail cut off by ``open_append(truncate_torn=)``
        self.truncated_bytes = 0
        self.stats = FlowStats()
        self._fp = fp
        self._owns_fp = owns_fp
        self._closed = False
        fp.seek(scan.valid_end)
        self._sink = _RecordSink(
            fp, header, ipv6_policy, self.stats, _quoted(path),
            compression_level=compression_level, block_size=block_size,
        )  # fmt: skip

    def close(self) -> None:
        """Flush the last block and fsync; the file stays open if given."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sink.flush()
            _fsync(self._fp)
        except BaseException:
            self._truncate_back()
            raise
        finally:
            if self._owns_fp:
                self._fp.close()

    def abort(self) -> None:
        """Undo this appender's writes: truncate to the original length."""
        if self._closed:
            return
        self._closed = True
        try:
            self._truncate_back()
        finally:
            if self._owns_fp:
                self._fp.close()

    def _truncate_back(self) -> None:
        self._sink.pending.clear()
        with contextlib.suppress(OSError, ValueError):
            self._fp.flush()
        self._fp.truncate(self.original_length)
        self._fp.flush()
        _fsync(self._fp)


def open_append(
    target: str | os.PathLike[str] | BinaryIO,
    *,
    path: str | None = None,
    truncate_torn: bool = False,
    ipv6_policy: str = "mix",
    compression_level: int | None = None,
    block_size: int | None = None,
) -> FlowAppender:
    """Open an existing flow file for appending records.

    ``target`` is a path or a file object opened ``"r+b"`` (seekable; the
    caller may hold a lock on it).  The header decides format, record
    version, byte order and compression of the appended records;
    ``compression_level`` and ``block_size`` only how new blocks are
    made (see :class:`FlowWriter`).

    Raises:
        TruncatedError: the data section ends inside a record or block
            (unless ``truncate_torn``: then the tail is cut off first and
            ``.truncated_bytes`` on the result says how many bytes).
        SilkFormatError: not a flow file we can write (e.g. a format or
            record version we only read).
    """
    owns = isinstance(target, (str, os.PathLike))
    if isinstance(target, (str, os.PathLike)):
        path = str(target)
        fp = cast(BinaryIO, open(target, "r+b"))  # noqa: SIM115
    else:
        fp = target
        path = path if path is not None else _name_of(target)
    try:
        fp.seek(0)
        header = read_header(fp, path)
        check_flow_header(header, path)
        if (header.format, header.record_version) not in FLOW_WRITABLE:
            raise UnsupportedFormatError(
                f"Cannot append to {_quoted(path)}: "
                f"{format_name(header.format)} record version "
                f"{header.record_version} is read-only here"
            )
        scan = scan_data_section(fp, header, path)
        truncated = 0
        if scan.torn:
            if not truncate_torn:
                raise TruncatedError(
                    f"Cannot append to {_quoted(path)}: the data section "
                    f"ends inside a record or block "
                    f"({scan.file_size - scan.valid_end} stray bytes after "
                    f"offset {scan.valid_end})"
                )
            truncated = scan.file_size - scan.valid_end
            fp.truncate(scan.valid_end)
            fp.flush()
            _fsync(fp)
        appender = FlowAppender(
            fp, header, scan, owns_fp=owns, path=path,
            ipv6_policy=ipv6_policy,
            compression_level=(
                compression_level
                if header.compression == Compression.ZLIB
                else None
            ),
            block_size=block_size,
        )  # fmt: skip
        appender.truncated_bytes = truncated
        return appender
    except BaseException:
        if owns:
            fp.close()
        raise


def count_records(source: PathOrFile) -> int:
    """Return the number of records of a flow file (like rwfileinfo).

    Compressed files are counted from the block prefixes; a torn or
    partial file raises TruncatedError.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fp:
            return count_records(fp)
    path = _name_of(source)
    source.seek(0)
    if _read_exact(source, 2) == GZIP_MAGIC:
        source.seek(0)
        with FlowReader(source, path=path) as reader:
            return sum(len(b) for b in reader.iter_batches())
    source.seek(0)
    header = read_header(source, path)
    check_flow_header(header, path)
    scan = scan_data_section(source, header, path)
    if scan.torn:
        raise TruncatedError(
            f"Read incomplete record or block from {_quoted(path)}"
        )
    return scan.records
