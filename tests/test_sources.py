# SPDX-License-Identifier: MIT
"""Opening inputs: containers, chunks of lines, S3 keys and filters."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pysilk_ext import fields as F
from pysilk_ext import sources as S
from pysilk_ext.errors import PysilkExtError
from pysilk_ext.s3keys import KeyFilter, LogKey, parse_log_key
from pysilk_ext.vpcparse import ParseResult, Reason, iter_records

UTC = dt.UTC
HEADER = " ".join(F.DEFAULT_FORMAT)
NODATA = (
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - "
    "1431280876 1431280934 - NODATA"
)


def v2_line(i: int) -> str:
    """A default-format record whose ports encode ``i``."""
    return (
        f"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 "
        f"{20000 + i} 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
    )


def v2_text(n: int, header: bool = True) -> bytes:
    """``n`` default-format lines, with the S3 header first."""
    lines = [HEADER] if header else []
    lines += [v2_line(i) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def events(path: Path | str, **kw: object) -> list[object]:
    """Every event of one input."""
    return list(S.open_source(str(path), **kw))  # type: ignore[arg-type]


def chunks_of(evs: list[object]) -> list[S.LineChunk]:
    """The LineChunks among ``evs``."""
    return [e for e in evs if isinstance(e, S.LineChunk)]


def joined(evs: list[object]) -> bytes:
    """The text of every chunk (head, then data), in order."""
    return b"".join(bytes(c.head) + bytes(c.data) for c in chunks_of(evs))


# -- S3 keys -------------------------------------------------------------
REAL_KEY = (
    "AWSLogs/034496339141/vpcflowlogs/us-east-1/2019/06/05/"
    "034496339141_vpcflowlogs_us-east-1_fl-093a2bd1f31cac72f_"
    "20190605T0835Z_8246457e.log.gz"
)


def test_parse_key_default_layout() -> None:
    """A real S3 key gives account, region and its 5-minute window."""
    key = parse_log_key("s3://bucket/prefix/" + REAL_KEY)
    assert key is not None
    assert ("034496339141", "us-east-1", "vpcflowlogs") == (
        key.account,
        key.region,
        key.service,
    )
    assert dt.datetime(2019, 6, 5, 8, 35, tzinfo=UTC) == key.time
    assert dt.datetime(2019, 6, 5, 8, 40, tzinfo=UTC) == key.end
    assert ("fl-093a2bd1f31cac72f", "s3") == (key.flow_log_id, key.layout)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "x/AWSLogs/aws-account-id=012345678901/aws-service=vpcflowlogs/"
            "aws-region=eu-west-1/year=2026/month=02/day=28/hour=05/",
            ("012345678901", "eu-west-1", "hive", (2026, 2, 28, 5), 3600),
        ),
        (
            "AWSLogs/aws-account-id=012345678901/service=vpcflowlogs/"
            "aws-region=eu-west-1/year=2026/month=02/day=28/",
            ("012345678901", "eu-west-1", "hive", (2026, 2, 28, 0), 86400),
        ),
        (
            "AWSLogs/012345678901/vpcflowlogs/us-east-1/2026/08/01/23/",
            ("012345678901", "us-east-1", "s3", (2026, 8, 1, 23), 3600),
        ),
        (
            "AWSLogs/o-abc123/012345678901/vpcflowlogs/us-east-1/2024/02/",
            ("012345678901", "us-east-1", "s3", (2024, 2, 1, 0), 29 * 86400),
        ),
    ],
)
def test_parse_key_partitions(
    path: str, expected: tuple[str, str, str, tuple[int, ...], int]
) -> None:
    """Partition folders (Hive or not, hour or day, org level) give time."""
    key = parse_log_key(path)
    assert key is not None
    assert key.start is not None
    assert key.end is not None
    account, region, layout, start, seconds = expected
    assert (account, region, layout) == (key.account, key.region, key.layout)
    assert dt.datetime(*start, tzinfo=UTC) == key.start
    assert seconds == (key.end - key.start).total_seconds()


def test_parse_key_partial_and_foreign() -> None:
    """A directory prefix gives what it knows; other paths give None."""
    assert LogKey("012345678901", None, None, layout="s3") == parse_log_key(
        "/data/AWSLogs/012345678901/"
    )
    assert parse_log_key("/tmp/flows.log") is None
    key = parse_log_key("AWSLogs/012345678901/CloudTrail/us-east-1/")
    assert key is not None
    assert "CloudTrail" == key.service
    bad_date = parse_log_key(
        "AWSLogs/012345678901/vpcflowlogs/us-east-1/2026/13/01/"
    )
    assert bad_date is not None
    assert bad_date.start is None


def test_key_filter_reasons() -> None:
    """Each criterion rules out only keys that contradict it."""
    flt = KeyFilter(
        accounts=frozenset({"111122223333"}),
        regions=frozenset({"us-east-1"}),
        start=dt.datetime(2019, 6, 5, 8, tzinfo=UTC),
        end=dt.datetime(2019, 6, 5, 9, tzinfo=UTC),
    )
    assert "account" == flt.reject_reason(parse_log_key(REAL_KEY))
    mine = REAL_KEY.replace("034496339141", "111122223333")
    assert flt.reject_reason(parse_log_key(mine)) is None
    assert "region" == flt.reject_reason(
        parse_log_key(mine.replace("us-east-1", "eu-west-1"))
    )
    assert "time" == flt.reject_reason(
        parse_log_key(mine.replace("T0835Z", "T0900Z"))
    )
    assert "service" == flt.reject_reason(
        parse_log_key("AWSLogs/111122223333/CloudTrail/us-east-1/x.json.gz")
    )
    assert flt.reject_reason(None) is None
    assert flt.reject_reason(LogKey(account="111122223333")) is None


# -- directory walks -----------------------------------------------------
def _tree(root: Path) -> dict[str, Path]:
    """A small bucket copy in both layouts plus foreign files."""
    files = {
        "a": "AWSLogs/111122223333/vpcflowlogs/us-east-1/2026/08/01/"
        "111122223333_vpcflowlogs_us-east-1_fl-1_20260801T0000Z_aa.log",
        "b": "AWSLogs/111122223333/vpcflowlogs/us-east-1/2026/08/02/"
        "111122223333_vpcflowlogs_us-east-1_fl-1_20260802T0000Z_bb.log",
        "c": "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/08/01/"
        "111122223333_vpcflowlogs_eu-west-1_fl-2_20260801T0000Z_cc.log",
        "d": "AWSLogs/444455556666/vpcflowlogs/us-east-1/2026/08/01/"
        "444455556666_vpcflowlogs_us-east-1_fl-3_20260801T0000Z_dd.log",
        "e": "AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/"
        "aws-region=us-east-1/year=2026/month=08/day=01/hour=07/x.log",
        "f": "AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/"
        "aws-region=us-east-1/year=2026/month=08/day=03/y.log",
        "trail": "AWSLogs/111122223333/CloudTrail/us-east-1/2026/08/01/t.json",
        "plain": "other/flows.log",
        "hidden": "other/.hidden.log",
        "truth": "_truth.json",
    }
    out = {}
    for name, rel in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(v2_text(1))
        out[name] = path
    return out


def test_walk_sorted_and_skips_underscore_and_dot(tmp_path: Path) -> None:
    """Directories are walked in sorted order; _ and . names are skipped."""
    files = _tree(tmp_path)
    entries = list(S.expand_inputs([tmp_path]))
    selected = [e.path for e in entries if isinstance(e, S.InputFile)]
    assert [str(files[k]) for k in "cabdef"] + [
        str(files["plain"])
    ] == selected
    skipped = [e for e in entries if isinstance(e, S.SourceSkipped)]
    assert [("service", str(files["trail"].parents[4]) + "/")] == [
        (e.reason, e.source) for e in skipped
    ]


def test_unreadable_directory_is_an_input_that_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-directory the walk cannot list (permissions) is not skipped
    in silence: it becomes an input whose opening fails and is reported
    like any other, with the system's reason for the failed open."""
    good = tmp_path / "a.log"
    good.write_bytes(v2_text(2))
    locked = tmp_path / "b"
    locked.mkdir()
    (locked / "c.log").write_bytes(v2_text(1))
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(S.os, "scandir", scandir)
    entries = list(S.expand_inputs([tmp_path]))
    assert [str(good), str(locked)] == [
        e.path for e in entries if isinstance(e, S.InputFile)
    ]
    failures = [
        e
        for e in S.iter_source_events([tmp_path])
        if isinstance(e, S.OpenFailure)
    ]
    assert [str(locked)] == [f.source for f in failures]
    # the directory itself is readable here (only its listing was made to
    # fail), so the system's reason is that of opening a directory
    assert f"Cannot open '{locked}': Is a directory" == failures[0].message


def test_walk_filters_prune_before_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files outside the filters are never opened, whole sub-trees pruned."""
    files = _tree(tmp_path)
    opened: list[str] = []
    real_open = S._open_binary

    def spy(path: str) -> object:
        opened.append(path)
        return real_open(path)

    monkeypatch.setattr(S, "_open_binary", spy)
    listed: list[str] = []
    real_scandir = S.os.scandir

    def scandir_spy(path: str) -> object:
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(S.os, "scandir", scandir_spy)
    flt = KeyFilter(
        accounts=frozenset({"111122223333"}),
        regions=frozenset({"us-east-1"}),
        start=dt.datetime(2026, 8, 1, tzinfo=UTC),
        end=dt.datetime(2026, 8, 2, tzinfo=UTC),
    )
    evs = list(S.iter_source_events([tmp_path], key_filter=flt))
    assert [str(files["a"]), str(files["e"]), str(files["plain"])] == opened
    skipped = {
        e.source: e.reason for e in evs if isinstance(e, S.SourceSkipped)
    }
    assert "account" == skipped[str(tmp_path / "AWSLogs/444455556666") + "/"]
    assert (
        "region"
        == skipped[
            str(tmp_path / "AWSLogs/111122223333/vpcflowlogs/eu-west-1") + "/"
        ]
    )
    assert (
        "service"
        == skipped[str(tmp_path / "AWSLogs/111122223333/CloudTrail") + "/"]
    )
    assert "time" == skipped[str(files["b"].parent) + "/"]
    # pruned directories were never even listed
    assert not any("444455556666" in p for p in listed)
    assert not any("CloudTrail" in p for p in listed)


# -- plain text and gzip -------------------------------------------------
def test_plain_text_chunks(tmp_path: Path) -> None:
    """Chunks hold whole lines with correct first line numbers."""
    path = tmp_path / "flows.log"
    data = v2_text(500)
    path.write_bytes(data[:-1])  # last line without its newline
    evs = events(path, chunk_size=4096)
    chunks = chunks_of(evs)
    assert len(chunks) > 5
    assert data == joined(evs)
    lineno = 1
    for chunk in chunks:
        assert lineno == chunk.first_lineno
        text = bytes(chunk.head) + bytes(chunk.data)
        assert text.endswith(b"\n")
        lineno += text.count(b"\n")
    opened = evs[0]
    closed = evs[-1]
    assert isinstance(opened, S.SourceOpened)
    assert ("text", False) == (opened.container, opened.framed)
    assert isinstance(closed, S.SourceClosed)
    assert (len(data) - 1, 501) == (closed.bytes_in, closed.lines)


def test_line_across_blocks_is_the_head_of_the_next_chunk(
    tmp_path: Path,
) -> None:
    """A block read makes one chunk: the line cut by the block boundary
    travels (copied) as the head of the next block's lines, instead of
    becoming a one-line chunk of its own."""
    path = tmp_path / "flows.log"
    data = v2_text(500)
    path.write_bytes(data)
    chunks = chunks_of(events(path, chunk_size=4096))
    assert -(-len(data) // 4096) == len(chunks)
    heads = [bytes(c.head) for c in chunks]
    assert b"" == heads[0]
    cut = [h for h in heads if h]  # a block may end right after a line
    assert len(cut) > len(chunks) // 2
    assert all(h.endswith(b"\n") and h.count(b"\n") == 1 for h in cut)
    assert data == joined(events(path, chunk_size=4096))


def test_gzip_by_magic_not_name(tmp_path: Path) -> None:
    """Gzip is recognised by content; a .gz name holding text is text."""
    data = v2_text(50)
    disguised = tmp_path / "flows.log"
    disguised.write_bytes(gzip.compress(data))
    honest_text = tmp_path / "flows.log.gz"
    honest_text.write_bytes(data)
    evs = events(disguised)
    assert "gzip" == evs[0].container  # type: ignore[attr-defined]
    assert data == joined(evs)
    evs = events(honest_text)
    assert "text" == evs[0].container  # type: ignore[attr-defined]
    assert data == joined(evs)


def test_gzip_multi_member(tmp_path: Path) -> None:
    """Concatenated gzip members (and zero padding) read as one stream."""
    first, second = v2_text(30), v2_text(20, header=False)
    path = tmp_path / "concat.log.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second) + b"\0" * 8)
    evs = events(path, chunk_size=1024)
    assert first + second == joined(evs)
    assert not [e for e in evs if isinstance(e, S.ContainerError)]


@pytest.mark.parametrize("inflater", S.available_inflaters())
def test_truncated_gzip_keeps_good_lines(
    tmp_path: Path, inflater: str
) -> None:
    """Every line before the damage is kept; one event names file:line."""
    data = v2_text(2000)
    packed = gzip.compress(data)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    evs = events(path, chunk_size=8192, inflater=inflater)
    got = joined(evs)
    assert data.startswith(got)
    assert got.endswith(b"\n")
    errors = [e for e in evs if isinstance(e, S.ContainerError)]
    assert 1 == len(errors)
    err = errors[0]
    assert "truncated-gzip" == err.reason
    assert got.count(b"\n") + 1 == err.lineno
    full_line = data[len(got) :].split(b"\n", 1)[0].decode()
    assert full_line.startswith(err.text)
    assert isinstance(evs[-1], S.SourceClosed)


def test_corrupt_gzip_and_trailing_garbage(tmp_path: Path) -> None:
    """Corrupt deflate data is truncated-gzip damage; garbage after the
    last member has its own reason, trailing-data (it was counted as
    truncated-gzip, which its message contradicted)."""
    data = v2_text(3000)
    packed = bytearray(gzip.compress(data))
    middle = len(packed) // 2
    packed[middle : middle + 64] = b"\xff" * 64
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(packed))
    errors = [e for e in events(path) if isinstance(e, S.ContainerError)]
    assert ["truncated-gzip"] == [e.reason for e in errors]
    path.write_bytes(gzip.compress(data) + b"not gzip")
    evs = events(path)
    assert data == joined(evs)
    errors = [e for e in evs if isinstance(e, S.ContainerError)]
    assert ["trailing-data"] == [e.reason for e in errors]
    assert "Trailing data after the last gzip member" == errors[0].message
    assert data.count(b"\n") + 1 == errors[0].lineno
    assert "" == errors[0].text


@pytest.mark.parametrize("json", [False, True])
def test_trailing_data_keeps_a_last_line_without_newline(
    tmp_path: Path, json: bool
) -> None:
    """Garbage after a whole member whose text lacks a final newline: the
    last line is a whole record and is kept (text and JSON Lines)."""
    if json:
        data = b'{"message": "a"}\n{"message": "b"}'
        want = b"a\nb\n"
        after = 3  # the line after the two JSON lines
    else:
        data = v2_text(3).rstrip(b"\n")
        want = data + b"\n"
        after = 5  # the line after the header and three records
    path = tmp_path / "tail.gz"
    path.write_bytes(gzip.compress(data) + b"garbage")
    evs = events(path)
    assert want == joined(evs)
    errors = [e for e in evs if isinstance(e, S.ContainerError)]
    assert [("trailing-data", after)] == [(e.reason, e.lineno) for e in errors]


def test_empty_inputs(tmp_path: Path) -> None:
    """An empty file and an empty gzip member give no lines and no error."""
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    evs = events(empty)
    assert [S.SourceOpened, S.SourceClosed] == [type(e) for e in evs]
    empty.write_bytes(gzip.compress(b""))
    evs = events(empty)
    assert [S.SourceOpened, S.SourceClosed] == [type(e) for e in evs]


def test_over_long_line_is_cut(tmp_path: Path) -> None:
    """A line longer than max_line is cut (for the parser to report)."""
    long_line = b"x" * 100_000
    data = b"first\n" + long_line + b"\nlast\n"
    path = tmp_path / "long.log"
    path.write_bytes(data)
    got = joined(events(path, chunk_size=4096, max_line=1000))
    lines = got.split(b"\n")
    assert [b"first", b"x" * 1001, b"last", b""] == lines


def test_stdin(tmp_path: Path) -> None:
    """``-`` reads the given binary stream (gzip detected there too)."""
    data = v2_text(10)
    evs = events("-", stdin=io.BytesIO(gzip.compress(data)))
    assert "-" == evs[0].source  # type: ignore[attr-defined]
    assert data == joined(evs)
    evs = list(
        S.iter_source_events([], stdin=io.BytesIO(data))  # no input: stdin
    )
    assert data == joined(evs)


def test_cloudwatch_export_timestamps_stripped(tmp_path: Path) -> None:
    """Export-task lines lose their ISO timestamp prefix."""
    lines = [v2_line(1), NODATA]
    text = "".join(
        f"2026-08-01T00:00:0{i}.000Z {ln}\n" for i, ln in enumerate(lines)
    )
    path = tmp_path / "000000.gz"
    path.write_bytes(gzip.compress(text.encode()))
    evs = events(path)
    assert "cwl-export+gzip" == evs[0].container  # type: ignore[attr-defined]
    assert evs[0].framed  # type: ignore[attr-defined]
    assert ("\n".join(lines) + "\n").encode() == joined(evs)


# -- JSON ------------------------------------------------------------------
def _envelope(
    messages: list[str], kind: str = "DATA_MESSAGE"
) -> dict[str, object]:
    return {
        "messageType": kind,
        "owner": "123456789010",
        "logGroup": "vpc",
        "logStream": "eni-1235b8ca123456789-all",
        "subscriptionFilters": ["f"],
        "logEvents": [
            {"id": str(i), "timestamp": 0, "message": m}
            for i, m in enumerate(messages)
        ],
    }


def test_cloudwatch_envelopes(tmp_path: Path) -> None:
    """Envelopes are unwrapped; CONTROL_MESSAGE skipped and counted."""
    path = tmp_path / "cw.json.gz"
    docs = [
        _envelope(["CWL CONTROL MESSAGE: Checking health"], "CONTROL_MESSAGE"),
        _envelope([v2_line(0), v2_line(1)]),
        _envelope([NODATA]),
    ]
    text = "".join(json.dumps(d) + "\n" for d in docs)
    path.write_bytes(gzip.compress(text.encode()))
    evs = events(path)
    assert ("json+gzip", True) == (
        evs[0].container,  # type: ignore[attr-defined]
        evs[0].framed,  # type: ignore[attr-defined]
    )
    chunks = chunks_of(evs)
    assert ("\n".join([v2_line(0), v2_line(1), NODATA]) + "\n").encode() == (
        joined(evs)
    )
    assert [2, 2, 3] == chunks[0].line_numbers.tolist()  # type: ignore[union-attr]
    closed = evs[-1]
    assert isinstance(closed, S.SourceClosed)
    assert (3, 1) == (closed.lines, closed.control_messages)


def test_firehose_records_one_per_line_and_concatenated(
    tmp_path: Path,
) -> None:
    """{"message": ...} records, newline-separated or back to back."""
    path = tmp_path / "firehose-1-2026"
    recs = [json.dumps({"message": v2_line(i)}) for i in range(4)]
    path.write_text(recs[0] + "\n" + recs[1] + recs[2] + "\n\n" + recs[3])
    evs = events(path)
    expected = "".join(v2_line(i) + "\n" for i in range(4)).encode()
    assert expected == joined(evs)
    assert [1, 2, 2, 4] == chunks_of(evs)[0].line_numbers.tolist()  # type: ignore[union-attr]


def test_pretty_printed_json_document(tmp_path: Path) -> None:
    """``aws logs`` output (one indented document) is read whole."""
    path = tmp_path / "events.json"
    doc = {"events": [{"message": v2_line(0)}, {"message": v2_line(1)}]}
    path.write_text(json.dumps(doc, indent=2))
    evs = events(path)
    assert (v2_line(0) + "\n" + v2_line(1) + "\n").encode() == joined(evs)
    assert not [e for e in evs if isinstance(e, S.ContainerError)]


def test_bad_json_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    """A broken JSON line and a message-less object are bad; others kept."""
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps({"message": v2_line(0)})
        + '\n{"message": "2 1 eni-x\n'
        + json.dumps({"no": "message"})
        + "\n"
        + json.dumps({"message": v2_line(3)})
        + "\n"
    )
    evs = events(path)
    errors = [e for e in evs if isinstance(e, S.ContainerError)]
    assert [(2, "bad-json"), (3, "bad-json")] == [
        (e.lineno, e.reason) for e in errors
    ]
    assert "JSON object has no 'message'" == errors[1].message
    assert errors[0].message.startswith("Invalid JSON: ")
    assert (v2_line(0) + "\n" + v2_line(3) + "\n").encode() == joined(evs)


def test_message_with_newline_stays_one_line(tmp_path: Path) -> None:
    """A message holding a line break cannot become two records."""
    path = tmp_path / "nl.json"
    path.write_text(json.dumps({"message": "2 123\n456"}) + "\n")
    assert b"2 123 456\n" == joined(events(path))


# -- Parquet -----------------------------------------------------------------
def _aws_parquet(path: Path, rows: list[dict[str, object]]) -> None:
    """Write rows the way AWS does (underscores, typed, nulls, GZIP)."""
    names = list(rows[0])
    arrays = []
    for name in names:
        spec = F.field(name)
        values = [r[name] for r in rows]
        if spec.parquet_type == "INT_32":
            arrays.append(pa.array(values, pa.int32()))
        elif spec.parquet_type == "INT_64":
            arrays.append(pa.array(values, pa.int64()))
        else:
            arrays.append(pa.array(values, pa.string()))
    table = pa.table(arrays, names=[n.replace("-", "_") for n in names])
    pq.write_table(table, path, compression="gzip")


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "version": 5,
        "account-id": "012345678901",
        "interface-id": "eni-1",
        "srcaddr": "10.0.0.1",
        "dstaddr": "2001:db8::1",
        "srcport": 443,
        "dstport": 50000,
        "protocol": 6,
        "packets": 3,
        "bytes": 2**40,
        "start": 1690329606,
        "end": 1690329625000,
        "action": "ACCEPT",
        "log-status": "OK",
        "flow-direction": "egress",
        "pkt-dst-aws-service": "S3",
        "traffic-path": 7,
    }
    row.update(over)
    return row


def test_parquet_typed_columns_and_nulls(tmp_path: Path) -> None:
    """Parquet rows become typed batch columns; nulls are missing."""
    path = tmp_path / "x.log.parquet"
    nodata = {k: None for k in _row()}
    nodata.update(
        {
            "version": 5,
            "account-id": "012345678901",
            "interface-id": "eni-2",
            "start": 1,
            "end": 2,
            "log-status": "NODATA",
        }
    )
    _aws_parquet(path, [_row(), nodata])
    evs = events(path)
    assert ("parquet", True) == (
        evs[0].container,  # type: ignore[attr-defined]
        evs[0].framed,  # type: ignore[attr-defined]
    )
    results = [e for e in evs if isinstance(e, ParseResult)]
    assert 1 == len(results)
    result = results[0]
    assert ([], 1, 2) == (result.bad, result.ms_times, result.lines)
    recs = list(iter_records(result.batch))
    first, second = recs[0].values, recs[1].values
    assert 2**40 == first["bytes"]
    assert 1690329625 == first["end"]
    assert "2001:db8::1" == str(first["dstaddr"])
    assert F.Action.ACCEPT == first["action"]
    assert F.FlowDirection.EGRESS == first["flow-direction"]
    assert "S3" == first["pkt-dst-aws-service"]
    assert [1, 2] == [r.lineno for r in recs]
    assert None is second["srcaddr"]
    assert None is second["srcport"]
    assert None is second["action"]
    assert F.LogStatus.NODATA == second["log-status"]
    assert isinstance(result.batch.columns["srcport"], np.ndarray)


def test_parquet_bad_rows(tmp_path: Path) -> None:
    """Out-of-range ints, bad addresses and enums make bad rows only."""
    path = tmp_path / "bad.parquet"
    _aws_parquet(
        path,
        [
            _row(),
            _row(srcport=70000),
            _row(srcaddr="10.0.0.300"),
            _row(action="MAYBE"),
            _row(srcport=1),
        ],
    )
    result = next(e for e in events(path) if isinstance(e, ParseResult))
    assert [1, 5] == result.batch.lineno.tolist()
    assert [
        (2, Reason.OUT_OF_RANGE, "srcport"),
        (3, Reason.BAD_ADDRESS, "srcaddr"),
        (4, Reason.BAD_ENUM, "action"),
    ] == [(b.lineno, b.reason, b.field) for b in result.bad]
    assert [443, 1] == result.batch.columns["srcport"].tolist()


def test_parquet_tgw_and_damage(tmp_path: Path) -> None:
    """TGW Parquet rows are TGW records; unreadable Parquet is bad-parquet."""
    path = tmp_path / "tgw.parquet"
    table = pa.table(
        {
            "version": pa.array([6], pa.int32()),
            "resource_type": ["TransitGateway"],
            "tgw_id": ["tgw-1"],
        }
    )
    pq.write_table(table, path)
    result = next(e for e in events(path) if isinstance(e, ParseResult))
    assert (0, [Reason.TGW_RECORD]) == (
        result.batch.n,
        [b.reason for b in result.bad],
    )
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\0" * 100)
    errors = [e for e in events(broken) if isinstance(e, S.ContainerError)]
    assert ["bad-parquet"] == [e.reason for e in errors]


# -- inflaters -------------------------------------------------------------
def test_inflater_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fastest importable inflater is the default; names can force one."""
    names = S.available_inflaters()
    assert "zlib" in names
    assert names[0] == S.select_inflater()[0]
    monkeypatch.setenv("PYSILK_EXT_INFLATER", "zlib")
    assert "zlib" == S.select_inflater()[0]
    with pytest.raises(
        PysilkExtError,
        match=re.escape(
            "Invalid inflater 'zip' (PYSILK_EXT_INFLATER): "
            "expected one of isal, zlib-ng, zlib"
        ),
    ):
        S.select_inflater("zip")


def test_unusable_inflater_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An inflater named by PYSILK_EXT_INFLATER whose module is missing is
    an error naming the variable, not an ImportError traceback."""
    monkeypatch.setitem(
        S.__dict__, "INFLATERS", (("ghost", "no_such_inflater_module"),)
    )
    monkeypatch.setenv("PYSILK_EXT_INFLATER", "ghost")
    with pytest.raises(
        PysilkExtError,
        match=re.escape(
            "Cannot use the inflater 'ghost' (PYSILK_EXT_INFLATER): "
            "No module named 'no_such_inflater_module'"
        ),
    ):
        S.select_inflater()


class _Trickle(io.RawIOBase):
    """A pipe that hands out at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.pos = 0
        self.step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(size, self.step)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


def test_small_reads_gathered_and_long_lines_cut() -> None:
    """Short pipe reads gather into chunks; over-long lines stay bounded."""
    data = (
        v2_text(300)
        + b"y" * 5000
        + b"\n"
        + b"z" * 30000
        + b"\n"
        + v2_text(3, header=False)
    )
    evs = events("-", stdin=_Trickle(data, 97), chunk_size=8192, max_line=1000)
    chunks = chunks_of(evs)
    assert 1 < len(chunks) < 10
    assert all(len(c.head) + len(c.data) < 2 * 8192 for c in chunks)
    # shorter than a chunk: passed whole; longer: cut (the parser flags
    # both as too long)
    expected = data.replace(b"z" * 30000, b"z" * 1001)
    assert expected == joined(evs)
    assert [c.first_lineno for c in chunks] == [
        1 + joined(evs[: evs.index(c)]).count(b"\n") for c in chunks
    ]
