# SPDX-License-Identifier: MIT
"""Block compression of SiLK data sections (spec section 2): fixture
blocks decode to the uncompressed fixture's records, zlib output is
SiLK's byte for byte, framing limits and corrupt blocks raise named
errors."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysilk_ext.silkfmt import compression as comp
from pysilk_ext.silkfmt.compression import (
    BadBlockError,
    block_size_for,
    decompress_data,
    decompress_payload,
    encode_block,
    encode_blocks,
    iter_blocks,
)
from pysilk_ext.silkfmt.header import (
    Compression,
    TruncatedError,
    UnsupportedCompressionError,
    read_header,
)
from tests.conftest import FIXTURES

METHODS = [Compression.ZLIB, Compression.LZO1X, Compression.SNAPPY]
NAMES = {
    Compression.ZLIB: "zlib",
    Compression.LZO1X: "lzo1x",
    Compression.SNAPPY: "snappy",
}
FAMILIES = ["rwipv6routing-v1", "rwgeneric-v5"]


def _split(name: str) -> tuple[Compression, bytes]:
    data = (FIXTURES / "flows" / name).read_bytes()
    header = read_header(data)
    assert header.length is not None
    return Compression(header.compression), data[header.length :]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", ["le", "be"])
@pytest.mark.parametrize("method", METHODS, ids=NAMES.get)
def test_fixture_blocks_decode_to_raw_records(
    family: str, order: str, method: Compression
) -> None:
    """Each compressed fixture holds exactly the uncompressed records."""
    _, raw = _split(f"{family}-none-{order}.rw")
    found, section = _split(f"{family}-{NAMES[method]}-{order}.rw")
    assert method == found
    assert raw == decompress_data(section, method)
    assert raw == decompress_data(io.BytesIO(section), method)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", ["le", "be"])
def test_zlib_output_is_silks(family: str, order: str) -> None:
    """zlib at the default level reproduces SiLK's compress2() blocks."""
    _, raw = _split(f"{family}-none-{order}.rw")
    _, section = _split(f"{family}-zlib-{order}.rw")
    record_size = 88 if family.startswith("rwipv6") else 52
    assert section == encode_blocks(
        Compression.ZLIB, raw, block_size_for(record_size)
    )


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", ["le", "be"])
def test_lzo_output_with_liblzo(family: str, order: str) -> None:
    """With python-lzo (liblzo2), LZO1X blocks are SiLK's byte for byte."""
    if comp.LZO_BACKEND != "python-lzo":
        pytest.skip("python-lzo not installed; lzallright output differs")
    _, raw = _split(f"{family}-none-{order}.rw")
    _, section = _split(f"{family}-lzo1x-{order}.rw")
    record_size = 88 if family.startswith("rwipv6") else 52
    assert section == encode_blocks(
        Compression.LZO1X, raw, block_size_for(record_size)
    )


@pytest.mark.parametrize(
    ("record_size", "expected"), [(88, 65472), (52, 65520), (1, 65536)]
)
def test_writer_block_size(record_size: int, expected: int) -> None:
    """65536 rounded down to whole records (spec 2.2)."""
    assert expected == block_size_for(record_size)


@pytest.mark.parametrize("method", METHODS, ids=NAMES.get)
def test_thousand_records_make_two_blocks(method: Compression) -> None:
    """1000 88-byte records give blocks of U = 65472 and 22528 (A.2)."""
    data = bytes(range(88)) * 1000
    section = encode_blocks(method, data, block_size_for(88))
    sizes = []
    offset = 0
    while offset < len(section):
        clen, ulen = struct.unpack_from(">II", section, offset)
        sizes.append(ulen)
        offset += 8 + clen
    assert [65472, 22528] == sizes
    assert data == decompress_data(section, method)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5000),
    method=st.sampled_from(METHODS),
    block=st.integers(1, 2048),
)
def test_block_round_trip(
    data: bytes, method: Compression, block: int
) -> None:
    """Any data framed in any block size decodes back identically."""
    section = encode_blocks(method, data, block)
    assert data == decompress_data(section, method)
    assert data == b"".join(iter_blocks(io.BytesIO(section), method))


def test_method_none_is_unframed() -> None:
    """Method 0 stores the data as they are."""
    assert b"abc" == encode_blocks(Compression.NONE, b"abc")
    assert b"abc" == decompress_data(b"abc", Compression.NONE)


def test_zero_length_block_ends_data() -> None:
    """A compressed length of 0 ends the data section (spec 2.2)."""
    block = encode_block(Compression.ZLIB, b"x" * 100)
    section = block + struct.pack(">II", 0, 0) + b"ignored trailing bytes"
    assert b"x" * 100 == decompress_data(section, Compression.ZLIB)
    stream = io.BytesIO(section)
    assert b"x" * 100 == decompress_data(stream, Compression.ZLIB)


# ---------------------------------------------------------------------------
# Corrupt blocks


@pytest.mark.parametrize("method", METHODS, ids=NAMES.get)
def test_corrupt_payload(method: Compression) -> None:
    """A damaged payload is a BadBlockError, never garbage or a crash."""
    data = bytes(range(256)) * 40
    block = bytearray(encode_block(method, data))
    for i in range(8, len(block), 7):
        block[i] ^= 0x5A
    with pytest.raises(BadBlockError, match="Error during decompression"):
        decompress_data(bytes(block), method)


@pytest.mark.parametrize("method", METHODS, ids=NAMES.get)
def test_wrong_uncompressed_length(method: Compression) -> None:
    """The payload must decompress to exactly U bytes."""
    block = bytearray(encode_block(method, b"abcdefgh" * 100))
    struct.pack_into(">I", block, 4, 799)
    with pytest.raises(BadBlockError):
        decompress_data(bytes(block), method)


def test_zlib_trailing_garbage_is_not_silent() -> None:
    """A short U hides nothing: decompress_payload checks the length."""
    payload = zlib.compress(b"a" * 50)
    with pytest.raises(BadBlockError):
        decompress_payload(Compression.ZLIB, payload, 49)


@pytest.mark.parametrize(
    ("clen", "ulen"), [(2**20 + 1, 10), (10, 2**20 - 2), (2**32 - 1, 0)]
)
def test_block_over_silk_limits(clen: int, ulen: int) -> None:
    """C > 1 MiB or U + 3 > 1 MiB makes the block unreadable."""
    section = struct.pack(">II", clen, ulen) + b"\0" * 16
    with pytest.raises(BadBlockError, match="too large"):
        decompress_data(section, Compression.ZLIB)


@pytest.mark.parametrize("cut", [3, 8, 20])
def test_truncated_block(cut: int) -> None:
    """A data section cut inside a block prefix or payload is truncated."""
    section = encode_block(Compression.ZLIB, bytes(range(256)) * 4)
    with pytest.raises(TruncatedError):
        decompress_data(section[:cut], Compression.ZLIB)
    with pytest.raises(TruncatedError):
        decompress_data(io.BytesIO(section[:cut]), Compression.ZLIB)


def test_unknown_method() -> None:
    """Method ids beyond 3 are refused."""
    with pytest.raises(UnsupportedCompressionError):
        decompress_data(b"", 7)


def test_block_size_limits_on_write() -> None:
    """The writer refuses empty blocks and blocks SiLK could not read."""
    with pytest.raises(ValueError, match="must be"):
        encode_block(Compression.ZLIB, b"")
    with pytest.raises(ValueError, match="must be"):
        encode_block(Compression.ZLIB, bytes(2**20 - 2))
