# SPDX-License-Identifier: MIT
"""The SiLK file header: start block, header entries, padding.

Every binary SiLK 3.x file (flow files, prefix maps, IPsets) begins with a
16-byte start block and a list of header entries ended by an end-of-header
entry (spec sections 1.1-1.7).  This module reads and writes that header
byte for byte as SiLK 3.19.1 does; the data section that follows is the
business of :mod:`~pysilk_ext.silkfmt.compression` and
:mod:`~pysilk_ext.silkfmt.flowfile` (or the pmap/IPset modules).

Everything in the header is big-endian whatever the byte-order flag says:
the flag governs only the data section.

Public API (stable; the repository, prefix-map and IPset modules build on
it)::

    FileFormat, Compression                     IntEnums of the ids
    FileHeader(format, record_version, record_size, byte_order="little",
               compression=Compression.NONE, entries=[], silk_version=...,
               file_version=16, length=None)
    PackedFileEntry(start_ms, flowtype, sensor)  InvocationEntry(text)
    AnnotationEntry(text)  ProbeNameEntry(name)  PrefixMapEntry(name, 1)
    IPSetEntry(children_per_node, leaf_count, leaf_size, node_count,
               node_size, root_index)
    TombstoneEntry(counter, version=1)  UnknownEntry(entry_id, body)
    read_header(source, path=None) -> FileHeader   (.length = bytes read)
    encode_header(header) -> bytes                 (SiLK's padding rule)
    check_flow_header(header, path) -> int         (record size, or raises)

Errors are :class:`~pysilk_ext.errors.SilkFormatError` subclasses defined
here, worded like SiLK's own messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import BinaryIO, Literal, TypeAlias

from pysilk_ext.errors import SilkFormatError

MAGIC = b"\xde\xad\xbe\xef"
FILE_VERSION = 16
START_BLOCK_LENGTH = 16
ENTRY_PREFIX_LENGTH = 8
#: SiLK version we write into the start block: the release whose formats
#: we reproduce (3.19.1), so that rwfileinfo output matches rwtuc's.
SILK_VERSION_WRITTEN = 3019001

ByteOrder: TypeAlias = Literal["little", "big"]

_START = struct.Struct(">4sBBBBIHH")
_ENTRY_PREFIX = struct.Struct(">II")
_PACKED_FILE = struct.Struct(">qII")
_IPSET = struct.Struct(">6I")
_U32 = struct.Struct(">I")
_TOMBSTONE = struct.Struct(">II")


# --------------------------------------------------------------------------
# Errors


class BadMagicError(SilkFormatError):
    """The file does not start with SiLK's magic number."""


class UnsupportedFileVersionError(SilkFormatError):
    """The start block's file version is not 16 (legacy header)."""


class TruncatedError(SilkFormatError):
    """The file ended inside the header, a record or a block."""


class HeaderEntryError(SilkFormatError):
    """A header entry is malformed (length < 8, wrong size, ...)."""


class UnsupportedFormatError(SilkFormatError):
    """The file format or record version is not one we can handle."""


class RecordSizeError(SilkFormatError):
    """The record size disagrees with the record version of the format."""


class UnsupportedCompressionError(SilkFormatError):
    """The compression method byte is unknown or not usable here."""


# --------------------------------------------------------------------------
# Identifiers


class FileFormat(IntEnum):
    """File format ids (byte 5 of the start block; spec 1.3)."""

    FT_TCPDUMP = 0x00
    FT_GRAPH = 0x01
    FT_ADDRESSES = 0x02
    FT_PORTMAP = 0x03
    FT_SERVICEMAP = 0x04
    FT_NIDSMAP = 0x05
    FT_EXPERIMENT1 = 0x06
    FT_EXPERIMENT2 = 0x07
    FT_TEMPFILE = 0x08
    FT_AGGREGATEBAG = 0x09
    FT_IPFIX = 0x0A
    FT_RWIPV6 = 0x0B
    FT_RWIPV6ROUTING = 0x0C
    FT_RWAUGSNMPOUT = 0x0D
    FT_RWAUGROUTING = 0x0E
    FT_RESERVED_0F = 0x0F
    FT_RWROUTED = 0x10
    FT_RWNOTROUTED = 0x11
    FT_RWSPLIT = 0x12
    FT_RWFILTER = 0x13
    FT_RWAUGMENTED = 0x14
    FT_RWAUGWEB = 0x15
    FT_RWGENERIC = 0x16
    FT_RESERVED_17 = 0x17
    FT_RWDAILY = 0x18
    FT_RWSCAN = 0x19
    FT_RWACL = 0x1A
    FT_RWCOUNT = 0x1B
    FT_FLOWCAP = 0x1C
    FT_IPSET = 0x1D
    FT_TAGTREE = 0x1E
    FT_RWWWW = 0x1F
    FT_SHUFFLE = 0x20
    FT_RWBAG = 0x21
    FT_BLOOM = 0x22
    FT_RWPRINTSTATS = 0x23
    FT_PDUFLOWCAP = 0x24
    FT_PREFIXMAP = 0x25


#: Formats SiLK's stream layer treats as flow files (spec 1.3).
FLOW_FORMATS = frozenset(
    {0x0B, 0x0C, 0x0D, 0x0E, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x1C,
     0x1F}
)  # fmt: skip


class Compression(IntEnum):
    """Compression method ids (byte 7 of the start block; spec 1.4)."""

    NONE = 0
    ZLIB = 1
    LZO1X = 2
    SNAPPY = 3


#: Names as rwfileinfo prints them and ``--compression-method`` takes them.
COMPRESSION_NAMES = {
    Compression.NONE: "none",
    Compression.ZLIB: "zlib",
    Compression.LZO1X: "lzo1x",
    Compression.SNAPPY: "snappy",
}


def compression_from_name(name: str | int | Compression) -> Compression:
    """Return the method for a SiLK name (``"lzo1x"``) or an id."""
    if isinstance(name, int):
        try:
            return Compression(name)
        except ValueError:
            raise UnsupportedCompressionError(
                f"Specified compression identifier is not recognized {name}"
            ) from None
    for method, text in COMPRESSION_NAMES.items():
        if text == name.lower():
            return method
    raise UnsupportedCompressionError(
        f"Invalid compression-method '{name}': Unknown compression method"
    )


def format_name(fmt: int) -> str:
    """Return ``FT_RWIPV6ROUTING(0x0c)``, rwfileinfo's spelling."""
    try:
        name = FileFormat(fmt).name
    except ValueError:
        name = "UNKNOWN"
    return f"{name}(0x{fmt:02x})"


#: (format, record version) -> record size for every flow layout we decode.
#: Writing is supported for the versions in FLOW_WRITABLE only.
FLOW_RECORD_SIZES: dict[tuple[int, int], int] = {
    (FileFormat.FT_RWIPV6ROUTING, 1): 88,
    (FileFormat.FT_RWIPV6ROUTING, 2): 88,
    (FileFormat.FT_RWIPV6ROUTING, 3): 100,
    (FileFormat.FT_RWGENERIC, 0): 40,
    (FileFormat.FT_RWGENERIC, 1): 37,
    (FileFormat.FT_RWGENERIC, 2): 48,
    (FileFormat.FT_RWGENERIC, 3): 56,
    (FileFormat.FT_RWGENERIC, 4): 56,
    (FileFormat.FT_RWGENERIC, 5): 52,
    (FileFormat.FT_RWIPV6, 1): 68,
}
FLOW_WRITABLE = frozenset(
    {
        (FileFormat.FT_RWIPV6ROUTING, 1),
        (FileFormat.FT_RWGENERIC, 5),
        (FileFormat.FT_RWIPV6, 1),
    }
)


# --------------------------------------------------------------------------
# Header entries


class EntryId(IntEnum):
    """Header entry type ids (spec 1.5)."""

    END = 0
    PACKED_FILE = 1
    INVOCATION = 2
    ANNOTATION = 3
    PROBE_NAME = 4
    PREFIX_MAP = 5
    BAG = 6
    IPSET = 7
    AGGREGATE_BAG = 8
    SIDECAR = 9
    TOMBSTONE = 10


def _encode_text(text: str) -> bytes:
    # surrogateescape gives back the exact bytes of a non-UTF-8 entry
    return text.encode("utf-8", "surrogateescape") + b"\0"


def _decode_text(body: bytes) -> str:
    # The declared length may exceed strlen+1: stop at the first NUL.
    end = body.find(b"\0")
    raw = body if end < 0 else body[:end]
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class PackedFileEntry:
    """Entry 1: the hour, flowtype and sensor of a repository file."""

    start_ms: int
    flowtype: int
    sensor: int
    entry_id = EntryId.PACKED_FILE

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _PACKED_FILE.pack(self.start_ms, self.flowtype, self.sensor)


@dataclass(frozen=True, slots=True)
class InvocationEntry:
    """Entry 2: one command line that produced or touched the file."""

    text: str
    entry_id = EntryId.INVOCATION

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _encode_text(self.text)


@dataclass(frozen=True, slots=True)
class AnnotationEntry:
    """Entry 3: a free-text note (``--note-add``)."""

    text: str
    entry_id = EntryId.ANNOTATION

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _encode_text(self.text)


@dataclass(frozen=True, slots=True)
class ProbeNameEntry:
    """Entry 4: the name of the probe (flowcap output)."""

    name: str
    entry_id = EntryId.PROBE_NAME

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _encode_text(self.name)


@dataclass(frozen=True, slots=True)
class PrefixMapEntry:
    """Entry 5: the map name of a prefix map (SiLK ignores version != 1)."""

    name: str
    version: int = 1
    entry_id = EntryId.PREFIX_MAP

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _U32.pack(self.version) + _encode_text(self.name)


@dataclass(frozen=True, slots=True)
class IPSetEntry:
    """Entry 7: the six geometry words of an IPset (spec section 5)."""

    children_per_node: int
    leaf_count: int
    leaf_size: int
    node_count: int
    node_size: int
    root_index: int
    entry_id = EntryId.IPSET

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _IPSET.pack(
            self.children_per_node,
            self.leaf_count,
            self.leaf_size,
            self.node_count,
            self.node_size,
            self.root_index,
        )


@dataclass(frozen=True, slots=True)
class TombstoneEntry:
    """Entry 10: a tombstone counter (version 1)."""

    counter: int
    version: int = 1
    entry_id = EntryId.TOMBSTONE

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return _TOMBSTONE.pack(self.version, self.counter)


@dataclass(frozen=True, slots=True)
class UnknownEntry:
    """Any other entry (bag, aggregate bag, sidecar, ...), kept opaque.

    SiLK keeps entries it does not understand as blobs; so do we, so that
    re-encoding a header reproduces it.
    """

    entry_id: int
    body: bytes

    def encode_body(self) -> bytes:
        """Return the entry body (without the 8-byte prefix)."""
        return self.body


HeaderEntry: TypeAlias = (
    PackedFileEntry
    | InvocationEntry
    | AnnotationEntry
    | ProbeNameEntry
    | PrefixMapEntry
    | IPSetEntry
    | TombstoneEntry
    | UnknownEntry
)


def encode_entry(entry: HeaderEntry) -> bytes:
    """Return one entry with its 8-byte prefix (type id, total length)."""
    body = entry.encode_body()
    if int(entry.entry_id) == EntryId.END:
        raise ValueError("Entry id 0 is reserved for the end of the header")
    return _ENTRY_PREFIX.pack(int(entry.entry_id), 8 + len(body)) + body


def decode_entry(entry_id: int, body: bytes, where: str) -> HeaderEntry:
    """Return the entry object for one entry body read from a file."""
    if entry_id == EntryId.PACKED_FILE:
        if len(body) != _PACKED_FILE.size:
            raise HeaderEntryError(
                f"Error processing headers on file {where}: Packed-file "
                f"header entry has length {8 + len(body)}, expected 24"
            )
        start_ms, flowtype, sensor = _PACKED_FILE.unpack(body)
        return PackedFileEntry(start_ms, flowtype, sensor)
    if entry_id == EntryId.INVOCATION:
        return InvocationEntry(_decode_text(body))
    if entry_id == EntryId.ANNOTATION:
        return AnnotationEntry(_decode_text(body))
    if entry_id == EntryId.PROBE_NAME:
        return ProbeNameEntry(_decode_text(body))
    if entry_id == EntryId.PREFIX_MAP and len(body) >= 4:
        (version,) = _U32.unpack_from(body)
        return PrefixMapEntry(_decode_text(body[4:]), version)
    if entry_id == EntryId.IPSET:
        if len(body) != _IPSET.size:
            raise HeaderEntryError(
                f"Error processing headers on file {where}: IPset header "
                f"entry has length {8 + len(body)}, expected 32"
            )
        return IPSetEntry(*_IPSET.unpack(body))
    if entry_id == EntryId.TOMBSTONE and len(body) == _TOMBSTONE.size:
        version, counter = _TOMBSTONE.unpack(body)
        return TombstoneEntry(counter, version)
    return UnknownEntry(entry_id, bytes(body))


# --------------------------------------------------------------------------
# The header


@dataclass(slots=True)
class FileHeader:
    """A SiLK file header (start block + entries).

    ``length`` is the header length in bytes as read from a file (the data
    section starts there), or ``None`` for a header built in memory;
    :func:`encode_header` computes the padded length itself.
    ``record_size`` 0 is stored as SiLK does but treated as 1.
    """

    format: int
    record_version: int
    record_size: int
    byte_order: ByteOrder = "little"
    compression: int = Compression.NONE
    entries: list[HeaderEntry] = field(default_factory=list)
    silk_version: int = SILK_VERSION_WRITTEN
    file_version: int = FILE_VERSION
    length: int | None = None

    @property
    def padding_modulus(self) -> int:
        """The modulus the header length is padded to (record size)."""
        return max(self.record_size, 1)

    def entries_of(self, kind: type[HeaderEntry]) -> list[HeaderEntry]:
        """Return the entries of one class, in file order."""
        return [e for e in self.entries if isinstance(e, kind)]

    @property
    def packed_file(self) -> PackedFileEntry | None:
        """The packed-file entry, if any (repository files have one)."""
        for entry in self.entries:
            if isinstance(entry, PackedFileEntry):
                return entry
        return None

    @property
    def silk_version_text(self) -> str:
        """``3.19.1`` form of :attr:`silk_version` (rwfileinfo prints it)."""
        v = self.silk_version
        return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"


def padded_length(unpadded: int, record_size: int) -> int:
    """Return SiLK's header length for ``unpadded`` bytes (spec 1.6).

    ``unpadded`` counts the start block, every entry and the 8-byte
    end-of-header prefix; the terminator grows so that the total becomes
    a multiple of the record size (when it is above 1).
    """
    if record_size > 1 and unpadded % record_size:
        return unpadded + record_size - unpadded % record_size
    return unpadded


def encode_header(header: FileHeader) -> bytes:
    """Return the header bytes exactly as SiLK 3.19.1 writes them."""
    if header.byte_order not in ("little", "big"):
        raise ValueError(
            f"Invalid byte order '{header.byte_order}': expected 'little' "
            f"or 'big'"
        )
    flags = 1 if header.byte_order == "big" else 0
    parts = [
        _START.pack(
            MAGIC,
            flags,
            int(header.format),
            header.file_version,
            int(header.compression),
            header.silk_version,
            header.record_size,
            header.record_version,
        )
    ]
    parts.extend(encode_entry(entry) for entry in header.entries)
    unpadded = sum(map(len, parts)) + ENTRY_PREFIX_LENGTH
    total = padded_length(unpadded, header.record_size)
    end_len = ENTRY_PREFIX_LENGTH + total - unpadded
    parts.append(_ENTRY_PREFIX.pack(EntryId.END, end_len))
    parts.append(bytes(end_len - ENTRY_PREFIX_LENGTH))
    return b"".join(parts)


class _Source:
    """Uniform exact reads from bytes or a binary file object."""

    def __init__(self, source: bytes | bytearray | memoryview | BinaryIO):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._buf: memoryview | None = memoryview(source).cast("B")
            self._fp: BinaryIO | None = None
        else:
            self._buf = None
            self._fp = source
        self.offset = 0

    def read(self, n: int) -> bytes:
        if self._buf is not None:
            data = bytes(self._buf[self.offset : self.offset + n])
        else:
            assert self._fp is not None  # noqa: S101 - one of the two
            chunks = []
            want = n
            while want:
                chunk = self._fp.read(want)
                if not chunk:
                    break
                chunks.append(chunk)
                want -= len(chunk)
            data = b"".join(chunks)
        self.offset += len(data)
        return data


def _where(path: str | None) -> str:
    return f"'{path}'" if path is not None else "'<stream>'"


def read_header(
    source: bytes | bytearray | memoryview | BinaryIO,
    path: str | None = None,
) -> FileHeader:
    """Read a SiLK header from bytes or a file positioned at its start.

    A file object is left positioned at the first byte of the data section;
    ``header.length`` tells where that is.  ``path`` is used in messages.

    Raises:
        BadMagicError, UnsupportedFileVersionError, TruncatedError,
        HeaderEntryError, UnsupportedCompressionError: the header is not a
        valid SiLK 3.x header (all are SilkFormatError).
    """
    src = _Source(source)
    where = _where(path)
    start = src.read(START_BLOCK_LENGTH)
    if len(start) < 8 or start[:4] != MAGIC:
        raise BadMagicError(
            f"File does not appear to be a SiLK data file {where}"
        )
    if start[6] != FILE_VERSION:
        raise UnsupportedFileVersionError(
            f"Error processing headers on file {where}: Error handling a "
            f"legacy header (file version {start[6]}, expected 16)"
        )
    if len(start) < START_BLOCK_LENGTH:
        raise TruncatedError(
            f"Error processing headers on file {where}: Unexpected end of "
            f"file while reading header"
        )
    (_, flags, fmt, fversion, comp, silk_version, rsize, rversion) = (
        _START.unpack(start)
    )
    if comp not in Compression._value2member_map_:
        raise UnsupportedCompressionError(
            f"Specified compression identifier is not recognized {comp} "
            f"{where}"
        )
    entries: list[HeaderEntry] = []
    while True:
        prefix = src.read(ENTRY_PREFIX_LENGTH)
        if len(prefix) < ENTRY_PREFIX_LENGTH:
            raise TruncatedError(
                f"Error processing headers on file {where}: Unexpected end "
                f"of file while reading header"
            )
        entry_id, entry_len = _ENTRY_PREFIX.unpack(prefix)
        if entry_len < ENTRY_PREFIX_LENGTH:
            raise HeaderEntryError(
                f"Error processing headers on file {where}: Error in "
                f"reading a header entry from disk (entry {entry_id} at "
                f"offset {src.offset - 8} has length {entry_len})"
            )
        body = src.read(entry_len - ENTRY_PREFIX_LENGTH)
        if len(body) < entry_len - ENTRY_PREFIX_LENGTH:
            raise TruncatedError(
                f"Error processing headers on file {where}: Unexpected end "
                f"of file while reading header (entry {entry_id} at offset "
                f"{src.offset - 8 - len(body)} runs past the end)"
            )
        if entry_id == EntryId.END:
            break
        entries.append(decode_entry(entry_id, body, where))
    return FileHeader(
        format=_as_format(fmt),
        record_version=rversion,
        record_size=rsize,
        byte_order="big" if flags & 1 else "little",
        compression=Compression(comp),
        entries=entries,
        silk_version=silk_version,
        file_version=fversion,
        length=src.offset,
    )


def _as_format(fmt: int) -> int:
    try:
        return FileFormat(fmt)
    except ValueError:
        return fmt


def check_flow_header(header: FileHeader, path: str | None = None) -> int:
    """Check that ``header`` describes a flow layout we can decode.

    Returns the record size.  SiLK aborts (exit 134) on a record size that
    disagrees with the version; we raise :class:`RecordSizeError` instead.

    Raises:
        UnsupportedFormatError: not a flow format, or a record version we
            do not decode.
        RecordSizeError: record size in the header differs from the size
            of the version's layout.
    """
    where = _where(path)
    if header.format not in FLOW_FORMATS:
        raise UnsupportedFormatError(
            f"File does not contain SiLK Flow data: {where} has format "
            f"{_format_name_spaced(header.format)}"
        )
    size = FLOW_RECORD_SIZES.get((header.format, header.record_version))
    if size is None:
        raise UnsupportedFormatError(
            f"This release does not support "
            f"{format_name(header.format)} v{header.record_version} "
            f"records in the v{header.file_version} file {where}"
        )
    if header.record_size != size:
        raise RecordSizeError(
            f"Record size {header.record_size} in the header of {where} "
            f"disagrees with {format_name(header.format)} v"
            f"{header.record_version}, whose records are {size} bytes"
        )
    return size


def _format_name_spaced(fmt: int) -> str:
    # rwcut says "has format FT_PREFIXMAP (0x25)" with a space
    try:
        name = FileFormat(fmt).name
    except ValueError:
        name = "UNKNOWN"
    return f"{name} (0x{fmt:02x})"
