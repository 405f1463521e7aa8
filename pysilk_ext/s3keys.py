# SPDX-License-Identifier: MIT
"""What AWS's S3 object keys say about the flow logs inside them.

VPC Flow Logs delivered to S3 sit under keys that name the flow log's
owner account, its region and the time (see ``aws-vpc-flowlogs.md``
section 7.1).  Reading that from the key lets a reader skip whole
accounts, regions and days *before* opening (or listing, or
downloading) anything.  The same functions serve local copies of a
bucket (``aws s3 sync``) and ``s3://`` listings.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["KeyFilter", "LogKey", "parse_log_key"]

_OBJECT_NAME = re.compile(
    r"^(?P<account>\d{12})_(?P<service>vpcflowlogs)_(?P<region>[a-z0-9-]+)_"
    r"(?P<flid>fl-[0-9a-f]+)_(?P<when>\d{8}T\d{4}Z)_(?P<hash>[0-9a-f]+)"
)
_HIVE_KEYS = {
    "aws-account-id": "account",
    "aws-service": "service",
    "service": "service",
    "aws-region": "region",
    "year": "year",
    "month": "month",
    "day": "day",
    "hour": "hour",
}


@dataclass(frozen=True, slots=True)
class LogKey:
    """What an S3 key (or a local path mirroring one) says about its data.

    Any attribute may be None when the key (or a directory prefix of it)
    does not say.  ``start``/``end`` bound the period the key names
    (UTC, ``end`` exclusive): the 5-minute delivery window of an object
    name (its timestamp taken as the window's start), else the hour, day,
    month or year of the partition folders.
    """

    account: str | None = None
    region: str | None = None
    service: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    flow_log_id: str | None = None
    layout: str = "name"  # "s3", "hive" or "name" (object name only)

    @property
    def time(self) -> dt.datetime | None:
        """The start of the period the key names."""
        return self.start


def _period(
    year: int, month: int | None, day: int | None, hour: int | None
) -> tuple[dt.datetime, dt.datetime]:
    utc = dt.UTC
    if month is None:
        return dt.datetime(year, 1, 1, tzinfo=utc), dt.datetime(
            year + 1, 1, 1, tzinfo=utc
        )
    if day is None:
        start = dt.datetime(year, month, 1, tzinfo=utc)
        days = calendar.monthrange(year, month)[1]
        return start, start + dt.timedelta(days=days)
    if hour is None:
        start = dt.datetime(year, month, day, tzinfo=utc)
        return start, start + dt.timedelta(days=1)
    start = dt.datetime(year, month, day, hour, tzinfo=utc)
    return start, start + dt.timedelta(hours=1)


def _int_or_none(text: str | None, lo: int, hi: int) -> int | None:
    if text is None or not text.isdigit():
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def parse_log_key(key: str | os.PathLike[str]) -> LogKey | None:
    """Parse an S3 key or path in AWS's flow-log layouts.

    Understands ``AWSLogs/[o-org/]<acct>/<service>/<region>/YYYY/MM/DD[/HH]``
    and ``AWSLogs/aws-account-id=<acct>/aws-service=<service>/
    aws-region=<region>/year=/month=/day=[/hour=]`` (``service=`` too),
    with or without a bucket/prefix before ``AWSLogs`` and with or without
    the object name; and the object name
    ``<acct>_vpcflowlogs_<region>_<fl-id>_<YYYYMMDDTHHmmZ>_<hash>...``
    alone.  A directory prefix gives a partial key (say, account only).

    Returns None when the path follows none of these layouts.

    This works on local paths and on ``s3://`` keys alike (issue 7 reuses
    it for bucket listings).
    """
    text = os.fspath(key).replace("\\", "/")
    if text.startswith("s3://"):
        text = text[5:]
    parts = [p for p in text.split("/") if p]
    info: dict[str, Any] = {}
    layout = "name"
    if "AWSLogs" in parts:
        rest = parts[len(parts) - 1 - parts[::-1].index("AWSLogs") + 1 :]
        if rest and "=" in rest[0]:
            layout = "hive"
            for part in rest:
                name, sep, value = part.partition("=")
                if sep and name in _HIVE_KEYS:
                    info[_HIVE_KEYS[name]] = value
        else:
            layout = "s3"
            if rest and rest[0].startswith("o-"):
                rest = rest[1:]  # an Organizations id level
            names = ("account", "service", "region", "year", "month", "day")
            for name, value in zip(names, rest, strict=False):
                info[name] = value
            if len(rest) > 6 and rest[6].isdigit() and len(rest[6]) == 2:
                info["hour"] = rest[6]
    name_match = _OBJECT_NAME.match(parts[-1]) if parts else None
    if name_match is None and layout == "name":
        return None
    if layout == "s3" and not (info.get("account") or "").isdigit():
        return None
    start = end = None
    flow_log_id = None
    if name_match is not None:
        flow_log_id = name_match["flid"]
        info.setdefault("account", name_match["account"])
        info.setdefault("region", name_match["region"])
        info.setdefault("service", name_match["service"])
        when = dt.datetime.strptime(name_match["when"], "%Y%m%dT%H%MZ")
        start = when.replace(tzinfo=dt.UTC)
        end = start + dt.timedelta(minutes=5)
    else:
        # the partition folders, outermost first; a present but invalid
        # one (month 13, a file name) means the path states no time
        parts_of_time: list[int] = []
        for name, lo, hi in (
            ("year", 1970, 9999),
            ("month", 1, 12),
            ("day", 1, 31),
            ("hour", 0, 23),
        ):
            folder = info.get(name)
            if folder is None:
                break
            number = _int_or_none(folder, lo, hi)
            if number is None:
                parts_of_time = []
                break
            parts_of_time.append(number)
        if parts_of_time:
            padded: list[int | None] = [*parts_of_time, None, None, None]
            try:
                start, end = _period(
                    parts_of_time[0], padded[1], padded[2], padded[3]
                )
            except ValueError:  # a day that does not exist (Feb 30)
                start = end = None
    return LogKey(
        account=info.get("account"),
        region=info.get("region"),
        service=info.get("service"),
        start=start,
        end=end,
        flow_log_id=flow_log_id,
        layout=layout,
    )


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """Account, region and time selection applied to object keys.

    ``start``/``end`` (UTC, ``end`` exclusive) select objects whose key
    period overlaps them.  A key that does not tell (say, no region in
    it) is never ruled out by that criterion.  Files whose path follows
    no AWS layout are always read.
    """

    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def reject_reason(self, key: LogKey | None) -> str | None:
        """Return why ``key`` is ruled out, or None to keep it."""
        if key is None:
            return None
        if key.service is not None and key.service != "vpcflowlogs":
            return "service"
        if (
            self.accounts is not None
            and key.account is not None
            and key.account not in self.accounts
        ):
            return "account"
        if (
            self.regions is not None
            and key.region is not None
            and key.region not in self.regions
        ):
            return "region"
        if key.start is not None and key.end is not None:
            if self.start is not None and key.end <= self.start:
                return "time"
            if self.end is not None and key.start >= self.end:
                return "time"
        return None
