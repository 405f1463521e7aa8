# SPDX-License-Identifier: MIT
"""The one table of AWS VPC Flow Log fields.

Every VPC field is declared exactly once, in :data:`FIELDS`: its name as
AWS writes it (hyphenated), the format version that introduced it, its
kind (how the reader types it) and its Parquet column name and type.  The
C tokeniser's column kinds, the enumeration codes, ``--fields`` help
text, POD tables and the tests all derive from this table, so that no
list is kept in sync by hand (flowlogs-reader's three-way drift, SiLK's
parallel arrays).

Where a field's value lives after conversion to SiLK (its SiLK target)
is the converter's to say: :mod:`pysilk_ext.convert.mapping` walks this
table and places every field, next to the code that does the placing
(:mod:`pysilk_ext.convert.layout`), so the two cannot disagree.

Facts from ``shared/spec/aws-vpc-flowlogs.md`` sections 2, 3 and 9.
Version 6 exists only for Transit Gateway flow logs; its fields are kept
in :data:`TGW_FIELDS` and serve only to recognise TGW records, which are
never parsed as VPC records.

A name not in the table (a field of a future version) is of kind
:attr:`FieldKind.STR`: it is kept as an opaque string, never rejected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "DEFAULT_FORMAT",
    "ENUM_TEXT",
    "FIELDS",
    "FIELDS_BY_NAME",
    "MAX_VPC_VERSION",
    "TGW_DEFAULT_FORMAT",
    "TGW_FIELDS",
    "TGW_VERSION",
    "VPC_VERSIONS",
    "Action",
    "AddrType",
    "FieldKind",
    "FieldSpec",
    "FlowDirection",
    "LogStatus",
    "enum_code",
    "enum_text",
    "field",
    "fields_of_version",
    "is_known_field",
    "version_of_fields",
]


class FieldKind(IntEnum):
    """How the reader types a field (and which batch column kind holds it).

    The values are the C tokeniser's column kinds (``PSE_VPC_KIND_*``).
    """

    INT = 1  # int64 column, -1 = missing
    ADDR = 2  # AddrColumn (16 bytes + family)
    ENUM = 3  # uint8 codes of the field's IntEnum, 0 = missing
    STR = 4  # StrColumn (dictionary codes, 0 = missing)


class Action(IntEnum):
    """``action`` values; 0 means missing (``-``, e.g. NODATA)."""

    ACCEPT = 1
    REJECT = 2


class LogStatus(IntEnum):
    """``log-status`` values; 0 means missing."""

    OK = 1
    NODATA = 2
    SKIPDATA = 3


class FlowDirection(IntEnum):
    """``flow-direction`` values (relative to the ENI); 0 means missing."""

    INGRESS = 1
    EGRESS = 2


class AddrType(IntEnum):
    """``type`` values (traffic type); 0 means missing."""

    IPV4 = 1
    IPV6 = 2
    EFA = 3


# The exact text AWS writes for each code (index = code - 1).  The reader
# also accepts other letter cases; writers use these spellings.
ENUM_TEXT: dict[type[IntEnum], tuple[str, ...]] = {
    Action: ("ACCEPT", "REJECT"),
    LogStatus: ("OK", "NODATA", "SKIPDATA"),
    FlowDirection: ("ingress", "egress"),
    AddrType: ("IPv4", "IPv6", "EFA"),
}

INT64_MAX = 2**63 - 1
# The latest start/end: 2^32-1 seconds (2106-02-07) written in
# milliseconds.  A larger value is no time a SiLK tool or a context map
# (32-bit seconds) can hold: it would be dated in the year 292 million.
TIME_MAX = (2**32 - 1) * 1000 + 999


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One VPC Flow Log field.

    ``lo``/``hi`` bound INT values (inclusive); ``enum`` is the IntEnum of
    an ENUM field.  Where the value lives after conversion is
    :func:`pysilk_ext.convert.mapping.placement`'s answer.
    """

    name: str
    version: int
    kind: FieldKind
    parquet: str
    parquet_type: str  # "INT_32", "INT_64" or "STRING"
    lo: int = 0
    hi: int = 0
    enum: type[IntEnum] | None = None

    @property
    def is_time(self) -> bool:
        """True for ``start``/``end``: epoch seconds, ms tolerated."""
        return self.name in ("start", "end")


def _int(name: str, version: int, hi: int, pq: str = "INT_32") -> FieldSpec:
    return FieldSpec(
        name, version, FieldKind.INT, name.replace("-", "_"), pq, 0, hi
    )


def _str(name: str, version: int) -> FieldSpec:
    return FieldSpec(
        name, version, FieldKind.STR, name.replace("-", "_"), "STRING"
    )


def _addr(name: str, version: int) -> FieldSpec:
    return FieldSpec(
        name, version, FieldKind.ADDR, name.replace("-", "_"), "STRING"
    )


def _enum(name: str, version: int, enum: type[IntEnum]) -> FieldSpec:
    return FieldSpec(
        name,
        version,
        FieldKind.ENUM,
        name.replace("-", "_"),
        "STRING",
        enum=enum,
    )


# In AWS's table order (version by version).
FIELDS: tuple[FieldSpec, ...] = (
    # v2: the default format, in its fixed order.
    _int("version", 2, 255),
    _str("account-id", 2),
    _str("interface-id", 2),
    _addr("srcaddr", 2),
    _addr("dstaddr", 2),
    _int("srcport", 2, 65535),
    _int("dstport", 2, 65535),
    _int("protocol", 2, 255),
    _int("packets", 2, INT64_MAX, "INT_64"),
    _int("bytes", 2, INT64_MAX, "INT_64"),
    _int("start", 2, TIME_MAX, "INT_64"),
    _int("end", 2, TIME_MAX, "INT_64"),
    _enum("action", 2, Action),
    _enum("log-status", 2, LogStatus),
    # v3
    _str("vpc-id", 3),
    _str("subnet-id", 3),
    _str("instance-id", 3),
    _int("tcp-flags", 3, 255),
    _enum("type", 3, AddrType),
    _addr("pkt-srcaddr", 3),
    _addr("pkt-dstaddr", 3),
    # v4
    _str("region", 4),
    _str("az-id", 4),
    _str("sublocation-type", 4),
    _str("sublocation-id", 4),
    # v5
    _str("pkt-src-aws-service", 5),
    _str("pkt-dst-aws-service", 5),
    _enum("flow-direction", 5, FlowDirection),
    _int("traffic-path", 5, 255),
    # v7: ECS metadata
    _str("ecs-cluster-arn", 7),
    _str("ecs-cluster-name", 7),
    _str("ecs-container-instance-arn", 7),
    _str("ecs-container-instance-id", 7),
    _str("ecs-container-id", 7),
    _str("ecs-second-container-id", 7),
    _str("ecs-service-name", 7),
    _str("ecs-task-definition-arn", 7),
    _str("ecs-task-arn", 7),
    _str("ecs-task-id", 7),
    # v8
    _str("reject-reason", 8),
    # v9
    _str("resource-id", 9),
    # v10
    _int("encryption-status", 10, 255),
    # v11: tags, interface type, next hop
    _str("instance-tag", 11),
    _str("instance-tag-2", 11),
    _str("interface-tag", 11),
    _str("interface-tag-2", 11),
    _str("asg-tag", 11),
    _str("asg-tag-2", 11),
    _str("interface-type", 11),
    _str("next-hop-interface-id", 11),
    _str("next-hop-subnet-id", 11),
    _str("next-hop-az-id", 11),
    _str("next-hop-vpc-id", 11),
    _str("next-hop-interface-type", 11),
)

FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}

# Every VPC flow-log version (6 is Transit Gateway only).
VPC_VERSIONS: tuple[int, ...] = tuple(sorted({f.version for f in FIELDS}))
MAX_VPC_VERSION: int = VPC_VERSIONS[-1]
TGW_VERSION = 6

# The fixed 14-field default format (version 2).
DEFAULT_FORMAT: tuple[str, ...] = tuple(f.name for f in FIELDS[:14])

# The Transit Gateway default format (all TGW fields of versions 2-6).
TGW_DEFAULT_FORMAT: tuple[str, ...] = (
    "version",
    "resource-type",
    "account-id",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "log-status",
    "type",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
    "tcp-flags",
    "region",
    "flow-direction",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
)

# Names that exist only in Transit Gateway flow logs: a header holding
# any of them announces TGW records.
TGW_FIELDS: frozenset[str] = frozenset(TGW_DEFAULT_FORMAT) - frozenset(
    FIELDS_BY_NAME
)


def field(name: str) -> FieldSpec:
    """Return the spec of ``name``; unknown names are future STR fields.

    An unknown name gets version ``MAX_VPC_VERSION + 1`` (it comes from a
    version newer than this table, so the converter does not store it).
    """
    spec = FIELDS_BY_NAME.get(name)
    if spec is not None:
        return spec
    return _str(name, MAX_VPC_VERSION + 1)


def is_known_field(name: str) -> bool:
    """Return True when ``name`` is a VPC field of this table."""
    return name in FIELDS_BY_NAME


def fields_of_version(version: int) -> tuple[str, ...]:
    """Return all VPC fields up to and including ``version``, table order.

    ``fields_of_version(5)`` is the 29 fields of versions 2 to 5.
    """
    return tuple(f.name for f in FIELDS if f.version <= version)


def version_of_fields(names: Iterable[str]) -> int:
    """Return the version AWS writes for a format made of ``names``.

    That is the highest version among the known fields (2 when none is
    known).  Unknown names are ignored here; a format holding them is
    from a newer version and its records may carry a higher number.
    """
    versions = [
        FIELDS_BY_NAME[n].version for n in names if n in FIELDS_BY_NAME
    ]
    return max(versions, default=2)


def enum_text(value: IntEnum) -> str:
    """Return the text AWS writes for an enumeration member."""
    return ENUM_TEXT[type(value)][value - 1]


def enum_code(enum: type[IntEnum], text: str) -> int:
    """Return the code of ``text`` in ``enum`` (letter case ignored).

    Raises:
        ValueError: ``text`` is not one of the enumeration's values.
    """
    folded = text.casefold()
    for code, known in enumerate(ENUM_TEXT[enum], start=1):
        if known.casefold() == folded:
            return code
    raise ValueError(f"Unknown {enum.__name__} value '{text}'")
