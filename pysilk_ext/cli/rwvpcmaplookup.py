# SPDX-License-Identifier: MIT
"""rwvpcmaplookup: look addresses up in a cloud-context map at a time.

One line per address: the address, whether the answer is current, stale
(extrapolated past the binding's last sighting until the address is
re-bound), from the ip-ranges layer only, ambiguous (bound in several
VPCs, no scope given: fields those VPCs agree on are still shown) or
absent, the answering binding's first and last seen times and the
resolved fields.  The lookup rule and the precedence
between sources are the map's own (:mod:`pysilk_ext.ctxmap`), so the
answer is the one the awsvpc plug-in and the exported prefix maps give.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from pysilk_ext.cli._app import (
    EXIT_FAILURE,
    EXIT_OK,
    SilkArgumentParser,
    parse_and_run,
    print_error,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._switches import Once
from pysilk_ext.cli._text import text_layout
from pysilk_ext.cli._vpcmap import (
    NO_VALUE,
    TimestampFormat,
    add_text_switches,
    open_text_output,
    parse_field_list,
    parse_time_switch,
    parse_vpc,
    timestamp_format,
)
from pysilk_ext.ctxmap import ContextMap, LookupResult
from pysilk_ext.ctxmap import export as X
from pysilk_ext.ctxmap.model import FIELDS, TABLE_FIELDS, parse_address
from pysilk_ext.errors import ContextMapError
from pysilk_ext.plugin import choose_map

PROG = "rwvpcmaplookup"

ROW_COLUMNS = (
    "address",
    "status",
    "first-seen",
    "last-seen",
    "relation",
    "scope",
    "time",
)
COLUMNS = (*ROW_COLUMNS, *(f.name for f in FIELDS))
DEFAULT_COLUMNS = (
    "address",
    "status",
    "first-seen",
    "last-seen",
    *TABLE_FIELDS,
)
#: Relations whose binding answers, in the precedence order of the map.
ANSWERING = ("interface", "inventory", "service")
#: Lookups per call into the map (bounded memory for long inputs).
BATCH = 4096
#: Inputs up to this many addresses are printed in columns sized to
#: their contents; longer ones use widths from the map's dictionary.
EXACT_WIDTH_ROWS = 100_000


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    parser = SilkArgumentParser(
        PROG,
        "Look IP addresses up in a cloud-context map at a time, optionally "
        "in one VPC, and print one line per address with its cloud "
        "fields. Addresses come from the command line, from "
        "--address-file, or else from the standard input.",
        usage_tail="[ADDRESSES]",
    )
    parser.add_argument(
        "--map",
        action=Once,
        metavar="MAP",
        help="Look addresses up in this map. Def. $AWSVPC_MAP, "
        "$PYSILK_EXT_MAP, else awsvpc.vpcmap in the SiLK data root "
        "directory",
    )
    parser.add_argument(
        "--at",
        action=Once,
        metavar="TIME",
        help="Look up as of this time (YYYY/MM/DDThh:mm:ss UTC, "
        "YYYY/MM/DD:hh, YYYY/MM/DD, or epoch seconds). Def. the end of "
        "the map's time range",
    )
    parser.add_argument(
        "--scope",
        action=Once,
        metavar="VPC-ID",
        help="Look up in this VPC (its bindings and the global ones; an "
        "address it does not hold is looked up unscoped)",
    )
    parser.add_argument(
        "--address-file",
        action="append",
        default=[],
        metavar="PATH",
        help="Read addresses from this file, one per line ('#' starts a "
        "comment; '-' or 'stdin' is the standard input). Repeatable",
    )
    add_text_switches(
        parser,
        fields_help="Print these columns, in this order: address, status, "
        "first-seen, last-seen, relation, scope, time, or any map field. "
        "Def. " + ",".join(DEFAULT_COLUMNS),
    )
    parser.add_argument(
        "--output-path",
        action=Once,
        metavar="PATH",
        help="Write the table here. Def. stdout",
    )
    parser.add_argument("addresses", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run rwvpcmaplookup; return the exit status."""
    return parse_and_run(build_parser(), argv, _body)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one line says (see :func:`answer`)."""

    status: str
    relation: str
    first_seen: int | None
    last_seen: int | None
    scope: str
    fields: dict[str, str]


def answer(result: LookupResult) -> Answer:
    """Reduce a lookup result to one line's values.

    Status: ``ambiguous`` (unscoped and bound in several VPCs: the
    ``vpc-id`` and ``scope`` columns list them, the other fields show
    what those VPCs agree on, ``(ambiguous)`` where they disagree),
    ``current`` (a binding's seen interval holds the time), ``stale``
    (every answering binding ended before the time), ``ip-ranges`` (only
    the prefix layer knows the address), ``none``.  The answering binding
    is the current one of highest precedence (interface, inventory,
    service), else the one seen last.
    """
    if result.ambiguous:
        vpcs = ",".join(result.scopes)
        return Answer(
            "ambiguous",
            NO_VALUE,
            None,
            None,
            vpcs,
            {**result.fields, "vpc-id": vpcs},
        )
    bindings = [result.bindings[r] for r in ANSWERING if r in result.bindings]
    if bindings:
        current = [
            b for b in bindings if b.first_seen <= result.at <= b.last_seen
        ]
        chosen = (
            current[0]
            if current
            else max(bindings, key=lambda b: (b.last_seen, b.first_seen))
        )
        return Answer(
            "stale" if result.stale else "current",
            chosen.relation,
            chosen.first_seen,
            chosen.last_seen,
            chosen.scope or NO_VALUE,
            result.fields,
        )
    if result.fields:
        return Answer(
            "ip-ranges", "ip-ranges", None, None, NO_VALUE, result.fields
        )
    return Answer("none", NO_VALUE, None, None, NO_VALUE, {})


def _cells(
    result: LookupResult,
    columns: Sequence[str],
    tsfmt: TimestampFormat,
) -> list[str]:
    ans = answer(result)
    values = {
        "address": result.address,
        "status": ans.status,
        "first-seen": tsfmt.format(ans.first_seen),
        "last-seen": tsfmt.format(ans.last_seen),
        "relation": ans.relation,
        "scope": ans.scope,
        "time": tsfmt.format(result.at),
    }
    return [
        values[c] if c in values else ans.fields.get(c, NO_VALUE)
        for c in columns
    ]


def _read_addresses(
    ns: argparse.Namespace, errors: list[str]
) -> list[tuple[bytes, str]] | int:
    """Every input address as (16 bytes, where); bad ones go to
    ``errors``.  An int is the exit status of a usage error."""
    out: list[tuple[bytes, str]] = []

    def add(text: str, where: str) -> None:
        try:
            out.append((parse_address(text), where))
        except ContextMapError as exc:
            errors.append(f"{where}{exc}")

    for text in ns.addresses:
        add(text, "")
    sources = list(ns.address_file)
    if not ns.addresses and not sources:
        if sys.stdin.isatty():
            return stdin_is_terminal_error(PROG)
        sources = ["-"]
    for path in sources:
        for lineno, line in _lines(path):
            text = line.split("#", 1)[0].strip()
            if text:
                add(text, f"{path}:{lineno}: ")
    return out


def _lines(path: str) -> Iterator[tuple[int, str]]:
    if path in ("-", "stdin"):
        stream: TextIO = sys.stdin
        yield from enumerate(stream, start=1)
        return
    try:
        fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise ContextMapError(
            f"Cannot open '{path}': {exc.strerror}"
        ) from None
    with fh:
        yield from enumerate(fh, start=1)


def _map_path(ns: argparse.Namespace) -> str:
    path, _source = choose_map(
        ns.map,
        os.environ,
        lambda: os.environ.get("SILK_DATA_ROOTDIR") or "/data",
    )
    return path


def _body(ns: argparse.Namespace) -> int:
    at = parse_time_switch("at", ns.at) if ns.at is not None else None
    scope = parse_vpc("scope", ns.scope) if ns.scope is not None else None
    columns = (
        parse_field_list("fields", ns.fields, COLUMNS)
        if ns.fields is not None
        else list(DEFAULT_COLUMNS)
    )
    tsfmt = timestamp_format(ns)
    text_layout(ns)  # bad separators are usage errors before any work
    errors: list[str] = []
    addresses = _read_addresses(ns, errors)
    if isinstance(addresses, int):
        return addresses
    for message in errors:
        print_error(PROG, message)
    with ContextMap.open(_map_path(ns)) as cmap:
        out, close = open_text_output(ns.output_path)
        try:
            _print(
                out,
                cmap,
                ns,
                addresses,
                at=at,
                scope=scope,
                columns=columns,
                tsfmt=tsfmt,
            )
        finally:
            if close:
                out.close()
            else:
                out.flush()
    return EXIT_FAILURE if errors else EXIT_OK


def _print(
    out: TextIO,
    cmap: ContextMap,
    ns: argparse.Namespace,
    addresses: list[tuple[bytes, str]],
    *,
    at: int | None,
    scope: str | None,
    columns: Sequence[str],
    tsfmt: TimestampFormat,
) -> None:
    def rows() -> Iterator[list[str]]:
        for k in range(0, len(addresses), BATCH):
            raws = [raw for raw, _ in addresses[k : k + BATCH]]
            for res in cmap.lookup(raws, at, scope):
                yield _cells(res, columns, tsfmt)

    cells: Iterator[list[str]] = rows()
    if len(addresses) <= EXACT_WIDTH_ROWS:
        cells_list = list(cells)
        widths = [
            max((len(c[i]) for c in cells_list), default=0)
            for i in range(len(columns))
        ]
        cells = iter(cells_list)
    else:
        dictionary = X.field_widths(cmap)
        fixed = {
            "address": 39,
            "status": len("ambiguous"),
            "first-seen": tsfmt.width,
            "last-seen": tsfmt.width,
            "relation": len("interface"),
            "scope": dictionary["vpc-id"],
            "time": tsfmt.width,
        }
        widths = [fixed.get(c, dictionary.get(c, 0)) for c in columns]
    table = text_layout(ns).table(columns, widths)
    if not ns.no_titles:
        out.write(table.title_line())
    for line in cells:
        out.write(table.line(line))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
