# SPDX-License-Identifier: MIT
"""Benchmark the VPC Flow Log reader against baselines run alongside it.

Why: issue 2 asks for (a) at least 10x a plain Python split-and-convert
parser on uncompressed v5 text, with every field typed, and (b) a full
read of a ``.log.gz`` at no less than half the speed of the fastest
decompressor available decompressing the same input alone.  Ratios are
only meaningful when both sides run on the same machine at the same
time, so every figure below is measured in this run.

Data: ``--records`` version-5 records (AWS's 29 fields in table order)
from ``gen_vpclogs.py`` (one file, header first), cached in
``benchmarks/data/``; the ``.log.gz`` is the same text gzip-compressed at
level 6.

Usage: ``python benchmarks/bench_reader.py [--records N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_vpclogs as gen

from pysilk_ext.reader import VpcReader

DATA = Path(__file__).resolve().parent / "data"
OUT_BLOCK = 2 << 20


def ensure_data(records: int, seed: int) -> tuple[Path, Path, int]:
    """Generate (or reuse) the v5 text and its gzip; return paths, lines."""
    base = DATA / f"v5-{records}-s{seed}"
    text = base / "flows.log"
    gz = base / "flows.log.gz"
    if not text.exists() or not gz.exists():
        gen.generate(
            base, records=records, seed=seed, version=5, layout="flat"
        )
        gz.write_bytes(gen.gzip_bytes(text.read_bytes(), 6))
    with text.open("rb") as fh:
        nrec = sum(1 for _ in fh) - 1  # minus the header
    return text, gz, nrec


# -- baselines ---------------------------------------------------------------
V5 = gen.FIELDS_V5
NUMERIC = [
    i
    for i, name in enumerate(V5)
    if name
    in [
        "version",
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
]
STATUS = V5.index("log-status")


def python_split(path: Path) -> int:
    """The issue's baseline: str.split + int on numeric fields."""
    n = 0
    with path.open() as fh:
        next(fh)
        for line in fh:
            parts = line.split()
            if parts[STATUS] != "OK":
                continue
            [int(parts[i]) if parts[i] != "-" else None for i in NUMERIC]
            n += 1
    return n


def python_csv(path: Path) -> int:
    """The same conversion on csv.reader's rows."""
    n = 0
    with path.open(newline="") as fh:
        rows = csv.reader(fh, delimiter=" ")
        next(rows)
        for parts in rows:
            if parts[STATUS] != "OK":
                continue
            [int(parts[i]) if parts[i] != "-" else None for i in NUMERIC]
            n += 1
    return n


def ours(path: Path, *, threads: bool = True) -> int:
    """Our reader, every field typed (columns), all records counted.

    ``threads=False`` runs everything in this thread (no read-ahead, no
    parse workers): the one-core figure.
    """
    reader = VpcReader(
        [path], read_ahead=threads, parse_threads=2 if threads else 1
    )
    return sum(batch.n for batch in reader)


# -- decompressors alone -----------------------------------------------------
def zlib_like(module: str) -> Callable[[bytes], int]:
    """Streaming inflate in 2 MiB output blocks (how the reader uses it)."""
    mod = importlib.import_module(module)

    def run(data: bytes) -> int:
        total = 0
        dec = mod.decompressobj(31)
        buf = data
        while buf:
            out = dec.decompress(buf, OUT_BLOCK)
            total += len(out)
            buf = dec.unconsumed_tail
            if dec.eof:
                buf = dec.unused_data
                dec = mod.decompressobj(31)
        return total

    return run


def libdeflate() -> Callable[[bytes], int]:
    """libdeflate has no streaming API: one call on the whole buffer."""
    mod = importlib.import_module("deflate")

    def run(data: bytes) -> int:
        return len(mod.gzip_decompress(data))

    return run


DECOMPRESSORS: list[tuple[str, Callable[[], Callable[[bytes], int]]]] = [
    ("stdlib zlib", lambda: zlib_like("zlib")),
    ("isal (isal_zlib)", lambda: zlib_like("isal.isal_zlib")),
    ("zlib-ng", lambda: zlib_like("zlib_ng.zlib_ng")),
    ("libdeflate (deflate)", libdeflate),
]


@dataclass
class Case:
    """One thing to time: its name, group, records and the best run."""

    group: str
    name: str
    records: int
    func: Callable[[], object]
    wall: float = float("inf")
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        """Records per second of the fastest run."""
        return self.records / self.wall


def run_rounds(cases: list[Case], repeat: int) -> None:
    """Time every case once per round, ``repeat`` rounds; keep the best.

    Interleaving the cases makes a change of load on this shared machine
    hit all of them alike instead of biasing one ratio; the fastest run
    of each is the least disturbed.  CPU time above wall time shows the
    second core at work.
    """
    for _ in range(repeat):
        for case in cases:
            t0, c0 = time.perf_counter(), time.process_time()
            case.func()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if wall < case.wall:
                case.wall, case.cpu = wall, cpu


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--baseline-records",
        type=int,
        default=200_000,
        help="lines the slow Python baselines parse (rate extrapolates)",
    )
    args = ap.parse_args(argv)
    text, gz, nrec = ensure_data(args.records, args.seed)
    gz_bytes = gz.read_bytes()
    out = io.StringIO()

    # The Python baselines run on a prefix (they are slow); records/s is
    # what matters and does not depend on the length.
    small = DATA / f"v5-{args.records}-s{args.seed}" / "prefix.log"
    if not small.exists():
        with text.open("rb") as src, small.open("wb") as dst:
            for i, line in enumerate(src):
                if i > args.baseline_records:
                    break
                dst.write(line)
    nsmall = min(args.baseline_records, nrec)
    split = Case(
        "text", "Python str.split + int", nsmall, lambda: python_split(small)
    )
    csv_case = Case(
        "text", "Python csv.reader + int", nsmall, lambda: python_csv(small)
    )
    text_one = Case(
        "text", "ours, one thread", nrec, lambda: ours(text, threads=False)
    )
    text_ours = Case(
        "text", "ours (read-ahead + 2 parse threads)", nrec, lambda: ours(text)
    )
    decs: list[Case] = []
    for name, factory in DECOMPRESSORS:
        try:
            run = factory()
        except ImportError:
            print(f"({name} not installed)", file=out)
            continue
        decs.append(
            Case(
                "gzip",
                f"decompress only: {name}",
                nrec,
                lambda run=run: run(gz_bytes),
            )
        )
    gz_one = Case(
        "gzip",
        "ours .log.gz, one thread",
        nrec,
        lambda: ours(gz, threads=False),
    )
    gz_ours = Case(
        "gzip", "ours .log.gz (read-ahead + 2 parse)", nrec, lambda: ours(gz)
    )
    cases = [split, csv_case, text_one, text_ours, *decs, gz_one, gz_ours]
    run_rounds(cases, args.repeat)
    rows = [(c.group, c.name, c.wall, c.cpu, c.rate) for c in cases]
    r_split, r_csv = split.rate, csv_case.rate
    r_ours_serial, r_ours_text = text_one.rate, text_ours.rate
    r_ours_gz_serial, r_ours_gz = gz_one.rate, gz_ours.rate
    dec_rates = {c.name.split(": ", 1)[1]: c.rate for c in decs}
    fastest = max(dec_rates, key=dec_rates.__getitem__)

    print(
        f"VPC reader benchmark: {nrec} v5 records "
        f"({text.stat().st_size / 1e6:.0f} MB text, "
        f"{gz.stat().st_size / 1e6:.1f} MB gzip), best of {args.repeat} "
        "interleaved rounds"
    )
    print(f"{'':2}{'what':40} {'wall s':>8} {'cpu s':>7} {'records/s':>12}")
    for group, name, secs, cpu, r in rows:
        print(f"{group[:1]:2}{name:40} {secs:8.3f} {cpu:7.3f} {r:12,.0f}")
    # "ours" is the better of the two set-ups: the issue allows the
    # second core "if it helps", and on a machine shared with others it
    # may not (the threaded rows then show cpu s close to wall s)
    best_text = max(r_ours_text, r_ours_serial)
    best_gz = max(r_ours_gz, r_ours_gz_serial)
    r_fast = dec_rates[fastest]
    print()
    print("Ratios (same run; ours = the faster of one thread and threaded):")
    print(
        f"  text: ours / str.split+int  = {best_text / r_split:6.1f}x"
        f"   (target >= 10x)"
    )
    print(f"  text: ours / csv.reader+int = {best_text / r_csv:6.1f}x")
    print(
        f"  text: one thread / str.split+int = "
        f"{r_ours_serial / r_split:6.1f}x, threaded / one thread = "
        f"{r_ours_text / r_ours_serial:5.2f}x"
    )
    print(
        f"  gzip: ours / fastest decompressor ({fastest}) = "
        f"{best_gz / r_fast:5.2f}x   (target >= 0.5x)"
    )
    print(
        f"  gzip: one thread / {fastest} = {r_ours_gz_serial / r_fast:5.2f}x"
        f", threaded / one thread = {r_ours_gz / r_ours_gz_serial:5.2f}x"
    )
    sys.stdout.write(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
