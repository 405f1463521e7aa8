# SPDX-License-Identifier: MIT
"""rwvpc2silk: SiLK's baseline cases, every error, the repository, reruns.

Most tests run the command in-process (``main([...])`` + capsys); the
interrupted-run test kills a real process with SIGKILL, and the
``@pytest.mark.silk`` tests read the repository with SiLK's own tools.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.cli import _vpcsinks, rwsilk2vpc, rwvpc2silk
from pysilk_ext.cli._manpage import (
    MAN_DIR,
    generated_region,
    regenerate,
    replace_region,
)
from pysilk_ext.convert.classify import DEFAULT_TYPE_IDS
from pysilk_ext.convert.ledger import LEDGER_NAME
from pysilk_ext.convert.mapping import pod_table, round_trip_fields
from pysilk_ext.silkfmt import appender
from pysilk_ext.silkfmt.flowfile import FlowReader
from pysilk_ext.silkfmt.header import (
    AnnotationEntry,
    Compression,
    FileFormat,
    InvocationEntry,
    PackedFileEntry,
    read_header,
)
from pysilk_ext.silkfmt.siteconf import load_siteconf
from tests.cli.convert_support import (
    ENI_A,
    ENI_B,
    ENI_C,
    HEADER,
    SAMPLES,
    SITE_CONF,
    SMALL,
    T0,
    build_map,
    expected_types,
    flow_tuples,
    line,
    read_batches,
    record_keys,
    repo_files,
    repo_records,
    small_log_text,
    text_tuples,
)
from tests.cli.stdio_support import FakeBinaryTty, FakeStdin, FakeTty
from tests.conftest import REPO, load_gen_vpclogs

USAGE = "Use 'rwvpc2silk --help' for usage\n"
NAMES = {v: k for k, v in DEFAULT_TYPE_IDS.items()}
gen_vpclogs = load_gen_vpclogs()


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run rwvpc2silk in-process; return status, stdout, stderr."""
    status = rwvpc2silk.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SiLK variables from the caller's environment."""
    for var in (
        "SILK_CONFIG_FILE",
        "SILK_COMPRESSION_METHOD",
        "SILK_CLOBBER",
        "SILK_DATA_ROOTDIR",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """The support module's small v5 log."""
    path = tmp_path / "small.log"
    path.write_text(small_log_text())
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A writable copy of the bundled silk.conf."""
    path = tmp_path / "site" / "silk.conf"
    path.parent.mkdir()
    shutil.copy(SITE_CONF, path)
    return path


def read_flow_file(path: Path | bytes) -> np.ndarray:
    """Every record of one SiLK file (or its bytes)."""
    with FlowReader(path) as reader:
        return reader.read_all()


def types_of(recs: np.ndarray) -> Counter[str]:
    """Type names of records (share/silk.conf's ids)."""
    return Counter(NAMES[int(t)] for t in recs["flowtype"])


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --


def test_null_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty input gives a valid SiLK file without records."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    out_path = tmp_path / "empty.rw"
    status, out, err = run([f"--output-path={out_path}"], capsys)
    assert (0, "", "") == (status, out, err)
    with FlowReader(out_path) as reader:
        assert FileFormat.FT_RWIPV6ROUTING == reader.header.format
        assert 1 == reader.header.record_version
        assert 0 == len(reader.read_all())


def test_null_input_to_stdout(
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty input and no --output-path: a SiLK header on stdout."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    assert 0 == rwvpc2silk.main(["-"])
    out, err = capsysbinary.readouterr()
    assert b"" == err
    with FlowReader(out) as reader:
        assert 0 == len(reader.read_all())


def test_console_script_entry_point(
    small_log: Path, site: Path, tmp_path: Path
) -> None:
    """The installed ``rwvpc2silk`` script runs (skipped if not installed)."""
    exe = shutil.which("rwvpc2silk")
    if exe is None:
        pytest.skip("rwvpc2silk is not installed on PATH")
    out_path = tmp_path / "o.rw"
    result = subprocess.run(
        [
            exe,
            f"--site-config-file={site}",
            f"--output-path={out_path}",
            str(small_log),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert 3 == len(read_flow_file(out_path))


# -- errors (each documented message, exact text) ------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--stop-on-error", "--bad-input-lines=x"],
            "May not use --stop-on-error when --bad-input-lines is specified",
        ),
        (
            ["--root-directory=r", "--output-path=x"],
            "May not use --output-path when --root-directory is specified",
        ),
        (
            ["--root-directory=r", "--note-add=x"],
            "May not use --note-add when --root-directory is specified",
        ),
        (
            ["--root-directory=r", "--note-file-add=x"],
            "May not use --note-file-add when --root-directory is specified",
        ),
        (
            ["--compression-method=zip"],
            "Invalid compression-method 'zip': Unknown compression method",
        ),
        (
            ["--byte-order=middle"],
            "Invalid byte-order 'middle': Unrecognized value",
        ),
        (
            ["--action=drop"],
            "Invalid action 'drop': Expected reject, accept or all",
        ),
        (
            ["--sensor-policy=az"],
            "Invalid sensor-policy 'az': Expected interface, subnet, vpc "
            "or account",
        ),
        (
            ["--output-path=a", "--output-path=b"],
            "Invalid output-path: Switch used multiple times",
        ),
        (
            ["--log-format=${version"],
            "Invalid log-format '${version': Text outside ${...}",
        ),
        (
            ["--account=12"],
            "Invalid account '12': Expected a 12-digit AWS account id",
        ),
        (
            ["--start-date=2026/08/02", "--end-date=2026/08/01"],
            "Invalid end-date '2026/08/01': Ends before the start-date",
        ),
        (
            ["--note-file-add=/nonexistent/note"],
            "Invalid note-file-add '/nonexistent/note': No such file or "
            "directory",
        ),
        (
            ["--print-statistics=stdout"],
            "May not use --print-statistics=stdout when the records are "
            "written to the standard output",
        ),
        (["--bogus"], "Unrecognized switch '--bogus'"),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    small_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad switch value or combination: the message, the hint, exit 1."""
    status, out, err = run([*argv, str(small_log)], capsys)
    assert (1, "") == (status, out)
    assert f"rwvpc2silk: {message}\n{USAGE}" == err


def test_refuses_terminal_output(
    small_log: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Binary records are never written to a terminal (SiLK's rule)."""
    tty = FakeBinaryTty()
    monkeypatch.setattr(sys, "stdout", tty)
    status = rwvpc2silk.main([str(small_log)])
    err = capsys.readouterr().err
    assert 1 == status
    assert (
        "rwvpc2silk: Will not write binary data on a terminal 'stdout'\n"
        + USAGE
    ) == err
    assert b"" == tty.buffer.getvalue()


def test_refuses_existing_output(
    small_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An existing --output-path is kept unless SILK_CLOBBER is set."""
    target = tmp_path / "exists.rw"
    target.write_text("keep me")
    status, _, err = run([f"--output-path={target}", str(small_log)], capsys)
    assert 1 == status
    assert (
        f"rwvpc2silk: Will not create new file over existing file "
        f"'{target}': File exists\n"
    ) == err
    assert "keep me" == target.read_text()
    monkeypatch.setenv("SILK_CLOBBER", "1")
    assert 0 == run([f"--output-path={target}", str(small_log)], capsys)[0]
    assert 3 == len(read_flow_file(target))


@pytest.mark.parametrize(
    ("switch", "name"),
    [
        ("", "/nonexistent/flows.log"),
        ("--map=", "/nonexistent/cloud.vpcmap"),
        ("--config-file=", "/nonexistent/rwvpc2silk.yaml"),
        ("--ip-ranges=", "/nonexistent/ip-ranges.json"),
    ],
)
def test_missing_files(
    switch: str,
    name: str,
    small_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file that does not exist: SiLK's "Cannot open" and exit 1."""
    out_path = tmp_path / "o.rw"
    args = [f"--output-path={out_path}", f"{switch}{name}"]
    if switch:
        args.append(str(small_log))
    status, out, err = run(args, capsys)
    assert (1, "") == (status, out)
    assert (
        f"rwvpc2silk: Cannot open '{name}': No such file or directory\n"
        == (err)
    )
    assert not out_path.exists()


def test_invalid_configuration(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in the configuration file is an error naming the key."""
    conf = tmp_path / "c.yaml"
    conf.write_text("sensors:\n  polcy: vpc\n")
    status, _, err = run(
        [
            f"--config-file={conf}",
            f"--output-path={tmp_path / 'o'}",
            str(small_log),
        ],
        capsys,
    )
    assert 1 == status
    assert (
        f"rwvpc2silk: Invalid configuration '{conf}': sensors.polcy: Unknown "
        "setting (known: classes, fallback, max-sensors, on-exhausted, "
        "policy, unknown)\n"
    ) == err


# -- bad input lines -------------------------------------------------------


@pytest.fixture
def bad_log(tmp_path: Path) -> Path:
    """Two good REJECT lines around two bad ones."""
    text = small_log_text().splitlines()
    path = tmp_path / "bad.log"
    path.write_text(
        "\n".join([text[0], text[1], "5 123 eni-x", text[2], "garbage"]) + "\n"
    )
    return path


def test_bad_lines_are_counted_and_summarised(
    site: Path,
    bad_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad lines never stop a run; rwtuc's summary follows it."""
    out_path = tmp_path / "o.rw"
    bad_path = tmp_path / "bad.txt"
    status, _, err = run(
        [
            f"--site-config-file={site}",
            f"--output-path={out_path}",
            f"--bad-input-lines={bad_path}",
            str(bad_log),
        ],
        capsys,
    )
    assert 0 == status
    assert (
        "rwvpc2silk: Could not parse 2 lines; try again with "
        "--stop-on-error or --verbose for details\n"
    ) == err
    assert 2 == len(read_flow_file(out_path))
    bad_lines = bad_path.read_text().splitlines()
    assert [f"{bad_log}:3:", f"{bad_log}:5:"] == [
        b[: len(str(bad_log)) + 3] for b in bad_lines
    ]


def test_stop_on_error(
    site: Path,
    bad_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--stop-on-error: the first bad line, path:line, exit 1, no file."""
    out_path = tmp_path / "o.rw"
    status, _, err = run(
        [
            f"--site-config-file={site}",
            f"--output-path={out_path}",
            "--stop-on-error",
            str(bad_log),
        ],
        capsys,
    )
    assert 1 == status
    assert err.startswith(f"rwvpc2silk: {bad_log}:3: ")
    assert 1 == len(err.splitlines())
    assert not out_path.exists()


def test_verbose_prints_each_bad_line(
    site: Path,
    bad_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--verbose: one message per bad line, no summary."""
    status, _, err = run(
        [
            f"--site-config-file={site}",
            f"--output-path={tmp_path / 'o'}",
            "--verbose",
            str(bad_log),
        ],
        capsys,
    )
    assert 0 == status
    assert [f"rwvpc2silk: {bad_log}:3:", f"rwvpc2silk: {bad_log}:5:"] == [
        e[: len(str(bad_log)) + 15]
        for e in err.splitlines()
        if not e.startswith("rwvpc2silk: Added sensor")
    ]


# -- conversion ---------------------------------------------------------


@pytest.mark.parametrize("action", ["reject", "accept", "all"])
def test_action_selection(
    site: Path,
    action: str,
    small_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--action picks the records; each gets its class/type."""
    out_path = tmp_path / "o.rw"
    status, _, err = run(
        [
            f"--action={action}",
            f"--site-config-file={site}",
            f"--output-path={out_path}",
            str(small_log),
        ],
        capsys,
    )
    assert (0, "") == (status, err)
    recs = read_flow_file(out_path)
    assert expected_types(action) == types_of(recs)


def test_default_action_from_configuration(
    site: Path,
    small_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The configuration's action applies; --action overrides it."""
    conf = tmp_path / "c.yaml"
    conf.write_text("action: accept\n")
    for extra, action in (([], "accept"), (["--action=all"], "all")):
        out_path = tmp_path / f"{action}.rw"
        assert (
            0
            == run(
                [
                    f"--config-file={conf}",
                    *extra,
                    f"--site-config-file={site}",
                    f"--output-path={out_path}",
                    str(small_log),
                ],
                capsys,
            )[0]
        )
        assert expected_types(action) == types_of(read_flow_file(out_path))


def test_records_hold_the_input_values(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Addresses, ports, protocol, counts and times are the log's."""
    import ipaddress

    out_path = tmp_path / "o.rw"
    run(["--action=all", f"--output-path={out_path}", str(small_log)], capsys)
    names = (
        "pkt-srcaddr",
        "pkt-dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
    )
    expected = flow_tuples(read_batches([small_log]), names)
    got = Counter(
        (
            ipaddress.ip_address(bytes(rec["sip"])).ipv4_mapped,
            ipaddress.ip_address(bytes(rec["dip"])).ipv4_mapped,
            int(rec["sport"]),
            int(rec["dport"]),
            int(rec["proto"]),
            int(rec["packets"]),
            int(rec["bytes"]),
            int(rec["stime"]) // 1000,
            (int(rec["stime"]) + int(rec["elapsed"])) // 1000,
        )
        for rec in read_flow_file(out_path)
    )
    assert expected == got


def test_log_format_for_headerless_input(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--log-format reads lines that have no header line."""
    body = "\n".join(t for t, _ in SMALL) + "\n"
    path = tmp_path / "noheader.log"
    path.write_text(body)
    out_path = tmp_path / "o.rw"
    fmt = " ".join("${" + name + "}" for name in small_log_text().split()[:29])
    status, _, err = run(
        [
            f"--log-format={fmt}",
            f"--site-config-file={site}",
            f"--output-path={out_path}",
            str(path),
        ],
        capsys,
    )
    assert (0, "") == (status, err)
    assert expected_types("reject") == types_of(read_flow_file(out_path))


def test_key_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--account reads only the objects of that account (S3 layout)."""
    out_path = tmp_path / "o.rw"
    status, _, _ = run(
        [
            "--action=all",
            "--account=111122223333",
            "--print-statistics",
            f"--output-path={out_path}",
            str(SAMPLES / "AWSLogs"),
        ],
        capsys,
    )
    assert 0 == status
    # the only 111122223333 object is the version 2 .log.gz
    (gz,) = (SAMPLES / "AWSLogs" / "111122223333").rglob("*.log.gz")
    expected = sum(flow_tuples(read_batches([gz]), ("srcaddr",)).values())
    assert expected == len(read_flow_file(out_path))


def test_notes_invocation_compression(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Header: invocation, annotations, compression and byte order."""
    note = tmp_path / "note.txt"
    note.write_text("from a file")
    out_path = tmp_path / "o.rw"
    argv = [
        "--note-add=first note",
        f"--note-file-add={note}",
        "--compression-method=zlib",
        "--byte-order=big",
        f"--output-path={out_path}",
        str(small_log),
    ]
    assert 0 == run(argv, capsys)[0]
    with open(out_path, "rb") as fp:
        header = read_header(fp)
    assert Compression.ZLIB == header.compression
    assert "big" == header.byte_order
    entries = header.entries
    assert ["rwvpc2silk " + " ".join(argv)] == [
        e.text for e in entries if isinstance(e, InvocationEntry)
    ]
    assert ["first note", "from a file"] == [
        e.text for e in entries if isinstance(e, AnnotationEntry)
    ]
    stripped = tmp_path / "s.rw"
    run(
        ["--invocation-strip", f"--output-path={stripped}", str(small_log)],
        capsys,
    )
    with open(stripped, "rb") as fp:
        assert not any(
            isinstance(e, InvocationEntry) for e in read_header(fp).entries
        )


def test_sensors_need_a_site_file_to_keep_names(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without any silk.conf the sensors live in memory: a warning."""
    status, _, err = run(
        [f"--output-path={tmp_path / 'o.rw'}", str(small_log)], capsys
    )
    assert 0 == status
    assert (
        "rwvpc2silk: Warning: 2 sensors are in no silk.conf; use "
        "--site-config-file to keep their names\n"
    ) == err


def test_one_sensor_warning_is_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One new sensor without a silk.conf: '1 sensor is ... its name'
    (it said '1 sensors are ... their names')."""
    log = tmp_path / "one.log"
    log.write_text(f"{HEADER}\n{line()}\n")
    status, _, err = run(
        [f"--output-path={tmp_path / 'o.rw'}", str(log)], capsys
    )
    assert 0 == status
    assert (
        "rwvpc2silk: Warning: 1 sensor is in no silk.conf; use "
        "--site-config-file to keep its name\n"
    ) == err


def test_new_sensors_join_the_site_file(
    small_log: Path,
    site: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """New interfaces become sensors in silk.conf; ids stay stable."""
    out1, out2 = tmp_path / "1.rw", tmp_path / "2.rw"
    for out_path in (out1, out2):
        status, _, err = run(
            [
                "--action=all",
                f"--site-config-file={site}",
                f"--output-path={out_path}",
                str(small_log),
            ],
            capsys,
        )
        assert (0, "") == (status, err)
    conf = load_siteconf(site)
    ids = {name: conf.sensor_id(name) for name in (ENI_A, ENI_B)}
    assert [15, 16] == sorted(ids.values())
    assert conf.sensors[ids[ENI_A]].description.startswith(
        f"AWS interface-id {ENI_A} vpc-id vpc-"
    )
    first = read_flow_file(out1)
    assert record_keys(first) == record_keys(read_flow_file(out2))
    assert {ids[ENI_A], ids[ENI_B]} == set(first["sensor"].tolist())


def test_dedup_removes_the_second_copy(
    tmp_path: Path, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dedup: one flow logged on two interfaces is written once."""
    copy_a = line(srcaddr="10.0.1.10", dstaddr="10.0.1.11", dstport="5432")
    copy_b = line(
        interface_id=ENI_B,
        srcaddr="10.0.1.10",
        dstaddr="10.0.1.11",
        dstport="5432",
        flow_direction="ingress",
    )
    path = tmp_path / "two.log"
    path.write_text(
        "\n".join([small_log_text().split("\n")[0], copy_a, copy_b])
    )
    stats = tmp_path / "stats.txt"
    for extra, expected in (([], 2), (["--dedup"], 1)):
        out_path = tmp_path / f"o{len(extra)}.rw"
        run(
            [
                *extra,
                f"--site-config-file={site}",
                f"--print-statistics={stats}",
                f"--output-path={out_path}",
                str(path),
            ],
            capsys,
        )
        assert expected == len(read_flow_file(out_path))
    assert "Duplicates removed:" in stats.read_text()
    assert _stat(stats.read_text(), "Duplicates removed") == 1


def test_sensor_policy_vpc(
    small_log: Path,
    site: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--sensor-policy=vpc: one sensor for every interface of the VPC."""
    out_path = tmp_path / "o.rw"
    run(
        [
            "--sensor-policy=vpc",
            "--action=all",
            f"--site-config-file={site}",
            f"--output-path={out_path}",
            str(small_log),
        ],
        capsys,
    )
    conf = load_siteconf(site)
    recs = read_flow_file(out_path)
    assert {conf.sensor_id("vpc-0aaaaaaaaaaaaaaaa")} == set(
        recs["sensor"].tolist()
    )


# -- the repository ------------------------------------------------------


def _convert_into(
    root: Path,
    inputs: list[Path],
    capsys: pytest.CaptureFixture[str],
    *extra: str,
) -> tuple[int, str]:
    status, _, err = run(
        ["--action=all", f"--root-directory={root}", *extra]
        + [str(p) for p in inputs],
        capsys,
    )
    return status, err


def test_repository_layout(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One file per flowtype x sensor x hour, named by path-format."""
    root = tmp_path / "repo"
    assert (0, "") == _convert_into(root, [small_log], capsys)
    site = load_siteconf(root / "silk.conf")  # created from the bundle
    rel = sorted(str(p.relative_to(root)) for p in repo_files(root))
    hour0, hour1 = "2026/08/01/", "20260801.00"
    assert [
        f"aws2int/{hour0}aws2int-{ENI_A}_{hour1}",
        f"innull/{hour0}innull-{ENI_A}_{hour1}",
        f"innull/{hour0}innull-{ENI_B}_20260801.01",
        f"int2aws/{hour0}int2aws-{ENI_A}_{hour1}",
        f"inweb/{hour0}iw-{ENI_B}_{hour1}",
        f"outnull/{hour0}outnull-{ENI_A}_{hour1}",
    ] == rel
    path = root / f"innull/{hour0}innull-{ENI_B}_20260801.01"
    with open(path, "rb") as fp:
        header = read_header(fp)
    assert [
        PackedFileEntry(
            (T0 + 3600) * 1000,
            DEFAULT_TYPE_IDS["innull"],
            site.sensor_id(ENI_B),
        )
    ] == [e for e in header.entries if isinstance(e, PackedFileEntry)]


def test_rerun_does_not_duplicate(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ledger lists converted inputs; a rerun skips them."""
    root = tmp_path / "repo"
    _convert_into(root, [small_log], capsys)
    first = record_keys(repo_records(root))
    status, err = _convert_into(root, [small_log], capsys, "--verbose")
    assert 0 == status
    assert f"rwvpc2silk: Skipping '{small_log}': converted before\n" == err
    assert first == record_keys(repo_records(root))
    entries = [
        json.loads(x) for x in (root / LEDGER_NAME).read_text().splitlines()
    ]
    commits = [e for e in entries if e["op"] == "commit"]
    assert [[str(small_log)]] == [
        [i["input"] for i in c["inputs"]] for c in commits
    ]


def test_force_converts_again(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--force converts a listed input again (appending to the files)."""
    root = tmp_path / "repo"
    _convert_into(root, [small_log], capsys)
    first = record_keys(repo_records(root))
    assert (0, "") == _convert_into(root, [small_log], capsys, "--force")
    twice = Counter({k: 2 * v for k, v in first.items()})
    assert twice == record_keys(repo_records(root))


def test_aws_objects_are_known_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A synced copy of an AWS object elsewhere is the same input."""
    (gz,) = (SAMPLES / "AWSLogs" / "111122223333").rglob("*.log.gz")
    root = tmp_path / "repo"
    _convert_into(root, [gz], capsys)
    copy = tmp_path / "elsewhere" / gz.name
    copy.parent.mkdir()
    shutil.copy(gz, copy)
    before = record_keys(repo_records(root))
    _convert_into(root, [copy], capsys)
    assert before == record_keys(repo_records(root))


def _split_inputs(tmp_path: Path, parts: int) -> list[Path]:
    """The small log's lines over several files (one input each)."""
    lines = small_log_text().splitlines()
    header, body = lines[0], lines[1:]
    paths = []
    for i in range(parts):
        path = tmp_path / f"part{i}.log"
        path.write_text("\n".join([header, *body[i::parts]]) + "\n")
        paths.append(path)
    return paths


def test_failure_mid_run_leaves_a_consistent_repository(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error after some commits: they are undone; a rerun completes."""
    inputs = _split_inputs(tmp_path, 3)
    clean = tmp_path / "clean"
    _convert_into(clean, inputs, capsys)
    expected = record_keys(repo_records(clean))

    root = tmp_path / "repo"
    monkeypatch.setattr(_vpcsinks, "CHECKPOINT_RECORDS", 0)
    original = appender.RepositoryWriter._publish
    calls = {"n": 0}

    def failing_publish(
        self: appender.RepositoryWriter, staged: object
    ) -> bool:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return original(self, staged)  # type: ignore[arg-type]

    monkeypatch.setattr(appender.RepositoryWriter, "_publish", failing_publish)
    status, err = _convert_into(root, inputs, capsys)
    assert (1, "rwvpc2silk: No space left on device\n") == (status, err)
    partial = record_keys(repo_records(root))
    assert partial <= expected  # only whole inputs remain
    ledger = (root / LEDGER_NAME).read_text()
    assert '"op":"rollback"' in ledger
    monkeypatch.setattr(appender.RepositoryWriter, "_publish", original)
    assert (0, "") == _convert_into(root, inputs, capsys)
    assert expected == record_keys(repo_records(root))


_KILLER = """
import os, signal, sys
from pysilk_ext.cli import _vpcsinks, rwvpc2silk
from pysilk_ext.silkfmt import appender
_vpcsinks.CHECKPOINT_RECORDS = 0
original = appender.RepositoryWriter._publish
calls = [0]
def publish(self, staged):
    done = original(self, staged)
    calls[0] += 1
    if calls[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return done
appender.RepositoryWriter._publish = publish
sys.exit(rwvpc2silk.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("kill_after", [1, 4, 6])
def test_killed_run_is_undone_by_the_next(
    kill_after: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kill -9 mid-run: files stay readable; the rerun has no duplicates."""
    inputs = _split_inputs(tmp_path, 3)
    clean = tmp_path / "clean"
    _convert_into(clean, inputs, capsys)
    expected = record_keys(repo_records(clean))
    root = tmp_path / "repo"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLER,
            str(kill_after),
            "--action=all",
            f"--root-directory={root}",
            *map(str, inputs),
        ],
        capture_output=True,
        check=False,
        cwd=REPO,
    )
    assert -signal.SIGKILL == result.returncode
    partial = record_keys(repo_records(root))  # every file reads cleanly
    assert 0 < sum(partial.values())
    status, err = _convert_into(root, inputs, capsys, "--print-statistics")
    assert 0 == status
    assert expected == record_keys(repo_records(root))
    assert _stat(err, "Interrupted transactions undone") == 1


def test_dry_run_writes_nothing(
    small_log: Path,
    site: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--dry-run: statistics, but no records, sensors or ledger."""
    root = tmp_path / "repo"
    conf_before = site.read_text()
    status, out, err = run(
        [
            "--dry-run",
            "--action=all",
            f"--site-config-file={site}",
            f"--root-directory={root}",
            str(small_log),
        ],
        capsys,
    )
    assert (0, "") == (status, out)
    assert not root.exists()
    assert conf_before == site.read_text()
    assert sum(expected_types("all").values()) == _stat(
        err, "SiLK records written"
    )
    assert "Dry run: nothing written" in err
    status, out, err = run(
        ["--dry-run", f"--output-path={tmp_path / 'x.rw'}", str(small_log)],
        capsys,
    )
    assert not (tmp_path / "x.rw").exists()


def _stat(text: str, label: str) -> int:
    """The value of one statistics row."""
    for row in text.splitlines():
        if row.strip().startswith(label + ":"):
            return int(row.rsplit(None, 1)[-1])
    raise AssertionError(f"no row '{label}' in:\n{text}")


def test_statistics_content(
    small_log: Path,
    bad_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--print-statistics: inputs, records, types, sensors, gaps, bytes."""
    root = tmp_path / "repo"
    status, err = _convert_into(
        root, [small_log, bad_log], capsys, "--print-statistics"
    )
    assert 0 == status
    small_types = expected_types("all")
    bad_types = Counter(kind for _, kind in SMALL[:2])  # its good lines
    assert 2 == _stat(err, "Inputs read")
    assert 2 == _stat(err, "Bad input lines")
    assert len(SMALL) + 2 + 2 == _stat(err, "Records read")
    written = small_types + bad_types
    assert sum(written.values()) == _stat(err, "SiLK records written")
    by_type = err.split("Written by class/type:")[1]
    for kind, count in written.items():
        assert count == _stat(by_type, f"all/{kind}")
    assert 1 == _stat(err, "NODATA")
    assert 1 == _stat(err, "SKIPDATA")
    section = err.split("SKIPDATA (coverage gaps) by interface:")[1]
    assert 1 == _stat(section, ENI_B)
    nodata = err.split("NODATA records by interface:")[1]
    assert 1 == _stat(nodata, ENI_C)
    stored = sum(p.stat().st_size for p in repo_files(root))
    assert stored == _stat(err, "Bytes stored")
    assert (small_log.stat().st_size + bad_log.stat().st_size) == _stat(
        err, "Input bytes (as stored)"
    )
    assert err.rstrip().endswith(
        "try again with --stop-on-error or --verbose for details"
    )


def test_progress_on_a_terminal(
    site: Path,
    small_log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A terminal on stderr shows records, rate and inputs; then clears."""
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(_vpcsinks, "PROGRESS_INTERVAL", 0.0)
    rwvpc2silk.main(
        [
            f"--site-config-file={site}",
            f"--output-path={tmp_path / 'o.rw'}",
            str(small_log),
        ]
    )
    shown = tty.getvalue()
    assert "\rrwvpc2silk: 8 records, " in shown
    assert "inputs 0/1" in shown
    assert shown.endswith("\r\x1b[K")
    tty2 = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty2)
    rwvpc2silk.main(
        [
            "--no-progress",
            f"--site-config-file={site}",
            f"--output-path={tmp_path / 'p.rw'}",
            str(small_log),
        ]
    )
    assert "" == tty2.getvalue()


# -- nothing lost: the round trip -----------------------------------------


def _round_trip(
    inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each input -> SiLK -> rwsilk2vpc equals the input (kept fields)."""
    map_path = build_map(inputs, tmp_path / "cloud.vpcmap")
    site = tmp_path / "silk.conf"
    shutil.copy(SITE_CONF, site)
    for i, src in enumerate(inputs):
        batches = read_batches([src])
        if not batches:
            continue
        columns = sorted(set().union(*(b.columns for b in batches)))
        names = round_trip_fields(columns)
        silk = tmp_path / f"{i}.rw"
        text = tmp_path / f"{i}.log"
        status, _, err = run(
            [
                "--action=all",
                f"--map={map_path}",
                f"--site-config-file={site}",
                f"--output-path={silk}",
                str(src),
            ],
            capsys,
        )
        assert (0, "") == (status, err)
        assert 0 == rwsilk2vpc.main(
            [
                f"--map={map_path}",
                f"--site-config-file={site}",
                f"--output-path={text}",
                "--fields=" + ",".join(names),
                str(silk),
            ]
        )
        want = flow_tuples(batches, names)
        assert sum(want.values()) > 0
        assert want == text_tuples(text.read_bytes(), names), src


def test_round_trip_bundled_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bundled sample (and the seed) comes back field for field."""
    inputs = sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.is_file() and not p.name.startswith(("_", "."))
    )
    assert SAMPLES / "seed-sample-v5.log" in inputs
    _round_trip(inputs, tmp_path, capsys)


@pytest.mark.parametrize("version", [2, 3, 4, 5, 8, None])
def test_round_trip_generated_logs(
    version: int | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generated logs of every version (None: the mixed S3 tree)."""
    out = tmp_path / "gen"
    gen_vpclogs.generate(
        out,
        records=2500,
        seed=7,
        version=version,
        layout="flat" if version else "s3",
        gzip=True,
    )
    inputs = sorted(
        p for p in out.rglob("*.log.gz") if not p.name.startswith("_")
    )
    _round_trip(inputs, tmp_path, capsys)


# -- the man page's field table ---------------------------------------------


def test_pod_field_table_is_generated() -> None:
    """The POD's FIELD MAPPING is exactly mapping.pod_table()."""
    pod = (MAN_DIR / "rwvpc2silk.pod").read_text()
    assert pod_table() == generated_region(pod, "field-mapping")


def test_regenerate_rewrites_a_stale_table(tmp_path: Path) -> None:
    """regenerate() restores an edited table; a current page is kept."""
    page = tmp_path / "rwvpc2silk.pod"
    good = (MAN_DIR / "rwvpc2silk.pod").read_text()
    page.write_text(replace_region(good, "field-mapping", "=over 4\n\n=back"))
    assert [page] == regenerate(tmp_path)
    assert good == page.read_text()
    assert [] == regenerate(tmp_path)


# -- with real SiLK -------------------------------------------------------


@pytest.fixture
def silk_repo(
    tmp_path: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> Path:
    """The small log and the seed sample converted into a repository."""
    root = tmp_path / "repo"
    status, err = _convert_into(
        root, [small_log, SAMPLES / "seed-sample-v5.log"], capsys
    )
    assert (0, "") == (status, err)
    return root


def _expected_records(root: Path, types: set[str]) -> Counter[tuple[str, ...]]:
    """sIP|dIP|sPort|dPort|type of our own reading of the repository."""
    import ipaddress

    recs = repo_records(root)
    out: Counter[tuple[str, ...]] = Counter()
    for rec in recs:
        kind = NAMES[int(rec["flowtype"])]
        if kind not in types:
            continue
        sip = ipaddress.ip_address(bytes(rec["sip"])).ipv4_mapped
        dip = ipaddress.ip_address(bytes(rec["dip"])).ipv4_mapped
        out[
            (str(sip), str(dip), str(rec["sport"]), str(rec["dport"]), kind)
        ] += 1
    return out


def test_type_selection_without_silk(silk_repo: Path) -> None:
    """Our own reader finds the expected flows of the four VPC types.

    The seed sample's AWS-service records are int2aws when egress and
    aws2int when ingress (the talk's S3 labelling); the small log says
    its own types.
    """
    vpc_types = {"int2aws", "aws2int", "innull", "outnull"}
    seed = read_batches([SAMPLES / "seed-sample-v5.log"])
    names = ("flow-direction", "pkt-src-aws-service", "pkt-dst-aws-service")
    expected: Counter[str] = Counter()
    for (direction, src_svc, dst_svc), n in flow_tuples(seed, names).items():
        egress = direction.name == "EGRESS"
        if egress and dst_svc:
            expected["int2aws"] += n
        elif not egress and src_svc:
            expected["aws2int"] += n
    expected.update(
        {k: v for k, v in expected_types("all").items() if k in vpc_types}
    )
    got = _expected_records(silk_repo, vpc_types)
    assert expected == Counter(k[-1] for k in got.elements())


@pytest.mark.silk
def test_rwfilter_selects_the_vpc_types(
    silk_repo: Path, silk: dict[str, str]
) -> None:
    """rwfilter --type=int2aws,aws2int,innull,outnull: exactly those."""
    types = "int2aws,aws2int,innull,outnull"
    filt = subprocess.run(
        [
            "rwfilter",
            f"--data-rootdir={silk_repo}",
            f"--site-config-file={silk_repo / 'silk.conf'}",
            f"--type={types}",
            "--start-date=2023/07/26",
            "--end-date=2026/08/01",
            "--all-destination=stdout",
        ],
        capture_output=True,
        check=True,
        env=silk,
    )
    cut = subprocess.run(
        [
            "rwcut",
            f"--site-config-file={silk_repo / 'silk.conf'}",
            "--fields=sip,dip,sport,dport,type",
            "--no-titles",
            "--delimited=|",
            "--ipv6-policy=asv4",
        ],
        input=filt.stdout,
        capture_output=True,
        check=True,
        env=silk,
    )
    got = Counter(
        tuple(row.split("|")) for row in cut.stdout.decode().splitlines()
    )
    assert _expected_records(silk_repo, set(types.split(","))) == got


@pytest.mark.silk
def test_rwcut_shows_the_input_values(
    silk_repo: Path, silk: dict[str, str]
) -> None:
    """rwcut prints the seed sample's addresses, ports, counts, times."""
    seed = SAMPLES / "seed-sample-v5.log"
    names = (
        "pkt-srcaddr",
        "pkt-dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "interface-id",
    )
    want = Counter(
        tuple(str(v) for v in key)
        for key in flow_tuples(read_batches([seed]), names).elements()
    )
    filt = subprocess.run(
        [
            "rwfilter",
            f"--data-rootdir={silk_repo}",
            f"--site-config-file={silk_repo / 'silk.conf'}",
            "--type=all",
            "--start-date=2023/07/26",
            "--end-date=2023/07/26",
            "--all-destination=stdout",
        ],
        capture_output=True,
        check=True,
        env=silk,
    )
    cut = subprocess.run(
        [
            "rwcut",
            f"--site-config-file={silk_repo / 'silk.conf'}",
            "--fields=sip,dip,sport,dport,protocol,packets,bytes,stime,etime,"
            "sensor",
            "--timestamp-format=epoch",
            "--no-titles",
            "--delimited=|",
            "--ipv6-policy=asv4",
        ],
        input=filt.stdout,
        capture_output=True,
        check=True,
        env=silk,
    )
    got = Counter(
        tuple(
            str(int(float(v))) if i in (7, 8) else v
            for i, v in enumerate(row.split("|"))
        )
        for row in cut.stdout.decode().splitlines()
    )
    assert want == got


@pytest.mark.silk
def test_rwfileinfo_shows_the_packed_file_header(
    silk_repo: Path, silk: dict[str, str]
) -> None:
    """rwfileinfo: format, record count and packed-file-info of a file."""
    site = load_siteconf(silk_repo / "silk.conf")
    path = silk_repo / f"innull/2026/08/01/innull-{ENI_B}_20260801.01"
    info = subprocess.run(
        ["rwfileinfo", str(path)],
        capture_output=True,
        check=True,
        env=silk,
        text=True,
    ).stdout
    rows = dict(
        line.strip().split(None, 1)
        for line in info.splitlines()[1:]
        if line.strip()
    )
    # an IPv4 record: the compact format (tests/test_repository_formats.py)
    assert "FT_RWGENERIC(0x16)" == rows["format(id)"]
    assert "1" == rows["count-records"]
    assert (
        f"2026/08/01T01:00:00Z {DEFAULT_TYPE_IDS['innull']} "
        f"{site.sensor_id(ENI_B)}"
    ) == rows["packed-file-info"]


@pytest.mark.silk
def test_rwsiteinfo_lists_the_sensors(
    silk_repo: Path, silk: dict[str, str]
) -> None:
    """rwsiteinfo reads the extended silk.conf and lists the new sensors."""
    out = subprocess.run(
        [
            "rwsiteinfo",
            f"--site-config-file={silk_repo / 'silk.conf'}",
            "--fields=sensor",
            "--no-titles",
            "--delimited",
        ],
        capture_output=True,
        check=True,
        env=silk,
        text=True,
    ).stdout.split()
    assert {ENI_A, ENI_B, "eni-0ffa7e54f1ae8fa1b"} <= set(out)


def test_samples_convert_with_the_demo_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's conversion of share/samples succeeds and counts."""
    root = tmp_path / "demo"
    status, err = _convert_into(root, [SAMPLES], capsys, "--print-statistics")
    assert 0 == status
    assert 7 == _stat(err, "Inputs read")
    assert _stat(err, "SiLK records written") == len(repo_records(root))
