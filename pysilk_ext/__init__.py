# SPDX-License-Identifier: MIT
"""pysilk_ext: AWS VPC Flow Logs for SiLK analysts.

The package reads VPC Flow Logs, keeps their cloud context in a compact
time-aware map, writes SiLK's own file formats (flow files, repositories,
prefix maps, IPsets) and provides the ``awsvpc`` PySiLK plug-in.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pysilk_ext")
except PackageNotFoundError:  # pragma: no cover - running from a bare tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
