# SPDX-License-Identifier: MIT
"""Round trip: VPC log -> SiLK records -> VPC text -> parse -> same records.

The generated logs know their true topology (interfaces, their own
addresses and cloud fields, AWS-service labels), which becomes the
context map of the reverse conversion -- so the check does not lean on
the converter to describe itself.  Every field :mod:`.mapping` declares
kept must come back exactly, as a multiset of records.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysilk_ext.convert import Converter, MemoryContext, VpcTextFormatter
from pysilk_ext.convert.addrs import pack_addresses
from pysilk_ext.convert.config import ActionSelection, ConvertConfig
from pysilk_ext.convert.mapping import context_fields, round_trip_fields
from pysilk_ext.fields import LogStatus, fields_of_version
from pysilk_ext.silkfmt.flowfile import FlowReader, FlowWriter
from pysilk_ext.silkfmt.siteconf import load_siteconf
from pysilk_ext.vpcparse import ChunkParser, iter_records
from tests.conftest import SHARED

T0 = 1_700_000_000
SEED_HEADER = (
    (SHARED / "data" / "seed-sample-v5.log").read_text().split("\n", 1)[0]
)
ECS = [f for f in fields_of_version(7) if f.startswith("ecs-")]


@dataclass
class Iface:
    """An interface of the generated topology."""

    eni: str
    addr4: str
    addr6: str | None
    nat: bool
    fields: dict[str, str] = field(default_factory=dict)


def _topology(rng: random.Random) -> list[Iface]:
    ifaces = []
    for i in range(8):
        fields = {
            "account-id": "unknown" if i == 7 else f"0{i}1234567890",
            "vpc-id": f"vpc-0{i % 2}aa",
            "subnet-id": f"subnet-0{i % 4}bb",
            "instance-id": "-" if i in (3, 7) else f"i-0{i}cc",
            "region": "us-east-1",
            "az-id": "-" if i == 5 else "use1-az2",
            "sublocation-type": "outpost" if i == 5 else "-",
            "sublocation-id": "op-0123" if i == 5 else "-",
        }
        for name in ECS:
            fields[name] = f"{name}-{i}" if i in (1, 2) else "-"
        ifaces.append(
            Iface(
                eni=f"eni-0{i:x}{rng.randrange(16**15):015x}",
                addr4=f"10.0.{i}.{10 + i}",
                addr6=f"2600:1f18::{i:x}:1" if i % 3 == 0 else None,
                nat=i == 3,
                fields=fields,
            )
        )
    return ifaces


SERVICES = {
    "52.216.8.100": "S3",
    "3.5.140.2": "DYNAMODB",
    "2600:1f18:4000::5": "S3",
}


def _remote(
    rng: random.Random, ifaces: list[Iface], v6: bool, me: Iface
) -> str:
    pick = rng.random()
    if pick < 0.25:
        peers = [i for i in ifaces if i is not me and (i.addr6 or not v6)]
        peer = rng.choice(peers)
        return (peer.addr6 if v6 else peer.addr4) or peer.addr4
    if pick < 0.45:
        choices = [a for a in SERVICES if (":" in a) == v6]
        return rng.choice(choices)
    if v6:
        return f"2001:db8::{rng.randrange(1, 0xFFFF):x}"
    return f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _record(
    rng: random.Random, ifaces: list[Iface], me: Iface, version: int
) -> dict[str, str]:
    v6 = me.addr6 is not None and rng.random() < 0.4
    own = me.addr6 if v6 else me.addr4
    assert own is not None
    remote = _remote(rng, ifaces, v6, me)
    egress = rng.random() < 0.5
    src, dst = (own, remote) if egress else (remote, own)
    psrc, pdst = src, dst
    if me.nat and rng.random() < 0.6:
        # the interface forwards: its side of the packet is someone else
        other = (
            f"203.0.113.{rng.randrange(1, 255)}"
            if not v6
            else (f"2001:db8:ff::{rng.randrange(1, 999)}")
        )
        if egress:
            psrc = other
        else:
            pdst = other
    proto = rng.choice([6, 6, 6, 17, 1] + ([58] if v6 else []))
    sport, dport = rng.randrange(1024, 65536), rng.choice([22, 80, 443, 53])
    if proto in (1, 58):
        sport, dport = (8, 0) if rng.random() < 0.2 else (0, 0)
    packets = rng.randrange(1, 5000)
    nbytes: int | None = packets * rng.randrange(40, 1500)
    if rng.random() < 0.05:
        packets = rng.randrange(4_000_000, 9_000_000)
        nbytes = packets * 1400  # above 2^32: split
    if rng.random() < 0.05:
        nbytes = None
    start = T0 + rng.randrange(3600)
    action = "REJECT" if rng.random() < 0.4 else "ACCEPT"
    flags: int | None = (
        rng.choice([2, 18, 3, 19, 1, 4, 0]) if proto == 6 else 0
    )
    if rng.random() < 0.05:
        flags = None
    label_src = SERVICES.get(psrc) if rng.random() < 0.9 else None
    label_dst = SERVICES.get(pdst) if rng.random() < 0.9 else None
    kind = "IPv6" if v6 else "IPv4"
    if rng.random() < 0.03:
        kind = "EFA"
    path = rng.choice(["1", "2", "7", "8", "-"]) if egress else "-"
    reason = "-"
    if action == "REJECT" and rng.random() < 0.3:
        reason = rng.choice(["BPA", "EC"])
    rec = {
        "version": str(version),
        "interface-id": me.eni,
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": str(sport),
        "dstport": str(dport),
        "protocol": str(proto),
        "packets": str(packets),
        "bytes": "-" if nbytes is None else str(nbytes),
        "start": str(start),
        "end": str(start + rng.randrange(0, 61)),
        "action": action,
        "log-status": "OK",
        "tcp-flags": "-" if flags is None else str(flags),
        "type": kind,
        "pkt-srcaddr": psrc,
        "pkt-dstaddr": pdst,
        "pkt-src-aws-service": label_src or "-",
        "pkt-dst-aws-service": label_dst or "-",
        "flow-direction": "egress" if egress else "ingress",
        "traffic-path": path,
        "reject-reason": reason,
    }
    rec.update(me.fields)
    return rec


def _status_line(me: Iface, status: str, version: int) -> dict[str, str]:
    rec = {name: "-" for name in fields_of_version(8)}
    rec.update(me.fields)
    rec.update(
        version=str(version),
        **{
            "interface-id": me.eni,
            "log-status": status,
            "start": str(T0),
            "end": str(T0 + 60),
        },
    )
    return rec


def generate(
    version: int, fmt: tuple[str, ...], seed: int = 5
) -> tuple[bytes, list[Iface]]:
    """Return a log (header line + records) and its topology."""
    rng = random.Random(seed)
    ifaces = _topology(rng)
    lines = [" ".join(fmt)]
    for me in ifaces:
        for _ in range(40):
            rec = _record(rng, ifaces, me, version)
            lines.append(" ".join(rec.get(f, "-") for f in fmt))
    lines.append(
        " ".join(_status_line(ifaces[0], "NODATA", version)[f] for f in fmt)
    )
    lines.append(
        " ".join(_status_line(ifaces[1], "SKIPDATA", version)[f] for f in fmt)
    )
    return ("\n".join(lines) + "\n").encode(), ifaces


def truth_context(ifaces: list[Iface]) -> MemoryContext:
    """Return the topology as a context map (independent of the converter)."""
    ctx = MemoryContext()
    for me in ifaces:
        bound = {"interface-id": me.eni}
        bound.update({k: v for k, v in me.fields.items() if v != "-"})
        for text in (me.addr4, me.addr6):
            if text:
                ctx.bind(
                    pack_addresses([text])[0].tobytes(),
                    T0 - 10,
                    T0 + 7200,
                    bound,
                )
    for text, service in SERVICES.items():
        ctx.label(
            pack_addresses([text])[0].tobytes(), T0 - 10, T0 + 7200, service
        )
    return ctx


def _flow_tuples(
    data: bytes, names: tuple[str, ...]
) -> Counter[tuple[Any, ...]]:
    batch = ChunkParser(source="t").feed(data).batch
    return Counter(
        tuple(r.get(n) for n in names)
        for r in iter_records(batch)
        if r.get("log-status") in (None, LogStatus.OK)
    )


FORMATS = {
    2: fields_of_version(2),
    3: fields_of_version(3),
    4: fields_of_version(4),
    5: fields_of_version(5),
    7: fields_of_version(7),
    8: (*fields_of_version(5), "reject-reason"),
    # the talk's custom order, and the alphabetical "select all"
    50: tuple(SEED_HEADER.split(" ")),
    51: tuple(sorted(fields_of_version(5))),
}


@pytest.fixture
def site_conf(tmp_path: Path, silk_fixtures: Path) -> Path:
    """A writable copy of the fixture silk.conf (sensors get added)."""
    path = tmp_path / "silk.conf"
    shutil.copy(silk_fixtures / "site" / "silk.conf", path)
    return path


def _convert(data: bytes, site_conf: Path) -> tuple[np.ndarray, Converter]:
    conv = Converter(
        ConvertConfig(action=ActionSelection.ALL),
        site=load_siteconf(site_conf),
        site_path=site_conf,
    )
    batch = ChunkParser(source="gen").feed(data).batch
    return conv.convert(batch), conv


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_round_trip_every_version(key: int, site_conf: Path) -> None:
    """Every kept field of every record comes back exactly (multiset)."""
    fmt = FORMATS[key]
    version = key if key < 50 else 5
    data, ifaces = generate(version, fmt)
    recs, conv = _convert(data, site_conf)
    formatter = VpcTextFormatter(
        fields=fmt,
        site=load_siteconf(site_conf),
        context=truth_context(ifaces),
    )
    text = "\n".join([formatter.header(), *formatter.lines(recs)]) + "\n"
    names = round_trip_fields(fmt)
    assert _flow_tuples(data, names) == _flow_tuples(text.encode(), names)
    assert 0 == sum(conv.stats.issues.lossy.values())
    assert conv.stats.issues.split_records > 0  # the generator made some


def test_round_trip_checks_the_context_fields(site_conf: Path) -> None:
    """The compared fields include the map's and the sensor's fields."""
    names = set(round_trip_fields(FORMATS[8]))
    assert {
        "interface-id",
        "account-id",
        "vpc-id",
        "az-id",
        "pkt-src-aws-service",
        "reject-reason",
        "type",
        "flow-direction",
    } <= names
    assert "version" not in names
    assert "log-status" not in names
    assert set(context_fields(5)) <= names


def test_round_trip_through_flow_files(
    site_conf: Path, tmp_path: Path
) -> None:
    """The records survive our own writer and reader (memo, nhIP, T/C)."""
    fmt = FORMATS[8]
    data, ifaces = generate(8, fmt, seed=11)
    recs, _ = _convert(data, site_conf)
    path = tmp_path / "flows.rw"
    with FlowWriter(path, compression="zlib") as writer:
        writer.write(recs)
    with FlowReader(path) as reader:
        back = reader.read_all()
    formatter = VpcTextFormatter(
        fields=fmt,
        site=load_siteconf(site_conf),
        context=truth_context(ifaces),
    )
    text = "\n".join([formatter.header(), *formatter.lines(back)]) + "\n"
    names = round_trip_fields(fmt)
    assert _flow_tuples(data, names) == _flow_tuples(text.encode(), names)


@pytest.mark.silk
def test_round_trip_through_real_silk(
    site_conf: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwsort + rwcat (SiLK's own reader and writer) keep every bit we use.

    SiLK's reader repairs ICMP ports and EXPANDED flags; the records are
    written so that these repairs change nothing.
    """
    fmt = FORMATS[8]
    data, ifaces = generate(8, fmt, seed=13)
    recs, _ = _convert(data, site_conf)
    ours = tmp_path / "ours.rw"
    with FlowWriter(ours) as writer:
        writer.write(recs)
    sorted_path = tmp_path / "sorted.rw"
    env = dict(silk, SILK_CONFIG_FILE=str(site_conf))
    subprocess.run(
        [
            "rwsort",
            "--fields=stime,sip",
            f"--output-path={sorted_path}",
            str(ours),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    back_path = tmp_path / "back.rw"
    subprocess.run(
        [
            "rwcat",
            "--compression-method=zlib",
            f"--output-path={back_path}",
            str(sorted_path),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    with FlowReader(back_path) as reader:
        back = reader.read_all()
    formatter = VpcTextFormatter(
        fields=fmt,
        site=load_siteconf(site_conf),
        context=truth_context(ifaces),
    )
    text = "\n".join([formatter.header(), *formatter.lines(back)]) + "\n"
    names = round_trip_fields(fmt)
    assert _flow_tuples(data, names) == _flow_tuples(text.encode(), names)


def test_status_records_are_counted_not_converted(site_conf: Path) -> None:
    """NODATA and SKIPDATA lines become no flow but are counted per ENI."""
    data, ifaces = generate(5, FORMATS[5])
    recs, conv = _convert(data, site_conf)
    assert 8 * 40 == conv.stats.flows_in
    assert {ifaces[0].eni: 1} == dict(conv.stats.nodata)
    assert {ifaces[1].eni: 1} == dict(conv.stats.skipdata)
    assert len(recs) == conv.stats.written


@pytest.mark.parametrize("key", [2, 3, 4, 5, 7, 8, 50, 51])
def test_round_trip_with_context_map_file(
    key: int, site_conf: Path, tmp_path: Path
) -> None:
    """The same holds with the real context map built from the log."""
    from pysilk_ext.convert.context import MapContext
    from pysilk_ext.ctxmap import ContextMap, ContextMapBuilder

    fmt = FORMATS[key]
    data, _ = generate(key, fmt, seed=17)
    builder = ContextMapBuilder()
    builder.add_batch(ChunkParser(source="gen").feed(data).batch)
    map_path = tmp_path / "cloud.vpcmap"
    builder.build().write(map_path)
    recs, _ = _convert(data, site_conf)
    with ContextMap.open(map_path) as cmap:
        formatter = VpcTextFormatter(
            fields=fmt, site=load_siteconf(site_conf), context=MapContext(cmap)
        )
        text = "\n".join([formatter.header(), *formatter.lines(recs)]) + "\n"
    names = round_trip_fields(fmt)
    assert _flow_tuples(data, names) == _flow_tuples(text.encode(), names)
