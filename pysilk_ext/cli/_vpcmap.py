# SPDX-License-Identifier: MIT
"""Pieces shared by the rwvpcmap* commands: switch values, timestamps,
progress, reading logs into a map.

Why here and not in each command: rwvpcmapcat and rwvpcmaplookup print
the same kind of table with the same switches (``--fields``,
``--timestamp-format`` and the layout switches of :mod:`._text`), and
rwvpcmapbuild and rwvpcmapdiff read logs with the same switches (the
reader's from :mod:`._switches`, plus the inventories and ip-ranges);
one definition keeps the four commands' behaviour and messages
identical.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, ClassVar, TextIO

from pysilk_ext.cli._app import UsageError, clobber_allowed
from pysilk_ext.cli._switches import (
    Once,
    add_bad_input_switches,
    add_log_format_switch,
    add_selection_switches,
    reader_options,
)
from pysilk_ext.cli._text import add_layout_switches
from pysilk_ext.ctxmap import ContextMapBuilder
from pysilk_ext.ctxmap.model import parse_time
from pysilk_ext.errors import ContextMapError
from pysilk_ext.reader import ReaderStats, VpcReader
from pysilk_ext.vpcparse import BadLine

__all__ = [
    "NO_VALUE",
    "LogOptions",
    "Progress",
    "TimestampFormat",
    "add_log_switches",
    "add_text_switches",
    "check_new_file",
    "ingest_logs",
    "open_text_output",
    "parse_field_list",
    "parse_log_switches",
    "parse_time_switch",
    "parse_vpc",
    "timestamp_format",
]

NO_VALUE = "-"
_VPC = re.compile(r"^vpc-[0-9a-f]{1,17}$")
TIME_FORMS = "YYYY/MM/DD[Thh[:mm[:ss]]] (UTC) or epoch seconds"
MAX_MAP_TIME = 2**32 - 1  # the latest time a map file can hold


# -- switch values ------------------------------------------------------------


def parse_time_switch(switch: str, text: str) -> int:
    """Epoch seconds of ``--switch=text`` (SiLK's date forms or epoch).

    Raises:
        UsageError: not a time.
    """
    try:
        when = parse_time(text)
    except ContextMapError:
        raise UsageError(
            f"Invalid {switch} '{text}': Expected {TIME_FORMS}"
        ) from None
    if not 0 <= when <= MAX_MAP_TIME:
        # a map stores times as 32-bit epoch seconds; a later time
        # would overflow the lookups and exports
        raise UsageError(
            f"Invalid {switch} '{text}': Value out of range "
            f"0-{MAX_MAP_TIME} (1970/01/01T00:00:00-2106/02/07T06:28:15)"
        )
    return when


def parse_vpc(switch: str, text: str) -> str:
    """A VPC id given to ``--switch`` (lower-cased).

    Raises:
        UsageError: not ``vpc-<hex digits>``.
    """
    value = text.strip().lower()
    if not _VPC.match(value):
        raise UsageError(
            f"Invalid {switch} '{text}': Expected vpc-<hex digits>"
        )
    return value


def parse_field_list(
    switch: str, text: str, known: Sequence[str]
) -> list[str]:
    """A comma list of names from ``known`` (no empty element, no repeat).

    Raises:
        UsageError: empty, unknown or repeated name.
    """
    names = [n.strip() for n in text.split(",")]
    out: list[str] = []
    for name in names:
        if not name:
            raise UsageError(f"Invalid {switch} '{text}': Empty list element")
        if name not in known:
            raise UsageError(
                f"Invalid {switch} '{text}': Unknown name '{name}'"
            )
        if name in out:
            raise UsageError(
                f"Invalid {switch} '{text}': Name '{name}' used twice"
            )
        out.append(name)
    return out


# -- timestamps --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimestampFormat:
    """rwcut's ``--timestamp-format``: a form and a zone.

    Forms: ``default`` (``YYYY/MM/DDThh:mm:ss``), ``iso``
    (``YYYY-MM-DD hh:mm:ss``), ``m/d/y`` (``MM/DD/YYYY hh:mm:ss``),
    ``epoch`` (seconds); zones ``utc`` (default) and ``local`` (the TZ
    environment variable); ``no-msec`` is accepted (times here are whole
    seconds already).
    """

    form: str = "default"
    local: bool = False

    _FORMS: ClassVar[dict[str, str]] = {
        "default": "%Y/%m/%dT%H:%M:%S",
        "iso": "%Y-%m-%d %H:%M:%S",
        "m/d/y": "%m/%d/%Y %H:%M:%S",
        "epoch": "",
    }

    @classmethod
    def parse(cls, text: str) -> TimestampFormat:
        """Parse ``FORM[,ZONE][,no-msec]`` (any order, each once).

        Raises:
            UsageError: unknown or conflicting words.
        """
        form = zone = None
        for raw in text.split(","):
            word = raw.strip().lower()
            if word in cls._FORMS:
                if form is not None:
                    raise UsageError(
                        f"Invalid timestamp-format '{text}': Only one of "
                        "default, iso, m/d/y, epoch may be given"
                    )
                form = word
            elif word in ("utc", "local"):
                if zone is not None:
                    raise UsageError(
                        f"Invalid timestamp-format '{text}': Only one of "
                        "utc, local may be given"
                    )
                zone = word
            elif word != "no-msec":
                raise UsageError(
                    f"Invalid timestamp-format '{text}': Unknown word "
                    f"'{raw.strip()}'"
                )
        return cls(form or "default", zone == "local")

    @property
    def width(self) -> int:
        """Column width of a time in this form."""
        return 10 if self.form == "epoch" else 19

    def format(self, epoch: int | None) -> str:
        """Text of ``epoch`` (``-`` for no time)."""
        if epoch is None:
            return NO_VALUE
        if self.form == "epoch":
            return str(epoch)
        when = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
        if self.local:
            when = when.astimezone()
        return when.strftime(self._FORMS[self.form])


# -- text switches ----------------------------------------------------------


def add_text_switches(
    parser: argparse.ArgumentParser, *, fields_help: str
) -> None:
    """``--fields`` and rwcut's text-layout switches."""
    parser.add_argument(
        "--fields", action=Once, metavar="FIELDS", help=fields_help
    )
    parser.add_argument(
        "--timestamp-format",
        action=Once,
        metavar="FORMAT",
        help="Print times in this form: default (YYYY/MM/DDThh:mm:ss), "
        "iso, m/d/y or epoch, optionally with ',utc' or ',local'. "
        "Def. $SILK_TIMESTAMP_FORMAT or default,utc",
    )
    add_layout_switches(parser)


def timestamp_format(ns: argparse.Namespace) -> TimestampFormat:
    """``--timestamp-format``, else ``$SILK_TIMESTAMP_FORMAT`` (as rwcut)."""
    if ns.timestamp_format is not None:
        return TimestampFormat.parse(ns.timestamp_format)
    env = os.environ.get("SILK_TIMESTAMP_FORMAT")
    if env:
        try:
            return TimestampFormat.parse(env)
        except UsageError:
            return TimestampFormat()
    return TimestampFormat()


def open_text_output(path: str | None) -> tuple[TextIO, bool]:
    """(stream, close it?) for ``--output-path`` of text output."""
    if path is None or path in ("-", "stdout"):
        return sys.stdout, False
    if path == "stderr":
        return sys.stderr, False
    check_new_file(path)
    try:
        return open(path, "w", encoding="utf-8"), True
    except OSError as exc:
        raise ContextMapError(
            f"Cannot open '{path}' for writing: {exc.strerror}"
        ) from None


# -- reading logs (rwvpcmapbuild, rwvpcmapdiff --logs) ----------------------


def add_log_switches(parser: argparse.ArgumentParser) -> None:
    """The switches that read flow logs into a map."""
    parser.add_argument(
        "--eni-json",
        action="append",
        default=[],
        metavar="FILE",
        help="Add the interfaces of this 'aws ec2 "
        "describe-network-interfaces' output (primary, secondary, IPv6 and "
        "public addresses). Repeatable",
    )
    parser.add_argument(
        "--eni-time",
        action=Once,
        metavar="TIME",
        help="Take the --eni-json snapshots as of this time "
        "(YYYY/MM/DDThh:mm:ss UTC or epoch seconds). Def. each file's "
        "modification time",
    )
    parser.add_argument(
        "--ip-ranges",
        action=Once,
        metavar="FILE",
        help="Use this AWS ip-ranges.json as the base layer (prefix -> "
        "service, region, border group); the newest syncToken wins",
    )
    add_log_format_switch(parser)
    add_selection_switches(parser)
    add_bad_input_switches(parser)
    parser.add_argument(
        "--print-filenames",
        action="store_true",
        help="Print each input's name to the standard error as it is opened",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Print each bad line's reason to the standard error",
    )


@dataclass(slots=True)
class LogOptions:
    """The reader's arguments and the extra sources, validated."""

    reader: dict[str, Any]
    eni_json: list[str]
    eni_time: int | None
    ip_ranges: str | None
    verbose: bool


def parse_log_switches(ns: argparse.Namespace) -> LogOptions:
    """Validate the log switches into reader arguments.

    Raises:
        UsageError: a malformed value or conflicting switches.
    """
    reader = reader_options(ns)
    eni_time = (
        parse_time_switch("eni-time", ns.eni_time)
        if ns.eni_time is not None
        else None
    )
    return LogOptions(reader, ns.eni_json, eni_time, ns.ip_ranges, ns.verbose)


class Progress:
    """A one-line progress report on a terminal (nothing otherwise).

    Rewritten at most twice a second with a carriage return, and erased
    at the end, so that it never mixes with the command's real output.
    """

    def __init__(self, prog: str, stream: IO[str] | None = None) -> None:
        self.prog = prog
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.files = 0
        self.records = 0
        self._last = 0.0
        self._width = 0
        self._clock: Callable[[], float] = time.monotonic

    def opened(self, name: str) -> None:
        """An input was opened."""
        del name
        self.files += 1
        self.show()

    def add(self, records: int) -> None:
        """``records`` more records were read."""
        self.records += records
        self.show()

    def show(self, *, force: bool = False) -> None:
        """Redraw the line if half a second has passed."""
        if not self.enabled:
            return
        now = self._clock()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        text = (
            f"{self.prog}: {self.files} file(s), {self.records} records read"
        )
        self._width = max(self._width, len(text))
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()

    def done(self) -> None:
        """Erase the line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def ingest_logs(
    prog: str,
    builder: ContextMapBuilder,
    inputs: Sequence[str],
    opts: LogOptions,
    *,
    read_logs: bool = True,
    print_filenames: bool = False,
) -> ReaderStats:
    """Read ``inputs`` (``[]``: the standard input; nothing unless
    ``read_logs``) into ``builder``, then the inventories and ip-ranges of
    ``opts``; return the reader's statistics.  Bad lines are reported as
    rwvpcstats does.

    Raises:
        VpcParseError: an input cannot be opened, or a bad line with
            ``--stop-on-error``.
        ContextMapError: a bad inventory or ip-ranges file.
    """
    progress = Progress(prog)

    def on_open(name: str) -> None:
        if print_filenames:
            progress.done()
            sys.stderr.write(f"{name}\n")
        progress.opened(name)

    def on_bad(bad: BadLine) -> None:
        progress.done()
        sys.stderr.write(f"{prog}: {bad}\n")

    if not read_logs:
        _add_sources(builder, opts)
        return ReaderStats()
    reader = VpcReader(
        list(inputs),
        on_open=on_open,
        on_bad_line=on_bad if opts.verbose else None,
        **opts.reader,
    )
    try:
        for batch in reader:
            builder.add_batch(batch)
            progress.add(batch.n)
    finally:
        progress.done()
    bad = reader.stats.totals().bad_lines
    if bad and not opts.verbose:
        noun = "line" if bad == 1 else "lines"
        sys.stderr.write(
            f"{prog}: Could not parse {bad} {noun}; try again with "
            "--stop-on-error or --verbose for details\n"
        )
    _add_sources(builder, opts)
    return reader.stats


def _add_sources(builder: ContextMapBuilder, opts: LogOptions) -> None:
    for path in opts.eni_json:
        builder.add_eni_json(path, at=opts.eni_time)
    if opts.ip_ranges is not None:
        builder.add_ip_ranges(opts.ip_ranges)


def check_new_file(path: str) -> None:
    """Refuse to replace an existing regular file unless SILK_CLOBBER
    says so (SiLK's rule for every output file).

    Raises:
        ContextMapError: the file exists.
    """
    if path in ("-", "stdout", "stderr") or clobber_allowed():
        return
    if os.path.isfile(path):
        raise ContextMapError(
            f"Will not create new file over existing file '{path}': "
            "File exists"
        )
