# SPDX-License-Identifier: MIT
"""The SiLK data repository: paths, file selection like rwfglob.

A repository holds one flow file per (flowtype, sensor, UTC hour) under
the data root, at the place silk.conf's ``path-format`` says (spec 6.4).
This module computes those paths, parses repository file names, and
selects files for a class/type/sensor/time query exactly as
``rwfglob`` and ``rwfilter --data-rootdir`` do (spec 6.5).  Writing and
appending repository files is :mod:`~pysilk_ext.silkfmt.appender`.

Public API::

    expand_path_format(site, flowtype, sensor, time_ms, path_format=None)
    repo_path(root, site, flowtype, sensor, time_ms) -> str
    parse_repo_filename(site, name) -> RepoFileName | None
    parse_silk_datetime(text) -> SilkTime
    selection_hours(start=None, end=None, now=None) -> (start_ms, end_ms)
    select_flowtypes(site, classes=None, types=None, flowtypes=None)
    select_sensors(site, flowtype_ids, sensors=None) -> {flowtype: [ids]}
    fglob_iter(site, root, ..., include_missing=False) -> Iterator[RepoFile]
    fglob(site, root, ...) -> list[str]

Selection errors raise :class:`SelectionError` with rwfglob's wording.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pysilk_ext.errors import SiteConfigError
from pysilk_ext.silkfmt.flowrec import SENSOR_INVALID
from pysilk_ext.silkfmt.siteconf import SiteConfig, path_format_problem

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# Precision of a parsed date (SiLK's SK_PARSED_DATETIME_* values).
PRECISION_DAY = 3
PRECISION_HOUR = 4
PRECISION_MINUTE = 5
PRECISION_SECOND = 6
PRECISION_FRACSEC = 7

_MIN_YEAR, _MAX_YEAR = 1970, 2039
_MIN_EPOCH, _MAX_EPOCH = 1 << 29, (1 << 31) - 1


class SelectionError(SiteConfigError):
    """A class/type/sensor/date selection is invalid (rwfglob's errors)."""


# --------------------------------------------------------------------------
# Paths


def _utc_parts(time_ms: int) -> tuple[str, str, str, str]:
    moment = datetime.fromtimestamp(time_ms // 1000, UTC)
    return (
        f"{moment.year:04d}",
        f"{moment.month:02d}",
        f"{moment.day:02d}",
        f"{moment.hour:02d}",
    )


def hour_of(time_ms: int) -> int:
    """Return the start of the UTC hour holding ``time_ms`` (ms)."""
    return time_ms - time_ms % HOUR_MS


def expand_path_format(
    site: SiteConfig,
    flowtype: int,
    sensor: int,
    time_ms: int,
    path_format: str | None = None,
) -> str:
    """Return the repository-relative path of one hourly file (spec 6.4).

    Raises:
        SiteConfigError: unknown flowtype or sensor, or an invalid
            path-format.
    """
    fmt = site.path_format if path_format is None else path_format
    problems = path_format_problem(fmt)
    if problems:
        raise SiteConfigError(problems[0])
    ft = site.flowtypes.get(flowtype)
    if ft is None:
        raise SiteConfigError(
            f"Flowtype id {flowtype} is not defined in the site configuration"
        )
    sn = site.sensors.get(sensor)
    if sn is None:
        raise SiteConfigError(
            f"Sensor id {sensor} is not defined in the site configuration"
        )
    year, month, day, hour = _utc_parts(time_ms)
    values = {
        "%": "%",
        "C": ft.class_name,
        "F": ft.name,
        "f": str(flowtype),
        "T": ft.type,
        "N": sn.name,
        "n": str(sensor),
        "Y": year,
        "m": month,
        "d": day,
        "H": hour,
        "x": f"{ft.name}-{sn.name}_{year}{month}{day}.{hour}",
    }
    return re.sub(r"%(.)", lambda m: values[m.group(1)], fmt)


def repo_path(
    root: str | os.PathLike[str],
    site: SiteConfig,
    flowtype: int,
    sensor: int,
    time_ms: int,
) -> str:
    """Return ``ROOT/`` + the path-format expansion, as SiLK builds it."""
    rel = expand_path_format(site, flowtype, sensor, time_ms)
    return f"{os.fspath(root)}/{rel}"


@dataclass(frozen=True, slots=True)
class RepoFileName:
    """What a repository file name says (spec 6.4).

    ``sensor`` is 65535 when the sensor name is not in silk.conf (SiLK
    still accepts the name); ``suffix`` is the text after the hour, with
    its leading dot (``""`` for plain hourly files).
    """

    flowtype: int
    sensor: int
    sensor_name: str
    start_ms: int
    suffix: str


_DIGITS = re.compile(r"[0-9]+")


def parse_repo_filename(site: SiteConfig, name: str) -> RepoFileName | None:
    """Parse ``FLOWTYPE-SENSOR_YYYYMMDD.HH[.SUFFIX]`` like SiLK does.

    The flowtype is the shortest prefix ending at a ``-`` that names a
    flowtype; the sensor runs to the next ``_``.  Returns ``None`` for a
    name that is not a repository file name (dates must be real dates
    between 1970-01-01 and 2038-01-18).
    """
    base = os.path.basename(name)
    cut = 0
    flowtype = None
    while True:
        dash = base.find("-", cut)
        if dash < 0:
            return None
        info = site.flowtype(base[:dash])
        if info is not None:
            flowtype = info.id
            break
        cut = dash + 1
    rest = base[dash + 1 :]
    under = rest.find("_")
    if under < 0:
        return None
    sensor_name = rest[:under]
    stamp = rest[under + 1 :]
    day_match = _DIGITS.match(stamp)
    if (
        day_match is None
        or stamp[day_match.end() : day_match.end() + 1] != "."
    ):
        return None
    ymd = int(day_match.group())
    if not 19700101 <= ymd < 20380119:
        return None
    after = stamp[day_match.end() + 1 :]
    hour_match = _DIGITS.match(after)
    if hour_match is None:
        return None
    suffix = after[hour_match.end() :]
    hour = int(hour_match.group())
    if hour > 23 or (suffix and not suffix.startswith(".")):
        return None
    try:
        moment = datetime(ymd // 10000, ymd // 100 % 100, ymd % 100, hour,
                          tzinfo=UTC)  # fmt: skip
    except ValueError:
        return None
    sensor = site.sensor(sensor_name)
    return RepoFileName(
        flowtype,
        sensor.id if sensor is not None else SENSOR_INVALID,
        sensor_name,
        int(moment.timestamp()) * 1000,
        suffix,
    )


# --------------------------------------------------------------------------
# Dates (skStringParseDatetime and sksiteRepoIteratorParseTimes)


@dataclass(frozen=True, slots=True)
class SilkTime:
    """A parsed ``--start-date``/``--end-date`` value."""

    ms: int
    precision: int  # PRECISION_DAY ... PRECISION_FRACSEC
    epoch: bool = False


def parse_silk_datetime(text: str) -> SilkTime:
    """Parse SiLK's date syntax: ``YYYY/MM/DD[:HH[:MM[:SS[.sss]]]]``.

    ``T`` may replace the ``:`` before the hour.  A run of at least 9
    digits (optionally with a fraction) is seconds since the epoch.
    Times are UTC.

    Raises:
        SelectionError: the text is not a date SiLK accepts.
    """
    s = text.lstrip()
    if not s:
        raise SelectionError("Input is empty or all whitespace")
    if len(s) - len(s.lstrip(".0123456789")) > 8:
        return _parse_epoch(s, text)
    parts: list[int] = []
    frac_ms = 0
    pos = 0
    delims = ["/", "/", ":", ":", ":", "."]
    while pos < len(s) and len(parts) < 7:
        if not s[pos].isdigit():
            raise SelectionError(f"Unexpected character '{s[pos]}'")
        match = _DIGITS.match(s, pos)
        assert match is not None  # noqa: S101 - digit seen above
        digits = match.group()
        if len(parts) == 6:
            frac_ms = int((digits + "00")[:3])
            parts.append(0)
        else:
            parts.append(int(digits))
            _check_part(len(parts) - 1, parts)
        pos = match.end()
        if pos >= len(s) or s[pos].isspace():
            break
        index = len(parts) - 1
        if index < len(delims) and (
            s[pos] == delims[index] or (index == 2 and s[pos] == "T")
        ):
            pos += 1
        else:
            raise SelectionError(f"Unexpected character '{s[pos]}'")
    if s[pos:].strip():
        raise SelectionError(f"Unexpected character '{s[pos]}'")
    precision = len(parts)
    if precision < PRECISION_DAY:
        raise SelectionError(
            f"Date '{text}' does not have at least day precision"
        )
    y, mo, d, h, mi, sec = (parts[:6] + [0] * 6)[:6]
    moment = datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    return SilkTime(int(moment.timestamp()) * 1000 + frac_ms, precision)


def _check_part(index: int, parts: list[int]) -> None:
    value = parts[index]
    if index == 0 and not _MIN_YEAR <= value <= _MAX_YEAR:
        raise SelectionError(
            f"Year value ({value}) out of range: use {_MIN_YEAR} <= year <= "
            f"{_MAX_YEAR}"
        )
    if index == 1 and not 1 <= value <= 12:
        raise SelectionError(
            f"Month value ({value}) out of range: use 1 <= month <= 12"
        )
    if index == 2:
        year, month = parts[0], parts[1]
        last = (
            date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)
        ).days
        if not 1 <= value <= last:
            raise SelectionError(
                f"Day value ({value}) out of range: use 1 <= day <= {last}"
            )
    limits = {3: ("Hour", 23), 4: ("Minute", 59), 5: ("Second", 59)}
    if index in limits and value > limits[index][1]:
        what, top = limits[index]
        raise SelectionError(
            f"{what} value ({value}) out of range: use 0 <= "
            f"{what.lower()} <= {top}"
        )


def _parse_epoch(s: str, text: str) -> SilkTime:
    match = re.fullmatch(r"([0-9]+)(?:\.([0-9]*))?\s*", s)
    if match is None:
        bad = next(ch for ch in s if ch not in ".0123456789")
        raise SelectionError(f"Unexpected character '{bad}'")
    seconds = int(match.group(1))
    if not _MIN_EPOCH <= seconds <= _MAX_EPOCH:
        raise SelectionError(
            f"Epoch value ({seconds}) out of range: use {_MIN_EPOCH} <= "
            f"epoch <= {_MAX_EPOCH}"
        )
    frac = match.group(2) or ""
    msec = int((frac + "000")[:3]) if frac else 0
    if "." in text:
        precision = PRECISION_FRACSEC
    elif seconds % 3600 == 0:
        precision = PRECISION_DAY if seconds % 86400 == 0 else PRECISION_HOUR
    elif seconds % 60 == 0:
        precision = PRECISION_MINUTE
    else:
        precision = PRECISION_SECOND
    return SilkTime(seconds * 1000 + msec, precision, epoch=True)


TimeArg = str | datetime | date | SilkTime | None


def _as_silk_time(value: TimeArg, what: str) -> SilkTime | None:
    if value is None or isinstance(value, SilkTime):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise SelectionError(
                f"Invalid {what} '{value}': naive datetime (give a tzinfo)"
            )
        return SilkTime(int(value.timestamp() * 1000), PRECISION_HOUR)
    if isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
        return SilkTime(int(moment.timestamp()) * 1000, PRECISION_DAY)
    try:
        return parse_silk_datetime(value)
    except SelectionError as exc:
        raise SelectionError(f"Invalid {what} '{value}': {exc}") from None


def selection_hours(
    start: TimeArg = None,
    end: TimeArg = None,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Return the first and last hour (ms) a query covers (spec 6.5).

    A start without hour and no end covers that day; a start with an hour
    and no end covers that hour; an end without hour runs to 23:00 of its
    day when the start has no hour, else to the start's hour of that day.
    No start at all means today up to the current hour.  Datetime objects
    count as hour precision, date objects as day precision.

    Raises:
        SelectionError: unparsable dates, an end without a start, or an
            end before the start.
    """
    start_t = _as_silk_time(start, "start-date")
    end_t = _as_silk_time(end, "end-date")
    if start_t is None:
        if end_t is not None:
            raise SelectionError("Cannot use --end-date without --start-date")
        current = now or datetime.now(UTC)
        now_ms = int(current.timestamp() * 1000)
        return now_ms - now_ms % DAY_MS, hour_of(now_ms)
    start_ms = hour_of(start_t.ms)
    if end_t is not None:
        end_ms = hour_of(end_t.ms)
        if end_t.epoch:
            pass
        elif start_t.precision == PRECISION_DAY:
            end_ms = end_ms - end_ms % DAY_MS + 23 * HOUR_MS
        elif end_t.precision < PRECISION_HOUR:
            end_ms = end_ms - end_ms % DAY_MS + start_ms % DAY_MS
    elif start_t.precision >= PRECISION_HOUR or start_t.epoch:
        end_ms = start_ms
    else:
        end_ms = start_ms - start_ms % DAY_MS + 23 * HOUR_MS
    if end_ms < start_ms:
        raise SelectionError(
            f"end-date of {_show(end)} is earlier than start-date of "
            f"{_show(start)}"
        )
    return start_ms, end_ms


def _show(value: TimeArg) -> str:
    return value if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------
# Class / type / sensor selection (fglob.c and sksiteParse*List)


def _tokens(value: str | Sequence[str | int] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [tok for tok in value.split(",") if tok]
    return [str(tok) for tok in value]


def _dedup(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def select_flowtypes(
    site: SiteConfig,
    classes: str | Sequence[str] | None = None,
    types: str | Sequence[str] | None = None,
    flowtypes: str | Sequence[str] | None = None,
) -> list[int]:
    """Return the flowtype ids a selection names, in rwfglob's order.

    ``flowtypes`` (``CLASS/TYPE`` items, ``all`` on either side) excludes
    ``classes``/``types``.  Without ``classes`` the default class is used;
    without ``types`` the class's default types; ``types="all"`` means
    every type of the class.  Order follows the arguments; duplicates are
    dropped.  (SiLK accepts one ``--class``; several classes here select
    each type in each of them.)

    Raises:
        SelectionError: unknown names or missing defaults.
    """
    ft_tokens = _tokens(flowtypes)
    if ft_tokens is not None:
        if classes is not None or types is not None:
            raise SelectionError(
                "Cannot use --flowtypes when either --class or --type are "
                "specified"
            )
        return _parse_flowtype_list(site, ft_tokens, _show_list(flowtypes))
    class_tokens = _tokens(classes)
    if class_tokens is None:
        if site.default_class is None:
            raise SelectionError(
                f"No --class given and no default class specified in "
                f"{site.path or 'silk.conf'}"
            )
        class_tokens = [site.default_class]
    class_infos = []
    for name in class_tokens:
        info = site.classes.get(name)
        if info is None:
            if name == "all":
                raise SelectionError(
                    "Invalid --class: Use --flowtypes to process all classes"
                )
            raise SelectionError(
                f"Invalid --class: Cannot find class '{name}'"
            )
        class_infos.append(info)
    type_tokens = _tokens(types)
    result: list[int] = []
    if type_tokens is None:
        for info in class_infos:
            result.extend(info.default_flowtypes)
        if not result:
            raise SelectionError(
                f"No --type given and no default types specified for class "
                f"{class_infos[0].name} in {site.path or 'silk.conf'}"
            )
        return _dedup(result)
    errors = []
    for type_name in type_tokens:
        found: list[int] = []
        for info in class_infos:
            if type_name == "all":
                found.extend(info.flowtypes)
            else:
                found.extend(
                    f
                    for f in info.flowtypes
                    if site.flowtypes[f].type == type_name
                )
        if not found:
            errors.append(
                f"The type name '{type_name}' is not recognized in the "
                f"specified class(es)"
            )
        result.extend(found)
    _raise_list_errors("type", _show_list(types), errors)
    if not result:
        raise SelectionError(
            f"Invalid type '{_show_list(types)}': No valid types found"
        )
    return _dedup(result)


def _show_list(value: str | Sequence[str | int] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else ",".join(map(str, value))


def _raise_list_errors(what: str, arg: str, errors: list[str]) -> None:
    if len(errors) == 1:
        raise SelectionError(f"Invalid {what} '{arg}': {errors[0]}")
    if errors:
        raise SelectionError(
            f"Invalid {what} '{arg}': Found multiple errors: "
            + "; ".join(errors)
        )


def _parse_flowtype_list(
    site: SiteConfig, tokens: list[str], arg: str
) -> list[int]:
    result: list[int] = []
    errors = []
    for token in tokens:
        if "/" not in token:
            errors.append(
                f"The flowtype '{token}' does not include the '/' delimiter"
            )
            continue
        cname, tname = token.split("/", 1)
        exact = site.flowtype_for(cname, tname)
        if exact is not None:
            result.append(exact.id)
        elif cname == "all":
            if tname == "all":
                result.extend(site.flowtypes)
            else:
                found = [
                    f
                    for info in site.classes.values()
                    for f in info.flowtypes
                    if site.flowtypes[f].type == tname
                ]
                if not found:
                    errors.append(
                        f"The flowtype '{token}' uses an unrecognized type "
                        f"name"
                    )
                result.extend(found)
        elif cname in site.classes:
            if tname == "all":
                result.extend(site.classes[cname].flowtypes)
            else:
                errors.append(
                    f"The flowtype '{token}' uses a type that is not in the "
                    f"class"
                )
        else:
            errors.append(
                f"The flowtype '{token}' uses an unrecognized class name"
            )
    _raise_list_errors("flowtypes", arg, errors)
    if not result:
        raise SelectionError(
            f"Invalid flowtypes '{arg}': No valid flowtypes found"
        )
    return _dedup(result)


def _parse_sensor_list(
    site: SiteConfig, tokens: list[str], arg: str
) -> list[int]:
    """Sensor names, ids and ``LOW-HIGH`` id ranges, in the given order."""
    result: list[int] = []
    errors = []
    if not site.sensors:
        return result
    low_id, high_id = min(site.sensors), max(site.sensors)
    for token in tokens:
        info = site.sensor(token)
        if info is not None:
            result.append(info.id)
            continue
        if not token[:1].isdigit():
            errors.append(f"The sensor name '{token}' is not recognized")
            continue
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", token)
        if match is None:
            errors.append(f"The sensor name '{token}' is not recognized")
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        problem = None
        if min(first, last) < low_id:
            problem = f"Value is below minimum of {low_id}"
        elif max(first, last) > high_id:
            problem = f"Value is above maximum of {high_id}"
        elif last < first:
            problem = "Range is invalid (min > max)"
        if problem is not None:
            errors.append(f"Sensor range/ID '{token}' is invalid: {problem}")
            continue
        for value in (first, last):
            if value not in site.sensors:
                errors.append(f"The sensor ID {value} is not recognized")
                break
        else:
            result.extend(
                i for i in range(first, last + 1) if i in site.sensors
            )
    _raise_list_errors("sensors", arg, errors)
    if not result:
        raise SelectionError(
            f"Invalid sensors '{arg}': No valid sensors found"
        )
    return _dedup(result)


def select_sensors(
    site: SiteConfig,
    flowtype_ids: Sequence[int],
    sensors: str | Sequence[str | int] | None = None,
) -> dict[int, list[int]]:
    """Return, per flowtype, the sensors rwfglob visits (in its order).

    Without ``sensors`` every sensor of the flowtype's class, by id.  With
    ``sensors`` (names, ids, ``LOW-HIGH`` ranges) those that belong to the
    class, in the given order; a sensor in none of the classes is ignored
    (rwfglob warns), and a flowtype left with no sensor is an error.
    """
    class_of = {f: site.flowtypes[f].class_name for f in flowtype_ids}
    tokens = _tokens(sensors)
    if tokens is None:
        wanted = list(site.sensors)
    else:
        wanted = _parse_sensor_list(site, tokens, _show_list(sensors))
    members = {name: set(info.sensors) for name, info in site.classes.items()}
    result = {
        f: [s for s in wanted if s in members[class_of[f]]]
        for f in flowtype_ids
    }
    if tokens is not None:
        for f in flowtype_ids:
            if not result[f]:
                ft = site.flowtypes[f]
                raise SelectionError(
                    f"No corresponding sensors given for class/type pair "
                    f"'{ft.class_name}/{ft.type}'"
                )
    return result


@dataclass(frozen=True, slots=True)
class RepoFile:
    """One file rwfglob visits: its path, key and whether it exists."""

    path: str
    flowtype: int
    sensor: int
    hour_ms: int
    missing: bool = False


def _exists(path: str) -> bool:
    # skFileExists: regular files (and FIFOs) only
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISFIFO(mode)


def fglob_iter(
    site: SiteConfig,
    root: str | os.PathLike[str],
    *,
    classes: str | Sequence[str] | None = None,
    types: str | Sequence[str] | None = None,
    flowtypes: str | Sequence[str] | None = None,
    sensors: str | Sequence[str | int] | None = None,
    start: TimeArg = None,
    end: TimeArg = None,
    include_missing: bool = False,
    now: datetime | None = None,
) -> Iterator[RepoFile]:
    """Yield the repository files of a selection in rwfglob's order.

    Hours are the outer loop; within an hour, flowtypes in selection
    order, and for each flowtype its sensors.  A missing file is replaced
    by ``PATH.gz`` when that exists, else skipped (or yielded with
    ``missing=True`` when ``include_missing``, like
    ``rwfglob --print-missing-files``).  Arguments take rwfglob's
    switch syntax (comma lists) or sequences; ``start``/``end`` take
    SiLK date text, aware datetimes or dates.

    Raises:
        SelectionError: a missing root or an invalid selection (checked
            before the first file is yielded).
    """
    if not os.path.isdir(root):
        raise SelectionError(
            f"Root data directory '{os.fspath(root)}' does not exist"
        )
    ft_ids = select_flowtypes(site, classes, types, flowtypes)
    per_ft = select_sensors(site, ft_ids, sensors)
    start_ms, end_ms = selection_hours(start, end, now)
    return _walk(
        site,
        os.fspath(root),
        ft_ids,
        per_ft,
        hours=(start_ms, end_ms),
        include_missing=include_missing,
    )


def _walk(
    site: SiteConfig,
    root: str,
    ft_ids: list[int],
    per_ft: dict[int, list[int]],
    *,
    hours: tuple[int, int],
    include_missing: bool,
) -> Iterator[RepoFile]:
    for hour in range(hours[0], hours[1] + 1, HOUR_MS):
        for f in ft_ids:
            for s in per_ft[f]:
                path = repo_path(root, site, f, s, hour)
                if _exists(path):
                    yield RepoFile(path, f, s, hour)
                elif _exists(path + ".gz"):
                    yield RepoFile(path + ".gz", f, s, hour)
                elif include_missing:
                    yield RepoFile(path, f, s, hour, missing=True)


def fglob(
    site: SiteConfig,
    root: str | os.PathLike[str],
    *,
    classes: str | Sequence[str] | None = None,
    types: str | Sequence[str] | None = None,
    flowtypes: str | Sequence[str] | None = None,
    sensors: str | Sequence[str | int] | None = None,
    start: TimeArg = None,
    end: TimeArg = None,
    now: datetime | None = None,
) -> list[str]:
    """Return the paths rwfglob prints for a selection (see fglob_iter)."""
    return [
        f.path
        for f in fglob_iter(
            site,
            root,
            classes=classes,
            types=types,
            flowtypes=flowtypes,
            sensors=sensors,
            start=start,
            end=end,
            now=now,
        )
    ]


def iter_repository(
    site: SiteConfig, root: str | os.PathLike[str]
) -> Iterator[tuple[Path, RepoFileName]]:
    """Yield every file under ``root`` whose name parses as a repository
    file name (what ``rwsiteinfo --fields=repo-*`` counts)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            parsed = parse_repo_filename(site, name)
            if parsed is not None:
                yield Path(dirpath) / name, parsed
