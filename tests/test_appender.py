# SPDX-License-Identifier: MIT
"""RepositoryWriter: hourly files like rwflowpack, appends like rwflowappend.

Golden files: ``repo/root-pack-interfaces`` (rwflowpack --pack-interfaces,
reproduced byte for byte), ``repo/incremental`` and
``repo/root-flowappend-twice`` (two lzo1x blocks under one header).  Safety
is tested by SIGKILLing writer processes and by two processes appending to
one hourly file.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.errors import SilkFormatError, SiteConfigError
from pysilk_ext.silkfmt.appender import (
    AppendError,
    RepositoryWriter,
    repair_file,
    valid_data_end,
)
from pysilk_ext.silkfmt.compression import BLOCK_PREFIX
from pysilk_ext.silkfmt.flowfile import read_flows
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE, RecordRefusedError
from pysilk_ext.silkfmt.header import (
    Compression,
    FileFormat,
    PackedFileEntry,
    read_header,
)
from pysilk_ext.silkfmt.siteconf import SiteConfig, load_siteconf
from tests.conftest import REPO

HOUR_13 = 1710507600000  # 2024-03-15T13:00:00Z


@pytest.fixture(scope="module")
def site(silk_fixtures: Path) -> SiteConfig:
    """The fixture site (twoway + int2aws/aws2int + AWS-VPC1)."""
    return load_siteconf(silk_fixtures / "site" / "silk.conf")


@pytest.fixture(scope="module")
def base_rows(silk_fixtures: Path) -> np.ndarray:
    """The 10 test flows (flows/base.rw), as FLOW_DTYPE rows."""
    return read_flows(silk_fixtures / "flows" / "base.rw")[1]


def make_rows(
    n: int, *, flowtype: int = 3, sensor: int = 0, tag: int = 0
) -> np.ndarray:
    """``n`` IPv4 TCP rows in hour 13; sport = tag, dport/elapsed = index."""
    rows = np.zeros(n, FLOW_DTYPE)
    rows["stime"] = HOUR_13 + np.arange(n) % 3_600_000
    rows["elapsed"] = np.arange(n)
    rows["sport"] = tag
    rows["dport"] = np.arange(n) % 65536
    rows["proto"] = 6
    rows["flowtype"] = flowtype
    rows["sensor"] = sensor
    rows["packets"] = 1
    rows["bytes"] = 40
    rows["sip"][:, 10:12] = 0xFF
    rows["sip"][:, 12] = 10
    rows["dip"][:, 10:12] = 0xFF
    rows["dip"][:, 15] = np.arange(n) % 256
    rows["nhip"][:, 10:12] = 0xFF
    return rows


def blocks_of(path: Path) -> list[tuple[int, int]]:
    """(compressed, uncompressed) length of every block of a file."""
    data = path.read_bytes()
    offset = read_header(data).length or 0
    out = []
    while offset < len(data):
        clen, ulen = BLOCK_PREFIX.unpack_from(data, offset)
        out.append((clen, ulen))
        offset += BLOCK_PREFIX.size + clen
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------
# Fidelity to rwflowpack / rwflowappend


def test_reproduces_rwflowpack_repository(
    site: SiteConfig, base_rows: np.ndarray, silk_fixtures: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Every hourly file is byte-identical to rwflowpack's (88-byte header)."""
    with RepositoryWriter(tmp_path, site, byte_order="little") as writer:
        writer.write(base_rows)
    expected = _files(silk_fixtures / "repo" / "root-pack-interfaces")
    assert expected == _files(tmp_path)
    stats = writer.stats
    assert (10, 10, 0, 10) == (
        stats.records_written, stats.files_created, stats.files_appended,
        len(stats.files),
    )  # fmt: skip
    header = read_header((tmp_path / "outweb/2024/03/15/ow-S0_20240315.13")
                         .read_bytes())  # fmt: skip
    assert 88 == header.length
    assert [PackedFileEntry(HOUR_13, 3, 0)] == header.entries


def test_incremental_files_equal_rwflowpack_ones(
    site: SiteConfig, base_rows: np.ndarray, silk_fixtures: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Incremental files: rwflowpack's content, a random 6-hex suffix."""
    with RepositoryWriter(tmp_path, site, byte_order="little",
                          incremental=True) as writer:  # fmt: skip
        writer.write(base_rows)
    names = sorted(os.listdir(tmp_path))
    assert 10 == len(names)
    assert not [n for n in names if n.startswith(".")]
    for name in names:
        stem, suffix = name.rsplit(".", 1)
        assert 6 == len(suffix)
        fixture = silk_fixtures / "repo" / "incremental" / f"{stem}.incr"
        assert fixture.read_bytes() == (tmp_path / name).read_bytes()


@pytest.mark.parametrize("mode", ["replace", "inplace"])
def test_append_twice_like_rwflowappend(
    site: SiteConfig, silk_fixtures: Path, tmp_path: Path, mode: str
) -> None:
    """Two commits into an lzo1x file: one header, two 1-record blocks."""
    fixture = (silk_fixtures / "repo" / "root-flowappend-twice" / "outweb"
               / "2024" / "03" / "15" / "ow-S0_20240315.13")  # fmt: skip
    incr = silk_fixtures / "repo" / "incremental" / "ow-S0_20240315.13.incr"
    rows = read_flows(incr)[1]
    for _ in range(2):
        w = RepositoryWriter(
            tmp_path, site, compression="lzo1x", byte_order="little",
            append_mode=mode,  # type: ignore[arg-type]
        )  # fmt: skip
        with w:
            w.write(rows)
    ours = tmp_path / "outweb" / "2024" / "03" / "15" / "ow-S0_20240315.13"
    assert fixture.read_bytes()[:88] == ours.read_bytes()[:88]
    assert [u for _, u in blocks_of(fixture)] == [
        u for _, u in blocks_of(ours)
    ]
    assert read_flows(fixture)[1].tobytes() == read_flows(ours)[1].tobytes()
    assert (0, 1) == (w.stats.files_created, w.stats.files_appended)


@pytest.mark.parametrize("mode", ["replace", "inplace"])
@pytest.mark.parametrize("method", ["none", "zlib", "lzo1x", "snappy"])
@pytest.mark.parametrize("order", ["little", "big"])
def test_round_trip_methods_orders_modes(
    site: SiteConfig, tmp_path: Path, mode: str, method: str, order: str
) -> None:
    """Many commits, blocks of 744 records, every method and byte order."""
    batches = [make_rows(n, tag=i) for i, n in enumerate((1, 2000, 5, 744))]
    for batch in batches:
        with RepositoryWriter(tmp_path, site, compression=method,
                              byte_order=order, append_mode=mode,
                              durable=False) as writer:  # fmt: skip
            writer.write(batch)
    path = tmp_path / "outweb" / "2024" / "03" / "15" / "ow-S0_20240315.13"
    header, rows = read_flows(path)
    assert (order, Compression[method.upper()]) == (
        header.byte_order,
        header.compression,
    )
    assert np.concatenate(batches).tobytes() == rows.tobytes()
    if method != "none":
        sizes = [u // 88 for _, u in blocks_of(path)]
        assert [1, 744, 744, 512, 5, 744] == sizes


def test_appends_keep_the_existing_files_layout(
    site: SiteConfig, silk_fixtures: Path, tmp_path: Path
) -> None:
    """An FT_RWIPV6 file (rwflowpack default) stays FT_RWIPV6; BE stays BE."""
    src = silk_fixtures / "repo" / "root-respool-default"
    shutil.copytree(src, tmp_path / "root")
    path = (
        tmp_path
        / "root"
        / "outweb"
        / "2024"
        / "03"
        / "15"
        / "ow-S0_20240315.13"
    )
    before = read_flows(path)[1]
    with RepositoryWriter(tmp_path / "root", site, byte_order="big",
                          compression="snappy") as writer:  # fmt: skip
        writer.write(before)
    header, after = read_flows(path)
    assert (FileFormat.FT_RWIPV6, 1, "little", Compression.NONE) == (
        header.format, header.record_version, header.byte_order,
        header.compression,
    )  # fmt: skip
    assert np.concatenate([before, before]).tobytes() == after.tobytes()
    big = tmp_path / "big"
    for _ in range(2):
        with RepositoryWriter(big, site, byte_order="big") as writer:
            writer.write(make_rows(3))
        # a second writer asking for little-endian keeps the file big
        with RepositoryWriter(big, site, byte_order="little") as writer:
            writer.write(make_rows(2))
    header, rows = read_flows(next(p for p in big.rglob("ow-*")))
    assert ("big", 10) == (header.byte_order, len(rows))


def test_memory_stays_bounded(site: SiteConfig, tmp_path: Path) -> None:
    """At most max_open_files pending files, each buffering ≤ one block."""
    writer = RepositoryWriter(tmp_path, site, max_open_files=3, durable=False)
    expected: dict[int, list[np.ndarray]] = {}
    for round_ in range(4):
        for sensor in range(6):
            rows = make_rows(900, sensor=sensor, tag=round_)
            writer.write(rows)
            expected.setdefault(sensor, []).append(rows)
            assert len(writer._pending) <= 3
            assert all(len(p.buf) <= 65472 for p in writer._pending.values())
    stats = writer.close()
    assert stats.commits > 6  # evictions committed files early
    for sensor, parts in expected.items():
        path = Path(writer.path_for(3, sensor, HOUR_13))
        assert np.concatenate(parts).tobytes() == read_flows(path)[1].tobytes()


def test_rows_split_by_flowtype_sensor_and_hour(
    site: SiteConfig, tmp_path: Path
) -> None:
    """One batch fans out to its hourly files, order kept within each."""
    rows = make_rows(12)
    rows["flowtype"] = [3, 11, 3, 12] * 3
    rows["sensor"] = [0, 15, 0, 15] * 3
    rows["stime"] += np.repeat([0, 3_600_000, -3_600_000], 4)  # 13, 14, 12
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(rows)
    assert 9 == len(writer.stats.files)
    for path in writer.stats.files:
        header, got = read_flows(path)
        entry = header.packed_file
        assert entry is not None
        mask = (
            (rows["flowtype"] == entry.flowtype)
            & (rows["sensor"] == entry.sensor)
            & (rows["stime"] - rows["stime"] % 3_600_000 == entry.start_ms)
        )
        assert rows[mask].tobytes() == got.tobytes()


# --------------------------------------------------------------------------
# Errors and odd files


def test_bad_input_is_refused(site: SiteConfig, tmp_path: Path) -> None:
    """Wrong dtype, unknown ids (nothing queued), or counted with skip."""
    writer = RepositoryWriter(tmp_path, site)
    with pytest.raises(TypeError, match="FLOW_DTYPE"):
        writer.write(np.zeros(3, np.uint8))
    rows = make_rows(4)
    rows["sensor"][2] = 99
    with pytest.raises(SiteConfigError, match="sensor 99"):
        writer.write(rows)
    assert 0 == writer.close().records_in
    skipping = RepositoryWriter(tmp_path, site, on_unknown="skip")
    skipping.write(rows)
    stats = skipping.close()
    assert (4, 3, 1) == (
        stats.records_in,
        stats.records_written,
        stats.records_skipped,
    )
    with pytest.raises(ValueError, match="append-mode"):
        RepositoryWriter(tmp_path, site, append_mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(SilkFormatError, match="Cannot write FT_RWIPV6ROUTING"):
        RepositoryWriter(tmp_path, site, record_version=2)


def test_refuses_to_hide_a_gz_file(site: SiteConfig, tmp_path: Path) -> None:
    """SiLK would stop reading NAME.gz once NAME exists: refuse."""
    writer = RepositoryWriter(tmp_path, site)
    path = Path(writer.path_for(3, 0, HOUR_13))
    path.parent.mkdir(parents=True)
    Path(f"{path}.gz").write_bytes(b"")
    writer.write(make_rows(1))
    with pytest.raises(AppendError, match=r"\.gz' exists"):
        writer.flush()
    assert not path.exists()


@pytest.mark.parametrize("mode", ["replace", "inplace"])
def test_not_a_silk_file_is_left_alone(
    site: SiteConfig, tmp_path: Path, mode: str
) -> None:
    """A foreign file at the hourly path is reported, not overwritten."""
    writer = RepositoryWriter(tmp_path, site, append_mode=mode)  # type: ignore[arg-type]
    path = Path(writer.path_for(3, 0, HOUR_13))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"hello, world\n")
    writer.write(make_rows(1))
    with pytest.raises(AppendError, match="does not appear to be a SiLK"):
        writer.close()
    assert b"hello, world\n" == path.read_bytes()


@pytest.mark.parametrize("mode", ["replace", "inplace"])
def test_refused_ipv6_leaves_ipv4_file_unchanged(
    site: SiteConfig, tmp_path: Path, mode: str
) -> None:
    """IPv6 rows into an FT_RWGENERIC file: error, old file intact."""
    with RepositoryWriter(tmp_path, site, file_format=FileFormat.FT_RWGENERIC,
                          record_version=5) as writer:  # fmt: skip
        writer.write(make_rows(3))
    path = Path(writer.path_for(3, 0, HOUR_13))
    before = path.read_bytes()
    rows = make_rows(5)
    rows["tcp_state"][3] |= 0x80
    rows["sip"][3, 0] = 0x20
    writer = RepositoryWriter(tmp_path, site, append_mode=mode)  # type: ignore[arg-type]
    writer.write(rows)
    with pytest.raises(RecordRefusedError):
        writer.close()
    assert before == path.read_bytes()
    dropping = RepositoryWriter(tmp_path, site, ipv6_policy="ignore",
                                append_mode=mode)  # type: ignore[arg-type]  # fmt: skip
    dropping.write(rows)
    stats = dropping.close()
    assert (4, 1) == (stats.records_written, stats.flow.ipv6_dropped)
    assert 7 == len(read_flows(path)[1])


def test_empty_placeholder_is_started_afresh(
    site: SiteConfig, tmp_path: Path
) -> None:
    """A 0-byte file (rwflowpack died before its header) gets one."""
    writer = RepositoryWriter(tmp_path, site)
    path = Path(writer.path_for(3, 0, HOUR_13))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    writer.write(make_rows(2))
    writer.close()
    header, rows = read_flows(path)
    assert (2, [PackedFileEntry(HOUR_13, 3, 0)]) == (len(rows), header.entries)


@pytest.mark.parametrize("mode", ["replace", "inplace"])
@pytest.mark.parametrize(("method", "junk"), [("none", 40), ("zlib", 30)])
def test_torn_tail_is_cut_before_appending(
    site: SiteConfig, tmp_path: Path, mode: str, method: str, junk: int
) -> None:
    """A partial record/block left by a crash is dropped, then we append."""
    with RepositoryWriter(tmp_path, site, compression=method) as writer:
        writer.write(make_rows(10))
    path = Path(writer.path_for(3, 0, HOUR_13))
    good = path.stat().st_size
    with path.open("ab") as fp:
        fp.write(b"\x00\x00\x01\x00" + bytes(junk))
    assert good == valid_data_end(path)
    writer = RepositoryWriter(tmp_path, site, append_mode=mode)  # type: ignore[arg-type]
    writer.write(make_rows(5, tag=1))
    stats = writer.close()
    assert 1 == stats.tails_repaired
    assert 15 == len(read_flows(path)[1])
    with path.open("ab") as fp:
        fp.write(bytes(junk))
    assert junk == repair_file(path)
    assert 0 == repair_file(path)


def test_journal_rolls_back_an_interrupted_inplace_append(
    site: SiteConfig, tmp_path: Path
) -> None:
    """Whole records short of the journalled end are a partial commit."""
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(make_rows(4))
    path = Path(writer.path_for(3, 0, HOUR_13))
    size = path.stat().st_size
    planned = make_rows(5).tobytes()
    journal = path.with_name(f".{path.name}.journal")
    journal.write_text(
        f"{path.stat().st_ino} {size} {size + len(planned)} "
        f"{zlib.crc32(planned)}\n"
    )
    with path.open("ab") as fp:
        fp.write(planned[: 3 * 88])  # killed after 3 of 5 records
    assert 3 * 88 == repair_file(path)
    assert not journal.exists()
    assert 4 == len(read_flows(path)[1])


def test_journal_keeps_a_completed_append_and_later_data(
    site: SiteConfig, tmp_path: Path
) -> None:
    """Killed after the data but before the journal went: nothing lost.

    rwflowappend may have appended after it (it ignores our journal); the
    CRC shows our bytes are complete, so its records stay too.
    """
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(make_rows(4))
    path = Path(writer.path_for(3, 0, HOUR_13))
    size = path.stat().st_size
    ours, theirs = make_rows(5).tobytes(), make_rows(2, tag=9).tobytes()
    journal = path.with_name(f".{path.name}.journal")
    journal.write_text(
        f"{path.stat().st_ino} {size} {size + len(ours)} {zlib.crc32(ours)}\n"
    )
    with path.open("ab") as fp:
        fp.write(ours + theirs)
    assert 0 == repair_file(path)
    assert not journal.exists()
    assert 11 == len(read_flows(path)[1])


@pytest.mark.parametrize("mode", ["replace", "inplace"])
def test_failure_mid_commit_leaves_old_file(
    site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:  # fmt: skip
    """An error after some blocks were written: the old file, no debris."""
    with RepositoryWriter(tmp_path, site, compression="zlib") as writer:
        writer.write(make_rows(3))
    path = Path(writer.path_for(3, 0, HOUR_13))
    before = path.read_bytes()
    real_feed = RepositoryWriter._feed

    def failing_feed(
        self: RepositoryWriter, sink: object, pending: object
    ) -> int:
        real_feed(self, sink, pending)  # type: ignore[arg-type]
        sink.close()  # type: ignore[attr-defined]  # blocks reach the file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RepositoryWriter, "_feed", failing_feed)
    writer = RepositoryWriter(tmp_path, site, append_mode=mode)  # type: ignore[arg-type]
    writer.write(make_rows(2000, tag=1))
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert before == path.read_bytes()
    assert [path.name] == [p.name for p in path.parent.iterdir()]


def test_temporaries_of_dead_writers_are_swept(
    site: SiteConfig, tmp_path: Path
) -> None:
    """A killed writer's temp goes at the next commit; a live one stays."""
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(make_rows(1))
    path = Path(writer.path_for(3, 0, HOUR_13))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stale = path.with_name(f".{path.name}.{dead.stdout.strip()}.ab12.tmp")
    live = path.with_name(f".{path.name}.{os.getpid()}.cd34.tmp")
    stale.write_bytes(b"partial")
    live.write_bytes(b"in progress")
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(make_rows(1))
    assert not stale.exists()
    assert live.exists()
    assert 2 == len(read_flows(path)[1])


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX lock semantics")
def test_takes_silks_posix_lock(site: SiteConfig, tmp_path: Path) -> None:
    """A commit waits while another process holds fcntl's write lock."""
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(make_rows(1))
    path = writer.path_for(3, 0, HOUR_13)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, sys, time
            fd = open({path!r}, "r+b")
            fcntl.lockf(fd, fcntl.LOCK_EX)
            print("locked", flush=True)
            time.sleep(1.0)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    assert "locked" == holder.stdout.readline().strip()
    start = time.monotonic()
    with RepositoryWriter(tmp_path, site) as writer:
        writer.write(make_rows(1))
    waited = time.monotonic() - start
    holder.wait()
    holder.stdout.close()
    assert waited > 0.5
    assert 2 == len(read_flows(path)[1])


# --------------------------------------------------------------------------
# Interruption and concurrency (separate processes)

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    from tests.test_appender import make_rows
    from pysilk_ext.silkfmt.appender import RepositoryWriter
    from pysilk_ext.silkfmt.siteconf import load_siteconf
    site = load_siteconf({site!r})
    tag, batch, rounds = {tag}, {batch}, {rounds}
    writer = RepositoryWriter({root!r}, site, compression={method!r},
                              append_mode={mode!r})
    for i in range(rounds):
        rows = make_rows(batch, tag=tag)
        rows["elapsed"] = i
        writer.write(rows)
        writer.flush()
        print(i, flush=True)
""")


def _child(**kw: object) -> subprocess.Popen[str]:
    code = CHILD.format(repo=str(REPO), **kw)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize(
    ("mode", "method"),
    [("replace", "lzo1x"), ("replace", "none"), ("inplace", "zlib"),
     ("inplace", "none")],
)  # fmt: skip
def test_kill_9_leaves_whole_commits(
    site: SiteConfig, silk_fixtures: Path, tmp_path: Path, mode: str,
    method: str,
) -> None:  # fmt: skip
    """SIGKILL at random moments: header intact, whole batches only.

    Batches of 1000 records span two blocks, so a kill between blocks is
    possible.  In replace mode the file is checked as the kill left it; in
    inplace mode after repair_file() (what the next writer does first).
    """
    rng = random.Random(1234)
    batch = 1000
    path = tmp_path / "outweb" / "2024" / "03" / "15" / "ow-S0_20240315.13"
    kills = 0
    for _ in range(4):
        child = _child(site=str(silk_fixtures / "site" / "silk.conf"),
                       root=str(tmp_path), tag=7, batch=batch, rounds=10_000,
                       method=method, mode=mode)  # fmt: skip
        assert child.stdout is not None
        child.stdout.readline()  # at least one commit done
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        kills += 1
        if mode == "inplace":
            repair_file(path)
        header = read_header(path.read_bytes())
        assert [PackedFileEntry(HOUR_13, 3, 0)] == header.entries
        assert path.stat().st_size == valid_data_end(path)
        rows = read_flows(path)[1]
        assert 0 == len(rows) % batch
        # every batch is complete and in order
        stamps = rows["elapsed"].reshape(-1, batch)
        assert (stamps == stamps[:, :1]).all()
    assert 4 == kills
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert all(name.startswith(".") for name in leftovers)
    # the next writer sweeps temporaries of dead writers
    with RepositoryWriter(tmp_path, site, append_mode=mode) as writer:  # type: ignore[arg-type]
        writer.write(make_rows(1))
    assert [] == [p.name for p in path.parent.iterdir() if p != path]


@pytest.mark.parametrize("mode", ["replace", "inplace"])
def test_two_processes_append_to_one_file(
    site: SiteConfig, silk_fixtures: Path, tmp_path: Path, mode: str
) -> None:
    """Concurrent writers: every record present exactly once."""
    rounds, batch = 25, 50
    children = [
        _child(
            site=str(silk_fixtures / "site" / "silk.conf"),
            root=str(tmp_path),
            tag=tag,
            batch=batch,
            rounds=rounds,
            method="snappy",
            mode=mode,
        )
        for tag in (1, 2)
    ]
    for child in children:
        assert child.stdout is not None
        child.stdout.read()
        child.stdout.close()
        assert 0 == child.wait()
    path = tmp_path / "outweb" / "2024" / "03" / "15" / "ow-S0_20240315.13"
    rows = read_flows(path)[1]
    keys = list(
        zip(rows["sport"], rows["elapsed"], rows["dport"], strict=True)
    )
    expected = {
        (tag, i, j)
        for tag in (1, 2)
        for i in range(rounds)
        for j in range(batch)
    }
    assert len(expected) == len(keys)
    assert expected == set(keys)


# --------------------------------------------------------------------------
# Real SiLK reads what we wrote


@pytest.mark.silk
def test_silk_tools_read_our_repository(
    site: SiteConfig, base_rows: np.ndarray, silk_fixtures: Path,
    tmp_path: Path, silk: dict[str, str],
) -> None:  # fmt: skip
    """rwfilter, rwcut, rwfileinfo, rwsiteinfo give the fixture answers."""
    root = tmp_path / "root-pack-interfaces"
    with RepositoryWriter(root, site, compression="lzo1x",
                          byte_order="big") as writer:  # fmt: skip
        writer.write(base_rows)
    env = {
        **silk,
        "SILK_CONFIG_FILE": str(silk_fixtures / "site" / "silk.conf"),
    }
    queries = silk_fixtures / "repo" / "queries"

    def run(args: str, stdin: bytes | None = None) -> bytes:
        return subprocess.run(
            args.split(), input=stdin, capture_output=True, env=env,
            cwd=tmp_path, check=True,
        ).stdout  # fmt: skip

    for name, cmd in [
        ("rwfilter-all-types.txt",
         "--start-date=2024/03/15:13 --end-date=2024/03/15:14 --type=all"),
        ("rwfilter-aws.txt",
         "--start-date=2024/03/15:13 --end-date=2024/03/15:14 "
         "--type=int2aws,aws2int --sensors=AWS-VPC1"),
        ("rwfilter-default-types.txt", "--start-date=2024/03/15"),
        ("rwfilter-hour14-only.txt", "--start-date=2024/03/15:14 --type=all"),
    ]:  # fmt: skip
        passed = run(
            f"rwfilter --data-rootdir=root-pack-interfaces {cmd} "
            f"--protocol=0-255 --pass=stdout"
        )
        out = run("rwcut --fields=sIP,dIP,sTime,sensor,class,type", passed)
        assert (queries / name).read_bytes() == out, name
    assert (queries / "rwsiteinfo-repo.txt").read_bytes() == run(
        "rwsiteinfo --data-rootdir=root-pack-interfaces --types=all "
        "--fields=flowtype,sensor,repo-start-date,repo-end-date,"
        "repo-file-count"
    )
    outputs = silk_fixtures / "repo" / "outputs" / "root-pack-interfaces"
    for rel in writer.stats.files:
        rel_path = Path(rel).relative_to(tmp_path)
        info = run(f"rwfileinfo {rel_path}").decode()
        expected = (outputs / f"{rel_path.relative_to('root-pack-interfaces')}"
                    ".rwfileinfo.txt").read_text()  # fmt: skip
        masked = {"compression(id)", "file-size", "byte-order"}
        keep = [
            line for line in expected.splitlines()
            if line.split()[0] not in masked
        ]  # fmt: skip
        assert keep == [
            line for line in info.splitlines()
            if line.split()[0] not in masked
        ]  # fmt: skip
        assert "compression(id)     lzo1x(2)" in info
        assert "byte-order          BigEndian" in info
        cut = run(
            "rwcut --fields=sIP,dIP,sPort,dPort,protocol,packets,bytes,flags,"
            "sTime,duration,eTime,sensor,in,out,nhIP,initialFlags,"
            "sessionFlags,attributes,application,class,type,iType,iCode "
            f"--timestamp-format=epoch {rel_path}"
        )
        assert (outputs / f"{rel_path.relative_to('root-pack-interfaces')}"
                ".rwcut-all-epoch.txt").read_bytes() == cut  # fmt: skip


@pytest.mark.silk
def test_rwflowappend_takes_our_incremental_files(
    site: SiteConfig, base_rows: np.ndarray, silk_fixtures: Path,
    tmp_path: Path, silk: dict[str, str],
) -> None:  # fmt: skip
    """rwflowappend turns them into the repository it built from its own."""
    rwflowappend = shutil.which("rwflowappend", path=silk.get("PATH"))
    if rwflowappend is None:
        pytest.skip("rwflowappend not on PATH")
    incoming, root, errors = (tmp_path / d for d in ("in", "root", "err"))
    for d in (incoming, root, errors):
        d.mkdir()
    with RepositoryWriter(incoming, site, incremental=True,
                          byte_order="little") as writer:  # fmt: skip
        writer.write(base_rows)
    proc = subprocess.Popen(
        [rwflowappend, f"--incoming-directory={incoming}",
         f"--root-directory={root}", f"--error-directory={errors}",
         "--no-daemon", "--log-destination=stderr", "--polling-interval=1",
         f"--site-config-file={silk_fixtures / 'site' / 'silk.conf'}"],
        env=silk, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while os.listdir(incoming) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    expected = _files(silk_fixtures / "repo" / "root-flowappend")
    assert expected == _files(root)
    assert [] == os.listdir(errors)
