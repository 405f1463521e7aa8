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

import os
from collections.abc import Iterable

from pysilk_ext.convert.addrs import AddressRanges
from pysilk_ext.convert.config import DEFAULT_EXCLUDED_SERVICES
from pysilk_ext.errors import ContextMapError, ConvertError

__all__ = ["load_aws_ranges"]


def load_aws_ranges(
    path: str | os.PathLike[str],
    services: Iterable[str] | None = None,
) -> AddressRanges:
    """Return the prefixes of ``path`` whose service counts as AWS.

    ``services`` lists the services to keep; None keeps every service
    but ``AMAZON`` and ``EC2``.  The file is read by the context map's
    parser (:func:`pysilk_ext.ctxmap.ipranges.read_ip_ranges`), so both
    accept the same files with the same messages; every listed prefix
    counts (no flattening: a prefix counts when any of its services does).

    Raises:
        ConvertError: the file cannot be read or is not ip-ranges JSON.
    """
    # imported here: the context-map package costs some 8 ms of start-up
    # that runs without --ip-ranges never need
    from pysilk_ext.ctxmap.ipranges import read_ip_ranges  # noqa: PLC0415

    name = os.fspath(path)
    try:
        parsed = read_ip_ranges(name)
    except ContextMapError as exc:
        raise ConvertError(str(exc), path=name) from None
    wanted = set(services) if services is not None else None
    cidrs = [
        str(net)
        for net, (service, _region, _group) in parsed.entries
        if (
            service not in DEFAULT_EXCLUDED_SERVICES
            if wanted is None
            else service in wanted
        )
    ]
    return AddressRanges(cidrs, source=f"'{name}'")
