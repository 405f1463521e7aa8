# SPDX-License-Identifier: MIT
"""Conversion and map building spread over worker processes.

Two workers must give what one process gives: the same repository (same
files, records, order and sensor ids), the same map (same bytes), the
same statistics.

Maps are compared on the generator's default format mix, where half of
the records have no ``flow-direction`` (versions 2 and 8): map units are
whole flow logs, so the map is exact for every version.

Conversion is exact for logs with ``flow-direction`` and a context map
(``--map``), the documented set-up for spread runs (version 5 logs
here).  Two of the converter's decisions rest on what it has read
before -- the whole input in one process, the unit in a worker: without
a map, "internal" includes "an address seen so far as an interface's
own"; for records without ``flow-direction``, the direction is inferred
from addresses learned so far.  ``test_mixed_versions_same_flows`` shows
what stays equal there.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pysilk_ext import parallel as P
from pysilk_ext import sources as S
from pysilk_ext.cli import _vpcsinks, rwvpc2silk, rwvpcmapbuild
from pysilk_ext.ctxmap import ContextMap, ContextMapBuilder
from pysilk_ext.reader import VpcReader
from pysilk_ext.s3keys import parse_log_key
from tests.scaleout_support import (
    IP_RANGES,
    build_map,
    convert,
    flow_multiset,
    generate_estate,
    ledger_inputs,
    repository_files,
    repository_records,
    statistic,
    statistics_without_timing,
    write_inventory,
)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """Mixed-version logs (2 hours, 4 flow logs) and their truth."""
    root = tmp_path_factory.mktemp("estate")
    truth = generate_estate(root / "logs")
    return root / "logs", truth


@pytest.fixture(scope="module")
def estate5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 5 logs (with flow-direction) of the same kind of estate."""
    root = tmp_path_factory.mktemp("estate5")
    generate_estate(root / "logs", version=5, seed=12)
    return root / "logs"


@pytest.fixture(scope="module")
def estate_map(estate5: Path) -> Path:
    """The version 5 estate's context map, built by one process."""
    path = estate5.parent / "estate.vpcmap"
    assert 0 == build_map(path, str(estate5))
    return path


def _entries(logs: Path) -> list[S.InputFile]:
    return [e for e in S.expand_inputs([logs]) if isinstance(e, S.InputFile)]


# -- planning -------------------------------------------------------------


def test_units_are_contiguous_runs(estate: tuple[Path, Any]) -> None:
    """Conversion units cut the input order into runs: concatenated they
    give every input once, in order, about evenly by size."""
    entries = _entries(estate[0])
    units = P.plan_units(entries, workers=2)
    assert entries == [e for u in units for e in u.inputs]
    assert [u.index for u in units] == list(range(len(units)))
    assert 8 <= len(units) <= 9
    target = sum(u.size for u in units) / 8
    assert all(u.size <= target + max(e.size or 0 for e in u.inputs)
               for u in units)  # fmt: skip


def test_map_units_are_whole_flow_logs(estate: tuple[Path, Any]) -> None:
    """Map units hold whole flow logs (every interface whole)."""
    logs, truth = estate
    entries = _entries(logs)
    units = P.plan_units(entries, workers=2, whole_flow_logs=True)
    flow_logs = [
        {parse_log_key(e.path).flow_log_id for e in u.inputs} for u in units
    ]
    assert all(1 == len(ids) for ids in flow_logs)
    assert {fl["flow_log_id"] for fl in truth["flow_logs"]} == {
        next(iter(ids)) for ids in flow_logs
    }
    assert len(entries) == sum(len(u.inputs) for u in units)


# -- conversion -------------------------------------------------------------


@pytest.mark.parametrize("policy", ["interface", "subnet"])
def test_two_workers_convert_like_one(
    policy: str,
    estate5: Path,
    estate_map: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--workers=2 writes the repository one process writes, byte for
    byte (hourly files, silk.conf with its sensor ids), and reports the
    same statistics."""
    logs = estate5
    extra = [
        "--action=all",
        "--print-statistics=stdout",
        f"--map={estate_map}",
        f"--sensor-policy={policy}",
    ]
    reports = []
    for workers in ("1", "2"):
        root = tmp_path / f"repo{workers}"
        assert 0 == convert(root, f"--workers={workers}", *extra, str(logs))
        out, err = capsys.readouterr()
        assert "" == err
        reports.append(statistics_without_timing(out))
    one, two = tmp_path / "repo1", tmp_path / "repo2"
    assert len(repository_files(one)) > 50
    assert repository_files(one) == repository_files(two)
    assert reports[0] == reports[1]
    assert ledger_inputs(one) == ledger_inputs(two)
    assert len(_entries(logs)) == len(ledger_inputs(two))


def test_mixed_versions_same_flows(
    estate: tuple[Path, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On mixed versions without a map every flow is still written once,
    with the same endpoints, times, counts and sensor; only the class/
    type and the inferred direction may differ, where they rest on
    addresses learned from what was read before (see module doc)."""
    logs, _ = estate
    for workers in ("1", "2"):
        assert 0 == convert(
            tmp_path / f"repo{workers}",
            f"--workers={workers}",
            "--action=all",
            str(logs),
        )
    capsys.readouterr()

    one = flow_multiset(tmp_path / "repo1")
    assert sum(one.values()) > 1000
    assert one == flow_multiset(tmp_path / "repo2")


def test_dedup_with_workers(
    estate5: Path,
    estate_map: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --dedup, units are whole flow logs: every copy one process
    removes, two workers remove (the same records remain)."""
    logs = estate5
    counts = []
    for workers in ("1", "2"):
        root = tmp_path / f"repo{workers}"
        assert 0 == convert(
            root,
            f"--workers={workers}",
            f"--map={estate_map}",
            "--action=all",
            "--dedup",
            "--print-statistics=stdout",
            str(logs),
        )
        out = capsys.readouterr().out
        counts.append(
            [
                ln
                for ln in out.splitlines()
                if ln.startswith("Duplicates removed")
            ]
        )
    assert counts[0] == counts[1]
    assert counts[0]
    assert repository_records(tmp_path / "repo1") == repository_records(
        tmp_path / "repo2"
    )


def test_stop_on_error_interrupts_and_rerun_resumes(
    estate5: Path,
    estate_map: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run stopped part-way (a bad line with --stop-on-error) keeps
    the inputs it committed; the rerun converts only the others, and the
    repository ends with exactly the records of one uninterrupted run."""
    logs = tmp_path / "logs"
    shutil.copytree(estate5, logs)
    entries = _entries(logs)
    broken = Path(entries[len(entries) // 2].path)
    import gzip

    text = gzip.decompress(broken.read_bytes())
    broken.write_bytes(gzip.compress(text + b"this is not a flow record\n"))
    monkeypatch.setattr(_vpcsinks, "CHECKPOINT_RECORDS", 600)
    root = tmp_path / "repo"
    args = ["--action=all", "--workers=2", f"--map={estate_map}", str(logs)]
    assert 1 == convert(root, "--stop-on-error", *args)
    err = capsys.readouterr().err
    assert f"{broken}:" in err
    committed = ledger_inputs(root)
    assert 0 < len(committed) < len(entries)
    assert str(broken) not in committed
    assert 0 == convert(root, *args)
    capsys.readouterr()
    assert len(entries) == len(ledger_inputs(root))
    assert len(set(ledger_inputs(root))) == len(ledger_inputs(root))
    whole = tmp_path / "whole"
    assert 0 == convert(
        whole, "--action=all", f"--map={estate_map}", str(logs)
    )
    capsys.readouterr()
    assert repository_records(whole) == repository_records(root)


def test_rerun_converts_nothing_new(
    estate: tuple[Path, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A second run over the same inputs skips them all (ledger) and
    leaves the repository as it was."""
    logs, _ = estate
    root = tmp_path / "repo"
    assert 0 == convert(root, "--workers=2", str(logs))
    before = repository_files(root)
    capsys.readouterr()
    assert 0 == convert(
        root, "--workers=2", "--print-statistics=stdout", str(logs)
    )
    out = capsys.readouterr().out
    assert f"{len(_entries(logs))}" == statistic(
        out, "Inputs converted before"
    )
    assert "0" == statistic(out, "Inputs read")
    assert before == repository_files(root)


# -- map building -------------------------------------------------------------


def test_two_workers_map_like_one(
    estate: tuple[Path, Any], tmp_path: Path
) -> None:
    """--workers=2 writes the map one process writes, byte for byte
    (logs without flow-direction included, plus inventory and
    ip-ranges)."""
    logs, truth = estate
    inventory = write_inventory(truth, tmp_path / "enis.json")
    args = [f"--eni-json={inventory}", f"--ip-ranges={IP_RANGES}", str(logs)]
    assert 0 == build_map(tmp_path / "one.vpcmap", *args)
    assert 0 == build_map(tmp_path / "two.vpcmap", "--workers=2", *args)
    one = (tmp_path / "one.vpcmap").read_bytes()
    assert one == (tmp_path / "two.vpcmap").read_bytes()
    with ContextMap.open(tmp_path / "one.vpcmap") as cmap:
        assert len(cmap) > 100


V2_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport "
    "protocol packets bytes start end action log-status"
)


def _v2_object(root: Path, minute: int, peers: list[str]) -> Path:
    """One v2 object of flow log fl-0a... holding eni-0a1's records."""
    t = 1785542400 + minute * 60
    name = (
        f"123456789012_vpcflowlogs_us-east-1_fl-0aaaaaaaaaaaaaaaa_"
        f"20260801T00{minute:02d}Z_0000{minute:04d}.log"
    )
    folder = root / "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/08/01"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [V2_HEADER] + [
        f"2 123456789012 eni-0a1 10.0.0.20 {peer} 40000 443 6 5 500 "
        f"{t} {t + 30} ACCEPT OK"
        for peer in peers
    ]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_undirected_logs_need_whole_interfaces(tmp_path: Path) -> None:
    """Why map units are whole flow logs: an object alone can make a
    peer look like the interface's own address (one record, a tie broken
    by the lower address), while the flow log as a whole cannot.  Units
    of whole flow logs give the single-process map; units of single
    objects would not."""
    logs = tmp_path / "v2"
    _v2_object(logs, 0, ["10.0.0.9"])
    _v2_object(logs, 5, ["10.0.0.30", "10.0.0.40"])
    entries = _entries(logs)
    builder = ContextMapBuilder()
    for batch in VpcReader(entries):
        builder.add_batch(batch)
    serial = builder.build().data

    def parallel_map(units: list[P.WorkUnit]) -> bytes:
        target = ContextMapBuilder()
        with ThreadPoolExecutor(2) as pool:
            P.ingest_parallel(target, units, P.ReadSettings(), pool)
        return target.build().data

    whole = P.plan_units(entries, workers=2, whole_flow_logs=True)
    assert 1 == len(whole)
    assert serial == parallel_map(whole)
    single = [P.WorkUnit(i, (e,)) for i, e in enumerate(entries)]
    split = ContextMap.from_bytes(parallel_map(single))
    (peer,) = split.lookup(["10.0.0.9"], at=1785542410)
    assert "eni-0a1" == peer.fields["interface-id"]
    (alone,) = ContextMap.from_bytes(serial).lookup(
        ["10.0.0.9"], at=1785542410
    )
    assert alone.fields.get("interface-id") in (None, "")


def _settings(estate_map: Path, **changes: Any) -> P.ConvertSettings:
    from pysilk_ext.convert import ConvertConfig
    from pysilk_ext.convert.config import ActionSelection

    config = ConvertConfig(action=ActionSelection.ALL)
    return P.ConvertSettings(
        read=P.ReadSettings(),
        config=config,
        map_path=str(estate_map),
        **changes,
    )


def _unit_records(result: P.UnitResult) -> list[list[bytes]]:
    return [[p.tobytes() for p in o.parts] for o in result.outcomes]


def test_records_handed_over_in_shared_memory(
    estate5: Path, estate_map: Path, tmp_path: Path
) -> None:
    """A worker leaves its unit's records in a hand-over file instead of
    the result; the parent maps it into the same parts (writable, file
    gone at once); the directory goes when the run ends."""
    unit = P.plan_units(_entries(estate5), workers=2)[1]
    piped = P.convert_unit(_settings(estate_map), unit)
    assert piped.handover is None
    with P.handover_dir(str(tmp_path)) as where:
        assert where is not None
        result = P.convert_unit(_settings(estate_map, handover=where), unit)
        assert result.handover is not None
        assert [result.handover] == [str(p) for p in Path(where).iterdir()]
        assert all(not o.parts for o in result.outcomes)
        P._take_over(result)
        assert [] == list(Path(where).iterdir())
    assert not Path(where).exists()
    assert result.handover is None
    assert sum(len(p) for o in piped.outcomes for p in o.parts) > 500
    assert _unit_records(piped) == _unit_records(result)
    part = result.outcomes[0].parts[0]
    part["sensor"] = 7  # the parent rewrites sensor ids in place
    assert {7} == set(part["sensor"].tolist())


def test_handover_dir_removes_what_killed_runs_left(tmp_path: Path) -> None:
    """Hand-over directories of dead processes are removed (a crash
    leaks no shared memory past the next run); live ones are kept."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"pysilk-handover-{dead.pid}-abc"
    live = tmp_path / f"pysilk-handover-{os.getpid()}-def"
    other = tmp_path / "pysilk-handover-notapid"
    for d in (stale, live, other):
        d.mkdir()
        (d / "unit-0").write_bytes(b"x" * 88)
    with P.handover_dir(str(tmp_path)) as where:
        assert where is not None
        assert not stale.exists()
        assert live.exists()
        assert other.exists()
    assert {live.name, other.name} == {p.name for p in tmp_path.iterdir()}


def test_handover_needs_a_writable_directory(tmp_path: Path) -> None:
    """Without a usable shared-memory directory records go through the
    result pipe (None)."""
    with P.handover_dir(str(tmp_path / "missing")) as where:
        assert where is None


def test_dry_run_units_return_counts_only(
    estate5: Path, estate_map: Path
) -> None:
    """With --dry-run workers convert and count but send no records."""
    unit = P.plan_units(_entries(estate5), workers=2)[0]
    full = P.convert_unit(_settings(estate_map), unit)
    counts = P.convert_unit(_settings(estate_map, ship_records=False), unit)
    assert all(not o.parts for o in counts.outcomes)
    assert sum(len(p) for o in full.outcomes for p in o.parts) > 500
    assert full.convert == counts.convert
    assert [o.records_in for o in full.outcomes] == [
        o.records_in for o in counts.outcomes
    ]


def test_dry_run_with_workers_reports_like_one(
    estate5: Path,
    estate_map: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--dry-run --workers=2 prints the statistics one process prints."""
    reports = []
    for workers in ("1", "2"):
        assert 0 == rwvpc2silk.main(
            [
                "--action=all",
                f"--map={estate_map}",
                "--dry-run",
                "--print-statistics=stdout",
                "--no-progress",
                f"--workers={workers}",
                str(estate5),
            ]
        )
        reports.append(statistics_without_timing(capsys.readouterr().out))
    assert any(line.startswith("SiLK records written") for line in reports[0])
    assert reports[0] == reports[1]


def test_directed_flow_logs_are_cut_into_pieces(
    estate: tuple[Path, Any],
) -> None:
    """Map units: flow logs whose header has flow-direction are cut into
    runs (pieces, in order), the others stay whole."""
    logs, truth = estate
    entries = _entries(logs)
    units = P.plan_units(
        entries, workers=2, whole_flow_logs=True, split_directed=True
    )
    directed = {
        fl["flow_log_id"]
        for fl in truth["flow_logs"]
        if "flow-direction" in fl["fields"]
    }
    assert directed
    assert len(directed) < len(truth["flow_logs"])
    for flow_log in {fl["flow_log_id"] for fl in truth["flow_logs"]}:
        own = [e for e in entries if P.flow_log_of(e) == flow_log]
        mine = [u for u in units if P.flow_log_of(u.inputs[0]) == flow_log]
        assert own == [e for u in mine for e in u.inputs]
        if flow_log in directed:
            assert len(mine) > 1
            assert {flow_log} == {u.piece_of for u in mine}
        else:
            assert [None] == [u.piece_of for u in mine]
    assert [u.index for u in units] == list(range(len(units)))


class _Counting:
    """A thread pool that counts the units it was given."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.units: list[P.WorkUnit] = []

    def submit(self, fn: Any, /, *args: Any) -> Any:
        self.units.append(args[-1])
        return self.pool.submit(fn, *args)


def test_pieces_meeting_undirected_records_are_redone(
    estate5: Path, tmp_path: Path
) -> None:
    """A flow log cut into pieces whose records turn out to lack a
    direction (flow-direction "-") is built again as one unit: the map
    is still the single process's."""
    import gzip

    logs = tmp_path / "logs"
    shutil.copytree(estate5, logs)
    entries = _entries(logs)
    units = P.plan_units(
        entries, workers=2, whole_flow_logs=True, split_directed=True
    )
    victim = next(u for u in units if u.piece_of is not None)
    path = Path(victim.inputs[-1].path)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    column = lines[0].split().index("flow-direction")
    for i in range(1, len(lines), 2):
        fields = lines[i].split()
        fields[column] = "-"
        lines[i] = " ".join(fields)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    entries = _entries(logs)
    units = P.plan_units(
        entries, workers=2, whole_flow_logs=True, split_directed=True
    )
    serial = ContextMapBuilder()
    reader = VpcReader(entries)
    for batch in reader:
        serial.add_batch(batch)
    assert serial.stats.undirected > 0
    target = ContextMapBuilder()
    with ThreadPoolExecutor(2) as pool:
        counting = _Counting(pool)
        part = P.ingest_parallel(target, units, P.ReadSettings(), counting)
    redone = counting.units[len(units) :]
    assert [victim.piece_of] == [P.flow_log_of(u.inputs[0]) for u in redone]
    assert [None] == [u.piece_of for u in redone]
    assert serial.stats.undirected == part.build.undirected
    assert reader.stats.totals().records == part.reader.totals().records
    assert len(entries) == len(part.reader.files)
    assert serial.build().data == target.build().data


# -- switches -------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--workers=0", "x"],
            "Invalid workers '0': Expected an integer from 1 to 1024",
        ),
        (
            ["--workers=two", "x"],
            "Invalid workers 'two': Expected an integer from 1 to 1024",
        ),
        (
            ["--workers=2", "-"],
            "May not read the standard input with --workers, --dask or "
            "--dask-scheduler",
        ),
        (
            ["--s3-endpoint-url=ftp://h", "x"],
            "Invalid s3-endpoint-url 'ftp://h': Expected an http:// or "
            "https:// URL",
        ),
    ],
)
@pytest.mark.parametrize("command", [rwvpc2silk, rwvpcmapbuild])
def test_scaleout_usage_errors(
    command: Any,
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad scale-out values are usage errors in SiLK's words."""
    out = ["--output-path", str(tmp_path / "out")]
    assert 1 == command.main([*out, *argv])
    err = capsys.readouterr().err
    prog = command.PROG
    assert f"{prog}: {message}\nUse '{prog} --help' for usage\n" == err


def test_progress_line_aggregates_workers() -> None:
    """The progress line shows inputs done/total, records, rate, failed
    inputs and bad lines by reason, summed over workers."""
    totals = P.ProgressTotals(inputs_total=10, inputs_done=4, records=1234)
    totals.inputs_failed = 1
    totals.bad.update({"bad-field": 2, "too-long": 1})
    line = totals.line("rwvpc2silk")
    assert line.startswith("rwvpc2silk: inputs 4/10, 1,234 records, ")
    assert line.endswith("/s, 1 failed, bad lines 3 (bad-field 2, too-long 1)")
