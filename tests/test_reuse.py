# SPDX-License-Identifier: MIT
"""Tests of buffer reuse (pysilk_ext._reuse) and of its users.

Reuse must never overwrite memory that something still uses: a batch, a
single column kept from a batch, or a chunk still queued for parsing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pysilk_ext._reuse import ReusePool
from pysilk_ext.reader import VpcReader
from pysilk_ext.vpcparse import ChunkParser

V2_LINE = (
    "2 123456789010 eni-{i} 172.31.16.{o} 172.31.16.21 {port} 22 6 20 "
    "4249 1418530010 1418530070 ACCEPT OK"
)


def v2_text(first: int, count: int) -> bytes:
    """``count`` default-format records numbered from ``first``."""
    lines = [
        V2_LINE.format(i=i % 50, o=i % 250, port=i % 65536)
        for i in range(first, first + count)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_pool_reuses_only_idle_buffers() -> None:
    """A buffer comes back only once no view of it is alive."""
    pool = ReusePool(lambda n: np.empty(n, np.uint8), keep=2)
    first = pool.take(64)
    view = first[:16].view(np.int64)
    del first
    second = pool.take(64)
    assert not np.shares_memory(second, view)
    del view, second
    third = pool.take(64)
    fourth = pool.take(64)
    assert not np.shares_memory(third, fourth)
    del fourth
    assert np.shares_memory(pool.take(32), pool._buffers[1])


def test_pool_replaces_idle_buffers_too_small() -> None:
    """A bigger request replaces an idle small buffer (kept count)."""
    pool = ReusePool(bytearray, keep=1)
    assert 10 == len(pool.take(10))
    assert 100 == len(pool.take(100))
    assert [100] == [len(b) for b in pool._buffers]


def test_kept_columns_survive_later_feeds() -> None:
    """A column kept from a batch (the batch itself dropped) is never
    overwritten by the batches parsed after it."""
    parser = ChunkParser(None, source="t")
    kept = []
    for feed in range(12):
        batch = parser.feed(v2_text(feed * 100, 100), feed * 100 + 1).batch
        kept.append((feed, batch.columns["srcport"], batch.lineno))
        del batch
    for feed, ports, linenos in kept:
        expected = [i % 65536 for i in range(feed * 100, feed * 100 + 100)]
        assert expected == ports.tolist()
        assert list(range(feed * 100 + 1, feed * 100 + 101)) == (
            linenos.tolist()
        )


def test_reader_with_threads_keeps_every_batch_intact(tmp_path: Path) -> None:
    """Through the threaded reader (read blocks and output arrays both
    reused), batches kept to the end equal a fresh parse of the file."""
    path = tmp_path / "flows.log"
    data = v2_text(0, 3000)
    path.write_bytes(data)
    batches = list(VpcReader([path], chunk_size=8192))
    assert 1 < len(batches)
    ports = np.concatenate([b.columns["srcport"] for b in batches])
    enis = [e for b in batches for e in b.columns["interface-id"].decode()]
    whole = ChunkParser(None, source="t").feed(data).batch
    assert whole.columns["srcport"].tolist() == ports.tolist()
    assert whole.columns["interface-id"].decode() == enis
