# SPDX-License-Identifier: MIT
"""Benchmark: writing a SiLK repository and appending to hourly files.

Figures (best of ``--repeat``), each with its baseline from the same run:

* RepositoryWriter splitting N records over many hourly files, versus
  FlowWriter writing the same records to one file (the cost of the
  split, spooling, locking and the atomic commit per file);
* one commit of a small batch to an existing hourly file of ~S MB, in
  ``append_mode="replace"`` (copy + rename) and ``"inplace"`` (journal +
  append), versus creating a fresh file of that batch;
* fglob over the written repository, versus a bare os.walk of it.

Data go to benchmarks/data/ (git-ignored).  ``durable=False`` is used for
the throughput figures (fsync cost is the disk's, not ours); the append
figures are measured with ``durable=True`` as used in production.

Usage: python benchmarks/bench_repository.py [--records N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from pysilk_ext.silkfmt.appender import RepositoryWriter
from pysilk_ext.silkfmt.flowfile import FlowWriter
from pysilk_ext.silkfmt.flowrec import FLOW_DTYPE
from pysilk_ext.silkfmt.repository import fglob
from pysilk_ext.silkfmt.siteconf import load_siteconf

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "repository"
SITE = HERE.parent / "share" / "silk.conf"
T0 = 1710460800000  # 2024-03-15T00:00:00Z


def make_rows(n: int, hours: int, sensors: int) -> np.ndarray:
    """Random-ish IPv4 TCP/UDP rows over ``hours`` x ``sensors`` x 2 types."""
    rng = np.random.default_rng(7)
    rows = np.zeros(n, FLOW_DTYPE)
    rows["stime"] = T0 + rng.integers(0, hours * 3_600_000, n)
    rows["elapsed"] = rng.integers(0, 60_000, n)
    rows["sport"] = rng.integers(1024, 65536, n)
    rows["dport"] = rng.choice([53, 80, 443, 8080], n)
    rows["proto"] = rng.choice([6, 17], n)
    rows["flowtype"] = rng.choice([11, 12], n)
    rows["sensor"] = rng.integers(0, sensors, n)
    rows["packets"] = rng.integers(1, 100, n)
    rows["bytes"] = rows["packets"] * 60
    for col in ("sip", "dip", "nhip"):
        rows[col][:, 10:12] = 0xFF
    rows["sip"][:, 12:] = rng.integers(0, 256, (n, 4))
    rows["dip"][:, 12:] = rng.integers(0, 256, (n, 4))
    return rows


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (the machine is shared)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--sensors", type=int, default=8)
    parser.add_argument("--append-mb", type=float, default=20.0)
    args = parser.parse_args()
    site = load_siteconf(SITE)
    rows = make_rows(args.records, args.hours, args.sensors)
    n = len(rows)
    files = args.hours * args.sensors * 2
    print(f"{n} records over {files} hourly files "
          f"({args.hours} h x {args.sensors} sensors x 2 types)")  # fmt: skip

    for method in ("none", "lzo1x", "zlib"):
        one = DATA / "one.rw"

        def single(method: str = method, one: Path = one) -> None:
            one.parent.mkdir(parents=True, exist_ok=True)
            with (
                open(one, "wb") as fp,
                FlowWriter(fp, compression=method) as w,
            ):
                w.write(rows)

        runs = iter(range(1_000_000))

        def repo(method: str = method, runs: Iterator[int] = runs) -> None:
            # a fresh root per run: deleting the last one is not timed
            root = DATA / f"root-{next(runs)}"
            with RepositoryWriter(root, site, compression=method,
                                  durable=False) as w:  # fmt: skip
                w.write(rows)

        base = best(single, args.repeat)
        ours = best(repo, args.repeat)
        print(
            f"  {method:6s} one file {n / base / 1e6:6.2f} M rec/s"
            f" | repository {n / ours / 1e6:6.2f} M rec/s"
            f" | ratio {ours / base:5.2f}x"
        )

    # fglob over one of the repositories just written
    root = DATA / "root-0"

    def walk() -> None:
        sum(len(f) for _, _, f in os.walk(root))

    def glob() -> None:
        fglob(site, root, start="2024/03/15", flowtypes="all/all")

    base = best(walk, args.repeat)
    ours = best(glob, args.repeat)
    found = len(fglob(site, root, start="2024/03/15", flowtypes="all/all"))
    print(f"  fglob {found} files: {ours * 1e3:7.2f} ms | os.walk "
          f"{base * 1e3:7.2f} ms | ratio {ours / base:5.2f}x")  # fmt: skip

    # appends: one commit of 1000 records to a big existing hourly file
    big = make_rows(int(args.append_mb * 1e6 / 88), 1, 1)
    big["sensor"] = 0
    big["flowtype"] = 11
    batch = make_rows(1000, 1, 1)
    batch["sensor"] = 0
    batch["flowtype"] = 11
    for method in ("none", "lzo1x"):
        for mode in ("replace", "inplace"):
            root = DATA / f"append-{mode}"
            shutil.rmtree(root, ignore_errors=True)
            with RepositoryWriter(root, site, compression=method,
                                  durable=False) as w:  # fmt: skip
                w.write(big)
            path = next(root.rglob("int2aws-*"))
            size = path.stat().st_size / 1e6

            def append(root: Path = root, mode: str = mode,
                       method: str = method) -> None:  # fmt: skip
                with RepositoryWriter(root, site, compression=method,
                                      append_mode=mode) as w:  # type: ignore[arg-type]  # fmt: skip
                    w.write(batch)

            fresh_runs = iter(range(1_000_000))

            def fresh(method: str = method,
                      runs: Iterator[int] = fresh_runs) -> None:  # fmt: skip
                root = DATA / f"fresh-{next(runs)}"
                with RepositoryWriter(root, site,
                                      compression=method) as w:  # fmt: skip
                    w.write(batch)

            base = best(fresh, args.repeat)
            ours = best(append, args.repeat)
            print(
                f"  append 1000 rec, {method:5s} {mode:7s} to {size:6.1f} MB: "
                f"{ours * 1e3:7.2f} ms | new file {base * 1e3:6.2f} ms | "
                f"ratio {ours / base:6.2f}x"
            )
    shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
