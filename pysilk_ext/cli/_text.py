# SPDX-License-Identifier: MIT
"""SiLK's columnar text output and the switches that shape it.

Why one module: every command that prints a table (rwvpcstats,
rwvpcmapcat, rwvpcmaplookup) follows rwcut's conventions -- columns
right-justified and followed by ``|``, ``--no-titles``,
``--delimited[=C]`` (no padding, no final separator),
``--column-separator=C`` and ``--no-final-delimiter`` -- and declaring
them once keeps the commands' output and messages identical.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from pysilk_ext.cli._switches import Once, check_char

__all__ = [
    "TextLayout",
    "TextTable",
    "add_layout_switches",
    "text_layout",
    "text_table",
]


class TextTable:
    """SiLK's text columns: right-justified to fixed widths, a separator
    after every column (also the last, unless ``final_delimiter`` is
    false); ``delimited``: no padding and no final separator.

    Widths are fixed before the first row (a longer value pushes the rest
    of its line right, as in rwcut), so a table of any length streams.
    With ``left_last`` the last column (a file name, often a long S3 key)
    is never padded, so that it cannot push the numbers apart.
    """

    def __init__(
        self,
        titles: Sequence[str],
        widths: Sequence[int],
        *,
        separator: str = "|",
        delimited: bool = False,
        final_delimiter: bool = True,
        left_last: bool = False,
    ) -> None:
        self.titles = list(titles)
        self.widths = [
            max(w, len(t)) for w, t in zip(widths, titles, strict=True)
        ]
        self.separator = separator
        self.delimited = delimited
        self.final = separator if final_delimiter and not delimited else ""
        self.left_last = left_last

    def line(self, cells: Sequence[str]) -> str:
        """One output line (with its newline)."""
        if self.delimited:
            return self.separator.join(cells) + "\n"
        padded = [c.rjust(w) for c, w in zip(cells, self.widths, strict=True)]
        if self.left_last:
            padded[-1] = cells[-1]
        return self.separator.join(padded) + self.final + "\n"

    def title_line(self) -> str:
        """The line of column titles."""
        return self.line(self.titles)


@dataclass(frozen=True, slots=True)
class TextLayout:
    """What the layout switches ask for (see :func:`text_layout`)."""

    separator: str = "|"
    delimited: bool = False
    final_delimiter: bool = True
    titles: bool = True

    def table(
        self,
        titles: Sequence[str],
        widths: Sequence[int],
        *,
        left_last: bool = False,
    ) -> TextTable:
        """A streaming table with these columns and minimum widths."""
        return TextTable(
            titles,
            widths,
            separator=self.separator,
            delimited=self.delimited,
            final_delimiter=self.final_delimiter,
            left_last=left_last,
        )

    def format(
        self,
        titles: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        left_last: bool = False,
    ) -> str:
        """A whole table, each column as wide as its widest cell (titles
        first unless ``--no-titles``); ``""`` for no rows and no titles.
        """
        head = [list(titles)] if self.titles else []
        table = head + [list(r) for r in rows]
        if not table:
            return ""
        widths = [max(len(r[i]) for r in table) for i in range(len(titles))]
        layout = self.table(
            titles if self.titles else [""] * len(titles),
            widths,
            left_last=left_last,
        )
        return "".join(layout.line(r) for r in table)


def add_layout_switches(
    parser: argparse.ArgumentParser, *, final_delimiter: bool = True
) -> None:
    """``--no-titles``, ``--delimited[=C]``, ``--column-separator`` and,
    unless ``final_delimiter`` is false, ``--no-final-delimiter``."""
    parser.add_argument(
        "--no-titles",
        action="store_true",
        help="Do not print the column titles",
    )
    parser.add_argument(
        "--delimited",
        nargs="?",
        const="|",
        default=None,
        metavar="C",
        help="Shortcut for no column padding, no final delimiter and "
        "--column-separator=C. Def. |",
    )
    parser.add_argument(
        "--column-separator",
        action=Once,
        metavar="C",
        help="Use this character between columns. Def. |",
    )
    if final_delimiter:
        parser.add_argument(
            "--no-final-delimiter",
            action="store_true",
            help="Do not print the column separator after the last column",
        )


def text_layout(ns: argparse.Namespace) -> TextLayout:
    """Check the layout switches; return the layout they ask for.

    Raises:
        UsageError: a separator that is not one character.
    """
    check_char("delimited", ns.delimited)
    check_char("column-separator", ns.column_separator)
    return TextLayout(
        separator=ns.delimited or ns.column_separator or "|",
        delimited=ns.delimited is not None,
        final_delimiter=not getattr(ns, "no_final_delimiter", False),
        titles=not ns.no_titles,
    )


def text_table(
    ns: argparse.Namespace, titles: Sequence[str], widths: Sequence[int]
) -> TextTable:
    """The streaming table the layout switches ask for."""
    return text_layout(ns).table(titles, widths)
