# SPDX-License-Identifier: MIT
"""--print-statistics text: every count of the conversion appears."""

from __future__ import annotations

from pysilk_ext.convert import Converter
from pysilk_ext.convert.config import parse_config
from pysilk_ext.convert.report import statistics_lines
from pysilk_ext.vpcparse import ChunkParser

LOG = (
    "version interface-id srcaddr dstaddr srcport dstport protocol packets "
    "bytes start end action log-status\n"
    "2 eni-0a 198.51.100.1 10.0.0.5 1 22 6 2 80 1700000000 1700000004 "
    "REJECT OK\n"
    "2 eni-0a 10.0.0.5 198.51.100.1 22 1 6 2 80 1700000000 1700000004 "
    "ACCEPT OK\n"
    "2 eni-0b - - - - - - - 1700000000 1700000060 - SKIPDATA\n"
)


def test_statistics_name_counts_types_and_sensors() -> None:
    """Counts, skipped reasons, types and sensor names are all listed,
    each with the value LOG implies, labels in one column, values
    right-aligned at column 47."""
    conv = Converter(parse_config(""))
    recs = conv.convert(ChunkParser(source="t").feed(LOG.encode()).batch)
    lines = statistics_lines(conv.stats, sensors=conv.sensor_names())
    assert 1 == len(recs)
    # LOG: 3 records, 2 of them flows (SKIPDATA is not); the default
    # action is REJECT, so the ACCEPT flow is skipped and the REJECT one
    # (2 packets, 80 bytes, internet -> 10.0.0.5: all/innull) written on
    # eni-0a's sensor; v2 has no flow-direction, so both flows' directions
    # are inferred; eni-0b's SKIPDATA is a coverage gap.
    expected = [
        ("Records read", 3),
        ("Flow records", 2),
        ("Flow records selected", 1),
        ("SiLK records written", 1),
        ("Duplicates removed", 0),
        ("Directions inferred", 2),
        ("Records split (counts > 2^32-1)", 0),
        ("Pieces added by splitting", 0),
        ("Records clamped", 0),
        ("Records on the fallback sensor", 0),
        ("VPC packets converted", 2),
        ("VPC bytes converted", 80),
        ("Skipped records", None),
        ("  ACCEPT not selected", 1),
        ("  SKIPDATA", 1),
        ("Written by class/type", None),
        ("  all/innull", 1),
        ("Written by sensor", None),
        ("  eni-0a", 1),
        ("SKIPDATA (coverage gaps) by interface", None),
        ("  eni-0b", 1),
    ]
    assert [
        f"{label}:" if value is None else f"{label + ':':<34} {value:>12}"
        for label, value in expected
    ] == lines
