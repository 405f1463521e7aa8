# SPDX-License-Identifier: MIT
"""Spread VPC Flow Log inputs over worker processes (or a Dask cluster).

Why: one process converts about a million records a second; an estate
writes billions a day.  Inputs (S3 objects or files) are independent, so
the work is spread by input: each worker reads, parses and converts (or
maps) a *work unit* -- a list of whole inputs -- and sends back compact
results that the parent reduces.

Design (measured with ``benchmarks/bench_parallel.py``):

**Conversion: workers convert, one appender writes.**  A worker returns,
per input, the SiLK records (88 bytes each, about four times the
``.log.gz`` bytes they came from) with *provisional* sensor numbers,
plus the sensors it met (AWS id, description ids, rows).  On one
machine the records do not travel in the result: the worker writes
them to a file in shared memory (:func:`handover_dir`) and the parent
maps it (no pickling, no pipe, no copy in the parent, and the worker
moves on at once); on Dask they come with the task's result.  With
``--dry-run`` workers send counts only.  The parent takes unit results
strictly in input order, gives the sensors
their silk.conf ids with the one
:class:`~pysilk_ext.convert.sensors.SensorAssigner` of the run (in the
order a single process would have created them, so ids do not depend on
the number of workers), rewrites the ``sensor`` column and appends the
records through the command's usual repository sink (one
:class:`~pysilk_ext.silkfmt.appender.RepositoryWriter`, its commit
thread, and the ledger).  Hence:

* the repository is the one a single process writes -- the same files,
  the same records in the same order, the same sensor ids -- and the
  ledger stays single-writer (an interrupted run rolls back and resumes
  exactly as a single process does);
* the appender is the one serial part: on the bench's input a drain of
  263 K records costs the commit thread about 0.2 s (grouping,
  encoding, and on ext4 mostly creating each hourly file's temporary
  file), so with two workers on two cores it is already the bottleneck
  (measured: 2.70 s with one process, 2.42 s with two workers; dry run
  1.97 s and 1.28 s), and with zlib/lzo compression sooner still.
  Past that point per-worker writers (the appender's per-hourly-file
  locks allow them) would scale further, at the price of
  worker-dependent record order and sensor numbering.

Results are written batch by batch in input order, exactly as a single
process writes them (the sink drains and commits at the same records),
so the repository is the same byte for byte -- as long as every record
converts the same.  What a single process learns across inputs, a worker
learns across the inputs of its unit only: the interface addresses that
count as internal, the own addresses that infer the direction of records
without ``flow-direction``, and the de-duplication window.  With
``flow-direction`` in the logs (version 5 and later) and ``--map``
(internal addresses from the map, not from what happened to be read
before) the records are the same; without a map, or for versions 2-4, a
few records may get another class/type or direction than in one process
(on the tests' generated estates: none to 0.2%).  With de-duplication
each unit is a whole flow log (copies on two interfaces of one VPC are
always in one unit; copies between flow logs of different VPCs are
found only in one process).

**Map building: partial maps merge.**  Each worker builds the map of its
unit; :func:`pysilk_ext.ctxmap.merge` is associative, commutative and
idempotent, so the parent merges partial maps in any order into the map
one process builds (units are submitted largest first, for balance).
Logs without ``flow-direction`` (versions 2-4) have their interface
addresses inferred per interface from *all* its records, so a unit must
hold whole interfaces: map units are whole flow logs (an S3 object
holds many interfaces, but every record of an interface is in its flow
log's objects).  A local flow log whose header has ``flow-direction`` is
cut into runs of objects (pieces) instead, since its records need no
inference; the pieces' partial maps are held until all are in, and if
any met a record without a direction the flow log is built again as one
unit (measured: map 1.20 s with one process, 1.01 s with two workers;
with whole flow logs one of the two workers idled for a quarter of the
run).  An interface logged by two flow logs (a VPC flow log and a
subnet flow log over the same ENI) is inferred in each, which gives the
same answer unless a flow log holds only records where a peer address
is as frequent as the interface's own.

**Failures.**  An ``s3://`` object that fails after retries is skipped,
reported and listed (:attr:`UnitResult.failed`); one that fails after
part of it was read has its records discarded (the single-process
reader stops the run instead).  A bad line with ``--stop-on-error`` stops
the run at that input, in input order.

Workers are started with ``forkserver`` (``spawn`` where it does not
exist): never ``fork``, which would copy the parent's threads (s3fs's
event loop, the commit thread) in an unknown state.  The fork server is
started as soon as the switches are parsed (:func:`start_fork_server`),
so that its imports overlap the command's set-up.  Each worker runs
single-threaded (no read-ahead or parse threads competing with the
other workers), except for ``s3://`` inputs, where a read-ahead thread
hides the network's latency.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import mmap
import multiprocessing
import os
import secrets
import shutil
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from pysilk_ext import s3input
from pysilk_ext.batch import StrColumn
from pysilk_ext.convert import Converter, ConvertStats, MapContext
from pysilk_ext.convert.addrs import AddressRanges
from pysilk_ext.convert.config import ConvertConfig
from pysilk_ext.convert.sensors import sensor_name
from pysilk_ext.ctxmap import BuildStats, ContextMap, ContextMapBuilder
from pysilk_ext.errors import ConvertError, VpcParseError
from pysilk_ext.reader import FileStats, ReaderStats, VpcReader
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.siteconf import SiteConfig
from pysilk_ext.sources import InputFile
from pysilk_ext.vpcparse import BadLine, LogFormat

__all__ = [
    "ConvertSettings",
    "InputOutcome",
    "MapPart",
    "ParallelConversion",
    "ProgressTotals",
    "ReadSettings",
    "Submitter",
    "UnitResult",
    "WorkUnit",
    "build_map_unit",
    "convert_unit",
    "handover_dir",
    "ingest_parallel",
    "merge_map_parts",
    "merge_reader_stats",
    "plan_units",
    "process_pool",
    "start_fork_server",
]

#: Work units per worker when inputs are cut into contiguous runs: enough
#: for load balance, few enough that per-unit overhead stays negligible.
UNITS_PER_WORKER = 4
#: Largest unit (bytes as stored) of a contiguous run: bounds the records
#: a result carries (about 4x this in memory) and so the parent's memory
#: (``window`` results in flight: about 256 MB with two workers).
MAX_UNIT_BYTES = 16 << 20
#: Size assumed for an input of unknown size (stdin is never spread).
_UNKNOWN_SIZE = 1 << 20


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkUnit:
    """Whole inputs handled by one task, in input order.

    ``piece_of``: the flow log this map unit holds a run of (None: whole
    flow logs, or a conversion unit); see :func:`plan_units`.
    """

    index: int
    inputs: tuple[InputFile, ...]
    piece_of: str | None = None

    @property
    def size(self) -> int:
        """Bytes as stored (estimated where unknown)."""
        return sum(_size_of(e) for e in self.inputs)


def _size_of(entry: InputFile) -> int:
    if entry.size is not None:
        return entry.size
    try:
        return os.path.getsize(entry.path)
    except OSError:
        return _UNKNOWN_SIZE


def flow_log_of(entry: InputFile) -> str:
    """The flow log an input belongs to (its own path when the name does
    not say): the grouping that keeps interfaces whole."""
    if entry.key is not None and entry.key.flow_log_id is not None:
        return entry.key.flow_log_id
    return entry.path


def plan_units(
    entries: Sequence[InputFile],
    *,
    workers: int,
    whole_flow_logs: bool = False,
    split_directed: bool = False,
    units_per_worker: int = UNITS_PER_WORKER,
    max_unit_bytes: int = MAX_UNIT_BYTES,
) -> list[WorkUnit]:
    """Cut the inputs into work units.

    ``whole_flow_logs``: one unit per flow log (inputs of one flow log
    keep their order; units ordered by their first input) -- for map
    building and de-duplication.  Otherwise contiguous runs of the input
    order of about ``total / (workers * units_per_worker)`` bytes (at
    most ``max_unit_bytes``; at least one input), so that results taken
    in unit order are in input order.

    ``split_directed`` (map building): a flow log whose first object's
    header has ``flow-direction`` is cut into such runs too (pieces,
    ``piece_of`` set): its records need no per-interface inference, so
    partial maps of pieces merge into the map of the whole.  Without it
    the flow logs of an estate are few and unequal (the bench's four
    take 21% to 31% of the bytes each), which leaves a worker idle.
    :func:`ingest_parallel` checks the guess and redoes a flow log whose
    pieces met records without direction as one unit.
    """
    if not entries:
        return []
    sizes = {id(e): _size_of(e) for e in entries}
    target = math.ceil(
        sum(sizes.values()) / max(1, workers * max(1, units_per_worker))
    )
    target = max(1, min(target, max_unit_bytes))
    if not whole_flow_logs:
        return [
            WorkUnit(i, run)
            for i, run in enumerate(_runs(entries, sizes, target))
        ]
    groups: dict[str, list[InputFile]] = {}
    for entry in entries:
        groups.setdefault(flow_log_of(entry), []).append(entry)
    units: list[WorkUnit] = []
    for flow_log, group in groups.items():
        runs = (
            _runs(group, sizes, target)
            if split_directed and len(group) > 1 and _directed(group[0])
            else [tuple(group)]
        )
        piece_of = flow_log if len(runs) > 1 else None
        for run in runs:
            units.append(WorkUnit(len(units), run, piece_of))
    return units


def _runs(
    entries: Sequence[InputFile], sizes: dict[int, int], target: int
) -> list[tuple[InputFile, ...]]:
    """Contiguous runs of about ``target`` bytes (at least one input)."""
    runs: list[tuple[InputFile, ...]] = []
    run: list[InputFile] = []
    run_bytes = 0
    for entry in entries:
        size = sizes[id(entry)]
        if run and run_bytes + size > target:
            runs.append(tuple(run))
            run, run_bytes = [], 0
        run.append(entry)
        run_bytes += size
    if run:
        runs.append(tuple(run))
    return runs


#: Bytes of an input read to find its header line.
_PEEK_BYTES = 16 << 10


def _directed(entry: InputFile) -> bool:
    """True when a local input's header line names ``flow-direction``
    (plain or gzip text; False for anything else, S3 objects included:
    a guess that costs a request is not worth it)."""
    if s3input.is_s3_url(entry.path):
        return False
    try:
        with open(entry.path, "rb") as fh:
            head = fh.read(_PEEK_BYTES)
        if head[:2] == b"\x1f\x8b":
            head = zlib.decompressobj(31).decompress(head, _PEEK_BYTES)
    except (OSError, zlib.error):
        return False
    return b"flow-direction" in head.split(b"\n", 1)[0].split()


# ---------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------
class Submitter(Protocol):
    """What runs tasks: a process pool here, a Dask client on a cluster."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Start ``fn(*args)``; return its future (``result``, ``cancel``)."""


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def start_fork_server() -> None:
    """Start the fork server now, without waiting for it.

    The fork server imports this module once (NumPy, the C core, the
    converter: about 0.2 s), so each worker forked from it starts with
    them loaded.  Called as soon as the command knows it will need
    workers, that import overlaps the command's own set-up (listing the
    inputs, opening the map) instead of delaying the first unit.  The
    fork server loads OpenBLAS single-threaded (nothing here uses BLAS;
    its idle threads would only spin on the cores the workers need).
    """
    ctx = multiprocessing.get_context(_start_method())
    if ctx.get_start_method() != "forkserver":
        return
    ctx.set_forkserver_preload(["pysilk_ext.parallel"])
    from multiprocessing import forkserver  # noqa: PLC0415

    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started by forkserver (see doc and
    :func:`start_fork_server`)."""
    ctx = multiprocessing.get_context(_start_method())
    start_fork_server()
    # A fork server outlives the pool that started it and hands its own
    # environment to every worker it forks; give workers the caller's
    # environment as it is now (AWS credentials, endpoint, SILK_* ...).
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_adopt_environment,
        initargs=(dict(os.environ),),
    )


def _adopt_environment(environ: dict[str, str]) -> None:
    """Worker initializer: replace the environment with the caller's."""
    os.environ.clear()
    os.environ.update(environ)


# ---------------------------------------------------------------------------
# Settings sent to workers
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReadSettings:
    """The reader's options, as sent to workers (picklable).

    ``keep_bad_lines``: return each bad line to the parent (which writes
    ``--bad-input-lines`` and ``--verbose`` messages in input order);
    otherwise bad lines are only counted.  ``read_ahead``: inflate in a
    second thread of the worker; off by default, because the workers
    already keep every core busy, except for ``s3://`` inputs, where the
    second thread hides the network's latency.
    """

    log_format: LogFormat | None = None
    stop_on_error: bool = False
    keep_bad_lines: bool = False
    s3: s3input.S3Config | None = None
    read_ahead: bool = False
    parse_threads: int = 1

    def reader(
        self,
        inputs: Sequence[InputFile],
        on_bad_line: Callable[[BadLine], None] | None,
    ) -> VpcReader:
        """A reader of ``inputs`` with these options."""
        remote = any(s3input.is_s3_url(e.path) for e in inputs)
        return VpcReader(
            list(inputs),
            log_format=self.log_format,
            stop_on_error=self.stop_on_error,
            on_bad_line=on_bad_line,
            read_ahead=self.read_ahead or remote,
            parse_threads=self.parse_threads,
        )


@dataclass(frozen=True, slots=True)
class ConvertSettings:
    """Everything a worker needs to convert like the parent would.

    ``token`` names the job: workers cache the map, ip-ranges and site
    per token, not per unit.  Paths (``map_path``) must be readable by
    the workers (on a cluster: a shared filesystem).

    ``ship_records``: False for ``--dry-run``: workers return counts and
    no records.  ``handover``: a directory in shared memory (see
    :func:`handover_dir`) where workers on this machine leave a unit's
    records for the parent to map, instead of sending them through the
    result pipe; None on a cluster.
    """

    read: ReadSettings
    config: ConvertConfig
    site: SiteConfig | None = None
    map_path: str | None = None
    aws_ranges: AddressRanges | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    ship_records: bool = True
    handover: str | None = None


def _prepare(read: ReadSettings) -> None:
    if read.s3 is not None:
        s3input.configure(read.s3)


_maps: dict[str, MapContext] = {}
_maps_lock = threading.Lock()


def _map_context(path: str | None) -> MapContext | None:
    """The context of ``path``, opened once per process (mmap)."""
    if path is None:
        return None
    with _maps_lock:
        ctx = _maps.get(path)
        if ctx is None:
            ctx = MapContext(ContextMap.open(path))
            _maps[path] = ctx
    return ctx


# ---------------------------------------------------------------------------
# Conversion in a worker
# ---------------------------------------------------------------------------
@dataclass(slots=True)
class SensorUse:
    """A sensor key met by a worker (provisional id = its position)."""

    key: str | None  # None: records naming no AWS id ("unknown")
    extras: dict[str, str]
    rows: int = 0
    call: int = 0  # the assign() call (batch) where it first appeared
    columns: tuple[str, ...] = ()  # that call's description fields


class _DeferredSensors:
    """Stands in for the SensorAssigner in a worker.

    Gives each AWS id a provisional number in order of first appearance
    and remembers what the real assigner needs (the description ids of
    the first row, as the real one takes them); the parent assigns real
    ids in input order (see :meth:`ParallelConversion._sensor_lut`).
    """

    def __init__(self) -> None:
        self.uses: list[SensorUse] = []
        self._index: dict[str | None, int] = {}
        self._calls = 0
        self.fallback_records = 0
        self.created: list[tuple[int, str, str]] = []
        self.ids: dict[str, int] = {}

    def assign(
        self,
        keys: StrColumn,
        describe_with: dict[str, StrColumn] | None = None,
    ) -> npt.NDArray[np.uint16]:
        self._calls += 1
        counts = np.bincount(keys.codes, minlength=len(keys.values))
        by_code = np.zeros(len(keys.values), dtype=np.uint16)
        for code in np.flatnonzero(counts).tolist():
            key = keys.values[code] if code else None
            idx = self._index.get(key)
            if idx is None:
                idx = len(self.uses)
                if idx > np.iinfo(np.uint16).max:
                    raise ConvertError(
                        f"Cannot add sensor for '{key}': more than 65536 "
                        "sensors in one work unit"
                    )
                self._index[key] = idx
                self.uses.append(
                    SensorUse(
                        key,
                        _extras(code, keys, describe_with),
                        call=self._calls,
                        columns=tuple(describe_with or ()),
                    )
                )
            self.uses[idx].rows += int(counts[code])
            by_code[code] = idx
        out: npt.NDArray[np.uint16] = by_code[keys.codes]
        return out


def _extras(
    code: int, keys: StrColumn, describe_with: dict[str, StrColumn] | None
) -> dict[str, str]:
    """The other AWS ids of the first row with ``code`` (as the assigner)."""
    if not describe_with or code == 0:
        return {}
    row = int(np.argmax(keys.codes == code))
    out: dict[str, str] = {}
    for name, col in describe_with.items():
        value_code = int(col.codes[row])
        if value_code:
            out[name] = col.values[value_code]
    return out


@dataclass(slots=True)
class InputOutcome:
    """What became of one input.

    ``parts`` are the records (FLOW_DTYPE) of each batch the converter
    returned, as it returned them: written batch by batch, they commit
    exactly as a single process commits.  A failed input has none, and
    ``failure`` says why.  In a worker's result the ``sensor`` column
    holds provisional numbers; :class:`ParallelConversion` yields final
    ids.
    """

    source: str
    parts: list[npt.NDArray[np.void]] = field(default_factory=list)
    failure: str | None = None
    bad_lines: list[BadLine] = field(default_factory=list)
    records_in: int = 0
    #: records per part when the parts are in the unit's hand-over file
    #: (``parts`` empty until the parent maps it)
    handed: list[int] | None = None

    @property
    def records(self) -> npt.NDArray[np.void] | None:
        """All records of the input (None when it failed)."""
        if self.failure is not None:
            return None
        if len(self.parts) == 1:
            return self.parts[0]
        if not self.parts:
            return np.zeros(0, dtype=FLOW_DTYPE)
        out: npt.NDArray[np.void] = np.concatenate(self.parts)
        return out


@dataclass(slots=True)
class Fatal:
    """A stop the whole run must take (``--stop-on-error``, unreadable
    local file), at ``source`` in input order."""

    message: str
    source: str | None
    lineno: int | None


@dataclass(slots=True)
class UnitResult:
    """A worker's answer for one unit (see the module doc)."""

    index: int
    outcomes: list[InputOutcome]
    sensors: list[SensorUse]
    convert: ConvertStats
    reader: ReaderStats
    s3: s3input.S3Counters
    seconds: float
    fatal: Fatal | None = None
    #: the hand-over file holding the outcomes' parts, in order
    handover: str | None = None
    #: CPU seconds the worker spent on the unit
    cpu: float = 0.0


class _InputTracker:
    """Splits a unit's batches and statistics by input."""

    def __init__(self, inputs: Sequence[InputFile]) -> None:
        self.order = [e.path for e in inputs]
        self.outcomes = {p: InputOutcome(p) for p in self.order}

    def bad(self, bad: BadLine) -> None:
        out = self.outcomes.get(bad.source)
        if out is not None:
            out.bad_lines.append(bad)

    def fail(self, source: str, message: str) -> None:
        out = self.outcomes[source]
        out.failure = message
        out.parts = []

    def finish(self) -> list[InputOutcome]:
        return [self.outcomes[path] for path in self.order]


def _worker_converter(settings: ConvertSettings) -> Converter:
    conv = Converter(
        settings.config,
        site=settings.site,
        site_path=None,
        context=_map_context(settings.map_path),
        aws_ranges=settings.aws_ranges,
    )
    conv.sensors = _DeferredSensors()  # type: ignore[assignment]
    return conv


def convert_unit(settings: ConvertSettings, unit: WorkUnit) -> UnitResult:
    """Read and convert one unit (runs in a worker; see module doc)."""
    started = time.monotonic()
    cpu_started = time.process_time()
    _prepare(settings.read)
    s3_before = s3input.counters().copy()
    conv = _worker_converter(settings)
    deferred: _DeferredSensors = conv.sensors  # type: ignore[assignment]
    tracker = _InputTracker(unit.inputs)
    stats = ReaderStats()
    fatal: Fatal | None = None
    remaining = list(unit.inputs)
    on_bad = tracker.bad if settings.read.keep_bad_lines else None
    while remaining:
        reader = settings.read.reader(remaining, on_bad)
        current: str | None = None
        snapshot: ConvertStats | None = None
        try:
            for batch in reader:
                if batch.source != current:
                    current = batch.source
                    # only an S3 object can fail part-way and be skipped
                    snapshot = (
                        copy.deepcopy(conv.stats)
                        if s3input.is_s3_url(current)
                        else None
                    )
                before = conv.stats.records_in
                recs = conv.convert(batch)
                tracker.outcomes[batch.source].records_in += (
                    conv.stats.records_in - before
                )
                if len(recs) and settings.ship_records:
                    tracker.outcomes[batch.source].parts.append(recs)
            remaining = []
        except VpcParseError as exc:
            source = exc.path
            remote = source is not None and s3input.is_s3_url(source)
            if (
                exc.lineno is not None
                or not remote
                or source not in (tracker.outcomes)
            ):
                fatal = Fatal(str(exc), source, exc.lineno)
                remaining = []
            else:
                # an S3 object failed after part of it was read: drop
                # its records and counts, go on with the next input
                tracker.fail(source, str(exc))
                reader.stats.failed.append(_failure(source, str(exc)))
                if current == source and snapshot is not None:
                    conv.stats = snapshot
                reader.stats.files = [
                    f for f in reader.stats.files if f.source != source
                ]
                at = [e.path for e in remaining].index(source)
                remaining = remaining[at + 1 :]
        for failure in reader.stats.failed:
            tracker.fail(failure.source, failure.message)
        merge_reader_stats(stats, reader.stats)
    outcomes = tracker.finish()
    handover = None
    if settings.handover is not None and fatal is None:
        handover = _hand_over(settings.handover, unit.index, outcomes)
    return UnitResult(
        index=unit.index,
        outcomes=outcomes,
        sensors=deferred.uses,
        convert=conv.stats,
        reader=stats,
        s3=s3input.counters().minus(s3_before),
        seconds=time.monotonic() - started,
        fatal=fatal,
        handover=handover,
        cpu=time.process_time() - cpu_started,
    )


# ---------------------------------------------------------------------------
# Records handed over in shared memory
# ---------------------------------------------------------------------------
#: Where hand-over directories are made (a tmpfs: the records never touch
#: a disk); without it, records go through the result pipe.
HANDOVER_BASE = "/dev/shm"  # noqa: S108 - a private mkdtemp directory
_HANDOVER_PREFIX = "pysilk-handover-"


@contextlib.contextmanager
def handover_dir(base: str | None = None) -> Iterator[str | None]:
    """A private directory in shared memory for this run's hand-over
    files (None when there is no usable tmpfs); removed on exit.

    Why: a unit's records (88 bytes each, about 25 MB per unit) sent as a
    pickle through the result pipe cost the parent a copy out of the
    pipe, a copy into new arrays and their page faults, and block the
    worker until the parent has read them all.  Written by the worker
    into a tmpfs file and mapped by the parent, they cost one copy in the
    worker and none in the parent, and the worker moves on at once.

    Directories left by runs that were killed are removed first (their
    name holds the owner's process id), so that a crash leaks no memory
    past the next run.
    """
    base = HANDOVER_BASE if base is None else base
    if not base or not os.path.isdir(base) or not os.access(base, os.W_OK):
        yield None
        return
    _remove_stale_handovers(base)
    try:
        path = tempfile.mkdtemp(
            prefix=f"{_HANDOVER_PREFIX}{os.getpid()}-", dir=base
        )
    except OSError:
        yield None
        return
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _remove_stale_handovers(base: str) -> None:
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            if not name.startswith(_HANDOVER_PREFIX):
                continue
            pid_text = name[len(_HANDOVER_PREFIX) :].split("-", 1)[0]
            if not pid_text.isdigit():
                continue
            try:
                os.kill(int(pid_text), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            except OSError:  # alive, another user's
                pass


def _hand_over(
    directory: str, index: int, outcomes: list[InputOutcome]
) -> str | None:
    """Write the outcomes' parts into one file of ``directory``; replace
    them by their lengths.  None (parts left in place, to be pickled)
    when there is nothing to write or the file cannot be written."""
    parts = [p for o in outcomes for p in o.parts]
    if not parts:
        return None
    path = os.path.join(
        directory, f"unit-{index}-{os.getpid()}-{secrets.token_hex(4)}"
    )
    try:
        with open(path, "xb", buffering=0) as fh:
            for part in parts:
                data = memoryview(
                    np.ascontiguousarray(part).view(np.uint8).data
                )
                while data:
                    data = data[fh.write(data) :]
    except OSError:  # tmpfs full: send the records through the pipe
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    for outcome in outcomes:
        outcome.handed = [len(p) for p in outcome.parts]
        outcome.parts = []
    return path


def _take_over(result: UnitResult) -> None:
    """Map a unit's hand-over file and give the outcomes their parts back
    (views of the mapping, writable; the file is unlinked at once and
    its memory freed with the last view)."""
    path = result.handover
    if path is None:
        return
    result.handover = None
    fd = os.open(path, os.O_RDWR)
    try:
        os.unlink(path)
        size = os.fstat(fd).st_size
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        area = mmap.mmap(fd, size, flags=flags)
    finally:
        os.close(fd)
    rows = np.frombuffer(area, dtype=FLOW_DTYPE)
    at = 0
    for outcome in result.outcomes:
        if outcome.handed is None:
            continue
        for count in outcome.handed:
            outcome.parts.append(rows[at : at + count])
            at += count
        outcome.handed = None


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------
def merge_reader_stats(into: ReaderStats, other: ReaderStats) -> None:
    """Add ``other``'s files, skips, failures and counters to ``into``."""
    into.files.extend(other.files)
    into.skipped.extend(other.skipped)
    into.failed.extend(other.failed)
    into.nodata_by_interface.update(other.nodata_by_interface)
    into.skipdata_by_interface.update(other.skipdata_by_interface)


def merge_convert_stats(
    into: ConvertStats,
    other: ConvertStats,
    sensor_lut: npt.NDArray[np.uint16] | None = None,
) -> None:
    """Add a worker's conversion counts to ``into``.

    ``sensor_lut`` maps the worker's provisional sensor numbers to ids.
    ``sensor_fallback`` is the parent assigner's and left alone.
    """
    for f in dataclasses.fields(ConvertStats):
        name = f.name
        mine, theirs = getattr(into, name), getattr(other, name)
        if name in ("sensor_fallback", "issues", "by_sensor"):
            continue
        if isinstance(mine, Counter):
            mine.update(theirs)
        else:
            setattr(into, name, mine + theirs)
    into.issues.add(other.issues)
    for sid, count in other.by_sensor.items():
        real = int(sensor_lut[sid]) if sensor_lut is not None else sid
        into.by_sensor[real] += count


@dataclass(slots=True)
class ProgressTotals:
    """Counts across workers, for progress lines and reports."""

    inputs_total: int = 0
    inputs_done: int = 0
    inputs_failed: int = 0
    records: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    worker_seconds: float = 0.0
    worker_cpu: float = 0.0

    def rate(self) -> float:
        """Records per second since the start."""
        return self.records / max(time.monotonic() - self.started, 1e-9)

    def line(self, prog: str) -> str:
        """One progress line: inputs done/total, records/s, bad lines."""
        bad = sum(self.bad.values())
        text = (
            f"{prog}: inputs {self.inputs_done}/{self.inputs_total}, "
            f"{self.records:,} records, {self.rate():,.0f}/s"
        )
        if self.inputs_failed:
            text += f", {self.inputs_failed} failed"
        if bad:
            reasons = ", ".join(
                f"{r} {n}" for r, n in sorted(self.bad.items())
            )
            text += f", bad lines {bad} ({reasons})"
        return text


# ---------------------------------------------------------------------------
# The parent side of a conversion
# ---------------------------------------------------------------------------
class ParallelConversion:
    """Submit units, take results in input order, finish the records.

    Args:
        settings: what workers convert with.
        converter: the run's converter in the parent: its sensor
            assigner gives the real sensor ids and its ``stats`` receive
            every worker's counts (so the command's reports work as for
            a single process).
        submitter: a process pool or a Dask client (see
            :mod:`pysilk_ext.daskjobs`).
        window: units in flight (default: twice the workers); bounds the
            parent's memory to that many units' records.
        on_bad_line: called with each bad line, in input order (needs
            ``settings.read.keep_bad_lines``).
    """

    def __init__(
        self,
        settings: ConvertSettings,
        converter: Converter,
        submitter: Submitter,
        *,
        window: int = 4,
        on_bad_line: Callable[[BadLine], None] | None = None,
    ) -> None:
        self.settings = settings
        self.converter = converter
        self.submitter = submitter
        self.window = max(1, window)
        self.on_bad_line = on_bad_line
        self.reader_stats = ReaderStats()
        self.s3 = s3input.S3Counters()
        self.failed: list[InputOutcome] = []
        self.progress = ProgressTotals()

    def run(self, units: Sequence[WorkUnit]) -> Iterator[InputOutcome]:
        """Yield every input's outcome, in input order, records final.

        Raises:
            VpcParseError: a worker stopped on a bad line
                (``--stop-on-error``) or could not open a local input.
            ConvertError: the sensor policy cannot be met.
        """
        self.progress.inputs_total += sum(len(u.inputs) for u in units)
        pending: deque[Any] = deque()
        todo = iter(units)
        try:
            for unit in todo:
                pending.append(
                    self.submitter.submit(convert_unit, self.settings, unit)
                )
                if len(pending) >= self.window:
                    yield from self._absorb(pending.popleft().result())
            while pending:
                yield from self._absorb(pending.popleft().result())
        finally:
            for fut in pending:
                with contextlib.suppress(Exception):
                    fut.cancel()

    def _sensor_lut(self, uses: list[SensorUse]) -> npt.NDArray[np.uint16]:
        """Give a unit's sensors their real ids, in first-use order.

        The real assigner is called once per worker batch that met new
        sensors, with those sensors in the order the worker met them, so
        that creation order (hence ids), descriptions, the cap and the
        fallback are those of a single process -- and silk.conf is
        rewritten as rarely.
        """
        real = self.converter.sensors
        lut = np.zeros(max(1, len(uses)), dtype=np.uint16)
        start = 0
        while start < len(uses):
            end = start + 1
            while end < len(uses) and uses[end].call == uses[start].call:
                end += 1
            group = uses[start:end]
            named = [u for u in group if u.key is not None]
            codes = np.zeros(len(group), dtype=np.uint32)
            values = [""]
            for k, use in enumerate(group):
                if use.key is not None:
                    values.append(use.key)
                    codes[k] = len(values) - 1
            describe: dict[str, StrColumn] = {}
            for name in group[0].columns:
                col_values = [""]
                col_codes = np.zeros(len(group), dtype=np.uint32)
                for k, use in enumerate(group):
                    value = use.extras.get(name)
                    if value:
                        col_values.append(value)
                        col_codes[k] = len(col_values) - 1
                describe[name] = StrColumn(col_codes, col_values)
            before = real.fallback_records
            lut[start:end] = real.assign(
                StrColumn(codes, values), describe or None
            )
            if real.fallback_records > before:
                policy = real.config.policy
                over = [
                    u
                    for u in named
                    if sensor_name(str(u.key), policy) not in real.ids
                ]
                real.fallback_records += sum(u.rows for u in over) - len(over)
            start = end
        return lut

    def _absorb(self, result: UnitResult) -> Iterator[InputOutcome]:
        _take_over(result)
        lut = self._sensor_lut(result.sensors)
        merge_convert_stats(self.converter.stats, result.convert, lut)
        self.converter.stats.sensor_fallback = (
            self.converter.sensors.fallback_records
        )
        merge_reader_stats(self.reader_stats, result.reader)
        for fs in result.reader.files:
            self.progress.bad.update(fs.bad)
        self.s3.add(result.s3)
        self.progress.worker_seconds += result.seconds
        self.progress.worker_cpu += result.cpu
        fatal_source = result.fatal.source if result.fatal else None
        for outcome in result.outcomes:
            if fatal_source is not None and outcome.source == fatal_source:
                break
            self._finish(outcome, lut)
            yield outcome
        if result.fatal is not None:
            fatal = result.fatal
            for outcome in result.outcomes:
                if outcome.source == fatal_source:
                    for bad in outcome.bad_lines:
                        if self.on_bad_line is not None:
                            self.on_bad_line(bad)
            raise VpcParseError(
                fatal.message, path=fatal.source, lineno=fatal.lineno
            )

    def _finish(self, outcome: InputOutcome, lut: npt.NDArray[Any]) -> None:
        for part in outcome.parts:
            part["sensor"] = lut[part["sensor"]]
        if self.on_bad_line is not None:
            for bad in outcome.bad_lines:
                self.on_bad_line(bad)
        self.progress.records += outcome.records_in
        self.progress.inputs_done += 1
        if outcome.failure is not None:
            self.progress.inputs_failed += 1
            self.failed.append(outcome)


# ---------------------------------------------------------------------------
# Map building
# ---------------------------------------------------------------------------
@dataclass(slots=True)
class MapPart:
    """A partial map and what building it met (mergeable, see
    :func:`merge_map_parts`)."""

    data: bytes | None
    build: BuildStats
    reader: ReaderStats
    bad_lines: list[BadLine]
    s3: s3input.S3Counters
    seconds: float
    units: list[int]
    fatal: Fatal | None = None


def build_map_unit(read: ReadSettings, unit: WorkUnit) -> MapPart:
    """Build the map of one unit's logs (runs in a worker).

    An S3 object failing part-way keeps what was read (bindings are
    observations: merging the rest later changes nothing else) and is
    listed as failed all the same.
    """
    started = time.monotonic()
    _prepare(read)
    s3_before = s3input.counters().copy()
    builder = ContextMapBuilder()
    stats = ReaderStats()
    bad_lines: list[BadLine] = []
    fatal: Fatal | None = None
    remaining = list(unit.inputs)
    on_bad = bad_lines.append if read.keep_bad_lines else None
    while remaining:
        reader = read.reader(remaining, on_bad)
        try:
            for batch in reader:
                builder.add_batch(batch)
            remaining = []
        except VpcParseError as exc:
            source = exc.path
            paths = [e.path for e in remaining]
            if (
                exc.lineno is not None
                or source is None
                or not s3input.is_s3_url(source)
                or source not in paths
            ):
                fatal = Fatal(str(exc), source, exc.lineno)
                remaining = []
            else:
                reader.stats.failed.append(_failure(source, str(exc)))
                remaining = remaining[paths.index(source) + 1 :]
        merge_reader_stats(stats, reader.stats)
    return MapPart(
        data=builder.build().data if fatal is None else None,
        build=builder.stats,
        reader=stats,
        bad_lines=bad_lines,
        s3=s3input.counters().minus(s3_before),
        seconds=time.monotonic() - started,
        units=[unit.index],
        fatal=fatal,
    )


def _failure(source: str, message: str) -> Any:
    from pysilk_ext.sources import OpenFailure  # noqa: PLC0415

    why = message.split("': ", 1)[-1]
    return OpenFailure(source, OSError(5, why), opened=True)


_ADDITIVE_BUILD = (
    "records",
    "not_flows",
    "untimed",
    "undirected",
    "inferred_interfaces",
    "unattributed",
    "no_interface",
)


def add_build_stats(into: BuildStats, other: BuildStats) -> None:
    """Add the log counts of a partial build (not inventory or merges)."""
    for name in _ADDITIVE_BUILD:
        setattr(into, name, getattr(into, name) + getattr(other, name))


def merge_map_parts(*parts: MapPart) -> MapPart:
    """One part holding the merge of ``parts`` (associative: a tree of
    merges on a cluster gives the same map as one merge)."""
    stats = ReaderStats()
    build = BuildStats()
    s3 = s3input.S3Counters()
    bad: list[BadLine] = []
    units: list[int] = []
    fatal = None
    maps = []
    for part in sorted(parts, key=lambda p: min(p.units or [0])):
        merge_reader_stats(stats, part.reader)
        add_build_stats(build, part.build)
        s3.add(part.s3)
        bad.extend(part.bad_lines)
        units.extend(part.units)
        fatal = fatal or part.fatal
        if part.data is not None:
            maps.append(ContextMap.from_bytes(part.data))
    from pysilk_ext.ctxmap import merge  # noqa: PLC0415

    data = merge(*maps).data if maps and fatal is None else None
    return MapPart(
        data=data,
        build=build,
        reader=stats,
        bad_lines=bad,
        s3=s3,
        seconds=sum(p.seconds for p in parts),
        units=sorted(units),
        fatal=fatal,
    )


def ingest_parallel(
    builder: ContextMapBuilder,
    units: Sequence[WorkUnit],
    read: ReadSettings,
    submitter: Submitter,
    *,
    reduce: Callable[[list[Any]], MapPart] | None = None,
    on_part: Callable[[MapPart], None] | None = None,
) -> MapPart:
    """Build the units' partial maps in workers; merge them into
    ``builder``; return the merged part's statistics (no map data).

    ``reduce`` turns the list of futures into one part (a Dask tree
    reduction on the cluster, see :mod:`pysilk_ext.daskjobs`); by
    default the parent adds each part to ``builder`` as it arrives.
    ``on_part`` sees each part (progress).

    Units are submitted largest first (merging is commutative: the order
    changes nothing but the balance between workers).  The parts of a
    flow log cut into pieces (:func:`plan_units` ``split_directed``) are
    held until all have arrived: if any met records without
    ``flow-direction`` they are dropped and the flow log is built again
    as one unit, so the map is always that of whole flow logs.

    Raises:
        VpcParseError: a worker stopped on a bad line
            (``--stop-on-error``) or could not open a local input.
        ValueError: pieces of flow logs with a ``reduce``.
    """
    if reduce is not None and any(u.piece_of for u in units):
        raise ValueError("pieces of flow logs need the parent's merge")
    ordered = sorted(units, key=lambda u: -u.size)
    futures = [submitter.submit(build_map_unit, read, u) for u in ordered]
    merged_before = builder.stats.maps_merged
    parts: list[MapPart] = []

    def take(part: MapPart) -> None:
        if on_part is not None:
            on_part(part)
        if part.data is not None:
            builder.add_map(ContextMap.from_bytes(part.data))
            part.data = None
        parts.append(part)

    try:
        if reduce is not None:
            parts = [reduce(futures)]
        else:
            pieces = _Pieces(units)
            while futures:
                again: list[WorkUnit] = []
                for fut in _as_completed(futures):
                    part = fut.result()
                    for whole in pieces.take(part, take):
                        again.append(whole)
                futures = [
                    submitter.submit(build_map_unit, read, u) for u in again
                ]
    finally:
        for fut in futures:
            with contextlib.suppress(Exception):
                fut.cancel()
    total = merge_map_parts(*parts) if len(parts) > 1 else parts[0]
    if reduce is not None and total.data is not None:
        builder.add_map(ContextMap.from_bytes(total.data))
        total.data = None
    builder.stats.maps_merged = merged_before
    add_build_stats(builder.stats, total.build)
    if total.fatal is not None:
        raise VpcParseError(
            total.fatal.message,
            path=total.fatal.source,
            lineno=total.fatal.lineno,
        )
    return total


class _Pieces:
    """Holds the parts of flow logs built in pieces until all are in."""

    def __init__(self, units: Sequence[WorkUnit]) -> None:
        self.piece_of = {u.index: u.piece_of for u in units}
        self.inputs: dict[str, list[InputFile]] = {}
        for unit in sorted(units, key=lambda u: u.index):
            if unit.piece_of is not None:
                self.inputs.setdefault(unit.piece_of, []).extend(unit.inputs)
        self.expected = Counter(
            u.piece_of for u in units if u.piece_of is not None
        )
        self.held: dict[str, list[MapPart]] = {}
        self.next_index = max((u.index for u in units), default=-1) + 1

    def take(
        self, part: MapPart, take: Callable[[MapPart], None]
    ) -> list[WorkUnit]:
        """Give ``part`` to ``take`` now or with the rest of its flow
        log; return the flow log as one unit when its pieces must be
        redone."""
        flow_log = self.piece_of.get(part.units[0]) if part.units else None
        if flow_log is None:
            take(part)
            return []
        held = self.held.setdefault(flow_log, [])
        held.append(part)
        if len(held) < self.expected[flow_log]:
            return []
        del self.held[flow_log]
        undirected = any(p.build.undirected for p in held)
        if undirected and not any(p.fatal for p in held):
            whole = WorkUnit(self.next_index, tuple(self.inputs[flow_log]))
            self.next_index += 1
            return [whole]
        for piece in sorted(held, key=lambda p: p.units):
            take(piece)
        return []


def _as_completed(futures: Iterable[Any]) -> Iterator[Any]:
    """Futures as they finish (concurrent.futures or Dask alike)."""
    items = list(futures)
    if all(isinstance(f, Future) for f in items):
        from concurrent.futures import as_completed  # noqa: PLC0415

        yield from as_completed(items)
        return
    from distributed import as_completed as dask_completed  # noqa: PLC0415

    yield from dask_completed(items)  # type: ignore[no-untyped-call]


def file_stats_by_source(stats: ReaderStats) -> dict[str, FileStats]:
    """Each input's statistics by name (for per-input reports)."""
    return {fs.source: fs for fs in stats.files}
