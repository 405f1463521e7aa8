# SPDX-License-Identifier: MIT
"""AWS ``ip-ranges.json`` as a set of AWS-service networks.

Used by the converter when no context map is given (or beside it) to
decide which addresses are "AWS service" for ``int2aws``/``aws2int``.
Every range is also listed under ``AMAZON``, and ``AMAZON``/``EC2``
cover the public addresses of every customer's instances, so by default
those two services do not count: a web site hosted on EC2 is external,
S3 is an AWS service.  ``aws-services`` in the configuration names the
services to count instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pysilk_ext.convert.addrs import AddressRanges
from pysilk_ext.convert.config import DEFAULT_EXCLUDED_SERVICES
from pysilk_ext.errors import ConvertError

__all__ = ["load_aws_ranges"]


def load_aws_ranges(
    path: str | os.PathLike[str],
    services: Iterable[str] | None = None,
) -> AddressRanges:
    """Return the prefixes of ``path`` whose service counts as AWS.

    ``services`` lists the services to keep; None keeps every service
    but ``AMAZON`` and ``EC2``.

    Raises:
        ConvertError: the file cannot be read or is not ip-ranges JSON.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConvertError(
            f"Cannot open '{p}': No such file or directory", path=str(p)
        ) from None
    except OSError as exc:
        raise ConvertError(
            f"Cannot open '{p}': {exc.strerror}", path=str(p)
        ) from None
    except ValueError as exc:
        raise ConvertError(
            f"Invalid ip-ranges file '{p}': {exc}", path=str(p)
        ) from None
    if not isinstance(data, dict):
        raise ConvertError(
            f"Invalid ip-ranges file '{p}': not an object", path=str(p)
        )
    wanted = set(services) if services is not None else None
    cidrs: list[str] = []
    for list_key, prefix_key in (
        ("prefixes", "ip_prefix"),
        ("ipv6_prefixes", "ipv6_prefix"),
    ):
        entries = data.get(list_key, [])
        if not isinstance(entries, list):
            raise ConvertError(
                f"Invalid ip-ranges file '{p}': '{list_key}' is not a list",
                path=str(p),
            )
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            service = entry.get("service")
            prefix = entry.get(prefix_key)
            if not isinstance(service, str) or not isinstance(prefix, str):
                continue
            if wanted is None:
                if service in DEFAULT_EXCLUDED_SERVICES:
                    continue
            elif service not in wanted:
                continue
            cidrs.append(prefix)
    return AddressRanges(cidrs, source=f"'{p}'")
