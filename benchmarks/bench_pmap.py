# SPDX-License-Identifier: MIT
"""Prefix map and IPset speed, against baselines measured in this run.

What the context map needs: building and writing a map of ~1 M /32
ranges (one label per VPC, many labels), an IPset of ~1 M addresses,
and fast batch look-ups.  Baselines:

* SiLK's own rwpmapbuild / rwsetbuild on the same content as text
  (when on PATH) -- the tools analysts would otherwise run;
* our text path (rwpmapbuild's language parsed in Python) on a subset;
* NumPy ``searchsorted`` over the sorted range starts (a look-up
  without labels or blocks) and ``np.isin`` for membership.

Usage: ``python benchmarks/bench_pmap.py [--n 1000000] [--out DIR]``.
Prints figures and ratios; never asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pysilk_ext.silkfmt.ipset import IPSet
from pysilk_ext.silkfmt.pmap import (
    PrefixMap,
    PrefixMapBuilder,
    parse_pmap_text,
)

BASE = 0x0A000000  # 10.0.0.0


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def dotted(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def map_text(keys: np.ndarray, labels: list[str], ids: np.ndarray) -> str:
    lines = ["map-name bench", "default EXTERNAL"]
    lines += [
        f"{dotted(k)}/32 {labels[i]}"
        for k, i in zip(keys.tolist(), ids.tolist(), strict=True)
    ]
    return "\n".join(lines) + "\n"


def run_silk(argv: list[str], cwd: Path) -> float | None:
    if shutil.which(argv[0]) is None:
        return None
    env = dict(os.environ, SILK_CLOBBER="1")  # overwrite earlier runs
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--text-subset", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n = args.n
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_pmap."))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)

    # 1 M distinct /32s, sorted, every third address from 10.0.0.0
    keys = (BASE + 3 * np.arange(n, dtype=np.int64)).astype(np.uint32)
    label_texts = [f"vpc-{i:08x}" for i in range(args.labels)]
    label_idx = rng.integers(0, args.labels, n)
    print(f"prefix map: {n:,} sorted /32 ranges, {args.labels} labels")

    def build() -> PrefixMapBuilder:
        b = PrefixMapBuilder(map_name="bench", default_label="EXTERNAL")
        ids = np.array([b.label_id(t) for t in label_texts], np.uint32)
        b.add_ranges(keys, keys, ids[label_idx])
        return b

    t_build, builder = timed(build, repeat=3)
    pmap_path = out / "bench.pmap"
    t_write, _ = timed(lambda: builder.write(pmap_path), repeat=3)
    size = pmap_path.stat().st_size
    rate = n / t_build / 1e6
    print(f"  build (C)           {t_build:8.3f} s  {rate:6.2f} M ranges/s"
          f"  ({builder.node_count:,} nodes)")  # fmt: skip
    print(f"  write (atomic)      {t_write:8.3f} s  {size / 1e6:6.1f} MB")
    t_read, pmap = timed(lambda: PrefixMap.read(pmap_path), repeat=3)
    print(f"  read + validate     {t_read:8.3f} s")

    # text paths on a subset: rwpmapbuild vs our parser
    m = min(args.text_subset, n)
    text = map_text(keys[:m], label_texts, label_idx[:m])
    (out / "bench.txt").write_text(text)
    t_parse, parsed = timed(lambda: parse_pmap_text(text))
    t_silk = run_silk(
        ["rwpmapbuild", "--invocation-strip", "--input-path=bench.txt",
         "--output-path=bench-silk.pmap"], out,
    )  # fmt: skip
    print(f"  text, {m:,} lines:")
    rate = m / t_parse / 1e3
    print(f"    our parse_pmap_text {t_parse:8.3f} s  {rate:8.0f} k lines/s")
    if t_silk is not None:
        same = (out / "bench-silk.pmap").read_bytes() == parsed.to_bytes()
        rate = m / t_silk / 1e3
        print(f"    rwpmapbuild         {t_silk:8.3f} s  {rate:8.0f} k lines/s"
              f"  (byte-identical: {same})")  # fmt: skip
        rate_ours = n / (t_build + t_write)
        print(f"  ratio: array build+write vs rwpmapbuild per range: "
              f"{rate_ours / (m / t_silk):6.1f}x faster")  # fmt: skip

    # look-ups
    q = rng.integers(BASE, BASE + 3 * n + 1000, n, dtype=np.int64).astype(
        np.uint32
    )
    t_look, _ = timed(lambda: pmap.lookup(q), repeat=3)
    starts = keys.astype(np.int64)
    t_np, _ = timed(lambda: np.searchsorted(starts, q, side="right"), repeat=3)
    sample = q[:20_000].tolist()
    t_get, _ = timed(lambda: [pmap.get(k) for k in sample])
    print(f"  lookup batch (C)    {n / t_look / 1e6:8.2f} M keys/s  "
          f"(label + block for each key)")  # fmt: skip
    print(f"  numpy searchsorted  {n / t_np / 1e6:8.2f} M keys/s  "
          f"(index only; ratio ours/numpy {t_np / t_look:5.2f})")  # fmt: skip
    print(f"  get() one by one    {len(sample) / t_get / 1e3:8.1f} k keys/s")

    # IPset of 1 M addresses
    print(f"IPset: {n:,} addresses (every third from 10.0.0.0)")
    t_set, ipset = timed(lambda: IPSet.from_addresses(keys), repeat=3)
    n_ranges = ipset.ranges.shape[0]
    print(f"  from_addresses      {t_set:8.3f} s  ({n_ranges:,} ranges)")
    for version, comp in ((2, "none"), (4, "none"), (4, "zlib"), (4, "lzo1x")):
        path = out / f"bench-v{version}-{comp}.set"
        t_w, _ = timed(
            lambda p=path, v=version, c=comp: ipset.write(
                p, record_version=v, compression=c
            ),
            repeat=3,
        )
        t_r, back = timed(lambda p=path: IPSet.read(p), repeat=3)
        mb = path.stat().st_size / 1e6
        print(f"  v{version} {comp:6s} write {t_w:6.3f} s  read {t_r:6.3f} s  "
              f"{mb:6.2f} MB  equal: {back == ipset}")  # fmt: skip
    (out / "bench-set.txt").write_text(
        "\n".join(dotted(k) for k in keys[:m].tolist()) + "\n"
    )
    t_sb = run_silk(
        ["rwsetbuild", "--invocation-strip", "--record-version=4",
         "bench-set.txt", "bench-silk.set"], out,
    )  # fmt: skip
    if t_sb is not None:
        t_ours, _ = timed(
            lambda: IPSet.from_addresses(keys).to_bytes(record_version=4)
        )
        print(f"  rwsetbuild, {m:,} lines: {t_sb:6.3f} s; ours for {n:,} "
              f"addresses (arrays): {t_ours:6.3f} s; per address "
              f"{(t_sb / m) / (t_ours / n):6.1f}x faster")  # fmt: skip
    t_c, _ = timed(lambda: ipset.contains_many(q), repeat=3)
    lo = ipset.ranges[:, 1].copy()
    hi = ipset.ranges[:, 3].copy()

    def np_member() -> np.ndarray:
        i = np.searchsorted(lo, q, side="right") - 1
        return (i >= 0) & (q <= hi[np.maximum(i, 0)])

    t_ss, _ = timed(np_member, repeat=3)
    print(f"  contains_many (C)   {n / t_c / 1e6:8.2f} M keys/s  "
          f"(numpy searchsorted {n / t_ss / 1e6:6.2f} M keys/s; "
          f"ratio {t_ss / t_c:5.2f})")  # fmt: skip
    print(f"files in {out}")


if __name__ == "__main__":
    main()
