# SPDX-License-Identifier: MIT
"""The same jobs on Dask: a LocalCluster, and a scheduler by address.

Every cluster listens on 127.0.0.1 only.  The repository and the map a
cluster produces must be those of one process (same records in the same
files, same sensor ids, same bindings); a rerun must convert nothing new,
and an interrupted job must resume without duplicates.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from pysilk_ext import daskjobs  # noqa: E402
from pysilk_ext import parallel as P  # noqa: E402
from pysilk_ext import sources as S  # noqa: E402
from pysilk_ext.cli import _vpcsinks  # noqa: E402
from pysilk_ext.ctxmap import ContextMapBuilder  # noqa: E402
from pysilk_ext.reader import VpcReader  # noqa: E402
from tests.scaleout_support import (  # noqa: E402
    IP_RANGES,
    build_map,
    convert,
    generate_estate,
    ledger_inputs,
    repository_files,
    repository_records,
    statistic,
    write_inventory,
)


@pytest.fixture(scope="module")
def logs5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 5 logs (with flow-direction)."""
    root = tmp_path_factory.mktemp("dask5")
    generate_estate(root / "logs", version=5, seed=21, records=6000)
    return root / "logs"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The generator's version mix (half without flow-direction)."""
    root = tmp_path_factory.mktemp("daskmix")
    truth = generate_estate(root / "logs", seed=22, records=6000)
    return root / "logs", truth


@pytest.fixture(scope="module")
def map5(logs5: Path) -> Path:
    """The version 5 logs' map, built by one process."""
    path = logs5.parent / "logs.vpcmap"
    assert 0 == build_map(path, str(logs5))
    return path


@pytest.fixture(scope="module")
def job5(logs5: Path, map5: Path) -> tuple[Path, Path]:
    """The version 5 logs and their map."""
    return logs5, map5


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A threads-only LocalCluster whose scheduler listens on TCP on
    127.0.0.1 (a real address to give --dask-scheduler)."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        yield address


def test_local_cluster_converts_and_maps_like_one_process(
    logs5: Path,
    map5: Path,
    mixed: tuple[Path, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--dask (a LocalCluster of two worker processes) writes the
    repository and the map one process writes: same files and records,
    same sensor ids, same map bytes (versions without flow-direction
    included, inventory and ip-ranges too)."""
    common = ["--action=all", f"--map={map5}", str(logs5)]
    assert 0 == convert(tmp_path / "one", *common)
    assert 0 == convert(tmp_path / "dask", "--dask", "--workers=2", *common)
    assert "" == capsys.readouterr().err
    one = repository_files(tmp_path / "one")
    assert len(one) > 50
    assert one == repository_files(tmp_path / "dask")
    logs, truth = mixed
    inventory = write_inventory(truth, tmp_path / "enis.json")
    args = [f"--eni-json={inventory}", f"--ip-ranges={IP_RANGES}", str(logs)]
    assert 0 == build_map(tmp_path / "one.vpcmap", *args)
    assert 0 == build_map(
        tmp_path / "dask.vpcmap", "--dask", "--workers=2", *args
    )
    assert (tmp_path / "one.vpcmap").read_bytes() == (
        tmp_path / "dask.vpcmap"
    ).read_bytes()


def test_scheduler_address_and_rerun(
    logs5: Path,
    map5: Path,
    scheduler: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--dask-scheduler=ADDR runs the job on that scheduler; a rerun
    finds every object in the ledger and converts nothing new."""
    common = ["--action=all", f"--map={map5}", str(logs5)]
    assert 0 == convert(tmp_path / "one", *common)
    root = tmp_path / "dask"
    assert 0 == convert(root, f"--dask-scheduler={scheduler}", *common)
    assert repository_files(tmp_path / "one") == repository_files(root)
    capsys.readouterr()
    before = repository_files(root)
    assert 0 == convert(
        root,
        f"--dask-scheduler={scheduler}",
        "--print-statistics=stdout",
        *common,
    )
    out = capsys.readouterr().out
    inputs = len(list(S.expand_inputs([logs5])))
    assert str(inputs) == statistic(out, "Inputs converted before")
    assert "0" == statistic(out, "Inputs read")
    assert before == repository_files(root)


def test_interrupted_job_resumes_without_duplicates(
    job5: tuple[Path, Path],
    scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Dask job stopped part-way keeps what it committed; the rerun
    converts the rest once: the records of one uninterrupted run."""
    logs5, map5 = job5
    logs = tmp_path / "logs"
    shutil.copytree(logs5, logs)
    entries = [
        e for e in S.expand_inputs([logs]) if isinstance(e, S.InputFile)
    ]
    broken = Path(entries[2 * len(entries) // 3].path)
    text = gzip.decompress(broken.read_bytes())
    broken.write_bytes(gzip.compress(text + b"not a flow record\n"))
    monkeypatch.setattr(_vpcsinks, "CHECKPOINT_RECORDS", 600)
    root = tmp_path / "repo"
    args = [
        f"--dask-scheduler={scheduler}",
        "--action=all",
        f"--map={map5}",
        str(logs),
    ]
    assert 1 == convert(root, "--stop-on-error", *args)
    assert f"{broken}:" in capsys.readouterr().err
    done = ledger_inputs(root)
    assert 0 < len(done) < len(entries)
    assert 0 == convert(root, *args)
    capsys.readouterr()
    assert sorted(e.path for e in entries) == sorted(ledger_inputs(root))
    whole = tmp_path / "whole"
    assert 0 == convert(whole, "--action=all", f"--map={map5}", str(logs))
    capsys.readouterr()
    assert repository_records(whole) == repository_records(root)


def test_map_tree_reduction(
    mixed: tuple[Path, Any],
    scheduler: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Partial maps merged on the cluster two at a time, in a tree of
    several levels, give the single-process map."""
    logs, _ = mixed
    entries = [
        e for e in S.expand_inputs([logs]) if isinstance(e, S.InputFile)
    ]
    builder = ContextMapBuilder()
    for batch in VpcReader(entries):
        builder.add_batch(batch)
    serial = builder.build().data
    monkeypatch.setattr(daskjobs, "FAN_IN", 2)
    units = P.plan_units(entries, workers=2, whole_flow_logs=True)
    assert len(units) >= 4  # two levels of merges at least
    target = ContextMapBuilder()
    with daskjobs.dask_submitter(scheduler) as submitter:
        total = P.ingest_parallel(
            target,
            units,
            P.ReadSettings(),
            submitter,
            reduce=submitter.reduce_maps,
        )
    assert serial == target.build().data
    assert len(entries) == len(total.reader.files)
    assert sorted(u.index for u in units) == total.units
