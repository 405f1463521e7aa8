# SPDX-License-Identifier: MIT
"""rwvpc2silk's repository sink: drains that keep still-filling files back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.cli import _vpcsinks, rwvpc2silk
from pysilk_ext.cli._vpcsinks import file_keys, split_open_files
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


def split(
    batches: list[np.ndarray],
) -> tuple[list[int], list[int]]:
    """``sport`` of the rows committed now and of those kept back."""
    kept, masks = split_open_files(batches)
    now = [
        int(p)
        for b, m in zip(batches, masks, strict=True)
        for p in (b if m is None else b[m])["sport"]
    ]
    return now, [int(p) for b in kept for p in b["sport"]]


def test_file_keys_name_flowtype_sensor_and_hour() -> None:
    """Rows of one hourly file share a key; any difference parts them."""
    rows = rows_of((0, 1, 0), (0, 1, 0), (0, 1, 1), (0, 2, 0), (1, 1, 0))
    keys = file_keys(rows).tolist()
    hour = H0 // HOUR_MS
    assert (1 << 40) | hour == keys[0] == keys[1]
    assert [(1 << 40) | (hour + 1), (2 << 40) | hour] == keys[2:4]
    assert (1 << 56) | (1 << 40) | hour == keys[4]


def test_files_of_the_last_batch_are_kept_back() -> None:
    """Every row of a file the last batch writes to waits for the next
    drain, whichever batch it is in; the other files go now."""
    rows = rows_of(
        (0, 1, 0),  # 0: file A
        (0, 2, 0),  # 1: file B
        (0, 1, 1),  # 2: file C (A's sensor, next hour)
        (1, 2, 0),  # 3: file D (B's sensor and hour, other type)
        (0, 2, 0),  # 4: file B, in the last batch
        (0, 1, 1),  # 5: file C, in the last batch
    )
    assert ([0, 3], [1, 2, 4, 5]) == split([rows[:2], rows[2:4], rows[4:]])


def test_nothing_kept_when_everything_is_still_filling() -> None:
    """A drain whose every file is in the last batch commits them all
    (every drain commits something)."""
    rows = rows_of((0, 1, 0), (0, 1, 0), (0, 1, 0))
    assert ([0, 1, 2], []) == split([rows[:2], rows[2:]])
    assert ([], []) == split([])


def test_nothing_kept_beyond_half_a_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory stays bounded: open files holding more than half a drain
    are committed now."""
    monkeypatch.setattr(_vpcsinks, "DRAIN_RECORDS", 4)
    rows = rows_of((0, 1, 0), (0, 2, 0), (0, 2, 0), (0, 2, 0))
    assert ([0, 1, 2, 3], []) == split([rows[:3], rows[3:]])
    assert ([0], [1, 2]) == split([rows[:2], rows[2:3]])


def _convert(
    root: Path,
    logs: Path,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
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
            *extra,
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


def _files(root: Path) -> dict[str, bytes]:
    """Every hourly file under ``root`` by relative path, with content."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.parent != root and not p.name.startswith(".")
    }


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
    # the parent of --workers drains the same batches: the same files,
    # byte for byte
    _convert(tmp_path / "workers", logs, capsys, "--workers=2")
    files = _files(tmp_path / "kept")
    assert kept["Hourly files created"] == len(files)
    assert files == _files(tmp_path / "workers")
    monkeypatch.setattr(
        _vpcsinks,
        "split_open_files",
        lambda batches: ([], [None] * len(batches)),
    )
    eager, eager_records = _convert(tmp_path / "eager", logs, capsys)
    assert whole_records == kept_records == eager_records
    created = "Hourly files created"
    assert whole[created] == kept[created] == eager[created]
    appended = "Hourly files appended"
    assert 0 == whole[appended]
    assert 4 * kept[appended] < eager[appended]
