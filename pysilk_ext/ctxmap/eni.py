# SPDX-License-Identifier: MIT
"""ENI inventory: ``aws ec2 describe-network-interfaces`` JSON.

The inventory knows what flow logs cannot show: secondary private IPs
(pods of the EKS VPC CNI live there), public IPv4 and Elastic IP
associations, IPv6 addresses, and interfaces that sent nothing.  Each
address becomes one binding of relation ``ENI`` whose interval is
``[first, at]``: ``at`` is the snapshot time (the caller's, else the
file's modification time) and ``first`` is the attachment time for the
primary and IPv6 addresses of an attached interface (the instance has held
them since then) and ``at`` otherwise (nothing says since when a secondary
or public address has been there).

Accepted shapes: the CLI's ``{"NetworkInterfaces": [...]}`` or a bare list
of interface objects (as ``--query NetworkInterfaces`` prints).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysilk_ext.ctxmap.model import EniKind, parse_address
from pysilk_ext.errors import ContextMapError

__all__ = ["EniAddress", "load_eni_json", "parse_eni_document"]

_REGION_OF_AZ = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)")
# The EC2 API spells one interface type differently from flow logs.
_INTERFACE_TYPES = {"natGateway": "nat_gateway"}


@dataclass(frozen=True, slots=True)
class EniAddress:
    """One address of one inventory interface."""

    address: bytes  # 16 bytes, network order
    kind: EniKind
    fields: dict[str, str]
    first: int
    last: int


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ContextMapError(f"{where}: Invalid {key} '{value}'")
    return value


def _address(text: object, key: str, where: str, version: int) -> bytes:
    if not isinstance(text, str):
        raise ContextMapError(f"{where}: Invalid {key} '{text}'")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise ContextMapError(f"{where}: Invalid {key} '{text}'") from None
    if ip.version != version:
        raise ContextMapError(
            f"{where}: Invalid {key} '{text}': Not an IPv{version} address"
        )
    return parse_address(text)


def _attach_time(value: object, where: str) -> int | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ContextMapError(f"{where}: Invalid AttachTime '{value}'")
    try:
        when = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ContextMapError(
            f"{where}: Invalid AttachTime '{value}'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return int(when.timestamp())


def _interface(eni: object, where: str, at: int) -> list[EniAddress]:
    if not isinstance(eni, dict):
        raise ContextMapError(f"{where}: Interface is not an object")
    eni_id = _str(eni, "NetworkInterfaceId", where)
    if not eni_id:
        raise ContextMapError(f"{where}: Missing 'NetworkInterfaceId'")
    attachment = eni.get("Attachment") or {}
    if not isinstance(attachment, dict):
        raise ContextMapError(f"{where}: Invalid Attachment")
    az_name = _str(eni, "AvailabilityZone", where)
    region = _REGION_OF_AZ.match(az_name)
    iface_type = _str(eni, "InterfaceType", where)
    fields = {
        "interface-id": eni_id,
        "instance-id": _str(attachment, "InstanceId", where),
        "vpc-id": _str(eni, "VpcId", where),
        "subnet-id": _str(eni, "SubnetId", where),
        "account-id": _str(eni, "OwnerId", where),
        "availability-zone": az_name,
        "az-id": _str(eni, "AvailabilityZoneId", where),
        "region": region.group(1) if region else "",
        "interface-type": _INTERFACE_TYPES.get(iface_type, iface_type),
    }
    fields = {k: v for k, v in fields.items() if v}
    attached = _attach_time(attachment.get("AttachTime"), where)
    since = at if attached is None else min(attached, at)

    out: list[EniAddress] = []
    seen: set[bytes] = set()

    def add(raw: bytes, kind: EniKind, first: int) -> None:
        if raw not in seen:
            seen.add(raw)
            out.append(EniAddress(raw, kind, fields, first, at))

    private = eni.get("PrivateIpAddresses") or []
    if not isinstance(private, list):
        raise ContextMapError(f"{where}: Invalid PrivateIpAddresses")
    primary = eni.get("PrivateIpAddress")
    if primary:
        add(
            _address(primary, "PrivateIpAddress", where, 4),
            EniKind.PRIMARY,
            since,
        )
    publics: list[tuple[object, dict[str, Any]]] = []
    for k, item in enumerate(private):
        spot = f"{where}: PrivateIpAddresses[{k}]"
        if not isinstance(item, dict):
            raise ContextMapError(f"{spot}: Entry is not an object")
        raw = _address(
            item.get("PrivateIpAddress"), "PrivateIpAddress", spot, 4
        )
        is_primary = bool(item.get("Primary")) or (
            primary is not None and raw == parse_address(str(primary))
        )
        add(
            raw,
            EniKind.PRIMARY if is_primary else EniKind.SECONDARY,
            since if is_primary else at,
        )
        assoc = item.get("Association")
        if assoc:
            if not isinstance(assoc, dict):
                raise ContextMapError(f"{spot}: Invalid Association")
            publics.append((assoc.get("PublicIp"), assoc))
    assoc = eni.get("Association")
    if assoc:
        if not isinstance(assoc, dict):
            raise ContextMapError(f"{where}: Invalid Association")
        publics.append((assoc.get("PublicIp"), assoc))
    for text, assoc in publics:
        if not text:
            continue
        raw = _address(text, "PublicIp", where, 4)
        owner = assoc.get("IpOwnerId", "")
        elastic = bool(assoc.get("AllocationId")) or (
            bool(owner) and owner != "amazon"
        )
        kind = EniKind.PUBLIC | (EniKind.ELASTIC if elastic else 0)
        add(raw, kind, at)
    v6 = eni.get("Ipv6Addresses") or []
    if not isinstance(v6, list):
        raise ContextMapError(f"{where}: Invalid Ipv6Addresses")
    for k, item in enumerate(v6):
        spot = f"{where}: Ipv6Addresses[{k}]"
        if not isinstance(item, dict):
            raise ContextMapError(f"{spot}: Entry is not an object")
        add(
            _address(item.get("Ipv6Address"), "Ipv6Address", spot, 6),
            EniKind.IPV6,
            since,
        )
    return out


def parse_eni_document(doc: object, name: str, at: int) -> list[EniAddress]:
    """Addresses of a parsed describe-network-interfaces document.

    Raises:
        ContextMapError: the document is not of that shape; the message
            names the offending interface and key.
    """
    if isinstance(doc, dict):
        if "NetworkInterfaces" not in doc:
            raise ContextMapError(
                f"Invalid ENI inventory '{name}': No 'NetworkInterfaces' key"
            )
        items = doc["NetworkInterfaces"]
    else:
        items = doc
    if not isinstance(items, list):
        raise ContextMapError(
            f"Invalid ENI inventory '{name}': "
            "'NetworkInterfaces' is not a list"
        )
    out: list[EniAddress] = []
    for i, eni in enumerate(items):
        out += _interface(eni, f"'{name}': NetworkInterfaces[{i}]", at)
    return out


def load_eni_json(path: str | Path, at: int | None = None) -> list[EniAddress]:
    """Read an ENI inventory; ``at`` defaults to the file's mtime.

    Raises:
        ContextMapError: unreadable, not JSON, or malformed.
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            if at is None:
                at = int(os.fstat(fh.fileno()).st_mtime)
            doc = json.load(fh)
    except OSError as exc:
        raise ContextMapError(
            f"Cannot open '{name}': {exc.strerror}"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContextMapError(
            f"Invalid ENI inventory '{name}': Not JSON: {exc}"
        ) from None
    return parse_eni_document(doc, name, at)
