# SPDX-License-Identifier: MIT
"""The log generator: deterministic, and its truth matches its logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pysilk_ext.reader import VpcReader
from tests.conftest import REPO, load_gen_vpclogs

gen_vpclogs = load_gen_vpclogs()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One generated S3 tree (mixed formats) and its truth."""
    out = tmp_path_factory.mktemp("gen")
    gen_vpclogs.generate(out, records=6000, seed=5, gzip=True)
    return out, json.loads((out / "_truth.json").read_text())


def test_same_seed_same_bytes(tmp_path: Path, shared: Path) -> None:
    """A seed always gives byte-identical objects and truth, also in
    processes whose string hashing differs (no set order leaks into the
    draws)."""
    a, b = tmp_path / "a", tmp_path / "b"
    for out, hash_seed in ((a, "3"), (b, "4")):
        subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "gen_vpclogs.py"),
                f"--out={out}",
                "--records=500",
                "--seed=3",
                "--gzip",
                f"--ip-ranges={shared / 'data' / 'ip-ranges.json'}",
            ],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            check=True,
        )
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_truth_describes_the_required_shapes(tree: tuple[Path, Any]) -> None:
    """Overlapping VPCs, reuse, NAT, Lambda, secondaries, services, v6."""
    _out, truth = tree
    cidrs = Counter(v["cidr"] for v in truth["vpcs"])
    assert 2 == cidrs["10.0.0.0/16"]
    kinds = Counter(e["kind"] for e in truth["enis"])
    assert kinds["nat_gateway"] >= 1
    assert kinds["lambda"] >= 1
    assert any(e["secondary_ipv4"] for e in truth["enis"])
    assert any(e["ipv6"] for e in truth["enis"])
    reuse = truth["ip_reuse"][0]
    owners = [
        b
        for b in truth["bindings"]
        if b["ip"] == reuse["ip"] and b["vpc"] == reuse["vpc"]
    ]
    assert 2 == len(owners)
    assert owners[0]["valid_until"] == owners[1]["valid_from"] == reuse["at"]
    same_ip = Counter(
        b["ip"] for b in truth["bindings"] if b["role"] == "primary"
    )
    assert any(n == 2 and ip.startswith("10.0.") for ip, n in same_ip.items())
    assert {"S3", "DYNAMODB", "EC2"} <= {
        s["service"] for s in truth["service_addresses"]
    }
    assert {2, 5, 8} == {fl["version"] for fl in truth["flow_logs"]}
    assert {60, 600} == {
        fl["max_aggregation_interval"] for fl in truth["flow_logs"]
    }


def test_logs_agree_with_truth(tree: tuple[Path, Any]) -> None:
    """Records per binding and first/last seen match what the logs say."""
    out, truth = tree
    by_eni: dict[str, list[Any]] = {}
    services: dict[str, str] = {}
    nat_differs = 0
    nat = {
        e["interface_id"] for e in truth["enis"] if e["kind"] == "nat_gateway"
    }
    for rec in VpcReader([out]).iter_records():
        by_eni.setdefault(rec["interface-id"], []).append(rec)
        for side in ("src", "dst"):
            label = rec.get(f"pkt-{side}-aws-service")
            if label:
                services[str(rec[f"pkt-{side}addr"])] = label
        if rec["interface-id"] in nat and rec.get("pkt-dstaddr") not in (
            None,
            rec["dstaddr"],
        ):
            nat_differs += 1
    assert nat_differs > 0
    truth_services = {
        s["ip"]: s["service"] for s in truth["service_addresses"]
    }
    assert services
    assert all(truth_services[ip] == svc for ip, svc in services.items())
    for binding in truth["bindings"]:
        if binding["role"] != "primary":
            continue
        # the primary IPv4 is the ENI side of every IPv4 flow of the ENI
        recs = [
            r
            for r in by_eni.get(binding["interface"], [])
            if r["log-status"].name == "OK" and r["srcaddr"].version == 4
        ]
        assert binding["records"] == len(recs), binding["interface"]
        if recs:
            assert binding["first_seen"] == min(r["start"] for r in recs)
            assert binding["last_seen"] == max(r["end"] for r in recs)
