# SPDX-License-Identifier: MIT
"""Where each piece of a VPC flow record lives inside a SiLK flow record.

One place for the encoding that :mod:`.records` writes, :mod:`.reverse`
reads back and :mod:`.mapping` documents, so the three cannot drift.

SiLK fields used beyond the obvious ones (sIP, dIP, ports, protocol,
packets, bytes, flags, sTime, elapsed, sensor, flowtype):

``nhIP``
    The interface's own address (``srcaddr`` on egress, ``dstaddr`` on
    ingress) when it differs from the packet-level address
    (``pkt-srcaddr`` / ``pkt-dstaddr``), which is what sIP/dIP hold: the
    real endpoints behind a NAT gateway, a transit gateway or a secondary
    IP.  ``0.0.0.0`` (``::`` in an IPv6 record) when they are equal.
    Memo bits :data:`MEMO_NH_SRC` / :data:`MEMO_NH_DST` say which of
    ``srcaddr``/``dstaddr`` it replaces.

``input``
    The flow direction relative to the interface: :data:`INPUT_INGRESS`
    (1) or :data:`INPUT_EGRESS` (2); 0 when it could not be determined.
    ``rwfilter --input-index=1`` selects ingress records.  When the log
    had no ``flow-direction`` (versions 2-4) the direction is inferred and
    :data:`MEMO_DIRECTION_INFERRED` is set.

``output``
    ``traffic-path`` (1-8: same VPC, internet gateway, virtual private
    gateway, ...; 0 when the log has ``-``).  It names the path egress
    traffic took, i.e. the "output interface" of the ENI, so
    ``rwfilter --output-index=8`` selects traffic through an internet
    gateway.

``memo``
    Unused by every SiLK tool (rwflowpack keeps a firewall-event code
    there); we keep the bits of the VPC record that have no SiLK field:
    reject reason, ``type``, which fields were ``-``, which of nhIP's
    meanings applies, whether AWS labelled the endpoints as AWS service
    addresses.  The bit layout is below; bits 12-15 are reserved (0).

``tcpState``
    Only SiLK's own meanings: bit 7 for IPv6 records; bits T/C (0x20 /
    0x40) mark the pieces of a record whose packets or bytes exceed
    2^32-1 and that was split (first piece T, middle pieces TC, last C),
    exactly SiLK's meaning of "ended by an active timeout" and
    "continuation".  :mod:`.reverse` adds the pieces up again.

``application``
    Always 0 (unknown): VPC Flow Logs carry no application label.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

# -- input: flow direction ------------------------------------------------

INPUT_UNKNOWN: Final = 0
INPUT_INGRESS: Final = 1
INPUT_EGRESS: Final = 2

# -- memo bits ------------------------------------------------------------

#: bits 0-1: reject-reason code (see :class:`RejectReason`)
MEMO_REJECT_REASON_MASK: Final = 0x0003
#: bits 2-3: ``type`` code (see :class:`TypeCode`)
MEMO_TYPE_SHIFT: Final = 2
MEMO_TYPE_MASK: Final = 0x000C
#: ``tcp-flags`` was ``-`` (or not in the log format); flags holds 0
MEMO_TCP_FLAGS_MISSING: Final = 0x0010
#: ``bytes`` was ``-``; bytes holds 0
MEMO_BYTES_MISSING: Final = 0x0020
#: ``flow-direction`` was not logged; ``input`` holds an inferred value
MEMO_DIRECTION_INFERRED: Final = 0x0040
#: nhIP holds ``srcaddr`` (which differs from ``pkt-srcaddr`` = sIP)
MEMO_NH_SRC: Final = 0x0080
#: nhIP holds ``dstaddr`` (which differs from ``pkt-dstaddr`` = dIP)
MEMO_NH_DST: Final = 0x0100
#: ``pkt-src-aws-service`` named a service (the name is in the map)
MEMO_SRC_AWS_SERVICE: Final = 0x0200
#: ``pkt-dst-aws-service`` named a service (the name is in the map)
MEMO_DST_AWS_SERVICE: Final = 0x0400
#: an ICMP record logged with srcport != 0 and dstport == 0: the ports
#: were swapped so that SiLK's read-side ICMP repair leaves them alone
MEMO_ICMP_PORTS_SWAPPED: Final = 0x0800
#: bits SiLK must see as 0 in our records (reserved for later versions)
MEMO_RESERVED_MASK: Final = 0xF000


class RejectReason(IntEnum):
    """Codes of ``reject-reason`` (version 8) in memo bits 0-1."""

    NONE = 0  # "-" or field absent
    BPA = 1  # VPC Block Public Access
    EC = 2  # VPC Encryption Controls
    OTHER = 3  # a value this version does not know (counted as lossy)


REJECT_REASON_TEXT: Final[dict[RejectReason, str]] = {
    RejectReason.BPA: "BPA",
    RejectReason.EC: "EC",
}


class TypeCode(IntEnum):
    """Codes of ``type`` in memo bits 2-3, relative to the record family.

    ``type`` is almost always the address family of the record, so the
    common case costs nothing; EFA traffic, a ``-`` and the (never seen)
    label of the other family keep their exact value.
    """

    FAMILY = 0  # IPv4 for an IPv4 record, IPv6 for an IPv6 record
    EFA = 1
    MISSING = 2
    OTHER_FAMILY = 3


# -- tcpState bits of split records ----------------------------------------

#: first piece of a split record ("ended by active timeout")
SPLIT_FIRST: Final = 0x20
#: later pieces ("continuation of a timed-out flow")
SPLIT_CONTINUED: Final = 0x40
SPLIT_MASK: Final = SPLIT_FIRST | SPLIT_CONTINUED

#: largest packets/bytes value a SiLK record holds
U32_MAX: Final = 0xFFFF_FFFF
