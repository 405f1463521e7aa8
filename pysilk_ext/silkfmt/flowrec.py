# SPDX-License-Identifier: MIT
"""The logical SiLK flow record, as a NumPy structured dtype.

:data:`FLOW_DTYPE` is our ``rwRec``: one row per flow, laid out exactly like
an FT_RWIPV6ROUTING record version 1 in a little-endian file (88 bytes,
spec section 3.3).  Writing that format is then a copy (or a byte swap for
big-endian files), and every other format is encoded from these columns.

Addresses are 16 bytes in network order.  An IPv4 record holds the
IPv4-mapped form ``::ffff:a.b.c.d`` in ``sip``/``dip``/``nhip`` and has bit
7 (0x80) of ``tcp_state`` clear; an IPv6 record has it set.
"""

from __future__ import annotations

import numpy as np

FLOW_DTYPE = np.dtype(
    [
        ("stime", "<i8"),  # start, ms since epoch
        ("elapsed", "<u4"),  # duration, ms
        ("sport", "<u2"),
        ("dport", "<u2"),  # ICMP: type << 8 | code
        ("proto", "u1"),
        ("flowtype", "u1"),  # class/type id from silk.conf; 255 unset
        ("sensor", "<u2"),  # sensor id from silk.conf; 65535 unset
        ("flags", "u1"),  # OR of all TCP flags
        ("init_flags", "u1"),
        ("rest_flags", "u1"),
        ("tcp_state", "u1"),  # 0x01 EXPANDED ... 0x80 IPv6
        ("application", "<u2"),
        ("memo", "<u2"),
        ("input", "<u2"),
        ("output", "<u2"),
        ("packets", "<u4"),
        ("bytes", "<u4"),
        ("sip", "u1", (16,)),
        ("dip", "u1", (16,)),
        ("nhip", "u1", (16,)),
    ]
)
assert FLOW_DTYPE.itemsize == 88  # noqa: S101 - layout invariant

TCP_STATE_EXPANDED = 0x01
TCP_STATE_FIN_FOLLOWED_NOT_ACK = 0x08
TCP_STATE_UNIFORM_PACKET_SIZE = 0x10
TCP_STATE_TIMEOUT_KILLED = 0x20
TCP_STATE_TIMEOUT_STARTED = 0x40
TCP_STATE_IPV6 = 0x80

SENSOR_INVALID = 65535
FLOWTYPE_INVALID = 255
