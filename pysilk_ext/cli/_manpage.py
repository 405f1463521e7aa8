# SPDX-License-Identifier: MIT
"""Generated regions of the POD man pages (one source for each table).

Why: the field-mapping table of rwvpc2silk(1) is data
(:func:`pysilk_ext.convert.mapping.pod_table`); copying it into the POD
by hand would drift.  The POD holds it between two marker lines::

    =for comment BEGIN GENERATED field-mapping

    ...generated POD...

    =for comment END GENERATED field-mapping

``tests/cli/test_rwvpc2silk.py`` fails when the POD differs from the
generated text; ``make regen`` (``python -m pysilk_ext.cli._manpage``)
rewrites it deliberately.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from pysilk_ext.convert.mapping import pod_table

__all__ = [
    "GENERATED",
    "MAN_DIR",
    "generated_region",
    "regenerate",
    "replace_region",
]

MAN_DIR = Path(__file__).resolve().parents[2] / "man"

#: (page, region name) -> the function producing the region's POD.
GENERATED: dict[tuple[str, str], Callable[[], str]] = {
    ("rwvpc2silk.pod", "field-mapping"): pod_table,
}


def _markers(name: str) -> tuple[str, str]:
    return (
        f"=for comment BEGIN GENERATED {name}\n",
        f"=for comment END GENERATED {name}\n",
    )


def generated_region(text: str, name: str) -> str:
    """Return the text between the markers of region ``name``.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    begin, end = _markers(name)
    start = text.find(begin)
    stop = text.find(end, start + 1)
    if start < 0 or stop < 0:
        raise ValueError(f"No generated region '{name}' in the page")
    return text[start + len(begin) : stop].strip("\n") + "\n"


def replace_region(text: str, name: str, body: str) -> str:
    """Return ``text`` with region ``name`` holding ``body``."""
    begin, end = _markers(name)
    generated_region(text, name)  # raises when the markers are missing
    start = text.find(begin) + len(begin)
    stop = text.find(end, start)
    return f"{text[:start]}\n{body.strip(chr(10))}\n\n{text[stop:]}"


def regenerate(man_dir: Path = MAN_DIR) -> list[Path]:
    """Rewrite every generated region; return the pages changed."""
    changed = []
    for (page, name), make in GENERATED.items():
        path = man_dir / page
        old = path.read_text(encoding="utf-8")
        new = replace_region(old, name, make())
        if new != old:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":  # pragma: no cover
    for changed_page in regenerate():
        sys.stdout.write(f"rewrote {changed_page}\n")
