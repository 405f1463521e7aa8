# SPDX-License-Identifier: MIT
"""Text of ``rwvpc2silk --print-statistics`` from :class:`ConvertStats`.

Kept beside the statistics so that the command only prints lines.  Type
and sensor ids are named through silk.conf when one is given (numbers
otherwise, as rwcut does).  Every count the conversion keeps appears,
including zero counts of the policies (dedup, split, lossy) so a reader
sees they were checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from pysilk_ext.convert.classify import DEFAULT_TYPE_IDS
from pysilk_ext.convert.converter import ConvertStats
from pysilk_ext.silkfmt.siteconf import SiteConfig

__all__ = ["statistics_lines"]

_WIDTH = 34


def _row(label: str, value: int | str, indent: int = 0) -> str:
    pad = " " * indent
    return f"{pad}{label + ':':<{_WIDTH - indent}} {value:>12}"


def _counts(
    title: str, counts: Counter[str], indent: int = 2
) -> Iterable[str]:
    if not counts:
        return
    yield f"{title}:"
    for name, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        yield _row(name, value, indent)


def statistics_lines(
    stats: ConvertStats,
    site: SiteConfig | None = None,
    sensors: Mapping[int, str] | None = None,
) -> list[str]:
    """Return the statistics as text lines (no trailing newlines).

    ``sensors`` names sensor ids not in ``site`` (those the converter
    allocated in memory: :meth:`Converter.sensor_names`).
    """
    type_names = {v: f"all/{k}" for k, v in DEFAULT_TYPE_IDS.items()}
    sensor_names: dict[int, str] = {}
    if site is not None:
        type_names = {
            fid: f"{ft.class_name}/{ft.type}"
            for fid, ft in site.flowtypes.items()
        }
        sensor_names = {sid: s.name for sid, s in site.sensors.items()}
    if sensors:
        sensor_names = {**sensors, **sensor_names}
    issues = stats.issues
    lines = [
        _row("Records read", stats.records_in),
        _row("Flow records", stats.flows_in),
        _row("Flow records selected", stats.selected),
        _row("SiLK records written", stats.written),
        _row("Duplicates removed", stats.dedup_removed),
        _row("Directions inferred", stats.direction_inferred),
        _row("Records split (counts > 2^32-1)", issues.split_records),
        _row("Pieces added by splitting", issues.split_pieces),
        _row("Records clamped", issues.clamped),
        _row("Records on the fallback sensor", stats.sensor_fallback),
        _row("VPC packets converted", stats.packets_in),
        _row("VPC bytes converted", stats.bytes_in),
    ]
    lines.extend(_counts("Skipped records", stats.skipped))
    lines.extend(_counts("Values not kept exactly", issues.lossy))
    lines.extend(
        _counts(
            "Written by class/type",
            Counter(
                {
                    type_names.get(k, str(k)): v
                    for k, v in stats.by_flowtype.items()
                }
            ),
        )
    )
    lines.extend(
        _counts(
            "Written by sensor",
            Counter(
                {
                    sensor_names.get(k, str(k)): v
                    for k, v in stats.by_sensor.items()
                }
            ),
        )
    )
    lines.extend(_counts("NODATA records by interface", stats.nodata))
    lines.extend(
        _counts("SKIPDATA (coverage gaps) by interface", stats.skipdata)
    )
    return lines
