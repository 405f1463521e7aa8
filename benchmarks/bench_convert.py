# SPDX-License-Identifier: MIT
"""Benchmark rwvpc2silk: .log.gz objects into a SiLK repository.

Why: issue 5 asks how the converter compares, on the same input in the
same run, with (a) the analyst's by-hand pipeline ``zcat | awk | rwtuc``
(target: 5x its throughput, uncompressed and zlib output), (b) the
fastest gzip decompressor alone (target: at least 0.5x its speed), (c)
itself on 10x the input (peak RSS within 20%), and (d) the raw logs'
storage (repository + context map bytes per flow at most half the
``.log.gz`` bytes per record, all information kept).

Data: ``gen_vpclogs.py --version 5 --layout s3 --gzip`` (AWS's standard
v5 field list for every flow log, so that one awk script serves the
by-hand pipeline), 5-minute objects as AWS writes them, cached in
``benchmarks/data/``.  The 10x input is ten copies of the 1x tree (the
conversion is run with ``--force``; records then repeat, which changes
nothing for memory).

Each command runs as a child process; its wall time comes from the
clock and its peak RSS from ``os.wait4``.  The by-hand pipeline is
``zcat FILES | mawk -f vpc2tuc.awk | rwtuc`` (awk turns OK records into
``sIP|dIP|sPort|dPort|protocol|packets|bytes|flags|sTime|eTime``; it
keeps no interface, direction, class/type or cloud context); without
rwtuc the decompress + awk stages alone are timed, and the report says
so.

Usage: python benchmarks/bench_convert.py [--records N] [--repeat R]
       [--skip-memory] [--skip-storage]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE))

import gen_vpclogs as gen  # noqa: E402

AWK = r"""
# VPC v5 (AWS order) -> rwtuc: sip|dip|sport|dport|proto|packets|bytes|
# flags|stime|etime; tcp-flags as SiLK letters.  Header, NODATA, SKIPDATA
# lines fail the log-status test.
function flags(n,   s, i) {
    s = ""
    for (i = 1; i <= 8; i++) {
        if (n % 2) s = s substr("FSRPAUEC", i, 1)
        n = int(n / 2)
    }
    return s
}
$14 == "OK" {
    print $20 "|" $21 "|" $6 "|" $7 "|" $8 "|" $9 "|" $10 "|" flags($18) \
        "|" $11 "|" $12
}
"""
TUC_FIELDS = "sip,dip,sport,dport,protocol,packets,bytes,flags,stime,etime"


@dataclass
class Run:
    """One timed child process."""

    wall: float
    cpu: float
    rss_mb: float


def run_child(cmd: Sequence[str]) -> Run:
    """Run ``cmd``; return wall seconds, CPU seconds and peak RSS (MB).

    ``/usr/bin/time`` reports the peak RSS of the process it starts (a
    fresh one: ``wait4`` from this process would count the pages of the
    fork it is made from).  For a ``bash -c`` pipeline CPU is the sum
    over its processes and RSS the largest one's.
    """
    timer = shutil.which("time", path="/usr/bin:/bin")
    argv = list(cmd)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        if timer is not None:
            argv = [timer, "-f", "%U %S %M", "-o", report.name, *argv]
        start = time.perf_counter()
        proc = subprocess.run(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd!r} failed: {proc.stderr[-2000:]!r}")
        if timer is None:
            return Run(wall, float("nan"), float("nan"))
        user, system, rss_kb = report.read().split()[-3:]
    return Run(wall, float(user) + float(system), int(rss_kb) / 1024)


def best(runs: list[Run]) -> Run:
    """The fastest run (the machine is shared: take a quiet moment)."""
    return min(runs, key=lambda r: r.wall)


# -- data --------------------------------------------------------------


def ensure_data(records: int, seed: int) -> tuple[Path, list[Path], int]:
    """Generate (or reuse) the v5 S3 tree; return it, its objects, flows."""
    base = DATA / f"convert-v5-{records}-s{seed}"
    if not (base / "_truth.json").exists():
        shutil.rmtree(base, ignore_errors=True)
        gen.generate(
            base, records=records, seed=seed, version=5, layout="s3", gzip=True
        )
    files = sorted(base.rglob("*.log.gz"))
    from pysilk_ext.reader import VpcReader

    reader = VpcReader([str(base)])
    for _ in reader:
        pass
    return base, files, reader.stats.totals().flows


def ten_copies(base: Path) -> Path:
    """A tree holding ten copies of ``base`` (hard links where possible)."""
    big = base.with_name(base.name + "-x10")
    if big.exists():
        return big
    tmp = big.with_name(big.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(10):
        shutil.copytree(
            base / "AWSLogs",
            tmp / f"copy{i}" / "AWSLogs",
            copy_function=os.link,
        )
    tmp.rename(big)
    return big


# -- the pipelines -----------------------------------------------------


def ours(
    src: Path, root: Path, compression: str, stats: Path, *extra: str
) -> Run:
    """rwvpc2silk --action=all into a fresh repository."""
    shutil.rmtree(root, ignore_errors=True)
    return run_child(
        [
            sys.executable,
            "-m",
            "pysilk_ext.cli.rwvpc2silk",
            "--action=all",
            f"--root-directory={root}",
            f"--compression-method={compression}",
            f"--print-statistics={stats}",
            "--no-progress",
            *extra,
            str(src),
        ]
    )


def by_hand(
    files: list[Path], awk: Path, out: Path, compression: str | None
) -> Run:
    """zcat | mawk | rwtuc (or without rwtuc: zcat | mawk > /dev/null)."""
    names = " ".join(f"'{f}'" for f in files)
    awk_bin = shutil.which("mawk") or "awk"
    pipeline = f"zcat {names} | {awk_bin} -f '{awk}'"
    if compression is None:
        pipeline += " > /dev/null"
    else:
        out.unlink(missing_ok=True)
        pipeline += (
            f" | rwtuc --fields={TUC_FIELDS} "
            f"--compression-method={compression} --output-path='{out}'"
        )
    return run_child(["/bin/bash", "-c", pipeline])


def decompressors(files: list[Path]) -> dict[str, float]:
    """Seconds to inflate every file, per library (in this process)."""
    blobs = [f.read_bytes() for f in files]
    out: dict[str, float] = {}
    candidates: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("zlib", lambda b: zlib.decompress(b, 31))
    ]
    for name, module, attr in (
        ("isal", "isal.igzip", "decompress"),
        ("zlib-ng", "zlib_ng.gzip_ng", "decompress"),
        ("libdeflate", "deflate", "gzip_decompress"),
    ):
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        candidates.append((name, fn))
    for name, fn in candidates:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for blob in blobs:
                fn(blob)
            times.append(time.perf_counter() - start)
        out[name] = min(times)
    zcat = best([run_child(["zcat", *map(str, files)]) for _ in range(2)]).wall
    out["zcat (process)"] = zcat
    return out


# -- storage -----------------------------------------------------------


def repo_bytes(root: Path) -> int:
    """Bytes of the hourly files (no ledger, no silk.conf)."""
    total = 0
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in names:
            if not name.startswith((".", "silk.conf")):
                total += os.path.getsize(os.path.join(dirpath, name))
    return total


def build_map(src: Path, path: Path) -> int:
    """Bytes of the context map of ``src`` (rwvpcmapbuild or the API)."""
    path.unlink(missing_ok=True)
    try:
        run_child(
            [
                sys.executable,
                "-m",
                "pysilk_ext.cli.rwvpcmapbuild",
                f"--output-path={path}",
                str(src),
            ]
        )
    except RuntimeError:
        from pysilk_ext.ctxmap import ContextMapBuilder
        from pysilk_ext.reader import VpcReader

        builder = ContextMapBuilder()
        for batch in VpcReader([str(src)]):
            builder.add_batch(batch)
        builder.build().write(path)
    return path.stat().st_size


def reencode(root: Path) -> dict[str, float]:
    """Bytes per record of the repository's files, re-encoded variously.

    Each hourly file's records are encoded as FT_RWIPV6ROUTING v1 and
    compressed in SiLK's blocks (64 KiB of records; 1 MiB is the largest
    block SiLK 3.19.1 reads) with each method, in the order written and
    sorted (by sTime; by sIP, dIP, sTime).  Every variant is a file SiLK
    reads; the header (one per file) is counted.
    """
    from pysilk_ext.silkfmt import compression as comp
    from pysilk_ext.silkfmt.flowfile import FlowReader
    from pysilk_ext.silkfmt.flowrec import encode_records
    from pysilk_ext.silkfmt.header import FileFormat

    groups = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in names:
            if name.startswith((".", "silk.conf")):
                continue
            with FlowReader(os.path.join(dirpath, name)) as reader:
                groups.append(reader.read_all().copy())
    n = sum(len(g) for g in groups)

    def v16(col: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(col).view("V16").ravel()

    orders: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {
        "as written": None,
        "by sTime": lambda g: np.argsort(g["stime"], kind="stable"),
        "by sIP,dIP,sTime": lambda g: np.lexsort(
            (g["stime"], v16(g["dip"]), v16(g["sip"]))
        ),
    }
    methods = {"none": 0, "zlib": 1, "lzo1x": 2, "snappy": 3}
    out: dict[str, float] = {}
    for order_name, order in orders.items():
        encoded = [
            bytes(
                encode_records(
                    g if order is None else g[order(g)],
                    FileFormat.FT_RWIPV6ROUTING,
                    1,
                    "little",
                )
            )
            for g in groups
        ]
        for method_name, method in methods.items():
            for block in (65472, 1048560 // 88 * 88):
                if method == 0 and block != 65472:
                    continue
                total = 0
                for data in encoded:
                    total += 88  # header with a packed-file entry
                    if method == 0:
                        total += len(data)
                        continue
                    total += len(comp.encode_blocks(method, data, block))
                label = f"{method_name:6s} {order_name:16s} block {block:7d}"
                out[label] = total / n
    return out


# -- report ------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print figures and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-storage", action="store_true")
    args = ap.parse_args(argv)

    base, files, flows = ensure_data(args.records, args.seed)
    gz_bytes = sum(f.stat().st_size for f in files)
    print(
        f"input: {len(files)} .log.gz objects, {flows:,} flow records, "
        f"{gz_bytes:,} bytes ({gz_bytes / flows:.1f} B/record)"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-convert-", dir=DATA))
    awk = work / "vpc2tuc.awk"
    awk.write_text(AWK)
    have_rwtuc = shutil.which("rwtuc") is not None
    results: dict[str, Run] = {}
    try:
        for compression in ("none", "zlib"):
            results[f"ours {compression}"] = best(
                [
                    ours(
                        base,
                        work / "repo",
                        compression,
                        work / f"stats-{compression}.txt",
                    )
                    for _ in range(args.repeat)
                ]
            )
            results[f"by-hand {compression}"] = best(
                [
                    by_hand(
                        files,
                        awk,
                        work / "byhand.rw",
                        compression if have_rwtuc else None,
                    )
                    for _ in range(args.repeat)
                ]
            )
            if compression == "zlib":
                tuc_bytes = (
                    (work / "byhand.rw").stat().st_size if have_rwtuc else 0
                )
        print()
        print("(a) throughput, best of", args.repeat)
        if not have_rwtuc:
            print("    rwtuc absent: by-hand = zcat | awk stages only")
        for compression in ("none", "zlib"):
            mine = results[f"ours {compression}"]
            hand = results[f"by-hand {compression}"]
            for who, r in (("ours   ", mine), ("by-hand", hand)):
                print(
                    f"    {compression:5s} {who} {r.wall:6.2f} s "
                    f"{flows / r.wall / 1e6:5.2f} M rec/s  "
                    f"cpu {r.cpu:5.2f} s  rss {r.rss_mb:5.0f} MB"
                )
            print(
                f"    {compression:5s} ratio   {hand.wall / mine.wall:5.2f}x "
                "(target >= 5x)"
            )

        dry = best(
            [
                run_child(
                    [
                        sys.executable,
                        "-m",
                        "pysilk_ext.cli.rwvpc2silk",
                        "--action=all",
                        "--dry-run",
                        f"--print-statistics={work / 'dry.txt'}",
                        "--no-progress",
                        str(base),
                    ]
                )
                for _ in range(args.repeat)
            ]
        )
        startup = best(
            [
                run_child(
                    [sys.executable, "-c", "import pysilk_ext.cli.rwvpc2silk"]
                )
                for _ in range(args.repeat)
            ]
        )
        print(
            f"    stages: --dry-run (read + convert, no output) "
            f"{dry.wall:5.2f} s ({flows / dry.wall / 1e6:4.2f} M rec/s); "
            f"start-up (imports) {startup.wall:4.2f} s"
        )

        print()
        print("(b) against decompression alone")
        dec = decompressors(files)
        for name, secs in sorted(dec.items(), key=lambda kv: kv[1]):
            print(f"    {name:16s} {secs:6.2f} s")
        fastest = min(dec.values())
        mine = results["ours none"]
        print(
            f"    ours (none) / fastest: {fastest / mine.wall:5.2f}x "
            "(target >= 0.5x)"
        )

        if not args.skip_memory:
            print()
            print("(c) peak RSS, 1x vs 10x input")
            big = ten_copies(base)
            one = results["ours zlib"]
            ten = ours(
                big, work / "repo10", "zlib", work / "stats10.txt", "--force"
            )
            print(
                f"    1x  {one.rss_mb:6.0f} MB  ({flows:,} records, "
                f"{one.wall:5.1f} s)"
            )
            print(
                f"    10x {ten.rss_mb:6.0f} MB  ({10 * flows:,} records, "
                f"{ten.wall:5.1f} s)"
            )
            print(f"    ratio {ten.rss_mb / one.rss_mb:5.2f} (target 0.8-1.2)")
            shutil.rmtree(work / "repo10", ignore_errors=True)

        if not args.skip_storage:
            print()
            print("(d) storage per flow record")
            ours(base, work / "repo", "zlib", work / "stats-s.txt")
            map_bytes = build_map(base, work / "cloud.vpcmap")
            repo = repo_bytes(work / "repo")
            print(f"    .log.gz (AWS gzip)          {gz_bytes / flows:6.2f} B")
            if have_rwtuc:
                print(
                    f"    rwtuc zlib, one file        "
                    f"{tuc_bytes / flows:6.2f} B"
                    "  (no sensor, type, nhIP, memo, context)"
                )
            print(
                f"    ours zlib repository        {repo / flows:6.2f} B"
                f"  + map {map_bytes / flows:5.2f} B = "
                f"{(repo + map_bytes) / flows:6.2f} B "
                f"({(repo + map_bytes) / gz_bytes:5.1%} of .log.gz; "
                "target <= 50%)"
            )
            print("    the same records re-encoded (B/record, + map):")
            variants = reencode(work / "repo")
            for label, per in sorted(variants.items(), key=lambda kv: kv[1]):
                total = per + map_bytes / flows
                print(
                    f"      {label}  {per:6.2f} B  "
                    f"({total * flows / gz_bytes:5.1%} of .log.gz)"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
