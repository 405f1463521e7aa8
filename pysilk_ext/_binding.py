# SPDX-License-Identifier: MIT
"""Load the cffi modules of the C core and map their status codes.

Every C module (``pysilk_ext._vpc``, ``._flow``, ``._pmap``, ``._ctxmap``)
is imported through :func:`load`, which refuses a build whose stamped
version differs from the installed package (a stale ``.so`` left by an
in-place build is the usual cause).  :func:`check` is the one place where a
C status becomes a Python exception.
"""

from __future__ import annotations

import importlib
from typing import Any

from pysilk_ext import __version__
from pysilk_ext.errors import CoreError, PysilkExtError

_MODULES: dict[str, Any] = {}


def load(name: str) -> Any:
    """Return the cffi module ``pysilk_ext._<name>`` (``ffi``/``lib``)."""
    mod = _MODULES.get(name)
    if mod is not None:
        return mod
    try:
        mod = importlib.import_module(f"pysilk_ext._{name}")
    except ImportError as exc:  # pragma: no cover - broken install
        raise ImportError(
            f"The C core module 'pysilk_ext._{name}' is not built: run "
            f"'pip install .' (or 'make build') in the source tree"
        ) from exc
    stamped = mod.ffi.string(mod.lib.pse_version()).decode()
    if __version__ not in ("0.0.0", stamped):
        raise ImportError(
            f"The C core module 'pysilk_ext._{name}' was built for version "
            f"'{stamped}' but the package is '{__version__}': rebuild with "
            f"'pip install .'"
        )
    _MODULES[name] = mod
    return mod


def strerror(mod: Any, status: int) -> str:
    """Return the C core's text for ``status``."""
    return str(mod.ffi.string(mod.lib.pse_strerror(status)).decode())


def check(
    mod: Any,
    status: int,
    exc_type: type[PysilkExtError] = CoreError,
    context: str = "",
) -> None:
    """Raise ``exc_type`` when ``status`` is not ``PSE_OK``."""
    if status == mod.lib.PSE_OK:
        return
    text = strerror(mod, status)
    raise exc_type(f"{context}: {text}" if context else text)
