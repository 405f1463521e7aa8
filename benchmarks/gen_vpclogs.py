# SPDX-License-Identifier: MIT
"""Generate realistic AWS VPC Flow Logs and the topology that produced them.

Why: the reader, the context map and the converter need test and benchmark
input that has the shapes real deliveries have (overlapping VPC CIDRs, NAT
gateways whose ``pkt-*`` addresses differ, secondary addresses, ENIs
without an instance, addresses reused by another ENI, AWS service
addresses, REJECT scans, NODATA/SKIPDATA, IPv6, ICMP, versions 2/5/8,
custom and alphabetical field orders, 60 s and 600 s windows, S3 object
names, 5-minute objects) *and* the ground truth to check derived context
against.  Everything is drawn from one seeded NumPy generator, so a seed
always gives byte-identical output.

Layouts (``--layout``):

* ``s3``: ``AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD[/HH]/
  <acct>_vpcflowlogs_<region>_<fl-id>_<YYYYMMDDTHHmmZ>_<hash>.log[.gz]``,
  one object per flow log and 5-minute window of the records' end time;
* ``hive``: the same under ``AWSLogs/aws-account-id=<acct>/
  aws-service=vpcflowlogs/aws-region=<region>/year=/month=/day=[/hour=]``;
* ``flat``: one file ``flows.log[.gz]`` (needs ``--version``, because one
  file has one header).

The truth is written to ``<out>/_truth.json`` (a leading ``_`` makes
readers that follow the Athena/Hive convention, ours included, skip it).
Its schema is described in :func:`build_truth` and in
``benchmarks/README.md``.

Usage::

    python benchmarks/gen_vpclogs.py --out DIR --records N --seed S \
        [--version 5] [--layout s3|hive|flat] [--gzip] [--hours H]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext import fields as F

IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

# ---------------------------------------------------------------------------
# Formats.  The generator is a consumer of the field catalogue
# (pysilk_ext.fields), not a second source of it: these are the *delivery
# formats* a flow log may be created with (AWS's table order per version,
# plus the orders real users chose).
# ---------------------------------------------------------------------------
FIELDS_V2 = list(F.DEFAULT_FORMAT)
FIELDS_V3 = list(F.fields_of_version(3))
FIELDS_V4 = list(F.fields_of_version(4))
FIELDS_V5 = list(F.fields_of_version(5))
# A 14-field default format plus reject-reason reports version 8.
FIELDS_V8 = [*FIELDS_V2, "reject-reason"]
# The custom order of the FloCon seed sample (share/samples).
FIELDS_SEED = [
    "version",
    "account-id",
    "interface-id",
    "instance-id",
    "vpc-id",
    "subnet-id",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "srcaddr",
    "dstaddr",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "tcp-flags",
    "type",
    "flow-direction",
    "traffic-path",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
]
# What a console "select all" produced for some users (Elastic #8532).
FIELDS_ALPHA_V5 = sorted(FIELDS_V5)

STANDARD_FORMATS: dict[int, list[str]] = {
    2: FIELDS_V2,
    3: FIELDS_V3,
    4: FIELDS_V4,
    5: FIELDS_V5,
    8: FIELDS_V8,
}

# Parquet column types AWS documents (everything else is STRING).
PARQUET_INT32 = frozenset(
    f.name for f in F.FIELDS if f.parquet_type == "INT_32"
)
PARQUET_INT64 = frozenset(
    f.name for f in F.FIELDS if f.parquet_type == "INT_64"
)

# Columns held as integers (-1 = "-") while generating.
INT_COLUMNS = [
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "tcp-flags",
    "traffic-path",
]

T0 = int(dt.datetime(2026, 8, 1, tzinfo=dt.UTC).timestamp())
# The workplace's shared folder sits beside the repository (as in CI);
# PYSILK_EXT_SHARED names it elsewhere, as for the test suite.
DEFAULT_IP_RANGES = (
    Path(
        os.environ.get(
            "PYSILK_EXT_SHARED",
            Path(__file__).resolve().parents[2] / "shared",
        )
    )
    / "data"
    / "ip-ranges.json"
)

AZ_IDS = {
    "us-east-1": ["use1-az1", "use1-az2", "use1-az4"],
    "eu-west-1": ["euw1-az1", "euw1-az2", "euw1-az3"],
}
SERVER_PORTS = np.array([443, 443, 443, 80, 22, 3306, 5432, 8080])
SCAN_PORTS = np.array([22, 23, 80, 443, 445, 1433, 3389, 5900, 6379, 8080])


# ---------------------------------------------------------------------------
# Topology
# ---------------------------------------------------------------------------
@dataclass
class FlowLog:
    """One flow log: owner, format and aggregation interval."""

    flow_log_id: str
    account: str
    region: str
    vpc_index: int
    fields: list[str]
    version: int
    interval: int


@dataclass
class Subnet:
    """One subnet of a VPC."""

    subnet_id: str
    cidr: str
    az_id: str
    ipv6_cidr: str | None = None


@dataclass
class Vpc:
    """One VPC and its subnets."""

    vpc_id: str
    account: str
    region: str
    cidr: str
    ipv6_cidr: str | None
    subnets: list[Subnet] = field(default_factory=list)


@dataclass
class Eni:
    """One network interface and the addresses bound to it."""

    interface_id: str
    kind: str  # "instance", "nat_gateway", "lambda"
    instance_id: str | None
    vpc_index: int
    subnet_index: int
    ipv4: str
    secondary_ipv4: list[str]
    ipv6: str | None
    valid_from: int
    valid_until: int


@dataclass
class Topology:
    """Everything the logs are generated from (and checked against)."""

    accounts: list[str]
    vpcs: list[Vpc]
    flow_logs: list[FlowLog]
    enis: list[Eni]
    service_addrs: list[dict[str, str]]
    internet_v4: list[str]
    internet_v6: list[str]
    scanners: list[str]
    t_start: int
    t_end: int
    reuse: list[dict[str, Any]]


def _hexid(rng: np.random.Generator, prefix: str, digits: int = 17) -> str:
    return prefix + "".join(
        "0123456789abcdef"[i] for i in rng.integers(0, 16, digits)
    )


def _load_aws_v4(
    path: Path,
) -> tuple[IntArray, IntArray, list[dict[str, str]]]:
    """AWS IPv4 prefixes as (network, prefix length) arrays + entries."""
    doc = json.loads(path.read_text())
    entries = doc["prefixes"]
    nets = np.empty(len(entries), np.int64)
    plens = np.empty(len(entries), np.int64)
    for i, entry in enumerate(entries):
        net = ipaddress.IPv4Network(entry["ip_prefix"])
        nets[i] = int(net.network_address)
        plens[i] = net.prefixlen
    return nets, plens, entries


def _containing(nets: IntArray, plens: IntArray, ip: int) -> npt.NDArray[Any]:
    masks = (0xFFFFFFFF << (32 - plens)) & 0xFFFFFFFF
    return np.nonzero((ip & masks) == nets)[0]


def _pick_service_addrs(
    rng: np.random.Generator, ip_ranges: Path, regions: Sequence[str]
) -> list[dict[str, str]]:
    """Addresses whose only non-AMAZON ip-ranges service is the wanted one.

    AWS labels ``pkt-*-aws-service`` with one code even when ranges
    overlap; choosing addresses with exactly one candidate service keeps
    the generated label unambiguous.
    """
    nets, plens, entries = _load_aws_v4(ip_ranges)
    chosen: list[dict[str, str]] = []
    for region in regions:
        for service, count in (("S3", 4), ("DYNAMODB", 3), ("EC2", 4)):
            cands = sorted(
                i
                for i, e in enumerate(entries)
                if e["region"] == region and e["service"] == service
            )
            got = 0
            for _attempt in range(500):
                if got == count or not cands:
                    break
                i = cands[int(rng.integers(0, len(cands)))]
                size = 1 << (32 - int(plens[i]))
                ip = int(nets[i]) + int(rng.integers(1, max(2, size - 1)))
                inside = _containing(nets, plens, ip)
                services = {entries[j]["service"] for j in inside} - {"AMAZON"}
                text = str(ipaddress.IPv4Address(ip))
                if services != {service} or any(
                    c["ip"] == text for c in chosen
                ):
                    continue
                chosen.append(
                    {
                        "ip": text,
                        "service": service,
                        "prefix": entries[i]["ip_prefix"],
                        "region": region,
                    }
                )
                got += 1
    return chosen


def _internet_hosts(
    rng: np.random.Generator, ip_ranges: Path, count: int
) -> list[str]:
    """Public IPv4 hosts outside every AWS range."""
    nets, plens, _entries = _load_aws_v4(ip_ranges)
    firsts = [23, 31, 45, 62, 77, 89, 91, 104, 141, 151, 185, 193, 212]
    hosts: list[str] = []
    while len(hosts) < count:
        ip = (
            (firsts[int(rng.integers(0, len(firsts)))] << 24)
            | int(rng.integers(0, 1 << 24))
        ) & 0xFFFFFFFF
        if ip & 0xFF in (0, 255) or len(_containing(nets, plens, ip)):
            continue
        text = str(ipaddress.IPv4Address(ip))
        if text not in hosts:
            hosts.append(text)
    return hosts


def build_topology(
    rng: np.random.Generator,
    *,
    hours: float,
    version: int | None,
    ip_ranges: Path,
) -> Topology:
    """Accounts, VPCs (two with 10.0.0.0/16), subnets, ENIs, flow logs."""
    accounts = ["012345678901", "111122223333", "444455556666"]
    t_start = T0
    t_end = T0 + max(600, int(hours * 3600) // 600 * 600)
    mid = t_start + (t_end - t_start) // 2 // 600 * 600

    vpc_specs = [
        # account, region, cidr, ipv6, format, version, interval
        (0, "us-east-1", "10.0.0.0/16", None, FIELDS_SEED, 5, 60),
        (1, "us-east-1", "10.0.0.0/16", None, FIELDS_V2, 2, 600),
        (
            2,
            "eu-west-1",
            "172.31.0.0/16",
            "2a05:d018:1c2:ab00::/56",
            FIELDS_V8,
            8,
            60,
        ),
        (0, "eu-west-1", "10.20.0.0/16", None, FIELDS_ALPHA_V5, 5, 600),
    ]
    vpcs: list[Vpc] = []
    flow_logs: list[FlowLog] = []
    for vi, (
        acct,
        region,
        cidr,
        v6,
        spec_fmt,
        spec_ver,
        interval,
    ) in enumerate(vpc_specs):
        fmt, ver = spec_fmt, spec_ver
        vpc = Vpc(_hexid(rng, "vpc-"), accounts[acct], region, cidr, v6)
        base = ipaddress.IPv4Network(cidr)
        subs4 = list(base.subnets(new_prefix=24))
        subs6 = (
            list(ipaddress.IPv6Network(v6).subnets(new_prefix=64))
            if v6
            else []
        )
        for si in range(3):  # 0 public, 1 and 2 private
            vpc.subnets.append(
                Subnet(
                    _hexid(rng, "subnet-"),
                    str(subs4[si]),
                    AZ_IDS[region][si],
                    str(subs6[si]) if v6 else None,
                )
            )
        vpcs.append(vpc)
        if version is not None:
            fmt, ver = STANDARD_FORMATS[version], version
        flow_logs.append(
            FlowLog(
                _hexid(rng, "fl-"),
                accounts[acct],
                region,
                vi,
                list(fmt),
                ver,
                interval,
            )
        )

    enis: list[Eni] = []

    def host(vi: int, si: int, n: int) -> str:
        net = ipaddress.IPv4Network(vpcs[vi].subnets[si].cidr)
        return str(net.network_address + n)

    def host6(vi: int, si: int) -> str | None:
        v6net = vpcs[vi].subnets[si].ipv6_cidr
        if v6net is None:
            return None
        net = ipaddress.IPv6Network(v6net)
        return str(net.network_address + int(rng.integers(1, 1 << 62)))

    def add(
        kind: str,
        vi: int,
        si: int,
        n: int,
        *,
        secondaries: int = 0,
        valid: tuple[int, int] | None = None,
    ) -> Eni:
        eni = Eni(
            _hexid(rng, "eni-"),
            kind,
            _hexid(rng, "i-") if kind == "instance" else None,
            vi,
            si,
            host(vi, si, n),
            [host(vi, si, n + 100 + k) for k in range(secondaries)],
            host6(vi, si) if kind == "instance" else None,
            *(valid or (t_start, t_end)),
        )
        enis.append(eni)
        return eni

    for vi in range(len(vpcs)):
        # Host number 10 exists in both 10.0.0.0/16 VPCs on purpose: the
        # same private address names two different ENIs.
        add("instance", vi, 0, 10)
        add("instance", vi, 1, 10, secondaries=2 if vi in (0, 2) else 0)
        for k in range(4):
            add("instance", vi, 1 + k % 2, 20 + k * 7)
        add("nat_gateway", vi, 0, 220)
    # Lambda-style ENIs (no instance) in the second VPC.
    for k in range(3):
        add("lambda", 1, 2, 150 + k)
    # Address reuse: 10.0.1.77 in the first VPC moves from one instance's
    # ENI to another's at ``mid``.
    before = add("instance", 0, 1, 77, valid=(t_start, mid))
    after = add("instance", 0, 1, 77, valid=(mid, t_end))
    reuse = [
        {
            "ip": before.ipv4,
            "vpc": vpcs[0].vpc_id,
            "at": mid,
            "before": {
                "interface": before.interface_id,
                "instance": before.instance_id,
            },
            "after": {
                "interface": after.interface_id,
                "instance": after.instance_id,
            },
        }
    ]
    regions = sorted({v.region for v in vpcs})
    service_addrs = _pick_service_addrs(rng, ip_ranges, regions)
    internet_v4 = _internet_hosts(rng, ip_ranges, 200)
    internet_v6 = [
        str(
            ipaddress.IPv6Address(
                (0x2A001450 << 96) | int(rng.integers(1, 1 << 62))
            )
        )
        for _ in range(20)
    ]
    scanners = internet_v4[:6]
    return Topology(
        accounts,
        vpcs,
        flow_logs,
        enis,
        service_addrs,
        internet_v4[6:],
        internet_v6,
        scanners,
        t_start,
        t_end,
        reuse,
    )


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------
class RecordBuilder:
    """Accumulates records column by column (NumPy, no per-record objects).

    ``eni`` is the index of the capturing ENI; ENI-level fields (account,
    interface, vpc, subnet, instance, region, az) are filled from it when
    rendering.  Integer columns use -1 for ``-``.
    """

    STR_COLUMNS = (
        "srcaddr",
        "dstaddr",
        "pkt-srcaddr",
        "pkt-dstaddr",
        "action",
        "log-status",
        "flow-direction",
        "pkt-src-aws-service",
        "pkt-dst-aws-service",
        "reject-reason",
        "type",
    )

    def __init__(self, topo: Topology, rng: np.random.Generator) -> None:
        self.topo = topo
        self.rng = rng
        self.parts: dict[str, list[npt.NDArray[Any]]] = {
            name: [] for name in ["eni", *INT_COLUMNS, *self.STR_COLUMNS]
        }
        n = len(topo.enis)
        self.eni_from = np.array([e.valid_from for e in topo.enis])
        self.eni_until = np.array([e.valid_until for e in topo.enis])
        self.eni_interval = np.array(
            [topo.flow_logs[e.vpc_index].interval for e in topo.enis]
        )
        self.eni_ipv4 = np.array([e.ipv4 for e in topo.enis], dtype=object)
        self.eni_ipv6 = np.array(
            [e.ipv6 or "-" for e in topo.enis], dtype=object
        )
        self.eni_vpc = np.array([e.vpc_index for e in topo.enis])
        self.n_enis = n

    # -- helpers ---------------------------------------------------------
    def pick(self, candidates: Sequence[int], k: int) -> IntArray:
        """``k`` ENI indexes drawn from ``candidates``."""
        arr = np.asarray(candidates, dtype=np.int64)
        return arr[self.rng.integers(0, len(arr), k)]

    def windows(
        self, eni: IntArray, other: IntArray | None = None
    ) -> tuple[IntArray, IntArray]:
        """(start, end) inside one aggregation window of each ENI.

        With ``other``, the window also lies in the other ENI's lifetime.
        """
        rng = self.rng
        iv = self.eni_interval[eni]
        lo = self.eni_from[eni]
        hi = self.eni_until[eni]
        if other is not None:
            lo = np.maximum(lo, self.eni_from[other])
            hi = np.minimum(hi, self.eni_until[other])
        nwin = np.maximum(1, (hi - lo) // iv)
        ws = lo + (rng.random(len(eni)) * nwin).astype(np.int64) * iv
        start = ws + (rng.random(len(eni)) * iv * 0.5).astype(np.int64)
        end = np.minimum(
            start + 1 + (rng.random(len(eni)) * iv * 0.5).astype(np.int64),
            ws + iv,
        )
        return start, end

    def volume(self, k: int, small: bool = False) -> tuple[IntArray, IntArray]:
        """Packets and bytes (heavy-tailed)."""
        rng = self.rng
        scale = 1.0 if small else 2.5
        packets = np.maximum(1, rng.lognormal(scale, 1.3, k).astype(np.int64))
        size = rng.integers(40, 1500, k)
        return packets, packets * size

    def ephemeral(self, k: int) -> IntArray:
        return self.rng.integers(32768, 61000, k)

    def emit(self, k: int, **cols: Any) -> None:
        """Append ``k`` records; scalars broadcast, missing columns are '-'."""
        unknown = set(cols) - set(self.parts)
        if unknown:
            raise KeyError(f"Unknown columns {sorted(unknown)}")
        if k == 0:
            return
        for name, parts in self.parts.items():
            val = cols.get(name)
            if name in INT_COLUMNS or name == "eni":
                if val is None:
                    val = -1
                arr = np.broadcast_to(np.asarray(val, np.int64), (k,))
            else:
                if val is None:
                    val = "-"
                if isinstance(val, str):
                    arr = np.full(k, val, dtype=object)
                else:
                    arr = np.asarray(val, dtype=object)
            parts.append(np.array(arr))

    def emit_flow(
        self,
        k: int,
        src: Any,
        dst: Any,
        *,
        direction: str,
        pkt: tuple[Any, Any] | None = None,
        ports: tuple[Any, Any] | None = None,
        volume: tuple[Any, Any] | None = None,
        flags: Any = None,
        path: Any = None,
        **cols: Any,
    ) -> None:
        """Append ``k`` flow records from ``src`` to ``dst`` as the ENI saw
        them (``direction``).

        ``pkt`` is the packet-level (``pkt-srcaddr``, ``pkt-dstaddr``)
        pair when it differs from (``src``, ``dst``), ``ports`` the
        (source, destination) ports, ``volume`` (packets, bytes),
        ``flags`` the TCP flags, ``path`` the traffic path; ``cols`` are
        the other columns, ``_`` standing for ``-`` in their names.
        """
        pkt_src, pkt_dst = pkt if pkt is not None else (src, dst)
        named = {
            "srcaddr": src,
            "dstaddr": dst,
            "pkt-srcaddr": pkt_src,
            "pkt-dstaddr": pkt_dst,
            "flow-direction": direction,
            "tcp-flags": flags,
            "traffic-path": path,
        }
        if ports is not None:
            named["srcport"], named["dstport"] = ports
        if volume is not None:
            named["packets"], named["bytes"] = volume
        named.update({n.replace("_", "-"): v for n, v in cols.items()})
        self.emit(k, **named)

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        return {
            name: np.concatenate(parts) if parts else np.empty(0)
            for name, parts in self.parts.items()
        }


def _tcp_flags(rng: np.random.Generator, k: int, client: bool) -> IntArray:
    """Plausible OR-ed flags for one side of short and long TCP flows."""
    if client:
        choices, weights = [3, 2, 1, 0, 4], [0.55, 0.15, 0.1, 0.15, 0.05]
    else:
        choices, weights = [19, 18, 1, 0, 4], [0.55, 0.15, 0.1, 0.15, 0.05]
    return np.asarray(rng.choice(choices, k, p=weights), dtype=np.int64)


def generate_records(
    topo: Topology, rng: np.random.Generator, n_records: int
) -> dict[str, npt.NDArray[Any]]:
    """Draw about ``n_records`` records of every scenario, then trim to N."""
    rb = RecordBuilder(topo, rng)
    enis = topo.enis
    inst = [
        i
        for i, e in enumerate(enis)
        if e.kind == "instance" and e.vpc_index != 2
    ]
    inst_all = [i for i, e in enumerate(enis) if e.kind == "instance"]
    inst_v6 = [i for i, e in enumerate(enis) if e.ipv6 is not None]
    lam = [i for i, e in enumerate(enis) if e.kind == "lambda"]
    nat_of = {
        e.vpc_index: i for i, e in enumerate(enis) if e.kind == "nat_gateway"
    }
    secondary = [i for i, e in enumerate(enis) if e.secondary_ipv4]
    # for each ENI: another instance ENI of its VPC that always exists
    stable_peer = np.array(
        [
            next(
                j
                for j in inst_all
                if j != i
                and enis[j].vpc_index == e.vpc_index
                and (enis[j].valid_from, enis[j].valid_until)
                == (topo.t_start, topo.t_end)
            )
            for i, e in enumerate(enis)
        ]
    )
    region_of = np.array(
        [topo.vpcs[e.vpc_index].region for e in enis], dtype=object
    )
    svc_ip = {
        r: np.array(
            [s["ip"] for s in topo.service_addrs if s["region"] == r],
            dtype=object,
        )
        for r in sorted({v.region for v in topo.vpcs})
    }
    svc_name = {s["ip"]: s["service"] for s in topo.service_addrs}
    inet = np.array(topo.internet_v4, dtype=object)
    inet6 = np.array(topo.internet_v6, dtype=object)
    scanners = np.array(topo.scanners, dtype=object)

    # (scenario, records per conversation, share of records)
    plan = [
        ("web_in", 2, 0.22),
        ("web_out", 2, 0.12),
        ("east_west", 4, 0.20),
        ("service", 2, 0.14),
        ("nat", 6, 0.10),
        ("secondary", 2, 0.05),
        ("scan", 1, 0.10),
        ("icmp", 2, 0.03),
        ("ipv6", 2, 0.03),
        ("status", 1, 0.01),
    ]
    # Columns every accepted IPv4 TCP record shares.
    tcp_ok = {
        "protocol": 6,
        "type": "IPv4",
        "action": "ACCEPT",
        "log_status": "OK",
    }
    total = 0
    for name, per, share in plan:
        k = max(1, round(n_records * share * 1.02 / per))
        total += k * per
        if name == "web_in":
            e = rb.pick(inst_all, k)
            start, end = rb.windows(e)
            client = inet[rng.integers(0, len(inet), k)]
            me = rb.eni_ipv4[e]
            sp, dp = rb.ephemeral(k), SERVER_PORTS[rng.integers(0, 8, k)]
            pk, by = rb.volume(k)
            common = {**tcp_ok, "eni": e, "start": start, "end": end}
            rb.emit_flow(
                k, client, me, direction="ingress", ports=(sp, dp),
                volume=(pk, by), flags=_tcp_flags(rng, k, True), **common,
            )  # fmt: skip
            pk2, by2 = rb.volume(k)
            rb.emit_flow(
                k, me, client, direction="egress", ports=(dp, sp),
                volume=(pk2, by2 * 4), flags=_tcp_flags(rng, k, False),
                path=8, **common,
            )  # fmt: skip
        elif name == "web_out":
            e = rb.pick(inst_all, k)
            start, end = rb.windows(e)
            server = inet[rng.integers(0, len(inet), k)]
            me = rb.eni_ipv4[e]
            sp = rb.ephemeral(k)
            pk, by = rb.volume(k)
            path = np.where(rng.random(k) < 0.5, 2, 8)
            common = {**tcp_ok, "eni": e, "start": start, "end": end}
            rb.emit_flow(
                k, me, server, direction="egress", ports=(sp, 443),
                volume=(pk, by), flags=_tcp_flags(rng, k, True), path=path,
                **common,
            )  # fmt: skip
            rb.emit_flow(
                k, server, me, direction="ingress", ports=(443, sp),
                volume=(pk * 2, by * 6), flags=_tcp_flags(rng, k, False),
                **common,
            )  # fmt: skip
        elif name == "east_west":
            c = rb.pick(inst_all, k)
            # server: another instance ENI of the same VPC
            s = np.empty(k, np.int64)
            for vi in np.unique(rb.eni_vpc[c]):
                same = [i for i in inst_all if enis[i].vpc_index == vi]
                idx = np.nonzero(rb.eni_vpc[c] == vi)[0]
                s[idx] = rb.pick(same, len(idx))
            # never talk to oneself; never to an ENI that did not exist
            # at the time (the address-reuse pair)
            lo = np.maximum(rb.eni_from[c], rb.eni_from[s])
            hi = np.minimum(rb.eni_until[c], rb.eni_until[s])
            bad = (s == c) | (hi <= lo)
            s[bad] = stable_peer[c[bad]]
            start, end = rb.windows(c, s)
            ca, sa = rb.eni_ipv4[c], rb.eni_ipv4[s]
            sp, dp = rb.ephemeral(k), SERVER_PORTS[rng.integers(0, 8, k)]
            pk, by = rb.volume(k)
            flags_c, flags_s = (
                _tcp_flags(rng, k, True),
                _tcp_flags(rng, k, False),
            )
            common = {**tcp_ok, "start": start, "end": end}
            fwd = {**common, "src": ca, "dst": sa, "ports": (sp, dp),
                   "volume": (pk, by), "flags": flags_c}  # fmt: skip
            rev = {**common, "src": sa, "dst": ca, "ports": (dp, sp),
                   "volume": (pk, by * 3), "flags": flags_s}  # fmt: skip
            # both ENIs log both directions
            rb.emit_flow(k, eni=c, direction="egress", path=1, **fwd)
            rb.emit_flow(k, eni=s, direction="ingress", **fwd)
            rb.emit_flow(k, eni=s, direction="egress", path=1, **rev)
            rb.emit_flow(k, eni=c, direction="ingress", **rev)
        elif name == "service":
            e = rb.pick(inst_all + lam, k)
            start, end = rb.windows(e)
            me = rb.eni_ipv4[e]
            svc = np.empty(k, dtype=object)
            for region, ips in svc_ip.items():
                idx = np.nonzero(region_of[e] == region)[0]
                svc[idx] = ips[rng.integers(0, len(ips), len(idx))]
            label = np.array([svc_name[x] for x in svc], dtype=object)
            path = np.where(label == "EC2", 8, 7)
            sp = rb.ephemeral(k)
            pk, by = rb.volume(k)
            common = {**tcp_ok, "eni": e, "start": start, "end": end}
            rb.emit_flow(
                k, me, svc, direction="egress", ports=(sp, 443),
                volume=(pk, by), flags=_tcp_flags(rng, k, True), path=path,
                pkt_dst_aws_service=label, **common,
            )  # fmt: skip
            rb.emit_flow(
                k, svc, me, direction="ingress", ports=(443, sp),
                volume=(pk, by * 8), flags=_tcp_flags(rng, k, False),
                pkt_src_aws_service=label, **common,
            )  # fmt: skip
        elif name == "nat":
            priv = [i for i in inst_all if enis[i].subnet_index != 0]
            c = rb.pick(priv, k)
            n = np.array([nat_of[v] for v in rb.eni_vpc[c]])
            start, end = rb.windows(c)
            ca, na = rb.eni_ipv4[c], rb.eni_ipv4[n]
            h = inet[rng.integers(0, len(inet), k)]
            sp, nsp = rb.ephemeral(k), rb.ephemeral(k)
            pk, by = rb.volume(k)
            common = {**tcp_ok, "start": start, "end": end}
            out = {**common, "flags": _tcp_flags(rng, k, True),
                   "volume": (pk, by)}  # fmt: skip
            back = {**common, "flags": _tcp_flags(rng, k, False),
                    "volume": (pk, by * 5)}  # fmt: skip
            # instance -> NAT ENI (instance's own record)
            rb.emit_flow(
                k, ca, h, eni=c, direction="egress", ports=(sp, 443),
                path=1, **out,
            )  # fmt: skip
            # NAT ENI receives it: dstaddr is the NAT ENI, pkt-dst the host
            rb.emit_flow(
                k, ca, na, eni=n, direction="ingress", pkt=(ca, h),
                ports=(sp, 443), **out,
            )  # fmt: skip
            # NAT ENI -> internet (translated source)
            rb.emit_flow(
                k, na, h, eni=n, direction="egress", ports=(nsp, 443),
                path=8, **out,
            )  # fmt: skip
            # internet -> NAT ENI
            rb.emit_flow(
                k, h, na, eni=n, direction="ingress", ports=(443, nsp),
                **back,
            )  # fmt: skip
            # NAT ENI -> instance: pkt-src is the internet host
            rb.emit_flow(
                k, na, ca, eni=n, direction="egress", pkt=(h, ca),
                ports=(443, sp), path=1, **back,
            )  # fmt: skip
            # instance receives the reply
            rb.emit_flow(
                k, h, ca, eni=c, direction="ingress", ports=(443, sp),
                **back,
            )  # fmt: skip
        elif name == "secondary":
            e = rb.pick(secondary, k)
            sec = np.array(
                [
                    enis[i].secondary_ipv4[int(rng.integers(0, 2))]
                    for i in e.tolist()
                ],
                dtype=object,
            )
            peer = np.empty(k, dtype=object)
            for vi in np.unique(rb.eni_vpc[e]):
                same = [i for i in inst_all if enis[i].vpc_index == vi]
                idx = np.nonzero(rb.eni_vpc[e] == vi)[0]
                peer[idx] = rb.eni_ipv4[rb.pick(same, len(idx))]
            start, end = rb.windows(e)
            me = rb.eni_ipv4[e]
            sp = rb.ephemeral(k)
            pk, by = rb.volume(k)
            common = {**tcp_ok, "eni": e, "start": start, "end": end}
            # to the secondary address: dstaddr is the primary
            rb.emit_flow(
                k, peer, me, direction="ingress", pkt=(peer, sec),
                ports=(sp, 8080), volume=(pk, by),
                flags=_tcp_flags(rng, k, True), **common,
            )  # fmt: skip
            rb.emit_flow(
                k, me, peer, direction="egress", pkt=(sec, peer),
                ports=(8080, sp), volume=(pk, by * 2),
                flags=_tcp_flags(rng, k, False), path=1, **common,
            )  # fmt: skip
        elif name == "scan":
            e = rb.pick([*inst, nat_of[0]], k)
            start, end = rb.windows(e)
            src = scanners[rng.integers(0, len(scanners), k)]
            me = rb.eni_ipv4[e]
            dp = SCAN_PORTS[rng.integers(0, len(SCAN_PORTS), k)]
            rb.emit_flow(
                k, src, me, eni=e, direction="ingress",
                ports=(rb.ephemeral(k), dp), volume=(1, 44), flags=2,
                **{**tcp_ok, "action": "REJECT"}, start=start, end=end,
            )  # fmt: skip
        elif name == "icmp":
            e = rb.pick(inst_all, k)
            start, end = rb.windows(e)
            peer = inet[rng.integers(0, len(inet), k)]
            me = rb.eni_ipv4[e]
            reply = np.where(rng.random(k) < 0.8, "ACCEPT", "REJECT")
            common = {"eni": e, "protocol": 1, "start": start, "end": end,
                      "ports": (0, 0), "volume": (4, 336), "flags": 0,
                      "log_status": "OK", "type": "IPv4"}  # fmt: skip
            rb.emit_flow(
                k, peer, me, direction="ingress", action="ACCEPT", **common
            )
            rb.emit_flow(
                k, me, peer, direction="egress", action=reply.astype(object),
                path=8, **common,
            )  # fmt: skip
        elif name == "ipv6":
            e = rb.pick(inst_v6, k)
            start, end = rb.windows(e)
            peer = inet6[rng.integers(0, len(inet6), k)]
            me = rb.eni_ipv6[e]
            icmp = rng.random(k) < 0.25
            proto = np.where(icmp, 58, 6)
            sp = np.where(icmp, 0, rb.ephemeral(k))
            dp = np.where(icmp, 0, 443)
            pk, by = rb.volume(k)
            flags = np.where(icmp, 0, _tcp_flags(rng, k, True))
            reject = np.where(rng.random(k) < 0.05, "BPA", "-").astype(object)
            action = np.where(reject == "BPA", "REJECT", "ACCEPT").astype(
                object
            )
            common = {"eni": e, "protocol": proto, "start": start,
                      "end": end, "log_status": "OK",
                      "type": "IPv6"}  # fmt: skip
            rb.emit_flow(
                k, me, peer, direction="egress", action=action,
                ports=(sp, dp), volume=(pk, by), flags=flags, path=8,
                reject_reason=reject, **common,
            )  # fmt: skip
            rb.emit_flow(
                k, peer, me, direction="ingress", action="ACCEPT",
                ports=(dp, sp), volume=(pk, by * 3),
                flags=np.where(icmp, 0, _tcp_flags(rng, k, False)),
                **common,
            )  # fmt: skip
        elif name == "status":
            e = rb.pick(list(range(len(enis))), k)
            iv = rb.eni_interval[e]
            lo = rb.eni_from[e]
            nwin = np.maximum(1, (rb.eni_until[e] - lo) // iv)
            ws = lo + (rng.random(k) * nwin).astype(np.int64) * iv
            status = np.where(rng.random(k) < 0.85, "NODATA", "SKIPDATA")
            rb.emit(
                k,
                eni=e,
                start=ws,
                end=ws + iv,
                **{"log-status": status.astype(object)},
            )
    cols = rb.columns()
    n_made = len(cols["eni"])
    keep = np.sort(rng.permutation(n_made)[: min(n_records, n_made)])
    return {name: arr[keep] for name, arr in cols.items()}


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
_SMALL_INTS = np.array([str(i) for i in range(65536)], dtype=object)


def _int_text(arr: IntArray) -> ObjArray:
    """Integers as text, ``-`` for -1 (small values via a table)."""
    if len(arr) and arr.max() < 65536:
        out = _SMALL_INTS[np.maximum(arr, 0)]
    else:
        out = np.array(list(map(str, arr.tolist())), dtype=object)
    out[arr < 0] = "-"
    return out


def render_columns(
    topo: Topology, cols: dict[str, npt.NDArray[Any]]
) -> dict[str, ObjArray]:
    """Every field of the catalogue as text, one object array per field."""
    eni = cols["eni"]
    enis = topo.enis

    def by_eni(values: list[str | None]) -> ObjArray:
        table = np.array([v or "-" for v in values], dtype=object)
        return table[eni]

    text: dict[str, ObjArray] = {}
    for name in INT_COLUMNS:
        text[name] = _int_text(cols[name])
    for name in RecordBuilder.STR_COLUMNS:
        text[name] = cols[name]
    text["account-id"] = by_eni([topo.vpcs[e.vpc_index].account for e in enis])
    text["interface-id"] = by_eni([e.interface_id for e in enis])
    text["instance-id"] = by_eni([e.instance_id for e in enis])
    text["vpc-id"] = by_eni([topo.vpcs[e.vpc_index].vpc_id for e in enis])
    text["subnet-id"] = by_eni(
        [
            topo.vpcs[e.vpc_index].subnets[e.subnet_index].subnet_id
            for e in enis
        ]
    )
    text["region"] = by_eni([topo.vpcs[e.vpc_index].region for e in enis])
    text["az-id"] = by_eni(
        [topo.vpcs[e.vpc_index].subnets[e.subnet_index].az_id for e in enis]
    )
    text["sublocation-type"] = by_eni([None] * len(enis))
    text["sublocation-id"] = text["sublocation-type"]
    text["traffic-path"] = text["traffic-path"].copy()
    text["version"] = by_eni(
        [str(topo.flow_logs[e.vpc_index].version) for e in enis]
    )
    return text


def order_rows(
    topo: Topology, cols: dict[str, npt.NDArray[Any]]
) -> npt.NDArray[Any]:
    """Rows sorted by flow log, 5-minute window of ``end``, then time."""
    fl = np.array([e.vpc_index for e in topo.enis])[cols["eni"]]
    return np.lexsort((cols["eni"], cols["start"], cols["end"], fl))


@dataclass
class LogObject:
    """One delivered object: its key (relative path) and its lines."""

    key: str
    flow_log: FlowLog
    window: int  # epoch of the 5-minute window
    rows: npt.NDArray[Any]


def object_key(
    fl: FlowLog,
    window: int,
    *,
    layout: str,
    hourly: bool,
    suffix: str,
    rng: np.random.Generator,
) -> str:
    when = dt.datetime.fromtimestamp(window, dt.UTC)
    name = (
        f"{fl.account}_vpcflowlogs_{fl.region}_{fl.flow_log_id}_"
        f"{when:%Y%m%dT%H%MZ}_{_hexid(rng, '', 8)}{suffix}"
    )
    if layout == "hive":
        parts = [
            "AWSLogs",
            f"aws-account-id={fl.account}",
            "aws-service=vpcflowlogs",
            f"aws-region={fl.region}",
            f"year={when:%Y}",
            f"month={when:%m}",
            f"day={when:%d}",
        ]
        if hourly:
            parts.append(f"hour={when:%H}")
    else:
        parts = [
            "AWSLogs",
            fl.account,
            "vpcflowlogs",
            fl.region,
            f"{when:%Y}",
            f"{when:%m}",
            f"{when:%d}",
        ]
        if hourly:
            parts.append(f"{when:%H}")
    return "/".join([*parts, name])


def plan_objects(
    topo: Topology,
    cols: dict[str, npt.NDArray[Any]],
    rows: npt.NDArray[Any],
    *,
    layout: str,
    hourly: bool,
    suffix: str,
    rng: np.random.Generator,
) -> list[LogObject]:
    """Group sorted rows into objects (flow log x 5-minute window)."""
    fl_of_row = np.array([e.vpc_index for e in topo.enis])[cols["eni"][rows]]
    win_of_row = (cols["end"][rows] - 1) // 300 * 300
    key = fl_of_row * (1 << 40) + win_of_row
    bounds = np.flatnonzero(np.diff(key)) + 1
    objects = []
    for chunk in np.split(np.arange(len(rows)), bounds):
        if not len(chunk):
            continue
        fl = topo.flow_logs[int(fl_of_row[chunk[0]])]
        window = int(win_of_row[chunk[0]])
        objects.append(
            LogObject(
                object_key(
                    fl,
                    window,
                    layout=layout,
                    hourly=hourly,
                    suffix=suffix,
                    rng=rng,
                ),
                fl,
                window,
                rows[chunk],
            )
        )
    return objects


def render_lines(
    text: dict[str, ObjArray], fields: Sequence[str], rows: npt.NDArray[Any]
) -> list[str]:
    """Lines of ``fields`` for ``rows`` (one C-level join per line)."""
    columns = [text[f][rows].tolist() for f in fields]
    return list(map(" ".join, zip(*columns, strict=True)))


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """One gzip member (zlib-ng when available: same format, faster)."""
    try:
        from zlib_ng import zlib_ng

        comp = zlib_ng.compressobj(level, zlib_ng.DEFLATED, 31)
    except ImportError:
        comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def write_parquet(
    path: Path,
    text: dict[str, ObjArray],
    fields: Sequence[str],
    rows: npt.NDArray[Any],
) -> None:
    """Write rows the way AWS does: underscores, typed ints, nulls, GZIP."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = []
    for name in fields:
        values = text[name][rows].tolist()
        if name in PARQUET_INT32 or name in PARQUET_INT64:
            ints = [None if v == "-" else int(v) for v in values]
            typ = pa.int32() if name in PARQUET_INT32 else pa.int64()
            arrays.append(pa.array(ints, type=typ))
        else:
            arrays.append(
                pa.array(
                    [None if v == "-" else v for v in values], pa.string()
                )
            )
    table = pa.table(arrays, names=[f.replace("-", "_") for f in fields])
    pq.write_table(table, path, compression="gzip")


# ---------------------------------------------------------------------------
# Truth
# ---------------------------------------------------------------------------
def build_truth(
    topo: Topology, cols: dict[str, npt.NDArray[Any]], seed: int
) -> dict[str, Any]:
    """The ground truth, as a JSON-ready dict (schema ``gen_vpclogs/1``).

    ``bindings`` has one entry per (address, interface) binding:

    * ``ip``; ``scope``: the VPC id for private IPv4 (unique only inside
      that VPC: two VPCs share 10.0.0.0/16) or ``"global"`` for IPv6;
    * ``role``: ``primary``, ``secondary`` or ``ipv6``;
    * ``interface``, ``instance`` (null for NAT gateway and Lambda ENIs),
      ``kind``, ``subnet``, ``vpc``, ``account``, ``region``, ``az``;
    * ``valid_from``/``valid_until``: when the binding existed (epoch s,
      half-open);
    * ``first_seen``/``last_seen``: min ``start``/max ``end`` of the OK
      records that show this address on this interface as the ENI side
      (primary: every flow record of the ENI; secondary: records whose
      ``pkt-*`` address is it; ipv6: the ENI's IPv6 records), ``records``
      their count; null/0 when the logs never show it.

    ``service_addresses``: ``ip``, ``service`` (the ``pkt-*-aws-service``
    label written), ``prefix`` (ip-ranges.json entry), ``region``.
    """
    eni = cols["eni"]
    ok = cols["log-status"] == "OK"
    start, end = cols["start"], cols["end"]
    bindings = []
    for i, e in enumerate(topo.enis):
        vpc = topo.vpcs[e.vpc_index]
        mine = (eni == i) & ok
        v6 = cols["type"] == "IPv6"
        cands: list[tuple[str, str, npt.NDArray[Any]]] = [
            (e.ipv4, "primary", mine & ~v6)
        ]
        for sec in e.secondary_ipv4:
            cands.append(
                (
                    sec,
                    "secondary",
                    mine
                    & (
                        (cols["pkt-srcaddr"] == sec)
                        | (cols["pkt-dstaddr"] == sec)
                    ),
                )
            )
        if e.ipv6:
            cands.append((e.ipv6, "ipv6", mine & v6))
        for ip, role, mask in cands:
            seen = bool(mask.any())
            bindings.append(
                {
                    "ip": ip,
                    "scope": "global" if role == "ipv6" else vpc.vpc_id,
                    "role": role,
                    "interface": e.interface_id,
                    "instance": e.instance_id,
                    "kind": e.kind,
                    "subnet": vpc.subnets[e.subnet_index].subnet_id,
                    "vpc": vpc.vpc_id,
                    "account": vpc.account,
                    "region": vpc.region,
                    "az": vpc.subnets[e.subnet_index].az_id,
                    "valid_from": e.valid_from,
                    "valid_until": e.valid_until,
                    "first_seen": int(start[mask].min()) if seen else None,
                    "last_seen": int(end[mask].max()) if seen else None,
                    "records": int(mask.sum()),
                }
            )
    status = cols["log-status"]
    return {
        "schema": "gen_vpclogs/1",
        "seed": seed,
        "records": len(eni),
        "time_range": {"start": topo.t_start, "end": topo.t_end},
        "accounts": topo.accounts,
        "flow_logs": [
            {
                "flow_log_id": fl.flow_log_id,
                "account": fl.account,
                "region": fl.region,
                "vpc": topo.vpcs[fl.vpc_index].vpc_id,
                "version": fl.version,
                "fields": fl.fields,
                "max_aggregation_interval": fl.interval,
            }
            for fl in topo.flow_logs
        ],
        "vpcs": [
            {
                "vpc_id": v.vpc_id,
                "account": v.account,
                "region": v.region,
                "cidr": v.cidr,
                "ipv6_cidr": v.ipv6_cidr,
                "subnets": [
                    {
                        "subnet_id": s.subnet_id,
                        "cidr": s.cidr,
                        "ipv6_cidr": s.ipv6_cidr,
                        "az_id": s.az_id,
                    }
                    for s in v.subnets
                ],
            }
            for v in topo.vpcs
        ],
        "enis": [
            {
                "interface_id": e.interface_id,
                "kind": e.kind,
                "instance_id": e.instance_id,
                "vpc": topo.vpcs[e.vpc_index].vpc_id,
                "subnet": topo.vpcs[e.vpc_index]
                .subnets[e.subnet_index]
                .subnet_id,
                "primary_ipv4": e.ipv4,
                "secondary_ipv4": e.secondary_ipv4,
                "ipv6": e.ipv6,
                "valid_from": e.valid_from,
                "valid_until": e.valid_until,
            }
            for e in topo.enis
        ],
        "bindings": bindings,
        "ip_reuse": topo.reuse,
        "service_addresses": topo.service_addrs,
        "internet_hosts": topo.internet_v4,
        "internet_hosts_v6": topo.internet_v6,
        "scanners": topo.scanners,
        "status_records": {
            "NODATA": int((status == "NODATA").sum()),
            "SKIPDATA": int((status == "SKIPDATA").sum()),
        },
    }


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------
@dataclass
class Generated:
    """What :func:`generate` wrote."""

    files: list[Path]
    truth_path: Path
    records: int
    text_bytes: int


def generate(
    out: Path,
    *,
    records: int,
    seed: int,
    version: int | None = None,
    layout: str = "s3",
    gzip: bool = False,
    hours: float = 1.0,
    hourly: bool = False,
    parquet: bool = False,
    ip_ranges: Path = DEFAULT_IP_RANGES,
) -> Generated:
    """Generate logs and ``_truth.json`` under ``out``; return a summary."""
    if layout == "flat" and version is None:
        raise ValueError("--layout flat needs --version (one header)")
    rng = np.random.default_rng(seed)
    topo = build_topology(
        rng, hours=hours, version=version, ip_ranges=ip_ranges
    )
    cols = generate_records(topo, rng, records)
    text = render_columns(topo, cols)
    rows = order_rows(topo, cols)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    nbytes = 0
    suffix = ".log.parquet" if parquet else ".log.gz" if gzip else ".log"
    if layout == "flat":
        fields = topo.flow_logs[0].fields
        path = out / f"flows{suffix}"
        if parquet:
            write_parquet(path, text, fields, rows)
        else:
            body = (
                "\n".join(
                    [" ".join(fields), *render_lines(text, fields, rows)]
                ).encode()
                + b"\n"
            )
            nbytes = len(body)
            path.write_bytes(gzip_bytes(body) if gzip else body)
        files.append(path)
    else:
        objs = plan_objects(
            topo,
            cols,
            rows,
            layout=layout,
            hourly=hourly,
            suffix=suffix,
            rng=rng,
        )
        for obj in objs:
            path = out / obj.key
            path.parent.mkdir(parents=True, exist_ok=True)
            if parquet:
                write_parquet(path, text, obj.flow_log.fields, obj.rows)
            else:
                lines = render_lines(text, obj.flow_log.fields, obj.rows)
                body = (
                    "\n".join([" ".join(obj.flow_log.fields), *lines]) + "\n"
                ).encode()
                nbytes += len(body)
                path.write_bytes(gzip_bytes(body) if gzip else body)
            files.append(path)
    truth = build_truth(topo, cols, seed)
    truth["layout"] = layout
    truth["files"] = [str(p.relative_to(out)) for p in files]
    truth_path = out / "_truth.json"
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return Generated(files, truth_path, len(cols["eni"]), nbytes)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(
        description="Generate realistic AWS VPC Flow Logs plus their truth."
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--version",
        type=int,
        choices=sorted(STANDARD_FORMATS),
        help="use AWS's standard field list of this version for every "
        "flow log (default: a mix of v2, v5 custom, v5 alphabetical, v8)",
    )
    ap.add_argument("--layout", choices=["s3", "hive", "flat"], default="s3")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--parquet", action="store_true")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument(
        "--hourly", action="store_true", help="per-hour partitions"
    )
    ap.add_argument("--ip-ranges", type=Path, default=DEFAULT_IP_RANGES)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        res = generate(
            args.out,
            records=args.records,
            seed=args.seed,
            version=args.version,
            layout=args.layout,
            gzip=args.gzip,
            hours=args.hours,
            hourly=args.hourly,
            parquet=args.parquet,
            ip_ranges=args.ip_ranges,
        )
    except ValueError as exc:
        ap.error(str(exc))
    secs = time.perf_counter() - t0
    print(
        f"{res.records} records in {len(res.files)} files "
        f"({res.text_bytes / 1e6:.1f} MB text) under {args.out} "
        f"in {secs:.1f} s; truth: {res.truth_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
