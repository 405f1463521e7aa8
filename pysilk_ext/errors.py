# SPDX-License-Identifier: MIT
"""Exception tree of pysilk_ext.

Messages are phrased like SiLK's (capital first letter, no final period,
user values in single quotes) so that a command prints ``f"{prog}: {exc}"``
and nothing else.
"""

from __future__ import annotations


class PysilkExtError(Exception):
    """Base of every error this package raises; never raised directly."""


class VpcParseError(PysilkExtError, ValueError):
    """A VPC Flow Log line (or container) could not be parsed.

    Carries ``path``, ``lineno``, ``field``, ``value`` and ``reason`` so that
    callers can count and report without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        lineno: int | None = None,
        field: str | None = None,
        value: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.lineno = lineno
        self.field = field
        self.value = value
        self.reason = reason


class SilkFormatError(PysilkExtError):
    """A SiLK file is malformed, truncated or of an unsupported kind."""


class PrefixMapError(PysilkExtError, ValueError):
    """A prefix map (or its input) is invalid."""


class IPSetError(PysilkExtError, ValueError):
    """An IPset (or its input) is invalid."""


class SiteConfigError(PysilkExtError, ValueError):
    """A silk.conf (site configuration) is invalid."""


class ContextMapError(PysilkExtError):
    """A cloud-context map file or its input is invalid."""


class ConvertError(PysilkExtError, ValueError):
    """A converter configuration or policy is invalid or cannot be met.

    ``path`` and ``key`` name the configuration file and the setting
    (``sensors.policy``) when the problem is in one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class CoreError(PysilkExtError):
    """An internal invariant of the C core failed: please report it."""
