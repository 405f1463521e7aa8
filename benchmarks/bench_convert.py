# SPDX-License-Identifier: MIT
"""Benchmark rwvpc2silk: .log.gz objects into a SiLK repository.

Why: issue 5 asks how the converter compares, on the same input in the
same run, with (a) the analyst's by-hand pipeline ``zcat | awk | rwtuc``
(target: 5x its throughput, uncompressed and zlib output), (b) the
fastest gzip decompressor alone (target: at least 0.5x its speed), (c)
itself on 10x the input (peak RSS within 20%), and (d) the raw logs'
storage (repository + context map bytes per flow at most half the
``.log.gz`` bytes per record, all information kept).  It also prints
where the time goes (stage costs measured in this process) and which
storage choice buys what (the same records re-encoded, step by step).

Data: ``gen_vpclogs.py --version 5 --layout s3 --gzip`` (AWS's standard
v5 field list for every flow log, so that one awk script serves the
by-hand pipeline), 5-minute objects as AWS writes them, cached in
``benchmarks/data/``.  The 10x input is ten copies of the 1x tree (the
conversion is run with ``--force``; records then repeat, which changes
nothing for memory).

Each command runs as a child process; its wall time comes from the
clock, its CPU time and peak RSS from ``/usr/bin/time``.  The package is
byte-compiled first (:func:`compile_package`), so that the children
start from ``.pyc`` files as an installed copy does.  The machine
may be shared: runs of ours and of the by-hand pipeline alternate and
the best of ``--repeat`` is kept for each, and CPU seconds are printed
next to wall seconds.  The by-hand pipeline is ``zcat FILES | mawk -f
vpc2tuc.awk | rwtuc`` (awk turns OK records into
``sIP|dIP|sPort|dPort|protocol|packets|bytes|flags|sTime|eTime``; it
keeps no interface, direction, class/type or cloud context); without
rwtuc the decompress + awk stages alone are timed, and the report says
so.

Usage: python benchmarks/bench_convert.py [--records N] [--repeat R]
       [--skip-memory] [--skip-storage] [--skip-stages]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import lzma
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
#: Our runs: label -> extra switches (compression and level).
OURS = {
    "none": ["--compression-method=none"],
    "zlib": ["--compression-method=zlib"],  # level 6, the default
    "zlib-1": ["--compression-method=zlib", "--compression-level=1"],
}


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


def compile_package() -> None:
    """Write the package's .pyc files, as installing it would.

    Why: with ``PYTHONDONTWRITEBYTECODE`` set (as in CI and here) every
    child process would compile the ~50 modules it imports again, some
    0.1 s that no installed copy pays.
    """
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "pysilk_ext")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


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


def retire(path: Path) -> None:
    """Move an earlier run's output out of the way, deleted at the end.

    Why not delete it now: on ext4 without a journal (this machine's
    disk) the inodes of thousands of files deleted a moment ago slow
    down every file created in the next minute (the allocator skips
    "recently deleted" inodes), which would charge the benchmark's own
    clean-up to the next run -- by 0.1-0.2 s here.  A repository that
    takes hourly conversions deletes nothing.
    """
    if path.exists():
        graveyard = path.parent / ".retired"
        graveyard.mkdir(exist_ok=True)
        path.rename(graveyard / f"{path.name}.{time.monotonic_ns()}")


def ours(src: Path, root: Path, stats: Path, *extra: str) -> Run:
    """rwvpc2silk --action=all into a fresh repository."""
    retire(root)
    return run_child(
        [
            sys.executable,
            "-m",
            "pysilk_ext.cli.rwvpc2silk",
            "--action=all",
            f"--root-directory={root}",
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


# -- where the time goes -------------------------------------------------


def stage_costs(src: Path, work: Path) -> list[tuple[str, float]]:
    """Seconds of each stage of a repository conversion, one at a time.

    Measured in this process on the whole input, each stage alone (the
    command overlaps them in threads): reading (gzip + C tokeniser, with
    its parse threads), conversion, grouping by hourly file with the
    record order, encoding, compression at a few zlib levels, and the
    commits (files, fsyncs, ledger) with compression off.
    """
    from pysilk_ext.cli._vpcsinks import record_order
    from pysilk_ext.convert import Converter
    from pysilk_ext.convert.config import ActionSelection, ConvertConfig
    from pysilk_ext.convert.ledger import Ledger
    from pysilk_ext.reader import VpcReader
    from pysilk_ext.silkfmt import compression as comp
    from pysilk_ext.silkfmt.appender import (
        AUTO_FORMAT,
        RepositoryWriter,
        _group_by_key,
    )
    from pysilk_ext.silkfmt.flowrec import TCP_STATE_IPV6, encode_records
    from pysilk_ext.silkfmt.header import FileFormat
    from pysilk_ext.silkfmt.siteconf import load_siteconf

    root = work / "stages"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    shutil.copyfile(REPO / "share" / "silk.conf", root / "silk.conf")
    out: list[tuple[str, float]] = []

    def timed(label: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = fn()
        out.append((label, time.perf_counter() - start))
        return result

    batches = timed("read (gzip + tokenise)", lambda: list(VpcReader([src])))
    conv = Converter(
        dataclasses.replace(ConvertConfig(), action=ActionSelection.ALL),
        site=load_siteconf(root / "silk.conf"),
        site_path=root / "silk.conf",
    )
    recs = timed("convert", lambda: [conv.convert(b) for b in batches])
    rows = np.concatenate(recs)  # type: ignore[call-overload]
    groups = timed(
        "group by hourly file + order",
        lambda: list(_group_by_key(rows, record_order(rows))),
    )

    def encode() -> list[bytes]:
        encoded = []
        for _, part in groups:  # type: ignore[attr-defined]
            if (part["tcp_state"] & TCP_STATE_IPV6).any():
                layout = (FileFormat.FT_RWIPV6ROUTING, 1)
            else:
                layout = (FileFormat.FT_RWGENERIC, 5)
            encoded.append(bytes(encode_records(part, *layout, "little")))
        return encoded

    encoded = timed("encode (format per file)", encode)
    for level in (None, 1, 6, 9):
        squeeze = comp.zlib_compressor(level)
        name = "zlib (stdlib, SiLK's)" if level is None else f"zlib {level}"
        timed(
            f"compress {name}",
            lambda squeeze=squeeze: [
                squeeze(data[i : i + comp.MAX_BLOCK_LENGTH - 1024])
                for data in encoded  # type: ignore[attr-defined]
                for i in range(0, len(data), comp.MAX_BLOCK_LENGTH - 1024)
            ],
        )

    def commit() -> None:
        ledger = Ledger(root / "data")
        writer = RepositoryWriter(
            root / "data",
            load_siteconf(root / "silk.conf"),
            file_format=AUTO_FORMAT,
            before_commit=ledger.before_commit,
            before_commits=ledger.before_commits,
            workers=2,
        )
        writer.commit_rows(rows, record_order(rows))
        writer.close()
        ledger.commit([])
        ledger.close()

    timed("commit, no compression (files, fsync, ledger)", commit)
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


def reencode(root: Path) -> tuple[int, list[tuple[str, float]]]:
    """Bytes per record of the repository's records, encoded step by step.

    Starts from what SiLK itself writes (FT_RWIPV6ROUTING v1, arrival
    order, 64 KiB blocks, zlib's default level) and adds one choice at a
    time: the record format per file, the record order, 1 MiB blocks,
    then higher levels.  Every step but the last is a file SiLK reads;
    the last (xz, not a SiLK method) only shows how much information the
    records hold.  One 88-byte header per file is counted.
    """
    from pysilk_ext.cli._vpcsinks import LARGE_BLOCK, record_order
    from pysilk_ext.silkfmt import compression as comp
    from pysilk_ext.silkfmt.flowfile import FlowReader
    from pysilk_ext.silkfmt.flowrec import TCP_STATE_IPV6, encode_records
    from pysilk_ext.silkfmt.header import FileFormat

    files = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in names:
            if not name.startswith((".", "silk.conf")):
                with FlowReader(os.path.join(dirpath, name)) as reader:
                    rows = reader.read_all().copy()
                # arrival order: the order the converter produced them
                files.append(rows[np.argsort(rows["stime"], kind="stable")])
    n = sum(len(f) for f in files)

    def size(
        *,
        per_file: bool,
        ordered: bool,
        block: int,
        squeeze: Callable[[bytes], object],
    ) -> float:
        total = 0
        for rows in files:
            part = rows[np.argsort(record_order(rows))] if ordered else rows
            layout = (FileFormat.FT_RWIPV6ROUTING, 1)
            if per_file and not (part["tcp_state"] & TCP_STATE_IPV6).any():
                layout = (FileFormat.FT_RWGENERIC, 5)
            data = bytes(encode_records(part, *layout, "little"))
            step = comp.block_size_for(len(data) // len(part), block)
            total += 88 + sum(
                comp.BLOCK_PREFIX.size + len(squeeze(data[i : i + step]))  # type: ignore[arg-type]
                for i in range(0, len(data), step)
            )
        return total / n

    silk = comp.zlib_compressor(None)
    steps: list[tuple[str, dict[str, object]]] = [
        ("SiLK's own: 88 B records, arrival order, 64 KiB, zlib", {}),
        ("+ FT_RWGENERIC for all-IPv4 files", {"per_file": True}),
        ("+ order by duration, start", {"per_file": True, "ordered": True}),
        (
            "+ 1 MiB blocks",
            {"per_file": True, "ordered": True, "block": LARGE_BLOCK},
        ),
    ]
    for level in (1, 6, 9, 12):
        steps.append(
            (
                f"  the same at --compression-level={level}",
                {
                    "per_file": True,
                    "ordered": True,
                    "block": LARGE_BLOCK,
                    "squeeze": comp.zlib_compressor(level),
                },
            )
        )
    steps.append(
        (
            "  (xz, not readable by SiLK: information bound)",
            {
                "per_file": True,
                "ordered": True,
                "block": LARGE_BLOCK,
                "squeeze": lambda b: lzma.compress(b, preset=6),
            },
        )
    )
    out = []
    for label, kw in steps:
        options: dict[str, object] = {
            "per_file": False,
            "ordered": False,
            "block": comp.WRITER_BLOCK_SIZE,
            "squeeze": silk,
            **kw,
        }
        out.append((label, size(**options)))  # type: ignore[arg-type]
    return n, out


# -- report ------------------------------------------------------------


def _rate(flows: int, run: Run) -> str:
    return (
        f"{run.wall:6.2f} s {flows / run.wall / 1e6:5.2f} M rec/s  "
        f"cpu {run.cpu:5.2f} s  rss {run.rss_mb:5.0f} MB"
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print figures and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-storage", action="store_true")
    ap.add_argument("--skip-stages", action="store_true")
    args = ap.parse_args(argv)

    base, files, flows = ensure_data(args.records, args.seed)
    gz_bytes = sum(f.stat().st_size for f in files)
    compile_package()
    print(
        f"input: {len(files)} .log.gz objects, {flows:,} flow records, "
        f"{gz_bytes:,} bytes ({gz_bytes / flows:.1f} B/record); "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(
        "    pysilk_ext byte-compiled first (python -m compileall -q), as "
        "an installed package is:\n    child processes do not recompile "
        "it even with PYTHONDONTWRITEBYTECODE set"
    )
    DATA.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-convert-", dir=DATA))
    awk = work / "vpc2tuc.awk"
    awk.write_text(AWK)
    have_rwtuc = shutil.which("rwtuc") is not None
    verdicts: list[str] = []
    try:
        mine: dict[str, list[Run]] = {label: [] for label in OURS}
        hand: dict[str, list[Run]] = {"none": [], "zlib": []}
        for _ in range(args.repeat):  # alternate: the same load for both
            for label, extra in OURS.items():
                mine[label].append(
                    ours(base, work / "repo", work / "stats.txt", *extra)
                )
            for method, runs in hand.items():
                runs.append(
                    by_hand(
                        files,
                        awk,
                        work / f"byhand-{method}.rw",
                        method if have_rwtuc else None,
                    )
                )
        results = {k: best(v) for k, v in mine.items()}
        hands = {k: best(v) for k, v in hand.items()}
        print()
        print(f"(a) throughput, best of {args.repeat} (target: ours >= 5x)")
        if not have_rwtuc:
            print("    rwtuc absent: by-hand = zcat | awk stages only")
        for label, run in results.items():
            method = label.split("-")[0]
            hand_run = hands[method]
            ratio = hand_run.wall / run.wall
            print(f"    {label:7s} ours    {_rate(flows, run)}")
            if label == method:
                print(f"    {method:7s} by-hand {_rate(flows, hand_run)}")
            print(
                f"    {label:7s} ratio {ratio:5.2f}x by wall, "
                f"{hand_run.cpu / run.cpu:5.2f}x by CPU"
            )
            if label == method:
                verdicts.append(
                    f"5x by-hand ({method}): {ratio:.2f}x -- "
                    f"{_verdict(ratio >= 5)}"
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
            f"    --dry-run (read + convert, no output): {_rate(flows, dry)}"
        )
        print(
            f"    start-up (imports) {startup.wall:4.2f} s; per-run "
            f"overhead beyond --dry-run: none "
            f"{results['none'].wall - dry.wall:4.2f} s, zlib "
            f"{results['zlib'].wall - dry.wall:4.2f} s"
        )

        print()
        print("(b) against decompression alone (target: ours >= 0.5x)")
        dec = decompressors(files)
        for name, secs in sorted(dec.items(), key=lambda kv: kv[1]):
            print(f"    {name:16s} {secs:6.2f} s")
        fastest = min(dec.values())
        ratio = fastest / results["none"].wall
        print(f"    ours (none) / fastest: {ratio:5.2f}x")
        verdicts.append(
            f"0.5x fastest decompressor: {ratio:.2f}x -- "
            f"{_verdict(ratio >= 0.5)}"
        )

        if not args.skip_stages:
            print()
            print("    where the time goes (each stage alone, this process):")
            for label, secs in stage_costs(base, work):
                print(
                    f"      {label:46s} {secs:5.2f} s "
                    f"({flows / secs / 1e6:5.2f} M rec/s)"
                )

        if not args.skip_memory:
            print()
            print("(c) peak RSS, 1x vs 10x input (target: 0.8-1.2)")
            big = ten_copies(base)
            one = results["zlib"]
            ten = ours(
                big,
                work / "repo10",
                work / "stats10.txt",
                "--force",
                *OURS["zlib"],
            )
            print(
                f"    1x  {one.rss_mb:6.0f} MB  ({flows:,} records, "
                f"{one.wall:5.1f} s)"
            )
            print(
                f"    10x {ten.rss_mb:6.0f} MB  ({10 * flows:,} records, "
                f"{ten.wall:5.1f} s, {10 * flows / ten.wall / 1e6:4.2f} "
                "M rec/s)"
            )
            ratio = ten.rss_mb / one.rss_mb
            print(f"    ratio {ratio:5.2f}")
            verdicts.append(
                f"flat memory: {ratio:.2f} -- {_verdict(0.8 <= ratio <= 1.2)}"
            )
            shutil.rmtree(work / "repo10", ignore_errors=True)

        if not args.skip_storage:
            print()
            print(
                "(d) storage per flow record (target: repository + map "
                "<= 50% of .log.gz)"
            )
            map_bytes = build_map(base, work / "cloud.vpcmap")
            map_per = map_bytes / flows
            col = 33  # label width
            print(
                f"    {'.log.gz (AWS gzip)':{col}s}{gz_bytes / flows:6.2f} B"
            )
            if have_rwtuc:
                tuc = (work / "byhand-zlib.rw").stat().st_size
                print(
                    f"    {'rwtuc zlib, one file':{col}s}{tuc / flows:6.2f} B"
                    "  (10 fields: no sensor, type, nhIP, memo, context)"
                )
            print(f"    {'context map':{col}s}{map_per:6.2f} B")
            for label, extra in (
                ("zlib", OURS["zlib"]),
                ("zlib --compression-level=12", [*OURS["zlib"],
                                                 "--compression-level=12"]),
            ):  # fmt: skip
                ours(base, work / "repo", work / "stats.txt", *extra)
                repo = repo_bytes(work / "repo")
                share = (repo + map_bytes) / gz_bytes
                print(
                    f"    ours, {label:27s} {repo / flows:6.2f} B + map = "
                    f"{(repo + map_bytes) / flows:6.2f} B ({share:5.1%} of "
                    ".log.gz)"
                )
                verdicts.append(
                    f"storage <= 50% ({label}): {share:.1%} -- "
                    f"{_verdict(share <= 0.5)}"
                )
            print("    the same records, one storage choice at a time:")
            _, steps = reencode(work / "repo")
            for label, per in steps:
                share = (per + map_per) * flows / gz_bytes
                print(f"      {label:52s} {per:6.2f} B ({share:5.1%})")

        print()
        print("targets (issue 5), this run:")
        for line in verdicts:
            print(f"    {line}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
