# SPDX-License-Identifier: MIT
"""SiLK file header: every fixture header read and re-encoded byte for
byte, entry types, SiLK's padding rule, and named errors on corrupt input
(spec sections 1.1-1.7)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pysilk_ext.errors import SilkFormatError
from pysilk_ext.silkfmt.header import (
    FLOW_RECORD_SIZES,
    MAGIC,
    AnnotationEntry,
    BadMagicError,
    Compression,
    FileFormat,
    FileHeader,
    HeaderEntryError,
    InvocationEntry,
    IPSetEntry,
    PackedFileEntry,
    PrefixMapEntry,
    ProbeNameEntry,
    RecordSizeError,
    TombstoneEntry,
    TruncatedError,
    UnknownEntry,
    UnsupportedCompressionError,
    UnsupportedFileVersionError,
    UnsupportedFormatError,
    check_flow_header,
    compression_from_name,
    encode_header,
    format_name,
    padded_length,
    read_header,
)
from tests.conftest import FIXTURES


def _silk_files() -> list[Path]:
    """Every binary SiLK file among the fixtures (by magic number)."""
    found = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                if fh.read(4) == MAGIC:
                    found.append(path)
    return found


SILK_FILES = _silk_files()


def test_fixture_set_is_present() -> None:
    """The fixture tree holds flow, repo, pmap and IPset files."""
    kinds = {p.relative_to(FIXTURES).parts[0] for p in SILK_FILES}
    assert {"flows", "repo", "pmap", "ipset"} <= kinds


@pytest.mark.parametrize(
    "path", SILK_FILES, ids=lambda p: str(p.relative_to(FIXTURES))
)
def test_header_reencodes_byte_for_byte(path: Path) -> None:
    """Reading then encoding a fixture header gives SiLK's exact bytes."""
    data = path.read_bytes()
    header = read_header(data, str(path))
    assert header.length is not None
    assert data[: header.length] == encode_header(header)


@pytest.mark.parametrize(
    "path", SILK_FILES[:8], ids=lambda p: str(p.relative_to(FIXTURES))
)
def test_file_object_left_at_data_start(path: Path) -> None:
    """Reading from a file object stops exactly where the data begin."""
    with path.open("rb") as fh:
        header = read_header(fh, str(path))
        assert header.length == fh.tell()


@pytest.mark.parametrize(
    ("name", "expected_length"),
    [
        ("flows/rwipv6routing-v1-none-le.rw", 88),
        ("flows/rwgeneric-v5-none-le.rw", 52),
        ("flows/base.rw", 88),
        ("repo/root-pack-interfaces/outweb/2024/03/15/ow-S0_20240315.13", 88),
        ("flows/rwipv6routing-v3-none-le.rw", 100),
        ("pmap/aws-ipv4.pmap", 116),
        ("ipset/ipv4-v4-zlib.set", 56),
    ],
)
def test_header_lengths_of_spec_table(name: str, expected_length: int) -> None:
    """Header lengths match spec table 1.6 (padding to the record size)."""
    header = read_header((FIXTURES / name).read_bytes())
    assert expected_length == header.length
    assert expected_length == len(encode_header(header))


def test_base_invocation_entry() -> None:
    """base.rw carries rwtuc's command line as an invocation entry."""
    header = read_header((FIXTURES / "flows/base.rw").read_bytes())
    assert [
        InvocationEntry(
            "rwtuc --stop-on-error --output-path=base.rw flows.txt"
        )
    ] == header.entries
    assert FileFormat.FT_RWIPV6ROUTING == header.format
    assert (1, 88, "little") == (
        header.record_version,
        header.record_size,
        header.byte_order,
    )
    assert "3.19.1" == header.silk_version_text


def test_annotated_entries_in_order() -> None:
    """--note-add annotations are kept in the order they were given."""
    header = read_header((FIXTURES / "flows/annotated.rw").read_bytes())
    assert [
        AnnotationEntry("golden-fixture"),
        AnnotationEntry("second note"),
    ] == header.entries


def test_probename_and_packed_file_entries() -> None:
    """rwallformats output has a probe name and a packed-file entry."""
    path = FIXTURES / "flows/rwipv6routing-v3-none-be.rw"
    header = read_header(path.read_bytes())
    assert "big" == header.byte_order
    assert [
        ProbeNameEntry("DUMMY_PROBE"),
        PackedFileEntry(1710507600000, 3, 0),
    ] == header.entries
    assert PackedFileEntry(1710507600000, 3, 0) == header.packed_file


def test_prefixmap_and_ipset_entries() -> None:
    """Prefix-map names and IPset geometry decode to their fields."""
    pmap = read_header((FIXTURES / "pmap/aws-ipv4.pmap").read_bytes())
    assert PrefixMapEntry("awsv4", 1) == pmap.entries[1]
    ipset = read_header((FIXTURES / "ipset/ipv6-v3.set").read_bytes())
    assert IPSetEntry(16, 8, 24, 6, 96, 5) == ipset.entries[1]


@pytest.mark.parametrize(
    ("unpadded", "record_size", "expected"),
    [(24, 88, 88), (88, 88, 88), (89, 88, 176), (124, 1, 124), (24, 0, 24)],
)
def test_padded_length(unpadded: int, record_size: int, expected: int) -> None:
    """The terminator grows to a multiple of the record size (if > 1)."""
    assert expected == padded_length(unpadded, record_size)


def test_unknown_entry_kept_opaque() -> None:
    """An entry id SiLK 3.19.1 does not parse survives a round trip."""
    header = FileHeader(
        format=FileFormat.FT_RWIPV6ROUTING,
        record_version=1,
        record_size=88,
        entries=[UnknownEntry(6, b"\x00\x01bag"), TombstoneEntry(7)],
    )
    back = read_header(encode_header(header))
    assert header.entries == back.entries


def test_string_entry_longer_than_text() -> None:
    """A declared length beyond the NUL is accepted; text ends at NUL."""
    body = b"hello\0garbage\0"
    entry = struct.pack(">II", 3, 8 + len(body)) + body
    data = _start() + entry + struct.pack(">II", 0, 8)
    assert [AnnotationEntry("hello")] == read_header(data).entries


def test_big_endian_flag_and_compression_byte() -> None:
    """Flag bit 0 and byte 7 round-trip; header integers stay BE."""
    header = FileHeader(
        format=FileFormat.FT_RWGENERIC,
        record_version=5,
        record_size=52,
        byte_order="big",
        compression=Compression.SNAPPY,
    )
    data = encode_header(header)
    assert 1 == data[4]
    assert 3 == data[7]
    assert b"\x00\x34\x00\x05" == data[12:16]
    back = read_header(data)
    assert ("big", Compression.SNAPPY) == (back.byte_order, back.compression)


def test_names() -> None:
    """Format and compression names are spelled as rwfileinfo does."""
    assert "FT_RWIPV6ROUTING(0x0c)" == format_name(0x0C)
    assert "UNKNOWN(0x99)" == format_name(0x99)
    assert Compression.LZO1X == compression_from_name("lzo1x")
    assert Compression.ZLIB == compression_from_name(1)
    with pytest.raises(UnsupportedCompressionError, match="'zip'"):
        compression_from_name("zip")


_text = st.text(
    alphabet=st.characters(blacklist_characters="\0", codec="utf-8"),
    max_size=40,
)
_u32 = st.integers(0, 2**32 - 1)
_entries = st.lists(
    st.one_of(
        st.builds(
            PackedFileEntry,
            st.integers(-(2**63), 2**63 - 1),
            _u32,
            _u32,
        ),
        st.builds(InvocationEntry, _text),
        st.builds(AnnotationEntry, _text),
        st.builds(ProbeNameEntry, _text),
        st.builds(PrefixMapEntry, _text, st.just(1)),
        st.builds(IPSetEntry, _u32, _u32, _u32, _u32, _u32, _u32),
        st.builds(TombstoneEntry, _u32),
        st.builds(UnknownEntry, st.integers(11, 2**32 - 1), st.binary()),
    ),
    max_size=5,
)


@given(
    entries=_entries,
    record_size=st.sampled_from([0, 1, 52, 56, 88, 100]),
    big=st.booleans(),
)
def test_header_round_trip(
    entries: list[object], record_size: int, big: bool
) -> None:
    """Any entry list encodes, pads per SiLK and reads back unchanged."""
    header = FileHeader(
        format=FileFormat.FT_RWIPV6ROUTING,
        record_version=1,
        record_size=record_size,
        byte_order="big" if big else "little",
        entries=list(entries),  # type: ignore[arg-type]
    )
    data = encode_header(header)
    if record_size > 1:
        assert 0 == len(data) % record_size
    back = read_header(data)
    assert header.entries == back.entries
    assert len(data) == back.length
    assert data == encode_header(back)


# ---------------------------------------------------------------------------
# Corrupt input


def _start(version: int = 16, fmt: int = 0x0C) -> bytes:
    return MAGIC + bytes([0, fmt, version, 0]) + struct.pack(">IHH", 0, 88, 1)


def _base() -> bytes:
    return (FIXTURES / "flows/base.rw").read_bytes()


def test_wrong_magic() -> None:
    """A file without DE AD BE EF is refused with SiLK's words."""
    with pytest.raises(BadMagicError, match="not appear to be a SiLK"):
        read_header(b"XXXXXXXXXXXXXXXXXXXXXXXX", "x.rw")


def test_legacy_file_version() -> None:
    """File version 15 (pre-1.0 header) is refused."""
    data = bytearray(_base())
    data[6] = 15
    with pytest.raises(UnsupportedFileVersionError, match="legacy header"):
        read_header(bytes(data))


@pytest.mark.parametrize("cut", [0, 3, 8, 15, 16, 20, 40, 87])
def test_truncated_header(cut: int) -> None:
    """Every cut inside the header raises a named error, never a crash."""
    with pytest.raises(SilkFormatError):
        read_header(_base()[:cut])


@pytest.mark.parametrize("cut", [16, 20, 40, 87])
def test_truncated_after_start_block(cut: int) -> None:
    """A cut after the start block is reported as truncation."""
    with pytest.raises(TruncatedError, match="Unexpected end of file"):
        read_header(io.BytesIO(_base()[:cut]))


def test_entry_length_below_eight() -> None:
    """An entry length < 8 is corrupt (SiLK: error reading an entry)."""
    data = bytearray(_base())
    data[0x14:0x18] = (4).to_bytes(4, "big")
    with pytest.raises(HeaderEntryError, match="header entry"):
        read_header(bytes(data))


def test_entry_running_past_end() -> None:
    """An entry whose length runs past the end of file is truncation."""
    data = bytearray(_base())
    data[0x14:0x18] = (4000).to_bytes(4, "big")
    with pytest.raises(TruncatedError, match="runs past the end"):
        read_header(bytes(data))


def test_packed_file_entry_wrong_length() -> None:
    """SiLK rejects a packed-file entry whose length is not 24."""
    body = bytes(12)
    entry = struct.pack(">II", 1, 8 + len(body)) + body
    data = _start() + entry + struct.pack(">II", 0, 8)
    with pytest.raises(HeaderEntryError, match="expected 24"):
        read_header(data)


def test_unknown_compression_byte() -> None:
    """An unknown compression id is refused like SiLK does."""
    data = bytearray(_base())
    data[7] = 9
    with pytest.raises(UnsupportedCompressionError, match="not recognized 9"):
        read_header(bytes(data))


def test_check_flow_header_accepts_every_known_layout() -> None:
    """Each (format, version) we decode passes with its record size."""
    for (fmt, version), size in FLOW_RECORD_SIZES.items():
        header = FileHeader(fmt, version, size)
        assert size == check_flow_header(header)


def test_not_a_flow_format() -> None:
    """A prefix map is not flow data (rwcut's wording)."""
    header = read_header((FIXTURES / "pmap/aws-ipv4.pmap").read_bytes())
    with pytest.raises(UnsupportedFormatError, match="FT_PREFIXMAP"):
        check_flow_header(header, "aws-ipv4.pmap")


def test_unknown_record_version() -> None:
    """FT_RWIPV6ROUTING v9 is not supported."""
    with pytest.raises(UnsupportedFormatError, match="v9"):
        check_flow_header(FileHeader(0x0C, 9, 88))


def test_record_size_disagrees_with_version() -> None:
    """SiLK aborts on this; we raise RecordSizeError."""
    with pytest.raises(RecordSizeError, match="100 bytes"):
        check_flow_header(FileHeader(0x0C, 3, 88))
