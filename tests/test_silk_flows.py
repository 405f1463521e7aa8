# SPDX-License-Identifier: MIT
"""SiLK flow records and flow files (spec section 3, issue 3 items 2, 7).

* every fixture flow file decodes to exactly the text rwcut printed;
* every deterministic fixture is reproduced byte for byte by the writer;
* Hypothesis round trips for each format x compression x byte order;
* the read-only layouts decode records packed independently from the
  spec's tables;
* corrupt input raises named errors; writes are atomic; appends are
  whole records/blocks;
* files we write are read by the real rwcut, rwfileinfo and rwfilter.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysilk_ext.errors import SilkFormatError
from pysilk_ext.silkfmt import compression as comp
from pysilk_ext.silkfmt.compression import BadBlockError
from pysilk_ext.silkfmt.flowfile import (
    FlowReader,
    FlowWriter,
    count_records,
    open_append,
    read_flows,
    write_flows,
)
from pysilk_ext.silkfmt.flowrec import (
    FLOW_DTYPE,
    FlowStats,
    RecordRefusedError,
    decode_records,
    encode_records,
    fit_u16,
    fit_u32,
    normalize_tcp_flags,
)
from pysilk_ext.silkfmt.header import (
    BadMagicError,
    FileFormat,
    PackedFileEntry,
    RecordSizeError,
    TruncatedError,
    UnsupportedFormatError,
)
from pysilk_ext.silkfmt.rwcuttext import ALL_FIELDS, format_rwcut
from tests.conftest import FIXTURES

FLOWS = FIXTURES / "flows"
SITE_CONF = FIXTURES / "site" / "silk.conf"
ROUTING = FileFormat.FT_RWIPV6ROUTING
GENERIC = FileFormat.FT_RWGENERIC
RWIPV6 = FileFormat.FT_RWIPV6
COMPRESSIONS = ["none", "zlib", "lzo1x", "snappy"]
ORDERS = ["little", "big"]


def _site_names() -> tuple[dict[int, str], dict[int, tuple[str, str]]]:
    """Sensor and flowtype names of the fixture silk.conf."""
    try:
        from pysilk_ext.silkfmt.siteconf import load_siteconf
    except ImportError:  # pragma: no cover - the site helper's module
        return _parse_names(SITE_CONF.read_text())
    site = load_siteconf(str(SITE_CONF))
    sensors = {sid: info.name for sid, info in site.sensors.items()}
    flowtypes = {
        fid: (info.class_name, info.type)
        for fid, info in site.flowtypes.items()
    }
    return sensors, flowtypes


def _parse_names(
    text: str,
) -> tuple[dict[int, str], dict[int, tuple[str, str]]]:  # pragma: no cover
    sensors: dict[int, str] = {}
    flowtypes: dict[int, tuple[str, str]] = {}
    klass = None
    for line in text.splitlines():
        words = line.split("#")[0].split()
        if words[:1] == ["sensor"]:
            sensors[int(words[1])] = words[2]
        elif words[:1] == ["class"]:
            klass = words[1]
        elif words[:1] == ["type"] and klass:
            flowtypes[int(words[1])] = (klass, words[2])
    return sensors, flowtypes


SENSORS, FLOWTYPES = _site_names()
RAW_FORM = {
    "fields": ALL_FIELDS,
    "timestamp_format": "epoch",
    "integer_tcp_flags": True,
    "integer_sensors": True,
    "delimited": "|",
}
TEXT_FORMS = {
    "rwcut-all-raw": RAW_FORM,
    "rwcut-default": {},
    "rwcut-all-default": {"fields": ALL_FIELDS},
    "rwcut-all-epoch": {"fields": ALL_FIELDS, "timestamp_format": "epoch"},
}


def _render(rows: np.ndarray, **form: object) -> str:
    return format_rwcut(
        rows,
        sensor_names=SENSORS,
        flowtypes=FLOWTYPES,
        **form,  # type: ignore[arg-type]
    )


FLOW_FILES = sorted(FLOWS.glob("*.rw"))
REPO_FILES = sorted(
    p
    for p in (FIXTURES / "repo").rglob("*")
    if p.is_file() and "outputs" not in p.parts and "queries" not in p.parts
    and (p.suffix in (".incr", "") or p.name[-3:-2] == ".")
)  # fmt: skip


# ---------------------------------------------------------------------------
# Fixtures decode to rwcut's text


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("form", list(TEXT_FORMS))
def test_fixture_decodes_to_rwcut_text(path: Path, form: str) -> None:
    """Decoded records render exactly as SiLK's rwcut printed them."""
    expected = path.with_suffix(f".{form}.txt").read_text()
    _, rows = read_flows(path)
    assert expected == _render(rows, **TEXT_FORMS[form])


@pytest.mark.parametrize(
    "path", REPO_FILES, ids=lambda p: str(p.relative_to(FIXTURES / "repo"))
)
def test_repository_file_decodes_to_rwcut_text(path: Path) -> None:
    """rwflowpack/rwflowappend output decodes to its rwcut listing."""
    rel = path.relative_to(FIXTURES / "repo")
    text = (
        FIXTURES
        / "repo"
        / "outputs"
        / rel.parent
        / (rel.name + ".rwcut-all-epoch.txt")
    )
    if not text.exists():
        pytest.skip(f"no rwcut listing for {rel}")
    _, rows = read_flows(path)
    expected = text.read_text()
    assert expected == _render(
        rows, fields=ALL_FIELDS, timestamp_format="epoch"
    )


def test_repository_listing_found() -> None:
    """The repository test above finds its golden text files."""
    assert len(REPO_FILES) >= 40


def test_v2_application_forced_to_zero() -> None:
    """FT_RWIPV6ROUTING v2 stores application but SiLK reads 0."""
    raw = (FLOWS / "rwipv6routing-v2-none-le.rw").read_bytes()
    assert b"\xbb\x01" == raw[88 + 24 : 88 + 26]  # 443 on disk
    _, rows = read_flows(FLOWS / "rwipv6routing-v2-none-le.rw")
    assert [0] * 10 == rows["application"].tolist()


# ---------------------------------------------------------------------------
# Byte-for-byte reproduction


def _rewrite(path: Path, **extra: object) -> bytes:
    header, rows = read_flows(path)
    out = io.BytesIO()
    with FlowWriter(
        out,
        format=header.format,
        record_version=header.record_version,
        byte_order=header.byte_order,
        compression=header.compression,
        entries=header.entries,
        **extra,  # type: ignore[arg-type]
    ) as writer:
        writer.write(rows)
    return out.getvalue()


DETERMINISTIC = [
    "flows/base.rw",
    "flows/annotated.rw",
    "flows/rwipv6routing-v1-none-le.rw",
    "flows/rwipv6routing-v1-none-be.rw",
    "flows/rwipv6routing-v1-zlib-le.rw",
    "flows/rwipv6routing-v1-zlib-be.rw",
    "flows/rwgeneric-v5-none-le.rw",
    "flows/rwgeneric-v5-none-be.rw",
    "flows/rwgeneric-v5-zlib-le.rw",
    "flows/rwgeneric-v5-zlib-be.rw",
    "flows/rwipv6-v1-none-le.rw",
    "repo/root-pack-interfaces/outweb/2024/03/15/ow-S0_20240315.13",
    "repo/root-pack-interfaces/aws2int/2024/03/15/"
    "aws2int-AWS-VPC1_20240315.14",
    "repo/incremental/ow-S0_20240315.13.incr",
]
LZO_FIXTURES = [
    "flows/rwipv6routing-v1-lzo1x-le.rw",
    "flows/rwipv6routing-v1-lzo1x-be.rw",
    "flows/rwgeneric-v5-lzo1x-le.rw",
    "flows/rwgeneric-v5-lzo1x-be.rw",
]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_writer_reproduces_silk_file(name: str) -> None:
    """Re-writing the decoded records gives SiLK's file byte for byte."""
    path = FIXTURES / name
    assert path.read_bytes() == _rewrite(path)


@pytest.mark.parametrize("name", LZO_FIXTURES)
def test_writer_reproduces_lzo_file(name: str) -> None:
    """With liblzo2 (python-lzo) the LZO1X files are SiLK's too."""
    if comp.LZO_BACKEND != "python-lzo":
        pytest.skip("python-lzo not installed; lzallright output differs")
    path = FIXTURES / name
    assert path.read_bytes() == _rewrite(path)


@pytest.mark.parametrize(
    "name",
    [
        *LZO_FIXTURES,
        "flows/rwipv6routing-v1-snappy-le.rw",
        "flows/rwgeneric-v5-snappy-be.rw",
    ],
)
def test_rewritten_compressed_file_decodes_identically(name: str) -> None:
    """Whatever the codec library, the re-written records are the same."""
    path = FIXTURES / name
    header, rows = read_flows(path)
    again_header, again = read_flows(_rewrite(path))
    assert header.entries == again_header.entries
    assert rows.tobytes() == again.tobytes()


def test_base_written_from_rows_with_invocation() -> None:
    """base.rw = its records + rwtuc's invocation entry."""
    _, rows = read_flows(FLOWS / "base.rw")
    out = io.BytesIO()
    write_flows(
        out,
        rows,
        invocation="rwtuc --stop-on-error --output-path=base.rw flows.txt",
    )
    assert (FLOWS / "base.rw").read_bytes() == out.getvalue()


def test_annotated_written_from_notes() -> None:
    """annotated.rw = its records + two --note-add annotations."""
    _, rows = read_flows(FLOWS / "base.rw")
    out = io.BytesIO()
    write_flows(out, rows, notes=["golden-fixture", "second note"])
    assert (FLOWS / "annotated.rw").read_bytes() == out.getvalue()


def test_packed_repository_file_from_rows() -> None:
    """The rwflowpack hourly file = packed-file entry + its one record."""
    path = FIXTURES / (
        "repo/root-pack-interfaces/outweb/2024/03/15/ow-S0_20240315.13"
    )
    _, rows = read_flows(FLOWS / "base.rw")
    out = io.BytesIO()
    write_flows(out, rows[:1], entries=[PackedFileEntry(1710507600000, 3, 0)])
    assert path.read_bytes() == out.getvalue()


@pytest.mark.parametrize("order", ["le", "be"])
def test_ipv4_output_policy_reproduces_rwcat(order: str) -> None:
    """asv4 on FT_RWGENERIC does what rwcat --ipv4-output did."""
    _, rows = read_flows(FLOWS / "base.rw")
    out = io.BytesIO()
    stats = write_flows(
        out,
        rows,
        format=GENERIC,
        byte_order="little" if order == "le" else "big",
        ipv6_policy="asv4",
    )
    expected = (FLOWS / f"rwgeneric-v5-none-{order}.rw").read_bytes()
    assert expected == out.getvalue()
    assert (1, 3) == (stats.ipv6_converted, stats.ipv6_dropped)


def test_flowappend_twice_decodes_as_two_blocks() -> None:
    """Appending one record to a one-record lzo1x file adds one block."""
    path = FIXTURES / (
        "repo/root-flowappend-twice/outweb/2024/03/15/ow-S0_20240315.13"
    )
    header, rows = read_flows(path)
    buf = io.BytesIO()
    with FlowWriter(
        buf, compression="lzo1x", entries=header.entries
    ) as writer:
        writer.write(rows[:1])
    with open_append(buf) as app:
        app.write(rows[1:])
    data = buf.getvalue()
    if comp.LZO_BACKEND == "python-lzo":
        assert path.read_bytes() == data
    assert rows.tobytes() == read_flows(data)[1].tobytes()
    assert 2 == len(list(comp.iter_blocks(data[88:], 2)))


# ---------------------------------------------------------------------------
# Round trips


def _canonical(rows: np.ndarray, *, ipv4_only: bool) -> np.ndarray:
    """Rows as a writer following the spec stores them (3.2, 3.7)."""
    rows = rows.copy()
    if ipv4_only:
        rows["tcp_state"] &= 0x7F
    normalize_tcp_flags(rows)
    is_v6 = (rows["tcp_state"] & 0x80) != 0
    icmp = (rows["proto"] == 1) | (is_v6 & (rows["proto"] == 58))
    rows["sport"][icmp] = 0  # ICMP type/code live in dPort
    return rows


@st.composite
def flow_rows(draw: st.DrawFn, ipv4_only: bool = False) -> np.ndarray:
    """Random FLOW_DTYPE rows, IPv4 and IPv6, with interesting values."""
    n = draw(st.integers(0, 40))
    raw = draw(st.binary(min_size=88 * n, max_size=88 * n))
    rows = np.frombuffer(raw, FLOW_DTYPE).copy()
    if n:
        protos = draw(
            st.lists(
                st.sampled_from([1, 6, 17, 58, 50, 255]),
                min_size=n,
                max_size=n,
            )
        )
        rows["proto"] = protos
    return _canonical(rows, ipv4_only=ipv4_only)


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("order", ORDERS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rows=flow_rows())
def test_round_trip_ipv6routing(
    rows: np.ndarray, compression: str, order: str
) -> None:
    """FT_RWIPV6ROUTING v1 stores every field of IPv4 and IPv6 rows."""
    out = io.BytesIO()
    write_flows(out, rows, compression=compression, byte_order=order)
    header, back = read_flows(out.getvalue())
    assert (ROUTING, 1, order) == (
        header.format,
        header.record_version,
        header.byte_order,
    )
    assert rows.tobytes() == back.tobytes()


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("order", ORDERS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rows=flow_rows(ipv4_only=True))
def test_round_trip_generic(
    rows: np.ndarray, compression: str, order: str
) -> None:
    """FT_RWGENERIC v5 stores every field of IPv4 rows."""
    out = io.BytesIO()
    write_flows(
        out, rows, format=GENERIC, compression=compression, byte_order=order
    )
    header, back = read_flows(out.getvalue())
    assert (GENERIC, 5, 52) == (
        header.format,
        header.record_version,
        header.record_size,
    )
    assert rows.tobytes() == back.tobytes()


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("order", ORDERS)
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rows=flow_rows())
def test_round_trip_rwipv6(
    rows: np.ndarray, compression: str, order: str
) -> None:
    """FT_RWIPV6 v1 keeps all but nhIP, input and output (spec 3.5)."""
    out = io.BytesIO()
    write_flows(
        out, rows, format=RWIPV6, compression=compression, byte_order=order
    )
    _, back = read_flows(out.getvalue())
    expected = rows.copy()
    expected["input"] = 0
    expected["output"] = 0
    expected["nhip"] = 0
    v4 = (expected["tcp_state"] & 0x80) == 0
    expected["nhip"][v4, 10:12] = 0xFF
    assert expected.tobytes() == back.tobytes()


def test_round_trip_many_blocks() -> None:
    """100k rows span many blocks; batches of any size return them."""
    rng = np.random.default_rng(7)
    rows = np.frombuffer(rng.bytes(88 * 100_000), FLOW_DTYPE).copy()
    rows = _canonical(rows, ipv4_only=False)
    for compression in COMPRESSIONS:
        out = io.BytesIO()
        write_flows(out, rows, compression=compression, byte_order="big")
        with FlowReader(out.getvalue()) as reader:
            batches = list(reader.iter_batches(9999))
        assert [9999] * 10 + [10] == [len(b) for b in batches]
        assert rows.tobytes() == np.concatenate(batches).tobytes()


# ---------------------------------------------------------------------------
# Read-only layouts, packed independently from the spec's tables


def _mapped(addr: bytes) -> bytes:
    return bytes(10) + b"\xff\xff" + addr[12:]


def _pack_v3(row: np.void, bo: str, pkts: int, byts: int) -> bytes:
    """FT_RWIPV6ROUTING v3 record (spec 3.3), 100 bytes."""
    e = "<" if bo == "little" else ">"
    head = struct.pack(
        e + "qIHHBBHBBBBHH",
        int(row["stime"]), int(row["elapsed"]), int(row["sport"]),
        int(row["dport"]), int(row["proto"]), int(row["flowtype"]),
        int(row["sensor"]), int(row["flags"]), int(row["init_flags"]),
        int(row["rest_flags"]), int(row["tcp_state"]),
        int(row["application"]), int(row["memo"]),
    )  # fmt: skip
    return (
        head
        + struct.pack(e + "IQQ", int(row["input"]) + 70000, pkts, byts)
        + bytes(row["sip"])
        + bytes(row["dip"])
        + bytes(row["nhip"])
        + struct.pack(e + "I", int(row["output"]))
    )


def test_v3_clamps_wide_fields() -> None:
    """v3's 32/64-bit counters are clamped to the logical widths."""
    _, rows = read_flows(FLOWS / "base.rw")
    row = rows[0]
    data = _pack_v3(row, "big", 2**33, 123) + _pack_v3(row, "big", 5, 2**40)
    stats = FlowStats()
    back = decode_records(data, ROUTING, 3, "big", stats=stats)
    assert [0xFFFFFFFF, 5] == back["packets"].tolist()
    assert [123, 0xFFFFFFFF] == back["bytes"].tolist()
    assert [65535, 65535] == back["input"].tolist()
    assert 4 == stats.clamped


def _pack_generic(row: np.void, version: int, bo: str) -> bytes:
    """FT_RWGENERIC v0-v4 record (spec 3.4 table)."""
    e = "<" if bo == "little" else ">"
    sip, dip, nhip = (
        int.from_bytes(bytes(row[f])[12:], "big")
        for f in ("sip", "dip", "nhip")
    )
    stime, elapsed = int(row["stime"]), int(row["elapsed"])
    if version in (0, 1):
        rec = struct.pack(
            e + "IIHHBBBBIIIIIB",
            sip, dip, int(row["sport"]), int(row["dport"]),
            int(row["proto"]), int(row["flags"]), int(row["input"]) & 0xFF,
            int(row["output"]) & 0xFF, nhip, stime // 1000,
            int(row["packets"]), int(row["bytes"]), elapsed // 1000,
            int(row["sensor"]) & 0xFF,
        )  # fmt: skip
        return rec + bytes(3) if version == 0 else rec
    rec = struct.pack(
        e + "IIHHIHHIIIIBBHBBBBI",
        sip, dip, int(row["sport"]), int(row["dport"]), nhip,
        int(row["input"]), int(row["output"]), stime // 1000,
        elapsed // 1000, int(row["packets"]), int(row["bytes"]),
        int(row["proto"]), int(row["flowtype"]), int(row["sensor"]),
        int(row["flags"]), int(row["init_flags"]), int(row["rest_flags"]),
        int(row["tcp_state"]), 0,
    )  # fmt: skip
    if version == 2:
        return rec
    return rec + struct.pack(
        e + "HHHxx", stime % 1000, elapsed % 1000, int(row["application"])
    )


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("order", ORDERS)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rows=flow_rows(ipv4_only=True))
def test_older_generic_versions(
    rows: np.ndarray, version: int, order: str
) -> None:
    """FT_RWGENERIC v0-v4 decode to the fields their layout holds."""
    rows["stime"] %= 2**32 * 1000
    rows["elapsed"] %= 2**32 // 1000 * 1000
    data = b"".join(_pack_generic(r, version, order) for r in rows)
    back = decode_records(data, GENERIC, version, order)
    expected = rows.copy()
    if version < 3:
        expected["stime"] -= expected["stime"] % 1000
        expected["elapsed"] -= expected["elapsed"] % 1000
        expected["application"] = 0
    if version < 2:
        expected["input"] &= 0xFF
        expected["output"] &= 0xFF
        expected["sensor"] &= 0xFF
        expected["flowtype"] = 255
        for name in ("init_flags", "rest_flags", "tcp_state"):
            expected[name] = 0
    expected["memo"] = 0
    assert expected.tobytes() == back.tobytes()


def test_generic_v3_fixture_header_and_count() -> None:
    """The rwallformats FT_RWGENERIC v3 fixture holds 6 IPv4 records."""
    header, rows = read_flows(FLOWS / "rwgeneric-v3-none-le.rw")
    assert (GENERIC, 3, 56) == (
        header.format,
        header.record_version,
        header.record_size,
    )
    assert 6 == len(rows)


# ---------------------------------------------------------------------------
# Read-side adjustments and policies


def _one_row(**fields: object) -> np.ndarray:
    _, rows = read_flows(FLOWS / "base.rw")
    row = rows[:1].copy()
    for name, value in fields.items():
        row[name] = value
    return row


def test_icmp_sport_repair() -> None:
    """An ICMP type/code found in sPort moves to dPort (spec 3.7 #2)."""
    row = _one_row(proto=1, sport=0x0301, dport=0, tcp_state=0)
    data = bytes(encode_records(row, ROUTING, 1, "little"))
    stats = FlowStats()
    back = decode_records(data, ROUTING, 1, "little", stats=stats)
    assert (0, 0x0301, 1) == (
        int(back["sport"][0]),
        int(back["dport"][0]),
        stats.icmp_repaired,
    )
    kept = decode_records(data, ROUTING, 1, "little", icmp_repair=False)
    assert (0x0301, 0) == (int(kept["sport"][0]), int(kept["dport"][0]))


def test_icmpv6_repair_only_on_ipv6_records() -> None:
    """Protocol 58 counts as ICMP only on an IPv6 record."""
    v4 = _one_row(proto=58, sport=0x8000, dport=0, tcp_state=0)
    v6 = _one_row(proto=58, sport=0x8000, dport=0, tcp_state=0x80)
    data = bytes(encode_records(np.concatenate([v4, v6]), ROUTING, 1, "big"))
    back = decode_records(data, ROUTING, 1, "big")
    assert [0x8000, 0] == back["sport"].tolist()


def test_expanded_fixup_on_read() -> None:
    """A stale EXPANDED bit on a non-TCP record is cleared on read."""
    row = _one_row(proto=17, init_flags=2, rest_flags=0x18, tcp_state=0x01)
    data = bytes(encode_records(row, ROUTING, 1, "little"))
    stats = FlowStats()
    back = decode_records(data, ROUTING, 1, "little", stats=stats)
    assert (0, 0, 0, 1) == (
        int(back["tcp_state"][0]),
        int(back["init_flags"][0]),
        int(back["rest_flags"][0]),
        stats.expanded_cleared,
    )


def test_ipv4_record_reads_last_four_address_bytes() -> None:
    """SiLK ignores the first 12 bytes of an IPv4 record's addresses."""
    data = bytearray((FLOWS / "base.rw").read_bytes()[88:176])
    data[40:50] = b"junkjunkju"
    back = decode_records(bytes(data), ROUTING, 1, "little")
    assert bytes(10) + b"\xff\xff" + bytes([10, 0, 1, 15]) == bytes(
        back["sip"][0]
    )


@pytest.mark.parametrize(
    ("policy", "count", "stat", "value"),
    [
        ("mix", 10, "records_out", 10),
        ("ignore", 6, "ipv6_dropped", 4),
        ("asv4", 7, "ipv6_converted", 1),
        ("only", 4, "ipv4_dropped", 6),
        ("force", 10, "ipv4_converted", 6),
    ],
)
def test_ipv6_policy_on_read(
    policy: str, count: int, stat: str, value: int
) -> None:
    """--ipv6-policy semantics on the 10 fixture flows (4 are IPv6)."""
    with FlowReader(FLOWS / "base.rw", ipv6_policy=policy) as reader:
        rows = reader.read_all()
    assert count == len(rows)
    assert value == getattr(reader.stats, stat)


def test_generic_refuses_ipv6_by_default() -> None:
    """A plain write of an IPv6 record to FT_RWGENERIC fails (SiLK)."""
    _, rows = read_flows(FLOWS / "base.rw")
    out = io.BytesIO()
    writer = FlowWriter(out, format=GENERIC)
    with pytest.raises(RecordRefusedError, match="unsupported IPv6") as info:
        writer.write(rows)
    assert (3, 3) == (info.value.index, info.value.encoded)
    writer.close()
    assert 3 == len(read_flows(out.getvalue())[1])


def test_normalize_tcp_flags_rwtuc_rule() -> None:
    """flags := init|rest with EXPANDED for TCP; cleared otherwise."""
    rows = np.concatenate(
        [
            _one_row(proto=6, flags=0, init_flags=2, rest_flags=0x11),
            _one_row(proto=6, flags=0x12, init_flags=0, rest_flags=0),
            _one_row(proto=17, flags=0, init_flags=2, rest_flags=1),
        ]
    )
    rows["tcp_state"] = [0x00, 0x07, 0x01]
    assert 2 == normalize_tcp_flags(rows)
    assert [0x13, 0x12, 0] == rows["flags"].tolist()
    assert [0x01, 0x00, 0x00] == rows["tcp_state"].tolist()
    assert [2, 0, 0] == rows["init_flags"].tolist()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("clamp", [5, 0xFFFFFFFF, 0xFFFFFFFF]), ("reject", None)],
)
def test_fit_u32_never_wraps(policy: str, expected: list[int] | None) -> None:
    """Counters above 2^32-1 are clamped or flagged, never wrapped."""
    narrowed, too_large = fit_u32([5, 2**32, 2**40], policy)
    assert [False, True, True] == too_large.tolist()
    assert [5, 0xFFFFFFFF, 0xFFFFFFFF] == narrowed.tolist()
    if expected is not None:
        assert expected == narrowed.tolist()


def test_fit_u16_and_bad_values() -> None:
    """Interfaces clamp to 65535; negative or float input is refused."""
    narrowed, too_large = fit_u16([3, 70000])
    assert [3, 65535] == narrowed.tolist()
    assert [False, True] == too_large.tolist()
    with pytest.raises(ValueError, match="non-negative integers"):
        fit_u32([-1])
    with pytest.raises(ValueError, match="non-negative integers"):
        fit_u32(np.array([1.5]))
    with pytest.raises(ValueError, match="overflow policy 'wrap'"):
        fit_u32([1], "wrap")


def test_fit_u32_error_policy() -> None:
    """The error policy names the field and value like rwtuc."""
    with pytest.raises(ValueError, match="Invalid packets '4294967296'"):
        fit_u32([1, 2**32], "error", field="packets")
    assert [7] == fit_u32([7], "error")[0].tolist()


# ---------------------------------------------------------------------------
# Corrupt input


def test_partial_trailing_record() -> None:
    """A file cut inside a record is an error naming the short read."""
    data = (FLOWS / "base.rw").read_bytes()[:900]
    with pytest.raises(TruncatedError, match=r"\(20 of 88 bytes\)"):
        read_flows(data, path="truncrec.rw")


@pytest.mark.parametrize("cut", [100, 300, 497])
def test_truncated_compressed_file(tmp_path: Path, cut: int) -> None:
    """A compressed file cut inside a block is truncation, not EOF; the
    message names the file and how much of the block arrived (the block
    starts after the 88-byte header and its 8-byte length prefix)."""
    path = tmp_path / "cut.rw"
    path.write_bytes(
        (FLOWS / "rwipv6routing-v1-zlib-le.rw").read_bytes()[:cut]
    )
    expected = (
        f"Error reading iobuffer for '{path}': Data ended inside the "
        f"compressed block at data offset 0 ({cut - 96} of 402 bytes)"
    )
    with pytest.raises(TruncatedError) as info:
        read_flows(path)
    assert expected == str(info.value)


def test_bad_compressed_block(tmp_path: Path) -> None:
    """A damaged zlib block raises BadBlockError."""
    data = bytearray((FLOWS / "rwipv6routing-v1-zlib-le.rw").read_bytes())
    data[-20] ^= 0xFF
    path = tmp_path / "bad.rw"
    path.write_bytes(bytes(data))
    # the codec's own words follow (they differ between zlib libraries)
    expected = (
        f"Error reading iobuffer for '{path}': Error during decompression"
    )
    with pytest.raises(BadBlockError) as info:
        read_flows(path)
    assert str(info.value).startswith(expected)


def test_wrong_magic_file(tmp_path: Path) -> None:
    """A file that is not SiLK's is refused on open, by name."""
    path = tmp_path / "text.rw"
    path.write_bytes(b"not a silk file at all")
    with pytest.raises(BadMagicError) as info:
        FlowReader(path)
    expected = f"File does not appear to be a SiLK data file '{path}'"
    assert expected == str(info.value)


def test_prefix_map_is_not_a_flow_file() -> None:
    """A pmap given to the flow reader is refused."""
    with pytest.raises(UnsupportedFormatError, match="FT_PREFIXMAP"):
        FlowReader(FIXTURES / "pmap" / "aws-ipv4.pmap")


def test_unknown_version_and_record_size_mismatch(tmp_path: Path) -> None:
    """Unknown record version / size that disagrees: named errors."""
    base = bytearray((FLOWS / "base.rw").read_bytes())
    base[15] = 9
    path = tmp_path / "v9.rw"
    path.write_bytes(bytes(base))
    with pytest.raises(UnsupportedFormatError) as info:
        FlowReader(path)
    assert (
        "This release does not support FT_RWIPV6ROUTING(0x0c) v9 records "
        f"in the v16 file '{path}'"
    ) == str(info.value)
    base[15] = 3  # v3 records are 100 bytes, header says 88
    path = tmp_path / "v3.rw"
    path.write_bytes(bytes(base))
    with pytest.raises(RecordSizeError) as size_info:
        FlowReader(path)
    assert (
        f"Record size 88 in the header of '{path}' disagrees with "
        "FT_RWIPV6ROUTING(0x0c) v3, whose records are 100 bytes"
    ) == str(size_info.value)


def test_header_entry_past_end_in_flow_file(tmp_path: Path) -> None:
    """An entry running past the end of the file is truncation."""
    data = bytearray((FLOWS / "base.rw").read_bytes())
    data[0x14:0x18] = (4000).to_bytes(4, "big")
    path = tmp_path / "entry.rw"
    path.write_bytes(bytes(data))
    with pytest.raises(TruncatedError) as info:
        FlowReader(path)
    assert (
        f"Error processing headers on file '{path}': Unexpected end of "
        "file while reading header (entry 2 at offset 16 runs past the end)"
    ) == str(info.value)


def test_missing_file() -> None:
    """A missing path is reported like SiLK ('Cannot open ...')."""
    with pytest.raises(SilkFormatError, match="Cannot open"):
        FlowReader("/nonexistent/x.rw")


class _Pipe(io.RawIOBase):
    """A non-seekable stream (like stdin) over some bytes."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("kind", ["path", "bytes", "file", "pipe"])
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_source_kind_reads_the_same(
    tmp_path: Path, kind: str, compression: str
) -> None:
    """Paths (mapped), bytes, files and pipes give the same records and
    the same truncation error."""
    rng = np.random.default_rng(3)
    rows = _canonical(
        np.frombuffer(rng.bytes(88 * 2000), FLOW_DTYPE).copy(),
        ipv4_only=False,
    )
    out = io.BytesIO()
    write_flows(out, rows, compression=compression)
    data = out.getvalue()
    path = tmp_path / "f.rw"
    sources = {
        "path": lambda d: (path.write_bytes(d), path)[1],
        "bytes": lambda d: d,
        "file": io.BytesIO,
        "pipe": _Pipe,
    }
    with FlowReader(sources[kind](data)) as reader:
        batches = list(reader.iter_batches(777))
    assert rows.tobytes() == np.concatenate(batches).tobytes()
    with pytest.raises(TruncatedError):
        read_flows(sources[kind](data[:-5]))


def test_whole_file_gzip(tmp_path: Path) -> None:
    """A gzip-compressed flow file reads like the original (spec 2.3)."""
    raw = (FLOWS / "rwipv6routing-v1-none-be.rw").read_bytes()
    path = tmp_path / "x.rw.gz"
    path.write_bytes(gzip.compress(raw))
    _, rows = read_flows(path)
    assert read_flows(raw)[1].tobytes() == rows.tobytes()
    assert 10 == count_records(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    """A cut gzip layer is a named truncation error."""
    raw = (FLOWS / "rwipv6routing-v1-none-be.rw").read_bytes()
    packed = gzip.compress(raw)
    path = tmp_path / "cut.rw.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(TruncatedError) as info:
        read_flows(path)
    expected = f"Unexpected end of file in the gzip layer of '{path}'"
    assert expected == str(info.value)


# ---------------------------------------------------------------------------
# Writer behaviour: atomic, bounded, counted


def test_write_to_path_is_atomic(tmp_path: Path) -> None:
    """An exception inside the with-block leaves the old file in place."""
    target = tmp_path / "out.rw"
    target.write_bytes(b"old")
    _, rows = read_flows(FLOWS / "base.rw")

    def interrupted_write() -> None:
        with FlowWriter(target) as writer:
            writer.write(rows)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted_write()
    assert b"old" == target.read_bytes()
    assert ["out.rw"] == [p.name for p in tmp_path.iterdir()]


_SLOW_WRITER = """
import sys, time
import numpy as np
from pysilk_ext.silkfmt.flowfile import FlowWriter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
rows = np.zeros(10000, FLOW_DTYPE)
with FlowWriter(sys.argv[1], compression="zlib") as writer:
    while True:
        writer.write(rows)
        print("wrote", flush=True)
        time.sleep(0.01)
"""


def test_kill_9_leaves_old_file(tmp_path: Path) -> None:
    """A writer killed with SIGKILL never leaves a torn file in place."""
    target = tmp_path / "out.rw"
    target.write_bytes(b"old")
    with subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(target)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            for _ in range(5):
                assert "wrote" == proc.stdout.readline().strip()
        finally:
            proc.kill()
            proc.wait()
    assert b"old" == target.read_bytes()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out.rw"]
    assert all(name.startswith(".out.rw.") for name in leftovers)


def test_write_to_path_replaces_and_respects_umask(tmp_path: Path) -> None:
    """close() renames into place with mode 0666 & ~umask."""
    target = tmp_path / "out.rw"
    _, rows = read_flows(FLOWS / "base.rw")
    old = os.umask(0o027)
    try:
        write_flows(target, rows, compression="snappy")
    finally:
        os.umask(old)
    assert 0o640 == target.stat().st_mode & 0o777
    assert rows.tobytes() == read_flows(target)[1].tobytes()
    assert ["out.rw"] == [p.name for p in tmp_path.iterdir()]


def test_writer_buffers_at_most_one_block() -> None:
    """Memory stays bounded: pending bytes < one block after writes."""
    rows = np.zeros(5000, FLOW_DTYPE)
    out = io.BytesIO()
    writer = FlowWriter(out, compression="zlib")
    for _ in range(20):
        writer.write(rows)
        assert len(writer._sink.pending) < comp.block_size_for(88)
    writer.close()
    assert 100_000 == count_records(io.BytesIO(out.getvalue()))


def test_empty_file() -> None:
    """A writer with no records makes a valid header-only file."""
    out = io.BytesIO()
    write_flows(out, np.empty(0, FLOW_DTYPE), compression="lzo1x")
    header, rows = read_flows(out.getvalue())
    assert (88, 0) == (header.length, len(rows))


# ---------------------------------------------------------------------------
# Appender


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_append_adds_records(tmp_path: Path, compression: str) -> None:
    """Appends use the file's own encoding and keep earlier records."""
    _, rows = read_flows(FLOWS / "base.rw")
    path = tmp_path / "hour.rw"
    write_flows(
        path,
        rows[:4],
        compression=compression,
        byte_order="big",
        entries=[PackedFileEntry(1710507600000, 3, 0)],
    )
    with open_append(path) as app:
        assert 6 == app.write(rows[4:])
    header, back = read_flows(path)
    assert rows.tobytes() == back.tobytes()
    assert "big" == header.byte_order
    assert 10 == count_records(path)


def test_append_abort_truncates_back(tmp_path: Path) -> None:
    """An exception while appending restores the original length."""
    _, rows = read_flows(FLOWS / "base.rw")
    path = tmp_path / "hour.rw"
    write_flows(path, rows[:2], compression="zlib")
    before = path.read_bytes()

    def interrupted_append() -> None:
        with open(path, "r+b") as fp, open_append(fp, path=str(path)) as app:
            app.write(np.concatenate([rows] * 2000))
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        interrupted_append()
    assert before == path.read_bytes()


@pytest.mark.parametrize("compression", ["none", "snappy"])
def test_append_refuses_torn_file(tmp_path: Path, compression: str) -> None:
    """A torn tail (killed writer) is detected; truncate_torn repairs."""
    _, rows = read_flows(FLOWS / "base.rw")
    path = tmp_path / "hour.rw"
    write_flows(path, rows, compression=compression)
    whole = path.read_bytes()
    path.write_bytes(whole + b"\x00\x00\x01")
    with pytest.raises(TruncatedError, match="stray bytes"):
        open_append(path)
    with open_append(path, truncate_torn=True) as app:
        assert 3 == app.truncated_bytes
        app.write(rows[:1])
    assert 11 == len(read_flows(path)[1])


def test_append_to_read_only_layout(tmp_path: Path) -> None:
    """Layouts we only read cannot be appended to."""
    path = tmp_path / "v3.rw"
    shutil.copy(FLOWS / "rwipv6routing-v3-none-le.rw", path)
    with pytest.raises(UnsupportedFormatError, match="read-only"):
        open_append(path)


# ---------------------------------------------------------------------------
# Real SiLK reads our files


def _run(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(
        args, env=env, check=True, capture_output=True, text=True
    ).stdout


def _silk_env(silk: dict[str, str]) -> dict[str, str]:
    env = dict(silk)
    env["SILK_CONFIG_FILE"] = str(SITE_CONF)
    return env


RWCUT_RAW = [
    "rwcut",
    "--fields=" + ",".join(ALL_FIELDS),
    "--timestamp-format=epoch",
    "--integer-tcp-flags",
    "--integer-sensors",
    "--delimited",
]


@pytest.mark.silk
@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("fmt", ["routing", "generic"])
def test_rwcut_reads_our_file(
    tmp_path: Path,
    silk: dict[str, str],
    compression: str,
    order: str,
    fmt: str,
) -> None:
    """rwcut prints the fixture's text for our file of the same flows."""
    _, rows = read_flows(FLOWS / "base.rw")
    path = tmp_path / "ours.rw"
    kwargs: dict[str, object] = {}
    expected_name = "base.rwcut-all-raw.txt"
    if fmt == "generic":
        kwargs = {"format": GENERIC, "ipv6_policy": "asv4"}
        expected_name = "rwgeneric-v5-none-le.rwcut-all-raw.txt"
    write_flows(
        path,
        rows,
        compression=compression,
        byte_order=order,
        notes=["written by pysilk_ext"],
        invocation="test_silk_flows",
        **kwargs,  # type: ignore[arg-type]
    )
    env = _silk_env(silk)
    assert (FLOWS / expected_name).read_text() == _run(
        [*RWCUT_RAW, str(path)], env
    )


@pytest.mark.silk
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_rwfileinfo_reads_our_header(
    tmp_path: Path, silk: dict[str, str], compression: str
) -> None:
    """rwfileinfo reports our format, entries and record count."""
    _, rows = read_flows(FLOWS / "base.rw")
    path = tmp_path / "ours.rw"
    write_flows(
        path,
        np.concatenate([rows] * 300),
        compression=compression,
        byte_order="big",
        entries=[PackedFileEntry(1710507600000, 3, 0)],
        invocation="rwvpc2silk --output-path=ours.rw",
        notes=["first note", "second note"],
    )
    text = _run(["rwfileinfo", str(path)], _silk_env(silk))
    lines = [line.rstrip() for line in text.splitlines()]
    method = COMPRESSIONS.index(compression)
    for expected in (
        "  format(id)          FT_RWIPV6ROUTING(0x0c)",
        "  byte-order          BigEndian",
        f"  compression(id)     {compression}({method})",
        "  header-length       176",
        "  record-length       88",
        "  count-records       3000",
        "  packed-file-info    2024/03/15T13:00:00Z ow S0",
        "                   1  first note",
        "                   2  second note",
        "                   1  rwvpc2silk --output-path=ours.rw",
    ):
        assert expected in lines


@pytest.mark.silk
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(rows=flow_rows(), compression=st.sampled_from(COMPRESSIONS))
def test_rwcut_agrees_on_random_rows(
    tmp_path: Path, silk: dict[str, str], rows: np.ndarray, compression: str
) -> None:
    """rwcut's text for random rows equals our renderer's text."""
    rows["stime"] %= 2**42  # 1970..2109: times rwcut prints as dates
    path = tmp_path / "random.rw"
    write_flows(path, rows, compression=compression)
    expected = _render(rows, **RAW_FORM)
    assert expected == _run([*RWCUT_RAW, str(path)], _silk_env(silk))


@pytest.mark.silk
def test_rwfilter_selects_from_our_file(
    tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwfilter --proto=6 over our multi-block file keeps the TCP rows."""
    rng = np.random.default_rng(11)
    rows = np.frombuffer(rng.bytes(88 * 3000), FLOW_DTYPE).copy()
    rows["proto"] = rng.choice([6, 17, 1], 3000)
    rows["stime"] %= 2**42  # 1970..2109
    rows = _canonical(rows, ipv4_only=False)
    path = tmp_path / "many.rw"
    write_flows(path, rows, compression="lzo1x", byte_order="big")
    env = _silk_env(silk)
    filtered = tmp_path / "tcp.rw"
    _run(
        ["rwfilter", "--proto=6", f"--pass={filtered}", str(path)],
        env,
    )
    expected = _render(rows[rows["proto"] == 6], **RAW_FORM)
    assert expected == _run([*RWCUT_RAW, str(filtered)], env)
    # and we read rwfilter's output back
    _, back = read_flows(filtered)
    assert rows[rows["proto"] == 6].tobytes() == back.tobytes()
