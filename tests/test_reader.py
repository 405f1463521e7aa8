# SPDX-License-Identifier: MIT
"""VpcReader: records across inputs, statistics, bad lines, threads."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import ipaddress
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysilk_ext import fields as F
from pysilk_ext import sources as S
from pysilk_ext.errors import VpcParseError
from pysilk_ext.reader import VpcReader
from tests.conftest import SEED_S3, load_gen_vpclogs

gen_vpclogs = load_gen_vpclogs()

UTC = dt.UTC


# -- an independent reference parser (plain Python, per field) -------------
def reference_value(name: str, text: str) -> Any:
    """What a text value means, computed without the reader."""
    if text == "-":
        return None
    spec = F.field(name)
    if spec.kind is F.FieldKind.INT:
        value = int(text)
        if spec.is_time and value > 2**31 - 1:
            value //= 1000
        return value
    if spec.kind is F.FieldKind.ADDR:
        return ipaddress.ip_address(text)
    if spec.kind is F.FieldKind.ENUM:
        assert spec.enum is not None
        return spec.enum(F.enum_code(spec.enum, text))
    return text


def reference_records(
    lines: list[str], fields: list[str]
) -> list[dict[str, Any]]:
    """Typed records of ``lines`` in ``fields`` order."""
    out = []
    for line in lines:
        tokens = line.split(" ")
        out.append(
            {
                n: reference_value(n, t)
                for n, t in zip(fields, tokens, strict=True)
            }
        )
    return out


def read_all(
    inputs: list[Any], **kw: Any
) -> tuple[list[dict[str, Any]], VpcReader]:
    """Records (as dicts) and the reader, after a full read."""
    reader = VpcReader(inputs, **kw)
    recs = [dict(r.values) for r in reader.iter_records()]
    return recs, reader


# -- typed sample values per field ---------------------------------------
def sample_value(name: str, version: int, i: int) -> str:
    """A valid text value of field ``name`` (varies with ``i``).

    The values of one ``i`` agree with each other: ``type`` names the
    family of the addresses (or is EFA, which names none).
    """
    if name == "version":
        return str(version)
    if name == "type":
        return "EFA" if i % 3 == 2 else ("IPv4" if i % 2 else "IPv6")
    spec = F.field(name)
    if spec.kind is F.FieldKind.INT:
        if spec.is_time:
            return str(1690329606 + i)
        return str(min(spec.hi, 7 + i))
    if spec.kind is F.FieldKind.ADDR:
        octet = i % 250
        return f"10.0.{octet}.{octet + 1}" if i % 2 else f"2001:db8::{i + 1:x}"
    if spec.kind is F.FieldKind.ENUM:
        assert spec.enum is not None
        texts = F.ENUM_TEXT[spec.enum]
        if name == "log-status":
            return "OK"
        return texts[i % len(texts)]
    return f"{name}-{i}"


def test_seed_sample_parsed_to_expected_values(shared: Path) -> None:
    """The 31 FloCon rows parse to what the text says, field by field."""
    path = shared / "data" / "seed-sample-v5.log"
    lines = path.read_text().splitlines()
    fields = lines[0].split(" ")
    recs, reader = read_all([path])
    assert 31 == len(recs)
    assert reference_records(lines[1:], fields) == recs
    assert all("904652123456" == r["account-id"] for r in recs)
    s3 = {
        str(r[side])
        for r in recs
        for side, label in (
            ("pkt-srcaddr", "pkt-src-aws-service"),
            ("pkt-dstaddr", "pkt-dst-aws-service"),
        )
        if r[label] == "S3"
    }
    assert set(SEED_S3) == s3
    internal = {
        (r["interface-id"], r["instance-id"], r["az-id"], r["vpc-id"])
        for r in recs
        if ipaddress.ip_address("10.1.1.50") in (r["srcaddr"], r["dstaddr"])
    }
    assert {
        (
            "eni-0ffa7e54f1ae8fa1b",
            "i-0826dea5238644ce7",
            "use1-az2",
            "vpc-0844e5fb7dab616dd",
        )
    } == internal
    total = reader.stats.totals()
    assert (32, 31, 31, 1, 0) == (
        total.lines,
        total.records,
        total.flows,
        total.headers,
        total.bad_lines,
    )


@pytest.mark.parametrize("version", F.VPC_VERSIONS)
def test_every_version(tmp_path: Path, version: int) -> None:
    """All fields of each version, by header, parse to their values."""
    fields = list(F.fields_of_version(version))
    lines = [
        " ".join(sample_value(f, version, i) for f in fields) for i in range(3)
    ]
    path = tmp_path / f"v{version}.log.gz"
    path.write_bytes(
        gzip.compress(("\n".join([" ".join(fields), *lines]) + "\n").encode())
    )
    recs, reader = read_all([path])
    assert reference_records(lines, fields) == recs
    assert {version: 3} == dict(reader.stats.totals().versions)


def test_unknown_future_field_kept(tmp_path: Path) -> None:
    """A field name the table does not know is kept as a string."""
    path = tmp_path / "future.log"
    path.write_text("version srcaddr next-big-thing\n11 10.0.0.1 hello\n")
    recs, reader = read_all([path])
    assert [
        {
            "version": 11,
            "srcaddr": ipaddress.ip_address("10.0.0.1"),
            "next-big-thing": "hello",
        }
    ] == recs
    assert 0 == reader.stats.totals().bad_lines


# -- one set of records in every container --------------------------------
FIELDS_V5 = list(F.fields_of_version(5))


def _v5_lines(n: int) -> list[str]:
    return [
        " ".join(sample_value(f, 5, i) for f in FIELDS_V5) for i in range(n)
    ]


def _containers(tmp: Path, lines: list[str]) -> dict[str, Path]:
    header = " ".join(FIELDS_V5)
    text = ("\n".join([header, *lines]) + "\n").encode()
    out: dict[str, Path] = {}
    out["plain"] = tmp / "plain.log"
    out["plain"].write_bytes(text)
    out["gzip"] = tmp / "one.log.gz"
    out["gzip"].write_bytes(gzip.compress(text))
    half = len(lines) // 2
    out["multi"] = tmp / "multi.log.gz"
    out["multi"].write_bytes(
        gzip.compress(("\n".join([header, *lines[:half]]) + "\n").encode())
        + gzip.compress(("\n".join([header, *lines[half:]]) + "\n").encode())
    )
    env = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [
            {"id": "1", "timestamp": 0, "message": m} for m in lines
        ],
    }
    ctl = {"messageType": "CONTROL_MESSAGE", "logEvents": []}
    out["cloudwatch"] = tmp / "cw.json.gz"
    out["cloudwatch"].write_bytes(
        gzip.compress(
            (json.dumps(ctl) + "\n" + json.dumps(env) + "\n").encode()
        )
    )
    out["firehose"] = tmp / "firehose"
    out["firehose"].write_text(
        "".join(json.dumps({"message": m}) for m in lines)
    )
    table_rows = [ln.split(" ") for ln in lines]
    arrays = []
    for j, name in enumerate(FIELDS_V5):
        col = [None if r[j] == "-" else r[j] for r in table_rows]
        ptype = F.field(name).parquet_type
        if ptype == "INT_32":
            arrays.append(
                pa.array(
                    [None if v is None else int(v) for v in col], pa.int32()
                )
            )
        elif ptype == "INT_64":
            arrays.append(
                pa.array(
                    [None if v is None else int(v) for v in col], pa.int64()
                )
            )
        else:
            arrays.append(pa.array(col, pa.string()))
    out["parquet"] = tmp / "x.log.parquet"
    pq.write_table(
        pa.table(arrays, names=[n.replace("-", "_") for n in FIELDS_V5]),
        out["parquet"],
        compression="gzip",
    )
    return out


def test_every_container_gives_the_same_records(tmp_path: Path) -> None:
    """Plain, gzip, multi-member, CloudWatch, Firehose, Parquet agree."""
    lines = _v5_lines(40)
    expected = reference_records(lines, FIELDS_V5)
    paths = _containers(tmp_path, lines)
    fmt = " ".join(FIELDS_V5)
    for name, path in paths.items():
        recs, reader = read_all([path], log_format=fmt)
        assert expected == recs, name
        assert 0 == reader.stats.totals().bad_lines, name
    cw = VpcReader([paths["cloudwatch"]], log_format=fmt)
    list(cw)
    assert 1 == cw.stats.totals().control_messages


def test_stdin_input() -> None:
    """``-`` (and no input at all) read the given binary stream."""
    lines = _v5_lines(5)
    data = gzip.compress(
        ("\n".join([" ".join(FIELDS_V5), *lines]) + "\n").encode()
    )
    for inputs in (["-"], []):
        recs, reader = read_all(inputs, stdin=io.BytesIO(data))
        assert reference_records(lines, FIELDS_V5) == recs
        assert ["-"] == [fs.source for fs in reader.stats.files]


# -- statistics ---------------------------------------------------------
def test_status_records_counted_per_interface(tmp_path: Path) -> None:
    """NODATA/SKIPDATA are records, not flows, counted per interface."""
    path = tmp_path / "status.log"
    path.write_text(
        "\n".join(
            [
                " ".join(F.DEFAULT_FORMAT),
                "2 123 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK",
                "2 123 eni-a - - - - - - - 100 160 - NODATA",
                "2 123 eni-b - - - - - - - 100 160 - NODATA",
                "2 123 eni-b - - - - - - - 160 220 - NODATA",
                "2 123 eni-b - - - - - - - 160 220 - SKIPDATA",
            ]
        )
        + "\n"
    )
    reader = VpcReader([path])
    list(reader)
    total = reader.stats.totals()
    assert (5, 1, 3, 1) == (
        total.records,
        total.flows,
        total.nodata,
        total.skipdata,
    )
    assert {"eni-a": 1, "eni-b": 2} == dict(reader.stats.nodata_by_interface)
    assert {"eni-b": 1} == dict(reader.stats.skipdata_by_interface)
    assert (100, 220) == (total.first_start, total.last_end)


def test_ms_times_and_tgw_records_counted(tmp_path: Path) -> None:
    """Millisecond times are fixed and counted; TGW records are not bad."""
    path = tmp_path / "mixed.log"
    tgw = " ".join(
        "TransitGateway" if f == "resource-type" else sample_value(f, 6, 0)
        for f in F.TGW_DEFAULT_FORMAT
    )
    path.write_text(
        "2 123 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 40 "
        "1690329606000 1690329625000 ACCEPT OK\n"
        + " ".join(F.TGW_DEFAULT_FORMAT)
        + "\n"
        + tgw
        + "\n"
    )
    bad_file = tmp_path / "bad.txt"
    recs, reader = read_all([path], bad_lines_path=bad_file)
    assert [(1690329606, 1690329625)] == [(r["start"], r["end"]) for r in recs]
    total = reader.stats.totals()
    assert (1, 1, 0, 1) == (
        total.ms_times,
        total.tgw,
        total.bad_lines,
        total.headers,
    )
    assert "" == bad_file.read_text()


# -- bad lines ----------------------------------------------------------------
BAD_TEXT = (
    "\n".join(
        [
            " ".join(F.DEFAULT_FORMAT),
            "2 123 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK",
            "2 123 eni-a 10.0.0.1 10.0.0.2 1 70000 6 1 40 100 160 ACCEPT OK",
            "2 123 eni-a 10.0.0.1",
            "2 123 eni-a 10.0.0.999 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK",
            "2 123 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK",
        ]
    )
    + "\n"
)


def test_bad_lines_file_content(tmp_path: Path) -> None:
    """Each bad line is written as PATH:LINE:REASON:TEXT, good ones kept."""
    path = tmp_path / "bad.log"
    path.write_text(BAD_TEXT)
    bad_file = tmp_path / "bad.txt"
    seen: list[str] = []
    recs, reader = read_all(
        [path],
        bad_lines_path=bad_file,
        on_bad_line=lambda b: seen.append(str(b)),
    )
    assert 2 == len(recs)
    assert [2, 6] == next(b.lineno.tolist() for b in VpcReader([path]))
    lines = BAD_TEXT.splitlines()
    assert (
        f"{path}:3:out-of-range:{lines[2]}\n"
        f"{path}:4:field-count:{lines[3]}\n"
        f"{path}:5:bad-address:{lines[4]}\n"
    ) == bad_file.read_text()
    assert [
        f"{path}:3: dstport: Value '70000' out of range 0-65535",
        f"{path}:4: Expected 14 fields but found 4",
        f"{path}:5: srcaddr: Invalid IP address '10.0.0.999'",
    ] == seen
    assert {"out-of-range": 1, "field-count": 1, "bad-address": 1} == dict(
        reader.stats.bad_by_reason
    )


def test_stop_on_error(tmp_path: Path) -> None:
    """stop_on_error raises at the first bad line, with its details."""
    path = tmp_path / "bad.log"
    path.write_text(BAD_TEXT)
    reader = VpcReader([path], stop_on_error=True)
    with pytest.raises(VpcParseError) as info:
        list(reader)
    exc = info.value
    assert f"{path}:3: dstport: Value '70000' out of range 0-65535" == str(exc)
    assert (str(path), 3, "dstport", "70000", "out-of-range") == (
        exc.path,
        exc.lineno,
        exc.field,
        exc.value,
        exc.reason,
    )


def test_truncated_gzip_through_reader(tmp_path: Path) -> None:
    """Lines before the damage become records; the damage is a bad line."""
    lines = _v5_lines(3000)
    text = ("\n".join([" ".join(FIELDS_V5), *lines]) + "\n").encode()
    packed = gzip.compress(text)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    bad_file = tmp_path / "bad.txt"
    recs, reader = read_all([path], bad_lines_path=bad_file, chunk_size=16384)
    total = reader.stats.totals()
    assert {"truncated-gzip": 1} == dict(total.bad)
    assert reference_records(lines[: len(recs)], FIELDS_V5) == recs
    assert len(recs) > 1000
    written = bad_file.read_text()
    assert written.startswith(f"{path}:{len(recs) + 2}:truncated-gzip:")


def _with(line: str, **values: str) -> str:
    """A _v5_lines line with some fields replaced (``_`` for ``-``)."""
    tokens = dict(zip(FIELDS_V5, line.split(" "), strict=True))
    tokens.update({k.replace("_", "-"): v for k, v in values.items()})
    return " ".join(tokens[name] for name in FIELDS_V5)


def test_contradicting_fields_in_every_container(tmp_path: Path) -> None:
    """Records whose fields contradict each other are bad lines in every
    container (Parquet rows included), in input order, by reason; the
    other records are read as before."""
    lines = _v5_lines(40)
    t = int(lines[4].split(" ")[FIELDS_V5.index("start")])
    lines[4] = _with(lines[4], end=str(t - 1))  # end before start
    lines[7] = _with(lines[7], srcaddr="2001:db8::99")  # type IPv4
    lines[20] = _with(lines[20], start="-")  # a flow: log-status OK
    expected = reference_records(
        [ln for i, ln in enumerate(lines) if i not in (4, 7, 20)], FIELDS_V5
    )
    want = [
        ("end-before-start", "end", f"end: Value '{t - 1}' is before start"),
        ("wrong-family", "srcaddr", "srcaddr: IPv6 address '2001:db8::99'"),
        ("missing-time", "start", "start: Missing value '-' in a flow"),
    ]
    fmt = " ".join(FIELDS_V5)
    for name, path in _containers(tmp_path, lines).items():
        seen: list[Any] = []
        recs, reader = read_all(
            [path], log_format=fmt, on_bad_line=seen.append
        )
        assert expected == recs, name
        assert {
            "end-before-start": 1,
            "missing-time": 1,
            "wrong-family": 1,
        } == dict(reader.stats.bad_by_reason), name
        assert want == [
            (b.reason, b.field, b.message[: len(w[2])])
            for b, w in zip(seen, want, strict=True)
        ], name
        if name in ("plain", "gzip", "parquet"):
            first = 1 if name == "parquet" else 2  # a header line first
            assert [first + 4, first + 7, first + 20] == [
                b.lineno for b in seen
            ], name
            assert lines[7].encode() == seen[1].text, name


def test_screened_bad_lines_are_numbered_across_chunks(
    tmp_path: Path,
) -> None:
    """Chunks counted by the parser (not the reader), parsed in two
    threads: a screened bad line far into the file keeps its file line
    number and text in the bad-lines file, and stop_on_error stops
    there."""
    lines = _v5_lines(3000)
    lines[2500] = _with(lines[2500], start="-")
    path = tmp_path / "big.log"
    path.write_text("\n".join([" ".join(FIELDS_V5), *lines]) + "\n")
    bad_file = tmp_path / "bad.txt"
    recs, reader = read_all(
        [path], bad_lines_path=bad_file, chunk_size=16384, parse_threads=2
    )
    assert 2999 == len(recs)
    assert f"{path}:2502:missing-time:{lines[2500]}\n" == (
        bad_file.read_text()
    )
    assert {"missing-time": 1} == dict(reader.stats.bad_by_reason)
    with pytest.raises(VpcParseError) as info:
        list(VpcReader([path], stop_on_error=True, chunk_size=16384))
    assert (
        f"{path}:2502: start: Missing value '-' in a flow record",
        "missing-time",
    ) == (str(info.value), info.value.reason)


def test_json_bad_message_points_at_its_line(tmp_path: Path) -> None:
    """A bad record inside an envelope is reported at the envelope's line."""
    good = "2 123 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK"
    env = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"message": good}, {"message": "2 123 broken"}],
    }
    path = tmp_path / "cw.json"
    path.write_text(
        json.dumps({"message": good}) + "\n\n" + json.dumps(env) + "\n"
    )
    bad: list[Any] = []
    recs, _reader = read_all([path], on_bad_line=bad.append)
    assert 2 == len(recs)
    assert [(3, "field-count")] == [(b.lineno, str(b.reason)) for b in bad]
    batch = next(iter(VpcReader([path])))
    assert [1, 3] == batch.lineno.tolist()


def test_open_failure_is_an_error(tmp_path: Path) -> None:
    """A missing input stops the run with SiLK's message."""
    missing = tmp_path / "nope.log"
    with pytest.raises(
        VpcParseError,
        match=r"^Cannot open '.*nope.log': No such file or directory$",
    ):
        list(VpcReader([missing]))


# -- filters and threads ------------------------------------------------------
def test_filters_skip_without_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects outside account/region/time are never opened."""
    gen_vpclogs.generate(
        tmp_path, records=400, seed=7, layout="hive", gzip=True
    )
    opened: list[str] = []
    real_open = S._open_binary
    monkeypatch.setattr(
        S, "_open_binary", lambda p: (opened.append(p), real_open(p))[1]
    )
    reader = VpcReader(
        [tmp_path],
        accounts=["012345678901"],
        regions=["us-east-1"],
        start=dt.datetime(2026, 8, 1, 0, 10),
        end=dt.datetime(2026, 8, 1, 0, 20, tzinfo=UTC),
    )
    list(reader)
    assert opened
    assert [fs.source for fs in reader.stats.files] == opened
    for name in opened:
        key = S.parse_log_key(name)
        assert key is not None
        assert key.start is not None
        assert ("012345678901", "us-east-1") == (key.account, key.region)
        assert dt.datetime(2026, 8, 1, 0, 10, tzinfo=UTC) <= key.start
        assert key.start < dt.datetime(2026, 8, 1, 0, 20, tzinfo=UTC)
    assert {"account", "region", "time"} == set(reader.stats.files_skipped)


def test_generated_tree_matches_truth(tmp_path: Path) -> None:
    """Every generated record is read; status counts match the truth file."""
    gen_vpclogs.generate(tmp_path, records=3000, seed=11, gzip=True)
    truth = json.loads((tmp_path / "_truth.json").read_text())
    reader = VpcReader([tmp_path])
    list(reader)
    total = reader.stats.totals()
    assert truth["records"] == total.records
    assert (
        truth["status_records"]["NODATA"],
        truth["status_records"]["SKIPDATA"],
    ) == (
        total.nodata,
        total.skipdata,
    )
    assert 0 == total.bad_lines
    assert {2, 5, 8} == set(total.versions)
    assert len(truth["files"]) == len(reader.stats.files)


def _switching_file(path: Path) -> tuple[list[dict[str, Any]], int]:
    """A file whose header changes mid-way (concatenated objects)."""
    f1 = list(F.DEFAULT_FORMAT)
    f2 = sorted(F.fields_of_version(5))
    lines1 = [" ".join(sample_value(f, 2, i) for f in f1) for i in range(300)]
    lines2 = [" ".join(sample_value(f, 5, i) for f in f2) for i in range(300)]
    path.write_text(
        "\n".join([" ".join(f1), *lines1, " ".join(f2), *lines2]) + "\n"
    )
    expected = reference_records(lines1, f1) + reference_records(lines2, f2)
    return expected, 602


@pytest.mark.parametrize(
    ("read_ahead", "threads"), [(False, 1), (True, 2), (True, 3)]
)
def test_threads_give_serial_results(
    tmp_path: Path, read_ahead: bool, threads: int
) -> None:
    """Parallel parsing (with a header switching formats) equals serial."""
    path = tmp_path / "switch.log"
    expected, nlines = _switching_file(path)
    recs, reader = read_all(
        [path, path],
        read_ahead=read_ahead,
        parse_threads=threads,
        chunk_size=2048,
    )
    assert expected + expected == recs
    total = reader.stats.totals()
    assert (2 * nlines, 4, 0) == (total.lines, total.headers, total.bad_lines)


def test_early_stop_releases_threads(tmp_path: Path) -> None:
    """Abandoning the iteration stops the helper threads cleanly."""
    path = tmp_path / "switch.log"
    _switching_file(path)
    it = iter(VpcReader([path] * 5, chunk_size=2048))
    first = next(it)
    assert first.n > 0
    it.close()  # type: ignore[attr-defined]


# -- property: render in any order, read back ------------------------------
_KINDS = {
    "int": st.integers(0, 65535).map(str),
    "addr": st.ip_addresses().map(str),
    "str": st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True),
}


@st.composite
def _format_and_rows(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    names = draw(
        st.lists(
            st.sampled_from(
                [
                    f.name
                    for f in F.FIELDS
                    if f.name not in ("version", "start", "end")
                ]
            ),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    fields = ["version", *names]
    version = str(F.version_of_fields(fields))
    nrows = draw(st.integers(1, 6))
    rows = []
    for _ in range(nrows):
        row = [version]
        for name in names:
            spec = F.field(name)
            if draw(st.booleans()) and name != "log-status":
                row.append("-")
            elif spec.kind is F.FieldKind.INT:
                row.append(
                    str(draw(st.integers(spec.lo, min(spec.hi, 2**40))))
                )
            elif spec.kind is F.FieldKind.ADDR:
                row.append(draw(_KINDS["addr"]))
            elif spec.kind is F.FieldKind.ENUM:
                assert spec.enum is not None
                row.append(draw(st.sampled_from(F.ENUM_TEXT[spec.enum])))
            else:
                row.append(draw(_KINDS["str"]))
        _agree(draw, fields, row)
        rows.append(row)
    return fields, rows


def _agree(draw: st.DrawFn, fields: list[str], row: list[str]) -> None:
    """Make ``row`` a record the reader keeps: srcaddr/dstaddr in the
    family ``type`` names, and present when ``log-status`` says OK
    (otherwise it is a ``wrong-family``/``missing-address`` bad line,
    which tests of their own cover)."""
    values = dict(zip(fields, row, strict=True))
    family = {"IPv4": 4, "IPv6": 6}.get(values.get("type", "-"))
    stated_ok = values.get("log-status") == "OK"
    for name in ("srcaddr", "dstaddr"):
        if name not in values:
            continue
        text = values[name]
        if text == "-":
            wrong = stated_ok
        else:
            wrong = family not in (None, ipaddress.ip_address(text).version)
        if wrong:
            row[fields.index(name)] = str(draw(st.ip_addresses(v=family or 4)))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    case=_format_and_rows(),
    header=st.booleans(),
    container=st.sampled_from(["text", "gzip", "firehose"]),
)
def test_round_trip_any_order_any_container(
    tmp_path: Path,
    case: tuple[list[str], list[list[str]]],
    header: bool,
    container: str,
) -> None:
    """Random records in a random field order read back equal."""
    fields, rows = case
    lines = [" ".join(r) for r in rows]
    if container == "firehose":
        data = "".join(
            json.dumps({"message": ln}) + "\n" for ln in lines
        ).encode()
        header = False
    else:
        body = ([" ".join(fields)] if header else []) + lines
        data = ("\n".join(body) + "\n").encode()
        if container == "gzip":
            data = gzip.compress(data)
    path = tmp_path / f"case-{container}"
    path.write_bytes(data)
    recs, reader = read_all(
        [path], log_format=None if header else " ".join(fields)
    )
    assert reference_records(lines, fields) == recs
    assert 0 == reader.stats.totals().bad_lines


def test_over_long_line_reported_at_its_line(tmp_path: Path) -> None:
    """A huge line is one bad line at its number; neighbours survive."""
    lines = _v5_lines(50)
    body = [" ".join(FIELDS_V5), *lines[:20], "x" * 200_000, *lines[20:]]
    path = tmp_path / "long.log"
    path.write_text("\n".join(body) + "\n")
    bad: list[Any] = []
    recs, reader = read_all(
        [path], chunk_size=16384, max_line=1000, on_bad_line=bad.append
    )
    assert reference_records(lines, FIELDS_V5) == recs
    assert [(22, "line-too-long")] == [(b.lineno, str(b.reason)) for b in bad]
    assert 52 == reader.stats.totals().lines
