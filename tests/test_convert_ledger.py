# SPDX-License-Identifier: MIT
"""The ledger: converted inputs, and undoing unfinished transactions.

The repository side is a real :class:`RepositoryWriter` whose
``before_commit`` hook is the ledger's; "killing" a run is simulated by
closing a ledger without committing (its lock released, as a dead
process's is).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.convert.ledger import LEDGER_NAME, InputId, Ledger
from pysilk_ext.silkfmt.appender import CommitIntent, RepositoryWriter
from pysilk_ext.silkfmt.flowfile import FlowReader
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.siteconf import load_siteconf
from tests.conftest import REPO

SITE = REPO / "share" / "silk.conf"
HOUR = 1_785_542_400_000


def rows(
    n: int, *, sensor: int = 3, hour: int = 0, start: int = 0
) -> np.ndarray:
    """``n`` distinct IPv4 records of one hourly file."""
    out = np.zeros(n, FLOW_DTYPE)
    out["stime"] = HOUR + hour * 3_600_000 + np.arange(n) * 1000
    out["sport"] = start + np.arange(n)
    out["proto"] = 6
    out["packets"] = 1
    out["sensor"] = sensor
    out["flowtype"] = 4
    for col in ("sip", "dip", "nhip"):
        out[col][:, 10:12] = 0xFF
    return out


def all_records(root: Path) -> list[int]:
    """sPort of every record in the repository (sorted)."""
    ports: list[int] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.parent != root:
            with FlowReader(path) as reader:
                ports.extend(reader.read_all()["sport"].tolist())
    return sorted(ports)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty repository with the bundled silk.conf."""
    path = tmp_path / "repo"
    path.mkdir()
    shutil.copy(SITE, path / "silk.conf")
    return path


def writer(root: Path, ledger: Ledger) -> RepositoryWriter:
    """A writer whose commits the ledger records."""
    return RepositoryWriter(
        root,
        load_siteconf(root / "silk.conf"),
        durable=False,
        before_commit=ledger.before_commit,
    )


def entry(name: str) -> dict[str, object]:
    """A commit entry for a made-up input."""
    return {"input": name, "key": name, "size": 1, "mtime_ns": 2}


def test_input_identity(tmp_path: Path) -> None:
    """AWS objects are known by name and size (local or s3://); other
    files by path and mtime, other s3:// objects by URL and ETag."""
    aws = (
        tmp_path
        / "a"
        / (
            "111122223333_vpcflowlogs_us-east-1_fl-0123456789abcdef0_"
            "20260801T0000Z_abcd1234.log.gz"
        )
    )
    aws.parent.mkdir()
    aws.write_bytes(b"x" * 10)
    copy = tmp_path / "b" / aws.name
    copy.parent.mkdir()
    shutil.copy(aws, copy)
    assert InputId.of(str(aws)) == InputId.of(str(copy))
    assert InputId(f"aws:{aws.name}", 10, None) == InputId.of(str(aws))
    plain = tmp_path / "flows.log"
    plain.write_text("x")
    ident = InputId.of(str(plain))
    assert ident is not None
    assert (str(plain.resolve()), 1) == (ident.key, ident.size)
    assert InputId.of("-") is None
    url = f"s3://bucket/AWSLogs/x/{aws.name}"
    assert InputId.of(str(aws)) == InputId.of(url, 10, "etag1")
    other = InputId.of("s3://bucket/logs/flows.log", 7, "etag2")
    assert InputId("s3://bucket/logs/flows.log#etag2", 7, None) == other


def test_committed_inputs_are_remembered(root: Path) -> None:
    """A commit lists inputs; a new ledger of the root knows them."""
    with Ledger(root) as ledger:
        out = writer(root, ledger)
        out.write(rows(5))
        out.flush()
        ledger.commit([entry("one")])
    again = Ledger(root)
    assert again.converted(InputId("one", 1, 2))
    assert not again.converted(InputId("two", 1, 2))
    assert 0 == again.pending_transactions
    ops = [
        json.loads(line)["op"]
        for line in (root / LEDGER_NAME).read_text().splitlines()
    ]
    assert ["begin", "intent", "commit"] == ops


def test_dead_run_is_rolled_back(root: Path) -> None:
    """Commits without a commit line are undone by the next run."""
    with Ledger(root) as first:
        out = writer(root, first)
        out.write(rows(5))
        out.flush()
        first.commit([entry("one")])
    before = all_records(root)
    dead = Ledger(root)
    out = writer(root, dead)
    out.write(rows(3, start=100))  # appends to the existing file
    out.write(rows(2, sensor=4, start=200))  # creates a new file
    out.flush()
    dead.close()  # killed: no commit line; its lock is gone
    assert sorted([*before, 100, 101, 102, 200, 201]) == all_records(root)
    recovery = Ledger(root).recover()
    assert (1, 1, 1) == (
        recovery.transactions,
        recovery.files_restored,
        recovery.files_removed,
    )
    assert before == all_records(root)
    assert 0 == Ledger(root).pending_transactions


def test_live_run_is_left_alone(root: Path) -> None:
    """A transaction whose run still holds its lock is not touched."""
    live = Ledger(root)
    out = writer(root, live)
    out.write(rows(4))
    out.flush()
    assert 1 == Ledger(root).pending_transactions
    assert 0 == Ledger(root).recover().transactions
    assert 4 == len(all_records(root))
    live.commit([entry("late")])
    live.close()
    assert Ledger(root).converted(InputId("late", 1, 2))


def test_abort_undoes_the_open_transaction(root: Path) -> None:
    """abort() (an error in the run) rolls back its own commits."""
    with Ledger(root) as ledger:
        out = writer(root, ledger)
        out.write(rows(3))
        out.flush()
        ledger.commit([entry("kept")])
        out.write(rows(3, start=50))
        out.write(rows(3, hour=1, start=60))
        out.flush()
        report = ledger.abort()
    assert (1, 1) == (report.files_restored, report.files_removed)
    assert [0, 1, 2] == all_records(root)


def test_several_commits_of_one_file_undo_to_the_first(root: Path) -> None:
    """A file committed twice in a transaction goes back to its start."""
    with Ledger(root) as first:
        out = writer(root, first)
        out.write(rows(2))
        out.flush()
        first.commit([entry("base")])
    dead = Ledger(root)
    out = writer(root, dead)
    for start in (10, 20, 30):
        out.write(rows(2, start=start))
        out.flush()
    dead.close()
    assert 8 == len(all_records(root))
    assert 1 == Ledger(root).recover().files_restored
    assert [0, 1] == all_records(root)


def test_replaced_by_another_writer_is_a_conflict(root: Path) -> None:
    """A file replaced after our commit is reported, not cut."""
    dead = Ledger(root)
    out = writer(root, dead)
    out.write(rows(2))
    out.flush()
    dead.close()
    (path,) = [p for p in root.rglob("*") if p.is_file() and p.parent != root]
    other = RepositoryWriter(root, load_siteconf(root / "silk.conf"))
    other.write(rows(2, start=9))  # rename: a new inode
    other.close()
    recovery = Ledger(root).recover()
    assert [str(path)] == recovery.conflicts
    assert 4 == len(all_records(root))


def test_torn_last_line_is_ignored(root: Path) -> None:
    """A line cut by a crash is skipped; the next write starts afresh."""
    with Ledger(root) as ledger:
        ledger.commit([entry("one")])
    with open(root / LEDGER_NAME, "a") as fp:
        fp.write('{"op":"commit","run":"x","txn":9,"inp')
    ledger = Ledger(root)
    assert 1 == ledger.recover().torn_lines
    ledger.commit([entry("two")])
    ledger.close()
    again = Ledger(root)
    assert again.converted(InputId("two", 1, 2))
    assert again.converted(InputId("one", 1, 2))


def test_before_commit_announces_each_commit(root: Path) -> None:
    """The writer's hook sees old and new inode and the old length."""
    seen: list[CommitIntent] = []
    out = RepositoryWriter(
        root, load_siteconf(root / "silk.conf"), before_commit=seen.append
    )
    out.write(rows(2))
    out.flush()
    (path,) = [p for p in root.rglob("*") if p.is_file() and p.parent != root]
    size, inode = path.stat().st_size, path.stat().st_ino
    out.write(rows(1, start=5))
    out.flush()
    assert [None, inode] == [s.old_inode for s in seen]
    assert [0, size] == [s.old_end for s in seen]
    assert [inode, path.stat().st_ino] == [s.new_inode for s in seen]
    assert [2, 1] == [s.records for s in seen]


def test_failing_hook_cancels_the_commit(root: Path) -> None:
    """An exception in before_commit leaves the file as it was."""

    def refuse(intent: CommitIntent) -> None:
        raise OSError(28, "No space left on device")

    out = RepositoryWriter(
        root, load_siteconf(root / "silk.conf"), before_commit=refuse
    )
    out.write(rows(2))
    with pytest.raises(OSError, match="No space"):
        out.flush()
    assert [] == all_records(root)


def test_commit_rows_commits_each_file_once(root: Path) -> None:
    """commit_rows: one commit per hourly file, records in given order."""
    seen: list[CommitIntent] = []
    out = RepositoryWriter(
        root, load_siteconf(root / "silk.conf"), before_commit=seen.append
    )
    batch = np.concatenate(
        [
            rows(3, sensor=s, hour=h, start=10 * s + h)
            for s in (3, 4)
            for h in (0, 1)
        ]
    )
    out.commit_rows(batch[::-1].copy())
    assert 4 == len(seen)
    assert 12 == out.stats.records_written
    assert sorted(batch["sport"].tolist()) == all_records(root)


def test_lock_file_of_a_live_run(root: Path) -> None:
    """A run's lock file exists while it lives and is gone after."""
    ledger = Ledger(root)
    ledger.start()
    locks = list(root.glob(f"{LEDGER_NAME}.*.lock"))
    assert 1 == len(locks)
    fd = os.open(locks[0], os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    ledger.close()
    assert [] == list(root.glob(f"{LEDGER_NAME}.*.lock"))


def test_commit_rows_orders_each_file_by_within(root: Path) -> None:
    """within= orders the records inside each file (ties keep order)."""
    out = RepositoryWriter(root, load_siteconf(root / "silk.conf"))
    batch = np.concatenate([rows(4, sensor=3), rows(4, sensor=4, start=10)])
    within = np.array([3, 1, 2, 1, 9, 8, 7, 6], dtype=np.uint64)
    out.commit_rows(batch, within)
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.parent != root
    )
    got = []
    for path in files:
        with FlowReader(path) as reader:
            got.append(reader.read_all()["sport"].tolist())
    assert [[1, 3, 2, 0], [13, 12, 11, 10]] == got
