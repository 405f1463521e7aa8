# SPDX-License-Identifier: MIT
"""Helpers for the scale-out tests (workers, Dask, S3).

A generated estate in the generator's default format mix (versions 2, 5
and 8: half of it without ``flow-direction``), an ENI inventory written
from its truth, and comparisons of repositories and maps.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from pysilk_ext.cli import rwvpc2silk, rwvpcmapbuild
from pysilk_ext.silkfmt.flowfile import FlowReader
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from tests.conftest import SHARED, load_gen_vpclogs

IP_RANGES = SHARED / "data" / "ip-ranges.json"


def generate_estate(
    out: Path,
    *,
    records: int = 8000,
    seed: int = 11,
    version: int | None = None,
    layout: str = "s3",
) -> Any:
    """Logs (gzip, 2 hours; the generator's version mix unless
    ``version``) and their truth."""
    res = load_gen_vpclogs().generate(
        out,
        records=records,
        seed=seed,
        gzip=True,
        hours=2,
        version=version,
        layout=layout,
    )
    return json.loads(res.truth_path.read_text())


def write_inventory(truth: dict[str, Any], path: Path) -> Path:
    """``describe-network-interfaces`` JSON of the truth's interfaces."""
    items = []
    for e in truth["enis"]:
        item: dict[str, Any] = {
            "NetworkInterfaceId": e["interface_id"],
            "VpcId": e["vpc"],
            "SubnetId": e["subnet"],
            "PrivateIpAddress": e["primary_ipv4"],
            "PrivateIpAddresses": [
                {"PrivateIpAddress": ip, "Primary": ip == e["primary_ipv4"]}
                for ip in [e["primary_ipv4"], *e["secondary_ipv4"]]
            ],
            "Ipv6Addresses": [{"Ipv6Address": e["ipv6"]}] if e["ipv6"] else [],
        }
        if e["instance_id"]:
            item["Attachment"] = {"InstanceId": e["instance_id"]}
        items.append(item)
    path.write_text(json.dumps({"NetworkInterfaces": items}))
    return path


def repository_files(root: Path) -> dict[str, bytes]:
    """Every file of a repository but the ledger (dot-files), by path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def repository_records(root: Path) -> Counter[tuple[str, bytes]]:
    """The records of every hourly file, as a multiset of (file, record):
    what "the same records" means when order may differ."""
    out: Counter[tuple[str, bytes]] = Counter()
    for path in sorted(root.rglob("*")):
        if (
            not path.is_file()
            or path.name.startswith(".")
            or path.parent == root  # silk.conf and its lock
        ):
            continue
        with FlowReader(path) as reader:
            recs = reader.read_all()
        rel = path.relative_to(root).as_posix()
        for row in recs:
            out[(rel, row.tobytes())] += 1
    return out


def ledger_inputs(root: Path) -> list[str]:
    """Inputs the ledger lists as converted (commit lines), in order."""
    ledger = root / ".rwvpc2silk-ledger"
    if not ledger.exists():
        return []
    out = []
    for line in ledger.read_text().splitlines():
        item = json.loads(line)
        if item.get("op") == "commit":
            out.extend(str(e["input"]) for e in item.get("inputs", []))
    return out


def convert(root: Path, *args: str) -> int:
    """rwvpc2silk into ``root`` with progress off."""
    return rwvpc2silk.main(
        ["--root-directory", str(root), "--no-progress", *args]
    )


def build_map(path: Path, *args: str) -> int:
    """rwvpcmapbuild to ``path``."""
    return rwvpcmapbuild.main([f"--output-path={path}", *args])


def statistics_without_timing(text: str) -> list[str]:
    """A ``--print-statistics`` report less its clock-dependent lines."""
    return [
        line
        for line in text.splitlines()
        if not line.startswith(("Seconds", "Records per second"))
    ]


def statistic(text: str, label: str) -> str:
    """The value of ``label:`` in a ``--print-statistics`` report."""
    for line in text.splitlines():
        if line.startswith(label + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no '{label}' in {text!r}")


def flow_multiset(root: Path) -> Counter[bytes]:
    """The records of a repository with class/type and direction blanked:
    "every flow written once, with the same fields and sensor" where the
    learned-state decisions may differ (see tests/test_parallel.py)."""
    out: Counter[bytes] = Counter()
    for (_file, raw), n in repository_records(root).items():
        rec = np.frombuffer(raw, dtype=FLOW_DTYPE).copy()
        rec["flowtype"] = rec["input"] = rec["output"] = 0
        out[rec.tobytes()] += n
    return out
