# SPDX-License-Identifier: MIT
"""Benchmark: SiLK flow-record encode/decode and flow-file streaming.

Targets (issue 3): encode and decode of 88-byte FT_RWIPV6ROUTING v1
records at >= 10 M records/s uncompressed on one core, and with each
compression method within 1.3x of the compressor alone working on the
same bytes in the same block sizes.  Every baseline is measured in the
same run; figures are the best of ``--repeat`` runs (the machine is
shared).

Usage: python benchmarks/bench_silkflow.py [--records N] [--repeat R]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pysilk_ext.silkfmt import compression as comp
from pysilk_ext.silkfmt.flowfile import FlowReader, FlowWriter
from pysilk_ext.silkfmt.flowrec import (
    FLOW_DTYPE,
    decode_records,
    encode_records,
)
from pysilk_ext.silkfmt.header import (
    Compression,
    FileFormat,
    compression_from_name,
)

BATCH = 65536


class _Collect(io.RawIOBase):
    """Sink that keeps the written chunks (no copy into one buffer).

    io.BytesIO re-allocates as it grows and would dominate the timing;
    a real file goes to the OS page cache instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[object] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        self.chunks.append(data)
        return len(memoryview(data))  # type: ignore[arg-type]

    def getvalue(self) -> bytes:
        return b"".join(self.chunks)  # type: ignore[arg-type]


def make_rows(n: int, seed: int = 1) -> np.ndarray:
    """Plausible VPC-like flows: sorted times, few ports, 20% IPv6."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, FLOW_DTYPE)
    rows["stime"] = 1710510000000 + np.sort(rng.integers(0, 3_600_000, n))
    rows["elapsed"] = rng.integers(0, 60_000, n)
    rows["sport"] = rng.integers(1024, 65535, n)
    rows["dport"] = rng.choice([443, 80, 53, 22, 3306, 5432], n)
    rows["proto"] = rng.choice([6, 17], n, p=[0.8, 0.2])
    rows["flowtype"] = rng.choice([11, 12], n)
    rows["sensor"] = 15
    rows["packets"] = rng.integers(1, 200, n)
    rows["bytes"] = rows["packets"] * rng.integers(40, 1500, n)
    rows["input"] = rng.integers(0, 8, n)
    rows["output"] = rng.integers(0, 8, n)
    for name in ("sip", "dip", "nhip"):
        rows[name][:, 10:12] = 0xFF
    rows["sip"][:, 12] = 10
    rows["sip"][:, 13:16] = rng.integers(0, 8, (n, 3))
    rows["dip"][:, 12:16] = rng.integers(0, 256, (n, 4))
    v6 = rng.random(n) < 0.2
    rows["tcp_state"][v6] |= 0x80
    rows["sip"][v6] = rng.integers(0, 256, (int(v6.sum()), 16))
    return rows


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls."""
    return best_pair(fn, None, repeat)[0]


def best_pair(
    fa: Callable[[], object],
    fb: Callable[[], object] | None,
    repeat: int,
) -> tuple[float, float]:
    """Best times of two functions run alternately (A B A B ...).

    Interleaving keeps a ratio honest on a shared machine: a burst of
    load from other users hits both sides instead of one.
    """
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeat):
        for fn, times in ((fa, ta), (fb, tb)):
            if fn is None:
                continue
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(ta), min(tb) if tb else 0.0


def bench_codec(rows: np.ndarray, repeat: int) -> None:
    """Record encode/decode alone (C core), in 65536-record batches."""
    n = len(rows)
    print(f"record codec, {n} records, batches of {BATCH} (one core)")
    print(f"  {'layout':28s} {'encode M rec/s':>15s} {'decode M rec/s':>15s}")
    cases = [
        (FileFormat.FT_RWIPV6ROUTING, 1, "little", rows),
        (FileFormat.FT_RWIPV6ROUTING, 1, "big", rows),
        (FileFormat.FT_RWGENERIC, 5, "little", rows[rows["tcp_state"] < 128]),
        (FileFormat.FT_RWGENERIC, 5, "big", rows[rows["tcp_state"] < 128]),
    ]
    for fmt, version, order, data in cases:
        size = 88 if fmt == FileFormat.FT_RWIPV6ROUTING else 52
        buf = bytearray(BATCH * size)
        encoded = [
            bytes(encode_records(data[i : i + BATCH], fmt, version, order))
            for i in range(0, len(data), BATCH)
        ]

        def enc(
            data: np.ndarray = data,
            fmt: int = fmt,
            version: int = version,
            order: str = order,
            buf: bytearray = buf,
        ) -> None:
            for i in range(0, len(data), BATCH):
                chunk = data[i : i + BATCH]
                encode_records(chunk, fmt, version, order, out=buf)

        def dec(
            fmt: int = fmt,
            version: int = version,
            order: str = order,
            encoded: list[bytes] = encoded,
        ) -> None:
            for chunk in encoded:
                decode_records(chunk, fmt, version, order)

        t_enc = best(enc, repeat)
        t_dec = best(dec, repeat)
        label = f"{FileFormat(fmt).name} v{version} {order}"
        print(
            f"  {label:28s} {len(data) / t_enc / 1e6:15.1f} "
            f"{len(data) / t_dec / 1e6:15.1f}"
        )


def bench_files(rows: np.ndarray, repeat: int) -> None:
    """Whole FlowWriter / FlowReader vs. the compressor alone."""
    n = len(rows)
    raw = b"".join(
        bytes(encode_records(rows[i : i + BATCH], 0x0C, 1, "little"))
        for i in range(0, n, BATCH)
    )
    block = comp.block_size_for(88)
    blocks = [raw[i : i + block] for i in range(0, len(raw), block)]
    print(
        f"\nflow files, FT_RWIPV6ROUTING v1 little-endian, {n} records "
        f"({len(raw) / 1e6:.0f} MB), blocks of {block} bytes; "
        f"LZO compressor: {comp.LZO_BACKEND}"
    )
    print(
        f"  {'method':8s} {'size MB':>8s} | {'write M rec/s':>13s} "
        f"{'compressor':>10s} {'ratio':>6s} | {'read M rec/s':>12s} "
        f"{'decompr.':>10s} {'ratio':>6s}"
    )
    for name in ("none", "zlib", "lzo1x", "snappy"):
        method = compression_from_name(name)
        sinks: list[_Collect] = []

        def write(name: str = name, sinks: list[_Collect] = sinks) -> None:
            sinks[:] = [_Collect()]
            with FlowWriter(sinks[0], compression=name) as writer:
                for i in range(0, n, BATCH):
                    writer.write(rows[i : i + BATCH])

        if method == Compression.NONE:
            t_write = best(write, repeat)
            data = sinks[0].getvalue()

            def read_raw(data: bytes = data) -> None:
                with FlowReader(data) as reader:
                    for _ in reader.iter_batches(BATCH):
                        pass

            t_read = best(read_raw, repeat)
            print(
                f"  {name:8s} {len(data) / 1e6:8.1f} | "
                f"{n / t_write / 1e6:13.1f} {'-':>10s} {'-':>6s} | "
                f"{n / t_read / 1e6:12.1f} {'-':>10s} {'-':>6s}"
            )
            continue

        # the bare library calls, no framing or checks of ours
        compress = comp._COMPRESS[method]
        decompress = comp._DECOMPRESS[method]

        def compress_alone(compress: Callable[..., object] = compress) -> None:
            for b in blocks:
                compress(b)

        t_write, t_c = best_pair(write, compress_alone, repeat)
        data = sinks[0].getvalue()
        payloads = [comp.compress_payload(method, b) for b in blocks]

        def read(data: bytes = data) -> None:
            with FlowReader(data) as reader:
                for _ in reader.iter_batches(BATCH):
                    pass

        def decompress_alone(
            decompress: Callable[..., object] = decompress,
            payloads: list[bytes] = payloads,
        ) -> None:
            for p, b in zip(payloads, blocks, strict=True):
                decompress(p, len(b))

        t_read, t_d = best_pair(read, decompress_alone, repeat)
        print(
            f"  {name:8s} {len(data) / 1e6:8.1f} | "
            f"{n / t_write / 1e6:13.2f} {n / t_c / 1e6:10.2f} "
            f"{t_write / t_c:6.2f} | {n / t_read / 1e6:12.2f} "
            f"{n / t_d / 1e6:10.2f} {t_read / t_d:6.2f}"
        )
    print(
        "  (ratio = time of the whole writer/reader / time of the "
        "compressor alone on the same blocks; target <= 1.3)"
    )


def bench_paths(rows: np.ndarray, repeat: int) -> None:
    """Write real files (atomic path writer) and read them back by path."""
    n = len(rows)
    print(f"\nfiles on disk ({tempfile.gettempdir()}), {n} records")
    print(f"  {'method':8s} {'write M rec/s':>13s} {'read M rec/s':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("none", "zlib", "lzo1x", "snappy"):
            path = Path(tmp) / f"{name}.rw"

            def write(path: Path = path, name: str = name) -> None:
                with FlowWriter(path, compression=name) as writer:
                    for i in range(0, n, BATCH):
                        writer.write(rows[i : i + BATCH])

            def read(path: Path = path) -> None:
                with FlowReader(path) as reader:
                    for _ in reader.iter_batches(BATCH):
                        pass

            t_write = best(write, repeat)
            t_read = best(read, repeat)
            print(
                f"  {name:8s} {n / t_write / 1e6:13.2f} "
                f"{n / t_read / 1e6:12.2f}"
            )


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = make_rows(args.records)
    bench_codec(rows, args.repeat)
    bench_files(rows, args.repeat)
    bench_paths(rows, args.repeat)


if __name__ == "__main__":
    main()
