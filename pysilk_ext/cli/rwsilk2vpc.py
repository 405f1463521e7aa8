# SPDX-License-Identifier: MIT
"""rwsilk2vpc: SiLK flow records (+ context map) back to VPC Flow Log text.

The reverse of rwvpc2silk, like SiLK's rwsilk2ipfix: it proves that the
conversion keeps every field its mapping table says it keeps.  Records
come from SiLK flow files (any layout SiLK writes, standard input with
``-``) through :class:`~pysilk_ext.silkfmt.flowfile.FlowReader`; each
batch becomes text through
:class:`~pysilk_ext.convert.reverse.VpcTextFormatter`, which takes the
interface id from the sensor (silk.conf) and the interface's cloud
fields and AWS-service names from the context map (``--map``).

Records that rwvpc2silk split because a count exceeded 2^32-1 (tcpState
T/C) are added up into one line again; their pieces are held back until
the end of the input (see :func:`defer_pieces`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import numpy as np

from pysilk_ext.cli._app import (
    EXIT_OK,
    SilkArgumentParser,
    UsageError,
    clobber_allowed,
    parse_and_run,
    print_error,
    stdin_is_terminal_error,
)
from pysilk_ext.cli._switches import Once, check_choice
from pysilk_ext.convert import MapContext, VpcTextFormatter, load_config
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.config import ConvertConfig, SensorPolicy
from pysilk_ext.convert.reverse import DEFAULT_OUTPUT_FIELDS
from pysilk_ext.ctxmap import ContextMap
from pysilk_ext.errors import ConvertError
from pysilk_ext.fields import FIELDS_BY_NAME
from pysilk_ext.silkfmt.flowfile import FlowReader
from pysilk_ext.silkfmt.siteconf import (
    SiteConfig,
    load_siteconf,
    locate_siteconf,
)

PROG = "rwsilk2vpc"

#: Records read per batch (bounded memory; one text block per batch).
BATCH = 65536


def build_parser() -> SilkArgumentParser:
    """The command's switches (help text and defaults declared once)."""
    p = SilkArgumentParser(
        PROG,
        "Convert SiLK flow records written by rwvpc2silk back to AWS VPC "
        "Flow Log text, with a header line, taking the interface from the "
        "sensor and the cloud fields from a context map. When no files "
        "are given, read the standard input.",
        usage_tail="[SILKFILES | -]",
    )
    add = p.add_argument
    add(
        "--map",
        action=Once,
        metavar="MAP",
        help="Take the interfaces' cloud fields (account, VPC, subnet, "
        "instance, region, AZ, ...) and AWS-service names from this "
        "context map (rwvpcmapbuild)",
    )
    add(
        "--site-config-file",
        action=Once,
        metavar="FILE",
        help="Name sensors and flowtypes from this silk.conf (the one "
        "rwvpc2silk added the sensors to). Def. $SILK_CONFIG_FILE, else "
        "$SILK_DATA_ROOTDIR/silk.conf",
    )
    add(
        "--output-path",
        action=Once,
        metavar="PATH",
        help="Write the text to this file ('-' or 'stdout' for the "
        "standard output). Def. stdout",
    )
    add(
        "--fields",
        action=Once,
        metavar="FIELDS",
        help="Write these VPC fields, comma-separated, in this order. "
        "Def. every field of versions 2-5",
    )
    add(
        "--config-file",
        action=Once,
        metavar="YAML",
        help="Read the type names and the sensor policy from this "
        "rwvpc2silk configuration file",
    )
    add(
        "--sensor-policy",
        action=Once,
        metavar="POLICY",
        help="What a sensor stands for: interface, subnet, vpc or account "
        "(as given to rwvpc2silk). Def. the configuration's, else "
        "interface",
    )
    add(
        "--no-titles",
        action="store_true",
        help="Do not write the header line",
    )
    add(
        "--print-filenames",
        action="store_true",
        help="Print each input's name to the standard error as it is opened",
    )
    add(
        "--verbose",
        action="store_true",
        help="Print how many values of each field were unknown (written "
        "as '-') to the standard error",
    )
    add("files", nargs="*", help=argparse.SUPPRESS)
    return p


def parse_fields(text: str) -> tuple[str, ...]:
    """Return the field list of ``--fields``.

    Raises:
        UsageError: an unknown or repeated field.
    """
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("Invalid fields: No fields given")
    seen: set[str] = set()
    for name in names:
        if name not in FIELDS_BY_NAME:
            raise UsageError(
                f"Invalid fields: No match was found for the field '{name}'"
            )
        if name in seen:
            raise UsageError(
                f"Invalid fields: Field '{name}' given more than once"
            )
        seen.add(name)
    return tuple(names)


def _site(ns: argparse.Namespace) -> SiteConfig | None:
    if ns.site_config_file is not None:
        return load_siteconf(ns.site_config_file)
    path = locate_siteconf()
    return load_siteconf(path) if path.is_file() else None


def _open_output(name: str | None, stack: ExitStack) -> IO[str]:
    if name in (None, "-", "stdout"):
        return sys.stdout
    assert name is not None  # noqa: S101
    mode = "w" if clobber_allowed() else "x"
    try:
        return stack.enter_context(open(name, mode, encoding="utf-8"))
    except FileExistsError:
        raise ConvertError(f"Cannot open '{name}': File exists") from None
    except OSError as exc:
        raise ConvertError(f"Cannot open '{name}': {exc.strerror}") from None


def defer_pieces(batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield each batch's whole records, then every split piece at once.

    The pieces of one split record (tcpState T/C) need not be adjacent --
    rwvpc2silk writes the first pieces in place and the others after,
    and rwsort may reorder them -- so they are held back (copied: the
    reader reuses its buffer) and handed over together at the end, where
    :func:`~pysilk_ext.convert.reverse.merge_split` adds them up.  They
    are rare (a count above 2^32-1 in one capture window), so holding
    them costs little memory.
    """
    pieces: list[np.ndarray] = []
    for batch in batches:
        split = (batch["tcp_state"] & L.SPLIT_MASK) != 0
        whole = batch
        if split.any():
            pieces.append(batch[split].copy())
            whole = batch[~split]
        if len(whole):
            yield whole
    if pieces:
        yield np.concatenate(pieces)


def main(argv: list[str] | None = None) -> int:
    """Run rwsilk2vpc; return the exit status."""
    return parse_and_run(build_parser(), argv, _body)


def _body(ns: argparse.Namespace) -> int:
    fields = (
        parse_fields(ns.fields)
        if ns.fields is not None
        else DEFAULT_OUTPUT_FIELDS
    )
    check_choice(
        "sensor-policy", ns.sensor_policy, [s.value for s in SensorPolicy]
    )
    files: list[str] = ns.files
    if not files and sys.stdin.isatty():
        return stdin_is_terminal_error(PROG)
    config = (
        load_config(ns.config_file)
        if ns.config_file is not None
        else ConvertConfig()
    )
    policy = (
        SensorPolicy(ns.sensor_policy)
        if ns.sensor_policy is not None
        else config.sensors.policy
    )
    for name in files:
        # a named pipe (``<(rwfilter ...)``) or /dev/stdin is fine, as
        # for every SiLK tool; only a missing path or a directory is not
        if name != "-" and (Path(name).is_dir() or not Path(name).exists()):
            why = (
                "Is a directory"
                if Path(name).is_dir()
                else "No such file or directory"
            )
            raise ConvertError(f"Cannot open '{name}': {why}")
    site = _site(ns)
    with ExitStack() as stack:
        context = None
        if ns.map is not None:
            context = MapContext(stack.enter_context(ContextMap.open(ns.map)))
        out = _open_output(ns.output_path, stack)
        formatter = VpcTextFormatter(
            fields=fields,
            site=site,
            context=context,
            classify=config.classify,
            sensor_policy=policy,
        )
        if not ns.no_titles:
            out.write(formatter.header() + "\n")
        for name in files or ["-"]:
            if ns.print_filenames:
                sys.stderr.write(f"{name}\n")
            _convert_file(name, formatter, out)
        out.flush()
    if ns.verbose:
        for name, count in sorted(formatter.stats.unknown.items()):
            print_error(PROG, f"{count} values of '{name}' unknown")
    return EXIT_OK


def _convert_file(
    name: str, formatter: VpcTextFormatter, out: IO[str]
) -> None:
    source: Any = sys.stdin.buffer if name == "-" else name
    with FlowReader(source, path=None if name != "-" else "stdin") as reader:
        for recs in defer_pieces(reader.iter_batches(BATCH)):
            lines = formatter.lines(recs)
            if lines:
                out.write("\n".join(lines) + "\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
