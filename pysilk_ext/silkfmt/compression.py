# SPDX-License-Identifier: MIT
"""SiLK's block-compressed data section (spec section 2).

A compressed data section is a run of blocks, each an 8-byte big-endian
prefix (compressed length C, uncompressed length U) followed by one
self-contained compressed unit.  No end marker, no checksum, no count; a
block of C == 0 also ends the data.  Method 0 stores the data raw.

Libraries, chosen by measurement (benchmarks/bench_silkflow.py):

* zlib -- the standard library's ``zlib.compress`` at the default level
  reproduces SiLK's ``compress2()`` output byte for byte (checked on the
  fixtures); inflate goes through ISA-L (``isal.isal_zlib``, ~1.5x faster
  than zlib's) when it is installed.
* lzo1x -- compression with ``python-lzo`` (liblzo2's LZO1X-1) when it is
  importable: it is byte-identical to SiLK's blocks on the fixtures and
  ~25x faster than the fallback, ``lzallright`` (a safe Rust LZO1X-1
  port whose output differs from liblzo's but which SiLK reads).
  Decompression always uses ``lzallright`` (the faster of the two).
* snappy -- ``cramjam.snappy`` raw blocks (not the framing format); its
  output may differ from SiLK's libsnappy by version, decoded values are
  identical.

zlib levels (:func:`zlib_compressor`).  SiLK always compresses at zlib's
default level but inflates any zlib stream, so a writer may trade speed
for size.  Level ``None`` is the standard library at its default level
(SiLK's bytes); levels 1-12 use libdeflate (the ``deflate`` package) when
it is importable: on flow records its level 6 is as small as zlib's and
about 3x faster, level 1 is 10x faster (+15% bytes), and levels 10-12
are 2-3% smaller than zlib's best (benchmarks/bench_convert.py).  Without
libdeflate a level means the standard library at ``min(level, 9)``.

Public API (used by flow files, IPsets, the repository appender)::

    block_size_for(record_size, limit=65536) -> int
                                 SiLK's writer block size (or up to limit)
    zlib_compressor(level=None) -> Callable  one zlib stream per call
    compressor_for(method, level=None) -> Callable | None
    compress_payload(method, data) -> bytes  one compressed unit
    decompress_payload(method, payload, expected_len, where) -> bytes
    encode_block(method, data) -> bytes      prefix + payload
    write_block(fp, method, data, compress=None) -> int
                                 same, written to fp (no join)
    encode_blocks(method, data, block_size) -> bytes
    iter_blocks(fp_or_bytes, method, where) -> Iterator[bytes]
    decompress_data(fp_or_bytes, method, where) -> bytes   whole section
    compress_data(data, method, block_size=65536) -> bytes

Errors: :class:`BadBlockError` (a SilkFormatError) for any block SiLK
would refuse; :class:`~pysilk_ext.silkfmt.header.TruncatedError` when the
file ends inside a block.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, BinaryIO

from pysilk_ext.errors import SilkFormatError
from pysilk_ext.silkfmt.header import (
    Compression,
    TruncatedError,
    UnsupportedCompressionError,
)

#: Largest C and U + 3 the SiLK 3.19.1 reader accepts (1 MiB).
MAX_BLOCK_LENGTH = 1 << 20
#: SiLK's writer buffer; rounded down to a record multiple per file.
WRITER_BLOCK_SIZE = 65536
BLOCK_PREFIX = struct.Struct(">II")


class BadBlockError(SilkFormatError):
    """A compressed block is corrupt, oversized or of the wrong length."""


def block_size_for(record_size: int, limit: int = WRITER_BLOCK_SIZE) -> int:
    """Return the block size for records: ``limit`` rounded to records.

    With the default ``limit`` this is SiLK's writer block (65536 bytes
    rounded down to whole records).  Larger blocks compress better; SiLK
    3.19.1 reads blocks up to :data:`MAX_BLOCK_LENGTH` - 3 bytes.

    Raises:
        ValueError: ``limit`` is not between one record and 1 MiB - 3.
    """
    size = max(record_size, 1)
    if not size <= limit <= MAX_BLOCK_LENGTH - 3:
        raise ValueError(
            f"Invalid block size {limit}: must be {size}.."
            f"{MAX_BLOCK_LENGTH - 3} bytes"
        )
    return limit // size * size


# --------------------------------------------------------------------------
# Codecs


def _zlib_compress(data: bytes | bytearray | memoryview) -> bytes:
    # Default level (-1 == 6): byte-identical to SiLK's compress2().
    return zlib.compress(data)


_isal_zlib: ModuleType | None
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - isal is a dependency
    _isal_zlib = None

_libdeflate: ModuleType | None
try:  # libdeflate bindings: zlib streams, faster and smaller than zlib's
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - optional
    _libdeflate = None

#: Levels :func:`zlib_compressor` accepts (libdeflate's range).
ZLIB_LEVELS = range(1, 13)
#: The zlib compressor behind levels 1-12 ("libdeflate" or "zlib").
ZLIB_LEVEL_BACKEND = "libdeflate" if _libdeflate is not None else "zlib"


def zlib_compressor(
    level: int | None = None,
) -> Callable[[bytes | bytearray | memoryview], Any]:
    """Return a function that compresses its argument to one zlib stream.

    ``None`` is SiLK's choice (zlib's default level, identical bytes);
    1-12 trade speed for size (module doc).  Every result is a standard
    RFC 1950 stream that SiLK's ``uncompress()`` reads.  The functions
    release the GIL, so blocks compress in parallel threads.

    Raises:
        ValueError: a level outside 1-12.
    """
    if level is None:
        return _zlib_compress
    if level not in ZLIB_LEVELS:
        raise ValueError(
            f"Invalid zlib level {level}: must be "
            f"{ZLIB_LEVELS.start}..{ZLIB_LEVELS.stop - 1}"
        )
    if _libdeflate is not None:
        fast = _libdeflate.zlib_compress

        def compress(data: bytes | bytearray | memoryview) -> Any:
            return fast(data, level)

        return compress
    std_level = min(level, 9)

    def compress_std(data: bytes | bytearray | memoryview) -> Any:
        return zlib.compress(data, std_level)

    return compress_std


def _zlib_decompress(payload: bytes | memoryview, expected: int) -> bytes:
    if _isal_zlib is not None:
        return bytes(_isal_zlib.decompress(payload, bufsize=max(expected, 1)))
    return zlib.decompress(payload, bufsize=max(expected, 1))


_pylzo: ModuleType | None
try:  # liblzo2 bindings: fast and identical to SiLK's output
    import lzo as _pylzo  # type: ignore[import-not-found,no-redef]
except ImportError:
    _pylzo = None

import lzallright as _lzallright  # noqa: E402 - grouped with its use

_LZO_COMPRESSOR = _lzallright.LZOCompressor()


def _lzo_compress_liblzo(data: bytes | bytearray | memoryview) -> bytes:
    assert _pylzo is not None  # noqa: S101 - chosen only when present
    return bytes(_pylzo.compress(bytes(data), 1, False))


def _lzo_compress_lzallright(data: bytes | bytearray | memoryview) -> bytes:
    return _LZO_COMPRESSOR.compress(data)


#: The LZO1X compressor in use ("python-lzo" or "lzallright").
LZO_BACKEND = "python-lzo" if _pylzo is not None else "lzallright"
_lzo_compress = (
    _lzo_compress_liblzo if _pylzo is not None else _lzo_compress_lzallright
)


def _lzo_decompress(payload: bytes | memoryview, expected: int) -> bytes:
    try:
        return _lzallright.LZOCompressor.decompress(payload, expected)
    except _lzallright.LZOError as exc:
        raise ValueError(f"LZO1X: {exc.args[0]}") from None


import cramjam as _cramjam  # noqa: E402 - grouped with its use


def _snappy_compress(data: bytes | bytearray | memoryview) -> Any:
    # cramjam.Buffer: buffer protocol + len(), written without a copy
    return _cramjam.snappy.compress_raw(data)


def _snappy_decompress(payload: bytes | memoryview, expected: int) -> Any:
    out = bytearray(expected)
    try:
        got = _cramjam.snappy.decompress_raw_into(payload, out)
    except _cramjam.DecompressionError as exc:
        raise ValueError(f"Snappy: {exc}") from None
    if got != expected:
        raise ValueError(f"Snappy: {got} bytes, expected {expected}")
    return out


_COMPRESS: dict[int, Callable[[bytes | bytearray | memoryview], Any]] = {
    Compression.ZLIB: _zlib_compress,
    Compression.LZO1X: _lzo_compress,
    Compression.SNAPPY: _snappy_compress,
}
_DECOMPRESS: dict[int, Callable[[bytes | memoryview, int], Any]] = {
    Compression.ZLIB: _zlib_decompress,
    Compression.LZO1X: _lzo_decompress,
    Compression.SNAPPY: _snappy_decompress,
}


def _method(method: int) -> Compression:
    try:
        return Compression(method)
    except ValueError:
        raise UnsupportedCompressionError(
            f"Specified compression identifier is not recognized {method}"
        ) from None


def compressor_for(
    method: int, level: int | None = None
) -> Callable[[bytes | bytearray | memoryview], Any] | None:
    """Return the block compressor of ``method`` (None for method 0).

    ``level`` applies to zlib only (:func:`zlib_compressor`); LZO1X and
    Snappy have none.

    Raises:
        ValueError: a level for another method than zlib, or out of range.
    """
    method = _method(method)
    if method == Compression.ZLIB:
        return zlib_compressor(level)
    if level is not None:
        raise ValueError(
            f"Compression method {method.name.lower()} has no levels"
        )
    return _COMPRESS.get(method)


def compress_payload(method: int, data: bytes | memoryview) -> bytes:
    """Return one compressed unit of ``data`` (no block prefix)."""
    codec = _COMPRESS.get(_method(method))
    if codec is None:
        return bytes(data)
    return bytes(codec(data))


def write_block(
    fp: BinaryIO,
    method: int,
    data: bytes | bytearray | memoryview,
    compress: Callable[[bytes | bytearray | memoryview], Any] | None = None,
) -> int:
    """Compress ``data`` and write it as one framed block; return bytes.

    Same result as ``fp.write(encode_block(method, data))`` without
    concatenating prefix and payload (the writer's hot path).
    ``compress`` replaces the method's default compressor (e.g. one of
    :func:`compressor_for` with a zlib level).
    """
    if not 0 < len(data) <= MAX_BLOCK_LENGTH - 3:
        raise ValueError(
            f"Block of {len(data)} bytes: must be 1..{MAX_BLOCK_LENGTH - 3}"
        )
    codec = compress or _COMPRESS.get(_method(method))
    if codec is None:
        raise ValueError("Method 'none' has no blocks")
    payload = codec(data)
    if len(payload) > MAX_BLOCK_LENGTH:  # pragma: no cover - incompressible
        raise ValueError(f"Compressed block of {len(payload)} bytes")
    fp.write(BLOCK_PREFIX.pack(len(payload), len(data)))
    fp.write(payload)
    return BLOCK_PREFIX.size + len(payload)


def decompress_payload(
    method: int,
    payload: bytes | memoryview,
    expected_len: int,
    where: str = "'<stream>'",
) -> bytes | bytearray:
    """Return the decompressed block; it must be ``expected_len`` long.

    Raises:
        BadBlockError: the payload does not decompress, or not to
            ``expected_len`` bytes (SiLK: "Error during decompression").
    """
    codec = _DECOMPRESS.get(_method(method))
    if codec is None:
        return payload  # type: ignore[return-value]
    try:
        data: bytes | bytearray = codec(payload, expected_len)
    except (ValueError, zlib.error) as exc:
        raise BadBlockError(
            f"Error reading iobuffer for {where}: Error during "
            f"decompression ({exc})"
        ) from None
    except Exception as exc:
        raise BadBlockError(
            f"Error reading iobuffer for {where}: Error during "
            f"decompression ({type(exc).__name__}: {exc})"
        ) from None
    if len(data) != expected_len:
        raise BadBlockError(
            f"Error reading iobuffer for {where}: Error during "
            f"decompression (block decompressed to {len(data)} bytes, "
            f"expected {expected_len})"
        )
    return data


def encode_block(method: int, data: bytes | memoryview) -> bytes:
    """Return one framed block (8-byte BE prefix + compressed payload).

    ``data`` must be non-empty and at most 1 MiB - 3 bytes.
    """
    if not 0 < len(data) <= MAX_BLOCK_LENGTH - 3:
        raise ValueError(
            f"Block of {len(data)} bytes: must be 1..{MAX_BLOCK_LENGTH - 3}"
        )
    payload = compress_payload(method, data)
    if len(payload) > MAX_BLOCK_LENGTH:  # pragma: no cover - incompressible
        raise ValueError(f"Compressed block of {len(payload)} bytes")
    return BLOCK_PREFIX.pack(len(payload), len(data)) + payload


def encode_blocks(
    method: int,
    data: bytes | memoryview,
    block_size: int = WRITER_BLOCK_SIZE,
) -> bytes:
    """Return ``data`` split into blocks of ``block_size`` and framed.

    With method 0 the data are returned unchanged (no framing).
    """
    if _method(method) == Compression.NONE:
        return bytes(data)
    view = memoryview(data).cast("B")
    return b"".join(
        encode_block(method, view[i : i + block_size])
        for i in range(0, len(view), block_size)
    )


def compress_data(
    data: bytes | memoryview,
    method: int,
    block_size: int = WRITER_BLOCK_SIZE,
) -> bytes:
    """Return a whole data section (alias of :func:`encode_blocks`)."""
    return encode_blocks(method, data, block_size)


def _read_exact(fp: BinaryIO, n: int) -> bytes:
    chunks = []
    while n:
        chunk = fp.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def iter_blocks(
    source: BinaryIO | bytes | bytearray | memoryview,
    method: int,
    where: str = "'<stream>'",
) -> Iterator[bytes | bytearray]:
    """Yield the decompressed payload of each block until end of data.

    ``source`` is a file positioned at the start of the data section or the
    data section itself.  Method 0 yields the raw data in chunks.

    Raises:
        BadBlockError: a block over SiLK's 1 MiB limits or corrupt.
        TruncatedError: the data end inside a block.
    """
    method = _method(method)
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield from _iter_blocks_buffer(memoryview(source).cast("B"), method,
                                       where)  # fmt: skip
        return
    if method == Compression.NONE:
        while chunk := source.read(WRITER_BLOCK_SIZE * 16):
            yield chunk
        return
    offset = 0
    while True:
        prefix = _read_exact(source, BLOCK_PREFIX.size)
        if not prefix:
            return
        payload_len, expected = _check_prefix(prefix, offset, where)
        if payload_len == 0:
            return
        payload = _read_exact(source, payload_len)
        if len(payload) < payload_len:
            raise _truncated_block(offset, payload_len, len(payload), where)
        yield decompress_payload(method, payload, expected, where)
        offset += BLOCK_PREFIX.size + payload_len


def _iter_blocks_buffer(
    view: memoryview, method: Compression, where: str
) -> Iterator[bytes | bytearray]:
    if method == Compression.NONE:
        if len(view):
            yield bytes(view)
        return
    offset = 0
    while offset < len(view):
        prefix = view[offset : offset + BLOCK_PREFIX.size]
        payload_len, expected = _check_prefix(prefix, offset, where)
        if payload_len == 0:
            return
        start = offset + BLOCK_PREFIX.size
        payload = view[start : start + payload_len]
        if len(payload) < payload_len:
            raise _truncated_block(offset, payload_len, len(payload), where)
        yield decompress_payload(method, payload, expected, where)
        offset = start + payload_len


def _check_prefix(
    prefix: bytes | memoryview, offset: int, where: str
) -> tuple[int, int]:
    if len(prefix) < BLOCK_PREFIX.size:
        raise TruncatedError(
            f"Error reading iobuffer for {where}: Data ended inside the "
            f"prefix of the compressed block at data offset {offset}"
        )
    payload_len, expected = BLOCK_PREFIX.unpack(prefix)
    if payload_len > MAX_BLOCK_LENGTH or expected + 3 > MAX_BLOCK_LENGTH:
        raise BadBlockError(
            f"Error reading iobuffer for {where}: Compressed block at data "
            f"offset {offset} is too large (compressed {payload_len}, "
            f"uncompressed {expected} bytes; limit 1 MiB)"
        )
    return payload_len, expected


def _truncated_block(
    offset: int, want: int, got: int, where: str
) -> TruncatedError:
    return TruncatedError(
        f"Error reading iobuffer for {where}: Data ended inside the "
        f"compressed block at data offset {offset} ({got} of {want} bytes)"
    )


def decompress_data(
    source: BinaryIO | bytes | bytearray | memoryview,
    method: int,
    where: str = "'<stream>'",
) -> bytes:
    """Return the whole decompressed data section (IPsets, small files)."""
    return b"".join(iter_blocks(source, method, where))
