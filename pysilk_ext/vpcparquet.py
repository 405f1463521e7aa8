# SPDX-License-Identifier: MIT
"""Convert Parquet flow-log objects to parse results, column by column.

AWS can deliver VPC Flow Logs to S3 as Apache Parquet (GZIP-compressed
inside, column names with underscores, INT_32/INT_64 for numbers, nulls
for missing values).  Rendering such rows back to text only to parse them
again would throw the types away, so each Parquet column becomes the
batch column of its field directly: integer columns stay integers,
strings are dictionary-encoded by Arrow, addresses go through the C
address parser.  Values a text line could not hold (a port of 70000, an
unknown ``action``) make their row a bad line, as they would in text,
and so do fields that contradict each other
(:func:`~pysilk_ext.vpcparse.screen_batch`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from pysilk_ext import fields as F
from pysilk_ext.batch import AddrColumn, FlowBatch, StrColumn
from pysilk_ext.vpcparse import (
    BadLine,
    LogFormat,
    ParseResult,
    Reason,
    addr_column_from_strings,
    screen_batch,
)

__all__ = ["PARQUET_BATCH_ROWS", "ParquetDamage", "parquet_results"]

PARQUET_BATCH_ROWS = 65536


class ParquetDamage(Exception):
    """The Parquet object cannot be read past ``row``."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


def parquet_results(source: str, data: bytes) -> Iterator[ParseResult]:
    """Typed columns straight from Parquet (ints stay ints, no text)."""
    try:
        pfile = pq.ParquetFile(pa.BufferReader(data))
        names = [str(n) for n in pfile.schema_arrow.names]
        fmt = LogFormat.parse(" ".join(names))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ParquetDamage(f"Cannot read Parquet: {exc}", 1) from exc
    row0 = 0
    batches = pfile.iter_batches(batch_size=PARQUET_BATCH_ROWS)
    while True:
        try:
            rbatch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:
            raise ParquetDamage(
                f"Cannot read Parquet: {exc}", row0 + 1
            ) from exc
        if rbatch is None:
            return
        yield _convert_parquet_batch(source, fmt, rbatch, row0)
        row0 += rbatch.num_rows


def _convert_parquet_batch(
    source: str, fmt: LogFormat, rbatch: Any, row0: int
) -> ParseResult:
    n = rbatch.num_rows
    linenos = np.arange(row0 + 1, row0 + n + 1, dtype=np.uint64)
    if fmt.is_tgw:
        tgw = [BadLine(source, int(i), Reason.TGW_RECORD) for i in linenos]
        empty = FlowBatch(source, 0, linenos[:0], {})
        return ParseResult(empty, tgw, 0, 0, n, fmt)
    bad_rows: dict[int, tuple[str, str, str | None]] = {}
    columns: dict[str, Any] = {}
    ms_times = 0
    for name, col in zip(fmt.fields, rbatch.columns, strict=True):
        spec = F.field(name)
        valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False))
        if spec.kind is F.FieldKind.INT:
            arr = col
            if not pa.types.is_integer(arr.type):
                text = pc.cast(arr, pa.string())
                text = pc.if_else(pc.equal(text, "-"), None, text)
                valid = np.asarray(
                    text.is_valid().to_numpy(zero_copy_only=False)
                )
                ok = pc.match_substring_regex(text, r"^[0-9]+$")
                okn = np.asarray(
                    ok.fill_null(True).to_numpy(zero_copy_only=False)
                )
                for i in np.flatnonzero(~okn).tolist():
                    bad_rows.setdefault(
                        i, (Reason.BAD_INTEGER, name, text[i].as_py())
                    )
                arr = pc.cast(pc.if_else(ok, text, None), pa.int64())
            values = np.asarray(
                arr.cast(pa.int64()).fill_null(-1).to_numpy(),
                dtype=np.int64,
            ).copy()
            # the range is of the value as written (as the text reader
            # checks it): a time's bound is in milliseconds
            hi = spec.hi if spec.name in F.FIELDS_BY_NAME else F.INT64_MAX
            out = valid & ((values < spec.lo) | (values > hi))
            for i in np.flatnonzero(out).tolist():
                bad_rows.setdefault(
                    i, (Reason.OUT_OF_RANGE, name, str(values[i]))
                )
            if spec.is_time:
                ms = valid & ~out & (values > 2**31 - 1)
                ms_times += int(ms.sum())
                values[ms] //= 1000
            values[~valid] = -1
            columns[name] = values
        elif spec.kind is F.FieldKind.ADDR:
            texts = pc.cast(col, pa.string()).to_pylist()
            invalid: list[int] = []
            columns[name] = addr_column_from_strings(texts, invalid=invalid)
            for i in invalid:
                bad_rows.setdefault(i, (Reason.BAD_ADDRESS, name, texts[i]))
        else:
            codes, values_list = _dictionary(col)
            if spec.kind is F.FieldKind.ENUM:
                assert spec.enum is not None  # noqa: S101 - table invariant
                table = np.zeros(len(values_list), np.uint8)
                for code, text in enumerate(values_list[1:], start=1):
                    try:
                        table[code] = F.enum_code(spec.enum, text)
                    except ValueError:
                        for i in np.flatnonzero(codes == code).tolist():
                            bad_rows.setdefault(
                                i, (Reason.BAD_ENUM, name, text)
                            )
                columns[name] = table[codes]
            else:
                columns[name] = StrColumn(codes, values_list)
    bad: list[BadLine] = []
    keep = np.ones(n, dtype=bool)
    if bad_rows:
        table_rows = rbatch.to_pylist()
        for i in sorted(bad_rows):
            reason, name, value = bad_rows[i]
            keep[i] = False
            text = _row_text(table_rows[i])
            bad.append(
                BadLine(
                    source,
                    int(linenos[i]),
                    reason,
                    name,
                    None if value is None else str(value),
                    text,
                    f"{name}: Invalid value '{value}' in Parquet column "
                    f"'{name.replace('-', '_')}'",
                )
            )
        columns = {k: _take(v, keep) for k, v in columns.items()}
    nkeep = int(keep.sum())
    batch = FlowBatch(source, nkeep, linenos[keep], columns)

    def row_texts(numbers: list[int]) -> dict[int, bytes]:
        """The text of rows by row number (1-based over the object)."""
        return {
            k: _row_text(rbatch.slice(k - row0 - 1, 1).to_pylist()[0])
            for k in numbers
        }

    batch, faults = screen_batch(batch, fmt.fields, row_texts)
    if faults:
        bad = sorted([*bad, *faults], key=lambda line: line.lineno)
    return ParseResult(batch, bad, 0, ms_times, n, fmt)


def _row_text(row: dict[str, Any]) -> bytes:
    """A Parquet row as the text line it stands for (for bad lines)."""
    return " ".join(
        "-" if v is None else str(v) for v in row.values()
    ).encode()


def _dictionary(col: Any) -> tuple[npt.NDArray[np.uint32], list[str]]:
    """Dictionary-encode a string column: codes (0 = null/-) and values."""
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(pc.cast(col, pa.string()))
    dictionary = [str(v) for v in col.dictionary.to_pylist()]
    indices = np.asarray(
        col.indices.cast(pa.int64()).fill_null(-1).to_numpy(), np.int64
    )
    values = [""]
    remap = np.empty(len(dictionary) + 1, np.uint32)
    remap[-1] = 0  # index -1 (null) -> code 0
    for i, text in enumerate(dictionary):
        if text in ("", "-"):
            remap[i] = 0
        else:
            remap[i] = len(values)
            values.append(text)
    return remap[indices], values


def _take(column: Any, keep: npt.NDArray[np.bool_]) -> Any:
    if isinstance(column, AddrColumn):
        return AddrColumn(column.addr[keep], column.family[keep])
    if isinstance(column, StrColumn):
        return StrColumn(column.codes[keep], column.values)
    return column[keep]
