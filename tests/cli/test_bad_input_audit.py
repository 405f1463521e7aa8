# SPDX-License-Identifier: MIT
"""Regressions found by a hostile-analyst audit of the commands.

One test per defect: each fed a command an input or a switch value that
once crashed it (a Python traceback), lost good records, left files
behind, or answered in other words than SiLK's.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import pysilk_ext.daskjobs
from pysilk_ext.cli import (
    _app,
    rwsilk2vpc,
    rwvpc2silk,
    rwvpcmapbuild,
    rwvpcmapcat,
    rwvpcmaplookup,
    rwvpcstats,
)
from pysilk_ext.silkfmt.flowfile import FlowReader
from tests.cli.convert_support import HEADER, line
from tests.conftest import SEED_LOG

SEED_RECORDS = 31  # flow lines of the seed log (all OK, ACCEPT)
RECORD_SIZE = 88  # FT_RWIPV6ROUTING v1, what --output-path writes


pytestmark = pytest.mark.usefixtures("clean_silk_env")


@pytest.fixture
def seed_silk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The seed log as one uncompressed SiLK file of 31 records."""
    path = tmp_path / "seed.rw"
    status = rwvpc2silk.main(
        ["--action=all", f"--output-path={path}", str(SEED_LOG)]
    )
    capsys.readouterr()
    assert 0 == status
    return path


def test_rwsilk2vpc_truncated_file_keeps_whole_records(
    seed_silk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SiLK file cut inside its last record: the 30 whole records are
    written before SiLK's error (rwcut prints them too); they were lost
    because the reader raised before decoding the chunk they were in."""
    data = seed_silk.read_bytes()
    cut = tmp_path / "cut.rw"
    cut.write_bytes(data[:-40])
    status = rwsilk2vpc.main(["--no-titles", str(cut)])
    out, err = capsys.readouterr()
    assert 1 == status
    assert SEED_RECORDS - 1 == len(out.splitlines())
    got = RECORD_SIZE - 40
    assert (
        f"rwsilk2vpc: Read incomplete record ({got} of {RECORD_SIZE} "
        f"bytes) from '{cut}'\n"
    ) == err


def test_rwsilk2vpc_reads_a_named_pipe(
    seed_silk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named pipe (``rwsilk2vpc <(rwfilter ...)``) is read like any
    SiLK tool reads it; it was refused as 'Not a regular file'."""
    fifo = tmp_path / "flows.fifo"
    os.mkfifo(fifo)
    data = seed_silk.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    status = rwsilk2vpc.main(["--no-titles", str(fifo)])
    writer.join()
    out, err = capsys.readouterr()
    assert (0, "") == (status, err)
    assert SEED_RECORDS == len(out.splitlines())


def test_rwsilk2vpc_directory_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory given as a SiLK file: named as the OS names it."""
    status = rwsilk2vpc.main([str(tmp_path)])
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert f"rwsilk2vpc: Cannot open '{tmp_path}': Is a directory\n" == err


def test_time_switch_beyond_what_a_map_holds(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--at past 2^32-1 s (a map's 32-bit times) is a usage error; it was
    an OverflowError traceback."""
    status = rwvpcmaplookup.main(
        [f"--map={seed_map}", "--at=99999999999999999999", "10.1.1.50"]
    )
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert (
        "rwvpcmaplookup: Invalid at '99999999999999999999': Value out of "
        "range 0-4294967295 (1970/01/01T00:00:00-2106/02/07T06:28:15)\n"
        "Use 'rwvpcmaplookup --help' for usage\n"
    ) == err


def test_start_time_after_2106_in_rwvpcmapcat(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--start-time=5000000000 (year 2128) is refused; the table code
    raised 'out of bounds for uint32'."""
    status = rwvpcmapcat.main(["--start-time=5000000000", str(seed_map)])
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert (
        "rwvpcmapcat: Invalid start-time '5000000000': Value out of range "
        "0-4294967295 (1970/01/01T00:00:00-2106/02/07T06:28:15)\n"
        "Use 'rwvpcmapcat --help' for usage\n"
    ) == err


def test_config_file_that_is_not_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A binary --config-file: a message naming it; it was a
    UnicodeDecodeError traceback."""
    config = tmp_path / "flows.rw.yaml"
    config.write_bytes(b"action: all\n\x8b\x00\xff")
    status = rwvpc2silk.main(
        [f"--config-file={config}", "--dry-run", str(SEED_LOG)]
    )
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert (
        f"rwvpc2silk: Invalid configuration '{config}': Not UTF-8 text "
        "(byte 12)\n"
    ) == err


def test_root_directory_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--root-directory naming a regular file is a usage error in SiLK's
    words; it was "Cannot read ledger '.../.rwvpc2silk-ledger'"."""
    root = tmp_path / "repo"
    root.write_bytes(b"not a directory")
    status = rwvpc2silk.main([f"--root-directory={root}", str(SEED_LOG)])
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert (
        f"rwvpc2silk: Invalid root-directory: Not a directory '{root}'\n"
        "Use 'rwvpc2silk --help' for usage\n"
    ) == err
    assert b"not a directory" == root.read_bytes()


def test_missing_root_directory_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A root that does not exist yet is created with its silk.conf (a
    first conversion needs no set-up)."""
    root = tmp_path / "new" / "repo"
    status = rwvpc2silk.main(
        ["--action=all", f"--root-directory={root}", str(SEED_LOG)]
    )
    capsys.readouterr()
    assert 0 == status
    assert (root / "silk.conf").is_file()
    hourly = [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.parent != root
    ]
    records = 0
    for path in hourly:
        with FlowReader(path) as reader:
            records += len(reader.read_all())
    assert SEED_RECORDS == records


@pytest.mark.parametrize(
    ("value", "replaced"),
    [("", False), ("0", False), ("00", False), ("1", True), ("yes", True)],
)
def test_silk_clobber_follows_silk(
    value: str,
    replaced: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SILK_CLOBBER allows replacing an output only when set, non-empty
    and not starting with 0 (skstream's rule), in rwvpc2silk as in the
    map tools; "0" used to mean clobber here."""
    monkeypatch.setenv("SILK_CLOBBER", value)
    out = tmp_path / "seed.rw"
    out.write_bytes(b"old")
    status = rwvpc2silk.main(
        ["--action=all", f"--output-path={out}", str(SEED_LOG)]
    )
    _, err = capsys.readouterr()
    if replaced:
        assert 0 == status
        assert "File exists" not in err
        with FlowReader(out) as reader:
            assert SEED_RECORDS == len(reader.read_all())
    else:
        assert 1 == status
        assert (
            "rwvpc2silk: Will not create new file over existing file "
            f"'{out}': File exists\n"
        ) == err
        assert b"old" == out.read_bytes()


def test_time_past_2106_is_a_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """start=2^63-1 names file and line and is counted; the good lines
    are kept.  It was written as a flow of the year 292278994."""
    log = tmp_path / "huge.log"
    huge = str(2**63 - 1)
    log.write_text(
        "\n".join([HEADER, line(), line(start=huge, end=huge), line()]) + "\n"
    )
    out = tmp_path / "out.rw"
    status = rwvpc2silk.main(
        ["--action=all", "--verbose", f"--output-path={out}", str(log)]
    )
    err = capsys.readouterr().err
    assert 0 == status
    assert (
        f"rwvpc2silk: {log}:3: start: Value '{huge}' out of range "
        "0-4294967295999\n"
    ) in err
    with FlowReader(out) as reader:
        assert 2 == len(reader.read_all())


def test_dask_scheduler_that_answers_garbage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --dask-scheduler address where some other server answers: a
    message, exit 1; the client's MemoryError was a traceback."""

    def garbage(*_args: object, **_kwargs: object) -> object:
        raise MemoryError("Unable to allocate 3.07 EiB")

    monkeypatch.setattr(pysilk_ext.daskjobs, "dask_submitter", garbage)
    status = rwvpc2silk.main(
        ["--dask-scheduler=tcp://127.0.0.1:9", "--dry-run", str(SEED_LOG)]
    )
    out, err = capsys.readouterr()
    assert (1, "") == (status, out)
    assert (
        "rwvpc2silk: Cannot connect to Dask scheduler 'tcp://127.0.0.1:9': "
        "Unexpected reply (MemoryError)\n"
    ) == err


def test_sigterm_stops_like_an_interrupt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SIGTERM ends a command's body as Ctrl-C does (writers abort and
    remove their temporaries), with status 128+15; the handler is put
    back afterwards.  It killed the process, leaving temporaries."""
    before = signal.getsignal(signal.SIGTERM)

    def body() -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        return 0

    status = _app.run("rwvpc2silk", body)
    assert 128 + signal.SIGTERM == status
    assert "rwvpc2silk: Interrupted\n" == capsys.readouterr().err
    assert before == signal.getsignal(signal.SIGTERM)


def test_rerun_removes_temporaries_of_a_killed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run killed (SIGKILL) before its first commit leaves dot-file
    temporaries; the next run into the same directory removes those of
    dead writers and keeps a live writer's.  They stayed for ever: only
    an append to an existing file swept them."""
    root = tmp_path / "repo"
    day = root / "inweb" / "2023" / "07" / "26"
    day.mkdir(parents=True)
    probe = subprocess.Popen(["true"])  # its PID is dead once reaped
    probe.wait()
    dead = day / f".iw-eni-0_20230726.00.{probe.pid}.0a1b2c3d.tmp"
    live = day / f".iw-eni-0_20230726.00.{os.getpid()}.0a1b2c3d.tmp"
    dead.write_bytes(b"partial")
    live.write_bytes(b"partial")
    status = rwvpc2silk.main(
        ["--action=all", f"--root-directory={root}", str(SEED_LOG)]
    )
    capsys.readouterr()
    assert 0 == status
    assert (False, True) == (dead.exists(), live.exists())


# -- fields that contradict each other; gzip trailing data ----------------

#: line number -> (reason, message) of the bad lines of ``mixed_log``
MIXED_BAD = {
    3: (
        "wrong-family",
        "srcaddr: IPv6 address '2001:db8::1' in an IPv4 record",
    ),
    4: (
        "wrong-family",
        "dstaddr: IPv4 address '198.51.100.7' in an IPv6 record",
    ),
    5: ("missing-time", "start: Missing value '-' in a flow record"),
    6: (
        "end-before-start",
        "end: Value '1785542400' is before start '1785542500'",
    ),
}


@pytest.fixture
def mixed_log(tmp_path: Path) -> Path:
    """A v5 log: a good line, the four faults of MIXED_BAD, a NODATA line
    (times and addresses '-', which is good), a good line."""
    lines = [
        HEADER,
        line(),
        line(srcaddr="2001:db8::1"),
        line(type="IPv6", srcaddr="2001:db8::2"),
        line(start="-"),
        line(start="1785542500", end="1785542400"),
        line(
            log_status="NODATA",
            start="-",
            end="-",
            srcaddr="-",
            dstaddr="-",
            action="-",
        ),
        line(),
    ]
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def _messages(prog: str, path: Path) -> list[str]:
    return [f"{prog}: {path}:{n}: {m}" for n, (_, m) in MIXED_BAD.items()]


def test_contradicting_fields_are_bad_lines_in_rwvpc2silk(
    mixed_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An IPv6 address in an IPv4 record (and the reverse), a flow with
    start '-', end before start: each is a bad line naming file and line
    (--verbose), in the bad-lines file, and counted by reason; the good
    lines are written.  The first was written as a ::ffff: address, the
    others only counted as skipped records, without file or line."""
    out = tmp_path / "out.rw"
    bad_file = tmp_path / "bad.txt"
    status = rwvpc2silk.main(
        [
            "--action=all",
            "--verbose",
            "--print-statistics=stderr",
            f"--bad-input-lines={bad_file}",
            f"--output-path={out}",
            str(mixed_log),
        ]
    )
    err = capsys.readouterr().err.splitlines()
    assert 0 == status
    assert _messages("rwvpc2silk", mixed_log) == [
        e for e in err if e.startswith(f"rwvpc2silk: {mixed_log}:")
    ]
    assert [
        [str(mixed_log), str(n), reason]
        for n, (reason, _) in MIXED_BAD.items()
    ] == [b.split(":")[:3] for b in bad_file.read_text().splitlines()]
    by_reason = err[err.index("Bad input lines by reason:") + 1 :][:3]
    assert [
        ["end-before-start:", "1"],
        ["missing-time:", "1"],
        ["wrong-family:", "2"],
    ] == [row.split() for row in by_reason]
    with FlowReader(out) as reader:
        assert 2 == len(reader.read_all())


def test_contradicting_fields_are_bad_lines_in_rwvpcstats(
    mixed_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rwvpcstats counts the same lines as bad, by reason, and the NODATA
    line as a status record."""
    status = rwvpcstats.main(["--verbose", str(mixed_log)])
    out, err = capsys.readouterr()
    assert 0 == status
    assert _messages("rwvpcstats", mixed_log) == err.splitlines()
    rows = [
        [cell.strip() for cell in row.split("|")[:-1]]
        for row in out.splitlines()
    ]
    header = rows[0]
    total = dict(zip(header, rows[1], strict=True))
    assert ("3", "1", "4") == (total["records"], total["nodata"], total["bad"])
    reasons = rows[rows.index(["reason", "bad"]) + 1 :]
    assert [
        ["end-before-start", "1"],
        ["missing-time", "1"],
        ["wrong-family", "2"],
    ] == reasons[:3]


def test_contradicting_fields_are_bad_lines_in_rwvpcmapbuild(
    mixed_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rwvpcmapbuild reports them too: such a record binds nothing."""
    status = rwvpcmapbuild.main(
        [
            "--verbose",
            f"--output-path={tmp_path / 'm.vpcmap'}",
            str(mixed_log),
        ]
    )
    err = capsys.readouterr().err
    assert 0 == status
    assert _messages("rwvpcmapbuild", mixed_log) == err.splitlines()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_bad_windows_are_named_with_workers(
    mixed_log: Path,
    tmp_path: Path,
    workers: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --workers the bad lines come back from the worker processes:
    the same messages in input order, the same bad-lines file, the same
    counts as one process."""
    second = tmp_path / "second.log"
    second.write_bytes(mixed_log.read_bytes())
    bad_file = tmp_path / "bad.txt"
    status = rwvpc2silk.main(
        [
            "--action=all",
            "--verbose",
            f"--workers={workers}",
            f"--bad-input-lines={bad_file}",
            "--no-progress",
            "--print-statistics=stderr",
            f"--root-directory={tmp_path / 'repo'}",
            str(mixed_log),
            str(second),
        ]
    )
    err = capsys.readouterr().err.splitlines()
    assert 0 == status
    expected = _messages("rwvpc2silk", mixed_log) + _messages(
        "rwvpc2silk", second
    )
    assert expected == [e for e in err if ".log:" in e]
    written = [b.split(":")[:3] for b in bad_file.read_text().splitlines()]
    assert [
        [str(path), str(n), reason]
        for path in (mixed_log, second)
        for n, (reason, _) in MIXED_BAD.items()
    ] == written
    by_reason = err[err.index("Bad input lines by reason:") + 1 :][:3]
    assert [
        ["end-before-start:", "2"],
        ["missing-time:", "2"],
        ["wrong-family:", "4"],
    ] == [row.split() for row in by_reason]


def test_trailing_gzip_data_has_its_own_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes after the last gzip member are counted as trailing-data (it
    was truncated-gzip, against its own message), and the last record,
    whole but without a newline, is kept (it was lost)."""
    path = tmp_path / "tail.log.gz"
    text = "\n".join([HEADER, line(), line()])
    path.write_bytes(gzip.compress(text.encode()) + b"not gzip")
    status = rwvpcstats.main(["--verbose", str(path)])
    out, err = capsys.readouterr()
    assert 0 == status
    assert (
        f"rwvpcstats: {path}:4: Trailing data after the last gzip member\n"
    ) == err
    rows = [[c.strip() for c in r.split("|")[:-1]] for r in out.splitlines()]
    total = dict(zip(rows[0], rows[1], strict=True))
    assert ("2", "1") == (total["records"], total["bad"])
    assert ["trailing-data", "1"] == rows[rows.index(["reason", "bad"]) + 1]
