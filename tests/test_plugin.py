# SPDX-License-Identifier: MIT
"""The awsvpc PySiLK plug-in (issue 6).

Two layers, as STYLE B5 asks:

* unit tests drive :mod:`pysilk_ext.plugin` through fake
  ``register_switch`` / ``register_filter`` / ``register_field`` and fake
  records (:class:`Rec`, :mod:`ipaddress` addresses) with the plain-Python
  back-end: switch parsing and errors, map selection, filter semantics
  for any/src/dst, time-aware lookups with an address re-bound
  mid-sample, reused VPC address space and the sensor scope, the field
  text/binary encodings and their order;
* ``@pytest.mark.silk`` tests run the real tools with
  ``--python-file=silkplugin/awsvpc.py``: over the seed sample converted
  to SiLK flows and over flows written by SiLK's own rwtuc, every switch
  and field in rwfilter, rwcut, rwsort, rwuniq, rwstats and rwgroup,
  ``--help``, error output, and the native prefix-map route.

The expected answers are never written down by hand: they come from
:meth:`ContextMap.lookup` (one address at a time, the map's documented
lookup API) and are compared with the plug-in's fast paths.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pysilk_ext.ctxmap import AMBIGUOUS_LABEL, ContextMap, ContextMapBuilder
from pysilk_ext.ctxmap.model import field_ref
from pysilk_ext.plugin import (
    FIELDS,
    AwsvpcPlugin,
    choose_map,
    either_value,
    field_names,
    parse_scopes,
    parse_values,
    register,
    switch_names,
)
from pysilk_ext.plugin_backend import PythonBackend
from pysilk_ext.plugin_map import VALUE_AMBIGUOUS, PluginMap
from pysilk_ext.plugin_path import plugin_path
from pysilk_ext.vpcparse import ChunkParser

REPO = Path(__file__).resolve().parents[1]
SHIM = REPO / "silkplugin" / "awsvpc.py"

# -- a small topology ---------------------------------------------------------
T = 1_690_000_000
HEADER = (
    "version account-id interface-id instance-id vpc-id subnet-id region "
    "az-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport "
    "protocol packets bytes start end action log-status flow-direction "
    "pkt-src-aws-service pkt-dst-aws-service"
)
VPC_A = "vpc-0a000000000000001"
VPC_B = "vpc-0b000000000000002"
ENI_A1, ENI_A2, ENI_A3 = (f"eni-0a00000000000a00{i}" for i in (1, 2, 3))
ENI_A4 = "eni-0a00000000000a004"
ENI_B1 = "eni-0b00000000000b001"
REBOUND = "10.0.0.5"  # eni-A1 [T, T+1000], then eni-A2 [T+5000, T+6000]
REUSED = "10.9.9.9"  # in VPC A (eni-A3) and VPC B (eni-B1) at once
S3 = "52.216.1.1"
DDB = "52.94.1.1"
RANGED = "3.5.1.1"  # only in the ip-ranges layer (S3, us-east-1)
RELABELLED = "3.5.2.2"  # ip-ranges S3; logs say EC2 from T+2000
OWN6 = "2600:1f18:0:a::5"  # IPv6 interface address in VPC A
S3_6 = "2600:1fa0::1"
OUTSIDE = "198.51.100.1"


def _row(  # noqa: PLR0917 - one log row, positionally like the log
    acct: str, eni: str, vpc: str, own: str, peer: str, start: int,
    end: int, svc: str = "-", az: str = "use1-az1",
) -> str:  # fmt: skip
    n = eni[-1]
    return (
        f"5 {acct} {eni} i-{eni[4:]} {vpc} subnet-{vpc[4:]} us-east-1 {az} "
        f"{own} {peer} {own} {peer} 4000{n} 443 6 10 1000 {start} {end} "
        f"ACCEPT OK egress - {svc}"
    )


LOG_ROWS = [
    _row("111111111111", ENI_A1, VPC_A, REBOUND, S3, T, T + 1000, "S3"),
    _row("111111111111", ENI_A2, VPC_A, REBOUND, DDB, T + 5000, T + 6000,
         "DYNAMODB", az="use1-az2"),
    _row("111111111111", ENI_A3, VPC_A, REUSED, S3, T, T + 6000, "S3"),
    _row("222222222222", ENI_B1, VPC_B, REUSED, S3, T, T + 6000, "S3",
         az="use1-az4"),
    _row("111111111111", ENI_A4, VPC_A, "10.0.0.7", RELABELLED, T + 2000,
         T + 3000, "EC2"),
    _row("111111111111", ENI_A4, VPC_A, OWN6, S3_6, T, T + 6000, "S3"),
]  # fmt: skip
IP_RANGES = {
    "syncToken": "1700000000",
    "createDate": "2023-11-14-00-00-00",
    "prefixes": [
        {"ip_prefix": "3.5.0.0/16", "region": "us-east-1",
         "service": svc, "network_border_group": "us-east-1"}
        for svc in ("AMAZON", "S3")
    ],
    "ipv6_prefixes": [],
}  # fmt: skip
TIMES = [T - 100, T, T + 500, T + 1000, T + 1001, T + 2500, T + 3000,
         T + 5000, T + 5500, T + 9000]  # fmt: skip
ADDRESSES = [REBOUND, REUSED, S3, DDB, RANGED, RELABELLED, "10.0.0.7",
             OUTSIDE]  # fmt: skip
SENSORS = {  # sensor name -> the VPC the plug-in must derive (None: none)
    "S0": None,
    VPC_A: VPC_A,  # named after a VPC
    ENI_B1: VPC_B,  # an interface's VPC, from the map
}
SENSOR_IDS = {"S0": 0, VPC_A: 1, ENI_B1: 2}


def build_map(path: Path, tmp: Path) -> ContextMap:
    """Write the topology's map (logs + ip-ranges) to ``path``."""
    data = ("\n".join([HEADER, *LOG_ROWS]) + "\n").encode()
    builder = ContextMapBuilder()
    builder.add_batch(ChunkParser(source="test").feed(data).batch)
    ranges = tmp / "ip-ranges.json"
    ranges.write_text(json.dumps(IP_RANGES))
    builder.add_ip_ranges(ranges)
    cmap = builder.build()
    cmap.write(path)
    return ContextMap.open(path)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ContextMap]:
    """(path, opened map) of the small topology."""
    tmp = tmp_path_factory.mktemp("topo")
    path = tmp / "topo.vpcmap"
    return path, build_map(path, tmp)


# -- fakes --------------------------------------------------------------------


@dataclass
class Rec:
    """The RWRec attributes the plug-in reads."""

    sip: ipaddress.IPv4Address | ipaddress.IPv6Address
    dip: ipaddress.IPv4Address | ipaddress.IPv6Address
    stime_epoch_secs: float
    sensor: str = "S0"

    @property
    def sensor_id(self) -> int:
        return SENSOR_IDS.get(self.sensor, 99)

    def is_ipv6(self) -> bool:
        return self.sip.version == 6


def rec(sip: str, dip: str, when: float, sensor: str = "S0") -> Rec:
    """A fake record."""
    return Rec(
        ipaddress.ip_address(sip), ipaddress.ip_address(dip), when, sensor
    )


class Registry:
    """Collects what the plug-in registers, like PySiLK does."""

    def __init__(self) -> None:
        self.switches: dict[str, dict[str, Any]] = {}
        self.filters: list[tuple[Callable[[Any], bool], Any]] = []
        self.fields: dict[str, dict[str, Any]] = {}

    def register_switch(self, name: str, **kw: Any) -> None:
        assert name not in self.switches, name
        self.switches[name] = kw

    def register_filter(self, fn: Callable[[Any], bool], **kw: Any) -> None:
        self.filters.append((fn, kw.get("initialize")))

    def register_field(self, name: str, **kw: Any) -> None:
        assert name not in self.fields, name
        self.fields[name] = kw

    def parse(self, *argv: str) -> None:
        """Call the handlers of ``--name=value`` arguments in order."""
        for arg in argv:
            name, _, value = arg.removeprefix("--").partition("=")
            self.switches[name]["handler"](value)

    def start(self) -> None:
        """What rwfilter does after parsing: each filter's initialize."""
        for _, initialize in self.filters:
            if initialize is not None:
                initialize()

    def passes(self, record: Rec) -> bool:
        """All registered filters pass (truthy)."""
        return all(fn(record) for fn, _ in self.filters)


def load(
    *argv: str,
    app: str | None = "rwfilter",
    environ: dict[str, str] | None = None,
    rootdir: str = "/nonexistent",
) -> tuple[Registry, AwsvpcPlugin]:
    """Register the plug-in for ``app`` and parse ``argv``."""
    reg = Registry()
    plug = register(
        reg.register_switch,
        reg.register_filter,
        reg.register_field,
        backend=PythonBackend(rootdir=rootdir),
        app=app,
        environ={} if environ is None else environ,
    )
    reg.parse(*argv)
    return reg, plug


# -- the reference: ContextMap.lookup, one address at a time ------------------


def expected_text(
    cmap: ContextMap, addr: str, when: float, sensor: str, field: str
) -> str:
    """What the map's lookup API says the field is (``-``, a value or
    ``(ambiguous)``), in the VPC the sensor implies.

    An address bound in several VPCs (no scope) is asked in each of them,
    independently of the C core's own rule: one answer if all agree
    (``-`` included), else ``(ambiguous)``.
    """
    found = cmap.lookup([addr], at=int(when), scope=SENSORS.get(sensor))[0]
    if found.ambiguous:
        answers = {
            cmap.lookup([addr], at=int(when), scope=vpc)[0].fields.get(
                field, "-"
            )
            for vpc in found.scopes
        }
        return answers.pop() if len(answers) == 1 else AMBIGUOUS_LABEL
    return found.fields.get(field, "-")


def expected_either(src: str, dst: str) -> str:
    """The documented unprefixed-field rule, on texts."""
    for value in (src, dst):
        if value not in ("-", AMBIGUOUS_LABEL):
            return value
    return AMBIGUOUS_LABEL if AMBIGUOUS_LABEL in (src, dst) else "-"


def grid() -> Iterator[Rec]:
    """Records over every address pair of interest, time and sensor."""
    pairs = [(a, OUTSIDE) for a in ADDRESSES] + [
        (OUTSIDE, a) for a in ADDRESSES
    ]
    pairs += [(REBOUND, S3), (REUSED, DDB), (OWN6, S3_6), (S3_6, OWN6)]
    for sip, dip in pairs:
        for when in TIMES:
            for sensor in SENSORS:
                yield rec(sip, dip, when + 0.25, sensor)


def map_values(cmap: ContextMap, field: str) -> list[str]:
    """Every value of ``field`` in the map (bindings and ip-ranges)."""
    values = {
        b.fields[field] for b in cmap.iter_bindings() if field in b.fields
    }
    values |= {f[field] for _, _, f in cmap.iter_ranges() if field in f}
    return sorted(values)


# == unit tests: registration =================================================


def test_rwfilter_gets_switches_only() -> None:
    """rwfilter gets the map, scope and 24 filter switches, no fields."""
    reg, _ = load(app="rwfilter")
    assert ["awsvpc-map", "awsvpc-scope", *switch_names()] == list(
        reg.switches
    )
    assert 24 == len(switch_names())
    assert {} == reg.fields
    assert [] == reg.filters  # no filter until a switch is used


@pytest.mark.parametrize(
    "app", ["rwcut", "rwsort", "rwuniq", "rwstats", "rwgroup"]
)
def test_field_tools_get_fields_only(app: str) -> None:
    """The field tools get every field and no filter switch (so that
    their own abbreviations stay unambiguous)."""
    reg, _ = load(app=app)
    assert ["awsvpc-map", "awsvpc-scope"] == list(reg.switches)
    assert field_names() == list(reg.fields)
    for spec in FIELDS:
        for name in (spec.name, f"src-{spec.name}", f"dst-{spec.name}"):
            kw = reg.fields[name]
            assert 4 == kw["bin_bytes"]
            assert max(spec.width, len(name)) == kw["column_width"]
            assert kw["description"]


def test_unknown_tool_gets_everything() -> None:
    """Without the tool's name both switches and fields are registered."""
    reg, _ = load(app=None)
    names = [
        prefix + field
        for field in (
            "vpc-id", "subnet-id", "instance-id", "interface-id",
            "account-id", "region", "az-id", "aws-service",
        )
        for prefix in ("", "src-", "dst-")
    ]  # fmt: skip
    assert ["awsvpc-map", "awsvpc-scope", *names] == list(reg.switches)
    assert names == list(reg.fields)


def test_switch_names_do_not_prefix_rwfilter_switches() -> None:
    """No plug-in switch is a prefix of, or prefixed by, a switch that
    rwfilter 3.19.1 has (getopt_long abbreviations would break)."""
    builtin = [
        "sport", "dport", "aport", "sipset", "dipset", "anyset", "scidr",
        "dcidr", "any-cidr", "saddress", "daddress", "any-address",
        "sensors", "stype", "dtype", "scc", "dcc", "any-cc", "attributes",
        "application", "active-time", "all-destination",
    ]  # fmt: skip
    for ours in [*switch_names(), "awsvpc-map", "awsvpc-scope"]:
        for theirs in builtin:
            assert not ours.startswith(theirs), (ours, theirs)
            assert not theirs.startswith(ours), (ours, theirs)


# == unit tests: values and switches ==========================================


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("aws-service", "s3,DynamoDB", ["S3", "DYNAMODB"]),
        ("vpc-id", "VPC-0A000000000000001", [VPC_A]),
        ("region", "us-east-1,global", ["us-east-1", "GLOBAL"]),
        ("az-id", "use1-az2,usw2-lax1-az1", ["use1-az2", "usw2-lax1-az1"]),
        ("account-id", "904652123456,unknown", ["904652123456", "unknown"]),
        ("instance-id", "-,i-0826dea5238644ce7", ["-", "i-0826dea5238644ce7"]),
        ("subnet-id", "subnet-0d7d9632ca72baf2", ["subnet-0d7d9632ca72baf2"]),
        ("interface-id", " eni-0ffa7e54f1ae8fa1b ", ["eni-0ffa7e54f1ae8fa1b"]),
        ("aws-service", "S3,S3", ["S3"]),
    ],
)
def test_parse_values(field: str, text: str, expected: list[str]) -> None:
    """Comma lists are split, trimmed, case-folded and de-duplicated."""
    assert expected == parse_values(field, text, field)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--aws-service=S3!"],
            "Invalid aws-service 'S3!': Expected an AWS service name "
            "such as S3",
        ),
        (
            ["--src-vpc-id=vpc-12"],
            "Invalid src-vpc-id 'vpc-12': Expected vpc-<hex digits>",
        ),
        (
            ["--dst-account-id=12345"],
            "Invalid dst-account-id '12345': Expected a 12-digit account "
            "number or 'unknown'",
        ),
        (["--region="], "Invalid region: Missing value"),
        (
            ["--instance-id=i-0826dea5238644ce7,,"],
            "Invalid instance-id 'i-0826dea5238644ce7,,': Empty list element",
        ),
        (
            ["--aws-service=S3", "--aws-service=EC2"],
            "Invalid aws-service: Switch used multiple times",
        ),
        (
            ["--awsvpc-map=a", "--awsvpc-map=b"],
            "Invalid awsvpc-map: Switch used multiple times",
        ),
        (
            ["--awsvpc-scope=S0:vpc-zz"],
            "Invalid awsvpc-scope 'S0:vpc-zz': Expected "
            "[SENSOR:]vpc-<hex digits>[,...]",
        ),
    ],
)
def test_bad_switch_values(argv: list[str], message: str) -> None:
    """A bad value raises one ValueError phrased like SiLK."""
    with pytest.raises(ValueError, match=r".*") as info:
        load(*argv)
    assert message == str(info.value)


def test_parse_scopes() -> None:
    """SENSOR:VPC entries, and a lone VPC for every other sensor."""
    assert {"S0": VPC_A, "": VPC_B} == parse_scopes(f"S0:{VPC_A},{VPC_B}")


def test_switch_registers_a_filter_per_switch(topo: tuple) -> None:
    """Each filter switch used registers its own filter (all must pass)."""
    path, _ = topo
    reg, plug = load(f"--awsvpc-map={path}", "--aws-service=S3",
                     f"--src-vpc-id={VPC_A}")  # fmt: skip
    assert 2 == len(reg.filters)
    assert [
        ("aws-service", "aws-service", 2, ["S3"]),
        ("src-vpc-id", "vpc-id", 0, [VPC_A]),
    ] == plug.filters


# == unit tests: which map ====================================================


def test_choose_map_precedence() -> None:
    """--awsvpc-map, then AWSVPC_MAP, then PYSILK_EXT_MAP, then the data
    root; empty variables are skipped."""
    env = {"AWSVPC_MAP": "env.vpcmap", "PYSILK_EXT_MAP": "ext.vpcmap"}
    root = lambda: "/silk/data"  # noqa: E731 - a tiny stand-in
    assert ("sw.vpcmap", "--awsvpc-map") == choose_map("sw.vpcmap", env, root)
    assert ("env.vpcmap", "AWSVPC_MAP") == choose_map(None, env, root)
    env["AWSVPC_MAP"] = ""
    assert ("ext.vpcmap", "PYSILK_EXT_MAP") == choose_map(None, env, root)
    assert ("/silk/data/awsvpc.vpcmap", "default") == choose_map(
        None, {}, root
    )


def test_map_from_environment(topo: tuple) -> None:
    """AWSVPC_MAP names the map when the switch is absent."""
    path, _ = topo
    reg, plug = load("--aws-service=S3", environ={"AWSVPC_MAP": str(path)})
    reg.start()
    assert str(path) == plug.open_map().path
    assert reg.passes(rec(REBOUND, S3, T + 10))


def test_default_map_in_data_root(topo: tuple, tmp_path: Path) -> None:
    """Without switch or variables, awsvpc.vpcmap in the data root."""
    path, _ = topo
    shutil.copy(path, tmp_path / "awsvpc.vpcmap")
    reg, plug = load("--aws-service=S3", rootdir=str(tmp_path))
    reg.start()
    assert str(tmp_path / "awsvpc.vpcmap") == plug.open_map().path


def test_no_map_found(tmp_path: Path) -> None:
    """No switch, no variable, no file in the data root: one error."""
    reg, _ = load("--aws-service=S3", rootdir=str(tmp_path))
    with pytest.raises(ValueError, match=r".*") as info:
        reg.start()
    assert (
        f"No context map: '{tmp_path}/awsvpc.vpcmap' does not exist; "
        "name one with --awsvpc-map=PATH or the AWSVPC_MAP variable"
    ) == str(info.value)


def test_map_missing_file(tmp_path: Path) -> None:
    """A named map that does not exist."""
    reg, _ = load(f"--awsvpc-map={tmp_path}/no.vpcmap", "--region=us-east-1")
    with pytest.raises(ValueError, match=r".*") as info:
        reg.start()
    assert (
        f"Cannot open context map '{tmp_path}/no.vpcmap': "
        "No such file or directory"
    ) == str(info.value)


def test_not_a_map(tmp_path: Path) -> None:
    """A file that is not a map is refused by name."""
    bogus = tmp_path / "flows.rw"
    bogus.write_bytes(b"\xde\xad\xbe\xef" + bytes(200))
    reg, _ = load(f"--awsvpc-map={bogus}", "--aws-service=S3")
    with pytest.raises(ValueError, match=r".*") as info:
        reg.start()
    assert str(info.value).startswith(f"Cannot read context map '{bogus}': ")


def test_map_opened_once(topo: tuple) -> None:
    """All filters and fields share one opened map."""
    path, _ = topo
    reg, plug = load(f"--awsvpc-map={path}", "--aws-service=S3",
                     "--region=us-east-1", app=None)  # fmt: skip
    reg.start()
    first = plug.open_map()
    reg.fields["vpc-id"]["initialize"]()
    assert first is plug.open_map()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--vpc-id=vpc-0000000000000dead"],
            "Invalid vpc-id 'vpc-0000000000000dead': Not in context map",
        ),
        (
            ["--aws-service=NOT_A_SERVICE"],
            "Invalid aws-service 'NOT_A_SERVICE': Not in context map",
        ),
    ],
)
def test_value_not_in_map(topo: tuple, argv: list[str], message: str) -> None:
    """A well-formed value the map lacks is a typo or the wrong map."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", *argv)
    with pytest.raises(ValueError, match=r".*") as info:
        reg.start()
    assert f"{message} '{path}'" == str(info.value)


def test_documented_service_absent_from_map_is_accepted(topo: tuple) -> None:
    """AWS's own service names may be absent (they then match nothing)."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", "--aws-service=CLOUDFRONT")
    reg.start()
    assert not any(reg.passes(r) for r in grid())


# == unit tests: filter semantics =============================================


@pytest.mark.parametrize("field", [f.name for f in FIELDS])
@pytest.mark.parametrize("prefix", ["", "src-", "dst-"])
def test_filter_matches_lookup_everywhere(
    topo: tuple, field: str, prefix: str
) -> None:
    """For every field and value of the map (and ``-``), any/src/dst
    switches pass exactly the records the map's lookup API says --
    times before, inside, between and after bindings, all sensors."""
    path, cmap = topo
    values = [*map_values(cmap, field), "-"]
    records = list(grid())
    for value in values:
        reg, _ = load(f"--awsvpc-map={path}", f"--{prefix}{field}={value}")
        reg.start()
        for r in records:
            src = expected_text(cmap, str(r.sip), r.stime_epoch_secs,
                                r.sensor, field)  # fmt: skip
            dst = expected_text(cmap, str(r.dip), r.stime_epoch_secs,
                                r.sensor, field)  # fmt: skip
            want = {"": value in (src, dst), "src-": value == src,
                    "dst-": value == dst}[prefix]  # fmt: skip
            assert want == reg.passes(r), (value, r, src, dst)


def test_rebound_address_follows_time(topo: tuple) -> None:
    """10.0.0.5 is eni-A1's until eni-A2 takes it: before its first
    binding it has no instance; between bindings the old one holds."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", "--src-interface-id=" + ENI_A1)
    reg.start()
    verdicts = [reg.passes(rec(REBOUND, OUTSIDE, t)) for t in TIMES]
    assert [False, True, True, True, True, True, True, False, False,
            False] == verdicts  # fmt: skip


def test_reused_space_uses_the_sensor_scope(topo: tuple) -> None:
    """10.9.9.9 is in VPC A and VPC B: a sensor named after VPC A, or
    the interface eni-B1 (whose VPC the map knows), picks the VPC; a
    sensor with no VPC leaves it ambiguous (matches neither)."""
    path, _ = topo
    got = {}
    for vpc in (VPC_A, VPC_B):
        reg, _ = load(f"--awsvpc-map={path}", f"--src-vpc-id={vpc}")
        reg.start()
        got[vpc] = [reg.passes(rec(REUSED, OUTSIDE, T + 9, s))
                    for s in ("S0", VPC_A, ENI_B1)]  # fmt: skip
    assert {VPC_A: [False, True, False], VPC_B: [False, False, True]} == got


def test_reused_space_unscoped_is_ambiguous_per_field(topo: tuple) -> None:
    """10.9.9.9 without a scope (sensor S0): its VPCs (accounts 1111...
    and 2222..., one region, no AWS service on either side) agree on the
    region and on "no service", which print and filter as such; they
    disagree on the rest, which prints (ambiguous) and matches nothing."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", app="rwcut")
    for kw in reg.fields.values():
        kw["initialize"]()
    r = rec(REUSED, OUTSIDE, T + 9)
    got = {
        spec.name: reg.fields[f"src-{spec.name}"]["rec_to_text"](r)
        for spec in FIELDS
    }
    amb = AMBIGUOUS_LABEL
    assert {
        "vpc-id": amb, "subnet-id": amb, "instance-id": amb,
        "interface-id": amb, "account-id": amb, "region": "us-east-1",
        "az-id": amb, "aws-service": "-",
    } == got  # fmt: skip
    verdicts = {}
    for switch in ("--src-aws-service=-", "--src-aws-service=S3",
                   "--src-region=us-east-1", "--src-account-id=111111111111",
                   "--src-account-id=-"):  # fmt: skip
        reg, _ = load(f"--awsvpc-map={path}", switch)
        reg.start()
        verdicts[switch] = reg.passes(r)
    assert {
        "--src-aws-service=-": True,
        "--src-aws-service=S3": False,
        "--src-region=us-east-1": True,
        "--src-account-id=111111111111": False,
        "--src-account-id=-": False,
    } == verdicts


def test_fast_path_verdicts_agree_with_pair_lookup(topo: tuple) -> None:
    """For every field and value (and ``-``), the digested tables give
    the pair lookup's verdict on every grid record: the steps of
    single-scope addresses, the scoped C lookup of reused space."""
    path, _ = topo
    pmap = PluginMap(str(path), PythonBackend())
    for spec in FIELDS:
        pair = pmap.pair_lookup(field_ref(spec.name).index)
        for value in [*map_values(pmap.cmap, spec.name), "-"]:
            reg, _ = load(f"--awsvpc-map={path}",
                          f"--src-{spec.name}={value}")  # fmt: skip
            reg.start()
            want_sid = 0 if value == "-" else pmap.sid(value)
            for r in grid():
                assert (pair(r)[0] == want_sid) == reg.passes(r), (
                    spec.name, value, r,
                )  # fmt: skip


def test_scope_switch_places_a_sensor(topo: tuple) -> None:
    """--awsvpc-scope=S0:VPC looks S0's records up in that VPC."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", f"--awsvpc-scope=S0:{VPC_B}",
                  "--instance-id=i-" + ENI_B1[4:])  # fmt: skip
    reg.start()
    assert reg.passes(rec(REUSED, OUTSIDE, T + 9, "S0"))


def test_sensor_description_gives_the_vpc(topo: tuple) -> None:
    """A VPC id in the sensor's silk.conf description scopes it."""
    path, _ = topo
    pmap = PluginMap(
        str(path),
        PythonBackend(
            descriptions={"S7": f"AWS interface-id x vpc-id {VPC_B}"}
        ),
    )
    assert pmap.cmap.scope_id(VPC_B) == pmap.scope_for_sensor("S7")
    assert 0xFFFFFFFF == pmap.scope_for_sensor("S8")


def test_ranges_layer_below_bindings(topo: tuple) -> None:
    """3.5.2.2 is S3 by ip-ranges until the logs call it EC2 (T+2000);
    3.5.1.1, never in the logs, is S3 at any time."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", "--dst-aws-service=S3")
    reg.start()
    relabelled = [reg.passes(rec(OUTSIDE, RELABELLED, t)) for t in TIMES]
    assert [True] * 5 + [False] * 5 == relabelled
    assert all(reg.passes(rec(OUTSIDE, RANGED, t)) for t in TIMES)


def test_ipv6_records(topo: tuple) -> None:
    """IPv6 endpoints are looked up like IPv4 ones."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", "--dst-aws-service=S3",
                  f"--src-vpc-id={VPC_A}")  # fmt: skip
    reg.start()
    assert reg.passes(rec(OWN6, S3_6, T + 10))
    assert not reg.passes(rec(S3_6, OWN6, T + 10))


def test_fast_path_tables(topo: tuple) -> None:
    """Only reused private space takes the per-record C lookup."""
    path, _ = topo
    pmap = PluginMap(str(path), PythonBackend())
    tables = pmap.filter_tables("instance-id", ["i-" + ENI_A3[4:]])
    assert {"steps": 0, "scoped": 1, "ranges": 0} == tables.counts
    # S3 by logs (52.216.1.1, 2600:1fa0::1) or by ip-ranges until the
    # logs relabel it (3.5.2.2); the rest of 3.5.0.0/16 is the range.
    tables = pmap.filter_tables("aws-service", ["S3"])
    assert {"steps": 3, "scoped": 0, "ranges": 1} == tables.counts


# == unit tests: fields =======================================================


def test_fields_match_lookup(topo: tuple) -> None:
    """Every field's text, and bin_to_text(rec_to_bin), is the lookup
    API's answer (unprefixed: the documented endpoint rule)."""
    path, cmap = topo
    reg, _ = load(f"--awsvpc-map={path}", app="rwcut")
    for kw in reg.fields.values():
        kw["initialize"]()
    for r in grid():
        for spec in FIELDS:
            src = expected_text(cmap, str(r.sip), r.stime_epoch_secs,
                                r.sensor, spec.name)  # fmt: skip
            dst = expected_text(cmap, str(r.dip), r.stime_epoch_secs,
                                r.sensor, spec.name)  # fmt: skip
            for name, want in (
                (spec.name, expected_either(src, dst)),
                (f"src-{spec.name}", src),
                (f"dst-{spec.name}", dst),
            ):
                kw = reg.fields[name]
                assert want == kw["rec_to_text"](r), (name, r)
                assert want == kw["bin_to_text"](kw["rec_to_bin"](r))


def test_field_binary_order_is_text_order(topo: tuple) -> None:
    """Binary values sort like their texts, ``-`` first and
    ``(ambiguous)`` last, so rwsort/rwuniq/rwstats/rwgroup group right."""
    path, _ = topo
    reg, _ = load(f"--awsvpc-map={path}", app="rwsort")
    for spec in FIELDS:
        kw = reg.fields[f"src-{spec.name}"]
        kw["initialize"]()
        bins = {kw["rec_to_bin"](r) for r in grid()}
        texts = [kw["bin_to_text"](b) for b in sorted(bins)]
        inner = [t for t in texts if t not in ("-", AMBIGUOUS_LABEL)]
        assert sorted(inner) == inner
        assert texts[0] == "-"
        assert len(texts) == len(set(texts))
        if AMBIGUOUS_LABEL in texts:
            assert texts[-1] == AMBIGUOUS_LABEL


def test_either_rule() -> None:
    """Definite beats none and ambiguous; the source wins a tie."""
    amb = VALUE_AMBIGUOUS
    assert [5, 7, 7, amb, amb, 0, 5] == [
        either_value(5, 7), either_value(0, 7), either_value(amb, 7),
        either_value(amb, 0), either_value(0, amb), either_value(0, 0),
        either_value(5, amb),
    ]  # fmt: skip


def test_seed_labels(shared: Path, tmp_path: Path) -> None:
    """The seed's two results through the plug-in's fields: the S3
    addresses are labelled S3, and 10.1.1.50 gets its instance,
    interface, subnet, account, VPC, region and AZ (data/README.md)."""
    builder = ContextMapBuilder()
    data = (shared / "data" / "seed-sample-v5.log").read_bytes()
    builder.add_batch(ChunkParser(source="seed").feed(data).batch)
    path = tmp_path / "seed.vpcmap"
    builder.build().write(path)
    reg, _ = load(f"--awsvpc-map={path}", app="rwcut")
    text = {n: kw["rec_to_text"] for n, kw in reg.fields.items()}
    talk_s3 = ["16.182.72.112", "52.216.215.0", "52.217.111.214",
               "52.217.118.120", "52.217.170.248", "52.217.99.126",
               "54.231.135.64", "54.231.139.192"]  # fmt: skip
    when = 1690329610
    assert ["S3"] * 8 == [
        text["dst-aws-service"](rec("10.1.1.50", a, when)) for a in talk_s3
    ]
    r = rec("10.1.1.50", "52.217.118.120", when)
    assert {
        "az-id": "use1-az2",
        "instance-id": "i-0826dea5238644ce7",
        "interface-id": "eni-0ffa7e54f1ae8fa1b",
        "region": "us-east-1",
        "subnet-id": "subnet-0d7d9632ca72baf2",
        "account-id": "904652123456",
        "vpc-id": "vpc-0844e5fb7dab616dd",
        "aws-service": "-",
    } == {f.name: text[f"src-{f.name}"](r) for f in FIELDS}


# == plug-in file and its installed path ======================================


def test_plugin_path_is_the_shim() -> None:
    """plugin_path() names a file with the shim's content (the package
    entry links to the top-level silkplugin/awsvpc.py)."""
    path = plugin_path()
    assert path.is_absolute()
    assert SHIM.read_bytes() == path.read_bytes()


def test_plugin_path_command() -> None:
    """``python -m pysilk_ext.plugin_path`` prints it."""
    out = subprocess.run(
        [sys.executable, "-m", "pysilk_ext.plugin_path"],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    assert f"{plugin_path()}\n" == out.stdout


def test_shim_finds_package_beside_it(tmp_path: Path) -> None:
    """Run the shim where pysilk_ext is not importable (``python -S``:
    no .pth, so no editable install): it finds the package beside
    itself and registers through a stand-in ``silk.plugin``."""
    fake = tmp_path / "fake"
    (fake / "silk").mkdir(parents=True)
    (fake / "silk" / "__init__.py").write_text("")
    (fake / "silk" / "site.py").write_text(
        "def get_data_rootdir(): return '/data'\n"
        "def sensor_description(name): return None\n"
    )
    (fake / "silk" / "plugin.py").write_text(
        "_programname = 'rwcut'\nseen = []\n"
        "def register_switch(name, **kw): seen.append(name)\n"
        "def register_filter(fn, **kw): seen.append('filter')\n"
        "def register_field(name, **kw): seen.append(name)\n"
    )
    import numpy

    site_dir = str(Path(numpy.__file__).parents[1])
    import cffi

    cffi_dir = str(Path(cffi.__file__).parents[1])
    code = (
        "import sys; sys.path[:] = [p for p in sys.path "
        "if 'work' not in p]\n"
        "try:\n    import pysilk_ext\n    print('importable')\n"
        "except ImportError:\n    pass\n"
        f"exec(compile(open({str(SHIM)!r}).read(), {str(SHIM)!r}, 'exec'))\n"
        "import silk.plugin\nprint(len(silk.plugin.seen))\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{fake}:{site_dir}:{cffi_dir}")
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True, text=True, env=env, cwd=str(tmp_path),
        check=False,
    )  # fmt: skip
    assert "" == out.stderr
    assert f"{2 + 24}\n" == out.stdout


# == real SiLK ================================================================


SITE_CONF = """version 2
sensor 0 S0
sensor 1 {vpc}
sensor 2 {eni}
class all
    sensors S0 {vpc} {eni}
end class
class all
    type 0 in in
    type 1 out out
    default-types in
end class
default-class all
"""


def _run(
    argv: list[str], env: dict[str, str], *, stdin: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    proc = subprocess.run(
        argv, env=env, input=stdin, capture_output=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {proc.returncode}:\n"
            f"{proc.stderr.decode()}"
        )
    return proc


def _silk_time(when: float) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(when, tz=dt.UTC)
    return (
        stamp.strftime("%Y/%m/%dT%H:%M:%S.")
        + f"{stamp.microsecond // 1000:03d}"
    )


@pytest.fixture(scope="module")
def rwtuc_flows(
    topo: tuple, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Rec], dict[str, str]]:
    """The grid written by SiLK's own rwtuc (one flow per record, the
    sensor by name from a silk.conf), its records, and the tool env."""
    if shutil.which("rwtuc") is None:
        pytest.skip("SiLK tools not on PATH")
    tmp = tmp_path_factory.mktemp("rwtuc")
    site = tmp / "silk.conf"
    site.write_text(SITE_CONF.format(vpc=VPC_A, eni=ENI_B1))
    records = list(grid())
    lines = [
        f"{r.sip}|{r.dip}|{1000 + i}|443|6|1|100|"
        f"{_silk_time(r.stime_epoch_secs)}|{r.sensor}|"
        for i, r in enumerate(records)
    ]
    env = dict(os.environ, TZ="UTC", SILK_CONFIG_FILE=str(site),
               SILK_CLOBBER="1")  # fmt: skip
    env.pop("SILK_DATA_ROOTDIR", None)
    flows = tmp / "grid.rw"
    _run(
        ["rwtuc", "--fields=sip,dip,sport,dport,protocol,packets,bytes,"
         "stime,sensor", f"--output-path={flows}"],
        env, stdin=("\n".join(lines) + "\n").encode(),
    )  # fmt: skip
    return flows, records, env


def _cut(
    env: dict[str, str], fields: str, source: list[str], *,
    stdin: bytes | None = None, plugin_args: tuple[str, ...] = (),
) -> list[list[str]]:  # fmt: skip
    """rwcut rows as lists of stripped cells (no titles)."""
    out = _run(
        ["rwcut", *plugin_args, f"--fields={fields}", "--no-titles",
         "--delimited=|", *source],
        env, stdin=stdin,
    ).stdout.decode()  # fmt: skip
    return [line.split("|") for line in out.splitlines()]


@pytest.mark.silk
@pytest.mark.parametrize(
    "switch",
    [
        "--aws-service=S3",
        "--dst-aws-service=S3,DYNAMODB",
        f"--src-vpc-id={VPC_B}",
        f"--vpc-id={VPC_A}",
        "--instance-id=i-" + ENI_A1[4:],
        "--src-interface-id=-",
        "--account-id=222222222222",
        "--dst-region=us-east-1",
        "--az-id=use1-az4",
        "--subnet-id=subnet-" + VPC_B[4:],
    ],
)
def test_rwfilter_on_rwtuc_flows(
    topo: tuple, rwtuc_flows: tuple, switch: str
) -> None:
    """rwfilter --python-file=awsvpc.py passes exactly the expected
    flows of a file written by rwtuc (sport numbers identify them)."""
    path, cmap = topo
    flows, records, env = rwtuc_flows
    reg, _ = load(f"--awsvpc-map={path}", switch)
    reg.start()
    want = [str(1000 + i) for i, r in enumerate(records) if reg.passes(r)]
    field = switch.split("=", 1)[0].lstrip("-").removeprefix("src-")
    field = field.removeprefix("dst-")
    value = switch.split("=")[1].split(",")
    ref = []
    for i, r in enumerate(records):  # the lookup API's own verdict
        src = expected_text(cmap, str(r.sip), r.stime_epoch_secs, r.sensor,
                            field)  # fmt: skip
        dst = expected_text(cmap, str(r.dip), r.stime_epoch_secs, r.sensor,
                            field)  # fmt: skip
        ends = {"src": [src], "dst": [dst]}.get(switch[2:5], [src, dst])
        if set(ends) & set(value):
            ref.append(str(1000 + i))
    assert ref == want
    assert want  # every switch here selects something
    passed = _run(
        ["rwfilter", f"--python-file={SHIM}", f"--awsvpc-map={path}", switch,
         "--pass=stdout", str(flows)],
        env,
    ).stdout  # fmt: skip
    got = [row[0] for row in _cut(env, "sport", ["-"], stdin=passed)]
    assert want == got


@pytest.mark.silk
def test_rwcut_every_field(topo: tuple, rwtuc_flows: tuple) -> None:
    """rwcut prints all 24 fields as the lookup API says."""
    path, cmap = topo
    flows, records, env = rwtuc_flows
    rows = _cut(
        env, ",".join(field_names()), [str(flows)],
        plugin_args=(f"--python-file={SHIM}", f"--awsvpc-map={path}"),
    )  # fmt: skip
    assert len(records) == len(rows)
    names = field_names()
    for r, row in zip(records, rows, strict=True):
        got = dict(zip(names, row, strict=False))
        for spec in FIELDS:
            src = expected_text(cmap, str(r.sip), r.stime_epoch_secs,
                                r.sensor, spec.name)  # fmt: skip
            dst = expected_text(cmap, str(r.dip), r.stime_epoch_secs,
                                r.sensor, spec.name)  # fmt: skip
            assert src == got[f"src-{spec.name}"], (r, spec.name)
            assert dst == got[f"dst-{spec.name}"], (r, spec.name)
            assert expected_either(src, dst) == got[spec.name]


def _rank(text: str) -> tuple[int, str]:
    """The plug-in's documented sort order of a field's texts."""
    return ({"-": 0, AMBIGUOUS_LABEL: 2}.get(text, 1), text)


@pytest.mark.silk
@pytest.mark.parametrize("field", [f.name for f in FIELDS])
def test_rwsort_rwuniq_rwstats_rwgroup(
    topo: tuple, rwtuc_flows: tuple, field: str
) -> None:
    """rwsort orders by the field, rwuniq and rwstats count per value,
    rwgroup gives one group per run of equal values."""
    path, _ = topo
    flows, _, env = rwtuc_flows
    plug = (f"--python-file={SHIM}", f"--awsvpc-map={path}")
    key = f"dst-{field}"
    values = [row[0] for row in _cut(env, key, [str(flows)], plugin_args=plug)]
    counts = Counter(values)

    sorted_flows = _run(
        ["rwsort", *plug, f"--fields={key}", str(flows)], env
    ).stdout
    in_order = [row[0] for row in _cut(env, key, ["-"], stdin=sorted_flows,
                                       plugin_args=plug)]  # fmt: skip
    assert sorted(values, key=_rank) == in_order

    uniq = _run(
        ["rwuniq", *plug, f"--fields={key}", "--values=records",
         "--no-titles", "--delimited=|", "--sort-output", str(flows)],
        env,
    ).stdout.decode()  # fmt: skip
    rows = [line.split("|")[:2] for line in uniq.splitlines()]
    assert sorted(counts, key=_rank) == [v for v, _ in rows]
    assert counts == {v: int(n) for v, n in rows}

    stats = _run(
        ["rwstats", *plug, f"--fields={key}", "--values=records",
         f"--count={len(counts)}", "--no-titles", "--delimited=|",
         str(flows)],
        env,
    ).stdout.decode()  # fmt: skip
    top = {
        line.split("|")[0]: int(line.split("|")[1])
        for line in stats.splitlines()
        if "|" in line and not line.startswith(("INPUT", "OUTPUT"))
    }
    assert counts == top

    grouped = _run(
        ["rwgroup", *plug, f"--id-fields={key}"], env, stdin=sorted_flows
    ).stdout
    pairs = _cut(env, f"{key},nhip", ["-"], stdin=grouped, plugin_args=plug)
    group_of: dict[str, str] = {}
    for value, nhip in pairs:
        gid = nhip.removeprefix("::ffff:")  # IPv6 records: ::ffff:0.0.0.N
        assert group_of.setdefault(value, gid) == gid
    assert len(counts) == len(set(group_of.values()))


@pytest.mark.silk
def test_help_lists_switches_and_fields(silk: dict[str, str]) -> None:
    """rwfilter --help lists every switch; rwcut --help-fields every field."""
    out = _run(["rwfilter", f"--python-file={SHIM}", "--help"], silk)
    text = out.stdout.decode()
    for name in ["awsvpc-map", "awsvpc-scope", *switch_names()]:
        assert f"\n--{name} Req Arg." in text, name
    out = _run(["rwcut", f"--python-file={SHIM}", "--help-fields"], silk)
    text = out.stdout.decode()
    for name in field_names():
        assert f"\t{name} " in text, name


@pytest.mark.silk
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--aws-service=S3!"],
            "Invalid aws-service 'S3!': Expected an AWS service name "
            "such as S3",
        ),
        (
            ["--vpc-id=vpc-0000000000000dead"],
            "Invalid vpc-id 'vpc-0000000000000dead': Not in context map "
            "'{map}'",
        ),
    ],
)
def test_bad_value_one_error(
    topo: tuple, rwtuc_flows: tuple, argv: list[str], message: str
) -> None:
    """A bad value: exit 1 and one error line (plus SiLK's usage hint
    for a switch error)."""
    path, _ = topo
    flows, _, env = rwtuc_flows
    proc = _run(
        ["rwfilter", f"--python-file={SHIM}", f"--awsvpc-map={path}",
         *argv, "--pass=stdout", str(flows)],
        env, check=False,
    )  # fmt: skip
    assert 1 == proc.returncode
    lines = proc.stderr.decode().splitlines()
    expected = "rwfilter: PySiLK plugin: ValueError: " + message.format(
        map=path
    )
    assert expected == lines[0]
    assert lines[1:] in ([], ["Use 'rwfilter --help' for usage"])


@pytest.mark.silk
def test_no_map_error(rwtuc_flows: tuple, tmp_path: Path) -> None:
    """No map anywhere: one clear error naming the default location."""
    flows, _, env = rwtuc_flows
    env = dict(env, SILK_DATA_ROOTDIR=str(tmp_path))
    proc = _run(
        ["rwcut", f"--python-file={SHIM}", "--fields=vpc-id", str(flows)],
        env, check=False,
    )  # fmt: skip
    assert 1 == proc.returncode
    assert (
        "rwcut: PySiLK plugin: ValueError: No context map: "
        f"'{tmp_path}/awsvpc.vpcmap' does not exist; name one with "
        "--awsvpc-map=PATH or the AWSVPC_MAP variable"
    ) == proc.stderr.decode().splitlines()[0]


# -- the seed sample, converted -----------------------------------------------


@pytest.fixture(scope="module")
def seed_flows(
    shared: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, dict[str, str], list[dict[str, Any]]]:
    """(flows, map, env, parsed rows): the seed converted to SiLK flows
    (one sensor per interface in a copy of share/silk.conf) and its map."""
    if shutil.which("rwcut") is None:
        pytest.skip("SiLK tools not on PATH")
    from pysilk_ext.convert import Converter
    from pysilk_ext.convert.config import parse_config
    from pysilk_ext.silkfmt.flowfile import FlowWriter
    from pysilk_ext.silkfmt.siteconf import load_siteconf
    from pysilk_ext.vpcparse import iter_records

    tmp = tmp_path_factory.mktemp("seed")
    site = tmp / "silk.conf"
    shutil.copy(REPO / "share" / "silk.conf", site)
    data = (shared / "data" / "seed-sample-v5.log").read_bytes()
    batch = ChunkParser(source="seed").feed(data).batch
    conv = Converter(
        parse_config("action: all"), site=load_siteconf(site), site_path=site
    )
    flows = tmp / "seed.rw"
    with FlowWriter(flows) as writer:
        writer.write(conv.convert(batch))
    builder = ContextMapBuilder()
    builder.add_batch(batch)
    vmap = tmp / "seed.vpcmap"
    builder.build().write(vmap)
    env = dict(os.environ, TZ="UTC", SILK_CONFIG_FILE=str(site))
    env.pop("SILK_DATA_ROOTDIR", None)
    return flows, vmap, env, list(iter_records(batch))


def _flow_key(row: dict[str, Any]) -> str:
    return "|".join(
        str(row[k]) for k in ("srcaddr", "dstaddr", "srcport", "dstport")
    )


@pytest.mark.silk
@pytest.mark.parametrize("how", ["switch", "environment"])
def test_seed_s3_flows(seed_flows: tuple, how: str) -> None:
    """The converted seed: --aws-service=S3 passes exactly the rows the
    logs themselves mark S3 (pkt-src/dst-aws-service), with the map
    named by the switch or by AWSVPC_MAP."""
    flows, vmap, env, rows = seed_flows
    want = sorted(
        _flow_key(r) for r in rows
        if "S3" in (r["pkt-src-aws-service"], r["pkt-dst-aws-service"])
    )  # fmt: skip
    args = [f"--awsvpc-map={vmap}"] if how == "switch" else []
    env = dict(env, AWSVPC_MAP=str(vmap)) if how != "switch" else env
    passed = _run(
        ["rwfilter", f"--python-file={SHIM}", *args, "--aws-service=S3",
         "--pass=stdout", str(flows)],
        env,
    ).stdout  # fmt: skip
    got = sorted(
        "|".join(c.strip() for c in row)
        for row in _cut(env, "sip,dip,sport,dport", ["-"], stdin=passed)
    )
    assert 14 == len(want)
    assert want == got


@pytest.mark.silk
def test_seed_internal_labels(seed_flows: tuple) -> None:
    """rwcut labels 10.1.1.50 with its instance, interface, subnet,
    account and VPC (the seed's internal-labelling table)."""
    flows, vmap, env, _ = seed_flows
    fields = ("src-instance-id,src-interface-id,src-subnet-id,"
              "src-account-id,src-vpc-id")  # fmt: skip
    passed = _run(
        ["rwfilter", "--saddress=10.1.1.50", "--pass=stdout", str(flows)], env
    ).stdout
    rows = _cut(
        env,
        fields,
        ["-"],
        stdin=passed,
        plugin_args=(f"--python-file={SHIM}", f"--awsvpc-map={vmap}"),
    )
    assert {
        ("i-0826dea5238644ce7", "eni-0ffa7e54f1ae8fa1b",
         "subnet-0d7d9632ca72baf2", "904652123456", "vpc-0844e5fb7dab616dd")
    } == {tuple(r) for r in rows}  # fmt: skip


# -- the native route: prefix maps --------------------------------------------


def _export_pmap(vmap: Path, field: str, path: Path) -> None:
    """A prefix map of ``field``, written by ``rwvpcmapcat --pmap``."""
    from pysilk_ext.cli.rwvpcmapcat import main

    assert 0 == main([f"--pmap={field}", f"--output-path={path}", str(vmap)])


@pytest.mark.silk
def test_native_prefix_map_route(seed_flows: tuple, tmp_path: Path) -> None:
    """rwfilter --pmap-file=vpc-id:F --pmap-any-vpc-id=V and rwcut
    --pmap-file=... --fields=src-vpc-id agree with the plug-in where the
    labels do not change over time (the seed's hour)."""
    flows, vmap, env, _ = seed_flows
    for field in ("vpc-id", "aws-service"):
        _export_pmap(vmap, field, tmp_path / f"{field}.pmap")
    vpc = "vpc-0844e5fb7dab616dd"
    plug = (f"--python-file={SHIM}", f"--awsvpc-map={vmap}")
    for native, ours in (
        ([f"--pmap-file=vpc-id:{tmp_path}/vpc-id.pmap",
          f"--pmap-any-vpc-id={vpc}"], [*plug, f"--vpc-id={vpc}"]),
        ([f"--pmap-file=aws-service:{tmp_path}/aws-service.pmap",
          "--pmap-dst-aws-service=S3"], [*plug, "--dst-aws-service=S3"]),
    ):  # fmt: skip
        outs = []
        for args in (native, ours):
            passed = _run(
                ["rwfilter", *args, "--pass=stdout", str(flows)], env
            ).stdout
            outs.append(_cut(env, "sip,dip,sport", ["-"], stdin=passed))
        assert outs[0] == outs[1]
        assert outs[0]
    cut_native = _cut(
        env, "src-vpc-id,dst-aws-service", [str(flows)],
        plugin_args=(f"--pmap-file=vpc-id:{tmp_path}/vpc-id.pmap",
                     f"--pmap-file=aws-service:{tmp_path}/aws-service.pmap"),
    )  # fmt: skip
    cut_ours = _cut(env, "src-vpc-id,dst-aws-service", [str(flows)],
                    plugin_args=plug)  # fmt: skip
    assert cut_native == cut_ours


@pytest.mark.silk
def test_shared_objects_export_only_module_init() -> None:
    """The cffi modules loaded into rwfilter beside libsilk export only
    their PyInit symbol (hidden visibility), so nothing can bind to a
    libsilk name -- the precondition of every test above."""
    if shutil.which("nm") is None:
        pytest.skip("nm not available")
    so = next((REPO / "pysilk_ext").glob("_ctxmap*.so"))
    out = subprocess.run(
        ["nm", "-D", "--defined-only", str(so)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert ["PyInit__ctxmap"] == [n for n in names if not n.startswith("_")]


def test_man_page_lists_every_switch_and_field() -> None:
    """man/awsvpc.pod has an =item for every switch and every field."""
    pod = (REPO / "man" / "awsvpc.pod").read_text()
    for name in ["awsvpc-map", "awsvpc-scope", *switch_names()]:
        assert f"=item B<--{name}>=" in pod, name
    items = [line for line in pod.splitlines() if line.startswith("=item B<")]
    for name in field_names():
        assert any(f"B<{name}>" in line for line in items), name
    assert "=for section 3" in pod
