# SPDX-License-Identifier: MIT
"""Write the tiny sample logs of ``share/samples/`` (reproducibly).

Why: ``make demo`` and the tests read one small, real-shaped example of
every container and layout the reader supports.  They are cut from one
:mod:`gen_vpclogs` run (fixed seed) so that they share one topology, and
rewritten by running this script; stdlib zlib is used for gzip so that
the bytes do not depend on which faster library is installed.

Files (all a few KB):

* ``seed-sample-v5.log`` -- the 31 FloCon seed rows (custom v5 order);
* ``AWSLogs/<acct>/vpcflowlogs/us-east-1/2026/08/01/<S3 name>.log.gz`` --
  the v2 default format, gzip, S3 key layout;
* ``custom-v5-alphabetical.log`` -- a custom (alphabetical "select all")
  v5 format with NODATA and SKIPDATA lines;
* ``ipv6-v8.log`` -- IPv6 flows (ICMPv6 included) in a v8 format
  (default fields + ``reject-reason``, with a ``BPA`` reject);
* ``cloudwatch-subscription.json`` -- CloudWatch Logs subscription
  envelopes (one per line, a CONTROL_MESSAGE first), default format;
* ``firehose-records`` -- Firehose ``{"message": ...}`` records, default
  format, no extension (as Firehose names its objects);
* ``AWSLogs/aws-account-id=.../.../<S3 name>.log.parquet`` -- Parquet as
  AWS writes it (underscored columns, typed ints, nulls, GZIP), in the
  Hive-style layout.

Usage: ``python benchmarks/gen_samples.py [--out share/samples]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_vpclogs as gen

REPO = Path(__file__).resolve().parents[1]
SEED_SAMPLE = REPO.parent / "shared" / "data" / "seed-sample-v5.log"
SEED = 20260801


def _gzip(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def _rows_of(
    topo: gen.Topology,
    cols: dict[str, Any],
    vpc_index: int,
    *,
    want: int,
    extra: Any = None,
) -> Any:
    """Up to ``want`` time-ordered rows captured in one VPC (+ extras)."""
    eni_vpc = np.array([e.vpc_index for e in topo.enis])[cols["eni"]]
    rows = np.flatnonzero(eni_vpc == vpc_index)
    if extra is not None:
        chosen = np.union1d(rows[:want], rows[extra[rows]][:6])
    else:
        chosen = rows[:want]
    order = np.lexsort((cols["start"][chosen], cols["end"][chosen]))
    return chosen[order]


def write_samples(out: Path) -> list[Path]:
    """Write every sample under ``out``; return their paths."""
    rng = np.random.default_rng(SEED)
    topo = gen.build_topology(
        rng, hours=1, version=None, ip_ranges=gen.DEFAULT_IP_RANGES
    )
    cols = gen.generate_records(topo, rng, 4000)
    text = gen.render_columns(topo, cols)
    status = cols["log-status"]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    # 1. the seed rows, as given
    seed = out / "seed-sample-v5.log"
    shutil.copyfile(SEED_SAMPLE, seed)
    written.append(seed)

    # 2. v2 default format, gzip, S3 key layout (second VPC's flow log)
    fl_v2 = topo.flow_logs[1]
    rows = _rows_of(topo, cols, 1, want=40, extra=status != "OK")
    key = gen.object_key(
        fl_v2, gen.T0, layout="s3", hourly=False, suffix=".log.gz", rng=rng
    )
    body = "\n".join(
        [" ".join(fl_v2.fields), *gen.render_lines(text, fl_v2.fields, rows)]
    )
    path = out / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gzip((body + "\n").encode()))
    written.append(path)

    # 3. alphabetical custom v5 with NODATA/SKIPDATA
    fl_alpha = topo.flow_logs[3]
    rows = _rows_of(topo, cols, 3, want=24, extra=status != "OK")
    path = out / "custom-v5-alphabetical.log"
    lines = gen.render_lines(text, fl_alpha.fields, rows)
    path.write_text("\n".join([" ".join(fl_alpha.fields), *lines]) + "\n")
    written.append(path)

    # 4. IPv6 in a v8 format
    fl_v8 = topo.flow_logs[2]
    v6 = cols["type"] == "IPv6"
    bpa = cols["reject-reason"] == "BPA"
    eni_vpc = np.array([e.vpc_index for e in topo.enis])[cols["eni"]]
    rows = np.flatnonzero(v6 & (eni_vpc == 2))
    rows = np.union1d(rows[:20], np.flatnonzero(bpa & v6)[:2])
    rows = rows[np.lexsort((cols["start"][rows], cols["end"][rows]))]
    path = out / "ipv6-v8.log"
    lines = gen.render_lines(text, fl_v8.fields, rows)
    path.write_text("\n".join([" ".join(fl_v8.fields), *lines]) + "\n")
    written.append(path)

    # 5. CloudWatch Logs subscription envelopes (default format, no header)
    rows = _rows_of(topo, cols, 1, want=30)
    lines = gen.render_lines(text, fl_v2.fields, rows)
    ifaces = text["interface-id"][rows].tolist()
    starts = cols["start"][rows].tolist()
    envelopes: list[dict[str, Any]] = [
        {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [
                {
                    "id": "",
                    "timestamp": gen.T0 * 1000,
                    "message": "CWL CONTROL MESSAGE: Checking health of "
                    "destination Firehose.",
                }
            ],
        }
    ]
    for iface in sorted(set(ifaces)):
        events = [
            {
                "id": f"{starts[i]:028d}{i:028d}",
                "timestamp": starts[i] * 1000,
                "message": lines[i],
            }
            for i in range(len(lines))
            if ifaces[i] == iface
        ]
        envelopes.append(
            {
                "messageType": "DATA_MESSAGE",
                "owner": fl_v2.account,
                "logGroup": "vpc-flow-logs",
                "logStream": f"{iface}-all",
                "subscriptionFilters": ["to-firehose"],
                "logEvents": events,
            }
        )
    path = out / "cloudwatch-subscription.json"
    path.write_text(
        "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in envelopes)
    )
    written.append(path)

    # 6. Firehose records wrapped as {"message": ...}
    rows = _rows_of(topo, cols, 1, want=60)[30:]
    lines = gen.render_lines(text, fl_v2.fields, rows)
    path = out / "firehose-records"
    path.write_text(
        "".join(json.dumps({"message": ln}) + "\n" for ln in lines)
    )
    written.append(path)

    # 7. Parquet, Hive-style layout
    rows = _rows_of(topo, cols, 2, want=30, extra=status != "OK")
    key = gen.object_key(
        fl_v8,
        gen.T0,
        layout="hive",
        hourly=False,
        suffix=".log.parquet",
        rng=rng,
    )
    path = out / key
    path.parent.mkdir(parents=True, exist_ok=True)
    gen.write_parquet(path, text, fl_v8.fields, rows)
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out DIR`` (default ``share/samples``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "share" / "samples")
    args = ap.parse_args(argv)
    for path in write_samples(args.out):
        print(f"{path.stat().st_size:7d} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
