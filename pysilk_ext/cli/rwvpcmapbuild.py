# SPDX-License-Identifier: MIT
"""rwvpcmapbuild: build or update a cloud-context map from VPC Flow Logs.

Reads VPC Flow Logs (any container the reader knows), optional ``aws ec2
describe-network-interfaces`` inventories and an AWS ``ip-ranges.json``,
and writes the time-aware, VPC-scoped address <-> cloud-field map
(``.vpcmap``) that rwvpcmapcat, rwvpcmaplookup, rwvpcmapdiff and the
awsvpc plug-in read.  ``--update=MAP`` merges new inputs into an existing
map: merging is idempotent (the same logs twice change nothing) and the
file is replaced atomically, so an interrupted update leaves the previous
map intact.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from pysilk_ext.cli._app import (
    EXIT_FAILURE,
    EXIT_OK,
    SilkArgumentParser,
    UsageError,
    parse_and_run,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._scaleout import (
    add_scaleout_switches,
    ingest_logs_scaled,
    report_failed,
    scaleout_from,
)
from pysilk_ext.cli._switches import Once
from pysilk_ext.cli._vpcmap import (
    TimestampFormat,
    _add_sources,
    add_log_switches,
    check_new_file,
    ingest_logs,
    parse_log_switches,
)
from pysilk_ext.ctxmap import ContextMap, ContextMapBuilder
from pysilk_ext.ctxmap.model import RELATION_NAMES, Relation
from pysilk_ext.reader import ReaderStats

PROG = "rwvpcmapbuild"


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    parser = SilkArgumentParser(
        PROG,
        "Build a cloud-context map (address <-> VPC, subnet, instance, "
        "interface, account, region, AZ, AWS service, with first and last "
        "seen times) from AWS VPC Flow Logs, ENI inventories and "
        "ip-ranges.json, or merge new inputs into an existing map with "
        "--update. When no files are given, read the standard input.",
        usage_tail="[LOGS]",
    )
    parser.add_argument(
        "--output-path",
        action=Once,
        metavar="MAP",
        help="Write the map to this file (replaced atomically). With "
        "--update, write the updated map here instead of over the "
        "--update map",
    )
    parser.add_argument(
        "--update",
        action=Once,
        metavar="MAP",
        help="Merge the inputs into this existing map and replace it "
        "atomically (idempotent: inputs already merged change nothing)",
    )
    add_log_switches(parser)
    add_scaleout_switches(parser)
    parser.add_argument(
        "--print-statistics",
        action="store_true",
        help="Print counts of the records read and of the map's bindings "
        "to the standard error",
    )
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run rwvpcmapbuild; return the exit status."""
    return parse_and_run(build_parser(), argv, _body)


def _body(ns: argparse.Namespace) -> int:
    if ns.output_path is None and ns.update is None:
        raise UsageError("Must specify --output-path or --update")
    target = ns.output_path if ns.output_path is not None else ns.update
    if target in ("-", "stdout", "stderr"):
        raise UsageError(
            f"Invalid output-path '{target}': A map must be written to a file"
        )
    opts = parse_log_switches(ns)
    scale = scaleout_from(ns)
    files: list[str] = ns.files
    read_logs = True
    if not files and sys.stdin.isatty():
        if ns.update is None and not opts.eni_json and opts.ip_ranges is None:
            return stdin_is_terminal_error(PROG)
        read_logs = False
    if ns.output_path is not None:
        check_new_file(ns.output_path)
    builder = ContextMapBuilder()
    old_bindings = None
    if ns.update is not None:
        # The old map is read whole before anything is written: the new
        # file replaces it by one rename, or not at all.
        with ContextMap.open(ns.update) as old:
            builder.add_map(old)
            old_bindings = len(old)
    if scale.parallel and read_logs:
        stats = ingest_logs_scaled(
            PROG,
            builder,
            files,
            opts.reader,
            scale,
            verbose=opts.verbose,
            print_filenames=ns.print_filenames,
        )
        _add_sources(builder, opts)
    else:
        stats = ingest_logs(
            PROG,
            builder,
            files,
            opts,
            read_logs=read_logs,
            print_filenames=ns.print_filenames,
        )
    cmap = builder.build()
    cmap.write(target)
    if ns.print_statistics:
        sys.stderr.write(statistics_text(stats, builder, cmap, old_bindings))
    report_failed(PROG, stats.failed, scale.failed_inputs)
    return EXIT_FAILURE if stats.failed else EXIT_OK


def statistics_text(
    stats: ReaderStats,
    builder: ContextMapBuilder,
    cmap: ContextMap,
    old_bindings: int | None,
) -> str:
    """The ``--print-statistics`` report (one ``name: value`` per line)."""
    total = stats.totals()
    bs = builder.stats
    rel = cmap.tables.bind[:, 3] >> np.uint32(28)
    rows: list[tuple[str, str]] = [
        ("Files read", str(stats.files_read)),
        ("Records read", str(total.records)),
        ("Flow records", str(total.flows)),
        ("NODATA/SKIPDATA records", str(total.nodata + total.skipdata)),
        ("Bad lines", str(total.bad_lines)),
        ("Records without flow-direction", str(bs.undirected)),
        ("Interfaces with inferred address", str(bs.inferred_interfaces)),
        ("Inventory addresses", str(bs.eni_addresses)),
        ("Bindings", str(len(cmap))),
    ]
    for r in (Relation.IFACE, Relation.PKT, Relation.SVC, Relation.ENI):
        count = int(np.count_nonzero(rel == np.uint32(r)))
        rows.append((f"  {RELATION_NAMES[r]}", str(count)))
    if old_bindings is not None:
        rows.append(("Bindings before update", str(old_bindings)))
    rows.append(
        (
            "Addresses",
            str(len(cmap.tables.addr4) + len(cmap.tables.addr6)),
        )
    )
    rows.append(
        (
            "ip-ranges rows",
            str(len(cmap.tables.range4) + len(cmap.tables.range6)),
        )
    )
    span = cmap.time_range
    if span is not None:
        ts = TimestampFormat()
        rows.append(("First seen", ts.format(span[0])))
        rows.append(("Last seen", ts.format(span[1])))
    width = max(len(name) for name, _ in rows) + 2
    return "".join(
        f"{(name + ':').ljust(width)}{value}\n" for name, value in rows
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
