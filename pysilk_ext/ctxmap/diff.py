# SPDX-License-Identifier: MIT
"""Change events between two maps (an old map and an updated one).

Events, as JSON-ready dicts with an ``event`` name and a ``time``:

``new-vpc``
    a vpc-id the old map never saw;
``new-interface``
    an interface-id the old map never saw (logs or inventory);
``address-rebound``
    an address (in its scope) whose latest owner -- the latest
    ``interface`` or ``inventory`` binding -- is another interface or
    instance than in the old map (IP reuse, re-attachment);
``new-service-address``
    an address labelled with an AWS service it did not carry before;
``interface-quiet``
    an interface active in the old map (seen in logs within ``quiet``
    seconds of the old map's end) and silent in the new one (not seen
    within ``quiet`` seconds of the new map's end).

Events come sorted by time, then event name, then subject.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pysilk_ext.ctxmap.cmap import ContextMap
from pysilk_ext.ctxmap.model import (
    GROUP_FIELDS,
    GROUP_PLACE,
    Relation,
    address_text,
    format_time,
    words_to_addresses,
)

__all__ = ["diff"]

_VPC_COL = GROUP_FIELDS[GROUP_PLACE].index("vpc-id")
_ACCOUNT_COL = GROUP_FIELDS[GROUP_PLACE].index("account-id")


@dataclass(slots=True)
class _Summary:
    end: int
    owners: dict[tuple[bytes, str], tuple[str, str, int, int]]
    interfaces: dict[str, list[Any]]  # first, last in logs, vpc, account
    services: dict[tuple[bytes, str], int]
    vpcs: dict[str, int]


def _summarise(cmap: ContextMap) -> _Summary:
    t = cmap.tables
    strings = t.strings
    bind = t.bind
    rel = (bind[:, 3] >> np.uint32(28)).astype(int)
    ctx = (bind[:, 3] & np.uint32(0x0FFFFFFF)).astype(int)
    place = t.groups[GROUP_PLACE][t.ctx[ctx, 4]]
    iface = t.ctx[ctx, 1]
    inst = t.ctx[ctx, 2]
    svc = t.ctx[ctx, 3]
    vpc = place[:, _VPC_COL]
    account = place[:, _ACCOUNT_COL]
    hi, lo = cmap.binding_words()
    raw = words_to_addresses(hi, lo)
    span = cmap.time_range
    out = _Summary(span[1] if span else 0, {}, {}, {}, {})
    for r in range(len(bind)):
        first, last = int(bind[r, 1]), int(bind[r, 2])
        scope = strings[int(bind[r, 0])]
        relation = rel[r]
        if vpc[r]:
            name = strings[int(vpc[r])]
            out.vpcs[name] = min(out.vpcs.get(name, first), first)
        if iface[r]:
            name = strings[int(iface[r])]
            info = out.interfaces.setdefault(
                name,
                [first, -1, strings[int(vpc[r])], strings[int(account[r])]],
            )
            info[0] = min(info[0], first)
            if relation in (Relation.IFACE, Relation.PKT):
                info[1] = max(info[1], last)
        if relation == Relation.SVC:
            key = (bytes(raw[r]), strings[int(svc[r])])
            out.services[key] = min(out.services.get(key, first), first)
        if relation in (Relation.IFACE, Relation.ENI):
            key2 = (bytes(raw[r]), scope)
            owner = (
                strings[int(iface[r])],
                strings[int(inst[r])],
                first,
                last,
            )
            prev = out.owners.get(key2)
            if prev is None or (first, last) > (prev[2], prev[3]):
                out.owners[key2] = owner
    return out


def diff(
    old: ContextMap, new: ContextMap, *, quiet: int = 3600
) -> Iterator[dict[str, Any]]:
    """Yield change events from ``old`` to ``new`` (module doc)."""
    a, b = _summarise(old), _summarise(new)
    events: list[tuple[int, str, str, dict[str, Any]]] = []

    def add(when: int, name: str, subject: str, **body: Any) -> None:
        event = {"event": name, "time": format_time(when), **body}
        events.append((when, name, subject, event))

    for name, first in b.vpcs.items():
        if name not in a.vpcs:
            add(
                first, "new-vpc", name, **{"vpc-id": name, "first_seen": first}
            )
    for name, (first, last, vpc, account) in b.interfaces.items():
        if name not in a.interfaces:
            body = {"interface-id": name, "first_seen": first}
            if vpc:
                body["vpc-id"] = vpc
            if account:
                body["account-id"] = account
            add(first, "new-interface", name, **body)
        else:
            old_last = a.interfaces[name][1]
            if (
                old_last >= 0
                and old_last >= a.end - quiet
                and last < b.end - quiet
            ):
                add(
                    b.end,
                    "interface-quiet",
                    name,
                    **{
                        "interface-id": name,
                        "last_seen": last,
                        "last_seen_time": format_time(last),
                    },
                )
    for key, owner in b.owners.items():
        before = a.owners.get(key)
        if before is None or before[:2] == owner[:2]:
            continue
        addr, scope = key
        add(
            owner[2],
            "address-rebound",
            address_text(addr),
            address=address_text(addr),
            scope=scope or None,
            old={
                "interface-id": before[0] or None,
                "instance-id": before[1] or None,
                "first_seen": before[2],
                "last_seen": before[3],
            },
            new={
                "interface-id": owner[0] or None,
                "instance-id": owner[1] or None,
                "first_seen": owner[2],
                "last_seen": owner[3],
            },
        )
    for (addr, service), first in b.services.items():
        if (addr, service) not in a.services:
            add(
                first,
                "new-service-address",
                address_text(addr),
                address=address_text(addr),
                **{"aws-service": service, "first_seen": first},
            )
    events.sort(key=lambda e: e[:3])
    for *_, event in events:
        yield event
