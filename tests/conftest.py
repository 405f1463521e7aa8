# SPDX-License-Identifier: MIT
"""Shared test fixtures.

``shared`` points at the workplace's read-only reference folder (specs,
SiLK golden fixtures, sample data); it sits beside the repository in
development and in CI.  ``silk`` skips a test unless real SiLK tools are
on PATH -- the pytest form of SiLK's own exit 77.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PYSILK_EXT_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "silk"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared reference folder (specs, fixtures, data)."""
    if not SHARED.is_dir():
        pytest.fail(f"shared reference folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def silk_fixtures(shared: Path) -> Path:
    """Golden files written by real SiLK 3.19.1."""
    return shared / "fixtures" / "silk"


@pytest.fixture(scope="session")
def silk() -> dict[str, str]:
    """Environment for running real SiLK tools; skips when absent."""
    if shutil.which("rwcut") is None or shutil.which("rwfilter") is None:
        pytest.skip("SiLK tools (rwcut, rwfilter) not on PATH")
    env = dict(os.environ)
    env["TZ"] = "UTC"
    env["SILK_CLOBBER"] = "1"
    for var in (
        "SILK_COMPRESSION_METHOD",
        "SILK_IPV6_POLICY",
        "SILK_TIMESTAMP_FORMAT",
        "SILK_IP_FORMAT",
        "SILK_DATA_ROOTDIR",
        "SILK_IPSET_RECORD_VERSION",
        "SILK_ICMP_SPORT_HANDLER",
        "SILK_HEADER_NOVERSION",
    ):
        env.pop(var, None)
    return env


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Give every ``@pytest.mark.silk`` test the ``silk`` fixture."""
    for item in items:
        if (
            item.get_closest_marker("silk")
            and isinstance(item, pytest.Function)
            and "silk" not in item.fixturenames
        ):
            item.fixturenames.append("silk")
