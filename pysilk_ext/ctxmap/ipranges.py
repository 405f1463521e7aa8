# SPDX-License-Identifier: MIT
"""AWS ``ip-ranges.json`` as the map's base layer.

The file lists prefixes, each with a ``service`` subset name, a
``region`` and a ``network_border_group``.  One prefix can appear under
several services, and every range is also under ``AMAZON``.  The layer is
flattened once into disjoint address ranges, each labelled with one entry:

1. a non-``AMAZON`` entry beats ``AMAZON`` (which is only a fallback);
2. then the longest prefix (most specific) wins;
3. at equal length, the service whose ranges cover fewer addresses of
   that family in the whole file wins (``S3`` over ``EC2``,
   ``CLOUDFRONT_ORIGIN_FACING`` over ``CLOUDFRONT``: the narrower subset
   says more);
4. then the smaller service name, so the result never depends on order.

The layer has no time: the newest snapshot (highest ``syncToken``) is the
one a map keeps.
"""

from __future__ import annotations

import heapq
import ipaddress
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pysilk_ext.errors import ContextMapError

__all__ = [
    "IpRangesFile",
    "RangeLayer",
    "flatten",
    "load_ip_ranges",
    "read_ip_ranges",
]

Label = tuple[str, str, str]  # service, region, network border group


@dataclass(slots=True)
class RangeLayer:
    """Disjoint labelled ranges per family, ascending.

    ``v4``/``v6`` rows are ``(lo, hi, service, region, border_group)``
    with integer addresses (IPv4 as 32-bit values).
    """

    sync_token: int = 0
    create_date: str = ""
    v4: list[tuple[int, int, str, str, str]] = field(default_factory=list)
    v6: list[tuple[int, int, str, str, str]] = field(default_factory=list)

    def key(self) -> tuple[int, str, int, int]:
        """Order of preference between two layers (newest wins)."""
        return (self.sync_token, self.create_date, len(self.v4), len(self.v6))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class IpRangesFile:
    """A parsed ``ip-ranges.json``: every (prefix, label) entry as listed,
    before flattening (the converter counts prefixes by service)."""

    sync_token: int
    create_date: str
    entries: list[tuple[Network, Label]]


def _entries(doc: object, name: str) -> list[tuple[Network, Label]]:
    """Validated (prefix, label) pairs of a parsed ip-ranges document."""
    if not isinstance(doc, dict):
        raise ContextMapError(
            f"Invalid ip-ranges file '{name}': Top level is not an object"
        )
    out: list[tuple[Network, Label]] = []
    for list_key, prefix_key, version in (
        ("prefixes", "ip_prefix", 4),
        ("ipv6_prefixes", "ipv6_prefix", 6),
    ):
        items = doc.get(list_key, [])
        if not isinstance(items, list):
            raise ContextMapError(
                f"Invalid ip-ranges file '{name}': '{list_key}' is not a list"
            )
        for i, item in enumerate(items):
            where = f"'{name}': {list_key}[{i}]"
            if not isinstance(item, dict):
                raise ContextMapError(f"{where}: Entry is not an object")
            text = item.get(prefix_key)
            if not isinstance(text, str):
                raise ContextMapError(f"{where}: Missing '{prefix_key}'")
            try:
                net = ipaddress.ip_network(text, strict=True)
            except ValueError:
                raise ContextMapError(
                    f"{where}: Invalid {prefix_key} '{text}'"
                ) from None
            if net.version != version:
                raise ContextMapError(
                    f"{where}: Invalid {prefix_key} '{text}': "
                    f"Not an IPv{version} prefix"
                )
            label = []
            for key in ("service", "region", "network_border_group"):
                value = item.get(key, "")
                if not isinstance(value, str) or "\0" in value:
                    raise ContextMapError(f"{where}: Invalid {key} '{value}'")
                label.append(value)
            if not label[0]:
                raise ContextMapError(f"{where}: Missing 'service'")
            out.append((net, (label[0], label[1], label[2])))
    return out


def flatten(
    entries: list[tuple[Network, Label]], version: int
) -> list[tuple[int, int, str, str, str]]:
    """Disjoint ranges of one family with the winning label (module doc).

    A sweep over the range boundaries with a heap of the entries covering
    the current point; the heap's smallest key is the best entry.
    """
    size: dict[str, int] = defaultdict(int)
    for net, label in entries:
        if net.version == version:
            size[label[0]] += net.num_addresses
    items = sorted(
        (
            int(net.network_address),
            int(net.broadcast_address),
            # Smaller is better: non-AMAZON, longer prefix, narrower
            # service, then names (total order, so no input dependence).
            (label[0] == "AMAZON", -net.prefixlen, size[label[0]], label),
        )
        for net, label in set(entries)
        if net.version == version
    )
    bounds = sorted({b for lo, hi, _ in items for b in (lo, hi + 1)})
    out: list[tuple[int, int, str, str, str]] = []
    heap: list[tuple[tuple[bool, int, int, Label], int]] = []
    nxt = 0
    for k, start in enumerate(bounds[:-1]):
        while nxt < len(items) and items[nxt][0] == start:
            _, hi, key = items[nxt]
            heapq.heappush(heap, (key, hi))
            nxt += 1
        while heap and heap[0][1] < start:
            heapq.heappop(heap)
        if not heap:
            continue
        end = bounds[k + 1] - 1
        label = heap[0][0][3]
        if out and out[-1][1] == start - 1 and out[-1][2:] == label:
            out[-1] = (out[-1][0], end, *label)
        else:
            out.append((start, end, *label))
    return out


def read_ip_ranges(path: str | Path) -> IpRangesFile:
    """Parse and validate an ``ip-ranges.json`` file (the one parser of
    the format: the map and the converter both read it here).

    Raises:
        ContextMapError: the file cannot be read, is not JSON, or holds an
            entry with a bad prefix (message names the entry).
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise ContextMapError(
            f"Cannot open '{name}': {exc.strerror}"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContextMapError(
            f"Invalid ip-ranges file '{name}': Not JSON: {exc}"
        ) from None
    entries = _entries(doc, name)
    token = doc.get("syncToken", "0")
    try:
        sync_token = int(token)
    except (TypeError, ValueError):
        raise ContextMapError(
            f"Invalid ip-ranges file '{name}': Bad syncToken '{token}'"
        ) from None
    return IpRangesFile(sync_token, str(doc.get("createDate", "")), entries)


def load_ip_ranges(path: str | Path) -> RangeLayer:
    """Parse and flatten an ``ip-ranges.json`` file.

    Raises:
        ContextMapError: as :func:`read_ip_ranges`.
    """
    parsed = read_ip_ranges(path)
    return RangeLayer(
        sync_token=parsed.sync_token,
        create_date=parsed.create_date,
        v4=flatten(parsed.entries, 4),
        v6=flatten(parsed.entries, 6),
    )
