# SPDX-License-Identifier: MIT
"""Vocabulary of the context map: relations, kinds, fields, scopes, time.

Everything here is shared by the builder, the file writer and the reader,
so the on-disk catalogue (the FIELDS section) and the Python API can never
disagree about which field lives where.  See :mod:`pysilk_ext.ctxmap` for
the semantics.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np
import numpy.typing as npt

from pysilk_ext.errors import ContextMapError

__all__ = [
    "AMBIGUOUS_LABEL",
    "CTX_WIDTH",
    "FIELDS",
    "FIELD_INDEX",
    "GLOBAL_SCOPE",
    "GROUP_WIDTH",
    "UNKNOWN_SCOPE",
    "EniKind",
    "FieldRef",
    "PktKind",
    "Relation",
    "address_text",
    "addresses_to_words",
    "format_time",
    "is_nonglobal",
    "is_v4",
    "parse_address",
    "parse_time",
    "words_to_addresses",
]


class Relation(IntEnum):
    """Kinds of binding, kept apart (the lookup result has one per kind).

    The values are the C core's ``PSE_CTXMAP_REL_*`` and the column order
    of :meth:`ContextMap.lookup_rows`.
    """

    IFACE = 0  # an interface's own address, seen in flow logs
    PKT = 1  # a packet-level address seen at an interface (not owned)
    SVC = 2  # a remote address labelled with an AWS service in logs
    ENI = 3  # an address of an interface in the ENI inventory
    RANGE = 4  # an ip-ranges.json prefix (base layer, timeless)


RELATION_NAMES = {
    Relation.IFACE: "interface",
    Relation.PKT: "packet",
    Relation.SVC: "service",
    Relation.ENI: "inventory",
    Relation.RANGE: "ip-ranges",
}
NREL = len(Relation)


class PktKind(IntFlag):
    """Evidence attached to a packet-level binding."""

    FORWARDED = 1  # the interface forwards traffic (NAT/TGW/...) or the
    #                address is public behind a private interface address


class EniKind(IntFlag):
    """Which address of an inventory interface a binding holds."""

    PRIMARY = 1
    SECONDARY = 2
    IPV6 = 4
    PUBLIC = 8  # public IPv4 association (global scope)
    ELASTIC = 16  # ... that is an Elastic IP (has an allocation id)


KIND_NAMES: dict[Relation, type[IntFlag]] = {
    Relation.PKT: PktKind,
    Relation.ENI: EniKind,
}

# Interface types whose interfaces forward other hosts' packets: a
# packet-level address behind them is a peer, not a secondary address.
FORWARDING_INTERFACE_TYPES = frozenset(
    {
        "nat_gateway",
        "natGateway",
        "regional_nat_gateway",
        "transit_gateway",
        "network_load_balancer",
        "gateway_load_balancer",
        "gateway_load_balancer_endpoint",
        "vpc_endpoint",
    }
)

# ---------------------------------------------------------------------
# Field catalogue.  A context row (CTX) has CTX_WIDTH u32 columns:
#   0 meta (relation | kind << 8), 1 interface-id, 2 instance-id,
#   3 aws-service, 4 PLACE group row, 5 EXTRA group row (ECS fields and
#   tags: rare, so one group for both).
# Group tables hold tuples of string ids shared by many contexts, which
# keeps a context at 24 bytes however many fields the logs carry (a map
# whose every address has its own interface and instance needs one
# context per binding: 24 + 16 BIND + 8 address index = 48 bytes).
# ---------------------------------------------------------------------

GROUP_PLACE = 1
GROUP_EXTRA = 2
GROUP_CTX_COL = {GROUP_PLACE: 4, GROUP_EXTRA: 5}
CTX_WIDTH = 6

_DIRECT = ("interface-id", "instance-id", "aws-service")
_PLACE = (
    "vpc-id",
    "subnet-id",
    "account-id",
    "region",
    "az-id",
    "availability-zone",
    "sublocation-type",
    "sublocation-id",
    "interface-type",
    "type",
    "network-border-group",
)
_ECS = (
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
)
_TAGS = (
    "instance-tag",
    "instance-tag-2",
    "interface-tag",
    "interface-tag-2",
    "asg-tag",
    "asg-tag-2",
)
GROUP_FIELDS: dict[int, tuple[str, ...]] = {
    GROUP_PLACE: _PLACE,
    GROUP_EXTRA: _ECS + _TAGS,
}
GROUP_WIDTH = {g: len(names) for g, names in GROUP_FIELDS.items()}


@dataclass(frozen=True, slots=True)
class FieldRef:
    """Where field ``name`` lives: ``CTX[c][ctx_col]`` or a group column."""

    index: int
    name: str
    group: int
    ctx_col: int
    grp_col: int


def _catalogue() -> tuple[FieldRef, ...]:
    refs: list[FieldRef] = []
    for col, name in enumerate(_DIRECT, start=1):
        refs.append(FieldRef(len(refs), name, 0, col, 0))
    for group, names in GROUP_FIELDS.items():
        for col, name in enumerate(names):
            refs.append(
                FieldRef(len(refs), name, group, GROUP_CTX_COL[group], col)
            )
    return tuple(refs)


FIELDS: tuple[FieldRef, ...] = _catalogue()
FIELD_INDEX: dict[str, FieldRef] = {f.name: f for f in FIELDS}

# The fields of the seed's table (rwvpcmapcat's default columns).
TABLE_FIELDS = (
    "az-id",
    "instance-id",
    "interface-id",
    "aws-service",
    "region",
    "subnet-id",
    "account-id",
    "vpc-id",
    "sublocation-id",
)

# Scopes are string ids: "" (id 0) is the global scope of public
# addresses; UNKNOWN_SCOPE holds private addresses whose VPC is unknown
# (version 2 logs without vpc-id and no inventory entry for the ENI).
GLOBAL_SCOPE = ""
UNKNOWN_SCOPE = "?"

# Label of an address bound in several VPCs (unscoped exports) or to
# several values during an export's time range.  Contains no comma, so
# rwfilter's --pmap-*=LABELS can select it.
AMBIGUOUS_LABEL = "(ambiguous)"


def field_ref(name: str) -> FieldRef:
    """Return the catalogue entry of ``name``.

    Raises:
        ContextMapError: ``name`` is not a context-map field.
    """
    ref = FIELD_INDEX.get(name)
    if ref is None:
        known = ", ".join(f.name for f in FIELDS)
        raise ContextMapError(
            f"Invalid field '{name}': Not a context-map field (one of {known})"
        )
    return ref


# ---------------------------------------------------------------------
# Addresses: 16 bytes in network order (IPv4 as ::ffff:a.b.c.d), handled
# in bulk as two big-endian 64-bit words (high, low) so that numeric order
# is byte order.
# ---------------------------------------------------------------------

V4_MARK = np.uint64(0xFFFF)
_V4_NONGLOBAL = (
    (0x0A000000, 8),  # 10/8
    (0xAC100000, 12),  # 172.16/12
    (0xC0A80000, 16),  # 192.168/16
    (0x64400000, 10),  # 100.64/10 (shared space, VPC secondary CIDRs)
    (0xA9FE0000, 16),  # 169.254/16 link-local
    (0x7F000000, 8),  # loopback
)


def addresses_to_words(
    addr: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Split ``(n, 16)`` network-order addresses into (high, low) words."""
    words = np.ascontiguousarray(addr, dtype=np.uint8).view(">u8")
    words = words.reshape(-1, 2).astype(np.uint64)
    return words[:, 0].copy(), words[:, 1].copy()


def words_to_addresses(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint8]:
    """Inverse of :func:`addresses_to_words`."""
    out = np.empty((len(hi), 2), dtype=">u8")
    out[:, 0] = hi
    out[:, 1] = lo
    return out.view(np.uint8).reshape(-1, 16)


def is_v4(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.bool_]:
    """True where the address is IPv4 (``::ffff:a.b.c.d``)."""
    out: npt.NDArray[np.bool_] = (hi == 0) & ((lo >> np.uint64(32)) == V4_MARK)
    return out


def is_nonglobal(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.bool_]:
    """True where the address is private space that VPCs may reuse.

    IPv4: RFC 1918, RFC 6598 (100.64/10), link-local and loopback.  IPv6:
    unique-local (fc00::/7), link-local (fe80::/10) and loopback.  Other
    addresses are global: the same address means the same host anywhere.
    """
    v4 = is_v4(hi, lo)
    a = (lo & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    priv4 = np.zeros(len(hi), dtype=bool)
    for net, plen in _V4_NONGLOBAL:
        mask = np.uint32((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        priv4 |= (a & mask) == np.uint32(net)
    top = (hi >> np.uint64(48)).astype(np.uint32)
    priv6 = ((top & 0xFE00) == 0xFC00) | ((top & 0xFFC0) == 0xFE80)
    priv6 |= (hi == 0) & (lo == 1)
    return np.where(v4, priv4, priv6)


def parse_address(text: str) -> bytes:
    """Return the 16-byte form of an IPv4 or IPv6 address.

    Raises:
        ContextMapError: ``text`` is not an address.
    """
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ContextMapError(
            f"Invalid IP address '{text}': Not an IPv4 or IPv6 address"
        ) from None
    if ip.version == 4:
        return b"\0" * 10 + b"\xff\xff" + ip.packed
    return ip.packed


def address_text(raw: bytes) -> str:
    """Text of a 16-byte address (IPv4 for ``::ffff:a.b.c.d``)."""
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return str(ipaddress.IPv4Address(raw[12:]))
    return str(ipaddress.IPv6Address(raw))


def address_object(
    raw: bytes,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The :mod:`ipaddress` object of a 16-byte address."""
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return ipaddress.IPv4Address(raw[12:])
    return ipaddress.IPv6Address(raw)


# ---------------------------------------------------------------------
# Time: epoch seconds (u32 in the file).  Text in SiLK's form
# YYYY/MM/DD[Thh[:mm[:ss]]] (UTC), ISO 8601, or epoch seconds.
# ---------------------------------------------------------------------

TIME_MAX = 0xFFFFFFFF
_SILK_TIME = re.compile(
    r"^(\d{4})/(\d{1,2})/(\d{1,2})"
    r"(?:[T:](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?)?$"
)


def parse_time(value: object) -> int:
    """Return epoch seconds for ``value``.

    Accepts an int, an aware ``datetime``, epoch-seconds text, SiLK's
    ``YYYY/MM/DDThh:mm:ss`` (UTC) or ISO 8601 text with a zone.

    Raises:
        ContextMapError: the value is not a time.
    """
    if isinstance(value, bool):
        raise ContextMapError(f"Invalid time '{value}'")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ContextMapError(
                f"Invalid time '{value}': A datetime must carry a time zone"
            )
        return int(value.timestamp())
    if not isinstance(value, str):
        raise ContextMapError(f"Invalid time '{value}'")
    text = value.strip()
    if text.isdigit():
        return int(text)
    match = _SILK_TIME.match(text)
    if match:
        y, mo, d, h, mi, s = (int(p) if p else 0 for p in match.groups())
        try:
            when = _dt.datetime(y, mo, d, h, mi, s, tzinfo=_dt.UTC)
        except ValueError as exc:
            raise ContextMapError(f"Invalid time '{value}': {exc}") from None
        return int(when.timestamp())
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ContextMapError(
            f"Invalid time '{value}': Expected YYYY/MM/DDThh:mm:ss or "
            "epoch seconds"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return int(when.timestamp())


def format_time(epoch: int) -> str:
    """ISO 8601 UTC text (``2023-07-26T00:00:06Z``) of epoch seconds."""
    when = _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
