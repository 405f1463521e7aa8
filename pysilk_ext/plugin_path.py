# SPDX-License-Identifier: MIT
"""Print where the installed awsvpc plug-in file is.

``python -m pysilk_ext.plugin_path`` prints the absolute path of
``awsvpc.py`` for ``--python-file``::

    rwfilter --python-file="$(python -m pysilk_ext.plugin_path)" ...

The file ships inside the package as ``pysilk_ext/silkplugin/awsvpc.py``
(package data), so a wheel install has it beside the code it imports.
In the source tree that entry is a symbolic link to the top-level
``silkplugin/awsvpc.py``; the link is resolved, so an editable install
prints the checkout's file.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["PLUGIN_FILE", "main", "plugin_path"]

#: The plug-in file's name inside the package directory.
PLUGIN_FILE = Path("silkplugin") / "awsvpc.py"


def plugin_path() -> Path:
    """Absolute path of the installed ``awsvpc.py``.

    Raises:
        FileNotFoundError: the package was installed without it.
    """
    path = Path(__file__).resolve().parent / PLUGIN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"Cannot find the awsvpc plug-in: '{path}' does not exist "
            "(pysilk_ext was installed without its package data)"
        )
    return path.resolve()


def main(argv: list[str] | None = None) -> int:
    """Print the path; exit 1 with a message when it is missing."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        prog = "python -m pysilk_ext.plugin_path"
        if args[0] in ("--help", "-h"):
            print(f"{prog}\n\tPrint the absolute path of awsvpc.py, the "
                  "PySiLK plug-in for --python-file.")  # fmt: skip
            return 0
        print(f"{prog}: Unexpected argument '{args[0]}'", file=sys.stderr)
        return 1
    try:
        print(plugin_path())
    except FileNotFoundError as exc:
        print(f"pysilk_ext.plugin_path: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
