# SPDX-License-Identifier: MIT
"""Packaging: every C module is built, stamped and hides its symbols."""

from __future__ import annotations

import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import pysilk_ext
from pysilk_ext import _binding
from pysilk_ext.cli import rwvpc2silk
from tests.conftest import REPO

C_MODULES = ["vpc", "flow", "pmap", "ctxmap", "conv"]


def test_version_matches_metadata() -> None:
    """__version__ comes from the one version declared in pyproject."""
    with (REPO / "pyproject.toml").open("rb") as fh:
        declared = tomllib.load(fh)["project"]["version"]
    assert declared == pysilk_ext.__version__


@pytest.mark.parametrize("name", C_MODULES)
def test_c_module_version_stamp(name: str) -> None:
    """Each C module carries the package version it was built for."""
    mod = _binding.load(name)
    stamped = mod.ffi.string(mod.lib.pse_version()).decode()
    assert pysilk_ext.__version__ == stamped


@pytest.mark.parametrize("name", C_MODULES)
def test_c_module_exports_only_init(name: str) -> None:
    """Only PyInit_ is exported, so nothing binds to libsilk's symbols."""
    mod = _binding.load(name)
    out = subprocess.run(
        ["nm", "-D", "--defined-only", mod.__file__],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    exported = {
        line.split()[-1]
        for line in out.splitlines()
        if len(line.split()) == 3 and line.split()[1] in "TDBR"
    }
    assert {f"PyInit__{name}"} == exported


def test_strerror_text() -> None:
    """Status codes have static text, unknown codes included."""
    mod = _binding.load("vpc")
    assert "Success" == _binding.strerror(mod, mod.lib.PSE_OK)
    assert "Unknown status" == _binding.strerror(mod, 9999)


@pytest.mark.parametrize(
    "name", ["silk.conf", "sensor.conf", "rwvpc2silk.yaml"]
)
def test_site_files_are_package_data(name: str) -> None:
    """The share/ site files ship inside the package (an installed wheel
    has no source tree to find them in), with share/'s exact content."""
    packaged = resources.files("pysilk_ext") / "share" / name
    source = REPO / "share" / name
    pyproject = tomllib.loads(
        (REPO / "pyproject.toml").read_text(encoding="utf-8")
    )
    declared = pyproject["tool"]["setuptools"]["package-data"]["pysilk_ext"]
    assert f"share/{name}" in declared
    assert source.read_bytes() == packaged.read_bytes()


def test_bundled_site_config_is_packaged() -> None:
    """rwvpc2silk seeds a new repository from the packaged silk.conf."""
    package_dir = Path(pysilk_ext.__file__).resolve().parent
    assert package_dir / "share" / "silk.conf" == rwvpc2silk.BUNDLED_SILK_CONF
