# SPDX-License-Identifier: MIT
"""The field-mapping table: where every VPC field lives after conversion.

For each field of :data:`pysilk_ext.fields.FIELDS` this says whether its
value is kept in the SiLK flow record (and in which fields), in the
sensor, in the cloud-context map, or is derivable -- recomputed without
being stored.  The rows are made by walking ``FIELDS``, so a field added
there without a placement here fails :func:`check_complete` (and its
test) instead of silently vanishing.

The table serves three readers: the man page (:func:`pod_table`),
:mod:`.reverse` (which fields the context map must answer) and the round
trip check (:func:`round_trip_fields`: every field not declared
derivable must come back exactly).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from pysilk_ext.fields import FIELDS, FieldKind, FieldSpec

__all__ = [
    "SCOPE_VERSIONS",
    "FieldPlacement",
    "Where",
    "check_complete",
    "context_fields",
    "placement",
    "placements",
    "pod_table",
    "round_trip_fields",
]

#: Versions whose every field the converter promises to keep (issue 5).
#: Version 7 (ECS) is kept too, through the context map.
SCOPE_VERSIONS: frozenset[int] = frozenset({2, 3, 4, 5, 7, 8})


class Where(Enum):
    """Kinds of home a VPC field can have after conversion."""

    RECORD = "SiLK record"
    SENSOR = "sensor"
    CONTEXT = "context map"
    DERIVED = "derivable"
    NOT_STORED = "not stored"


@dataclass(frozen=True, slots=True)
class FieldPlacement:
    """Where one VPC field lives; ``silk`` names the SiLK fields used."""

    name: str
    version: int
    where: Where
    silk: str
    note: str

    @property
    def kept(self) -> bool:
        """True when rwsilk2vpc must reproduce the value exactly."""
        return self.where in (Where.RECORD, Where.SENSOR, Where.CONTEXT)


# Fields whose home is not the default for their kind.  The default for a
# STR field of a version in scope is the context map (ids and names that
# belong to the interface, not to the flow); fields of later versions are
# not stored.  Everything else is listed here.
_EXPLICIT: dict[str, tuple[Where, str, str]] = {
    "version": (
        Where.DERIVED,
        "-",
        "The highest version among the fields written; rwsilk2vpc "
        "writes the version of its output format.",
    ),
    "interface-id": (
        Where.SENSOR,
        "sensor",
        "With the default sensor policy the sensor is the interface "
        "(its name, or the AWS id in its description); with a subnet, "
        "VPC or account policy the context map holds it.",
    ),
    "srcaddr": (
        Where.RECORD,
        "sIP / nhIP",
        "sIP when srcaddr equals pkt-srcaddr; otherwise nhIP (memo bit "
        "NH_SRC).",
    ),
    "dstaddr": (
        Where.RECORD,
        "dIP / nhIP",
        "dIP when dstaddr equals pkt-dstaddr; otherwise nhIP (memo bit "
        "NH_DST).",
    ),
    "srcport": (
        Where.RECORD,
        "sPort",
        "For ICMP logged as srcport N, dstport 0 the ports are swapped "
        "(memo bit ICMP_PORTS_SWAPPED) so that SiLK's ICMP repair keeps "
        "them.",
    ),
    "dstport": (
        Where.RECORD,
        "dPort",
        "AWS writes 0 for ICMP, which SiLK shows as iType/iCode 0/0.",
    ),
    "protocol": (Where.RECORD, "protocol", ""),
    "packets": (
        Where.RECORD,
        "packets",
        "A count above 2^32-1 is split over several records marked T/C "
        "(attributes); 0 or - is stored as 1 and counted as lossy.",
    ),
    "bytes": (
        Where.RECORD,
        "bytes",
        "Split like packets; - is stored as 0 with memo bit BYTES_MISSING.",
    ),
    "start": (
        Where.RECORD,
        "sTime",
        "Seconds of the first packet of the capture window, as ms.",
    ),
    "end": (
        Where.RECORD,
        "eTime (sTime + duration)",
        "Seconds of the last packet of the capture window.",
    ),
    "action": (
        Where.RECORD,
        "class/type",
        "REJECT is innull (ingress) or outnull (egress); every other "
        "type is ACCEPT.",
    ),
    "log-status": (
        Where.DERIVED,
        "-",
        "Always OK for a flow record; NODATA and SKIPDATA records are "
        "counted per interface, not converted.",
    ),
    "tcp-flags": (
        Where.RECORD,
        "flags",
        "initialFlags/sessionFlags stay empty (EXPANDED clear); - is "
        "stored as 0 with memo bit TCP_FLAGS_MISSING.",
    ),
    "type": (
        Where.RECORD,
        "sIP/dIP family / memo",
        "IPv4 or IPv6 is the family of the record's addresses; EFA, - "
        "and a label of the other family in memo bits 2-3.",
    ),
    "pkt-srcaddr": (
        Where.RECORD,
        "sIP",
        "The real source behind NAT, secondary IPs and transit gateways.",
    ),
    "pkt-dstaddr": (
        Where.RECORD,
        "dIP",
        "The real destination behind NAT, secondary IPs and transit gateways.",
    ),
    "pkt-src-aws-service": (
        Where.CONTEXT,
        "memo",
        "Memo bit SRC_AWS_SERVICE records that AWS labelled sIP; the "
        "service name comes from the map (aws-service of sIP).",
    ),
    "pkt-dst-aws-service": (
        Where.CONTEXT,
        "memo",
        "Memo bit DST_AWS_SERVICE records that AWS labelled dIP; the "
        "service name comes from the map (aws-service of dIP).",
    ),
    "flow-direction": (
        Where.RECORD,
        "in",
        "1 ingress, 2 egress; inferred for versions 2-4 (memo bit "
        "DIRECTION_INFERRED, written back as -).",
    ),
    "traffic-path": (
        Where.RECORD,
        "out",
        "1-8 as AWS defines them; 0 when the log has -.",
    ),
    "reject-reason": (
        Where.RECORD,
        "memo",
        "Memo bits 0-1: - 0, BPA 1, EC 2 (other values: 3, lossy).",
    ),
}


def placement(spec: FieldSpec) -> FieldPlacement:
    """Return where the VPC field ``spec`` lives after conversion."""
    explicit = _EXPLICIT.get(spec.name)
    if explicit is not None:
        where, silk, note = explicit
    elif spec.version in SCOPE_VERSIONS and spec.kind is FieldKind.STR:
        where, silk, note = (
            Where.CONTEXT,
            "-",
            "A property of the interface: looked up by the interface's "
            "address, the time and the VPC.",
        )
    else:
        where, silk, note = (
            Where.NOT_STORED,
            "-",
            f"Version {spec.version} is newer than the converter's scope.",
        )
    return FieldPlacement(spec.name, spec.version, where, silk, note)


def placements(
    specs: Iterable[FieldSpec] = FIELDS,
) -> tuple[FieldPlacement, ...]:
    """Return the placement of every field, in ``FIELDS`` order."""
    return tuple(placement(s) for s in specs)


def check_complete() -> list[str]:
    """Return problems with the table (empty when consistent).

    Every field of a version in :data:`SCOPE_VERSIONS` must be kept or
    derivable, and every explicit entry must name a known field.
    """
    known = {s.name for s in FIELDS}
    problems = [
        f"Placement for unknown field '{name}'"
        for name in _EXPLICIT
        if name not in known
    ]
    problems.extend(
        f"Field '{p.name}' of version {p.version} is not stored"
        for p in placements()
        if p.version in SCOPE_VERSIONS and p.where is Where.NOT_STORED
    )
    return problems


def context_fields(max_version: int = 8) -> tuple[str, ...]:
    """Return the fields the context map answers for an interface.

    These are looked up by the interface's own address; the AWS-service
    labels (looked up by sIP/dIP) are not among them.
    """
    return tuple(
        p.name
        for p in placements()
        if p.where is Where.CONTEXT
        and p.version <= max_version
        and not p.name.endswith("aws-service")
    )


def round_trip_fields(names: Iterable[str]) -> tuple[str, ...]:
    """Return those of ``names`` that must survive a round trip exactly.

    That is every kept field (record, sensor, context map); derivable
    fields and unknown or unstored fields are left out.
    """
    by_name = {p.name: p for p in placements()}
    return tuple(n for n in names if n in by_name and by_name[n].kept)


def pod_table(max_version: int = 8) -> str:
    """Return the table as POD for the rwvpc2silk man page.

    One ``=item`` per field up to ``max_version``, saying where it lives
    and how; the man page includes this text verbatim.
    """
    lines = ["=over 4", ""]
    for p in placements():
        if p.version > max_version:
            continue
        silk = "" if p.silk == "-" else f" (B<{p.silk}>)"
        lines.append(f"=item B<{p.name}> (version {p.version})")
        lines.append("")
        where = p.where.value[:1].upper() + p.where.value[1:]  # "SiLK"
        text = f"{where}{silk}."
        if p.note:
            text += f" {p.note}"
        lines.append(text)
        lines.append("")
    lines.append("=back")
    return "\n".join(lines) + "\n"
