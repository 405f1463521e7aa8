# SPDX-License-Identifier: MIT
"""The ``.vpcmap`` file: encoding a table set, writing it atomically.

The layout is specified once, in ``csrc/pse_ctxmap.h`` (the C core reads
and validates it); this module writes exactly that.  The encoding is a
pure function of the tables, and the tables are canonical (sorted strings
and rows, see :mod:`pysilk_ext.ctxmap._assemble`), so the same bindings
always give the same bytes: re-ingesting logs or merging partial maps in
another order leaves the file byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext.ctxmap.model import CTX_WIDTH, FIELDS
from pysilk_ext.errors import ContextMapError

MAGIC = b"\x89VPCMAP\n"
FORMAT_VERSION = 2
HEADER_SIZE = 64
DIRENT_SIZE = 32

SEC_STROFF = 1
SEC_STRDATA = 2
SEC_FIELDS = 3
SEC_CTX = 4
SEC_ADDR4 = 5
SEC_START4 = 6
SEC_ADDR6 = 7
SEC_START6 = 8
SEC_BIND = 9
SEC_RANGE4 = 10
SEC_RANGE6 = 11
# 12-15 held version 1's value index (dropped in version 2: value ->
# address queries scan the contexts and bindings in C).
SEC_META = 16
SEC_GROUP = 32

U32 = np.dtype("<u4")
U64 = np.dtype("<u8")


@dataclass(slots=True)
class MapTables:
    """Every table of a map, as NumPy arrays (views when read from a file).

    ``range6`` rows are ``(lo_hi, lo_lo, hi_hi, hi_lo, ctx)`` u64 words.
    ``strings`` is the sorted string dictionary (``strings[0] == ""``).
    """

    strings: Sequence[str]
    ctx: npt.NDArray[np.uint32]
    groups: dict[int, npt.NDArray[np.uint32]]
    addr4: npt.NDArray[np.uint32]
    start4: npt.NDArray[np.uint32]
    addr6: npt.NDArray[np.uint64]
    start6: npt.NDArray[np.uint32]
    bind: npt.NDArray[np.uint32]
    range4: npt.NDArray[np.uint32]
    range6: npt.NDArray[np.uint64]
    meta: dict[str, Any] = field(default_factory=dict)


def _fields_table(strings: Sequence[str]) -> npt.NDArray[np.uint32]:
    sid = {s: i for i, s in enumerate(strings)}
    rows = [(sid[f.name], f.group, f.ctx_col, f.grp_col) for f in FIELDS]
    return np.array(rows, dtype=U32).reshape(-1, 4)


def _string_sections(strings: Sequence[str]) -> tuple[bytes, bytes]:
    encoded = [s.encode("utf-8") for s in strings]
    if any(b"\0" in s for s in encoded):
        raise ContextMapError("Invalid string: NUL characters are not allowed")
    lengths = np.fromiter((len(s) for s in encoded), U64, len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=U64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > 0xFFFFFFFF:
        raise ContextMapError("String dictionary exceeds 4 GiB")
    return offsets.astype(U32).tobytes(), b"".join(encoded)


def encode(tables: MapTables) -> bytes:
    """Return the file image of ``tables`` (format version 2)."""
    stroff, strdata = _string_sections(tables.strings)
    meta = json.dumps(tables.meta, sort_keys=True, indent=1).encode()
    sections: list[tuple[int, int, int, bytes]] = [
        (SEC_STROFF, 4, len(tables.strings) + 1, stroff),
        (SEC_STRDATA, 1, len(strdata), strdata),
        (SEC_FIELDS, 16, len(FIELDS), _fields_table(tables.strings).tobytes()),
        (SEC_CTX, 4 * CTX_WIDTH, len(tables.ctx), _u32(tables.ctx)),
    ]
    for group in sorted(tables.groups):
        rows = tables.groups[group]
        sections.append(
            (SEC_GROUP + group, 4 * rows.shape[1], len(rows), _u32(rows))
        )
    sections += [
        (SEC_ADDR4, 4, len(tables.addr4), _u32(tables.addr4)),
        (SEC_START4, 4, len(tables.start4), _u32(tables.start4)),
        (SEC_ADDR6, 16, len(tables.addr6), _u64(tables.addr6)),
        (SEC_START6, 4, len(tables.start6), _u32(tables.start6)),
        (SEC_BIND, 16, len(tables.bind), _u32(tables.bind)),
        (SEC_RANGE4, 12, len(tables.range4), _u32(tables.range4)),
        (SEC_RANGE6, 40, len(tables.range6), _u64(tables.range6)),
        (SEC_META, 1, len(meta), meta),
    ]
    body = bytearray()
    directory = bytearray()
    offset = HEADER_SIZE
    for sec_id, esize, count, data in sections:
        assert len(data) == esize * count  # noqa: S101 - encoder invariant
        directory += struct.pack("<IIQQQ", sec_id, esize, offset, count, 0)
        body += data
        pad = -len(data) % 8
        body += b"\0" * pad
        offset += len(data) + pad
    dir_offset = offset
    file_size = dir_offset + len(directory)
    header = struct.pack(
        "<8sIIQIIQI20x",
        MAGIC,
        FORMAT_VERSION,
        HEADER_SIZE,
        file_size,
        len(sections),
        zlib.crc32(bytes(directory)),
        dir_offset,
        CTX_WIDTH,
    )
    assert len(header) == HEADER_SIZE  # noqa: S101 - layout invariant
    return header + bytes(body) + bytes(directory)


def _u32(arr: npt.NDArray[Any]) -> bytes:
    return np.ascontiguousarray(arr, dtype=U32).tobytes()


def _u64(arr: npt.NDArray[Any]) -> bytes:
    return np.ascontiguousarray(arr, dtype=U64).tobytes()


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see old or new, never half.

    The bytes go to a temporary file in the same directory, which is
    flushed and fsync'ed, then renamed over ``path`` (atomic on POSIX);
    the directory is fsync'ed so the rename survives a crash.  On any
    failure the temporary file is removed and ``path`` is untouched.

    Raises:
        ContextMapError: the file cannot be written.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=directory
        )
    except OSError as exc:
        raise ContextMapError(
            f"Cannot open '{target}' for writing: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ContextMapError(
                f"Unable to write context map to '{target}': {exc.strerror}"
            ) from None
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - directory not openable
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(dfd)
