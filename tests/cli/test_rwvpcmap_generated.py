# SPDX-License-Identifier: MIT
"""The four commands on generated logs whose topology is known.

benchmarks/gen_vpclogs.py writes two hours of version 5 logs in S3 key
layout (two VPCs sharing 10.0.0.0/16, a dual-stack VPC, an address
re-bound at the half, S3/DynamoDB/EC2 service addresses) and the truth
beside them; the commands must give back every true binding, keep the
overlapping VPCs apart, label every service address and report the
re-binding.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pysilk_ext.cli import (
    rwvpcmapbuild,
    rwvpcmapcat,
    rwvpcmapdiff,
    rwvpcmaplookup,
)
from pysilk_ext.silkfmt.ipset import IPSet
from pysilk_ext.silkfmt.pmap import PrefixMap
from tests.cli.rwvpcmap_support import (
    IP_RANGES,
    _clean_env,  # noqa: F401 - autouse fixture
    rows_of,
)
from tests.conftest import load_gen_vpclogs

FIELDS = "status,interface-id,instance-id,vpc-id,subnet-id,az-id,account-id"


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], Path]:
    """(log directory, truth, map built by rwvpcmapbuild from it)."""
    out = tmp_path_factory.mktemp("gen")
    logs = out / "logs"
    res = load_gen_vpclogs().generate(
        logs, records=6000, seed=7, version=5, hours=2, ip_ranges=IP_RANGES
    )
    truth = json.loads(res.truth_path.read_text())
    cmap = out / "full.vpcmap"
    assert 0 == rwvpcmapbuild.main(
        [f"--output-path={cmap}", f"--ip-ranges={IP_RANGES}", str(logs)]
    )
    return logs, truth, cmap


def _owned(truth: dict[str, Any]) -> list[dict[str, Any]]:
    """True bindings the logs show on the interface side (the primary
    and IPv6 addresses; secondary ones are packet-level)."""
    return [
        b
        for b in truth["bindings"]
        if b["role"] in ("primary", "ipv6") and b["first_seen"] is not None
    ]


def _lookup(
    cmap: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> list[list[str]]:
    status, out, err = (
        rwvpcmaplookup.main(
            [f"--map={cmap}", "--delimited", "--no-titles", *argv]
        ),
        *capsys.readouterr(),
    )
    assert (0, "") == (status, err)
    return rows_of(out)


def _addresses(ipset: IPSet) -> set[str]:
    """Members of a small set as text (IPv4-mapped shown as IPv4)."""
    out: set[str] = set()
    cls = ipaddress.IPv6Network if ipset.is_ipv6 else ipaddress.IPv4Network
    for value, prefix in ipset.iter_cidrs():
        for addr in cls((value, prefix)):
            mapped = getattr(addr, "ipv4_mapped", None)
            out.add(str(mapped or addr))
    return out


def test_every_true_binding(
    generated: tuple[Path, dict[str, Any], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Looked up in its VPC in the middle of its seen interval, every
    true interface address answers with its interface, instance, VPC,
    subnet, AZ and account -- including the address two VPCs share and
    both owners of the re-bound address."""
    _logs, truth, cmap = generated
    owned = _owned(truth)
    assert len(owned) > 30
    for b in owned:
        mid = (b["first_seen"] + b["last_seen"]) // 2
        rows = _lookup(
            cmap,
            capsys,
            f"--scope={b['vpc']}",
            f"--at={mid}",
            f"--fields={FIELDS}",
            b["ip"],
        )
        assert [
            [
                "current",
                b["interface"],
                b["instance"] or "-",
                b["vpc"],
                b["subnet"],
                b["az"],
                b["account"],
            ]
        ] == rows, b


def test_seen_intervals(
    generated: tuple[Path, dict[str, Any], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rwvpcmapcat prints each true binding with its exact first and last
    seen times."""
    _logs, truth, cmap = generated
    status = rwvpcmapcat.main(
        [
            "--delimited",
            "--no-titles",
            "--timestamp-format=epoch",
            "--relations=interface",
            "--fields=address,scope,interface-id,first-seen,last-seen",
            str(cmap),
        ]
    )
    out, _err = capsys.readouterr()
    assert 0 == status
    printed = {tuple(r) for r in rows_of(out)}
    for b in _owned(truth):
        scope = b["vpc"] if b["role"] == "primary" else "-"
        key = (
            b["ip"],
            scope,
            b["interface"],
            str(b["first_seen"]),
            str(b["last_seen"]),
        )
        assert key in printed


def test_service_addresses(
    generated: tuple[Path, dict[str, Any], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every service address answers with its AWS service."""
    _logs, truth, cmap = generated
    services = truth["service_addresses"]
    assert len(services) > 5
    rows = _lookup(
        cmap,
        capsys,
        "--fields=address,aws-service",
        *(s["ip"] for s in services),
    )
    assert [[s["ip"], s["service"]] for s in services] == rows


def test_vpc_exports_keep_overlapping_vpcs_apart(
    generated: tuple[Path, dict[str, Any], Path], tmp_path: Path
) -> None:
    """Each VPC's IPset holds exactly its interface addresses (a shared
    address in both); the unscoped vpc-id prefix map labels shared
    addresses '(ambiguous)' and the others with their VPC."""
    _logs, truth, cmap = generated
    by_vpc: dict[str, set[str]] = defaultdict(set)
    for b in _owned(truth):
        by_vpc[b["vpc"]].add(b["ip"])
    for vpc, expected in by_vpc.items():
        path = tmp_path / f"{vpc}.set"
        assert 0 == rwvpcmapcat.main(
            [f"--ipset=vpc-id:{vpc}", f"--output-path={path}", str(cmap)]
        )
        assert expected == _addresses(IPSet.read(path))
    pmap_path = tmp_path / "vpc.pmap"
    assert 0 == rwvpcmapcat.main(
        ["--pmap=vpc-id", f"--output-path={pmap_path}", str(cmap)]
    )
    pmap = PrefixMap.read(pmap_path)
    owners: dict[str, set[str]] = defaultdict(set)
    for vpc, ips in by_vpc.items():
        for ip in ips:
            owners[ip].add(vpc)
    shared = {ip for ip, vpcs in owners.items() if len(vpcs) > 1}
    assert shared
    for ip, vpcs in owners.items():
        expected = "(ambiguous)" if ip in shared else next(iter(vpcs))
        assert expected == pmap.get(ip).label, ip


def test_rebinding_reported(
    generated: tuple[Path, dict[str, Any], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A map of the first hour, compared with the second hour's logs,
    reports the address re-bound at the half as the truth says."""
    logs, truth, _cmap = generated
    first = tmp_path / "hour0.vpcmap"
    assert 0 == rwvpcmapbuild.main(
        [f"--output-path={first}", "--end-date=2026/08/01:00", str(logs)]
    )
    capsys.readouterr()
    status = rwvpcmapdiff.main(
        [
            "--logs",
            "--events=address-rebound",
            "--start-date=2026/08/01:01",
            str(first),
            str(logs),
        ]
    )
    out, err = capsys.readouterr()
    assert (2, "") == (status, err)
    events = [json.loads(line) for line in out.splitlines()]
    assert [
        (
            r["ip"],
            r["vpc"],
            r["before"]["interface"],
            r["before"]["instance"],
            r["after"]["interface"],
            r["after"]["instance"],
        )
        for r in truth["ip_reuse"]
    ] == [
        (
            e["address"],
            e["scope"],
            e["old"]["interface-id"],
            e["old"]["instance-id"],
            e["new"]["interface-id"],
            e["new"]["instance-id"],
        )
        for e in events
    ]
