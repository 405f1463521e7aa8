# SPDX-License-Identifier: MIT
"""Stand-ins for the standard streams of a command run in-process.

SiLK's tools behave differently when stdin or stdout is a terminal (the
lone-command error, progress lines, refusing to write binary records to
a terminal); these fakes let a test choose.
"""

from __future__ import annotations

import io
from collections.abc import Iterator


class FakeStdin:
    """A stand-in for sys.stdin: a terminal, or a pipe of bytes."""

    def __init__(self, data: bytes = b"", tty: bool = False) -> None:
        self.buffer = io.BytesIO(data)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def __iter__(self) -> Iterator[str]:
        return iter(self.buffer.read().decode().splitlines(keepends=True))


class FakeTty(io.StringIO):
    """A text stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


class FakeBinaryTty:
    """A stdout stand-in that is a terminal."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        pass
