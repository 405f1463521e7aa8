# SPDX-License-Identifier: MIT
"""s3:// inputs against a real S3-compatible server on 127.0.0.1.

The server is moto's S3 application behind a request-logging,
fault-injecting WSGI layer (``tests/s3_support.py``), holding generated
logs in both AWS key layouts.  Requests are counted on the server side:
an object the filters rule out must never see a GET.
"""

from __future__ import annotations

import datetime as dt
import errno
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

s3_support = pytest.importorskip("tests.s3_support")

from pysilk_ext import s3input  # noqa: E402
from pysilk_ext import sources as S  # noqa: E402
from pysilk_ext.convert import ConvertConfig, Converter  # noqa: E402
from pysilk_ext.convert.config import ActionSelection  # noqa: E402
from pysilk_ext.errors import VpcParseError  # noqa: E402
from pysilk_ext.reader import VpcReader  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
import gen_vpclogs  # noqa: E402

BUCKET = "flowlogs"
LAYOUT_PREFIX = {"s3": "", "hive": "hive/"}
# <acct>_vpcflowlogs_<region>_<fl-id>_<YYYYMMDDTHHMMZ>_<hash>
NAME = re.compile(
    r"(?P<acct>\d{12})_vpcflowlogs_(?P<region>[a-z0-9-]+)_fl-[0-9a-f]+_"
    r"(?P<when>\d{8}T\d{4}Z)_"
)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One estate generated in both S3 key layouts (same seed)."""
    out = {}
    for layout in ("s3", "hive"):
        root = tmp_path_factory.mktemp(layout)
        gen_vpclogs.generate(
            root, records=6000, seed=7, gzip=True, layout=layout
        )
        out[layout] = root
    return out


@pytest.fixture(scope="module")
def server(trees: dict[str, Path]) -> Iterator[s3_support.S3TestServer]:
    """The loopback server holding both trees in one bucket."""
    for srv in s3_support.serve():
        for layout, root in trees.items():
            srv.upload_tree(BUCKET, root, LAYOUT_PREFIX[layout])
        yield srv


@pytest.fixture(autouse=True)
def _s3_settings(
    server: s3_support.S3TestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point this process at the server; fast retries; clean faults."""
    s3_support.set_env(monkeypatch)
    monkeypatch.setenv("PYSILK_EXT_S3_RETRIES", "2")  # the commands' own
    s3input.configure(
        s3input.S3Config(endpoint_url=server.url, backoff=0.001, attempts=4)
    )
    server.clear()
    server.fail_always.clear()
    server.fail_from.clear()
    server.slow_down.clear()
    yield
    s3input.configure(s3input.S3Config.from_environment())


def _objects(root: Path) -> list[Path]:
    return s3_support.local_files(root)


def _key(root: Path, path: Path, layout: str) -> str:
    return LAYOUT_PREFIX[layout] + path.relative_to(root).as_posix()


def _convert(inputs: list[str]) -> np.ndarray:
    config = ConvertConfig(action=ActionSelection.ALL)
    conv = Converter(config)
    parts = [conv.convert(b) for b in VpcReader(inputs)]
    return np.concatenate(parts)


@pytest.mark.parametrize("layout", ["s3", "hive"])
def test_listing_finds_every_object(
    layout: str, trees: dict[str, Path]
) -> None:
    """A bucket prefix lists every object, in key order, with its size
    and ETag, without fetching any of them."""
    root = trees[layout]
    url = f"s3://{BUCKET}/{LAYOUT_PREFIX[layout]}AWSLogs/"
    listed = [e for e in S.expand_inputs([url]) if isinstance(e, S.InputFile)]
    expected = [
        (f"s3://{BUCKET}/{_key(root, p, layout)}", p.stat().st_size)
        for p in _objects(root)
    ]
    assert expected == [(e.path, e.size) for e in listed]
    assert all(e.etag for e in listed)
    assert all(e.key is not None and e.key.layout == layout for e in listed)


def _expected_selection(
    root: Path, accounts: set[str], regions: set[str], start: dt.datetime
) -> set[str]:
    """Objects whose name says a wanted account and region and a window
    ending after ``start`` (objects are 5-minute windows)."""
    keep = set()
    for path in _objects(root):
        match = NAME.search(path.name)
        assert match is not None
        when = dt.datetime.strptime(match["when"], "%Y%m%dT%H%MZ").replace(
            tzinfo=dt.UTC
        )
        if (
            match["acct"] in accounts
            and match["region"] in regions
            and when + dt.timedelta(minutes=5) > start
        ):
            keep.add(path.relative_to(root).as_posix())
    return keep


@pytest.mark.parametrize("layout", ["s3", "hive"])
def test_filters_prune_before_any_get(
    layout: str, trees: dict[str, Path], server: s3_support.S3TestServer
) -> None:
    """Account, region and time filters select objects by their keys:
    exactly the selected objects are fetched (one GET each), and the
    records equal those of the same objects read from disk."""
    root = trees[layout]
    accounts = {"012345678901", "111122223333"}
    regions = {"us-east-1"}
    start = dt.datetime(2026, 8, 1, 0, 30, tzinfo=dt.UTC)
    wanted = _expected_selection(root, accounts, regions, start)
    assert wanted  # the estate has such objects
    reader = VpcReader(
        [f"s3://{BUCKET}/{LAYOUT_PREFIX[layout]}AWSLogs/"],
        accounts=accounts,
        regions=regions,
        start=start,
    )
    records = sum(b.n for b in reader)
    prefix = LAYOUT_PREFIX[layout]
    gets = server.object_gets()
    assert {prefix + k: 1 for k in wanted} == dict(gets)
    local = VpcReader([root / k for k in sorted(wanted)], read_ahead=False)
    assert sum(b.n for b in local) == records
    assert {"account", "region", "time"} <= set(reader.stats.files_skipped)


def test_pruned_prefixes_are_not_listed(
    server: s3_support.S3TestServer,
) -> None:
    """An account filter stops the walk at the account level: no other
    account's sub-tree is even listed."""
    url = f"s3://{BUCKET}/AWSLogs/"
    entries = list(
        S.expand_inputs(
            [url], S.KeyFilter(accounts=frozenset({"444455556666"}))
        )
    )
    listed = [r.query for r in server.requests if "list-type" in r.query]
    assert any("444455556666" in q for q in listed)
    assert not any("012345678901" in q for q in listed)
    skipped = [e for e in entries if isinstance(e, S.SourceSkipped)]
    assert {"account"} == {e.reason for e in skipped}


def test_key_prefix_selects_matching_objects(trees: dict[str, Path]) -> None:
    """A URL that is neither a folder nor an object selects the objects
    whose keys start with it (here: one flow log's first half hour)."""
    root = trees["s3"]
    first = _objects(root)[0]
    stem = first.name.split("T", 1)[0] + "T00"  # ..._YYYYMMDDT00
    rel = first.relative_to(root).parent.as_posix()
    url = f"s3://{BUCKET}/{rel}/{stem}"
    listed = [
        e.path for e in S.expand_inputs([url]) if isinstance(e, S.InputFile)
    ]
    expected = [
        f"s3://{BUCKET}/{p.relative_to(root).as_posix()}"
        for p in _objects(root)
        if p.relative_to(root).as_posix().startswith(f"{rel}/{stem}")
    ]
    assert expected == listed
    assert listed


def test_nothing_at_url_is_an_error() -> None:
    """A prefix holding nothing is reported like a missing file."""
    with pytest.raises(VpcParseError) as info:
        list(S.expand_inputs([f"s3://{BUCKET}/no-such-prefix/"]))
    assert (
        f"Cannot open 's3://{BUCKET}/no-such-prefix/': No such object or "
        "prefix"
    ) == str(info.value)


def test_streaming_in_ranges_equals_local(
    trees: dict[str, Path], server: s3_support.S3TestServer
) -> None:
    """With small blocks every object is streamed in several ranged GETs,
    and the conversion equals the local one record for record (same
    bytes, same order)."""
    root = trees["s3"]
    s3input.configure(
        s3input.S3Config(endpoint_url=server.url, block_size=1024)
    )
    remote = _convert([f"s3://{BUCKET}/AWSLogs/"])
    local = _convert([str(root)])
    assert local.tobytes() == remote.tobytes()
    ranges = [r.range for r in server.requests if r.method == "GET" and r.key]
    biggest = max(p.stat().st_size for p in _objects(root))
    assert biggest > 2048
    assert any(r is not None and r.startswith("bytes=2048-") for r in ranges)
    assert all(
        r is not None
        and int(r[6:].split("-")[1]) - int(r[6:].split("-")[0]) < 1024
        for r in ranges
    )


def test_throttling_is_retried(
    trees: dict[str, Path], server: s3_support.S3TestServer
) -> None:
    """SlowDown answers are retried with backoff until the object reads."""
    root = trees["s3"]
    path = _objects(root)[3]
    key = path.relative_to(root).as_posix()
    server.slow_down[key] = 2
    before = s3input.counters().copy()
    reader = VpcReader([f"s3://{BUCKET}/{key}"])
    remote = sum(b.n for b in reader)
    assert sum(b.n for b in VpcReader([path])) == remote
    assert 3 == server.object_gets()[key]
    assert 2 == s3input.counters().minus(before).retries
    assert [] == reader.stats.failed


def test_failing_object_is_reported_and_skipped(
    trees: dict[str, Path], server: s3_support.S3TestServer
) -> None:
    """An object answering 500 to every GET is tried ``attempts`` times,
    then skipped and listed; every other object is read."""
    root = trees["s3"]
    paths = _objects(root)
    bad = paths[5].relative_to(root).as_posix()
    server.fail_always.add(bad)
    reader = VpcReader([f"s3://{BUCKET}/AWSLogs/"])
    records = sum(b.n for b in reader)
    others = [p for p in paths if p != paths[5]]
    assert sum(b.n for b in VpcReader(others)) == records
    assert [f"s3://{BUCKET}/{bad}"] == [f.source for f in reader.stats.failed]
    assert (
        f"Cannot open 's3://{BUCKET}/{bad}': Injected InternalError "
        "(gave up after 4 tries)"
    ) == reader.stats.failed[0].message
    assert 4 == server.object_gets()[bad]


def test_failure_after_part_was_read_stops_the_reader(
    trees: dict[str, Path], server: s3_support.S3TestServer
) -> None:
    """An object that breaks after its first block was read cannot be
    skipped by a single reader (its first records are out already): the
    reader raises, naming it."""
    root = trees["s3"]
    path = max(_objects(root), key=lambda p: p.stat().st_size)
    key = path.relative_to(root).as_posix()
    s3input.configure(
        s3input.S3Config(
            endpoint_url=server.url, block_size=1024, backoff=0.001
        )
    )
    server.fail_from[key] = 1024
    with pytest.raises(VpcParseError) as info:
        sum(b.n for b in VpcReader([f"s3://{BUCKET}/{key}"]))
    assert str(info.value).startswith(f"Cannot read 's3://{BUCKET}/{key}'")


def test_missing_object_is_not_retried(
    server: s3_support.S3TestServer,
) -> None:
    """NoSuchKey fails at the first GET: retrying cannot cure it."""
    stream = s3input.open_object(f"s3://{BUCKET}/AWSLogs/nothing.log")
    with pytest.raises(FileNotFoundError):
        stream.read(10)
    assert 1 == server.object_gets()["AWSLogs/nothing.log"]


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (OSError(errno.EBUSY, "Please reduce your request rate"), True),
        (OSError(getattr(errno, "EREMOTEIO", errno.EIO), "Internal"), True),
        (ConnectionResetError(errno.ECONNRESET, "reset by peer"), True),
        (TimeoutError("Read timed out"), True),
        (FileNotFoundError("The specified key does not exist"), False),
        (PermissionError("Access Denied"), False),
        (OSError(errno.EINVAL, "Invalid argument"), False),
        (ValueError("not an S3 error"), False),
    ],
)
def test_retryable_errors(exc: BaseException, retry: bool) -> None:
    """Throttling, 5xx, resets and time-outs are retried; the rest not."""
    assert retry == s3input.is_retryable(exc)


def test_backoff_doubles_and_gives_up() -> None:
    """Pauses double from ``backoff`` (with jitter, within +-50%) up to
    ``max_backoff``; after ``attempts`` tries the error says so."""
    pauses: list[float] = []
    calls = []

    def flaky() -> bytes:
        calls.append(1)
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset")

    config = s3input.S3Config(attempts=5, backoff=1.0, max_backoff=3.0)
    with pytest.raises(s3input.S3ReadError) as info:
        s3input.call_with_retries(flaky, config=config, sleep=pauses.append)
    assert 5 == len(calls)
    bases = [1.0, 2.0, 3.0, 3.0]
    assert len(bases) == len(pauses)
    for base, pause in zip(bases, pauses, strict=True):
        assert base * 0.5 <= pause <= base * 1.5
    assert "Connection reset (gave up after 5 tries)" == info.value.strerror


def test_retry_succeeds_after_transient_failures() -> None:
    """A call that fails twice and then works returns its value."""
    results = iter([ConnectionResetError(), TimeoutError(), b"data"])

    def call() -> bytes:
        item = next(results)
        if isinstance(item, BaseException):
            raise item
        return item

    config = s3input.S3Config(backoff=0.0)
    assert b"data" == s3input.call_with_retries(
        call, config=config, sleep=lambda _s: None
    )


def test_failed_list_file(tmp_path: Path) -> None:
    """The failed-objects list has one URL per line, ready for a rerun."""
    target = tmp_path / "failed.txt"
    s3input.write_failed_list(str(target), ["s3://b/k1", "s3://b/k2"])
    assert "s3://b/k1\ns3://b/k2\n" == target.read_text()


def test_rwvpcstats_reads_s3_through_environment(
    trees: dict[str, Path],
    server: s3_support.S3TestServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every command reading logs takes s3:// URLs; the endpoint can come
    from AWS_ENDPOINT_URL (here rwvpcstats, which has no S3 switch)."""
    from pysilk_ext.cli import rwvpcstats

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    s3input.configure(s3input.S3Config.from_environment())
    assert 0 == rwvpcstats.main([f"s3://{BUCKET}/AWSLogs/"])
    remote = capsys.readouterr().out
    assert 0 == rwvpcstats.main([str(trees["s3"])])
    local = capsys.readouterr().out

    def records(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if "ecords" in ln]

    assert records(local) == records(remote)
    assert records(local)


# -- the commands -------------------------------------------------------------


def _run(root: Path, *args: str) -> int:
    from tests.scaleout_support import convert

    return convert(root, "--action=all", *args)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_rwvpc2silk_from_s3_equals_local(
    workers: str,
    trees: dict[str, Path],
    server: s3_support.S3TestServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rwvpc2silk streaming a bucket prefix writes the repository it
    writes from a local copy, byte for byte."""
    from tests.scaleout_support import repository_files

    endpoint = f"--s3-endpoint-url={server.url}"
    url = f"s3://{BUCKET}/AWSLogs/"
    assert 0 == _run(tmp_path / "s3", f"--workers={workers}", endpoint, url)
    assert 0 == _run(
        tmp_path / "local", f"--workers={workers}", str(trees["s3"])
    )
    assert "" == capsys.readouterr().err
    local = repository_files(tmp_path / "local")
    assert len(local) > 50
    assert local == repository_files(tmp_path / "s3")
    gets = server.object_gets()
    assert len(_objects(trees["s3"])) == len(gets)
    assert {1} == set(gets.values())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_failed_object_is_listed_and_rerun_converts_it(
    workers: str,
    trees: dict[str, Path],
    server: s3_support.S3TestServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An object failing after retries is reported, listed in
    --failed-inputs and left out of the ledger (exit 1); rerunning the
    list converts just it; a rerun of everything converts nothing new;
    every flow is then in the repository exactly once."""
    from tests.scaleout_support import (
        flow_multiset,
        ledger_inputs,
        statistic,
    )

    root = trees["s3"]
    bad = _objects(root)[7].relative_to(root).as_posix()
    bad_url = f"s3://{BUCKET}/{bad}"
    server.fail_always.add(bad)
    failed = tmp_path / "failed.txt"
    repo = tmp_path / "repo"
    args = [f"--workers={workers}", f"--s3-endpoint-url={server.url}"]
    url = f"s3://{BUCKET}/AWSLogs/"
    assert 1 == _run(repo, *args, f"--failed-inputs={failed}", url)
    err = capsys.readouterr().err
    assert (
        f"rwvpc2silk: Cannot open '{bad_url}': Injected InternalError "
        "(gave up after 3 tries)\n"
        "rwvpc2silk: Skipped 1 input that could not be read; listed in "
        f"'{failed}'\n"
    ) == err
    assert f"{bad_url}\n" == failed.read_text()
    assert bad_url not in ledger_inputs(repo)
    assert len(_objects(root)) - 1 == len(ledger_inputs(repo))
    server.fail_always.clear()
    listed = failed.read_text().split()
    assert 0 == _run(repo, *args, "--print-statistics=stdout", *listed)
    assert "1" == statistic(capsys.readouterr().out, "Inputs read")
    assert 0 == _run(repo, *args, "--print-statistics=stdout", url)
    out = capsys.readouterr().out
    assert "0" == statistic(out, "Inputs read")
    assert str(len(_objects(root))) == statistic(
        out, "Inputs converted before"
    )
    clean = tmp_path / "clean"
    assert 0 == _run(clean, str(root))
    capsys.readouterr()
    assert flow_multiset(clean) == flow_multiset(repo)


def test_object_failing_midway_is_dropped_by_workers(
    trees: dict[str, Path],
    server: s3_support.S3TestServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With workers, an object that breaks after its first block has
    none of its records written: it is listed as failed, and every
    other object is converted."""
    from tests.scaleout_support import flow_multiset, ledger_inputs

    root = trees["s3"]
    path = max(_objects(root), key=lambda p: p.stat().st_size)
    key = path.relative_to(root).as_posix()
    server.fail_from[key] = 1024
    switches = [
        "--workers=2",
        f"--s3-endpoint-url={server.url}",
        f"--failed-inputs={tmp_path / 'failed.txt'}",
    ]
    monkeypatch.setenv("PYSILK_EXT_S3_RETRIES", "1")
    monkeypatch.setenv("PYSILK_EXT_S3_BLOCK_SIZE", "1024")
    repo = tmp_path / "repo"
    assert 1 == _run(repo, *switches, f"s3://{BUCKET}/AWSLogs/")
    err = capsys.readouterr().err
    assert f"Cannot read 's3://{BUCKET}/{key}'" in err
    assert f"s3://{BUCKET}/{key}\n" == (tmp_path / "failed.txt").read_text()
    assert f"s3://{BUCKET}/{key}" not in ledger_inputs(repo)
    others = tmp_path / "others"
    assert 0 == _run(others, *[str(p) for p in _objects(root) if p != path])
    capsys.readouterr()
    assert flow_multiset(others) == flow_multiset(repo)
    gets = server.object_gets()
    assert 2 <= gets[key]  # the first block was read, then it broke


def test_rwvpcmapbuild_from_s3_equals_local(
    trees: dict[str, Path],
    server: s3_support.S3TestServer,
    tmp_path: Path,
) -> None:
    """rwvpcmapbuild over a bucket (two workers, Hive layout) writes the
    map it writes from a local copy."""
    from tests.scaleout_support import build_map

    endpoint = f"--s3-endpoint-url={server.url}"
    url = f"s3://{BUCKET}/hive/AWSLogs/"
    assert 0 == build_map(tmp_path / "s3.map", "--workers=2", endpoint, url)
    assert 0 == build_map(tmp_path / "local.map", str(trees["hive"]))
    assert (tmp_path / "local.map").read_bytes() == (
        tmp_path / "s3.map"
    ).read_bytes()
