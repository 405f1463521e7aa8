# SPDX-License-Identifier: MIT
"""rwvpc2silk's repository sink: drains that keep still-filling files back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.cli import _vpcsinks, rwvpc2silk
from pysilk_ext.cli._vpcsinks import keep_open_files, open_files
from pysilk_ext.silkfmt.appender import RowGroups, _group_by_key
from pysilk_ext.silkfmt.flowfile import FlowReader
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.repository import HOUR_MS
from tests.conftest import load_gen_vpclogs

H0 = 1_785_542_400_000  # 2026-08-01T00:00:00Z in milliseconds


def rows_of(*files: tuple[int, int, int]) -> np.ndarray:
    """One row per (flowtype, sensor, hour); sTime 1 s into that hour,
    ``sport`` the row's position (to tell rows apart)."""
    rows = np.zeros(len(files), FLOW_DTYPE)
    for i, (flowtype, sensor, hour) in enumerate(files):
        rows[i]["flowtype"] = flowtype
        rows[i]["sensor"] = sensor
        rows[i]["stime"] = H0 + hour * HOUR_MS + 1000
        rows[i]["sport"] = i
    return rows


def groups_of(rows: np.ndarray) -> RowGroups:
    """The rows split by hourly file, as the repository writer does."""
    return RowGroups(list(_group_by_key(rows)))


def sports(groups: RowGroups) -> list[int]:
    """The rows' ``sport`` values, group by group."""
    return [int(p) for _, part in groups.parts for p in part["sport"]]


def test_open_files_are_the_group_keys_of_the_rows() -> None:
    """The files of some rows, keyed as group_rows keys its groups."""
    rows = rows_of((0, 1, 0), (1, 2, 3), (0, 1, 0))
    assert {(0, 1, H0), (1, 2, H0 + 3 * HOUR_MS)} == open_files(rows)
    assert set() == open_files(rows[:0])


def test_files_of_the_last_batch_are_kept_back() -> None:
    """Every row of a file the last batch writes to waits for the next
    drain, wherever it is in the drain; the other files go now."""
    rows = rows_of(
        (0, 1, 0),  # 0: file A
        (0, 2, 0),  # 1: file B
        (0, 1, 1),  # 2: file C (A's sensor, next hour)
        (1, 2, 0),  # 3: file D (B's sensor and hour, other type)
        (0, 2, 0),  # 4: file B, in the last batch
        (0, 1, 1),  # 5: file C, in the last batch
    )
    groups = groups_of(rows)
    kept = keep_open_files(groups, open_files(rows[-2:]))
    assert [0, 3] == sports(groups)
    # file by file in group order (flowtype, sensor, hour): C, then B
    assert [2, 5, 1, 4] == kept["sport"].tolist()


def test_nothing_kept_when_everything_is_still_filling() -> None:
    """A drain whose every file is in the last batch commits them all
    (every drain commits something)."""
    rows = rows_of((0, 1, 0), (0, 1, 0), (0, 1, 0))
    groups = groups_of(rows)
    kept = keep_open_files(groups, open_files(rows[-1:]))
    assert ([0, 1, 2], []) == (sports(groups), kept["sport"].tolist())


def test_nothing_kept_beyond_half_a_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory stays bounded: open files holding more than half a drain
    are committed now."""
    monkeypatch.setattr(_vpcsinks, "DRAIN_RECORDS", 4)
    rows = rows_of((0, 1, 0), (0, 2, 0), (0, 2, 0), (0, 2, 0))
    groups = groups_of(rows)
    kept = keep_open_files(groups, open_files(rows[-1:]))
    assert ([0, 1, 2, 3], []) == (sports(groups), kept["sport"].tolist())
    groups = groups_of(rows[:3])
    kept = keep_open_files(groups, open_files(rows[2:3]))
    assert ([0], [1, 2]) == (sports(groups), kept["sport"].tolist())


def _convert(
    root: Path, logs: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, int], list[bytes]]:
    """Convert ``logs`` into ``root``; return the statistics' hourly-file
    counts and every record written (as bytes, sorted)."""
    stats = root.parent / f"{root.name}.stats"
    status = rwvpc2silk.main(
        [
            "--action=all",
            f"--root-directory={root}",
            f"--print-statistics={stats}",
            "--no-progress",
            str(logs),
        ]
    )
    capsys.readouterr()
    assert 0 == status
    counts = {}
    for text in stats.read_text().splitlines():
        name, _, value = text.partition(":")
        if name.startswith("Hourly files"):
            counts[name] = int(value)
    records = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.parent != root:
            if path.name.startswith("."):
                continue
            with FlowReader(path) as reader:
                records.extend(r.tobytes() for r in reader.read_all())
    return counts, sorted(records)


def test_drains_keep_filling_files_back(
    tmp_path: Path,
    shared: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Inputs come flow log by flow log: with drains smaller than the
    input, the files still filling at each drain's end wait for the next
    one.  The records are those of one big drain, and far fewer hourly
    files are appended to than when every drain commits everything (here
    19 against 135: files an interface's sparse records reach after its
    flow log's last batch of a drain are still appended)."""
    gen = load_gen_vpclogs()
    logs = tmp_path / "logs"
    gen.generate(
        logs,
        records=20_000,
        seed=5,
        version=5,
        layout="s3",
        gzip=True,
        ip_ranges=shared / "data" / "ip-ranges.json",
    )
    whole, whole_records = _convert(tmp_path / "one-drain", logs, capsys)
    monkeypatch.setattr(_vpcsinks, "DRAIN_RECORDS", 8000)
    kept, kept_records = _convert(tmp_path / "kept", logs, capsys)
    monkeypatch.setattr(_vpcsinks, "open_files", lambda rows: set())
    eager, eager_records = _convert(tmp_path / "eager", logs, capsys)
    assert whole_records == kept_records == eager_records
    created = "Hourly files created"
    assert whole[created] == kept[created] == eager[created]
    appended = "Hourly files appended"
    assert 0 == whole[appended]
    assert 4 * kept[appended] < eager[appended]
