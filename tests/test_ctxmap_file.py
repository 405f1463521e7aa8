# SPDX-License-Identifier: MIT
"""The .vpcmap file: format, validation, atomic writes, the C entry points."""

from __future__ import annotations

import ipaddress
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysilk_ext import _binding
from pysilk_ext.ctxmap import ContextMap, ContextMapFileError, Relation
from pysilk_ext.ctxmap.model import FIELD_INDEX, RELATION_NAMES, parse_address
from pysilk_ext.errors import ContextMapError
from tests.ctxmap_support import DATA, batch_of, build, parse_file, rec


@pytest.fixture(scope="module")
def sample(shared: Path) -> ContextMap:
    """Seed logs + inventory + real ip-ranges: every section non-empty."""
    return build(
        parse_file(shared / "data" / "seed-sample-v5.log"),
        batch_of(
            [rec(srcaddr="2600:1f18::5", dstaddr="2606:4700::1", type="IPv6")]
        ),
        eni=DATA / "eni-describe.json",
        eni_at=1690329700,
        ranges=shared / "data" / "ip-ranges.json",
    )


def test_header_layout(sample: ContextMap) -> None:
    """Magic, version 2, header size 64, file size, directory CRC,
    context width 6."""
    data = sample.data
    magic, version, hsize, fsize, nsec, crc, dir_off, width = struct.unpack(
        "<8sIIQIIQI", data[:44]
    )
    assert (b"\x89VPCMAP\n", 2, 64, len(data), 6) == (
        magic,
        version,
        hsize,
        fsize,
        width,
    )
    assert crc == zlib.crc32(data[dir_off : dir_off + 32 * nsec])


def test_write_then_open_mmap(tmp_path: Path, sample: ContextMap) -> None:
    """A written map opens (memory-mapped) to the same bytes and answers
    the same lookups."""
    path = tmp_path / "cloud.vpcmap"
    sample.write(path)
    with ContextMap.open(path) as cmap:
        assert sample.data == cmap.data
        got = cmap.lookup(
            ["10.1.1.50", "52.217.99.126"],
            at=1690329610,
            scope="vpc-0844e5fb7dab616dd",
        )
        want = sample.lookup(
            ["10.1.1.50", "52.217.99.126"],
            at=1690329610,
            scope="vpc-0844e5fb7dab616dd",
        )
        assert [r.fields for r in want] == [r.fields for r in got]


@pytest.mark.parametrize("cut", [0, 5, 8, 40, 63, 64, 1000, -33, -1])
def test_truncated_map_named_error(
    tmp_path: Path, sample: ContextMap, cut: int
) -> None:
    """A truncated file is a ContextMapFileError, never a crash."""
    path = tmp_path / "short.vpcmap"
    path.write_bytes(sample.data[:cut])
    with pytest.raises(ContextMapFileError) as info:
        ContextMap.open(path)
    want = "format" if 0 <= cut < 8 else "truncated"
    assert (want, str(path)) == (info.value.reason, info.value.path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"version account-id interface-id\n",
        b'{"NetworkInterfaces": []}',
        bytes.fromhex("deadbeef000d1000002e10f900010000") + b"\0" * 64,
    ],
    ids=["empty", "flow-log", "json", "silk-file"],
)
def test_foreign_file_named_error(tmp_path: Path, content: bytes) -> None:
    """A file that is not a map says so by name."""
    path = tmp_path / "foreign"
    path.write_bytes(content)
    with pytest.raises(ContextMapFileError, match="Bad magic number") as info:
        ContextMap.open(path)
    assert "format" == info.value.reason


def test_newer_version_named_error(sample: ContextMap) -> None:
    """A map of another format version -- a later one, or version 1
    (which carried a value index) -- is refused as such."""
    for version in (3, 1):
        data = bytearray(sample.data)
        data[8:12] = struct.pack("<I", version)
        with pytest.raises(
            ContextMapFileError,
            match=f"Map format version {version} .this build reads version 2",
        ) as info:
            ContextMap.from_bytes(bytes(data))
        assert "version" == info.value.reason


def test_missing_file_named_error(tmp_path: Path) -> None:
    """Opening an absent file is a ContextMapError in SiLK's words."""
    with pytest.raises(
        ContextMapError, match=r"Cannot open '.*absent.vpcmap': No such file"
    ):
        ContextMap.open(tmp_path / "absent.vpcmap")


def test_directory_damage_detected(sample: ContextMap) -> None:
    """A flipped byte in the section directory fails its checksum."""
    data = bytearray(sample.data)
    dir_off = struct.unpack_from("<Q", data, 32)[0]
    data[dir_off + 9] ^= 0x40
    with pytest.raises(ContextMapFileError, match="checksum") as info:
        ContextMap.from_bytes(bytes(data))
    assert "corrupt" == info.value.reason


@given(
    flips=st.lists(
        st.tuples(st.integers(64, 10**9), st.integers(1, 255)),
        min_size=1,
        max_size=4,
    )
)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_corrupt_body_never_crashes(sample: ContextMap, flips) -> None:
    """Random damage to the body is either rejected (named error) or
    harmless: every lookup on the damaged map still works."""
    data = bytearray(sample.data)
    dir_off = struct.unpack_from("<Q", data, 32)[0]
    for pos, mask in flips:
        data[64 + pos % (dir_off - 64)] ^= mask
    try:
        cmap = ContextMap.from_bytes(bytes(data))
    except ContextMapFileError as exc:
        reason = exc.reason
    else:
        reason = None
    assert reason in (None, "corrupt", "truncated")
    if reason is not None:
        return
    addrs = cmap._all_addresses()
    cmap.lookup_rows(addrs, 1690329610)
    cmap.value_ids(addrs, 1690329610, None, list(FIELD_INDEX))
    list(cmap.iter_bindings())


def test_interrupted_write_keeps_old_map(
    tmp_path: Path, sample: ContextMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (disk full) or is interrupted (Ctrl-C) leaves
    the previous map intact and no temporary file behind."""
    path = tmp_path / "cloud.vpcmap"
    old = build(batch_of([rec(srcaddr="10.0.0.1", dstaddr="1.1.1.1")]))
    old.write(path)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(
        ContextMapError, match=r"Unable to write context map .*No space left"
    ):
        sample.write(path)

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample.write(path)
    monkeypatch.undo()
    assert ["cloud.vpcmap"] == sorted(p.name for p in tmp_path.iterdir())
    assert old.data == ContextMap.open(path).data


def test_write_into_missing_directory(
    tmp_path: Path, sample: ContextMap
) -> None:
    """Writing where no directory exists is a named error."""
    with pytest.raises(ContextMapError, match=r"Cannot open .* for writing"):
        sample.write(tmp_path / "no" / "such" / "dir.vpcmap")


def _lib():
    mod = _binding.load("ctxmap")
    return mod.ffi, mod.lib


def test_pair_entry_matches_batch_lookup(sample: ContextMap) -> None:
    """The plug-in's one-call-per-record entry (sip+dip, stime) gives the
    batch lookup's rows and resolved values for both endpoints."""
    ffi, lib = _lib()
    sip, dip = parse_address("10.1.1.50"), parse_address("52.217.99.126")
    scope = sample.scope_id("vpc-0844e5fb7dab616dd")
    rows = ffi.new("int32_t[10]")
    flags = ffi.new("uint8_t[2]")
    assert 0 == lib.pse_ctxmap_lookup_pair(
        sample._h, sip + dip, 1690329610, scope, rows, flags
    )
    want_rows, want_flags = sample.lookup_rows(
        np.frombuffer(sip + dip, np.uint8).reshape(2, 16),
        1690329610,
        "vpc-0844e5fb7dab616dd",
    )
    assert want_rows.ravel().tolist() == list(rows)
    assert want_flags.tolist() == list(flags)
    names = ["vpc-id", "instance-id", "aws-service", "region"]
    fields = ffi.new("uint32_t[]", [FIELD_INDEX[n].index for n in names])
    values = ffi.new("uint32_t[8]")
    assert 0 == lib.pse_ctxmap_pair_values(
        sample._h, sip + dip, 1690329610, scope, fields, 4, values
    )
    text = [sample.label(v) for v in values]
    assert [
        "vpc-0844e5fb7dab616dd",
        "i-0826dea5238644ce7",
        None,
        "us-east-1",
        None,
        None,
        "S3",
        "us-east-1",
    ] == text


def test_value_index_and_strings(sample: ContextMap) -> None:
    """value -> binding rows (a scan of the map), and string ids
    by binary search (absent strings are not found)."""
    rows = sample.value_rows("vpc-id", "vpc-0844e5fb7dab616dd")
    want = [
        b.row
        for b in sample.iter_bindings()
        if b.fields.get("vpc-id") == "vpc-0844e5fb7dab616dd"
    ]
    assert want == rows.tolist()
    assert sample.sid("S3") is not None
    assert "S3" == sample.tables.strings[sample.sid("S3")]
    assert sample.sid("no-such-value") is None
    assert 0 == len(sample.value_rows("vpc-id", "no-such-value"))


def test_values_rejects_bad_arguments(sample: ContextMap) -> None:
    """The resolving entry refuses a field index, relation mask or time
    count it cannot honour instead of reading out of bounds."""
    ffi, lib = _lib()
    addrs = sample._all_addresses()[:2]
    times = ffi.new("int64_t[]", [1690329610, 1690329610, 1690329610])
    scope = ffi.new("uint32_t[]", [0xFFFFFFFF])
    out = ffi.new("uint32_t[4]")
    good = ffi.new("uint32_t[]", [FIELD_INDEX["vpc-id"].index])
    bad = ffi.new("uint32_t[]", [len(FIELD_INDEX) + 7])
    raw = ffi.from_buffer(addrs)
    everything = lib.PSE_CTXMAP_RESOLVE_ALL

    def call(fields, ntimes: int, relations: int) -> int:
        return lib.pse_ctxmap_values(
            sample._h, raw, 2, times, ntimes, scope, 1, fields, 1,
            relations, out,
        )  # fmt: skip

    assert lib.PSE_OK == call(good, 1, everything)
    assert lib.PSE_OK == call(good, 2, everything)
    assert lib.PSE_ERR_ARG == call(bad, 1, everything)
    assert lib.PSE_ERR_ARG == call(good, 3, everything)
    assert lib.PSE_ERR_ARG == call(good, 1, 1 << 5)
    pair = ffi.new("uint8_t[32]")
    assert lib.PSE_ERR_ARG == lib.pse_ctxmap_pair_values(
        sample._h, pair, 0, 0xFFFFFFFF, bad, 1, out
    )
    with pytest.raises(ValueError, match="1 or n entries"):
        sample.value_ids(addrs, np.zeros(3, np.int64), None, ["vpc-id"])


def test_lookup_broadcasts_times_and_scopes(sample: ContextMap) -> None:
    """Per-address times and scopes give the same answers as one at a
    time."""
    addrs = sample._all_addresses()
    times = np.full(len(addrs), 1690329610, dtype=np.int64)
    scopes = np.full(len(addrs), 0xFFFFFFFF, dtype=np.uint32)
    a = sample.lookup_rows(addrs, times, scopes)
    b = sample.lookup_rows(addrs, 1690329610, None)
    assert a[0].tolist() == b[0].tolist()
    assert a[1].tolist() == b[1].tolist()


def test_unaligned_buffer_is_copied(sample: ContextMap) -> None:
    """An image at an odd address still opens (copied to alignment)."""
    raw = bytearray(b"x" + sample.data)
    view = memoryview(raw)[1:]
    cmap = ContextMap(view, "<odd>")
    assert sample.data == cmap.data


def test_structure_bytes_per_binding(sample: ContextMap) -> None:
    """The per-binding structures take at most 16 (row) + 8 (IPv4
    address and start) bytes, + 20 for IPv6, plus the two end sentinels;
    addresses with several bindings take less."""
    t = sample.tables
    per = (
        t.bind.nbytes
        + t.addr4.nbytes
        + t.start4.nbytes
        + t.addr6.nbytes
        + t.start6.nbytes
    )
    n6 = int(t.start6[-1] - t.start6[0])
    n4 = len(t.bind) - n6
    assert len(t.addr4) < n4
    assert per <= 24 * n4 + 36 * n6 + 8
    assert {Relation.IFACE, Relation.SVC, Relation.ENI} <= {
        Relation(int(r)) for r in (t.bind[:, 3] >> np.uint32(28))
    }


def test_worst_case_bytes_per_binding() -> None:
    """Every address its own interface and instance (no context shared):
    16 (row) + 8 (address index) + 24 (context) = 48 bytes per binding
    besides the string dictionary and the small group tables."""
    recs = [
        rec(
            srcaddr=f"10.0.{k // 250}.{k % 250 + 1}",
            dstaddr="192.0.2.1",
            interface_id=f"eni-{k:017x}",
            instance_id=f"i-{k:017x}",
        )
        for k in range(500)
    ]
    cmap = build(batch_of(recs))
    t = cmap.tables
    assert 500 == len(t.bind) == len(t.ctx)
    own = t.bind.nbytes + t.addr4.nbytes + t.start4.nbytes - 4
    assert 48 * 500 == own + t.ctx.nbytes


def test_value_rows_scan_matches_bindings(sample: ContextMap) -> None:
    """Without a value index, value -> rows (a scan in C) finds exactly
    the bindings of the asked relations whose fields hold the value."""
    ffi, lib = _lib()
    every = [b for b in sample.iter_bindings()]
    for field in ("vpc-id", "aws-service", "interface-id", "region"):
        for value in sorted(
            {b.fields[field] for b in every if field in b.fields}
        ):
            for relations in (
                (Relation.IFACE, Relation.ENI, Relation.SVC),
                (Relation.PKT,),
            ):
                names = {RELATION_NAMES[r] for r in relations}
                want = [
                    b.row
                    for b in every
                    if b.relation in names and b.fields.get(field) == value
                ]
                got = sample.value_rows(field, value, relations).tolist()
                assert want == got, (field, value, relations)
    needed = ffi.new("size_t *")
    assert lib.PSE_OK == lib.pse_ctxmap_value_rows(
        sample._h, FIELD_INDEX["vpc-id"].index, 0, 0x1F, ffi.NULL, 0, needed
    )
    assert 0 == needed[0]
    assert lib.PSE_ERR_ARG == lib.pse_ctxmap_value_rows(
        sample._h, len(FIELD_INDEX) + 1, 1, 0x1F, ffi.NULL, 0, needed
    )


def test_bucketed_index_of_large_maps() -> None:
    """Maps with 1024+ IPv4 addresses search a per-/16 bucket table: every
    mapped address is found, at /16 edges and at both ends of the address
    space, and no neighbour of one is found by mistake."""
    rng = np.random.default_rng(7)
    picks = {0, 1, 0xFFFFFFFF, 0xFFFFFFFE, 0x0A00FFFF, 0x0A010000, 0x0AFF0000}
    picks |= set(rng.integers(0x0A000000, 0x0A040000, 1500).tolist())
    picks |= set(rng.integers(0, 2**32, 500).tolist())
    addrs = sorted(picks)
    recs = [
        rec(
            srcaddr=str(ipaddress.IPv4Address(a)),
            dstaddr="192.0.2.1",
            interface_id=f"eni-{k}",
        )
        for k, a in enumerate(addrs)
    ]
    cmap = build(batch_of(recs))
    assert addrs == cmap.tables.addr4.tolist()
    probe = sorted(
        {max(0, min(2**32 - 1, a + d)) for a in addrs for d in (-1, 0, 1)}
    )
    raw = np.zeros((len(probe), 16), np.uint8)
    raw[:, 10:12] = 0xFF
    raw[:, 12:] = np.array(probe, ">u4").view(np.uint8).reshape(-1, 4)
    rows, _ = cmap.lookup_rows(raw, 1030)
    assert [p in picks for p in probe] == (rows[:, 0] >= 0).tolist()
    ffi, lib = _lib()
    out = ffi.new("int32_t[10]")
    flags = ffi.new("uint8_t[2]")
    for k in range(0, len(probe) - 1, 97):
        pair = bytes(raw[k]) + bytes(raw[k + 1])
        lib.pse_ctxmap_lookup_pair(cmap._h, pair, 1030, 0xFFFFFFFF, out, flags)
        assert [probe[k] in picks, probe[k + 1] in picks] == [
            out[0] >= 0,
            out[5] >= 0,
        ]


def test_range_lookup_matches_bisect(shared: Path) -> None:
    """The C ip-ranges lookup (bucketed for the real 5,000-row IPv4
    table) agrees with a bisect over the flattened layer at every range
    boundary, one off each side, and at random addresses."""
    import bisect

    from pysilk_ext.ctxmap.ipranges import load_ip_ranges

    layer = load_ip_ranges(shared / "data" / "ip-ranges.json")
    cmap = build(ranges=shared / "data" / "ip-ranges.json")
    los = [r[0] for r in layer.v4]
    rng = np.random.default_rng(3)
    probe = {0, 2**32 - 1, *rng.integers(0, 2**32, 3000).tolist()}
    for lo, hi, *_ in layer.v4:
        probe |= {lo, hi, max(lo - 1, 0), min(hi + 1, 2**32 - 1)}
    probe_list = sorted(probe)
    raw = np.zeros((len(probe_list), 16), np.uint8)
    raw[:, 10:12] = 0xFF
    raw[:, 12:] = np.array(probe_list, ">u4").view(np.uint8).reshape(-1, 4)
    services = cmap.value_ids(raw, 0, None, ["aws-service"])[:, 0]
    want, got = [], []
    for k, v in enumerate(probe_list):
        i = bisect.bisect_right(los, v) - 1
        want.append(layer.v4[i][2] if i >= 0 and layer.v4[i][1] >= v else None)
        got.append(cmap.label(int(services[k])))
    assert want == got
