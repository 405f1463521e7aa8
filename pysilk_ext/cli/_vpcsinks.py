# SPDX-License-Identifier: MIT
"""Where rwvpc2silk's records go, and how the run shows progress.

* :class:`FileSink` -- one SiLK flow file (atomic for a path) or the
  standard output, encoded and compressed by a :class:`Committer` thread
  while the next batch is converted;
* :class:`RepositorySink` -- the repository: records gathered in drains
  of :data:`DRAIN_RECORDS`, each drain committed (one commit per hourly
  file, :data:`COMMIT_WORKERS` files at a time) by a :class:`Committer`
  thread while the next one is gathered -- except the files the drain's
  last batch wrote to, which are still filling and wait for the next
  drain (:func:`split_open_files`: on 2.4 M generated records, 92 appends
  instead of 579 and 8% less time) -- and the ledger's transactions
  ending at input boundaries every :data:`CHECKPOINT_RECORDS` records or
  :data:`CHECKPOINT_SECONDS`;
* :class:`Progress` -- a one-line display on a terminal;
* :func:`bound_heap` -- keeps peak RSS flat as the input grows.

How the repository's files are made, for storage (bytes per record of
the generated v5 logs of benchmarks/bench_convert.py, where the logs'
own .log.gz take 22.7 B; each step adds to the one before):

* SiLK's own layout (FT_RWIPV6ROUTING v1, arrival order, 64 KiB zlib
  blocks at zlib's default level): 16.9 B;
* record format per file (:data:`~pysilk_ext.silkfmt.appender.
  AUTO_FORMAT`): FT_RWGENERIC v5 (52 bytes, the same fields for IPv4)
  when the records of a new file are all IPv4, FT_RWIPV6ROUTING v1
  otherwise: 15.2 B;
* record order within a file (:func:`record_order`): by duration, then
  start time: 14.9 B (sIP/dIP or start-time order gain less);
* blocks of up to :data:`LARGE_BLOCK` bytes (zlib only): 14.6 B;
* the zlib level (``--compression-level``): 6, the default, 14.7 B and
  three times as fast as zlib's own with libdeflate; 9: 14.0 B; 12:
  13.6 B at a sixth of level 6's speed; 1: 16.7 B, four times faster.

Deflate cannot go much further on fixed-width records: xz reaches
10.7 B on the same files (not a method SiLK reads).

Memory is bounded by two drains of records (the one being committed,
with at most half a drain kept back from the one before, and the one
being gathered) and the reader's read-ahead, whatever the size of the
input.  The drain being committed lives in two arrays that the
commit thread keeps from drain to drain (the gathered rows, the same rows
in file order): reused memory costs no page faults, where a fresh 23 MB
array per step had the kernel zero it first.

Where the time of a repository run goes (benchmarks/bench_convert.py,
594,003 v5 records, 48 objects, 437 hourly-file commits, 2 cores): the
commits are kernel work -- creating a file costs 0.2-0.4 ms of system
time here (ext4), one fsync per file runs in the :data:`COMMIT_WORKERS`
threads -- and the last drain's commit is the tail of every run.  One
``syncfs`` per drain instead of an fsync per file measured no faster
with four workers, and larger or adaptive drains no faster either (an
earlier drain means more appends, i.e. more new files), so the commit
stays one atomic, fsynced replacement per hourly file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from pysilk_ext.convert.ledger import Ledger
from pysilk_ext.errors import ConvertError
from pysilk_ext.silkfmt.appender import AUTO_FORMAT, RepositoryWriter
from pysilk_ext.silkfmt.compression import MAX_BLOCK_LENGTH
from pysilk_ext.silkfmt.flowfile import FlowWriter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.header import Compression
from pysilk_ext.silkfmt.repository import HOUR_MS
from pysilk_ext.silkfmt.siteconf import SiteConfig, load_siteconf

__all__ = [
    "CHECKPOINT_RECORDS",
    "CHECKPOINT_SECONDS",
    "COMMIT_WORKERS",
    "DRAIN_RECORDS",
    "LARGE_BLOCK",
    "Committer",
    "FileSink",
    "Progress",
    "RepositorySink",
    "block_size_for_method",
    "bound_heap",
    "file_keys",
    "record_order",
    "split_open_files",
]

#: A transaction (see the ledger) ends at the first input boundary after
#: this many records or seconds: fewer, larger hourly-file commits.
CHECKPOINT_RECORDS = 4_000_000
CHECKPOINT_SECONDS = 60.0
#: Records gathered before they go to the hourly files (88 bytes each).
#: Larger drains mean fewer commits per hourly file, more memory.
DRAIN_RECORDS = 1 << 18
#: Hourly files of one drain committed at once (threads: compression
#: and fsync release the GIL).
COMMIT_WORKERS = 4
#: Block size for zlib output: as large as SiLK 3.19.1 reads (1 MiB)
#: less zlib's worst-case growth, so that no block can exceed the limit.
LARGE_BLOCK = MAX_BLOCK_LENGTH - 1024
#: Seconds between two updates of the progress line.
PROGRESS_INTERVAL = 0.25
M_MMAP_THRESHOLD = -3  # mallopt(3)
#: A FLOW_DTYPE record as one opaque item (for bulk copies).
_RECORD = np.dtype((np.void, FLOW_DTYPE.itemsize))


class Progress:
    """A one-line progress display on a terminal (stderr), throttled."""

    def __init__(
        self, prog: str, stream: IO[str] | None, total_inputs: int
    ) -> None:
        self.prog = prog
        self.stream = stream
        self.total = total_inputs
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(
        self, records: int, inputs_done: int, force: bool = False
    ) -> None:
        """Show the counts if a quarter second has passed."""
        if self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        rate = records / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r{self.prog}: {records:,} records, {rate:,.0f}/s, inputs "
            f"{inputs_done}/{self.total}\x1b[K"
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Remove the line before other output."""
        if self.stream is not None and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def block_size_for_method(compression: int) -> int | None:
    """The block size to write with ``compression`` (None: SiLK's).

    Large blocks for zlib only: LZO1X and Snappy may grow incompressible
    data by more than the 1 KiB margin of :data:`LARGE_BLOCK`.
    """
    return LARGE_BLOCK if compression == Compression.ZLIB else None


class FileSink:
    """One flow file (atomic for a path) or the standard output.

    ``name`` is a path, or None for the standard output.  Batches are
    encoded, compressed and written by a :class:`Committer` thread, one
    batch at a time, while the next one is converted.
    """

    def __init__(
        self,
        name: str | None,
        *,
        byte_order: str,
        compression: int,
        invocation: str | None,
        notes: Sequence[str],
        compression_level: int | None = None,
    ) -> None:
        self.name = "stdout" if name is None else name
        dest: Any = sys.stdout.buffer if name is None else name
        try:
            self.writer = FlowWriter(
                dest,
                byte_order=byte_order,
                compression=compression,
                invocation=invocation,
                notes=notes,
                compression_level=compression_level,
                block_size=block_size_for_method(compression),
            )
        except OSError as exc:
            raise ConvertError(
                f"Cannot open '{self.name}': {exc.strerror or exc}"
            ) from None
        self._dest_is_stream = name is None
        self.committer = Committer()

    def write(self, recs: np.ndarray) -> None:
        writer = self.writer

        def task() -> None:
            writer.write(recs)

        self.committer.submit(task)

    def site_changed(self) -> None:
        """Nothing to do: a single file names no sensor paths."""

    def input_done(self, ident: dict[str, Any] | None) -> None:
        """Nothing to record for a single file."""

    def close(self) -> None:
        self.committer.finish()
        self.writer.close()
        if self._dest_is_stream:
            sys.stdout.buffer.flush()

    def abort(self) -> None:
        with contextlib.suppress(BaseException):
            self.committer.finish()  # its error is the one being handled
        self.writer.abort()

    def bytes_stored(self) -> int:
        if self._dest_is_stream:
            return 0
        try:
            return os.path.getsize(self.name)
        except OSError:
            return 0


class Committer:
    """Runs commits in a second thread, one task at a time, in order.

    Why: encoding, compressing and fsyncing the hourly files (C code and
    system calls that release the GIL) overlap with reading and
    converting the next records.  A task is handed over only when the
    previous one is done, so the records of one drain are being committed
    while the next drain's are gathered.  The first failure is kept and raised
    in the caller's thread at the next :meth:`submit` or :meth:`finish`;
    later tasks are dropped.
    """

    def __init__(self) -> None:
        self.tasks: queue.Queue[Callable[[], None] | None] = queue.Queue(1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._work, name="rwvpc2silk-commit", daemon=True
        )
        self.thread.start()

    def _work(self) -> None:
        while (task := self.tasks.get()) is not None:
            if self.error is None:
                try:
                    task()
                except BaseException as exc:  # re-raised in the caller
                    self.error = exc
            self.tasks.task_done()

    def submit(self, task: Callable[[], None]) -> None:
        """Hand ``task`` over once the previous one is done."""
        self.tasks.join()
        self._raise()
        self.tasks.put(task)

    def finish(self) -> None:
        """Wait for every task; raise the first failure."""
        if self.thread.is_alive():
            self.tasks.put(None)
            self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class RepositorySink:
    """The repository, with the ledger's transactions (see module doc)."""

    def __init__(
        self,
        root: str,
        site: SiteConfig,
        ledger: Ledger,
        site_path: Path | None,
        *,
        byte_order: str,
        compression: int,
        compression_level: int | None = None,
        workers: int = COMMIT_WORKERS,
    ) -> None:
        self.ledger = ledger
        self.site_path = site_path
        self.writer = RepositoryWriter(
            root,
            site,
            compression=compression,
            byte_order=byte_order,
            before_commit=ledger.before_commit,
            before_commits=ledger.before_commits,
            file_format=AUTO_FORMAT,
            compression_level=compression_level,
            block_size=block_size_for_method(compression),
            workers=workers,
        )
        self.committer = Committer()
        self.done: list[dict[str, Any]] = []
        self.records_since = 0
        self.since = time.monotonic()
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.site_stale = False
        # the commit thread's two drain-sized arrays (the gathered rows,
        # the same rows in file order), kept from drain to drain
        self._spare: dict[str, np.ndarray] = {}

    def write(self, recs: np.ndarray) -> None:
        """Queue records; every DRAIN_RECORDS they go to the files."""
        self.buffer.append(recs)
        self.buffered += len(recs)
        self.records_since += len(recs)
        if self.buffered >= DRAIN_RECORDS:
            self.drain(final=False)

    def drain(self, *, final: bool = True) -> None:
        """Commit the queued records: each hourly file changes once.

        Many batches at once cost one commit (copy, fsync, rename) per
        hourly file per drain; batch by batch, every batch would commit
        every file it touches.  A drain that is not ``final`` keeps the
        records of the hourly files its last batch wrote to queued for
        the next one (see :func:`split_open_files`): inputs come flow log
        by flow log in time order, so those files are still filling, and
        committing them now would make the next drain append to them -- a
        copy of each file, and on ext4 without a journal a freed inode
        that slows down every later file creation.  The split depends on
        the records and batches only (not on timing), so one process and
        the parent of ``--workers`` make the same files.  ``final`` drains
        (checkpoints, the end) commit everything, so that the ledger only
        ever lists inputs whose records are all in files.
        """
        if not self.buffer:
            return
        batches = self.buffer
        self.buffer = []
        self.buffered = 0
        masks: list[np.ndarray | None] = [None] * len(batches)
        if not final:
            kept, masks = split_open_files(batches)
            self.buffer = kept
            self.buffered = sum(len(b) for b in kept)
        if self.site_stale and self.site_path is not None:
            # a superset of the old site: safe to swap under a commit
            self.writer.site = load_siteconf(self.site_path)
            self.site_stale = False
        writer = self.writer
        spare = self._spare

        def commit() -> None:
            # in the commit thread, one drain at a time: the batches are
            # freed once gathered, and the two arrays are reused by the
            # next drain (no fresh pages for the kernel to zero)
            total = sum(
                len(b) if m is None else int(np.count_nonzero(m))
                for b, m in zip(batches, masks, strict=True)
            )
            if not total:
                return
            rows = _room(spare, "rows", total)
            # copied as opaque 88-byte items: a structured copy goes
            # field by field, some fifteen times slower
            opaque = rows.view(_RECORD)
            at = 0
            for batch, mask in zip(batches, masks, strict=True):
                part = batch.view(_RECORD)
                if mask is not None:
                    part = part[mask]
                opaque[at : at + len(part)] = part
                at += len(part)
            batches.clear()
            masks.clear()
            groups = writer.group_rows(
                rows, record_order(rows), out=_room(spare, "sorted", total)
            )
            del rows, opaque
            writer.commit_groups(groups)

        self.committer.submit(commit)

    def site_changed(self) -> None:
        """New sensors in silk.conf: reload it before the next drain."""
        self.site_stale = True

    def input_done(self, ident: dict[str, Any] | None) -> None:
        """An input's records are all queued; commit now and then."""
        if ident is not None:
            self.done.append(ident)
        if (
            self.records_since >= CHECKPOINT_RECORDS
            or time.monotonic() - self.since >= CHECKPOINT_SECONDS
        ):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Commit every queued record, then list the finished inputs."""
        self.drain()
        done, ledger = self.done, self.ledger
        self.committer.submit(lambda: ledger.commit(done))
        self.done = []
        self.records_since = 0
        self.since = time.monotonic()

    def close(self) -> None:
        """Commit everything and wait for it."""
        try:
            self.checkpoint()
            self.committer.finish()
        finally:
            self._spare.clear()
            self.writer.close()

    def abort(self) -> None:
        """Stop; undo the commits of the unfinished transaction."""
        self.buffer = []
        with contextlib.suppress(BaseException):
            self.committer.finish()  # its error is the one being handled
        self.writer.abort()
        self.ledger.abort()

    def bytes_stored(self) -> int:
        """Bytes added to the hourly files."""
        return self.writer.stats.bytes_written


def file_keys(rows: np.ndarray) -> np.ndarray:
    """One 64-bit value per row naming its hourly file: flowtype (8
    bits), sensor (16) and hour of sTime (40)."""
    return (
        (rows["flowtype"].astype(np.uint64) << np.uint64(56))
        | (rows["sensor"].astype(np.uint64) << np.uint64(40))
        | (rows["stime"] // HOUR_MS).astype(np.uint64)
    )


def split_open_files(
    batches: Sequence[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Find the records of a drain that wait for the next one.

    Returns (the kept records, copied, batch by batch; per batch a mask
    of the rows to commit now, or None for all of them).  Kept: every
    record of an hourly file that the last batch writes to, when they
    are at most half a drain and not all of the drain's records --
    memory stays bounded and every drain commits something; otherwise
    nothing.
    """
    everything: list[np.ndarray | None] = [None] * len(batches)
    if not batches or not len(batches[-1]):
        return [], everything
    still_open = np.unique(file_keys(batches[-1]))
    open_rows = [np.isin(file_keys(b), still_open) for b in batches]
    count = sum(int(np.count_nonzero(m)) for m in open_rows)
    total = sum(len(b) for b in batches)
    if count == total or count > DRAIN_RECORDS // 2:
        return [], everything
    kept = [b[m] for b, m in zip(batches, open_rows, strict=True) if m.any()]
    return kept, [~m for m in open_rows]


def _room(spare: dict[str, np.ndarray], name: str, n: int) -> np.ndarray:
    """``n`` FLOW_DTYPE rows of the reusable array ``name``.

    Sized for a whole drain (a drain ends at the first batch past
    :data:`DRAIN_RECORDS`); grown when a drain is larger still.
    """
    have = spare.get(name)
    if have is None or len(have) < n:
        have = np.empty(
            max(n, DRAIN_RECORDS + (DRAIN_RECORDS >> 4)), FLOW_DTYPE
        )
        spare[name] = have
    return have[:n]


def record_order(rows: np.ndarray) -> np.ndarray:
    """Sort values that put each file's records in (duration, sTime) order.

    ``elapsed << 22 | milliseconds into the hour`` (54 bits): records of
    equal duration and close start times end up side by side, so that
    zlib finds longer repeats -- about 3% fewer bytes than arrival or
    sIP/dIP order on generated v5 logs (benchmarks/bench_convert.py),
    for one sort per drain that grouping the records by hourly file
    needs anyway.  The order inside an hourly file means nothing to
    SiLK (rwflowpack writes arrival order).
    """
    since_hour = (rows["stime"] % HOUR_MS).astype(np.uint64)
    return (rows["elapsed"].astype(np.uint64) << np.uint64(22)) | since_hour


def bound_heap() -> None:
    """Return large freed buffers to the system at once (glibc only).

    glibc raises its mmap threshold up to 32 MiB after large blocks are
    freed, after which the drain buffers come from per-thread heaps that
    keep growing (measured: peak RSS +40% on 10x the input).  A fixed
    4 MiB threshold keeps peak RSS flat as the input grows.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 4 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
