# SPDX-License-Identifier: MIT
"""rwvpc2silk: AWS VPC Flow Logs into SiLK flow records or a repository.

The command is a loop over :class:`~pysilk_ext.reader.VpcReader` batches
through :class:`~pysilk_ext.convert.Converter` into one of two sinks:

* a single flow file (``--output-path``, or the standard output), written
  with :class:`~pysilk_ext.silkfmt.flowfile.FlowWriter`: atomic for a
  path, streaming for a pipe;
* a repository (``--root-directory``) through
  :class:`~pysilk_ext.silkfmt.appender.RepositoryWriter` -- one file per
  flowtype x sensor x UTC hour -- with the ledger
  (:mod:`pysilk_ext.convert.ledger`) making reruns idempotent and
  interrupted runs undoable.

Memory is bounded whatever the input's size: the reader's read-ahead,
one batch being converted, two drains of records in repository mode
(:mod:`pysilk_ext.cli._vpcsinks`) and the converter's de-duplication
window.  Everything else is bookkeeping for ``--print-statistics``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysilk_ext import sources as S
from pysilk_ext.cli._app import (
    EXIT_FAILURE,
    EXIT_OK,
    SilkArgumentParser,
    UsageError,
    clobber_allowed,
    parse_and_run,
    print_error,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._scaleout import (
    ScaledConversion,
    ScaleOut,
    add_scaleout_switches,
    conversion_settings,
    outcome_records,
    report_failed,
    scaleout_from,
)
from pysilk_ext.cli._switches import (
    Once,
    add_bad_input_switches,
    add_log_format_switch,
    add_selection_switches,
    check_choice,
    reader_options,
)
from pysilk_ext.cli._vpcsinks import (
    FileSink,
    Progress,
    RepositorySink,
    bound_heap,
)
from pysilk_ext.convert import Converter, MapContext, load_config
from pysilk_ext.convert.awsranges import load_aws_ranges
from pysilk_ext.convert.config import (
    ActionSelection,
    ConvertConfig,
    SensorPolicy,
)
from pysilk_ext.convert.ledger import InputId, Ledger, Recovery
from pysilk_ext.convert.report import statistics_lines
from pysilk_ext.errors import ConvertError, PysilkExtError, VpcParseError
from pysilk_ext.reader import VpcReader
from pysilk_ext.s3keys import KeyFilter
from pysilk_ext.silkfmt.compression import ZLIB_LEVELS
from pysilk_ext.silkfmt.header import Compression, compression_from_name
from pysilk_ext.silkfmt.siteconf import SiteConfig, load_siteconf
from pysilk_ext.vpcparse import BadLine, LogFormat

PROG = "rwvpc2silk"

#: The bundled site configuration (twoway + int2aws/aws2int), copied into
#: a new repository that has none.  Package data (``pysilk_ext/share`` links
#: to the repository's ``share/``), so that it is there in an installed
#: wheel as well as in a source tree.
BUNDLED_SILK_CONF = Path(__file__).resolve().parents[1] / "share" / "silk.conf"

_BYTE_ORDERS = ("native", "little", "big")
#: zlib level without --compression-level: as small as SiLK's own zlib
#: output, three times faster with libdeflate.
DEFAULT_ZLIB_LEVEL = 6


class _Append(argparse.Action):
    """Collect a repeatable switch's values in order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append(values)
        setattr(namespace, self.dest, items)


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    p = SilkArgumentParser(
        PROG,
        "Convert AWS VPC Flow Logs (text, gzip, Parquet, CloudWatch Logs "
        "and Firehose JSON; files, directories in S3 key layout, or the "
        "standard input) to SiLK flow records, written to one file or "
        "into a SiLK repository. When no files are given, read the "
        "standard input.",
        usage_tail="[FILES | DIRECTORIES | -]",
    )
    add = p.add_argument
    add(
        "--output-path",
        action=Once,
        metavar="PATH",
        help="Write the SiLK records to this file ('-' or 'stdout' for "
        "the standard output). Def. stdout",
    )
    add(
        "--root-directory",
        action=Once,
        metavar="DIR",
        help="Write the records into the SiLK repository rooted here, one "
        "file per flowtype, sensor and UTC hour, as rwflowpack does",
    )
    add(
        "--site-config-file",
        action=Once,
        metavar="FILE",
        help="Use this silk.conf and add new sensors to it. Def. "
        "$SILK_CONFIG_FILE, else ROOT/silk.conf with --root-directory",
    )
    add(
        "--action",
        action=Once,
        metavar="ACTION",
        help="Convert the records of this action: reject, accept or all. "
        "Def. the configuration's, else reject",
    )
    add(
        "--map",
        action=Once,
        metavar="MAP",
        help="Classify with this cloud-context map (rwvpcmapbuild): "
        "internal and AWS-service addresses, sensors of subnet/VPC/"
        "account policies",
    )
    add(
        "--config-file",
        action=Once,
        metavar="YAML",
        help="Read the conversion settings (networks, sensors, class/type "
        "rules, de-duplication) from this file (share/rwvpc2silk.yaml)",
    )
    add(
        "--ip-ranges",
        action=Once,
        metavar="FILE",
        help="Treat the service prefixes of this AWS ip-ranges.json as "
        "AWS-service addresses (int2aws/aws2int)",
    )
    add(
        "--sensor-policy",
        action=Once,
        metavar="POLICY",
        help="Make one SiLK sensor per interface, subnet, vpc or account. "
        "Def. the configuration's, else interface",
    )
    add(
        "--dedup",
        action="store_true",
        help="Remove the second copy of a flow logged on two monitored "
        "interfaces",
    )
    add_log_format_switch(p)
    add_selection_switches(p)
    add_bad_input_switches(p)
    add(
        "--compression-method",
        action=Once,
        metavar="METHOD",
        help="Compress new files with none, zlib, lzo1x, snappy or best "
        "(= lzo1x). Def. $SILK_COMPRESSION_METHOD, else none",
    )
    add(
        "--compression-level",
        action=Once,
        metavar="LEVEL",
        help="Compress zlib blocks at this level, 1 (fastest) to 12 "
        "(smallest); SiLK reads every level. Def. 6",
    )
    add(
        "--byte-order",
        action=Once,
        metavar="ENDIAN",
        help="Write new files in native, little or big byte order. "
        "Def. native",
    )
    add(
        "--note-add",
        action=_Append,
        metavar="TEXT",
        help="Store this text in the output file's header as an "
        "annotation. Switch may be repeated",
    )
    add(
        "--note-file-add",
        action=_Append,
        metavar="FILE",
        help="Store the content of this file in the output file's header "
        "as an annotation. Switch may be repeated",
    )
    add(
        "--invocation-strip",
        action="store_true",
        help="Do not record the command line in the output file's header",
    )
    add(
        "--force",
        action="store_true",
        help="Convert inputs the repository's ledger lists as converted",
    )
    add(
        "--dry-run",
        action="store_true",
        help="Read, classify and count, but write nothing (implies "
        "--print-statistics)",
    )
    add(
        "--print-statistics",
        nargs="?",
        const="stderr",
        default=None,
        metavar="PATH",
        help="Print counts of the conversion to this file ('stdout', "
        "'stderr'). Def. stderr",
    )
    add(
        "--print-filenames",
        action="store_true",
        help="Print each input's name to the standard error as it is opened",
    )
    add(
        "--no-progress",
        action="store_true",
        help="Do not show progress on the standard error when it is a "
        "terminal",
    )
    add(
        "--verbose",
        action="store_true",
        help="Print each bad line's reason, each input skipped as already "
        "converted, and each sensor added to the standard error",
    )
    add_scaleout_switches(p)
    add("files", nargs="*", help=argparse.SUPPRESS)
    return p


# --------------------------------------------------------------------------
# Options


@dataclass(slots=True)
class Options:
    """Validated options (see :func:`options_from`)."""

    files: list[str]
    config: ConvertConfig
    output_path: str | None  # None: repository mode or dry run
    root: str | None
    site_path: Path | None
    create_site: bool
    compression: int
    byte_order: str
    notes: list[str]
    invocation: str | None
    key_filter: KeyFilter
    log_format: LogFormat | None
    map_path: str | None
    ip_ranges: str | None
    stats_path: str | None
    dry_run: bool
    force: bool
    verbose: bool
    print_filenames: bool
    progress: bool
    bad_input_lines: str | None
    stop_on_error: bool
    scale: ScaleOut = field(default_factory=ScaleOut)
    compression_level: int | None = None


def _is_stdout(name: str | None) -> bool:
    return name in (None, "-", "stdout")


def _compression(text: str | None) -> int:
    name = text
    if name is None:
        name = os.environ.get("SILK_COMPRESSION_METHOD", "").strip() or "none"
    if name.lower() == "best":
        name = "lzo1x"
    try:
        return int(compression_from_name(name.lower()))
    except (PysilkExtError, ValueError, LookupError) as exc:
        raise UsageError(
            f"Invalid compression-method '{text or name}': Unknown "
            "compression method"
        ) from exc


def _compression_level(text: str | None, compression: int) -> int | None:
    """The zlib level to write with (None when not compressing with zlib)."""
    if compression != Compression.ZLIB:
        if text is not None:
            raise UsageError(
                "May not use --compression-level unless the compression "
                "method is zlib"
            )
        return None
    if text is None:
        return DEFAULT_ZLIB_LEVEL
    try:
        level = int(text)
    except ValueError:
        level = 0
    if level not in ZLIB_LEVELS:
        raise UsageError(
            f"Invalid compression-level '{text}': Expected an integer "
            f"between {ZLIB_LEVELS.start} and {ZLIB_LEVELS.stop - 1}"
        )
    return level


def _read_note_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(
            f"Invalid note-file-add '{path}': No such file or directory"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"Invalid note-file-add '{path}': {exc.strerror}"
        ) from None


def _site_path(ns: argparse.Namespace) -> tuple[Path | None, bool]:
    """Return (silk.conf to use, whether to create it from the bundle)."""
    if ns.site_config_file is not None:
        return Path(ns.site_config_file), False
    env = os.environ.get("SILK_CONFIG_FILE", "").strip()
    if env:
        return Path(env), False
    if ns.root_directory is not None:
        path = Path(ns.root_directory) / "silk.conf"
        return path, not path.exists()
    return None, False


def options_from(ns: argparse.Namespace, argv: Sequence[str]) -> Options:
    """Check switch combinations and values; build the options.

    Raises:
        UsageError: a bad value or combination (SiLK's usage error).
    """
    reader = reader_options(ns)
    if ns.root_directory is not None and ns.output_path is not None:
        raise UsageError(
            "May not use --output-path when --root-directory is specified"
        )
    if ns.root_directory is not None:
        # created when missing (a first run needs no set-up); SiLK's words
        # for an unusable value
        if not ns.root_directory:
            raise UsageError(
                "Invalid root-directory: The directory name is empty"
            )
        root = Path(ns.root_directory)
        if root.exists() and not root.is_dir():
            raise UsageError(
                f"Invalid root-directory: Not a directory '{root}'"
            )
        for switch in ("note_add", "note_file_add"):
            if getattr(ns, switch):
                name = switch.replace("_", "-")
                raise UsageError(
                    f"May not use --{name} when --root-directory is specified"
                )
    if ns.byte_order is not None and ns.byte_order not in _BYTE_ORDERS:
        raise UsageError(
            f"Invalid byte-order '{ns.byte_order}': Unrecognized value"
        )
    check_choice("action", ns.action, [a.value for a in ActionSelection])
    check_choice(
        "sensor-policy", ns.sensor_policy, [s.value for s in SensorPolicy]
    )
    compression = _compression(ns.compression_method)
    compression_level = _compression_level(ns.compression_level, compression)
    config = (
        load_config(ns.config_file)
        if ns.config_file is not None
        else ConvertConfig()
    )
    if ns.action is not None:
        config = dataclasses.replace(config, action=ActionSelection(ns.action))
    if ns.sensor_policy is not None:
        config = dataclasses.replace(
            config,
            sensors=dataclasses.replace(
                config.sensors, policy=SensorPolicy(ns.sensor_policy)
            ),
        )
    if ns.dedup:
        config = dataclasses.replace(
            config, dedup=dataclasses.replace(config.dedup, enabled=True)
        )
    notes = list(ns.note_add or [])
    notes.extend(_read_note_file(p) for p in ns.note_file_add or [])
    output_path: str | None = None
    if ns.root_directory is None:
        output_path = (
            ns.output_path if ns.output_path is not None else "stdout"
        )
    stats_path = ns.print_statistics
    if ns.dry_run and stats_path is None:
        stats_path = "stderr"
    if (
        stats_path == "stdout"
        and not ns.dry_run
        and ns.root_directory is None
        and _is_stdout(output_path)
    ):
        raise UsageError(
            "May not use --print-statistics=stdout when the records are "
            "written to the standard output"
        )
    site_path, create_site = _site_path(ns)
    invocation = None
    if not ns.invocation_strip:
        invocation = " ".join([PROG, *argv])  # as SiLK: no quoting
    return Options(
        files=list(ns.files),
        config=config,
        output_path=output_path,
        root=ns.root_directory,
        site_path=site_path,
        create_site=create_site,
        compression=compression,
        byte_order=ns.byte_order or "native",
        notes=notes,
        invocation=invocation,
        key_filter=KeyFilter(
            accounts=(
                frozenset(reader["accounts"])
                if reader["accounts"] is not None
                else None
            ),
            regions=(
                frozenset(reader["regions"])
                if reader["regions"] is not None
                else None
            ),
            start=reader["start"],
            end=reader["end"],
        ),
        log_format=reader["log_format"],
        map_path=ns.map,
        ip_ranges=ns.ip_ranges,
        stats_path=stats_path,
        dry_run=ns.dry_run,
        force=ns.force,
        verbose=ns.verbose,
        print_filenames=ns.print_filenames,
        progress=not ns.no_progress,
        bad_input_lines=ns.bad_input_lines,
        stop_on_error=ns.stop_on_error,
        scale=scaleout_from(ns),
        compression_level=compression_level,
    )


# --------------------------------------------------------------------------
# Inputs


@dataclass(slots=True)
class InputPlan:
    """The inputs to read, and those left out before opening."""

    inputs: list[S.InputFile] = field(default_factory=list)
    ids: dict[str, InputId | None] = field(default_factory=dict)
    already: list[str] = field(default_factory=list)
    filtered: Counter[str] = field(default_factory=Counter)


def plan_inputs(
    files: Sequence[str], key_filter: KeyFilter, ledger: Ledger | None
) -> InputPlan:
    """Expand directories, apply the key filters and the ledger.

    Raises:
        VpcParseError: an input does not exist or cannot be examined.
    """
    plan = InputPlan()
    for entry in S.expand_inputs(files or ["-"], key_filter):
        if isinstance(entry, S.SourceSkipped):
            plan.filtered[entry.reason] += 1
            continue
        try:
            ident = InputId.of(entry.path, entry.size, entry.etag)
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise VpcParseError(
                f"Cannot open '{entry.path}': {why}", path=entry.path
            ) from None
        if ledger is not None and ledger.converted(ident):
            plan.already.append(entry.path)
            continue
        plan.inputs.append(entry)
        plan.ids[entry.path] = ident
    return plan


# --------------------------------------------------------------------------
# The run


@dataclass(slots=True)
class RunStats:
    """What the command did beyond the converter's own counts."""

    inputs_read: int = 0
    inputs_already: int = 0
    inputs_filtered: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_stored: int = 0
    files_created: int = 0
    files_appended: int = 0
    sensors_added: int = 0
    recovery: Recovery | None = None
    seconds: float = 0.0


def main(argv: list[str] | None = None) -> int:
    """Run rwvpc2silk; return the exit status."""
    bound_heap()
    args = list(sys.argv[1:] if argv is None else argv)
    return parse_and_run(build_parser(), args, lambda ns: _body(ns, args))


def _body(ns: argparse.Namespace, argv: Sequence[str]) -> int:
    opts = options_from(ns, argv)
    if not opts.files and sys.stdin.isatty():
        return stdin_is_terminal_error(PROG)
    if not opts.dry_run and opts.root is None:
        _check_output(opts.output_path)
    with ExitStack() as stack:
        try:
            return _convert(opts, stack)
        except OSError as exc:  # a write failed (disk full, permissions)
            why = exc.strerror or str(exc)
            where = f"Cannot write '{exc.filename}': " if exc.filename else ""
            print_error(PROG, f"{where}{why}")
            return EXIT_FAILURE


def _check_output(name: str | None) -> None:
    if _is_stdout(name):
        if sys.stdout.isatty():
            shown = "stdout" if name is None else name
            raise UsageError(
                f"Will not write binary data on a terminal '{shown}'"
            )
        return
    assert name is not None  # noqa: S101
    if os.path.exists(name) and not clobber_allowed():
        raise ConvertError(
            f"Will not create new file over existing file '{name}': "
            "File exists"
        )


def _load_site(opts: Options) -> SiteConfig | None:
    if opts.site_path is None:
        return None
    if opts.create_site:
        if opts.dry_run:
            return load_siteconf(BUNDLED_SILK_CONF)
        opts.site_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BUNDLED_SILK_CONF, opts.site_path)
    return load_siteconf(opts.site_path)


def _convert(opts: Options, stack: ExitStack) -> int:
    started = time.monotonic()
    err = sys.stderr
    rstats = RunStats()
    ledger: Ledger | None = None
    if opts.root is not None:
        ledger = stack.enter_context(Ledger(opts.root))
        if not opts.dry_run:
            rstats.recovery = ledger.recover()
            for path in rstats.recovery.conflicts:
                print_error(
                    PROG,
                    f"Warning: Cannot undo the interrupted run's records in "
                    f"'{path}': the file was changed by another writer",
                )
    plan = plan_inputs(
        opts.files, opts.key_filter, None if opts.force else ledger
    )
    rstats.inputs_already = len(plan.already)
    rstats.inputs_filtered = plan.filtered
    if opts.verbose:
        for path in plan.already:
            print_error(PROG, f"Skipping '{path}': converted before")
    site = _load_site(opts)
    context = None
    if opts.map_path is not None:
        from pysilk_ext.ctxmap import ContextMap  # noqa: PLC0415 - --map only

        cmap = stack.enter_context(ContextMap.open(opts.map_path))
        context = MapContext(cmap)
    aws_ranges = (
        load_aws_ranges(opts.ip_ranges, opts.config.aws_services)
        if opts.ip_ranges is not None
        else None
    )
    conv = Converter(
        opts.config,
        site=site,
        site_path=None if opts.dry_run else opts.site_path,
        context=context,
        aws_ranges=aws_ranges,
    )
    sink: FileSink | RepositorySink | None = None
    if not opts.dry_run:
        if opts.root is not None:
            assert ledger is not None  # noqa: S101
            assert site is not None  # noqa: S101
            sink = RepositorySink(
                opts.root,
                site,
                ledger,
                opts.site_path,
                byte_order=opts.byte_order,
                compression=opts.compression,
                compression_level=opts.compression_level,
            )
        else:
            sink = FileSink(
                None if _is_stdout(opts.output_path) else opts.output_path,
                byte_order=opts.byte_order,
                compression=opts.compression,
                invocation=opts.invocation,
                notes=opts.notes,
                compression_level=opts.compression_level,
            )

    progress = Progress(
        PROG, err if opts.progress and err.isatty() else None, len(plan.inputs)
    )

    def on_bad(bad: BadLine) -> None:
        progress.clear()
        err.write(f"{PROG}: {bad}\n")

    opened: deque[str] = deque()

    def on_open(name: str) -> None:
        opened.append(name)
        if opts.print_filenames:
            progress.clear()
            err.write(f"{name}\n")

    reader: VpcReader | ScaledConversion
    if opts.scale.parallel:  # workers convert; records come back in order
        reader = ScaledConversion(
            opts.scale,
            plan.inputs,
            conversion_settings(
                opts.scale,
                config=opts.config,
                site=site,
                map_path=opts.map_path,
                aws_ranges=conv.aws_ranges,
                log_format=opts.log_format,
                stop_on_error=opts.stop_on_error,
                keep_bad_lines=opts.verbose or bool(opts.bad_input_lines),
                ship_records=not opts.dry_run,
            ),
            conv,
            bad_lines_path=opts.bad_input_lines,
            on_bad_line=on_bad if opts.verbose else None,
        )
        convert: Any = outcome_records
    else:
        reader = VpcReader(
            plan.inputs,
            log_format=opts.log_format,
            bad_lines_path=opts.bad_input_lines,
            stop_on_error=opts.stop_on_error,
            on_bad_line=on_bad if opts.verbose else None,
            on_open=on_open,
        )
        convert = conv.convert
    done_inputs = 0
    sensors_known = 0

    def finish_input(name: str) -> None:
        nonlocal done_inputs
        done_inputs += 1
        if sink is not None:
            ident = plan.ids.get(name)
            entry = None
            if ident is not None:
                where = name if "://" in name else os.path.abspath(name)
                entry = {"input": where, **ident.as_json()}
            sink.input_done(entry)

    batches: Any = iter(reader) if plan.inputs else iter(())
    try:
        for batch in batches:
            if opts.scale.parallel and batch.first:
                on_open(batch.source)
            while len(opened) > 1:
                finish_input(opened.popleft())
            recs = convert(batch)
            created = conv.sensors.created
            if len(created) > sensors_known:
                if opts.verbose:
                    for sid, name, _ in created[sensors_known:]:
                        progress.clear()
                        print_error(PROG, f"Added sensor {sid} '{name}'")
                sensors_known = len(created)
                if sink is not None:
                    sink.site_changed()
            if sink is not None and len(recs):
                sink.write(recs)
            progress.update(conv.stats.records_in, done_inputs)
        while opened:
            finish_input(opened.popleft())
        if sink is not None:
            sink.close()
    except BaseException:
        progress.clear()
        if sink is not None:
            sink.abort()
        raise
    progress.clear()

    totals = reader.stats.totals()
    rstats.inputs_read = reader.stats.files_read
    rstats.bad = totals.bad
    rstats.bytes_in = totals.bytes_in
    rstats.sensors_added = len(conv.sensors.created)
    if sink is not None:
        rstats.bytes_stored = sink.bytes_stored()
        if isinstance(sink, RepositorySink):
            rstats.files_created = sink.writer.stats.files_created
            rstats.files_appended = sink.writer.stats.files_appended
    rstats.seconds = time.monotonic() - started
    if site is None and conv.sensors.created and not opts.dry_run:
        added = len(conv.sensors.created)
        what = "1 sensor is" if added == 1 else f"{added} sensors are"
        whose = "its name" if added == 1 else "their names"
        print_error(
            PROG,
            f"Warning: {what} in no silk.conf; use --site-config-file to "
            f"keep {whose}",
        )
    if opts.stats_path is not None:
        final_site = (
            load_siteconf(opts.site_path)
            if opts.site_path is not None and opts.site_path.exists()
            else site
        )
        _print_statistics(opts, conv, final_site, rstats)
    bad = sum(rstats.bad.values())
    if bad and not opts.verbose:
        noun = "line" if bad == 1 else "lines"
        print_error(
            PROG,
            f"Could not parse {bad} {noun}; try again with --stop-on-error "
            "or --verbose for details",
        )
    report_failed(PROG, reader.stats.failed, opts.scale.failed_inputs)
    return EXIT_FAILURE if reader.stats.failed else EXIT_OK


# --------------------------------------------------------------------------
# Statistics

_WIDTH = 34


def _row(label: str, value: int | str, indent: int = 0) -> str:
    pad = " " * indent
    return f"{pad}{label + ':':<{_WIDTH - indent}} {value:>12}"


def statistics_text(
    conv: Converter,
    site: SiteConfig | None,
    rstats: RunStats,
    *,
    dry_run: bool,
) -> str:
    """Return the ``--print-statistics`` report."""
    lines = [
        _row("Inputs read", rstats.inputs_read),
        _row("Inputs converted before", rstats.inputs_already),
    ]
    for reason, count in sorted(rstats.inputs_filtered.items()):
        lines.append(_row(f"Inputs skipped by {reason}", count))
    lines.append(_row("Input bytes (as stored)", rstats.bytes_in))
    lines.append(_row("Bad input lines", sum(rstats.bad.values())))
    if rstats.bad:
        lines.append("Bad input lines by reason:")
        lines.extend(
            _row(reason, n, 2) for reason, n in sorted(rstats.bad.items())
        )
    lines.extend(statistics_lines(conv.stats, site, conv.sensor_names()))
    lines.append(_row("Sensors added", rstats.sensors_added))
    if dry_run:
        lines.append("Dry run: nothing written")
    else:
        lines.append(_row("Bytes stored", rstats.bytes_stored))
        written = conv.stats.written
        per = f"{rstats.bytes_stored / written:.1f}" if written else "-"
        lines.append(_row("Bytes stored per record", per))
        if rstats.files_created or rstats.files_appended:
            lines.append(_row("Hourly files created", rstats.files_created))
            lines.append(_row("Hourly files appended", rstats.files_appended))
    rec = rstats.recovery
    if rec is not None and rec.transactions:
        lines.append(_row("Interrupted transactions undone", rec.transactions))
        lines.append(
            _row("Hourly files cut back", rec.files_restored),
        )
        lines.append(_row("Hourly files removed", rec.files_removed))
    rate = conv.stats.records_in / rstats.seconds if rstats.seconds else 0
    lines.append(_row("Seconds", f"{rstats.seconds:.2f}"))
    lines.append(_row("Records per second", f"{rate:.0f}"))
    return "\n".join(lines) + "\n"


def _print_statistics(
    opts: Options,
    conv: Converter,
    site: SiteConfig | None,
    rstats: RunStats,
) -> None:
    text = statistics_text(conv, site, rstats, dry_run=opts.dry_run)
    target = opts.stats_path
    if target == "stderr":
        sys.stderr.write(text)
    elif target == "stdout":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        assert target is not None  # noqa: S101
        try:
            Path(target).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise VpcParseError(
                f"Cannot open '{target}': {exc.strerror}", path=target
            ) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
