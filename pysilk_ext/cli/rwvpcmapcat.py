# SPDX-License-Identifier: MIT
"""rwvpcmapcat: print a cloud-context map, or export it for SiLK.

Without an export switch it prints the map's bindings as the seed's
table (address, first seen, last seen, AZ, instance, interface, service,
region, subnet, account, VPC, sublocation) in SiLK's text conventions.
``--pmap=FIELD`` writes a SiLK prefix map of one field and ``--ipset=``
an IPset, so that rwfilter, rwcut and the other SiLK tools use the map's
knowledge natively (``--pmap-file``, ``--anyset``), with no Python in the
loop.  What a row, a label or a member is, is decided in
:mod:`pysilk_ext.ctxmap.export`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from pysilk_ext.cli._app import (
    EXIT_OK,
    SilkArgumentParser,
    UsageError,
    parse_and_run,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._switches import Once
from pysilk_ext.cli._text import text_table
from pysilk_ext.cli._vpcmap import (
    NO_VALUE,
    TimestampFormat,
    add_text_switches,
    check_new_file,
    open_text_output,
    parse_field_list,
    parse_time_switch,
    parse_vpc,
    timestamp_format,
)
from pysilk_ext.ctxmap import ContextMap
from pysilk_ext.ctxmap import export as X
from pysilk_ext.ctxmap._format import write_atomic
from pysilk_ext.ctxmap.model import FIELDS, TABLE_FIELDS, Relation

PROG = "rwvpcmapcat"

#: Columns that are not context fields.
ROW_COLUMNS = (
    "address",
    "first-seen",
    "last-seen",
    "relation",
    "scope",
    "kind",
)
COLUMNS = (*ROW_COLUMNS, *(f.name for f in FIELDS))
DEFAULT_COLUMNS = ("address", "first-seen", "last-seen", *TABLE_FIELDS)
DEFAULT_RELATIONS = ("interface", "inventory", "service")
RELATIONS = ("interface", "packet", "service", "inventory", "ip-ranges")
FIELD_NAMES = tuple(f.name for f in FIELDS)


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    parser = SilkArgumentParser(
        PROG,
        "Print the bindings of a cloud-context map as a table, or write a "
        "SiLK prefix map (--pmap) or IPset (--ipset) of it. When no map "
        "is given, read it from the standard input.",
        usage_tail="[MAP]",
    )
    add_text_switches(
        parser,
        fields_help="Print these columns, in this order: address, "
        "first-seen, last-seen, relation, scope, kind, or any map field. "
        "Def. " + ",".join(DEFAULT_COLUMNS),
    )
    parser.add_argument(
        "--relations",
        action=Once,
        metavar="RELATIONS",
        help="Print the bindings of these relations: interface, packet, "
        "service, inventory, ip-ranges. Def. " + ",".join(DEFAULT_RELATIONS),
    )
    parser.add_argument(
        "--scope",
        action=Once,
        metavar="VPC",
        help="Use only this VPC's bindings and the global ones",
    )
    parser.add_argument(
        "--start-time",
        action=Once,
        metavar="TIME",
        help="Table: print bindings seen at or after this time; export: "
        "start of the time range (YYYY/MM/DDThh:mm:ss UTC or epoch "
        "seconds)",
    )
    parser.add_argument(
        "--end-time",
        action=Once,
        metavar="TIME",
        help="Table: print bindings seen at or before this time; export: "
        "end of the time range",
    )
    parser.add_argument(
        "--no-ip-ranges",
        action="store_true",
        help="Leave the ip-ranges layer out: no filled-in fields in the "
        "table, no prefixes in exports",
    )
    parser.add_argument(
        "--pmap",
        action=Once,
        metavar="FIELD",
        help="Write a SiLK prefix map of this field (map name = FIELD) "
        "instead of the table",
    )
    parser.add_argument(
        "--ipset",
        action=Once,
        metavar="FIELD:VALUES",
        help="Write a SiLK IPset of the addresses whose FIELD has one of "
        "the comma-separated VALUES, or of every 'internal' address, "
        "instead of the table",
    )
    parser.add_argument(
        "--at",
        action=Once,
        metavar="TIME",
        help="Export the map as it was at this time (YYYY/MM/DDThh:mm:ss "
        "UTC or epoch seconds). Def. the end of the map's time range "
        "(--pmap), any time (--ipset)",
    )
    parser.add_argument(
        "--mode",
        action=Once,
        metavar="MODE",
        help="Write an ipv4 or ipv6 prefix map or IPset. Def. ipv6 when "
        "the map binds IPv6 addresses, else ipv4",
    )
    parser.add_argument(
        "--note-add",
        action="append",
        default=[],
        metavar="TEXT",
        help="Add this annotation to the exported file's header. Repeatable",
    )
    parser.add_argument(
        "--invocation-strip",
        action="store_true",
        help="Do not record the command line in the exported file",
    )
    parser.add_argument(
        "--output-path",
        action=Once,
        metavar="PATH",
        help="Write the table or the exported file here. Def. stdout",
    )
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run rwvpcmapcat; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    return parse_and_run(build_parser(), args, lambda ns: _body(ns, args))


def open_map_argument(prog: str, files: Sequence[str]) -> ContextMap | int:
    """The map named on the command line, or read from the standard
    input (``-`` or no name), or the exit status of a usage error."""
    if len(files) > 1:
        raise UsageError(
            f"Too many arguments: expected one map, got {len(files)}"
        )
    if files and files[0] != "-":
        return ContextMap.open(files[0])
    if not files and sys.stdin.isatty():
        return stdin_is_terminal_error(prog)
    return ContextMap.from_bytes(sys.stdin.buffer.read(), "stdin")


@dataclass(slots=True)
class _Times:
    start: int | None
    end: int | None
    at: int | None


def _times(ns: argparse.Namespace) -> _Times:
    start = (
        parse_time_switch("start-time", ns.start_time)
        if ns.start_time is not None
        else None
    )
    end = (
        parse_time_switch("end-time", ns.end_time)
        if ns.end_time is not None
        else None
    )
    at = parse_time_switch("at", ns.at) if ns.at is not None else None
    if start is not None and end is not None and end < start:
        raise UsageError(
            f"Invalid end-time '{ns.end_time}': Ends before the start-time"
        )
    if at is not None and (start is not None or end is not None):
        raise UsageError(
            "May not use --at when --start-time or --end-time is specified"
        )
    return _Times(start, end, at)


def _body(ns: argparse.Namespace, argv: list[str]) -> int:
    if ns.pmap is not None and ns.ipset is not None:
        raise UsageError("May not use --ipset when --pmap is specified")
    export = ns.pmap is not None or ns.ipset is not None
    times = _times(ns)
    if times.at is not None and not export:
        raise UsageError("The --at switch requires --pmap or --ipset")
    scope = parse_vpc("scope", ns.scope) if ns.scope is not None else None
    if ns.mode is not None and ns.mode not in ("ipv4", "ipv6"):
        raise UsageError(f"Invalid mode '{ns.mode}': Expected ipv4 or ipv6")
    pmap_field = ipset_spec = None
    if ns.pmap is not None:
        pmap_field = _check_field("pmap", ns.pmap, ns.pmap)
    if ns.ipset is not None:
        ipset_spec = parse_ipset_spec(ns.ipset)
    if export:
        return _export(
            ns,
            argv,
            times,
            scope=scope,
            pmap_field=pmap_field,
            ipset_spec=ipset_spec,
        )
    columns = (
        parse_field_list("fields", ns.fields, COLUMNS)
        if ns.fields is not None
        else list(DEFAULT_COLUMNS)
    )
    relations = (
        parse_field_list("relations", ns.relations, RELATIONS)
        if ns.relations is not None
        else list(DEFAULT_RELATIONS)
    )
    tsfmt = timestamp_format(ns)
    cmap = open_map_argument(PROG, ns.files)
    if isinstance(cmap, int):
        return cmap
    out, close = open_text_output(ns.output_path)
    try:
        write_table(
            out,
            cmap,
            ns,
            columns=columns,
            relations=relations,
            scope=scope,
            times=times,
            tsfmt=tsfmt,
        )
    finally:
        if close:
            out.close()
        else:
            out.flush()
    return EXIT_OK


def _check_field(switch: str, text: str, name: str) -> str:
    if name not in FIELD_NAMES:
        raise UsageError(
            f"Invalid {switch} '{text}': Unknown field '{name}'; expected "
            "one of " + ", ".join(FIELD_NAMES)
        )
    return name


def parse_ipset_spec(text: str) -> tuple[str, list[str]] | None:
    """``FIELD:VALUE[,VALUE...]`` -> (field, values); ``internal`` ->
    None.

    Raises:
        UsageError: malformed text or unknown field.
    """
    if text.strip() == X.INTERNAL_SET:
        return None
    name, sep, rest = text.partition(":")
    values = [v.strip() for v in rest.split(",")]
    if not sep or not name.strip() or not all(values):
        raise UsageError(
            f"Invalid ipset '{text}': Expected FIELD:VALUE[,VALUE...] or "
            f"'{X.INTERNAL_SET}'"
        )
    return _check_field("ipset", text, name.strip()), values


def _widths(
    cmap: ContextMap, columns: Sequence[str], tsfmt: TimestampFormat,
    ranges: bool,
) -> list[int]:  # fmt: skip
    widths = X.field_widths(cmap)
    v6 = bool(len(cmap.tables.addr6)) or (
        ranges and bool(len(cmap.tables.range6))
    )
    address = (39 if v6 else 15) + ((4 if v6 else 3) if ranges else 0)
    fixed = {
        "address": address,
        "first-seen": tsfmt.width,
        "last-seen": tsfmt.width,
        "relation": len("interface"),
        "scope": max(widths["vpc-id"], 1),
        "kind": len("secondary"),
    }
    return [fixed.get(c, widths.get(c, 0)) for c in columns]


#: Tables of up to this many bindings (plus ip-ranges rows when printed)
#: are sized to their contents; larger ones stream with widths from the
#: map's dictionary.
EXACT_WIDTH_ROWS = 100_000


def write_table(
    out: TextIO,
    cmap: ContextMap,
    ns: argparse.Namespace,
    *,
    columns: Sequence[str],
    relations: Sequence[str],
    scope: str | None,
    times: _Times,
    tsfmt: TimestampFormat,
) -> None:
    """Print the binding table to ``out``."""
    rels = [X.RELATION_BY_NAME[r] for r in relations]
    rows = X.iter_table(
        cmap,
        relations=rels,
        scope=scope,
        start=times.start,
        end=times.end,
        fill_from_ranges=not ns.no_ip_ranges,
    )
    cells: Iterator[list[str]] = (_cells(row, columns, tsfmt) for row in rows)
    rows_max = len(cmap)
    if Relation.RANGE in rels:
        rows_max += len(cmap.tables.range4) + len(cmap.tables.range6)
    small = rows_max <= EXACT_WIDTH_ROWS
    if small:
        cells_list = list(cells)
        widths = [
            max((len(c[i]) for c in cells_list), default=0)
            for i in range(len(columns))
        ]
        cells = iter(cells_list)
    else:
        widths = _widths(cmap, columns, tsfmt, Relation.RANGE in rels)
    table = text_table(ns, columns, widths)
    if not ns.no_titles:
        out.write(table.title_line())
    for line in cells:
        out.write(table.line(line))


def _cells(
    row: X.TableRow, columns: Sequence[str], tsfmt: TimestampFormat
) -> list[str]:
    out = []
    for col in columns:
        if col == "address":
            out.append(row.address)
        elif col == "first-seen":
            out.append(tsfmt.format(row.first_seen))
        elif col == "last-seen":
            out.append(tsfmt.format(row.last_seen))
        elif col == "relation":
            out.append(row.relation)
        elif col == "scope":
            out.append(row.scope or NO_VALUE)
        elif col == "kind":
            out.append(",".join(row.kinds) or NO_VALUE)
        else:
            out.append(row.fields.get(col, NO_VALUE))
    return out


def _export(
    ns: argparse.Namespace,
    argv: list[str],
    times: _Times,
    *,
    scope: str | None,
    pmap_field: str | None,
    ipset_spec: tuple[str, list[str]] | None,
) -> int:
    path = ns.output_path
    to_stdout = path is None or path in ("-", "stdout")
    if to_stdout and sys.stdout.isatty():
        shown = "stdout" if path is None else path
        raise UsageError(  # SiLK's wording (rwfilter, rwset, rwpmapbuild)
            f"Will not write binary data on a terminal '{shown}'"
        )
    if not to_stdout:
        check_new_file(path)
    cmap = open_map_argument(PROG, ns.files)
    if isinstance(cmap, int):
        return cmap
    when: object = times.at
    if times.start is not None or times.end is not None:
        span = cmap.time_range or (0, 0)
        when = (
            span[0] if times.start is None else times.start,
            span[1] if times.end is None else times.end,
        )
    invocation = None if ns.invocation_strip else [PROG, *argv]
    include_ranges = not ns.no_ip_ranges
    if pmap_field is not None:
        builder, _stats = X.prefix_map(
            cmap,
            pmap_field,
            at=when,
            scope=scope,
            mode=ns.mode,
            include_ranges=include_ranges,
        )
        data = builder.to_bytes(invocation=invocation, annotations=ns.note_add)
    else:
        if ipset_spec is None:
            ipset, _stats = X.internal_set(
                cmap, at=when, scope=scope, mode=ns.mode
            )
        else:
            ipset, _stats = X.value_set(
                cmap,
                ipset_spec[0],
                ipset_spec[1],
                at=when,
                scope=scope,
                mode=ns.mode,
                include_ranges=include_ranges,
            )
        # Record version 4 keeps an IPv6 set IPv6 even when every member
        # is IPv4 (rwsetbuild would fall back to an IPv4 set).
        data = ipset.to_bytes(
            record_version=4 if ipset.is_ipv6 else None,
            invocation=invocation,
            annotations=ns.note_add,
        )
    if to_stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        # Readers (a running rwfilter) see the old file or the new one.
        write_atomic(path, data)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
