# SPDX-License-Identifier: MIT
"""rwvpcmapdiff: change events between two cloud-context maps, as JSON.

Compares an old map with a new one -- or, with ``--logs``, with the old
map updated by new flow logs (exactly what ``rwvpcmapbuild --update``
would write) -- and prints one JSON object per line for each change: a
new VPC, a new interface, an address re-bound to another interface or
instance, a new AWS-service address, an interface gone quiet.  The exit
status says whether anything changed, so a cron job can alert on it:
0 no events, 2 events printed, 1 an error (SiLK's failure status).
The events themselves are defined in :mod:`pysilk_ext.ctxmap.diff`.
"""

from __future__ import annotations

import argparse
import json
import sys

from pysilk_ext.cli._app import (
    EXIT_OK,
    SilkArgumentParser,
    UsageError,
    parse_and_run,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._switches import Once
from pysilk_ext.cli._vpcmap import (
    add_log_switches,
    ingest_logs,
    open_text_output,
    parse_field_list,
    parse_log_switches,
)
from pysilk_ext.ctxmap import ContextMap, ContextMapBuilder, diff

PROG = "rwvpcmapdiff"

EVENTS = (
    "new-vpc",
    "new-interface",
    "address-rebound",
    "new-service-address",
    "interface-quiet",
)
#: Exit status when events were printed (0: none; 1: error, as in SiLK).
EXIT_EVENTS = 2
#: Switches that only mean something with --logs.
_LOG_ONLY: dict[str, object] = {
    "eni_json": [],
    "eni_time": None,
    "ip_ranges": None,
    "log_format": None,
    "account": None,
    "region": None,
    "start_date": None,
    "end_date": None,
    "bad_input_lines": None,
    "stop_on_error": False,
    "print_filenames": False,
    "verbose": False,
}


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    parser = SilkArgumentParser(
        PROG,
        "Print the changes from an old cloud-context map to a new one as "
        "JSON lines: new-vpc, new-interface, address-rebound, "
        "new-service-address, interface-quiet. With --logs, the new map "
        "is the old one updated with the flow logs named after it (or "
        "read from the standard input). Exit status 0: no change; 2: "
        "changes printed; 1: error.",
        usage_tail="OLD-MAP {NEW-MAP | --logs [LOGS]}",
    )
    parser.add_argument(
        "--logs",
        action="store_true",
        help="Compare OLD-MAP with itself updated by these flow logs "
        "instead of with a NEW-MAP",
    )
    parser.add_argument(
        "--quiet-after",
        action=Once,
        metavar="SECONDS",
        help="Report an interface as quiet when the new map has not seen "
        "it in logs for this long before its end (and the old map had, "
        "within as long before its own end). Def. 3600",
    )
    parser.add_argument(
        "--events",
        action=Once,
        metavar="EVENTS",
        help="Report only these comma-separated events (the exit status "
        "counts only them). Def. all",
    )
    parser.add_argument(
        "--output-path",
        action=Once,
        metavar="PATH",
        help="Write the JSON lines here. Def. stdout",
    )
    add_log_switches(parser)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run rwvpcmapdiff; return the exit status."""
    return parse_and_run(build_parser(), argv, _body)


def _quiet(text: str | None) -> int:
    if text is None:
        return 3600
    value = text.strip()
    if not value.isdigit():
        raise UsageError(
            f"Invalid quiet-after '{text}': Expected a number of seconds"
        )
    return int(value)


def _body(ns: argparse.Namespace) -> int:
    quiet = _quiet(ns.quiet_after)
    wanted = (
        set(parse_field_list("events", ns.events, EVENTS))
        if ns.events is not None
        else set(EVENTS)
    )
    if not ns.logs:
        for dest, default in _LOG_ONLY.items():
            if getattr(ns, dest) != default:
                switch = "--" + dest.replace("_", "-")
                raise UsageError(f"The {switch} switch requires --logs")
    files: list[str] = ns.files
    if not files:
        raise UsageError("Missing OLD-MAP argument")
    if ns.logs:
        opts = parse_log_switches(ns)
        logs = files[1:]
        if not logs and sys.stdin.isatty():
            return stdin_is_terminal_error(PROG)
    elif len(files) != 2:
        raise UsageError(
            f"Expected OLD-MAP and NEW-MAP arguments, got {len(files)}"
        )
    with ContextMap.open(files[0]) as old:
        if ns.logs:
            builder = ContextMapBuilder()
            builder.add_map(old)
            ingest_logs(
                PROG,
                builder,
                logs,
                opts,
                print_filenames=ns.print_filenames,
            )
            new = builder.build()
            count = _write_events(ns, old, new, quiet, wanted)
        else:
            with ContextMap.open(files[1]) as new:
                count = _write_events(ns, old, new, quiet, wanted)
    return EXIT_EVENTS if count else EXIT_OK


def _write_events(
    ns: argparse.Namespace,
    old: ContextMap,
    new: ContextMap,
    quiet: int,
    wanted: set[str],
) -> int:
    out, close = open_text_output(ns.output_path)
    count = 0
    try:
        for event in diff(old, new, quiet=quiet):
            if event["event"] in wanted:
                out.write(json.dumps(event, separators=(",", ":")) + "\n")
                count += 1
    finally:
        if close:
            out.close()
        else:
            out.flush()
    return count


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
