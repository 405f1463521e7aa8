# SPDX-License-Identifier: MIT
"""Context maps that several command tests read (built once per module).

rwvpcmapcat and rwvpcmaplookup answer from the same two maps; declaring
them here keeps one recipe for each.  Also the clean SiLK environment
that command tests ask for with ``usefixtures("clean_silk_env")``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.rwvpcmap_support import (
    IP_RANGES,
    build_map,
    reuse_records,
    write_log,
)
from tests.conftest import SEED_LOG


@pytest.fixture
def clean_silk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SiLK variables from the caller's environment, and a data root
    that does not exist (a test never reads or writes /data by accident)."""
    for var in ("SILK_CONFIG_FILE", "SILK_CLOBBER", "SILK_DATA_ROOTDIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SILK_DATA_ROOTDIR", "/nonexistent-data-root")


@pytest.fixture(scope="module")
def seed_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The talk's sample with the real ip-ranges.json."""
    out = tmp_path_factory.mktemp("seed")
    return build_map(
        out / "seed.vpcmap", SEED_LOG, extra=[f"--ip-ranges={IP_RANGES}"]
    )


@pytest.fixture(scope="module")
def reuse_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10.0.0.5 in two VPCs and re-bound (see reuse_records)."""
    out = tmp_path_factory.mktemp("reuse")
    log = write_log(out / "reuse.log", reuse_records())
    return build_map(out / "reuse.vpcmap", log)
