# SPDX-License-Identifier: MIT
"""The scale-out switches of rwvpc2silk and rwvpcmapbuild, and their glue.

Declared once for both commands (help text, checks, messages):

``--workers=N``          spread the inputs over N processes (or N local
                         Dask workers with ``--dask``)
``--dask``               run on a Dask LocalCluster (127.0.0.1)
``--dask-scheduler=ADDR`` run on the Dask scheduler at ADDR
``--s3-endpoint-url=URL`` an S3-compatible server for ``s3://`` inputs
``--failed-inputs=PATH`` list the inputs that could not be read

The work itself is :mod:`pysilk_ext.parallel` (and
:mod:`pysilk_ext.daskjobs`); this module turns switches into a
:class:`ScaleOut`, opens the right executor, and reports unreadable
inputs the same way in both commands.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pysilk_ext import s3input
from pysilk_ext import sources as S
from pysilk_ext.cli._app import UsageError, print_error
from pysilk_ext.cli._switches import Once
from pysilk_ext.ctxmap import BuildStats, ContextMapBuilder
from pysilk_ext.errors import ConvertError
from pysilk_ext.parallel import (
    ConvertSettings,
    MapPart,
    ParallelConversion,
    ProgressTotals,
    ReadSettings,
    Submitter,
    handover_dir,
    ingest_parallel,
    merge_reader_stats,
    plan_units,
    process_pool,
    start_fork_server,
)
from pysilk_ext.reader import ReaderStats, _BadLineWriter
from pysilk_ext.s3input import S3Counters
from pysilk_ext.s3keys import KeyFilter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.vpcparse import BadLine

__all__ = [
    "MAX_WORKERS",
    "InputPiece",
    "ScaleOut",
    "ScaledConversion",
    "add_scaleout_switches",
    "ingest_logs_scaled",
    "open_submitter",
    "outcome_records",
    "report_failed",
    "scaleout_from",
]

MAX_WORKERS = 1024
_EMPTY = np.zeros(0, dtype=FLOW_DTYPE)


def add_scaleout_switches(parser: argparse.ArgumentParser) -> None:
    """Add the five scale-out switches (see the module doc)."""
    add = parser.add_argument
    add(
        "--workers",
        action=Once,
        metavar="N",
        help="Spread the inputs over this many worker processes (with "
        "--dask: local Dask workers). Def. 1",
    )
    add(
        "--dask",
        action="store_true",
        help="Run the workers on a local Dask cluster listening on "
        "127.0.0.1 (--workers of them, def. one per CPU)",
    )
    add(
        "--dask-scheduler",
        action=Once,
        metavar="ADDR",
        help="Run the work on the Dask distributed scheduler at this "
        "address, e.g. tcp://10.1.2.3:8786",
    )
    add(
        "--s3-endpoint-url",
        action=Once,
        metavar="URL",
        help="Read s3:// inputs from this S3-compatible server. Def. "
        "$AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL, else AWS",
    )
    add(
        "--failed-inputs",
        action=Once,
        metavar="PATH",
        help="Write the inputs that could not be read (S3 objects that "
        "failed after retries) to this file, one per line, for a rerun",
    )


@dataclass(frozen=True, slots=True)
class ScaleOut:
    """Validated scale-out switches."""

    workers: int = 1
    dask: bool = False
    scheduler: str | None = None
    s3: s3input.S3Config = field(default_factory=s3input.S3Config)
    failed_inputs: str | None = None

    @property
    def parallel(self) -> bool:
        """True when the work leaves this process."""
        return self.workers > 1 or self.dask or self.scheduler is not None

    @property
    def on_dask(self) -> bool:
        """True when the work runs on Dask."""
        return self.dask or self.scheduler is not None


def scaleout_from(ns: argparse.Namespace) -> ScaleOut:
    """Check the scale-out switches; configure ``s3://`` reading.

    Raises:
        UsageError: a malformed value.
    """
    workers = 1
    if ns.workers is not None:
        text = str(ns.workers).strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
            raise UsageError(
                f"Invalid workers '{ns.workers}': Expected an integer "
                f"from 1 to {MAX_WORKERS}"
            )
        workers = int(text)
    url = ns.s3_endpoint_url
    if url is not None and not url.startswith(("http://", "https://")):
        raise UsageError(
            f"Invalid s3-endpoint-url '{url}': Expected an http:// or "
            "https:// URL"
        )
    scheduler = ns.dask_scheduler
    if scheduler is not None and not scheduler.strip():
        raise UsageError("Invalid dask-scheduler '': Expected an address")
    config = s3input.S3Config.from_environment(url)
    s3input.configure(config)
    parallel = workers > 1 or ns.dask or scheduler is not None
    files = getattr(ns, "files", None)
    if parallel and files is not None and (not files or "-" in files):
        raise UsageError(
            "May not read the standard input with --workers, --dask or "
            "--dask-scheduler"
        )
    if workers > 1 and not ns.dask and scheduler is None:
        start_fork_server()  # its imports overlap the command's set-up
    return ScaleOut(
        workers=workers,
        dask=bool(ns.dask),
        scheduler=scheduler,
        s3=config,
        failed_inputs=ns.failed_inputs,
    )


@contextlib.contextmanager
def open_submitter(so: ScaleOut) -> Iterator[Any]:
    """A process pool, or a Dask client (local cluster or scheduler).

    Raises:
        UsageError: Dask is wanted but not installed.
    """
    if so.on_dask:
        try:
            from pysilk_ext.daskjobs import dask_submitter  # noqa: PLC0415

            manager = dask_submitter(
                so.scheduler, workers=so.workers if so.workers > 1 else None
            )
            submitter = manager.__enter__()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        except Exception as exc:
            # an unreachable scheduler times out (OSError); a server that
            # is not a Dask scheduler answers garbage (MemoryError, ...)
            where = (
                f"Cannot connect to Dask scheduler '{so.scheduler}'"
                if so.scheduler is not None
                else "Cannot start a local Dask cluster"
            )
            if isinstance(exc, OSError):
                why = exc.strerror or str(exc)
            else:
                why = f"Unexpected reply ({type(exc).__name__})"
            raise ConvertError(f"{where}: {why}") from None
        try:
            yield submitter
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            manager.__exit__(None, None, None)
        return
    pool = process_pool(so.workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def report_failed(
    prog: str, failed: Sequence[S.OpenFailure], path: str | None
) -> None:
    """Print each unreadable input, list them in ``path`` when given, and
    end with a summary (nothing when ``failed`` is empty).

    Raises:
        OSError: the list cannot be written.
    """
    if not failed:
        return
    for failure in failed:
        print_error(prog, failure.message)
    sources = [f.source for f in failed]
    if path is not None:
        s3input.write_failed_list(path, sources)
    noun = "input" if len(sources) == 1 else "inputs"
    where = (
        f"; listed in '{path}'"
        if path is not None
        else "; use --failed-inputs to list them for a rerun"
    )
    print_error(
        prog, f"Skipped {len(sources)} {noun} that could not be read{where}"
    )


def _expand(
    files: Sequence[str], key_filter: KeyFilter
) -> tuple[list[S.InputFile], list[S.SourceSkipped]]:
    entries: list[S.InputFile] = []
    skipped: list[S.SourceSkipped] = []
    for entry in S.expand_inputs(files, key_filter):
        if isinstance(entry, S.SourceSkipped):
            skipped.append(entry)
        else:
            entries.append(entry)
    return entries, skipped


@dataclass(frozen=True, slots=True)
class InputPiece:
    """Records of one batch of an input converted by a worker (sensor ids
    final); ``first`` marks an input's first piece (an input without
    records has one, empty)."""

    source: str
    records: Any
    first: bool


def outcome_records(piece: InputPiece) -> Any:
    """What rwvpc2silk's loop takes in place of ``Converter.convert``."""
    return piece.records


class ScaledConversion:
    """rwvpc2silk's parallel path: inputs converted by workers, outcomes
    in input order (see :class:`pysilk_ext.parallel.ParallelConversion`).

    Iterating yields the records of every input that was read, batch by
    batch as the workers' converters returned them, so that the sink
    commits exactly as for a single process (an input that could not be
    read is in ``stats.failed`` instead); ``stats`` holds the workers'
    reader statistics, merged.
    """

    def __init__(
        self,
        so: ScaleOut,
        inputs: Sequence[S.InputFile],
        settings: ConvertSettings,
        converter: Any,
        *,
        bad_lines_path: str | None = None,
        on_bad_line: Callable[[BadLine], None] | None = None,
    ) -> None:
        self.so = so
        self.inputs = list(inputs)
        self.settings = settings
        self.converter = converter
        self.bad_lines_path = bad_lines_path
        self.on_bad_line = on_bad_line
        self.stats = ReaderStats()
        self.run: ParallelConversion | None = None

    def __iter__(self) -> Iterator[InputPiece]:
        if not self.inputs:
            return
        writer = (
            _BadLineWriter(self.bad_lines_path)
            if self.bad_lines_path is not None
            else None
        )

        def on_bad(bad: BadLine) -> None:
            if writer is not None:
                writer.write(bad)
            if self.on_bad_line is not None:
                self.on_bad_line(bad)

        try:
            with (
                _handover(self.so, self.settings) as settings,
                open_submitter(self.so) as submitter,
            ):
                workers = _worker_count(self.so, submitter)
                units = plan_units(
                    self.inputs,
                    workers=workers,
                    whole_flow_logs=self.settings.config.dedup.enabled,
                )
                self.run = ParallelConversion(
                    settings,
                    self.converter,
                    submitter,
                    window=2 * workers,
                    on_bad_line=on_bad,
                )
                try:
                    for outcome in self.run.run(units):
                        if outcome.failure is not None:
                            continue
                        parts = outcome.parts or [_EMPTY]
                        for k, part in enumerate(parts):
                            yield InputPiece(outcome.source, part, k == 0)
                finally:
                    merge_reader_stats(self.stats, self.run.reader_stats)
        finally:
            if writer is not None:
                writer.close()


@contextlib.contextmanager
def _handover(
    so: ScaleOut, settings: ConvertSettings
) -> Iterator[ConvertSettings]:
    """``settings`` with a shared-memory hand-over directory for workers
    on this machine (see :func:`pysilk_ext.parallel.handover_dir`); Dask
    workers may be elsewhere and send records with their results."""
    if so.on_dask or not settings.ship_records:
        yield settings
        return
    with handover_dir() as path:
        yield dataclasses.replace(settings, handover=path)


class _ProgressLine:
    """One line on a terminal, rewritten in place (nothing otherwise)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _worker_count(so: ScaleOut, submitter: Submitter) -> int:
    if so.on_dask:
        return int(getattr(submitter, "workers", so.workers))
    return so.workers


def conversion_settings(
    so: ScaleOut,
    *,
    config: Any,
    site: Any,
    map_path: str | None,
    aws_ranges: Any,
    log_format: Any,
    stop_on_error: bool,
    keep_bad_lines: bool,
    ship_records: bool = True,
) -> ConvertSettings:
    """What rwvpc2silk's workers convert with (``ship_records=False``:
    ``--dry-run``, workers return counts only)."""
    return ConvertSettings(
        read=ReadSettings(
            log_format=log_format,
            stop_on_error=stop_on_error,
            keep_bad_lines=keep_bad_lines,
            s3=so.s3,
        ),
        config=config,
        site=site,
        map_path=map_path,
        aws_ranges=aws_ranges,
        ship_records=ship_records,
    )


def ingest_logs_scaled(
    prog: str,
    builder: ContextMapBuilder,
    inputs: Sequence[str],
    reader_options: dict[str, Any],
    so: ScaleOut,
    *,
    verbose: bool = False,
    print_filenames: bool = False,
) -> ReaderStats:
    """rwvpcmapbuild's parallel path: partial maps of whole flow logs
    built by workers and merged into ``builder`` (see
    :mod:`pysilk_ext.parallel`).  Bad lines and unreadable inputs are
    reported as a single process reports them.

    Raises:
        UsageError: the standard input is among the inputs.
        VpcParseError: a bad line with ``--stop-on-error``, or a local
            input that cannot be opened.
    """
    opts = reader_options
    key_filter = KeyFilter(
        accounts=frozenset(opts["accounts"]) if opts["accounts"] else None,
        regions=frozenset(opts["regions"]) if opts["regions"] else None,
        start=opts["start"],
        end=opts["end"],
    )
    entries, skipped = _expand(inputs, key_filter)
    bad_path = opts.get("bad_lines_path")
    read = ReadSettings(
        log_format=opts["log_format"],
        stop_on_error=bool(opts["stop_on_error"]),
        keep_bad_lines=bad_path is not None or verbose,
        s3=so.s3,
    )
    writer = _BadLineWriter(bad_path) if bad_path is not None else None
    progress = ProgressTotals(inputs_total=len(entries))
    line = _ProgressLine(sys.stderr)

    def on_part(part: MapPart) -> None:
        line.clear()
        if print_filenames:
            for fs in part.reader.files:
                sys.stderr.write(f"{fs.source}\n")
        for bad in part.bad_lines:
            if writer is not None:
                writer.write(bad)
            if verbose:
                sys.stderr.write(f"{prog}: {bad}\n")
        progress.inputs_done += len(part.reader.files) + len(
            part.reader.failed
        )
        progress.inputs_failed += len(part.reader.failed)
        for fs in part.reader.files:
            progress.records += fs.records
            progress.bad.update(fs.bad)
        line.show(progress.line(prog))

    try:
        with open_submitter(so) as submitter:
            units = plan_units(
                entries,
                workers=_worker_count(so, submitter),
                whole_flow_logs=True,
                split_directed=not so.on_dask,
            )
            if not units:
                total = MapPart(
                    None,
                    BuildStats(),
                    ReaderStats(),
                    [],
                    S3Counters(),
                    0.0,
                    [],
                )
            else:
                reduce = getattr(submitter, "reduce_maps", None)
                total = ingest_parallel(
                    builder,
                    units,
                    read,
                    submitter,
                    reduce=reduce,
                    on_part=None if reduce is not None else on_part,
                )
                if reduce is not None:
                    on_part(total)
    finally:
        line.clear()
        if writer is not None:
            writer.close()
    stats = total.reader
    stats.skipped.extend(skipped)
    bad = stats.totals().bad_lines
    if bad and not verbose:
        noun = "line" if bad == 1 else "lines"
        print_error(
            prog,
            f"Could not parse {bad} {noun}; try again with "
            "--stop-on-error or --verbose for details",
        )
    return stats
