# SPDX-License-Identifier: MIT
"""rwvpcmapbuild: SiLK's baseline cases, the seed, updates, every error."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from pysilk_ext.cli import rwvpcmapbuild
from pysilk_ext.cli._vpcmap import Progress
from pysilk_ext.ctxmap import ContextMap
from tests.cli.rwvpcmap_support import (
    IP_RANGES,
    SEED_END,
    SEED_START,
    FakeStdin,
    _clean_env,  # noqa: F401 - autouse fixture
    build_map,
    reuse_records,
    write_log,
)
from tests.conftest import REPO, SEED_INTERNAL, SEED_LOG, SEED_S3
from tests.ctxmap_support import DATA, rec

USAGE = "Use 'rwvpcmapbuild --help' for usage\n"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """Run rwvpcmapbuild in-process; return status, stdout, stderr."""
    status = rwvpcmapbuild.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _bindings(path: Path) -> dict[tuple[str, str], tuple[int, int, dict]]:
    with ContextMap.open(path) as cmap:
        return {
            (b.address, b.relation): (b.first_seen, b.last_seen, b.fields)
            for b in cmap.iter_bindings()
        }


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --
def test_no_input_on_terminal(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An output but nothing to read and stdin a terminal: SiLK's error,
    and no map written."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    target = tmp_path / "m.vpcmap"
    status, out, err = run([f"--output-path={target}"], capsys)
    assert (1, "") == (status, out)
    assert (
        "rwvpcmapbuild: No input files on command line and stdin is "
        "connected to a terminal\n" + USAGE
    ) == err
    assert not target.exists()


def test_null_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Empty standard input gives a valid, empty map."""
    target = tmp_path / "m.vpcmap"
    status, out, err = run([f"--output-path={target}"], capsys)
    assert (0, "", "") == (status, out, err)
    with ContextMap.open(target) as cmap:
        assert (0, None) == (len(cmap), cmap.time_range)


def test_stdin_logs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Logs piped on the standard input are read."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(SEED_LOG.read_bytes()))
    target = tmp_path / "m.vpcmap"
    status, _out, err = run([f"--output-path={target}"], capsys)
    assert (0, "") == (status, err)
    assert ("10.1.1.50", "interface") in _bindings(target)


def test_entry_point(tmp_path: Path) -> None:
    """The installed console script runs."""
    exe = shutil.which("rwvpcmapbuild")
    if exe is None:
        pytest.skip("rwvpcmapbuild is not installed on PATH")
    target = tmp_path / "m.vpcmap"
    result = subprocess.run(
        [exe, f"--output-path={target}", str(SEED_LOG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert target.is_file()


# -- the seed -----------------------------------------------------------------
def test_seed_rows(tmp_path: Path) -> None:
    """The talk's sample: 10.1.1.50 owned by its interface with every
    field of the talk's internal table, the eight S3 addresses labelled
    S3, and nothing else (the peer 10.1.1.25 is only seen remotely)."""
    target = build_map(tmp_path / "seed.vpcmap", SEED_LOG)
    bindings = _bindings(target)
    expected_keys = {("10.1.1.50", "interface")} | {
        (a, "service") for a in SEED_S3
    }
    assert expected_keys == set(bindings)
    first, last, fields = bindings["10.1.1.50", "interface"]
    assert (SEED_START, SEED_END) == (first, last)
    expected = {k: v for k, v in SEED_INTERNAL.items() if v != "-"}
    del expected["address"]
    assert expected == {k: fields[k] for k in expected}
    assert "sublocation-id" not in fields
    for addr in SEED_S3:
        assert {"aws-service": "S3"} == bindings[addr, "service"][2]


def test_sources_and_statistics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--eni-json, --eni-time and --ip-ranges add the inventory and the
    base layer; --print-statistics counts them on stderr."""
    target = tmp_path / "m.vpcmap"
    status, out, err = run(
        [
            f"--output-path={target}",
            f"--eni-json={DATA / 'eni-describe.json'}",
            "--eni-time=2023/07/26T00:00:00",
            f"--ip-ranges={IP_RANGES}",
            "--print-statistics",
            str(SEED_LOG),
        ],
        capsys,
    )
    assert (0, "") == (status, out)
    lines = dict(
        line.split(":", 1) for line in err.splitlines() if ":" in line
    )
    assert "31" == lines["Records read"].strip()
    assert "1" == lines["  interface"].strip()
    assert "8" == lines["  service"].strip()
    with ContextMap.open(target) as cmap:
        inventory = [
            b for b in cmap.iter_bindings() if b.relation == "inventory"
        ]
        assert int(lines["  inventory"]) == len(inventory) > 0
        # The snapshot time ends every inventory binding (an attachment
        # time, when the inventory gives one, starts it).
        assert {1690329600} == {b.last_seen for b in inventory}
        assert "1787411825" == cmap.meta["ip-ranges"]["syncToken"]


def test_bad_lines_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad lines are skipped, saved with --bad-input-lines and summed up;
    the map is still written."""
    log = tmp_path / "bad.log"
    text = SEED_LOG.read_text().splitlines()
    log.write_text("\n".join([*text[:3], "5 oops", *text[3:]]) + "\n")
    target = tmp_path / "m.vpcmap"
    saved = tmp_path / "bad.txt"
    status, out, err = run(
        [f"--output-path={target}", f"--bad-input-lines={saved}", str(log)],
        capsys,
    )
    assert (0, "") == (status, out)
    assert (
        "rwvpcmapbuild: Could not parse 1 line; try again with "
        "--stop-on-error or --verbose for details\n"
    ) == err
    assert saved.read_text().startswith(f"{log}:4:")
    assert ("10.1.1.50", "interface") in _bindings(target)


# -- updates ------------------------------------------------------------------
def test_update_is_idempotent(tmp_path: Path) -> None:
    """Merging the same logs again leaves the file byte-identical."""
    target = build_map(tmp_path / "m.vpcmap", SEED_LOG)
    before = target.read_bytes()
    assert 0 == rwvpcmapbuild.main([f"--update={target}", str(SEED_LOG)])
    assert before == target.read_bytes()


def test_update_adds_history_in_any_order(tmp_path: Path) -> None:
    """Updating with a second log keeps the old bindings and adds the new
    ones; the order of the updates does not matter (same bytes)."""
    recs = reuse_records()
    first = write_log(tmp_path / "first.log", recs[:2])
    second = write_log(tmp_path / "second.log", recs[2:])
    one = build_map(tmp_path / "one.vpcmap", first)
    two = build_map(tmp_path / "two.vpcmap", second)
    assert 0 == rwvpcmapbuild.main([f"--update={one}", str(second)])
    assert 0 == rwvpcmapbuild.main([f"--update={two}", str(first)])
    assert one.read_bytes() == two.read_bytes()
    both = build_map(tmp_path / "both.vpcmap", first, second)
    assert both.read_bytes() == one.read_bytes()
    with ContextMap.open(one) as cmap:
        owners = sorted(
            (b.scope, b.first_seen, b.fields["interface-id"])
            for b in cmap.iter_bindings()
            if b.address == "10.0.0.5" and b.relation == "interface"
        )
    assert [
        ("vpc-0a", 1000, "eni-0a1"),
        ("vpc-0a", 2000, "eni-0a2"),
        ("vpc-0b", 1500, "eni-0b1"),
    ] == owners


def test_update_to_other_output(tmp_path: Path) -> None:
    """--update with --output-path writes the merged map elsewhere and
    leaves the --update map alone."""
    recs = reuse_records()
    base = build_map(tmp_path / "base.vpcmap", write_log(
        tmp_path / "a.log", recs[:1]
    ))  # fmt: skip
    before = base.read_bytes()
    out = tmp_path / "out.vpcmap"
    more = write_log(tmp_path / "b.log", recs[1:])
    assert 0 == rwvpcmapbuild.main(
        [f"--update={base}", f"--output-path={out}", str(more)]
    )
    assert before == base.read_bytes()
    assert len(_bindings(out)) > len(_bindings(base))


def test_update_only_ip_ranges(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With stdin a terminal, an update may add only the ip-ranges: the
    bindings stay, and the ranges cover exactly the addresses of the
    JSON's prefixes (merged here with ipaddress, not by the builder)."""
    target = build_map(tmp_path / "m.vpcmap", SEED_LOG)
    with ContextMap.open(target) as cmap:
        assert (9, 0, 0) == (
            len(cmap),
            len(cmap.tables.range4),
            len(cmap.tables.range6),
        )
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    status, _out, err = run(
        [f"--update={target}", f"--ip-ranges={IP_RANGES}"], capsys
    )
    assert (0, "") == (status, err)
    doc = json.loads(IP_RANGES.read_text())
    with ContextMap.open(target) as cmap:
        assert 9 == len(cmap)
        assert _merged(p["ip_prefix"] for p in doc["prefixes"]) == _merged(
            (int(lo), int(hi)) for lo, hi, _ in cmap.tables.range4
        )
        assert _merged(
            p["ipv6_prefix"] for p in doc["ipv6_prefixes"]
        ) == _merged(
            ((int(r[0]) << 64) | int(r[1]), (int(r[2]) << 64) | int(r[3]))
            for r in cmap.tables.range6
        )


def _merged(
    items: Iterable[str | tuple[int, int]],
) -> list[tuple[int, int]]:
    """Address intervals (CIDR texts or (lo, hi) pairs) merged into
    disjoint, non-adjacent (lo, hi) runs, in order."""
    pairs = []
    for item in items:
        if isinstance(item, str):
            net = ipaddress.ip_network(item)
            pairs.append(
                (int(net.network_address), int(net.broadcast_address))
            )
        else:
            pairs.append(item)
    runs: list[tuple[int, int]] = []
    for lo, hi in sorted(pairs):
        if runs and lo <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], hi))
        else:
            runs.append((lo, hi))
    return runs


def test_interrupted_update_keeps_old_map(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An update interrupted while the new file is written leaves the
    previous map byte for byte, and no temporary file."""
    target = build_map(tmp_path / "m.vpcmap", SEED_LOG)
    before = target.read_bytes()
    more = write_log(tmp_path / "more.log", reuse_records())

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("pysilk_ext.ctxmap._format.os.fsync", interrupted)
    status, _out, err = run([f"--update={target}", str(more)], capsys)
    assert (130, "rwvpcmapbuild: Interrupted\n") == (status, err)
    assert before == target.read_bytes()
    assert ["m.vpcmap", "more.log"] == sorted(os.listdir(tmp_path))


def test_killed_update_keeps_old_map(tmp_path: Path) -> None:
    """A process killed after writing the new map's bytes but before the
    rename (the worst moment) leaves the previous map readable and
    unchanged."""
    target = build_map(tmp_path / "m.vpcmap", SEED_LOG)
    before = target.read_bytes()
    more = write_log(tmp_path / "more.log", reuse_records())
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import pysilk_ext.ctxmap._format as fmt
        def die(fd):
            os.kill(os.getpid(), signal.SIGKILL)
        fmt.os.fsync = die
        from pysilk_ext.cli import rwvpcmapbuild
        sys.exit(rwvpcmapbuild.main(["--update={target}", "{more}"]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    assert -9 == result.returncode
    assert before == target.read_bytes()
    with ContextMap.open(target) as cmap:
        assert 9 == len(cmap)


def test_stop_on_error_leaves_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad line with --stop-on-error stops the update before anything
    is written."""
    target = build_map(tmp_path / "m.vpcmap", SEED_LOG)
    before = target.read_bytes()
    bad = tmp_path / "bad.log"
    bad.write_text(SEED_LOG.read_text() + "5 oops\n")
    status, out, err = run(
        [f"--update={target}", "--stop-on-error", str(bad)], capsys
    )
    assert (1, "") == (status, out)
    assert err.startswith(f"rwvpcmapbuild: {bad}:33: ")
    assert before == target.read_bytes()


# -- progress -----------------------------------------------------------------
def test_progress_on_terminal_only() -> None:
    """The progress line appears on a terminal and is erased at the end;
    elsewhere nothing is written."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    progress = Progress("rwvpcmapbuild", tty)
    progress.opened("a.log")
    progress.add(10)
    progress.show(force=True)
    progress.done()
    text = tty.getvalue()
    assert "\rrwvpcmapbuild: 1 file(s), 10 records read" in text
    assert text.endswith("\r")
    pipe = io.StringIO()
    quiet = Progress("rwvpcmapbuild", pipe)
    quiet.opened("a.log")
    quiet.show(force=True)
    quiet.done()
    assert "" == pipe.getvalue()


# -- errors -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "--output-path=m.vpcmap",
                "--stop-on-error",
                "--bad-input-lines=b.txt",
            ],
            "May not use --stop-on-error when --bad-input-lines is specified",
        ),
        (
            ["--output-path=-"],
            "Invalid output-path '-': A map must be written to a file",
        ),
        (
            ["--output-path=a", "--output-path=b"],
            "Invalid output-path: Switch used multiple times",
        ),
        (
            ["--output-path=m.vpcmap", "--eni-time=noon"],
            "Invalid eni-time 'noon': Expected YYYY/MM/DD[Thh[:mm[:ss]]] "
            "(UTC) or epoch seconds",
        ),
        (
            ["--output-path=m.vpcmap", "--account=12"],
            "Invalid account '12': Expected a 12-digit AWS account id",
        ),
        (
            ["--output-path=m.vpcmap", "--start-date=2026/13/01"],
            "Invalid start-date '2026/13/01': Month must be in 1..12",
        ),
        (["--output-pat"], "Switch '--output-path' requires an argument"),
        (["--bogus"], "Unrecognized switch '--bogus'"),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each usage error prints its message and the usage hint, exit 1."""
    monkeypatch.chdir(tmp_path)
    status, out, err = run(argv, capsys)
    assert (1, "") == (status, out)
    assert f"rwvpcmapbuild: {message}\n{USAGE}" == err


def test_will_not_clobber(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An existing output is not replaced unless SILK_CLOBBER is set."""
    target = build_map(tmp_path / "m.vpcmap", SEED_LOG)
    status, _out, err = run([f"--output-path={target}", str(SEED_LOG)], capsys)
    assert 1 == status
    assert (
        f"rwvpcmapbuild: Will not create new file over existing file "
        f"'{target}': File exists\n"
    ) == err
    monkeypatch.setenv("SILK_CLOBBER", "1")
    status, _out, err = run([f"--output-path={target}", str(SEED_LOG)], capsys)
    assert (0, "") == (status, err)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            "missing-log",
            "Cannot open '{tmp}/nope.log': No such file or directory",
        ),
        (
            "missing-map",
            "Cannot open '{tmp}/nope.vpcmap': No such file or directory",
        ),
        (
            "truncated-map",
            (
                "Cannot read context map '{tmp}/t.vpcmap': File is truncated: "
                "100 of {size} bytes"
            ),
        ),
        (
            "foreign-map",
            (
                "Cannot read context map '{tmp}/t.vpcmap': Bad magic number: "
                "not a context map"
            ),
        ),
        (
            "bad-eni",
            (
                "Invalid ENI inventory '{tmp}/e.json': Not JSON: Expecting "
                "value: line 1 column 23 (char 22)"
            ),
        ),
        (
            "bad-ranges",
            "'{tmp}/r.json': prefixes[0]: Invalid ip_prefix '1.2.3.0/33'",
        ),
    ],
)
def test_input_errors(
    setup: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unreadable logs, a missing, truncated or foreign map to update, a
    malformed inventory or ip-ranges file: a named error, exit 1."""
    out_map = tmp_path / "out.vpcmap"
    argv = [f"--output-path={out_map}"]
    size = 0
    if setup == "missing-log":
        argv.append(str(tmp_path / "nope.log"))
    elif setup == "missing-map":
        argv = [f"--update={tmp_path / 'nope.vpcmap'}"]
    elif setup in ("truncated-map", "foreign-map"):
        good = build_map(tmp_path / "good.vpcmap", SEED_LOG)
        data = good.read_bytes()
        size = len(data)
        bad = data[:100] if setup == "truncated-map" else b"%PDF-1.4\n" * 20
        (tmp_path / "t.vpcmap").write_bytes(bad)
        argv = [f"--update={tmp_path / 't.vpcmap'}", str(SEED_LOG)]
    elif setup == "bad-eni":
        (tmp_path / "e.json").write_text('{"NetworkInterfaces": ')
        argv += [f"--eni-json={tmp_path / 'e.json'}", str(SEED_LOG)]
    else:
        (tmp_path / "r.json").write_text(
            '{"syncToken": "1", "createDate": "x", "prefixes": [{'
            '"ip_prefix": "1.2.3.0/33", "region": "us-east-1", '
            '"service": "S3", "network_border_group": "us-east-1"}], '
            '"ipv6_prefixes": []}'
        )
        argv += [f"--ip-ranges={tmp_path / 'r.json'}", str(SEED_LOG)]
    status, out, err = run(argv, capsys)
    assert (1, "") == (status, out)
    expected = message.format(tmp=tmp_path, size=size)
    assert f"rwvpcmapbuild: {expected}\n" == err
    assert not out_map.exists()


def test_no_flow_direction_logs(tmp_path: Path) -> None:
    """Version 2 logs (no flow-direction) build too: the interface's own
    address is inferred."""
    from tests.ctxmap_support import V2

    recs = [
        rec(version=2, srcaddr="10.0.0.5", dstaddr="198.51.100.9"),
        rec(version=2, srcaddr="198.51.100.9", dstaddr="10.0.0.5"),
        rec(version=2, srcaddr="10.0.0.5", dstaddr="198.51.100.10"),
    ]
    log = write_log(tmp_path / "v2.log", recs, V2)
    target = build_map(tmp_path / "m.vpcmap", log)
    assert ("10.0.0.5", "interface") in _bindings(target)
