# SPDX-License-Identifier: MIT
"""Switches that several ``rw*`` commands share, each declared once.

Why here: rwvpcstats, rwvpc2silk, rwvpcmapbuild and rwvpcmapdiff all read
flow logs and take the same reader switches (``--log-format``, the S3 key
selection ``--account``/``--region``/``--start-date``/``--end-date`` and
``--bad-input-lines``/``--stop-on-error``); one definition keeps their
help text, their checks and their error messages identical.  The value
checks every command uses (SiLK's "Switch used multiple times", a choice
among names, a one-character separator) live here too.

The three groups of reader switches are added separately so that each
command keeps its own order in ``--help`` (SiLK lists switches in the
order a tool's man page explains them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from pysilk_ext.cli._app import UsageError
from pysilk_ext.errors import VpcParseError
from pysilk_ext.vpcparse import LogFormat

__all__ = [
    "ACCOUNT_RE",
    "REGION_RE",
    "Once",
    "add_bad_input_switches",
    "add_log_format_switch",
    "add_selection_switches",
    "check_char",
    "check_choice",
    "parse_date",
    "reader_options",
    "split_list",
]

#: A 12-digit AWS account id.
ACCOUNT_RE = re.compile(r"^\d{12}$")
#: An AWS region name such as ``us-east-1`` or ``us-gov-west-1``.
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_DATE_RE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[:T](\d{1,2}))?$")


class Once(argparse.Action):
    """Store a value; a second use of the switch is an error (SiLK)."""

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


# -- value checks -------------------------------------------------------------


def check_choice(
    switch: str, value: str | None, allowed: Sequence[str]
) -> None:
    """Raise SiLK's usage error for a value not in ``allowed``."""
    if value is not None and value not in allowed:
        names = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise UsageError(f"Invalid {switch} '{value}': Expected {names}")


def check_char(switch: str, value: str | None) -> str | None:
    """A one-character separator switch (or None).

    Raises:
        UsageError: the value is not one character.
    """
    if value is not None and len(value) != 1:
        raise UsageError(f"Invalid {switch} '{value}': Expected one character")
    return value


def split_list(
    switch: str, text: str, pattern: re.Pattern[str], what: str
) -> list[str]:
    """The comma-separated items of ``--switch=text``, each matching
    ``pattern``.

    Raises:
        UsageError: an item does not match (the message says ``what``).
    """
    items = [t.strip() for t in text.split(",")]
    for item in items:
        if not pattern.match(item):
            raise UsageError(f"Invalid {switch} '{item}': Expected {what}")
    return items


def parse_date(switch: str, text: str, *, end: bool) -> dt.datetime:
    """Parse SiLK's ``YYYY/MM/DD[:HH]`` into a UTC bound.

    A start date is the first second of its day or hour; an end date is
    the first second *after* its day or hour (the bound is exclusive).
    ``YYYY-MM-DD[THH]`` is accepted too.

    Raises:
        UsageError: not a date, or not a real day or hour.
    """
    match = _DATE_RE.match(text)
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


# -- the reader's switches ----------------------------------------------------


def add_log_format_switch(parser: argparse.ArgumentParser) -> None:
    """``--log-format``: the format of records without a header line."""
    parser.add_argument(
        "--log-format",
        action=Once,
        metavar="FORMAT",
        help="Parse records without a header line with this format: "
        "AWS's '${version} ${account-id} ...' string or a list of field "
        "names. Def. the header line, else the version 2 default format",
    )


def add_selection_switches(parser: argparse.ArgumentParser) -> None:
    """``--account``, ``--region``, ``--start-date``, ``--end-date``:
    which S3 objects to read, by the names in their keys."""
    parser.add_argument(
        "--account",
        action=Once,
        metavar="ACCOUNTS",
        help="Read only objects whose S3 key names one of these "
        "comma-separated 12-digit account ids",
    )
    parser.add_argument(
        "--region",
        action=Once,
        metavar="REGIONS",
        help="Read only objects whose S3 key names one of these "
        "comma-separated regions",
    )
    parser.add_argument(
        "--start-date",
        action=Once,
        metavar="YYYY/MM/DD[:HH]",
        help="Read only objects whose S3 key time is at or after this "
        "UTC day or hour",
    )
    parser.add_argument(
        "--end-date",
        action=Once,
        metavar="YYYY/MM/DD[:HH]",
        help="Read only objects whose S3 key time is before the end of "
        "this UTC day or hour",
    )


def add_bad_input_switches(parser: argparse.ArgumentParser) -> None:
    """``--bad-input-lines`` and ``--stop-on-error`` (as in rwtuc)."""
    parser.add_argument(
        "--bad-input-lines",
        action=Once,
        metavar="PATH",
        help="Write each bad input line to this file as "
        "PATH:LINE:REASON:TEXT ('stdout' and 'stderr' allowed)",
    )
    parser.add_argument(
        "--stop-on-error",
        action="store_true",
        help="Stop at the first bad input line and exit with an error",
    )


def reader_options(ns: argparse.Namespace) -> dict[str, Any]:
    """Check the reader's switches; return :class:`~pysilk_ext.reader.
    VpcReader` keyword arguments (``log_format``, ``accounts``,
    ``regions``, ``start``, ``end``, ``bad_lines_path``,
    ``stop_on_error``).

    Raises:
        UsageError: a malformed value or conflicting switches.
    """
    if ns.stop_on_error and ns.bad_input_lines is not None:
        raise UsageError(
            "May not use --stop-on-error when --bad-input-lines is specified"
        )
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
        split_list(
            "account", ns.account, ACCOUNT_RE, "a 12-digit AWS account id"
        )
        if ns.account is not None
        else None
    )
    regions = (
        split_list(
            "region",
            ns.region,
            REGION_RE,
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
    return {
        "log_format": log_format,
        "accounts": accounts,
        "regions": regions,
        "start": start,
        "end": end,
        "bad_lines_path": ns.bad_input_lines,
        "stop_on_error": ns.stop_on_error,
    }
