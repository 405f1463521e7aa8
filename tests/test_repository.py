# SPDX-License-Identifier: MIT
"""Repository paths and rwfglob-compatible file selection.

Golden answers: ``repo/queries/rwfglob-*.txt`` and ``twoway/rwfglob.txt``
(what rwfglob printed over the fixture repositories); with real SiLK on
PATH, rwfglob itself over a repository written here, including date
edge cases, .gz fallback and its error messages.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.errors import SiteConfigError
from pysilk_ext.silkfmt.appender import RepositoryWriter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.repository import (
    HOUR_MS,
    SelectionError,
    expand_path_format,
    fglob,
    fglob_iter,
    iter_repository,
    parse_repo_filename,
    parse_silk_datetime,
    repo_path,
    selection_hours,
)
from pysilk_ext.silkfmt.siteconf import (
    SiteConfig,
    load_siteconf,
    parse_siteconf,
)

T_2024_03_15 = int(datetime(2024, 3, 15, tzinfo=UTC).timestamp()) * 1000


@pytest.fixture(scope="module")
def site(silk_fixtures: Path) -> SiteConfig:
    """The fixture site (twoway + int2aws/aws2int + AWS-VPC1)."""
    return load_siteconf(silk_fixtures / "site" / "silk.conf")


@pytest.fixture
def in_repo(silk_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in ``repo/`` so paths print as rwfglob printed them."""
    monkeypatch.chdir(silk_fixtures / "repo")
    return silk_fixtures / "repo"


# --------------------------------------------------------------------------
# Paths and names


def _repo_files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def test_path_format_gives_fixture_paths(
    site: SiteConfig, silk_fixtures: Path
) -> None:
    """Every rwflowpack file sits where expand_path_format() says."""
    root = silk_fixtures / "repo" / "root-pack-interfaces"
    files = list(_repo_files(root))
    assert 10 == len(files)
    for path in files:
        name = parse_repo_filename(site, path.name)
        assert name is not None
        rel = expand_path_format(site, name.flowtype, name.sensor,
                                 name.start_ms)  # fmt: skip
        assert str(path.relative_to(root)) == rel


def test_every_conversion(site: SiteConfig) -> None:
    """%C %F %f %T %N %n %Y %m %d %H %x %% expand as spec 6.4 says."""
    when = T_2024_03_15 + 13 * HOUR_MS + 59 * 60_000
    expected = "all/ow/3/outweb/AWS-VPC1/15/2024/03/15/13/%/"
    assert expected + "ow-AWS-VPC1_20240315.13" == (
        expand_path_format(
            site, 3, 15, when,
            path_format="%C/%F/%f/%T/%N/%n/%Y/%m/%d/%H/%%/%x",
        )
    )  # fmt: skip
    assert "ow-S0_20240315.13" == expand_path_format(
        site, 3, 0, when, path_format="%x"
    )
    assert "root/outweb/2024/03/15/ow-S0_20240315.13" == repo_path(
        "root", site, 3, 0, when
    )


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%T/%x/more", "does not end with '/%x'"),
        ("a%x", "does not end with '/%x'"),
        ("%q/%x", "unknown conversion '%q'"),
        ("%T/%", "ends with a single '%'"),
    ],
)
def test_bad_path_formats(site: SiteConfig, fmt: str, message: str) -> None:
    """SiLK's path-format checks, with its wording."""
    with pytest.raises(SiteConfigError, match=message):
        expand_path_format(site, 3, 0, T_2024_03_15, path_format=fmt)


def test_unknown_ids_have_no_path(site: SiteConfig) -> None:
    """Without a name for the flowtype or sensor no path exists."""
    with pytest.raises(SiteConfigError, match="Flowtype id 99"):
        expand_path_format(site, 99, 0, T_2024_03_15)
    with pytest.raises(SiteConfigError, match="Sensor id 99"):
        expand_path_format(site, 3, 99, T_2024_03_15)


def test_parse_repo_filename(site: SiteConfig) -> None:
    """Flowtype up to a known '-', sensor up to '_', date, hour, suffix."""
    name = parse_repo_filename(site, "x/int2aws-AWS-VPC1_20240315.14.abc123")
    assert name is not None
    assert (11, 15, "AWS-VPC1", T_2024_03_15 + 14 * HOUR_MS, ".abc123") == (
        name.flowtype, name.sensor, name.sensor_name, name.start_ms,
        name.suffix,
    )  # fmt: skip
    unknown = parse_repo_filename(site, "ow-S99_20240315.00")
    assert unknown is not None
    assert (3, 65535, "") == (unknown.flowtype, unknown.sensor, unknown.suffix)
    for bad in (
        "ow_S0_20240315.13",  # no '-'
        "xx-S0_20240315.13",  # unknown flowtype
        "ow-S0-20240315.13",  # no '_'
        "ow-S0_20240315",  # no hour
        "ow-S0_20240315.24",  # hour 24
        "ow-S0_19691231.00",  # before 1970
        "ow-S0_20240230.00",  # no such day
        ".ow-S0_20240315.13",  # dot-files are temporaries
    ):
        assert parse_repo_filename(site, bad) is None, bad


def test_flowtype_names_with_hyphens() -> None:
    """A flowtype whose name contains '-' is found by the '-' loop."""
    site = parse_siteconf(
        "sensor 0 S0\nclass c\n sensors S0\n type 0 a a-b\nend class\n"
    )
    name = parse_repo_filename(site, "a-b-S0_20240315.01")
    assert name is not None
    assert (0, 0) == (name.flowtype, name.sensor)


# --------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        ("2024/03/15", None, 0, 23),
        ("2024/03/15:13", None, 13, 13),
        ("2024/03/15T13:30:10.5", None, 13, 13),
        ("2024/03/15:13", "2024/03/15:15", 13, 15),
        ("2024/03/15", "2024/03/16:05", 0, 47),  # start day: to 23:00
        ("2024/03/15:22", "2024/03/16", 22, 46),  # end day: start's hour
        ("1710460800", None, 0, 0),  # epoch: one hour
        ("1710460800", "1710471600", 0, 3),
        (date(2024, 3, 15), None, 0, 23),
        (datetime(2024, 3, 15, 13, 5, tzinfo=UTC), None, 13, 13),
    ],
)
def test_selection_hours(
    start: str | date, end: str | None, first: int, last: int
) -> None:
    """--start-date/--end-date semantics of sksiteRepoIteratorParseTimes."""
    assert (
        T_2024_03_15 + first * HOUR_MS,
        T_2024_03_15 + last * HOUR_MS,
    ) == selection_hours(start, end)


def test_selection_hours_defaults_to_today() -> None:
    """No dates: midnight up to the current hour."""
    now = datetime(2024, 3, 15, 9, 41, tzinfo=UTC)
    assert (T_2024_03_15, T_2024_03_15 + 9 * HOUR_MS) == selection_hours(
        now=now
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024/13/01", "Month value (13) out of range: use 1 <= month <= 12"),
        ("2024/02/30", "Day value (30) out of range: use 1 <= day <= 29"),
        ("2024/03", "Date '2024/03' does not have at least day precision"),
        ("2024-03-15", "Unexpected character '-'"),
        ("2024/03/15:25", "Hour value (25) out of range: use 0 <= hour <= 23"),
        ("123456789", "Epoch value (123456789) out of range: use 536870912 "
                      "<= epoch <= 2147483647"),
        ("", "Input is empty or all whitespace"),
    ],
)  # fmt: skip
def test_bad_dates(text: str, message: str) -> None:
    """Date errors carry skStringParseDatetime's messages."""
    with pytest.raises(SelectionError) as info:
        parse_silk_datetime(text)
    assert message == str(info.value)


def test_naive_datetime_refused() -> None:
    """A datetime without tzinfo is ambiguous: refused."""
    with pytest.raises(SelectionError, match="naive datetime"):
        selection_hours(datetime(2024, 3, 15))


# --------------------------------------------------------------------------
# fglob against rwfglob's answers


def _rwfglob_lines(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if not line.startswith(("globbed ", "Missing "))
    ]


@pytest.mark.parametrize(
    ("fixture", "kwargs"),
    [
        ("rwfglob-all.txt", {"start": "2024/03/15:13", "end": "2024/03/15:14",
                             "classes": "all", "types": "all"}),
        ("rwfglob-aws-sensor.txt", {"start": "2024/03/15:13",
                                    "end": "2024/03/15:14",
                                    "types": "int2aws,aws2int",
                                    "sensors": "AWS-VPC1"}),
        ("rwfglob-default-types-day.txt", {"start": "2024/03/15"}),
        ("rwfglob-flowtypes.txt", {"start": "2024/03/15:00",
                                   "end": "2024/03/15:23",
                                   "flowtypes": "all/int2aws,all/other"}),
        ("rwfglob-missing-hour13-in.txt", {"start": "2024/03/15:13",
                                           "types": "in,inweb",
                                           "sensors": "0-2"}),
    ],
)  # fmt: skip
def test_fglob_matches_rwfglob_fixtures(
    site: SiteConfig, in_repo: Path, fixture: str, kwargs: dict[str, str]
) -> None:
    """Same files, same order as rwfglob over root-pack-interfaces."""
    text = (in_repo / "queries" / fixture).read_text()
    assert _rwfglob_lines(text) == fglob(site, "root-pack-interfaces",
                                         **kwargs)  # fmt: skip
    assert f"globbed {len(_rwfglob_lines(text))} files; 0 on tape" in text


def test_missing_files_like_print_missing_files(
    site: SiteConfig, in_repo: Path
) -> None:
    """include_missing reports what --print-missing-files printed."""
    text = (in_repo / "queries" / "rwfglob-missing-hour13-in.txt").read_text()
    missing = [
        line.removeprefix("Missing ")
        for line in text.splitlines()
        if line.startswith("Missing ")
    ]
    found = fglob_iter(
        site, "root-pack-interfaces", start="2024/03/15:13",
        types="in,inweb", sensors="0-2", include_missing=True,
    )  # fmt: skip
    assert missing == [f.path for f in found if f.missing]


def test_fglob_twoway_fixture(
    silk_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stock twoway repository, --type=all for one hour."""
    monkeypatch.chdir(silk_fixtures / "twoway")
    stock = load_siteconf("silk-twoway-stock.conf")
    text = Path("rwfglob.txt").read_text()
    assert _rwfglob_lines(text) == fglob(
        stock, "root", start="2024/03/15:10", types="all"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"types": "foo"}, "Invalid type 'foo': The type name 'foo' is not "
                           "recognized in the specified class(es)"),
        ({"classes": "nope"}, "Invalid --class: Cannot find class 'nope'"),
        ({"sensors": "S99"}, "Invalid sensors 'S99': The sensor name 'S99' "
                             "is not recognized"),
        ({"sensors": "99"}, "Invalid sensors '99': Sensor range/ID '99' is "
                            "invalid: Value is above maximum of 15"),
        ({"sensors": "2-1"}, "Invalid sensors '2-1': Sensor range/ID '2-1' "
                             "is invalid: Range is invalid (min > max)"),
        ({"flowtypes": "all/foo"}, "Invalid flowtypes 'all/foo': The "
                                   "flowtype 'all/foo' uses an unrecognized "
                                   "type name"),
        ({"flowtypes": "x/in"}, "Invalid flowtypes 'x/in': The flowtype "
                                "'x/in' uses an unrecognized class name"),
        ({"flowtypes": "allin"}, "Invalid flowtypes 'allin': The flowtype "
                                 "'allin' does not include the '/' "
                                 "delimiter"),
        ({"flowtypes": "all/in", "types": "in"}, "Cannot use --flowtypes "
                                                 "when either --class or "
                                                 "--type are specified"),
        ({"start": "2024/03/15:13", "end": "2024/03/15:12"},
         "end-date of 2024/03/15:12 is earlier than start-date of "
         "2024/03/15:13"),
        ({"end": "2024/03/15"}, "Cannot use --end-date without --start-date"),
        ({"start": "2024/13/01"}, "Invalid start-date '2024/13/01': Month "
                                  "value (13) out of range: use 1 <= month "
                                  "<= 12"),
    ],
)  # fmt: skip
def test_selection_errors(
    site: SiteConfig, tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    """Selection errors are rwfglob's messages (checked against it below)."""
    if "start" not in kwargs and "end" not in kwargs:
        kwargs = {**kwargs, "start": "2024/03/15:13"}
    with pytest.raises(SelectionError) as info:
        fglob(site, tmp_path, **kwargs)  # type: ignore[arg-type]
    assert message == str(info.value)


# --------------------------------------------------------------------------
# Against the real rwfglob, over a repository written here

OPTION = {
    "classes": "class",
    "types": "type",
    "flowtypes": "flowtypes",
    "sensors": "sensors",
    "start": "start-date",
    "end": "end-date",
}


def _rows_for(site: SiteConfig) -> np.ndarray:
    """One record per (flowtype, sensor, hour) of a sparse pattern."""
    keys = [
        (f, s, h)
        for h in range(-3, 51)  # 2024-03-14 21:00 .. 2024-03-17 02:00
        for f in site.flowtypes
        for s in site.sensors
        if (f * 7 + s * 3 + h) % 11 == 0
    ]
    rows = np.zeros(len(keys), FLOW_DTYPE)
    rows["flowtype"] = [k[0] for k in keys]
    rows["sensor"] = [k[1] for k in keys]
    rows["stime"] = [T_2024_03_15 + k[2] * HOUR_MS + 1234 for k in keys]
    rows["proto"] = 6
    rows["sip"][:, 10:12] = 0xFF
    rows["dip"][:, 10:12] = 0xFF
    return rows


@pytest.fixture(scope="module")
def written_repo(
    site: SiteConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A repository spread over 3 days, one file turned into .gz."""
    root = tmp_path_factory.mktemp("repo") / "root"
    with RepositoryWriter(root, site, durable=False) as writer:
        writer.write(_rows_for(site))
    some = sorted(p for p in root.rglob("*-S1_20240315.*") if p.is_file())[0]
    with some.open("rb") as src, gzip.open(f"{some}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    some.unlink()
    return root


RWFGLOB_CASES = [
    {"start": "2024/03/15"},
    {"start": "2024/03/15", "types": "all"},
    {"start": "2024/03/15:13", "types": "all"},
    {"start": "2024/03/14", "end": "2024/03/15:01", "types": "all"},
    {"start": "2024/03/14:22", "end": "2024/03/16", "types": "all"},
    {"start": "2024/03/14T22:10", "end": "2024/03/15T02", "types": "all"},
    {"start": "1710460800", "types": "all"},
    {"start": "1710460800", "end": "1710478800", "types": "all"},
    {"start": "2024/03/15", "types": "outweb,in,int2aws",
     "sensors": "S3,AWS-VPC1,0-2,S1"},
    {"start": "2024/03/15", "flowtypes": "all/all"},
    {"start": "2024/03/15", "flowtypes": "all/aws2int,all/in,all/aws2int"},
    {"start": "2024/03/16", "end": "2024/03/17", "class": "all",
     "types": "int2aws,aws2int"},
]  # fmt: skip


@pytest.mark.silk
@pytest.mark.parametrize("case", RWFGLOB_CASES, ids=str)
def test_fglob_equals_real_rwfglob(
    site: SiteConfig,
    written_repo: Path,
    silk_fixtures: Path,
    silk: dict[str, str],
    case: dict[str, str],
) -> None:
    """Found and missing files, in order, as the real rwfglob prints."""
    args = [f"--{OPTION.get(k, k)}={v}" for k, v in case.items()]
    run = subprocess.run(
        ["rwfglob", f"--data-rootdir={written_repo}",
         f"--site-config-file={silk_fixtures / 'site' / 'silk.conf'}",
         "--print-missing-files", *args],
        capture_output=True, text=True, env=silk, check=True,
    )  # fmt: skip
    kwargs = {("classes" if k == "class" else k): v for k, v in case.items()}
    files = list(
        fglob_iter(site, written_repo, include_missing=True, **kwargs)  # type: ignore[arg-type]
    )
    assert _rwfglob_lines(run.stdout) == [
        f.path for f in files if not f.missing
    ]
    assert [
        line.removeprefix("Missing ")
        for line in run.stderr.splitlines()
        if line.startswith("Missing ")
    ] == [f.path for f in files if f.missing]
    assert any(f.path.endswith(".gz") for f in files) == (".gz" in run.stdout)


@pytest.mark.silk
def test_error_messages_equal_rwfglob(
    site: SiteConfig, silk_fixtures: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """The first line rwfglob prints for each bad selection is ours."""
    cases = [
        {"types": "foo"}, {"classes": "nope"}, {"sensors": "S99"},
        {"sensors": "99"}, {"sensors": "2-1"}, {"flowtypes": "all/foo"},
        {"flowtypes": "x/in"}, {"flowtypes": "allin"},
        {"flowtypes": "all/in", "types": "in"},
        {"start": "2024/03/15:13", "end": "2024/03/15:12"},
        {"start": "2024/02/30"}, {"start": "2024/03"},
        {"start": "2024/03/15:25"}, {"start": "123456789"},
        {"end": "2024/03/15"},
    ]  # fmt: skip
    with pytest.raises(SelectionError) as info:
        fglob(site, tmp_path / "none", start="2024/03/15")
    missing = subprocess.run(
        ["rwfglob", f"--data-rootdir={tmp_path / 'none'}",
         "--start-date=2024/03/15"],
        capture_output=True, text=True, env=silk, check=False,
    ).stderr.splitlines()[0]  # fmt: skip
    assert missing.removeprefix("rwfglob: ") == str(info.value)
    for case in cases:
        kwargs = dict(case)
        args = [f"--{OPTION[k]}={v}" for k, v in kwargs.items()]
        if "start" not in kwargs and "end" not in kwargs:
            args.append("--start-date=2024/03/15:13")
            kwargs["start"] = "2024/03/15:13"
        run = subprocess.run(
            ["rwfglob", f"--data-rootdir={tmp_path}",
             f"--site-config-file={silk_fixtures / 'site' / 'silk.conf'}",
             *args],
            capture_output=True, text=True, env=silk, check=False,
        )  # fmt: skip
        assert 0 != run.returncode
        with pytest.raises(SelectionError) as info:
            fglob(site, tmp_path, **kwargs)  # type: ignore[arg-type]
        first = run.stderr.splitlines()[0].removeprefix("rwfglob: ")
        assert first == str(info.value), case


def test_iter_repository_finds_hourly_files(
    site: SiteConfig, silk_fixtures: Path
) -> None:
    """Every fixture file is listed with its parsed name; temps are not."""
    root = silk_fixtures / "repo" / "root-pack-interfaces"
    found = {p.name: n for p, n in iter_repository(site, root)}
    assert 10 == len(found)
    assert 15 == found["int2aws-AWS-VPC1_20240315.14"].sensor
