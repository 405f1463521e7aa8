# SPDX-License-Identifier: MIT
"""rwvpcstats: per-file statistics of AWS VPC Flow Logs.

Reads VPC Flow Logs in any container AWS delivers (plain text, gzip,
Parquet, CloudWatch Logs and Firehose JSON) from files, directories in
S3 key layout, or standard input, and prints one row per input plus a
total, in SiLK's column style.  It is the quickest way to see what a log
bucket holds and what the reader makes of it: records, flows, NODATA and
SKIPDATA status records, header lines, millisecond times, Transit Gateway
records and bad lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Sequence
from typing import Any

from pysilk_ext.cli._app import (
    EXIT_OK,
    SilkArgumentParser,
    UsageError,
    parse,
    print_error,
    run,
    stdin_is_terminal_error,
    usage_error,
)
from pysilk_ext.errors import VpcParseError
from pysilk_ext.reader import FileStats, ReaderStats, VpcReader
from pysilk_ext.vpcparse import BadLine, LogFormat

PROG = "rwvpcstats"

COLUMNS = (
    "container",
    "bytes",
    "lines",
    "records",
    "flows",
    "nodata",
    "skipdata",
    "headers",
    "ms-times",
    "tgw",
    "bad",
    "file",
)

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[:T](\d{1,2}))?$")


class _Once(argparse.Action):
    """Store a value; using the switch twice is an error (SiLK's rule)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is not None:
            name = self.option_strings[0].lstrip("-")
            raise UsageError(f"Invalid {name}: Switch used multiple times")
        setattr(namespace, self.dest, values)


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    parser = SilkArgumentParser(
        PROG,
        "Print per-file statistics of AWS VPC Flow Logs (plain text, "
        "gzip, Parquet, CloudWatch Logs and Firehose JSON) read from "
        "files, directories in S3 key layout, or the standard input. "
        "When no files are given, read the standard input.",
    )
    parser.add_argument(
        "--log-format",
        action=_Once,
        metavar="FORMAT",
        help="Parse records without a header line with this format: "
        "AWS's '${version} ${account-id} ...' string or a list of field "
        "names. Def. the header line, else the version 2 default format",
    )
    parser.add_argument(
        "--bad-input-lines",
        action=_Once,
        metavar="PATH",
        help="Write each bad input line to this file as "
        "PATH:LINE:REASON:TEXT ('stdout' and 'stderr' allowed)",
    )
    parser.add_argument(
        "--stop-on-error",
        action="store_true",
        help="Stop at the first bad input line and exit with an error",
    )
    parser.add_argument(
        "--account",
        action=_Once,
        metavar="ACCOUNTS",
        help="Read only objects whose S3 key names one of these "
        "comma-separated 12-digit account ids",
    )
    parser.add_argument(
        "--region",
        action=_Once,
        metavar="REGIONS",
        help="Read only objects whose S3 key names one of these "
        "comma-separated regions",
    )
    parser.add_argument(
        "--start-date",
        action=_Once,
        metavar="YYYY/MM/DD[:HH]",
        help="Read only objects whose S3 key time is at or after this "
        "UTC day or hour",
    )
    parser.add_argument(
        "--end-date",
        action=_Once,
        metavar="YYYY/MM/DD[:HH]",
        help="Read only objects whose S3 key time is before the end of "
        "this UTC day or hour",
    )
    parser.add_argument(
        "--no-titles",
        action="store_true",
        help="Do not print the column titles",
    )
    parser.add_argument(
        "--delimited",
        nargs="?",
        const="|",
        default=None,
        metavar="C",
        help="Shortcut for no column padding, no final delimiter and "
        "--column-separator=C. Def. |",
    )
    parser.add_argument(
        "--column-separator",
        action=_Once,
        metavar="C",
        help="Use this character between columns. Def. |",
    )
    parser.add_argument(
        "--print-filenames",
        action="store_true",
        help="Print each input's name to the standard error as it is opened",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Print each bad line's reason to the standard error, and the "
        "NODATA/SKIPDATA counts per interface, the bad lines per reason "
        "and the skipped objects after the table",
    )
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    return parser


def parse_date(switch: str, text: str, *, end: bool) -> dt.datetime:
    """Parse SiLK's ``YYYY/MM/DD[:HH]`` into a UTC bound.

    A start date is the first second of its day or hour; an end date is
    the first second *after* its day or hour (the bound is exclusive).
    ``YYYY-MM-DD[THH]`` is accepted too.
    """
    match = _DATE.match(text)
    if match is None:
        raise UsageError(
            f"Invalid {switch} '{text}': Expected YYYY/MM/DD[:HH]"
        )
    year, month, day = (int(match[i]) for i in (1, 2, 3))
    hour = int(match[4]) if match[4] is not None else None
    try:
        when = dt.datetime(year, month, day, hour or 0, tzinfo=dt.UTC)
    except ValueError as exc:
        raise UsageError(
            f"Invalid {switch} '{text}': {str(exc).capitalize()}"
        ) from exc
    if end:
        when += (
            dt.timedelta(hours=1) if hour is not None else dt.timedelta(days=1)
        )
    return when


def _split_list(
    switch: str, text: str, pattern: re.Pattern[str], what: str
) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    for item in items:
        if not pattern.match(item):
            raise UsageError(f"Invalid {switch} '{item}': Expected {what}")
    return items


def format_table(
    rows: Sequence[Sequence[str]],
    *,
    titles: Sequence[str] | None,
    separator: str = "|",
    delimited: bool = False,
    left_last: bool = False,
) -> str:
    """Lay out rows SiLK's way: right-justified columns, final delimiter.

    With ``delimited``, no padding and no final delimiter (``--delimited``).
    With ``left_last``, the last column (a file name, often a long S3
    key) is left as is, unpadded, so that it cannot push the numbers
    apart.
    """
    table = [list(titles)] if titles else []
    table.extend(list(r) for r in rows)
    if not table:
        return ""
    if delimited:
        return "".join(separator.join(r) + "\n" for r in table)
    ncols = len(table[0])
    widths = [max(len(r[i]) for r in table) for i in range(ncols)]
    lines = []
    for r in table:
        cells = [c.rjust(w) for c, w in zip(r, widths, strict=True)]
        if left_last:
            cells[-1] = r[-1]
        lines.append(separator.join(cells) + separator + "\n")
    return "".join(lines)


def _row(fs: FileStats) -> list[str]:
    return [
        fs.container or "-",
        str(fs.bytes_in),
        str(fs.lines),
        str(fs.records),
        str(fs.flows),
        str(fs.nodata),
        str(fs.skipdata),
        str(fs.headers),
        str(fs.ms_times),
        str(fs.tgw),
        str(fs.bad_lines),
        fs.source,
    ]


def render(
    stats: ReaderStats,
    *,
    titles: bool,
    separator: str,
    delimited: bool,
    verbose: bool,
) -> str:
    """The statistics table (and the verbose detail tables)."""
    rows = [_row(fs) for fs in stats.files]
    total = stats.totals()
    total_row = _row(total)
    total_row[0] = "-"
    rows.append(total_row)
    out = format_table(
        rows,
        titles=COLUMNS if titles else None,
        separator=separator,
        delimited=delimited,
        left_last=True,
    )
    if not verbose:
        return out
    ifaces = sorted(
        set(stats.nodata_by_interface) | set(stats.skipdata_by_interface)
    )
    if ifaces:
        out += "\n" + format_table(
            [
                [
                    name,
                    str(stats.nodata_by_interface[name]),
                    str(stats.skipdata_by_interface[name]),
                ]
                for name in ifaces
            ],
            titles=("interface-id", "nodata", "skipdata") if titles else None,
            separator=separator,
            delimited=delimited,
        )
    if total.bad:
        out += "\n" + format_table(
            [[r, str(n)] for r, n in sorted(total.bad.items())],
            titles=("reason", "bad") if titles else None,
            separator=separator,
            delimited=delimited,
        )
    if stats.skipped:
        out += "\n" + format_table(
            [[s.reason, s.source] for s in stats.skipped],
            titles=("reason", "skipped") if titles else None,
            separator=separator,
            delimited=delimited,
            left_last=True,
        )
    return out


def bind_optional_values(
    argv: Sequence[str], switches: dict[str, str]
) -> list[str]:
    """Give optional-argument switches their value only through ``=``.

    SiLK documents ``--delimited[=C]``: a following word is an input
    file, never the switch's value (argparse would take it).  A bare
    switch (or a unique abbreviation of it) gets its default value.
    """
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out) :])
            break
        bound = arg
        for name, default in switches.items():
            if "=" not in arg and len(arg) > 2 and name.startswith(arg):
                bound = f"{name}={default}"
                break
        out.append(bound)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run rwvpcstats; return the exit status."""
    parser = build_parser()
    args = sys.argv[1:] if argv is None else argv
    ns = parse(parser, bind_optional_values(args, {"--delimited": "|"}))
    if isinstance(ns, int):
        return ns
    return run(PROG, lambda: _body(ns))


def _body(ns: argparse.Namespace) -> int:
    if ns.stop_on_error and ns.bad_input_lines is not None:
        return usage_error(
            PROG,
            "May not use --stop-on-error when --bad-input-lines is specified",
        )
    if ns.delimited is not None and len(ns.delimited) != 1:
        raise UsageError(
            f"Invalid delimited '{ns.delimited}': Expected one character"
        )
    if ns.column_separator is not None and len(ns.column_separator) != 1:
        raise UsageError(
            f"Invalid column-separator '{ns.column_separator}': Expected "
            "one character"
        )
    separator = ns.delimited or ns.column_separator or "|"
    log_format = None
    if ns.log_format is not None:
        try:
            log_format = LogFormat.parse(ns.log_format)
        except VpcParseError as exc:
            detail = str(exc).split(": ", 1)[-1]
            raise UsageError(
                f"Invalid log-format '{ns.log_format}': {detail}"
            ) from exc
    accounts = (
        _split_list(
            "account", ns.account, _ACCOUNT, "a 12-digit AWS account id"
        )
        if ns.account is not None
        else None
    )
    regions = (
        _split_list(
            "region",
            ns.region,
            _REGION,
            "an AWS region name such as 'us-east-1'",
        )
        if ns.region is not None
        else None
    )
    start = end = None
    if ns.start_date is not None:
        start = parse_date("start-date", ns.start_date, end=False)
    if ns.end_date is not None:
        end = parse_date("end-date", ns.end_date, end=True)
        if start is not None and end <= start:
            raise UsageError(
                f"Invalid end-date '{ns.end_date}': Ends before the start-date"
            )
    files: list[str] = ns.files
    if not files and sys.stdin.isatty():
        return stdin_is_terminal_error(PROG)

    def on_bad(bad: BadLine) -> None:
        sys.stderr.write(f"{PROG}: {bad}\n")

    def on_open(name: str) -> None:
        sys.stderr.write(f"{name}\n")

    reader = VpcReader(
        files,
        log_format=log_format,
        accounts=accounts,
        regions=regions,
        start=start,
        end=end,
        bad_lines_path=ns.bad_input_lines,
        stop_on_error=ns.stop_on_error,
        on_bad_line=on_bad if ns.verbose else None,
        on_open=on_open if ns.print_filenames else None,
    )
    for _batch in reader:
        pass
    sys.stdout.write(
        render(
            reader.stats,
            titles=not ns.no_titles,
            separator=separator,
            delimited=ns.delimited is not None,
            verbose=ns.verbose,
        )
    )
    sys.stdout.flush()
    bad = reader.stats.totals().bad_lines
    if bad and not ns.verbose:
        noun = "line" if bad == 1 else "lines"
        print_error(
            PROG,
            f"Could not parse {bad} {noun}; try again with "
            "--stop-on-error or --verbose for details",
        )
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
