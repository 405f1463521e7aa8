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
import sys

from pysilk_ext.cli._app import (
    EXIT_OK,
    SilkArgumentParser,
    parse_and_run,
    print_error,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._switches import (
    add_bad_input_switches,
    add_log_format_switch,
    add_selection_switches,
    reader_options,
)
from pysilk_ext.cli._text import TextLayout, add_layout_switches, text_layout
from pysilk_ext.reader import FileStats, ReaderStats, VpcReader
from pysilk_ext.vpcparse import BadLine

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


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    parser = SilkArgumentParser(
        PROG,
        "Print per-file statistics of AWS VPC Flow Logs (plain text, "
        "gzip, Parquet, CloudWatch Logs and Firehose JSON) read from "
        "files, directories in S3 key layout, or the standard input. "
        "When no files are given, read the standard input.",
    )
    add_log_format_switch(parser)
    add_bad_input_switches(parser)
    add_selection_switches(parser)
    add_layout_switches(parser, final_delimiter=False)
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


def render(stats: ReaderStats, layout: TextLayout, *, verbose: bool) -> str:
    """The statistics table (and the verbose detail tables)."""
    rows = [_row(fs) for fs in stats.files]
    total = stats.totals()
    total_row = _row(total)
    total_row[0] = "-"
    rows.append(total_row)
    out = layout.format(COLUMNS, rows, left_last=True)
    if not verbose:
        return out
    ifaces = sorted(
        set(stats.nodata_by_interface) | set(stats.skipdata_by_interface)
    )
    if ifaces:
        out += "\n" + layout.format(
            ("interface-id", "nodata", "skipdata"),
            [
                [
                    name,
                    str(stats.nodata_by_interface[name]),
                    str(stats.skipdata_by_interface[name]),
                ]
                for name in ifaces
            ],
        )
    if total.bad:
        out += "\n" + layout.format(
            ("reason", "bad"),
            [[r, str(n)] for r, n in sorted(total.bad.items())],
        )
    if stats.skipped:
        out += "\n" + layout.format(
            ("reason", "skipped"),
            [[s.reason, s.source] for s in stats.skipped],
            left_last=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run rwvpcstats; return the exit status."""
    return parse_and_run(build_parser(), argv, _body)


def _body(ns: argparse.Namespace) -> int:
    reader_args = reader_options(ns)
    layout = text_layout(ns)
    files: list[str] = ns.files
    if not files and sys.stdin.isatty():
        return stdin_is_terminal_error(PROG)

    def on_bad(bad: BadLine) -> None:
        sys.stderr.write(f"{PROG}: {bad}\n")

    def on_open(name: str) -> None:
        sys.stderr.write(f"{name}\n")

    reader = VpcReader(
        files,
        **reader_args,
        on_bad_line=on_bad if ns.verbose else None,
        on_open=on_open if ns.print_filenames else None,
    )
    for _batch in reader:
        pass
    sys.stdout.write(render(reader.stats, layout, verbose=ns.verbose))
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
