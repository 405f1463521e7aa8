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
    """Counts, skipped reasons, types and sensor names are all listed."""
    conv = Converter(parse_config(""))
    recs = conv.convert(ChunkParser(source="t").feed(LOG.encode()).batch)
    lines = statistics_lines(conv.stats, sensors=conv.sensor_names())
    text = "\n".join(lines)
    assert 1 == len(recs)
    assert "Records read:" in lines[0]
    assert lines[0].endswith(" 3")
    assert "  ACCEPT not selected:" in text
    assert "  all/innull:" in text
    assert "  eni-0a:" in text
    assert "SKIPDATA (coverage gaps) by interface:\n  eni-0b:" in text
