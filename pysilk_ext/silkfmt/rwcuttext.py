# SPDX-License-Identifier: MIT
"""Render flow records as text exactly like SiLK 3.19.1's ``rwcut``.

Golden tests compare our decoders with the text real SiLK printed for the
fixtures, and round-trip tools print records; both need rwcut's layout
(spec 9.1): fixed-width right-justified columns each followed by ``|``,
or ``--delimited`` output without padding or final delimiter.

Supported: the 23 printable fields of ``rwcut --all-fields`` minus the
deprecated ``*+msec`` ones, ``--timestamp-format=default|epoch``,
``--integer-tcp-flags``, ``--integer-sensors``, ``--delimited[=C]``,
``--no-titles``.  Names come from plain dicts so that this module does not
depend on a silk.conf parser::

    format_rwcut(rows, fields=ALL_FIELDS, sensor_names={0: "S0"},
                 flowtypes={3: ("all", "outweb")}, timestamp_format="epoch",
                 integer_tcp_flags=True, integer_sensors=True,
                 delimited="|")

Column widths of sensor, class and type are the longest names in
silk.conf, i.e. in the dicts given (``class_names`` may list classes that
have no flowtype).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from pysilk_ext.silkfmt.flowrec import TCP_STATE_EXPANDED, TCP_STATE_IPV6

DEFAULT_FIELDS = (
    "sIP", "dIP", "sPort", "dPort", "protocol", "packets", "bytes",
    "flags", "sTime", "duration", "eTime", "sensor",
)  # fmt: skip
ALL_FIELDS = (
    *DEFAULT_FIELDS,
    "in", "out", "nhIP", "initialFlags", "sessionFlags", "attributes",
    "application", "class", "type", "iType", "iCode",
)  # fmt: skip

_FIXED_WIDTHS = {
    "sIP": 39, "dIP": 39, "nhIP": 39, "sPort": 5, "dPort": 5,
    "protocol": 3, "packets": 10, "bytes": 10, "flags": 8, "duration": 9,
    "in": 5, "out": 5, "initialFlags": 8, "sessionFlags": 8,
    "attributes": 8, "application": 5, "iType": 3, "iCode": 3,
}  # fmt: skip
_TCP_FLAG_CHARS = "FSRPAUEC"
# attribute letters in rwcut's order with their tcp_state bits
_ATTRIBUTES = (("T", 0x20), ("C", 0x40), ("F", 0x08), ("S", 0x10))
_PROTO_ICMP = 1
_PROTO_ICMPV6 = 58


def tcp_flags_text(value: int, *, padded: bool = True) -> str:
    """Return ``FS PA   `` (padded) or ``FSPA`` for a TCP flag byte."""
    chars = [
        c if value & (1 << i) else " " for i, c in enumerate(_TCP_FLAG_CHARS)
    ]
    text = "".join(chars)
    return text if padded else text.replace(" ", "")


def attributes_text(state: int, *, padded: bool = True) -> str:
    """Return the attributes column (``T``, ``C``, ``F``, ``S``)."""
    chars = [c if state & bit else " " for c, bit in _ATTRIBUTES]
    text = "".join(chars).ljust(8)
    return text if padded else text.replace(" ", "")


def address_text(addr: bytes, is_ipv6: bool) -> str:
    """Return an address as rwcut prints it (glibc ``inet_ntop``)."""
    if is_ipv6:
        return socket.inet_ntop(socket.AF_INET6, addr)
    return socket.inet_ntop(socket.AF_INET, addr[12:16])


def _time_text(ms: int, fmt: str) -> str:
    if fmt == "epoch":
        sec, msec = divmod(ms, 1000)
        return f"{sec}.{msec:03d}"
    sec, msec = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(sec, UTC)
    return stamp.strftime("%Y/%m/%dT%H:%M:%S") + f".{msec:03d}"


def _widths(
    fields: Sequence[str],
    timestamp_format: str,
    sensor_names: Mapping[int, str],
    flowtypes: Mapping[int, tuple[str, str]],
    class_names: Iterable[str],
) -> list[int]:
    classes = {c for c, _ in flowtypes.values()} | set(class_names)
    widths = []
    for name in fields:
        if name in _FIXED_WIDTHS:
            widths.append(_FIXED_WIDTHS[name])
        elif name in ("sTime", "eTime"):
            widths.append(14 if timestamp_format == "epoch" else 23)
        elif name == "sensor":
            widths.append(max(map(len, sensor_names.values()), default=5))
        elif name == "class":
            widths.append(max(map(len, classes), default=3))
        elif name == "type":
            widths.append(
                max((len(t) for _, t in flowtypes.values()), default=3)
            )
        else:
            raise ValueError(f"Invalid fields: Unknown field '{name}'")
    return widths


def record_values(
    row: np.void,
    fields: Sequence[str],
    *,
    timestamp_format: str = "default",
    integer_tcp_flags: bool = False,
    integer_sensors: bool = False,
    padded: bool = True,
    sensor_names: Mapping[int, str] | None = None,
    flowtypes: Mapping[int, tuple[str, str]] | None = None,
) -> list[str]:
    """Return the unpadded column texts of one FLOW_DTYPE row."""
    sensor_names = sensor_names or {}
    flowtypes = flowtypes or {}
    state = int(row["tcp_state"])
    is_v6 = bool(state & TCP_STATE_IPV6)
    expanded = bool(state & TCP_STATE_EXPANDED)
    proto = int(row["proto"])
    dport = int(row["dport"])
    is_icmp = proto == _PROTO_ICMP or (is_v6 and proto == _PROTO_ICMPV6)
    stime = int(row["stime"])
    elapsed = int(row["elapsed"])

    def flags(value: int, shown: bool = True) -> str:
        if integer_tcp_flags:
            return str(value if shown else 0)
        return tcp_flags_text(value, padded=padded) if shown else ""

    out = []
    for name in fields:
        if name in ("sIP", "dIP", "nhIP"):
            addr = bytes(row[name.lower()])
            out.append(address_text(addr, is_v6))
        elif name == "sPort":
            out.append(str(int(row["sport"])))
        elif name == "dPort":
            out.append(str(dport))
        elif name == "protocol":
            out.append(str(proto))
        elif name in ("packets", "bytes", "application"):
            out.append(str(int(row[name])))
        elif name in ("in", "out"):
            out.append(str(int(row["input" if name == "in" else "output"])))
        elif name == "flags":
            out.append(flags(int(row["flags"])))
        elif name == "initialFlags":
            out.append(flags(int(row["init_flags"]), expanded))
        elif name == "sessionFlags":
            out.append(flags(int(row["rest_flags"]), expanded))
        elif name == "attributes":
            out.append(attributes_text(state, padded=padded))
        elif name == "sTime":
            out.append(_time_text(stime, timestamp_format))
        elif name == "eTime":
            out.append(_time_text(stime + elapsed, timestamp_format))
        elif name == "duration":
            out.append(f"{elapsed // 1000}.{elapsed % 1000:03d}")
        elif name == "sensor":
            sid = int(row["sensor"])
            text = None if integer_sensors else sensor_names.get(sid)
            out.append(text if text is not None else str(sid))
        elif name in ("class", "type"):
            ftype = int(row["flowtype"])
            pair = flowtypes.get(ftype)
            if pair is None:
                out.append("?" if name == "class" else str(ftype))
            else:
                out.append(pair[0] if name == "class" else pair[1])
        elif name == "iType":
            out.append(str(dport >> 8) if is_icmp else "")
        elif name == "iCode":
            out.append(str(dport & 0xFF) if is_icmp else "")
        else:
            raise ValueError(f"Invalid fields: Unknown field '{name}'")
    return out


def format_rwcut(
    rows: np.ndarray,
    fields: Sequence[str] = DEFAULT_FIELDS,
    *,
    timestamp_format: str = "default",
    integer_tcp_flags: bool = False,
    integer_sensors: bool = False,
    delimited: str | None = None,
    titles: bool = True,
    sensor_names: Mapping[int, str] | None = None,
    flowtypes: Mapping[int, tuple[str, str]] | None = None,
    class_names: Iterable[str] = (),
) -> str:
    """Return rwcut's output for FLOW_DTYPE ``rows`` (with final newline).

    ``delimited`` is the ``--delimited`` character (``"|"`` for a bare
    ``--delimited``); ``None`` gives the fixed-width table.
    """
    if timestamp_format not in ("default", "epoch"):
        raise ValueError(
            f"Invalid timestamp-format '{timestamp_format}': expected "
            f"'default' or 'epoch'"
        )
    sensor_names = sensor_names or {}
    flowtypes = flowtypes or {}
    lines = []
    if delimited is not None:
        if titles:
            lines.append(delimited.join(fields))
        for row in rows:
            values = record_values(
                row,
                fields,
                timestamp_format=timestamp_format,
                integer_tcp_flags=integer_tcp_flags,
                integer_sensors=integer_sensors,
                padded=False,
                sensor_names=sensor_names,
                flowtypes=flowtypes,
            )
            lines.append(delimited.join(values))
    else:
        widths = _widths(
            fields, timestamp_format, sensor_names, flowtypes, class_names
        )
        if titles:
            lines.append(
                "".join(
                    f"{name[:w]:>{w}}|"
                    for name, w in zip(fields, widths, strict=True)
                )
            )
        for row in rows:
            values = record_values(
                row,
                fields,
                timestamp_format=timestamp_format,
                integer_tcp_flags=integer_tcp_flags,
                integer_sensors=integer_sensors,
                padded=True,
                sensor_names=sensor_names,
                flowtypes=flowtypes,
            )
            lines.append(
                "".join(
                    f"{v:>{w}}|" for v, w in zip(values, widths, strict=True)
                )
            )
    return "".join(line + "\n" for line in lines)
