# SPDX-License-Identifier: MIT
"""RepositoryWriter storage choices: record format per file, zlib levels,
large blocks, batched commits, and undoing a format upgrade.

``file_format="auto"`` writes FT_RWGENERIC v5 for all-IPv4 files and
FT_RWIPV6ROUTING v1 otherwise; IPv6 records for an FT_RWGENERIC file
rewrite it (backup kept for the ledger).  Every check compares decoded
records field by field with what was written, and the ``silk`` test reads
the files with SiLK's own rwcut and rwfileinfo.
"""

from __future__ import annotations

import os
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.convert.ledger import Ledger
from pysilk_ext.silkfmt import compression as comp
from pysilk_ext.silkfmt.appender import (
    AUTO_FORMAT,
    CommitIntent,
    RepositoryWriter,
    _order_within,
)
from pysilk_ext.silkfmt.flowfile import FlowReader, FlowWriter, read_flows
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE, TCP_STATE_IPV6
from pysilk_ext.silkfmt.header import (
    Compression,
    FileFormat,
    PackedFileEntry,
    read_header,
)
from pysilk_ext.silkfmt.siteconf import SiteConfig, load_siteconf

HOUR_13 = 1710507600000  # 2024-03-15T13:00:00Z


@pytest.fixture(scope="module")
def site(silk_fixtures: Path) -> SiteConfig:
    """The fixture site (twoway + int2aws/aws2int + AWS-VPC1)."""
    return load_siteconf(silk_fixtures / "site" / "silk.conf")


def v4_rows(n: int, *, tag: int = 0) -> np.ndarray:
    """``n`` IPv4 rows of flowtype 3, sensor 0, hour 13, all fields set."""
    rng = np.random.default_rng(tag)
    rows = np.zeros(n, FLOW_DTYPE)
    rows["stime"] = HOUR_13 + rng.integers(0, 3_600_000, n)
    rows["elapsed"] = rng.integers(0, 60_000, n)
    rows["sport"] = rng.integers(0, 65536, n)
    rows["dport"] = rng.integers(0, 65536, n)
    rows["proto"] = 6
    rows["flowtype"] = 3
    rows["flags"] = 0x1B
    rows["init_flags"] = 0x02
    rows["rest_flags"] = 0x19
    rows["tcp_state"] = 0x01
    rows["application"] = 443
    rows["memo"] = rng.integers(0, 65536, n)
    rows["input"] = rng.integers(0, 3, n)
    rows["output"] = rng.integers(0, 9, n)
    rows["packets"] = rng.integers(1, 1 << 32, n, dtype=np.uint64)
    rows["bytes"] = rng.integers(1, 1 << 32, n, dtype=np.uint64)
    for name in ("sip", "dip", "nhip"):
        rows[name][:, 10:12] = 0xFF
        rows[name][:, 12:] = rng.integers(0, 256, (n, 4))
    return rows


def with_ipv6(rows: np.ndarray, every: int = 3) -> np.ndarray:
    """A copy whose every ``every``-th row is a pure IPv6 record."""
    out = rows.copy()
    pick = np.arange(len(out)) % every == 0
    out["tcp_state"][pick] |= TCP_STATE_IPV6
    out["sip"][pick, :2] = (0x20, 0x01)
    out["dip"][pick, :2] = (0x20, 0x01)
    out["sip"][pick, 10:12] = 0x12
    return out


def as_set(rows: np.ndarray) -> list[bytes]:
    """Rows as sorted raw 88-byte records (a multiset, order ignored)."""
    return sorted(np.ascontiguousarray(rows).view("V88").tolist())


def file_format_of(path: Path) -> tuple[int, int]:
    """(format, record version) of a flow file's header."""
    header = read_header(path.read_bytes())
    return header.format, header.record_version


# --------------------------------------------------------------------------
# Format per file


def test_ipv4_files_are_compact_and_mixed_files_routing(
    site: SiteConfig, tmp_path: Path
) -> None:
    """IPv4-only file: FT_RWGENERIC v5; one IPv6 record: FT_RWIPV6ROUTING."""
    plain = v4_rows(500)
    mixed = with_ipv6(v4_rows(500, tag=1))
    mixed["sensor"] = 1
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                          compression="zlib") as writer:  # fmt: skip
        writer.commit_rows(np.concatenate([plain, mixed]))
    v4_path = Path(writer.path_for(3, 0, HOUR_13))
    v6_path = Path(writer.path_for(3, 1, HOUR_13))
    assert (FileFormat.FT_RWGENERIC, 5) == file_format_of(v4_path)
    assert (FileFormat.FT_RWIPV6ROUTING, 1) == file_format_of(v6_path)
    assert as_set(plain) == as_set(read_flows(v4_path)[1])
    assert as_set(mixed) == as_set(read_flows(v6_path)[1])
    header = read_header(v4_path.read_bytes())
    assert [PackedFileEntry(HOUR_13, 3, 0)] == header.entries


def test_appends_keep_the_file_format(
    site: SiteConfig, tmp_path: Path
) -> None:
    """IPv4 records appended to either format leave the format as it is."""
    first = v4_rows(50)
    routing = with_ipv6(v4_rows(50, tag=2))
    routing["sensor"] = 1
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT) as writer:
        writer.commit_rows(np.concatenate([first, routing]))
    more = v4_rows(70, tag=3)
    more_routing = v4_rows(70, tag=4)
    more_routing["sensor"] = 1
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT) as writer:
        writer.commit_rows(np.concatenate([more, more_routing]))
    assert 0 == writer.stats.files_upgraded
    v4_path = Path(writer.path_for(3, 0, HOUR_13))
    v6_path = Path(writer.path_for(3, 1, HOUR_13))
    assert (FileFormat.FT_RWGENERIC, 5) == file_format_of(v4_path)
    assert (FileFormat.FT_RWIPV6ROUTING, 1) == file_format_of(v6_path)
    assert as_set(np.concatenate([first, more])) == as_set(
        read_flows(v4_path)[1]
    )
    assert as_set(np.concatenate([routing, more_routing])) == as_set(
        read_flows(v6_path)[1]
    )


@pytest.mark.parametrize("method", ["none", "zlib", "lzo1x"])
def test_ipv6_records_upgrade_a_generic_file(
    site: SiteConfig, tmp_path: Path, method: str
) -> None:
    """IPv6 rows for an FT_RWGENERIC file: rewritten as FT_RWIPV6ROUTING.

    Every old record keeps the values a reader sees, as stored (no ICMP
    port repair); new ones are added; byte order, compression and header
    entries stay; the old file is not touched (new inode).
    """
    old = v4_rows(300)
    old["proto"][:5] = 1  # ICMP as stored: no read-side repair on rewrite
    old["sport"][:5] = 0x0800
    old["dport"][:5] = 0
    old["tcp_state"][:5] = 0
    old["init_flags"][:5] = old["rest_flags"][:5] = 0
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                          compression=method, byte_order="big",
                          ) as writer:  # fmt: skip
        writer.commit_rows(old)
    path = Path(writer.path_for(3, 0, HOUR_13))
    with FlowReader(path, icmp_repair=False) as reader:
        assert as_set(old) == as_set(reader.read_all())
    inode = path.stat().st_ino
    new = with_ipv6(v4_rows(200, tag=9))
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                          compression="zlib") as writer:  # fmt: skip
        writer.commit_rows(new)
    assert (1, 1, 0) == (
        writer.stats.files_upgraded,
        writer.stats.files_appended,
        writer.stats.files_created,
    )
    header = read_header(path.read_bytes())
    assert (FileFormat.FT_RWIPV6ROUTING, 1, "big") == (
        header.format, header.record_version, header.byte_order,
    )  # fmt: skip
    assert Compression[method.upper()] == header.compression
    assert [PackedFileEntry(HOUR_13, 3, 0)] == header.entries
    assert inode != path.stat().st_ino
    with FlowReader(path, icmp_repair=False) as reader:
        got = reader.read_all()
    assert as_set(np.concatenate([old, new])) == as_set(got)
    assert [] == [p.name for p in path.parent.iterdir() if p.name[0] == "."]


def test_upgrade_keeps_a_backup_for_the_hook(
    site: SiteConfig, tmp_path: Path
) -> None:
    """With a hook, the intent names a hard link to the old file."""
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT) as writer:
        writer.commit_rows(v4_rows(40))
    path = Path(writer.path_for(3, 0, HOUR_13))
    before = path.read_bytes()
    old_inode = path.stat().st_ino
    seen: list[CommitIntent] = []
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                          before_commit=seen.append) as writer:  # fmt: skip
        writer.commit_rows(with_ipv6(v4_rows(10, tag=5)))
    (intent,) = seen
    assert intent.backup is not None
    backup = Path(intent.backup)
    assert (str(path), old_inode, len(before), 10) == (
        intent.path, intent.old_inode, intent.old_end, intent.records,
    )  # fmt: skip
    assert (old_inode, before) == (backup.stat().st_ino, backup.read_bytes())
    assert backup.name.startswith(f".{path.name}.{old_inode}.")


def _ledger_run(
    root: Path, site: SiteConfig, rows: np.ndarray
) -> tuple[Ledger, RepositoryWriter]:
    ledger = Ledger(root)
    writer = RepositoryWriter(
        root, site, file_format=AUTO_FORMAT, compression="zlib",
        before_commit=ledger.before_commit,
        before_commits=ledger.before_commits, workers=2,
    )  # fmt: skip
    writer.commit_rows(rows)
    writer.close()
    return ledger, writer


def _hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name[0] == ".")


def test_ledger_undoes_an_upgrade_and_ends_its_backup(
    site: SiteConfig, tmp_path: Path
) -> None:
    """Abort restores the old file byte for byte; commit drops the backup."""
    ledger, writer = _ledger_run(tmp_path, site, v4_rows(60))
    ledger.commit([])
    ledger.close()
    path = Path(writer.path_for(3, 0, HOUR_13))
    before = path.read_bytes()

    ledger, _ = _ledger_run(tmp_path, site, with_ipv6(v4_rows(9, tag=6)))
    assert (FileFormat.FT_RWIPV6ROUTING, 1) == file_format_of(path)
    assert 1 == len(_hidden(path.parent))  # the backup
    report = ledger.abort()
    ledger.close()
    assert (1, before, []) == (
        report.files_restored, path.read_bytes(), _hidden(path.parent),
    )  # fmt: skip

    ledger, _ = _ledger_run(tmp_path, site, with_ipv6(v4_rows(9, tag=6)))
    ledger.commit([])
    ledger.close()
    assert [] == _hidden(path.parent)
    assert 69 == len(read_flows(path)[1])


def test_next_run_undoes_an_interrupted_upgrade(
    site: SiteConfig, tmp_path: Path
) -> None:
    """A run that died after an upgrade: recovery puts the old file back.

    The transaction also appended to another file and created a third;
    recovery cuts back and removes those as before.
    """
    base = np.concatenate([v4_rows(30), v4_rows(30, tag=1)])
    base["sensor"][30:] = 1
    ledger, writer = _ledger_run(tmp_path, site, base)
    ledger.commit([])
    ledger.close()
    upgraded = Path(writer.path_for(3, 0, HOUR_13))
    appended = Path(writer.path_for(3, 1, HOUR_13))
    created = Path(writer.path_for(3, 2, HOUR_13))
    before = (upgraded.read_bytes(), appended.read_bytes())

    more = np.concatenate(
        [with_ipv6(v4_rows(5, tag=2)), v4_rows(5, tag=3), v4_rows(5, tag=4)]
    )
    more["sensor"][5:10] = 1
    more["sensor"][10:] = 2
    ledger, _ = _ledger_run(tmp_path, site, more)
    ledger.close()  # dies: the transaction stays open
    assert created.exists()

    report = Ledger(tmp_path).recover()
    assert (1, 2, 1) == (
        report.transactions, report.files_restored, report.files_removed,
    )  # fmt: skip
    assert before == (upgraded.read_bytes(), appended.read_bytes())
    assert not created.exists()
    assert [] == _hidden(upgraded.parent)


# --------------------------------------------------------------------------
# Batches, order, compression


def test_batched_parallel_commit_equals_sequential(
    site: SiteConfig, tmp_path: Path
) -> None:
    """workers=3 batches write the same records as one file at a time."""
    rows = v4_rows(3000)
    rows["sensor"] = np.arange(3000) % 7
    rows["flowtype"] = 3 + np.arange(3000) % 2
    results = []
    for workers in (1, 3):
        root = tmp_path / f"w{workers}"
        seen: list[list[CommitIntent]] = []
        writer = RepositoryWriter(
            root,
            site,
            file_format=AUTO_FORMAT,
            compression="zlib",
            workers=workers,
            before_commits=seen.append,
        )
        with writer:
            writer.commit_rows(rows)
        assert [14] == [len(batch) for batch in seen]
        results.append(
            {
                str(p.relative_to(root)): as_set(read_flows(p)[1])
                for p in sorted(root.rglob("*-*"))
            }
        )
    assert 14 == len(results[0])
    assert results[0] == results[1]


def test_failed_batch_changes_no_file(
    site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file failing to stage: no file of the batch changes, no temps."""
    rows = v4_rows(200)
    rows["sensor"] = np.arange(200) % 4
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT) as writer:
        writer.commit_rows(rows)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*-*")}
    original = RepositoryWriter._write_appended
    calls = {"n": 0}

    def failing(self: RepositoryWriter, *args: object, **kw: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return original(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(RepositoryWriter, "_write_appended", failing)
    writer = RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                              workers=2)  # fmt: skip
    with pytest.raises(OSError, match="No space left"):
        writer.commit_rows(rows)
    writer.abort()
    assert before == {p: p.read_bytes() for p in tmp_path.rglob("*-*")}
    assert [] == [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_order_within_sorts_by_key_then_value() -> None:
    """The combined-key sort orders like lexsort (ties aside)."""
    rng = np.random.default_rng(7)
    key = rng.integers(0, 5, 1000).astype(np.uint64) << np.uint64(40)
    for within in (
        rng.integers(0, 1 << 54, 1000, dtype=np.uint64),
        rng.integers(0, 1 << 63, 1000, dtype=np.uint64),  # too wide: lexsort
        rng.integers(-5, 5, 1000),
    ):
        order = _order_within(key, within)
        expected = np.lexsort((within, key))
        assert sorted(order.tolist()) == list(range(1000))
        assert key[expected].tolist() == key[order].tolist()
        assert within[expected].tolist() == within[order].tolist()


@pytest.mark.parametrize("level", [None, 1, 6, 9, 12])
def test_zlib_levels_write_standard_streams(level: int | None) -> None:
    """Every level's output inflates with zlib; None is zlib's own bytes."""
    data = v4_rows(2000).tobytes()
    out = comp.zlib_compressor(level)(data)
    assert data == zlib.decompress(bytes(out))
    if level is None:
        assert zlib.compress(data) == bytes(out)


def test_zlib_levels_without_libdeflate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without libdeflate a level is the standard zlib's, 10-12 as 9."""
    monkeypatch.setattr(comp, "_libdeflate", None)
    data = v4_rows(500).tobytes()
    for level, std in ((3, 3), (9, 9), (12, 9)):
        assert zlib.compress(data, std) == bytes(
            comp.zlib_compressor(level)(data)
        )


def test_compression_options_are_checked() -> None:
    """Levels outside 1-12, levels for LZO and oversized blocks raise."""
    for bad in (0, 13):
        with pytest.raises(ValueError, match="Invalid zlib level"):
            comp.zlib_compressor(bad)
    with pytest.raises(ValueError, match="lzo1x has no levels"):
        comp.compressor_for(Compression.LZO1X, 3)
    with pytest.raises(ValueError, match="Invalid block size"):
        comp.block_size_for(88, comp.MAX_BLOCK_LENGTH)
    assert 1048576 - 3 - (1048576 - 3) % 52 == comp.block_size_for(
        52, comp.MAX_BLOCK_LENGTH - 3
    )


def test_large_blocks_stay_within_silk_limits(tmp_path: Path) -> None:
    """1 MiB - 1 KiB blocks of whole records, read back unchanged."""
    rows = v4_rows(30_000)
    path = tmp_path / "big.rw"
    limit = comp.MAX_BLOCK_LENGTH - 1024
    writer = FlowWriter(
        path,
        format=FileFormat.FT_RWGENERIC,
        compression="zlib",
        compression_level=9,
        block_size=limit,
    )
    with writer:
        writer.write(rows)
    data = path.read_bytes()
    offset = read_header(data).length or 0
    sizes = []
    while offset < len(data):
        clen, ulen = comp.BLOCK_PREFIX.unpack_from(data, offset)
        sizes.append(ulen)
        offset += comp.BLOCK_PREFIX.size + clen
    assert all(u % 52 == 0 and u + 3 <= comp.MAX_BLOCK_LENGTH for u in sizes)
    assert 30_000 * 52 == sum(sizes)
    assert 2 == len(sizes)
    assert as_set(rows) == as_set(read_flows(path)[1])


# --------------------------------------------------------------------------
# SiLK reads every variant


@pytest.mark.silk
def test_silk_reads_compact_mixed_and_upgraded_files(
    site: SiteConfig, silk_fixtures: Path, tmp_path: Path,
    silk: dict[str, str],
) -> None:  # fmt: skip
    """rwfileinfo formats and rwcut values of each kind of file."""
    plain = v4_rows(300)
    mixed = with_ipv6(v4_rows(300, tag=1))
    mixed["sensor"] = 1
    later = v4_rows(300, tag=2)
    later["sensor"] = 2
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                          compression="zlib", compression_level=9,
                          block_size=comp.MAX_BLOCK_LENGTH - 1024,
                          workers=2) as writer:  # fmt: skip
        writer.commit_rows(np.concatenate([plain, mixed, later]))
    upgrade = with_ipv6(v4_rows(100, tag=3))
    upgrade["sensor"] = 2
    with RepositoryWriter(tmp_path, site, file_format=AUTO_FORMAT,
                          compression="zlib") as writer:  # fmt: skip
        writer.commit_rows(upgrade)
    env = {**silk, "SILK_CONFIG_FILE": str(silk_fixtures / "site/silk.conf")}
    fields = "sIP,dIP,sPort,dPort,protocol,packets,bytes,flags,sTime,dur"
    fields += ",sensor,in,out,nhIP,initialFlags,sessionFlags,attributes"
    fields += ",application,class,type"
    for sensor, want_format, want in (
        (0, "FT_RWGENERIC(0x16)", plain),
        (1, "FT_RWIPV6ROUTING(0x0c)", mixed),
        (2, "FT_RWIPV6ROUTING(0x0c)", np.concatenate([later, upgrade])),
    ):
        path = writer.path_for(3, sensor, HOUR_13)
        info = subprocess.run(
            ["rwfileinfo", "--fields=format,count-records", "--no-titles",
             path],
            capture_output=True, check=True, env=env, text=True,
        ).stdout  # fmt: skip
        assert [want_format, str(len(want))] == info.split()
        expected = tmp_path / f"expected-{sensor}.rw"
        with FlowWriter(expected) as out:
            out.write(want)
        cuts = [
            subprocess.run(
                [
                    "rwcut",
                    f"--fields={fields}",
                    "--timestamp-format=epoch",
                    "--ipv6-policy=force",
                    "--no-titles",
                    str(name),
                ],
                capture_output=True,
                check=True,
                env=env,
                text=True,
            ).stdout.splitlines()
            for name in (path, expected)
        ]
        assert sorted(cuts[1]) == sorted(cuts[0])
        assert len(want) == len(cuts[0])
        assert not os.path.exists(path + ".gz")
