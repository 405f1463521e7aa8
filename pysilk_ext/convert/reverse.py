# SPDX-License-Identifier: MIT
"""SiLK flow records (+ context map) back to VPC Flow Log text.

The proof of "nothing lost": :class:`VpcTextFormatter` turns records made
by :mod:`.records` back into VPC Flow Log lines, field by field as
:mod:`.mapping` declares -- record fields and memo bits from the record,
the interface id from the sensor, the interface's cloud fields and the
AWS-service names from the context map.  Converting a log and back gives
every record's kept fields exactly, as a multiset (record order is not
kept: a repository orders records by file and time).

Split records (tcpState T/C, see :mod:`.records`) are added up into one
line again; they are grouped by every field but packets, bytes and the
T/C bits, so two logged records identical in everything else would be
merged too (AWS aggregates per interface, 5-tuple and window, so it does
not write such pairs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pysilk_ext.batch import StrColumn
from pysilk_ext.convert import layout as L
from pysilk_ext.convert.addrs import format_addresses
from pysilk_ext.convert.classify import Classifier
from pysilk_ext.convert.config import ClassifyConfig, SensorPolicy
from pysilk_ext.convert.context import AWS_SERVICE, CloudContext
from pysilk_ext.convert.mapping import context_fields
from pysilk_ext.convert.sensors import (
    POLICY_FIELD,
    description_ids,
    sensor_key,
)
from pysilk_ext.fields import fields_of_version, version_of_fields
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE, TCP_STATE_IPV6
from pysilk_ext.silkfmt.siteconf import SiteConfig

__all__ = ["DEFAULT_OUTPUT_FIELDS", "VpcTextFormatter", "merge_split"]

#: Fields written by default: every field of versions 2-5, AWS order.
DEFAULT_OUTPUT_FIELDS: tuple[str, ...] = fields_of_version(5)

Obj = npt.NDArray[np.object_]


def merge_split(
    recs: npt.NDArray[np.void],
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return records with split pieces added up, and 64-bit counts.

    Pieces are records with tcpState T or C; they merge with the pieces
    equal to them in every other field.  The result keeps input order
    (a merged record takes its first piece's place).
    """
    packets = recs["packets"].astype(np.int64)
    nbytes = recs["bytes"].astype(np.int64)
    split = (recs["tcp_state"] & L.SPLIT_MASK) != 0
    if not split.any():
        return recs, packets, nbytes
    idx = np.flatnonzero(split)
    pieces = recs[idx].copy()
    pieces["packets"] = 0
    pieces["bytes"] = 0
    pieces["tcp_state"] &= np.uint8(~L.SPLIT_MASK & 0xFF)
    keys = pieces.view(np.dtype((np.void, FLOW_DTYPE.itemsize)))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    sum_p = np.zeros(len(first), dtype=np.int64)
    sum_b = np.zeros(len(first), dtype=np.int64)
    np.add.at(sum_p, inverse, packets[idx])  # integer sums: exact
    np.add.at(sum_b, inverse, nbytes[idx])
    keep = np.ones(len(recs), dtype=bool)
    keep[idx] = False
    keep[idx[first]] = True
    out_p = packets.copy()
    out_b = nbytes.copy()
    out_p[idx[first]] = sum_p
    out_b[idx[first]] = sum_b
    merged = recs.copy()
    merged["tcp_state"][idx] &= np.uint8(~L.SPLIT_MASK & 0xFF)
    return merged[keep], out_p[keep], out_b[keep]


@dataclass(slots=True)
class ReverseStats:
    """Counts of one formatter's work."""

    records_in: int = 0
    lines_out: int = 0
    pieces_merged: int = 0
    unknown: Counter[str] = field(default_factory=Counter)


class VpcTextFormatter:
    """Writes FLOW_DTYPE records as VPC Flow Log text lines.

    ``fields`` is the output format (default: all of versions 2-5).
    ``site`` turns sensor ids into interface ids (sensor policy
    ``interface``) and flowtype ids into types (REJECT = innull/outnull);
    ``context`` answers the interface's cloud fields and AWS-service
    names.  A value neither can give is written ``-`` and counted in
    ``stats.unknown`` per field.
    """

    def __init__(
        self,
        *,
        fields: Sequence[str] = DEFAULT_OUTPUT_FIELDS,
        site: SiteConfig | None = None,
        context: CloudContext | None = None,
        classify: ClassifyConfig | None = None,
        sensor_policy: SensorPolicy = SensorPolicy.INTERFACE,
    ) -> None:
        self.fields = tuple(fields)
        self.site = site
        self.context = context
        self.classifier = Classifier(classify, site)
        self.sensor_policy = sensor_policy
        self.version = str(version_of_fields(self.fields))
        self.stats = ReverseStats()

    def header(self) -> str:
        """Return the header line (field names, as S3 objects have it)."""
        return " ".join(self.fields)

    def lines(self, recs: npt.NDArray[np.void]) -> list[str]:
        """Return one text line per flow record (split pieces merged)."""
        self.stats.records_in += len(recs)
        merged, packets, nbytes = merge_split(recs)
        self.stats.pieces_merged += len(recs) - len(merged)
        if len(merged) == 0:
            return []
        cols = self.columns(merged, packets, nbytes)
        out = [
            " ".join(row)
            for row in zip(*(cols[f] for f in self.fields), strict=True)
        ]
        self.stats.lines_out += len(out)
        return out

    # -- columns -----------------------------------------------------------

    def columns(
        self,
        recs: npt.NDArray[np.void],
        packets: npt.NDArray[np.int64],
        nbytes: npt.NDArray[np.int64],
    ) -> dict[str, Obj]:
        """Return every output field as an object array of text."""
        n = len(recs)
        memo = recs["memo"].astype(np.int64)
        ipv6 = (recs["tcp_state"] & TCP_STATE_IPV6) != 0
        start = recs["stime"].astype(np.int64) // 1000
        end = (
            recs["stime"].astype(np.int64) + recs["elapsed"].astype(np.int64)
        ) // 1000
        sip = np.ascontiguousarray(recs["sip"])
        dip = np.ascontiguousarray(recs["dip"])
        nhip = np.ascontiguousarray(recs["nhip"])
        nh_src = (memo & L.MEMO_NH_SRC) != 0
        nh_dst = (memo & L.MEMO_NH_DST) != 0
        src = np.where(nh_src[:, None], nhip, sip)
        dst = np.where(nh_dst[:, None], nhip, dip)
        swapped = (memo & L.MEMO_ICMP_PORTS_SWAPPED) != 0
        sport = np.where(swapped, recs["dport"], recs["sport"])
        dport = np.where(swapped, 0, recs["dport"])
        direction = recs["input"].astype(np.int64)
        inferred = (memo & L.MEMO_DIRECTION_INFERRED) != 0

        cols: dict[str, Obj] = {}
        dash = np.full(n, "-", dtype=object)
        cols["version"] = np.full(n, self.version, dtype=object)
        cols["srcaddr"] = format_addresses(src)
        cols["dstaddr"] = format_addresses(dst)
        cols["pkt-srcaddr"] = format_addresses(sip)
        cols["pkt-dstaddr"] = format_addresses(dip)
        cols["srcport"] = _text(sport)
        cols["dstport"] = _text(dport)
        cols["protocol"] = _text(recs["proto"])
        cols["packets"] = _text(packets)
        cols["bytes"] = _text(nbytes, (memo & L.MEMO_BYTES_MISSING) != 0)
        cols["start"] = _text(start)
        cols["end"] = _text(end)
        reject = self.classifier.is_reject(recs["flowtype"])
        cols["action"] = np.where(reject, "REJECT", "ACCEPT").astype(object)
        cols["log-status"] = np.full(n, "OK", dtype=object)
        cols["tcp-flags"] = _text(
            recs["flags"], (memo & L.MEMO_TCP_FLAGS_MISSING) != 0
        )
        cols["type"] = _type_text(memo, ipv6)
        cols["flow-direction"] = np.select(
            [
                inferred,
                direction == L.INPUT_INGRESS,
                direction == L.INPUT_EGRESS,
            ],
            ["-", "ingress", "egress"],
            default="-",
        ).astype(object)
        cols["traffic-path"] = _text(recs["output"], recs["output"] == 0)
        reason = memo & L.MEMO_REJECT_REASON_MASK
        cols["reject-reason"] = np.select(
            [reason == L.RejectReason.BPA, reason == L.RejectReason.EC],
            ["BPA", "EC"],
            default="-",
        ).astype(object)

        # -- the interface: sensor, then context map
        egress = direction == L.INPUT_EGRESS
        own = np.where(egress[:, None], src, dst)
        iface, vpc = self._sensor_ids(recs["sensor"])
        ctx_names = context_fields(8)
        wanted_ctx = [
            f
            for f in self.fields
            if f in ctx_names or (f == "interface-id" and iface is None)
        ]
        answers = self._lookup(own, start, wanted_ctx, vpc)
        if iface is not None:
            answers["interface-id"] = iface
        for name, col in self._described(recs["sensor"]).items():
            if name in wanted_ctx:
                answers[name] = _prefer(col, answers.get(name))
        for name in self.fields:
            if name in cols:
                continue
            if name in answers:
                cols[name] = self._decode(name, answers[name])
            elif name.endswith("aws-service"):
                cols[name] = self._service(name, sip, dip, start, memo)
            else:
                cols[name] = dash.copy()
                self.stats.unknown[name] += n
        return cols

    def _described(
        self, sensors: npt.NDArray[np.uint16]
    ) -> dict[str, StrColumn]:
        """Return the AWS ids the sensors' descriptions hold for sure.

        rwvpc2silk describes a new sensor with the ids of its first
        record; those that cannot vary within the sensor (a subnet's VPC,
        an interface's subnet, ...: :data:`_CONSTANT_WITHIN`) answer for
        every record of it, before the map -- whose answer for an address
        reused in several VPCs of a log without ``vpc-id`` may be another
        interface's.
        """
        if self.site is None:
            return {}
        site = self.site
        names = _CONSTANT_WITHIN[self.sensor_policy]
        uniq, inverse = np.unique(sensors, return_inverse=True)
        inverse = inverse.reshape(-1)
        values: dict[str, list[str]] = {name: [""] for name in names}
        codes = {name: np.zeros(len(uniq), dtype=np.uint32) for name in names}
        for i, sid in enumerate(uniq.tolist()):
            info = site.sensors.get(int(sid))
            ids = description_ids(info.description if info else None)
            for name in names:
                text = ids.get(name)
                if text:
                    codes[name][i] = len(values[name])
                    values[name].append(text)
        return {
            name: StrColumn(codes[name][inverse], values[name])
            for name in names
            if len(values[name]) > 1
        }

    def _sensor_ids(
        self, sensors: npt.NDArray[np.uint16]
    ) -> tuple[StrColumn | None, StrColumn | None]:
        """Return (interface-id, vpc-id) per record, from the sensors.

        The interface id when the sensor policy is ``interface``; the VPC
        (the scope of context lookups) from the sensor's description, or
        the sensor itself under the ``vpc`` policy.
        """
        if self.site is None:
            return None, None
        site = self.site
        uniq, inverse = np.unique(sensors, return_inverse=True)
        inverse = inverse.reshape(-1)
        ifaces, vpcs = [""], [""]
        if_codes = np.zeros(len(uniq), dtype=np.uint32)
        vpc_codes = np.zeros(len(uniq), dtype=np.uint32)
        policy_field = POLICY_FIELD[self.sensor_policy]
        for i, sid in enumerate(uniq.tolist()):
            key = sensor_key(site, int(sid))
            info = site.sensors.get(int(sid))
            ids = description_ids(info.description if info else None)
            if key is not None and key[0] == policy_field:
                ids[key[0]] = key[1]
            if self.sensor_policy is SensorPolicy.INTERFACE and (
                "interface-id" in ids
            ):
                if_codes[i] = len(ifaces)
                ifaces.append(ids["interface-id"])
            if "vpc-id" in ids:
                vpc_codes[i] = len(vpcs)
                vpcs.append(ids["vpc-id"])
        iface = (
            StrColumn(if_codes[inverse], ifaces)
            if self.sensor_policy is SensorPolicy.INTERFACE
            else None
        )
        vpc = StrColumn(vpc_codes[inverse], vpcs) if len(vpcs) > 1 else None
        return iface, vpc

    def _lookup(
        self,
        own: npt.NDArray[np.uint8],
        at: npt.NDArray[np.int64],
        wanted: list[str],
        scope: StrColumn | None,
    ) -> dict[str, StrColumn]:
        if not wanted or self.context is None:
            return {}
        return self.context.lookup(own, at, wanted, scope)

    def _service(
        self,
        name: str,
        sip: npt.NDArray[np.uint8],
        dip: npt.NDArray[np.uint8],
        at: npt.NDArray[np.int64],
        memo: npt.NDArray[np.int64],
    ) -> Obj:
        is_src = name == "pkt-src-aws-service"
        bit = L.MEMO_SRC_AWS_SERVICE if is_src else L.MEMO_DST_AWS_SERVICE
        labelled = (memo & bit) != 0
        out = np.full(len(memo), "-", dtype=object)
        if not labelled.any():
            return out
        idx = np.flatnonzero(labelled)
        if self.context is None:
            self.stats.unknown[name] += len(idx)
            return out
        addr = (sip if is_src else dip)[idx]
        col = self.context.lookup(addr, at[idx], [AWS_SERVICE])[AWS_SERVICE]
        text = self._decode(name, col)
        out[idx] = text
        return out

    def _decode(self, name: str, col: StrColumn) -> Obj:
        values = np.array(["-", *col.values[1:]], dtype=object)
        missing = col.codes == 0
        if missing.any():
            self.stats.unknown[name] += int(missing.sum())
        return values[col.codes]


#: Description ids that hold for every record of a sensor, per policy.
_CONSTANT_WITHIN: dict[SensorPolicy, tuple[str, ...]] = {
    SensorPolicy.INTERFACE: ("subnet-id", "vpc-id", "account-id", "region"),
    SensorPolicy.SUBNET: ("vpc-id", "account-id", "region"),
    SensorPolicy.VPC: ("account-id", "region"),
    SensorPolicy.ACCOUNT: (),
}


def _prefer(first: StrColumn, then: StrColumn | None) -> StrColumn:
    """Return ``first``'s value per row, ``then``'s where it has none."""
    if then is None:
        return first
    offset = len(then.values) - 1
    codes = np.where(
        first.codes != 0, first.codes + offset, then.codes
    ).astype(np.uint32)
    return StrColumn(codes, [*then.values, *first.values[1:]])


def _text(
    values: npt.NDArray[np.integer],
    missing: npt.NDArray[np.bool_] | None = None,
) -> Obj:
    text = values.astype(np.int64).astype(str).astype(object)
    if missing is not None:
        text[missing] = "-"
    return text


def _type_text(
    memo: npt.NDArray[np.int64], ipv6: npt.NDArray[np.bool_]
) -> Obj:
    code = (memo & L.MEMO_TYPE_MASK) >> L.MEMO_TYPE_SHIFT
    own = np.where(ipv6, "IPv6", "IPv4")
    other = np.where(ipv6, "IPv4", "IPv6")
    return np.select(
        [
            code == L.TypeCode.FAMILY,
            code == L.TypeCode.EFA,
            code == L.TypeCode.MISSING,
        ],
        [own, "EFA", "-"],
        default=other,
    ).astype(object)
