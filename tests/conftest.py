# SPDX-License-Identifier: MIT
"""Shared test fixtures.

``shared`` points at the workplace's read-only reference folder (specs,
SiLK golden fixtures, sample data); it sits beside the repository in
development and in CI.  ``silk`` skips a test unless real SiLK tools are
on PATH -- the pytest form of SiLK's own exit 77.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PYSILK_EXT_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "silk"

#: The seed sample (shared/data/README.md) and what the talk derives from
#: it: the eight S3 addresses, and the one internal address's context.
SEED_LOG = SHARED / "data" / "seed-sample-v5.log"
SEED_S3 = (
    "16.182.72.112",
    "52.216.215.0",
    "52.217.111.214",
    "52.217.118.120",
    "52.217.170.248",
    "52.217.99.126",
    "54.231.135.64",
    "54.231.139.192",
)
SEED_INTERNAL = {
    "address": "10.1.1.50",
    "az-id": "use1-az2",
    "instance-id": "i-0826dea5238644ce7",
    "interface-id": "eni-0ffa7e54f1ae8fa1b",
    "region": "us-east-1",
    "subnet-id": "subnet-0d7d9632ca72baf2",
    "account-id": "904652123456",
    "vpc-id": "vpc-0844e5fb7dab616dd",
    "sublocation-id": "-",
}

with (REPO / "pyproject.toml").open("rb") as _fh:
    #: The console scripts of pyproject.toml: command -> "module:function".
    SCRIPTS: dict[str, str] = tomllib.load(_fh)["project"]["scripts"]


def load_gen_vpclogs() -> ModuleType:
    """``benchmarks/gen_vpclogs.py``, the log generator (a script, not a
    package module), imported once under its own name: the tests make
    their logs with the benchmarks' generator, not with a copy of it."""
    name = "gen_vpclogs"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, REPO / "benchmarks" / "gen_vpclogs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def script_main(name: str) -> Callable[[list[str] | None], int]:
    """The ``main`` function behind console script ``name``."""
    module, _, func = SCRIPTS[name].partition(":")
    main: Callable[[list[str] | None], int] = getattr(
        importlib.import_module(module), func
    )
    return main


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
