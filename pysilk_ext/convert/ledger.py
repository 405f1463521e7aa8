# SPDX-License-Identifier: MIT
"""Which inputs a repository already holds, and undoing interrupted runs.

Why: rwvpc2silk must be re-runnable on the same inputs (a cron job over
a synced S3 bucket, a retry after a crash) without duplicating records.
Each hourly file is committed atomically by
:class:`~pysilk_ext.silkfmt.appender.RepositoryWriter`, but an input's
records land in many hourly files, so a run killed between two commits
leaves some of them in the repository.  The ledger makes the unit of
work a *transaction* of whole inputs:

* before each hourly-file commit becomes visible, an ``intent`` line
  records how to undo it (the writer's ``before_commit`` hook: old inode
  and valid length, new inode);
* once the writer has flushed every record of some inputs, one
  ``commit`` line lists them (path, identity, size, records);
* a later run first rolls back every transaction that has intents but no
  ``commit`` and whose run is dead (its lock file is not locked): each
  touched hourly file is cut back to its old length, or removed if the
  transaction created it, and a ``rollback`` line is written.  The
  inputs of that transaction were never listed, so they are converted
  again -- once.  A commit that rewrote a file instead of appending to
  it (an FT_RWGENERIC file upgraded for IPv6 records) names a hard link
  to the old file (``backup``); undoing it renames that link back, and
  the end of the transaction (commit or rollback) removes it.

The ledger is ``ROOT/.rwvpc2silk-ledger``, JSON lines appended with one
``write()`` each (``O_APPEND``), so concurrent runs over disjoint inputs
can share it; each run holds an exclusive ``flock`` on
``ROOT/.rwvpc2silk-ledger.RUN.lock`` while it lives.  Dot-files are
invisible to SiLK's tools.

Identity of an input: an AWS log object (its name says account, flow log
and window: ``..._fl-..._20260801T0000Z_hash.log.gz``) is known by that
name and its size, so a copy synced elsewhere (or the object read from
``s3://``) is still recognised; any other ``s3://`` object by its URL,
ETag and size; any other file by its absolute path, size and
modification time.  The standard input has no identity and is always
converted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysilk_ext.errors import ConvertError
from pysilk_ext.s3keys import parse_log_key
from pysilk_ext.silkfmt.appender import CommitIntent

__all__ = [
    "LEDGER_NAME",
    "InputId",
    "Ledger",
    "Recovery",
    "ledger_path",
]

LEDGER_NAME = ".rwvpc2silk-ledger"
_LOCK_SUFFIX = ".lock"


@dataclass(frozen=True, slots=True)
class InputId:
    """What makes two inputs "the same" for the ledger (see module doc)."""

    key: str
    size: int
    mtime_ns: int | None

    @classmethod
    def of(
        cls, path: str, size: int | None = None, etag: str | None = None
    ) -> InputId | None:
        """Return the identity of input ``path`` (None for stdin).

        ``size`` and ``etag`` come from an ``s3://`` listing; a local file
        is examined.

        Raises:
            OSError: the file cannot be examined.
        """
        if path == "-":
            return None
        remote = path.startswith(("s3://", "s3a://"))
        if remote:
            nbytes, mtime_ns = size or 0, None
        else:
            st = os.stat(path)
            nbytes, mtime_ns = st.st_size, st.st_mtime_ns
        name = os.path.basename(path)
        key = parse_log_key(name)  # the object name alone says it
        if key is not None and key.flow_log_id is not None:
            return cls(f"aws:{name}", nbytes, None)
        if remote:
            return cls(f"{path}#{etag or ''}", nbytes, None)
        return cls(os.path.realpath(path), nbytes, mtime_ns)

    def as_json(self) -> dict[str, Any]:
        """The identity as ledger fields."""
        return {"key": self.key, "size": self.size, "mtime_ns": self.mtime_ns}


@dataclass(slots=True)
class Recovery:
    """What :meth:`Ledger.recover` did."""

    transactions: int = 0
    files_restored: int = 0
    files_removed: int = 0
    conflicts: list[str] = field(default_factory=list)
    torn_lines: int = 0


@dataclass(slots=True)
class _Txn:
    run: str
    txn: int
    intents: list[dict[str, Any]] = field(default_factory=list)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """The ledger of one repository root (see the module doc).

    Args:
        root: the repository root (``--root-directory``).
        durable: fsync each line before the commit it describes (needed
            to survive a power loss; a killed process needs no fsync).

    Raises:
        ConvertError: the ledger cannot be read or created.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, durable: bool = True
    ) -> None:
        self.root = os.fspath(root)
        self.path = os.path.join(self.root, LEDGER_NAME)
        self.durable = durable
        self.run = secrets.token_hex(6)
        self._converted: set[InputId] = set()
        self._open: dict[tuple[str, int], _Txn] = {}
        # backups of committed transactions a dead run did not remove
        self._stale_backups: list[str] = []
        self._torn = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._txn = 0
        self._txn_open = False
        self._intents: list[dict[str, Any]] = []
        self._load()

    # -- reading ------------------------------------------------------------

    def _lines(self) -> Iterator[dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as fp:
                for line in fp:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        self._torn += 1
                        continue
                    if isinstance(item, dict):
                        yield item
                    else:
                        self._torn += 1
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConvertError(
                f"Cannot read ledger '{self.path}': {exc.strerror}"
            ) from None

    def _load(self) -> None:
        for item in self._lines():
            op = item.get("op")
            tid = (str(item.get("run")), int(item.get("txn", 0)))
            if op == "begin":
                self._open[tid] = _Txn(*tid)
            elif op == "intent" and tid in self._open:
                self._open[tid].intents.append(item)
            elif op in ("commit", "rollback"):
                done = self._open.pop(tid, None)
                if done is not None:
                    self._stale_backups.extend(_backups(done.intents))
                if op == "commit":
                    for entry in item.get("inputs", []):
                        self._converted.add(
                            InputId(
                                str(entry["key"]),
                                int(entry["size"]),
                                entry.get("mtime_ns"),
                            )
                        )

    def converted(self, ident: InputId | None) -> bool:
        """True when an input with this identity was committed before."""
        return ident is not None and ident in self._converted

    @property
    def pending_transactions(self) -> int:
        """Transactions begun and neither committed nor rolled back."""
        return len(self._open)

    # -- recovery -------------------------------------------------------------

    def recover(self) -> Recovery:
        """Roll back the unfinished transactions of dead runs.

        Runs still alive (their lock file is locked) are left alone.
        """
        report = Recovery(torn_lines=self._torn)
        self._remove_backups(self._stale_backups)
        self._stale_backups = []
        by_run: dict[str, list[_Txn]] = {}
        for txn in self._open.values():
            by_run.setdefault(txn.run, []).append(txn)
        for run, txns in by_run.items():
            with self._dead_run(run) as dead:
                if not dead:
                    continue
                for txn in txns:
                    self._roll_back(txn.run, txn.txn, txn.intents, report)
                    self._open.pop((txn.run, txn.txn), None)
        return report

    @contextlib.contextmanager
    def _dead_run(self, run: str) -> Iterator[bool]:
        """Yield True (holding its lock) when run ``run`` is not alive."""
        lock_path = self._lock_path(run)
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            yield True
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
        finally:
            os.close(fd)

    def _roll_back(
        self,
        run: str,
        txn: int,
        intents: list[dict[str, Any]],
        report: Recovery,
    ) -> None:
        by_path: dict[str, list[dict[str, Any]]] = {}
        for item in intents:
            by_path.setdefault(str(item["path"]), []).append(item)
        undone: list[str] = []
        for rel, chain in by_path.items():
            outcome = _undo_chain(os.path.join(self.root, rel), chain,
                                  self.root)  # fmt: skip
            if outcome == "restored":
                report.files_restored += 1
                undone.append(rel)
            elif outcome == "removed":
                report.files_removed += 1
                undone.append(rel)
            elif outcome == "conflict":
                report.conflicts.append(os.path.join(self.root, rel))
        self._remove_backups(_backups(intents))
        report.transactions += 1
        self._append(
            {
                "op": "rollback",
                "run": run,
                "txn": txn,
                "by": self.run,
                "time": _now(),
                "undone": undone,
            },
            sync=True,
        )

    # -- writing ------------------------------------------------------------

    def _lock_path(self, run: str) -> str:
        return f"{self.path}.{run}{_LOCK_SUFFIX}"

    def start(self) -> None:
        """Take this run's lock; call before the first commit.

        Raises:
            ConvertError: the repository root is not writable.
        """
        if self._lock_fd is not None:
            return
        try:
            os.makedirs(self.root, exist_ok=True)
            fd = os.open(
                self._lock_path(self.run), os.O_RDWR | os.O_CREAT, 0o644
            )
        except OSError as exc:
            raise ConvertError(
                f"Cannot create ledger lock in '{self.root}': {exc.strerror}"
            ) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def _append(self, item: dict[str, Any], *, sync: bool) -> None:
        self._append_all([item], sync=sync)

    def _append_open(self) -> None:
        if self._fd is None:
            try:
                self._fd = os.open(
                    self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
                )
                size = os.fstat(self._fd).st_size
                if size and not self._ends_with_newline(size):
                    os.write(self._fd, b"\n")  # after a torn last line
            except OSError as exc:
                raise ConvertError(
                    f"Cannot write ledger '{self.path}': {exc.strerror}"
                ) from None

    def _append_all(
        self, items: Sequence[dict[str, Any]], *, sync: bool
    ) -> None:
        """Append lines with one ``write()`` (``O_APPEND``: not interleaved
        with another run's lines)."""
        if self._fd is None:
            self._append_open()
        assert self._fd is not None  # noqa: S101
        text = "".join(
            json.dumps(item, separators=(",", ":"), sort_keys=True) + "\n"
            for item in items
        )
        data = text.encode("utf-8")
        done = 0
        while done < len(data):
            done += os.write(self._fd, data[done:])
        if sync and self.durable:
            os.fsync(self._fd)

    def _ends_with_newline(self, size: int) -> bool:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return os.pread(fd, 1, size - 1) == b"\n"
        finally:
            os.close(fd)

    def before_commit(self, intent: CommitIntent) -> None:
        """The writer's ``before_commit`` hook: log how to undo it."""
        self.before_commits([intent])

    def before_commits(self, intents: Sequence[CommitIntent]) -> None:
        """The writer's ``before_commits`` hook: log a batch of commits.

        One write and one fsync for the whole batch (the writer publishes
        none of them before this returns).
        """
        if not intents:
            return
        self.start()
        lines: list[dict[str, Any]] = []
        if not self._txn_open:
            self._txn += 1
            self._txn_open = True
            lines.append(
                {
                    "op": "begin",
                    "run": self.run,
                    "txn": self._txn,
                    "pid": os.getpid(),
                    "time": _now(),
                }
            )
        for intent in intents:
            item = {
                "op": "intent",
                "run": self.run,
                "txn": self._txn,
                "path": os.path.relpath(intent.path, self.root),
                "old_inode": intent.old_inode,
                "old_end": intent.old_end,
                "new_inode": intent.new_inode,
                "records": intent.records,
            }
            if intent.backup is not None:
                item["backup"] = os.path.relpath(intent.backup, self.root)
            self._intents.append(item)
            lines.append(item)
        self._append_all(lines, sync=True)

    def commit(self, inputs: Iterable[dict[str, Any]]) -> None:
        """Record that every record of ``inputs`` is in the repository.

        Call after the writer's ``flush()``.  Each entry holds at least
        the :meth:`InputId.as_json` fields; inputs without identity
        (stdin) are left out by the caller.
        """
        entries = list(inputs)
        if not entries and not self._txn_open:
            return
        self.start()
        if not self._txn_open:
            self._txn += 1
            self._append(
                {
                    "op": "begin",
                    "run": self.run,
                    "txn": self._txn,
                    "pid": os.getpid(),
                    "time": _now(),
                },
                sync=False,
            )
        self._append(
            {
                "op": "commit",
                "run": self.run,
                "txn": self._txn,
                "time": _now(),
                "inputs": entries,
            },
            sync=True,
        )
        for entry in entries:
            self._converted.add(
                InputId(
                    str(entry["key"]), int(entry["size"]), entry["mtime_ns"]
                )
            )
        self._remove_backups(_backups(self._intents))
        self._txn_open = False
        self._intents = []

    def _remove_backups(self, backups: Iterable[str]) -> None:
        """Remove the old files kept for undoing an ended transaction."""
        for rel in backups:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.root, rel))

    def abort(self) -> Recovery:
        """Undo the commits of the open transaction (after an error)."""
        report = Recovery()
        if self._txn_open:
            self._roll_back(self.run, self._txn, self._intents, report)
        self._txn_open = False
        self._intents = []
        return report

    def close(self) -> None:
        """Release the run's lock (an open transaction stays for recovery)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            if not self._txn_open:
                with contextlib.suppress(OSError):
                    os.unlink(self._lock_path(self.run))
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _backups(intents: Iterable[dict[str, Any]]) -> list[str]:
    """The backups (relative paths) named by ``intents``."""
    return [str(i["backup"]) for i in intents if i.get("backup")]


def _undo_chain(path: str, chain: list[dict[str, Any]], root: str) -> str:
    """Undo the commits of one file, newest first; return the outcome.

    ``restored`` (cut back, or its backup put back), ``removed`` (we
    created it), ``untouched`` (no commit of the chain happened) or
    ``conflict`` (another writer replaced the file since, or a needed
    backup is gone: left alone).
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return "untouched"
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        current = os.fstat(fd).st_ino
        target: dict[str, Any] | None = None
        restore: dict[str, Any] | None = None  # oldest rewrite undone
        for item in reversed(chain):
            if item["new_inode"] == current:
                target = item
                if item.get("backup"):
                    restore = item
                if item["old_inode"] is not None:
                    current = int(item["old_inode"])
        if target is None:
            # the file is neither ours nor what we found: another writer
            # replaced it, maybe copying our records (or we never got to
            # commit and it created the file): do not guess
            if chain[0]["old_inode"] == os.fstat(fd).st_ino:
                return "untouched"
            return "conflict"
        if target["old_inode"] is None:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
            return "removed"
        if restore is not None:
            backup = os.path.join(root, str(restore["backup"]))
            try:
                if os.stat(backup).st_ino != restore["old_inode"]:
                    return "conflict"
            except FileNotFoundError:
                return "conflict"
            os.rename(backup, path)  # the file as it was before the rewrite
            if target is restore:
                return "restored"
            return _undo_chain(path, chain[: chain.index(restore)], root)
        end = int(target["old_end"])
        if os.fstat(fd).st_size > end:
            os.ftruncate(fd, end)
            os.fsync(fd)
        return "restored"
    finally:
        os.close(fd)


def ledger_path(root: str | os.PathLike[str]) -> Path:
    """Return where the ledger of ``root`` lives."""
    return Path(root) / LEDGER_NAME
