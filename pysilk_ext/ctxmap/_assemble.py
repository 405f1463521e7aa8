# SPDX-License-Identifier: MIT
"""From the builder's provisional tables to canonical tables.

The builder numbers strings, group tuples and contexts in the order it
meets them, which depends on input order.  Here everything unused is
dropped and everything kept is renumbered by sorting (strings bytewise,
tuples and contexts lexicographically, bindings by address, scope,
relation and time), so the tables -- and the file -- are a function of
the set of bindings alone.  That is what makes ingesting twice, or merging
partial maps from parallel workers in any grouping, give identical maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext.ctxmap._format import MapTables
from pysilk_ext.ctxmap.model import (
    CTX_WIDTH,
    FIELDS,
    GROUP_CTX_COL,
    GROUP_FIELDS,
    Relation,
    is_v4,
)

U32 = np.uint32
U64 = np.uint64
NOT_USED = np.uint32(0xFFFFFFFF)


@dataclass(slots=True)
class Bindings:
    """Reduced bindings with provisional string and context ids."""

    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    scope: npt.NDArray[np.uint32]
    ctx: npt.NDArray[np.uint32]
    first: npt.NDArray[np.uint32]
    last: npt.NDArray[np.uint32]


@dataclass(slots=True)
class Ranges:
    """ip-ranges rows with provisional context ids."""

    v4: npt.NDArray[np.uint32]  # (n, 3) lo, hi, ctx
    v6: npt.NDArray[np.uint64]  # (n, 5) lo_hi, lo_lo, hi_hi, hi_lo, ctx


def _lexsort_rows(rows: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
    """Order of ``rows`` sorted lexicographically (first column first)."""
    if rows.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    return np.lexsort(rows.T[::-1])


def _relabel(n: int, keep: npt.NDArray[np.intp]) -> npt.NDArray[np.uint32]:
    lut = np.full(n, NOT_USED, dtype=U32)
    lut[keep] = np.arange(len(keep), dtype=U32)
    return lut


def assemble(
    strings: list[str],
    groups: dict[int, npt.NDArray[np.uint32]],
    ctx: npt.NDArray[np.uint32],
    bindings: Bindings,
    ranges: Ranges,
    *,
    meta: dict[str, Any],
) -> MapTables:
    """Canonical :class:`MapTables` of the given provisional tables.

    ``groups[g]`` and ``ctx`` are provisional rows (row 0 of each group
    is the empty tuple); ``bindings`` must already be reduced (one row per
    address, scope, context).
    """
    # 1. Contexts and group rows actually used.
    used_ctx = np.unique(
        np.concatenate(
            [bindings.ctx, ranges.v4[:, 2], ranges.v6[:, 4].astype(U32)]
        )
    )
    ctx_used = ctx[used_ctx]
    used_group: dict[int, npt.NDArray[np.intp]] = {}
    for g in GROUP_FIELDS:
        refs = ctx_used[:, GROUP_CTX_COL[g]]
        used_group[g] = np.union1d(refs, [0]).astype(np.intp)

    # 2. Strings actually used, renumbered in byte order ("" first).
    field_names = [f.name for f in FIELDS]
    index = {s: i for i, s in enumerate(strings)}
    name_ids = np.array([index[n] for n in field_names], dtype=np.intp)
    direct_cols = [f.ctx_col for f in FIELDS if f.group == 0]
    parts = [
        np.zeros(1, dtype=np.intp),
        name_ids,
        bindings.scope.astype(np.intp),
        ctx_used[:, direct_cols].ravel().astype(np.intp),
    ]
    for g, rows in used_group.items():
        parts.append(groups[g][rows].ravel().astype(np.intp))
    used_str = np.unique(np.concatenate(parts))
    kept = [strings[i] for i in used_str]
    order = sorted(range(len(kept)), key=kept.__getitem__)
    canon_strings = [kept[i] for i in order]
    str_lut = np.full(len(strings), NOT_USED, dtype=U32)
    str_lut[used_str[order]] = np.arange(len(order), dtype=U32)

    # 3. Group tuples: remap strings, sort, relabel.
    canon_groups: dict[int, npt.NDArray[np.uint32]] = {}
    group_lut: dict[int, npt.NDArray[np.uint32]] = {}
    for g, rows in used_group.items():
        tuples = str_lut[groups[g][rows]]
        srt = _lexsort_rows(tuples)
        canon_groups[g] = np.ascontiguousarray(tuples[srt])
        group_lut[g] = np.full(len(groups[g]), NOT_USED, dtype=U32)
        group_lut[g][rows[srt]] = np.arange(len(rows), dtype=U32)

    # 4. Contexts: remap columns, sort, relabel.
    remapped = np.empty_like(ctx_used)
    remapped[:, 0] = ctx_used[:, 0]
    for col in direct_cols:
        remapped[:, col] = str_lut[ctx_used[:, col]]
    for g in GROUP_FIELDS:
        col = GROUP_CTX_COL[g]
        remapped[:, col] = group_lut[g][ctx_used[:, col]]
    assert remapped.shape[1] == CTX_WIDTH  # noqa: S101 - catalogue invariant
    srt = _lexsort_rows(remapped)
    canon_ctx = np.ascontiguousarray(remapped[srt])
    ctx_lut = np.full(len(ctx), NOT_USED, dtype=U32)
    ctx_lut[used_ctx[srt]] = np.arange(len(used_ctx), dtype=U32)

    # 5. Bindings: canonical ids, sorted by address, scope, relation, time.
    b_ctx = ctx_lut[bindings.ctx]
    b_rel = (canon_ctx[b_ctx, 0] & 0xFF).astype(U32)
    b_scope = str_lut[bindings.scope]
    v6 = ~is_v4(bindings.hi, bindings.lo)
    srt = np.lexsort(
        (
            b_ctx,
            bindings.last,
            bindings.first,
            b_rel,
            b_scope,
            bindings.lo,
            bindings.hi,
            v6,
        )
    )
    hi, lo, v6 = bindings.hi[srt], bindings.lo[srt], v6[srt]
    bind = np.empty((len(srt), 4), dtype=U32)
    bind[:, 0] = b_scope[srt]
    bind[:, 1] = bindings.first[srt]
    bind[:, 2] = bindings.last[srt]
    bind[:, 3] = (b_rel[srt] << U32(28)) | b_ctx[srt]
    new_addr = np.ones(len(srt), dtype=bool)
    if len(srt):
        new_addr[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    starts = np.flatnonzero(new_addr).astype(U32)
    n4 = int(np.count_nonzero(~v6[starts]))
    end4 = int(starts[n4]) if n4 < len(starts) else len(srt)
    addr4 = (lo[starts[:n4]] & U64(0xFFFFFFFF)).astype(U32)
    start4 = np.append(starts[:n4], U32(end4)).astype(U32)
    addr6 = np.stack([hi[starts[n4:]], lo[starts[n4:]]], axis=1).astype(U64)
    start6 = np.append(starts[n4:], U32(len(srt))).astype(U32)

    # 6. Ranges.
    range4 = ranges.v4.copy()
    range4[:, 2] = ctx_lut[range4[:, 2]]
    range6 = ranges.v6.copy()
    range6[:, 4] = ctx_lut[range6[:, 4].astype(U32)].astype(U64)

    return MapTables(
        strings=canon_strings,
        ctx=canon_ctx,
        groups=canon_groups,
        addr4=addr4,
        start4=start4,
        addr6=addr6.reshape(-1, 2),
        start6=start6,
        bind=bind,
        range4=range4.reshape(-1, 3),
        range6=range6.reshape(-1, 5),
        meta=dict(meta, counts=_counts(bind, canon_ctx, range4, range6)),
    )


def _counts(
    bind: npt.NDArray[np.uint32],
    ctx: npt.NDArray[np.uint32],
    range4: npt.NDArray[np.uint32],
    range6: npt.NDArray[np.uint64],
) -> dict[str, int]:
    rel = bind[:, 3] >> U32(28)
    out = {
        f"bindings-{r.name.lower()}": int(np.count_nonzero(rel == r))
        for r in Relation
        if r != Relation.RANGE
    }
    out["contexts"] = len(ctx)
    out["ranges"] = len(range4) + len(range6)
    return out
