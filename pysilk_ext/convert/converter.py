# SPDX-License-Identifier: MIT
"""The conversion pipeline: FlowBatch in, classified SiLK records out.

:class:`Converter` holds everything that spans batches (learned
interface addresses, sensor ids, the de-duplication memory, the
statistics), so a command is a loop::

    conv = Converter(config, site=site, site_path=path, context=ctx)
    for batch in reader:
        writer.write(conv.convert(batch))
    report(conv.stats)

Per batch (all vectorised):

1. status: NODATA/SKIPDATA rows are counted per interface, never
   converted; rows without addresses or with a bad window are skipped
   and counted (the reader already reports a flow whose start/end is
   ``-`` or whose end is before its start as a bad line, with file and
   line -- see :func:`pysilk_ext.vpcparse.screen_batch` -- so here that
   skip only meets batches made otherwise, or formats without
   ``start``/``end``);
2. direction: ``flow-direction`` when logged, else inferred
   (:mod:`.direction`); the interface side of every flow (``srcaddr`` on
   egress, ``dstaddr`` on ingress) is learned as an internal address --
   from ACCEPT rows too, even when only REJECTs are written;
3. selection by ``action`` (``reject`` by default; with ``all`` a row
   without ``action`` counts as ACCEPT);
4. records (:mod:`.records`), class/type (:mod:`.classify`), sensor
   (:mod:`.sensors`), optional de-duplication (:mod:`.dedup`), and the
   overflow policy for packets/bytes above 2^32-1.

The records are built and classified by two C passes over the batch
(``csrc/pse_conv.c``: the per-field rules of :mod:`.records`, and the
facts of :mod:`.classify` looked up in its rule table); the rest is a
few dozen NumPy operations per batch.  Measured on the v5 logs of
benchmarks/bench_convert.py: 0.12 s for 594,003 records (5 M records/s),
half of what the NumPy-only version took.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.addrs import Addr16, AddressRanges, AddressSet
from pysilk_ext.convert.awsranges import load_aws_ranges
from pysilk_ext.convert.classify import Classifier
from pysilk_ext.convert.config import (
    ActionSelection,
    ConvertConfig,
    Direction,
    SensorPolicy,
)
from pysilk_ext.convert.context import CloudContext
from pysilk_ext.convert.dedup import Deduplicator
from pysilk_ext.convert.direction import InterfaceAddressBook, infer_direction
from pysilk_ext.convert.records import (
    Endpoints,
    RecordIssues,
    apply_overflow,
    endpoints,
    int_col,
    str_col,
    take,
    take_addr,
    to_records,
)
from pysilk_ext.convert.sensors import POLICY_FIELD, SensorAssigner
from pysilk_ext.errors import ConvertError
from pysilk_ext.fields import Action, FlowDirection, LogStatus
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.siteconf import SiteConfig

__all__ = ["ConvertStats", "Converter"]

Rows = npt.NDArray[np.intp]

#: Other AWS ids written into the description of a new sensor.
_DESCRIBE_FIELDS = ("vpc-id", "subnet-id", "account-id", "region")


@dataclass(slots=True)
class ConvertStats:
    """Counts for ``--print-statistics`` (cumulative over batches)."""

    records_in: int = 0
    flows_in: int = 0
    selected: int = 0
    written: int = 0
    bytes_in: int = 0
    packets_in: int = 0
    direction_inferred: int = 0
    dedup_removed: int = 0
    sensor_fallback: int = 0
    by_flowtype: Counter[int] = field(default_factory=Counter)
    by_sensor: Counter[int] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    nodata: Counter[str] = field(default_factory=Counter)
    skipdata: Counter[str] = field(default_factory=Counter)
    issues: RecordIssues = field(default_factory=RecordIssues)


class Converter:
    """Converts FlowBatches to FLOW_DTYPE records (see module doc)."""

    def __init__(
        self,
        config: ConvertConfig | None = None,
        *,
        site: SiteConfig | None = None,
        site_path: Path | None = None,
        context: CloudContext | None = None,
        aws_ranges: AddressRanges | None = None,
    ) -> None:
        self.config = config or ConvertConfig()
        self.site = site
        self.context = context
        self.classifier = Classifier(self.config.classify, site)
        self.sensors = SensorAssigner(self.config.sensors, site, site_path)
        self.internal_nets = AddressRanges(
            self.config.internal_networks, source="internal-networks"
        )
        if aws_ranges is None and self.config.aws_ip_ranges is not None:
            aws_ranges = load_aws_ranges(
                self.config.aws_ip_ranges, self.config.aws_services
            )
        self.aws_ranges = aws_ranges
        self.interface_addresses = AddressSet()
        self.book = InterfaceAddressBook()
        self.dedup = (
            Deduplicator(self.config.dedup)
            if self.config.dedup.enabled
            else None
        )
        self._iface_numbers: dict[str, int] = {}
        self.stats = ConvertStats()

    # -- public ------------------------------------------------------------

    def convert(self, batch: FlowBatch) -> npt.NDArray[np.void]:
        """Return the SiLK records of one batch (FLOW_DTYPE, maybe empty).

        Raises:
            ConvertError: the sensor policy cannot be met (see
                :mod:`.sensors`).
        """
        stats = self.stats
        stats.records_in += batch.n
        ifaces = self._interface_keys(batch)
        flow_rows, all_ends = self._flow_rows(batch, ifaces)
        stats.flows_in += len(flow_rows)
        if len(flow_rows) == 0:
            return np.zeros(0, dtype=FLOW_DTYPE)
        ends = _subset(all_ends, flow_rows)
        start = int_col(batch, "start", flow_rows)
        assert start is not None  # noqa: S101 - _flow_rows checked it
        direction, inferred = self._directions(
            batch, flow_rows, ends, ifaces, start
        )
        egress = direction == L.INPUT_EGRESS
        own = _choose_rows(egress, ends.src.addr, ends.dst.addr)
        own_family = np.where(egress, ends.src.family, ends.dst.family)
        self.interface_addresses.add(own[own_family != 0])

        pick, reject = self._select(batch, flow_rows)
        if not pick.any():
            return np.zeros(0, dtype=FLOW_DTYPE)
        rows = flow_rows[pick]
        sel_ends = _subset(ends, pick)
        issues = RecordIssues()
        recs, packets, nbytes = to_records(
            batch,
            rows,
            sel_ends,
            direction=direction[pick],
            inferred=inferred[pick],
            issues=issues,
        )
        at = start[pick]
        reject = reject[pick]
        self._classify(recs, reject, at)
        sel_ifaces = (
            StrColumn(take(ifaces.codes, rows), ifaces.values)
            if ifaces is not None
            else None
        )
        recs["sensor"] = self._sensors(batch, rows, sel_ifaces, own[pick], at)
        stats.selected += len(rows)
        stats.packets_in += int(packets.sum())
        stats.bytes_in += int(nbytes.sum())

        if self.dedup is not None:
            recs["packets"] = np.minimum(packets, L.U32_MAX)
            keep = self.dedup.keep_mask(
                recs, self._iface_numbers_of(sel_ifaces, len(rows)), reject
            )
            if not keep.all():
                recs, packets, nbytes = recs[keep], packets[keep], nbytes[keep]
            stats.dedup_removed = self.dedup.removed
        recs = apply_overflow(
            recs, packets, nbytes, self.config.overflow, issues
        )
        stats.issues.add(issues)
        stats.written += len(recs)
        stats.by_flowtype.update(_counts(recs["flowtype"]))
        stats.by_sensor.update(_counts(recs["sensor"]))
        stats.sensor_fallback = self.sensors.fallback_records
        return recs

    def sensor_names(self) -> dict[int, str]:
        """Return the name of every sensor id known to this converter."""
        return {sid: name for name, sid in self.sensors.ids.items()}

    # -- steps --------------------------------------------------------------

    def _interface_keys(self, batch: FlowBatch) -> StrColumn | None:
        """Return interface-id per row, resource-id where it is missing."""
        iface: StrColumn | None = batch.columns.get("interface-id")
        res: StrColumn | None = batch.columns.get("resource-id")
        if res is None:
            return iface
        if iface is None:
            return res
        offset = len(iface.values) - 1
        codes = np.where(
            iface.codes != 0,
            iface.codes,
            np.where(res.codes != 0, res.codes + offset, 0),
        ).astype(np.uint32)
        return StrColumn(codes, [*iface.values, *res.values[1:]])

    def _flow_rows(
        self, batch: FlowBatch, ifaces: StrColumn | None
    ) -> tuple[Rows, Endpoints]:
        """Return the rows that are flows; count the others by reason.

        Also returns the endpoints of every row, computed once.
        """
        n = batch.n
        everything = np.arange(n, dtype=np.intp)
        status_col = batch.columns.get("log-status")
        status = (
            np.zeros(n, dtype=np.int64)
            if status_col is None
            else np.asarray(status_col, dtype=np.int64)
        )
        for code, counter, reason in (
            (LogStatus.NODATA, self.stats.nodata, "NODATA"),
            (LogStatus.SKIPDATA, self.stats.skipdata, "SKIPDATA"),
        ):
            hit = status == code
            if hit.any():
                self.stats.skipped[reason] += int(hit.sum())
                counter.update(_names(ifaces, everything[hit]))
        ok = (status == LogStatus.OK) | (status == 0)
        ends = endpoints(batch, everything)
        has_addr = (ends.sip.family != 0) & (ends.dip.family != 0)
        start = int_col(batch, "start", everything)
        end = int_col(batch, "end", everything)
        if start is None or end is None:
            window = np.zeros(n, dtype=bool)
        else:
            window = (start >= 0) & (end >= start)
        no_addr = ok & ~has_addr
        bad_window = ok & has_addr & ~window
        if no_addr.any():
            self.stats.skipped["no addresses"] += int(no_addr.sum())
        if bad_window.any():
            self.stats.skipped["start/end - or end before start"] += int(
                bad_window.sum()
            )
        flows: Rows = everything[ok & has_addr & window]
        return flows, ends

    def _directions(
        self,
        batch: FlowBatch,
        rows: Rows,
        ends: Endpoints,
        ifaces: StrColumn | None,
        at: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
        """Return the input code of each flow row and whether inferred."""
        n = len(rows)
        col = batch.columns.get("flow-direction")
        logged = (
            np.zeros(n, dtype=np.uint8)
            if col is None
            else take(np.asarray(col, dtype=np.uint8), rows)
        )
        known = (logged == FlowDirection.INGRESS) | (
            logged == FlowDirection.EGRESS
        )
        direction = np.where(known, logged, 0).astype(np.uint8)
        sub_ifaces = (
            StrColumn(take(ifaces.codes, rows), ifaces.values)
            if ifaces is not None
            else None
        )
        todo = ~known
        # own addresses are learned from logged directions only when some
        # record needs them (a sort per batch that v5 logs can skip)
        if sub_ifaces is not None and known.any() and todo.any():
            egress = known & (logged == FlowDirection.EGRESS)
            ingress = known & ~egress
            self.book.learn(
                sub_ifaces, np.flatnonzero(egress), ends.src.addr[egress]
            )
            self.book.learn(
                sub_ifaces, np.flatnonzero(ingress), ends.dst.addr[ingress]
            )
        if todo.any():
            idx = np.flatnonzero(todo)
            ctx = self.context
            owned = (
                (lambda a: ctx.owned(a, at[idx])) if ctx is not None else None
            )
            default = (
                L.INPUT_INGRESS
                if self.config.classify.default_direction is Direction.INGRESS
                else L.INPUT_EGRESS
            )
            direction[idx] = infer_direction(
                ifaces=(
                    StrColumn(sub_ifaces.codes[idx], sub_ifaces.values)
                    if sub_ifaces is not None
                    else None
                ),
                src=ends.src.addr[idx],
                dst=ends.dst.addr[idx],
                src_rewritten=ends.src_rewritten[idx],
                dst_rewritten=ends.dst_rewritten[idx],
                book=self.book,
                owned=owned,
                internal=(
                    self.internal_nets.contains
                    if len(self.internal_nets)
                    else None
                ),
                default=default,
            )
            self.stats.direction_inferred += len(idx)
        return direction, todo

    def _select(
        self, batch: FlowBatch, rows: Rows
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Return (selected, is REJECT) for the flow rows."""
        col = batch.columns.get("action")
        n = len(rows)
        action = (
            np.zeros(n, dtype=np.int64)
            if col is None
            else take(np.asarray(col, dtype=np.int64), rows)
        )
        reject = action == Action.REJECT
        accept = action == Action.ACCEPT
        missing = ~reject & ~accept
        selection = self.config.action
        if selection is ActionSelection.REJECT:
            pick = reject
            self._skip("ACCEPT not selected", accept)
        elif selection is ActionSelection.ACCEPT:
            pick = accept
            self._skip("REJECT not selected", reject)
        else:
            pick = np.ones(n, dtype=bool)
        if selection is not ActionSelection.ALL:
            self._skip("action -", missing)
        return pick, reject

    def _skip(self, reason: str, mask: npt.NDArray[np.bool_]) -> None:
        hits = int(np.count_nonzero(mask))
        if hits:
            self.stats.skipped[reason] += hits

    def _classify(
        self,
        recs: npt.NDArray[np.void],
        reject: npt.NDArray[np.bool_],
        at: npt.NDArray[np.int64],
    ) -> None:
        """Set the records' flowtype (one C pass; the optional sources of
        "internal" and "AWS service" are asked here, when configured)."""
        extra: dict[str, npt.NDArray[np.bool_]] = {}
        need_int = len(self.internal_nets) > 0 or self.context is not None
        need_aws = self.aws_ranges is not None or self.context is not None
        if need_int or need_aws:
            for side, field_name in (("src", "sip"), ("dst", "dip")):
                addr = np.ascontiguousarray(recs[field_name])
                if need_int:
                    extra[f"{side}_internal"] = self._internal(addr, at)
                if need_aws:
                    extra[f"{side}_aws"] = self._aws(addr, at)
        self.classifier.classify_records(
            recs, reject, self.interface_addresses, **extra
        )

    def _internal(
        self, addr: Addr16, at: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Internal by configured networks or the map (the learned
        interface addresses are the classifier's own lookup)."""
        mask = np.zeros(len(addr), dtype=bool)
        if len(self.internal_nets):
            mask |= self.internal_nets.contains(addr)
        if self.context is not None:
            mask |= self.context.owned(addr, at)
        return mask

    def _aws(
        self, addr: Addr16, at: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """AWS service by ip-ranges or the map (AWS's own labels are in
        the records' memo, which the classifier reads)."""
        mask = np.zeros(len(addr), dtype=bool)
        if self.aws_ranges is not None:
            mask |= self.aws_ranges.contains(addr)
        if self.context is not None:
            mask |= self.context.aws_service(addr, at)
        return mask

    def _sensors(
        self,
        batch: FlowBatch,
        rows: Rows,
        ifaces: StrColumn | None,
        own: Addr16,
        at: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.uint16]:
        policy = self.config.sensors.policy
        key_field = POLICY_FIELD[policy]
        if policy is SensorPolicy.INTERFACE:
            keys = ifaces
        else:
            keys = str_col(batch, key_field, rows)
        if keys is None and self.context is not None:
            scope = str_col(batch, "vpc-id", rows)
            keys = self.context.lookup(own, at, [key_field], scope)[key_field]
        if keys is None:
            if policy is SensorPolicy.INTERFACE:
                keys = StrColumn(np.zeros(len(rows), dtype=np.uint32), [""])
            else:
                raise ConvertError(
                    f"Sensor policy '{policy.value}' needs the field "
                    f"'{key_field}' in the logs or a context map",
                    key="sensors.policy",
                )
        describe_with = {
            name: col
            for name in _DESCRIBE_FIELDS
            if name != key_field
            and (col := str_col(batch, name, rows)) is not None
        }
        return self.sensors.assign(keys, describe_with)

    def _iface_numbers_of(
        self, ifaces: StrColumn | None, n: int
    ) -> npt.NDArray[np.int64]:
        """Return a number per row that names its interface across batches."""
        if ifaces is None:
            return np.zeros(n, dtype=np.int64)
        table = np.zeros(len(ifaces.values), dtype=np.int64)
        for code, name in enumerate(ifaces.values):
            if code:
                table[code] = self._iface_numbers.setdefault(
                    name, len(self._iface_numbers) + 1
                )
        return table[ifaces.codes]


def _subset(ends: Endpoints, pick: npt.NDArray[Any]) -> Endpoints:
    """Return the endpoints of some rows (a mask or increasing indices)."""
    size = np.count_nonzero(pick) if pick.dtype == np.bool_ else len(pick)
    if size == len(ends.src_rewritten):
        return ends

    rows = np.flatnonzero(pick) if pick.dtype == np.bool_ else pick

    def cut(col: AddrColumn) -> AddrColumn:
        return AddrColumn(take_addr(col.addr, rows), col.family[rows])

    return Endpoints(
        cut(ends.sip),
        cut(ends.dip),
        cut(ends.src),
        cut(ends.dst),
        ends.src_rewritten[pick],
        ends.dst_rewritten[pick],
        ends.pkt_logged,
    )


def _choose_rows(
    mask: npt.NDArray[np.bool_],
    if_true: npt.NDArray[np.uint8],
    if_false: npt.NDArray[np.uint8],
) -> npt.NDArray[np.uint8]:
    """``np.where(mask[:, None], if_true, if_false)`` for (n, 16) address
    rows, chosen as two 64-bit words per row rather than 16 bytes."""
    wide = np.where(
        mask[:, None],
        np.ascontiguousarray(if_true).view(np.uint64),
        np.ascontiguousarray(if_false).view(np.uint64),
    )
    return wide.view(np.uint8)


def _names(ifaces: StrColumn | None, rows: Rows) -> Counter[str]:
    if ifaces is None:
        return Counter({"-": len(rows)})
    codes, counts = _nonzero_counts(ifaces.codes[rows])
    return Counter(
        {
            (ifaces.values[c] if c else "-"): k
            for c, k in zip(codes, counts, strict=True)
        }
    )


def _counts(values: npt.NDArray[np.integer]) -> Counter[int]:
    return Counter(dict(zip(*_nonzero_counts(values), strict=True)))


def _nonzero_counts(
    values: npt.NDArray[np.integer],
) -> tuple[list[int], list[int]]:
    """The distinct values (small non-negative integers: flowtype,
    sensor, string codes) and how often each occurs.

    One counting pass (``np.bincount``) instead of ``np.unique``'s sort:
    these counts are taken for every batch.
    """
    if len(values) == 0:
        return [], []
    counts = np.bincount(values)
    present = np.flatnonzero(counts)
    return present.tolist(), counts[present].tolist()
