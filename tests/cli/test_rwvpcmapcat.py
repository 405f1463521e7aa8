# SPDX-License-Identifier: MIT
"""rwvpcmapcat: the table, prefix-map and IPset exports, every error.

Exports are decoded with the project's own readers; the ``silk``-marked
tests hand the same files to real SiLK (rwpmapcat, rwsetcat, rwfilter,
rwcut) over flows written by rwtuc.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pysilk_ext.cli import rwvpcmapcat
from pysilk_ext.silkfmt.ipset import IPSet
from pysilk_ext.silkfmt.pmap import PrefixMap, format_rwpmapcat
from tests.cli.rwvpcmap_support import (
    IP_RANGES,
    FakeStdin,
    _clean_env,  # noqa: F401 - autouse fixture
    build_map,
    rows_of,
)
from tests.conftest import SEED_INTERNAL, SEED_S3

USAGE = "Use 'rwvpcmapcat --help' for usage\n"
SEED_TITLES = [
    "address",
    "first-seen",
    "last-seen",
    "az-id",
    "instance-id",
    "interface-id",
    "aws-service",
    "region",
    "subnet-id",
    "account-id",
    "vpc-id",
    "sublocation-id",
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """Run rwvpcmapcat in-process; return status, stdout, stderr."""
    status = rwvpcmapcat.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _export(
    argv: list[str], tmp_path: Path, name: str, map_path: Path
) -> Path:
    target = tmp_path / name
    assert 0 == rwvpcmapcat.main(
        [*argv, f"--output-path={target}", str(map_path)]
    )
    return target


def _members(ipset: IPSet) -> set[str]:
    """Every address of a (small) set, as text."""
    cls = ipaddress.IPv6Network if ipset.is_ipv6 else ipaddress.IPv4Network
    out: set[str] = set()
    for value, prefix in ipset.iter_cidrs():
        out.update(str(a) for a in cls((value, prefix)))
    return out


# -- SiLK's baseline (--help, --version, lone command: test_baseline.py) --
def test_null_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty map prints the titles only."""
    empty = build_map(tmp_path / "empty.vpcmap")
    status, out, err = run(["--delimited", str(empty)], capsys)
    assert (0, "") == (status, err)
    assert "|".join(SEED_TITLES) + "\n" == out


def test_null_input_exports(tmp_path: Path) -> None:
    """An empty map exports a prefix map labelling everything '-' and an
    empty IPset, both valid files."""
    empty = build_map(tmp_path / "empty.vpcmap")
    pmap = _export(["--pmap=vpc-id"], tmp_path, "e.pmap", empty)
    assert [(0, 2**32 - 1, "-")] == list(PrefixMap.read(pmap).iter_ranges())
    ipset = _export(["--ipset=internal"], tmp_path, "e.set", empty)
    assert 0 == IPSet.read(ipset).cardinality()


def test_map_on_stdin(
    seed_map: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The map may come on the standard input ('-' or no argument)."""
    expected = run([str(seed_map)], capsys)
    for argv in ([], ["-"]):
        monkeypatch.setattr(sys, "stdin", FakeStdin(seed_map.read_bytes()))
        assert expected == run(argv, capsys)


# -- the table ----------------------------------------------------------------
def test_seed_table(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The talk's internal-labelling row and S3-labelling rows, with the
    seen interval of the sample; S3 rows get their region from the
    ip-ranges layer."""
    status, out, err = run(
        ["--delimited", "--timestamp-format=epoch", str(seed_map)], capsys
    )
    assert (0, "") == (status, err)
    rows = rows_of(out)
    assert SEED_TITLES == rows[0]
    table = {r[0]: dict(zip(SEED_TITLES, r, strict=True)) for r in rows[1:]}
    assert {SEED_INTERNAL["address"], *SEED_S3} == set(table)
    internal = table["10.1.1.50"]
    assert SEED_INTERNAL == {k: internal[k] for k in SEED_INTERNAL}
    assert ("1690329606", "1690329625", "-") == (
        internal["first-seen"],
        internal["last-seen"],
        internal["aws-service"],
    )
    for addr in SEED_S3:
        row = table[addr]
        assert ("S3", "us-east-1", "-", "-") == (
            row["aws-service"],
            row["region"],
            row["vpc-id"],
            row["instance-id"],
        )


def test_columns_right_justified(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default layout: every column right-justified to its widest cell
    (title included) and followed by '|'; times in SiLK's default form."""
    _status, out, _err = run(
        ["--fields=address,first-seen,vpc-id", str(seed_map)], capsys
    )
    lines = out.splitlines()
    assert (
        "       address|         first-seen|               vpc-id|"
        == (lines[0])
    )
    assert (
        "     10.1.1.50|2023/07/26T00:00:06|vpc-0844e5fb7dab616dd|"
        == (lines[1])
    )
    assert (
        "54.231.139.192|2023/07/26T00:00:06|                    -|"
        == (lines[-1])
    )


def test_streaming_widths(
    seed_map: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A table too long to size from its rows streams with widths from
    the map: an IPv4 address's 15 characters, each field's longest value
    in the map (aws-service: the longest ip-ranges service name)."""
    monkeypatch.setattr(rwvpcmapcat, "EXACT_WIDTH_ROWS", 0)
    _status, out, _err = run(
        ["--fields=address,aws-service,vpc-id", str(seed_map)], capsys
    )
    longest = max(
        len(s)
        for s in (
            "ROUTE53_HEALTHCHECKS_PUBLISHING",
            "CLOUDFRONT_ORIGIN_FACING",
        )
    )
    widths = [len(cell) for cell in out.splitlines()[1].split("|")[:-1]]
    assert [15, longest, 21] == widths


@pytest.mark.parametrize(
    ("switches", "first_line"),
    [
        (["--no-titles"], "10.1.1.50|2023/07/26T00:00:25|"),
        (["--no-final-delimiter"], "10.1.1.50|2023/07/26T00:00:25"),
        (["--column-separator=,"], "10.1.1.50,2023/07/26T00:00:25,"),
        (["--delimited=;"], "10.1.1.50;2023/07/26T00:00:25"),
        (["--timestamp-format=iso"], "10.1.1.50|2023-07-26 00:00:25|"),
        (["--timestamp-format=m/d/y,utc"], "10.1.1.50|07/26/2023 00:00:25|"),
        (["--timestamp-format=epoch,no-msec"], "10.1.1.50|1690329625|"),
    ],
)
def test_text_switches(
    switches: list[str],
    first_line: str,
    seed_map: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rwcut's text switches shape the output the same way."""
    status, out, _err = run(
        [*switches, "--fields=address,last-seen", str(seed_map)], capsys
    )
    assert 0 == status
    body = out.splitlines()[0 if "--no-titles" in switches else 1]
    assert first_line == body.lstrip()


def test_timestamp_format_from_environment(
    seed_map: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SILK_TIMESTAMP_FORMAT is the default, as in rwcut."""
    monkeypatch.setenv("SILK_TIMESTAMP_FORMAT", "epoch")
    _status, out, _err = run(
        ["--delimited", "--fields=first-seen", str(seed_map)], capsys
    )
    assert "1690329606" == out.splitlines()[1]


def test_relations_scope_and_times(
    reuse_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--relations, --scope and --start-time/--end-time select rows."""
    argv = ["--delimited", "--no-titles", "--timestamp-format=epoch"]
    fields = "--fields=address,scope,relation,first-seen,interface-id"
    _s, out, _e = run([*argv, fields, str(reuse_map)], capsys)
    assert [
        ["10.0.0.5", "vpc-0a", "interface", "1000", "eni-0a1"],
        ["10.0.0.5", "vpc-0a", "interface", "2000", "eni-0a2"],
        ["10.0.0.5", "vpc-0b", "interface", "1500", "eni-0b1"],
        ["10.0.0.7", "vpc-0b", "interface", "1000", "eni-0b7"],
        ["52.216.215.0", "-", "service", "1000", "-"],
    ] == rows_of(out)
    _s, out, _e = run(
        [*argv, fields, "--scope=vpc-0b", str(reuse_map)], capsys
    )
    assert ["10.0.0.5", "10.0.0.7", "52.216.215.0"] == [
        r[0] for r in rows_of(out)
    ]
    _s, out, _e = run(
        [*argv, fields, "--start-time=1100", "--end-time=1999",
         str(reuse_map)],
        capsys,
    )  # fmt: skip
    assert [["10.0.0.5", "vpc-0b", "interface", "1500", "eni-0b1"]] == (
        rows_of(out)
    )
    _s, out, _e = run(
        [*argv, fields, "--relations=service", str(reuse_map)], capsys
    )
    assert [["52.216.215.0", "-", "service", "1000", "-"]] == rows_of(out)


def test_ip_ranges_rows(
    seed_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--relations=ip-ranges prints the layer as CIDR blocks without
    times; --no-ip-ranges leaves service rows without a region."""
    _s, out, _e = run(
        [
            "--delimited",
            "--relations=ip-ranges",
            "--fields=address,first-seen,aws-service,region",
            str(seed_map),
        ],
        capsys,
    )
    rows = rows_of(out)[1:]
    assert ["1.178.4.0/23", "-", "S3", "us-east-1"] in rows
    assert {"-"} == {r[1] for r in rows}
    # the printed blocks cover exactly the addresses of the file's
    # prefixes, per family (merged here with ipaddress)
    doc = json.loads(IP_RANGES.read_text())
    for version, key, prefix_key in (
        (4, "prefixes", "ip_prefix"),
        (6, "ipv6_prefixes", "ipv6_prefix"),
    ):
        printed = [
            ipaddress.ip_network(r[0])
            for r in rows
            if ipaddress.ip_network(r[0]).version == version
        ]
        listed = [ipaddress.ip_network(p[prefix_key]) for p in doc[key]]
        assert list(ipaddress.collapse_addresses(listed)) == list(
            ipaddress.collapse_addresses(printed)
        )
    _s, out, _e = run(
        ["--delimited", "--no-ip-ranges", "--fields=address,region",
         str(seed_map)],
        capsys,
    )  # fmt: skip
    assert ["52.216.215.0", "-"] in rows_of(out)


# -- prefix maps --------------------------------------------------------------
def test_pmap_seed(seed_map: Path, tmp_path: Path) -> None:
    """An aws-service prefix map names itself after the field, labels the
    S3 addresses S3 (the ip-ranges prefixes too), the rest '-'."""
    path = _export(["--pmap=aws-service"], tmp_path, "svc.pmap", seed_map)
    pmap = PrefixMap.read(path)
    assert ("aws-service", "ipv4") == (pmap.map_name, pmap.mode)
    for addr in SEED_S3:
        assert "S3" == pmap.get(addr).label
    assert "S3" == pmap.get("1.178.4.1").label
    assert "-" == pmap.get("10.1.1.50").label
    assert "-" == pmap.get("192.0.2.1").label
    path = _export(
        ["--pmap=vpc-id", "--no-ip-ranges"], tmp_path, "vpc.pmap", seed_map
    )
    pmap = PrefixMap.read(path)
    assert [
        (0, int(ipaddress.IPv4Address("10.1.1.49")), "-"),
        (
            int(ipaddress.IPv4Address("10.1.1.50")),
            int(ipaddress.IPv4Address("10.1.1.50")),
            SEED_INTERNAL["vpc-id"],
        ),
        (int(ipaddress.IPv4Address("10.1.1.51")), 2**32 - 1, "-"),
    ] == list(pmap.iter_ranges())


def test_pmap_time_scope_ambiguity(reuse_map: Path, tmp_path: Path) -> None:
    """The label follows the lookup rule at --at; an address bound in two
    VPCs is '(ambiguous)' unless --scope picks one; over a time range an
    address whose value changed is '(ambiguous)'."""

    def label(argv: list[str], addr: str, field: str = "vpc-id") -> str:
        path = _export(
            [f"--pmap={field}", *argv], tmp_path, "x.pmap", reuse_map
        )
        text = PrefixMap.read(path).get(addr).label
        path.unlink()
        return text

    assert "-" == label(["--at=900"], "10.0.0.5")
    assert "vpc-0a" == label(["--at=1030"], "10.0.0.5")
    assert "(ambiguous)" == label(["--at=1530"], "10.0.0.5")
    assert "vpc-0b" == label(["--at=1530", "--scope=vpc-0b"], "10.0.0.5")
    assert "vpc-0b" == label([], "10.0.0.7")
    iface = ["--scope=vpc-0a"]
    assert "eni-0a1" == label(
        [*iface, "--at=1700"], "10.0.0.5", "interface-id"
    )
    assert "eni-0a2" == label(
        [*iface, "--at=2030"], "10.0.0.5", "interface-id"
    )
    assert "(ambiguous)" == label(
        [*iface, "--start-time=1000", "--end-time=2100"],
        "10.0.0.5",
        "interface-id",
    )
    assert "eni-0a2" == label(
        [*iface, "--start-time=2000"], "10.0.0.5", "interface-id"
    )


def test_pmap_ambiguity_is_per_field(reuse_map: Path, tmp_path: Path) -> None:
    """At 1530 10.0.0.5 is in vpc-0a and vpc-0b: (ambiguous) for the
    fields they disagree on only; both VPCs have one account and no AWS
    service, so those maps label it with the account / the default '-',
    and the aws-service map holds no (ambiguous) label at all."""
    labels = {}
    for field in ("instance-id", "account-id", "aws-service"):
        path = _export(
            [f"--pmap={field}", "--at=1530"], tmp_path, "x.pmap", reuse_map
        )
        pmap = PrefixMap.read(path)
        labels[field] = (
            pmap.get("10.0.0.5").label,
            sorted({label for _, _, label in pmap.iter_ranges()}),
        )
        path.unlink()
    assert {
        "instance-id": (
            "(ambiguous)", ["(ambiguous)", "-", "i-0b7"]
        ),
        "account-id": ("111122223333", ["-", "111122223333"]),
        "aws-service": ("-", ["-", "S3"]),
    } == labels  # fmt: skip


def test_pmap_ipv6_mode(seed_map: Path, tmp_path: Path) -> None:
    """--mode=ipv6 holds IPv4 as ::ffff:a.b.c.d and IPv6 prefixes."""
    path = _export(
        ["--pmap=aws-service", "--mode=ipv6"], tmp_path, "v6.pmap", seed_map
    )
    pmap = PrefixMap.read(path)
    assert "ipv6" == pmap.mode
    assert "S3" == pmap.get("::ffff:52.216.215.0").label
    assert "S3" == pmap.get("52.216.215.0").label
    assert "EC2" == pmap.get("2600:1f18::1").label


def test_pmap_header(
    seed_map: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exported header records the command line unless
    --invocation-strip, and --note-add annotations."""
    path = _export(
        ["--pmap=region", "--note-add=hello"], tmp_path, "r.pmap", seed_map
    )
    header = PrefixMap.read(path).header
    texts = [getattr(e, "text", None) for e in header.entries]
    assert "hello" in texts
    assert any(t and t.startswith("rwvpcmapcat --pmap=region") for t in texts)
    path = _export(
        ["--pmap=region", "--invocation-strip"], tmp_path, "s.pmap", seed_map
    )
    texts = [
        getattr(e, "text", None) for e in PrefixMap.read(path).header.entries
    ]
    assert not any(t and t.startswith("rwvpcmapcat") for t in texts)


def test_export_to_stdout(
    seed_map: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """Without --output-path the export goes to a non-terminal stdout."""
    assert 0 == rwvpcmapcat.main(
        ["--pmap=vpc-id", "--invocation-strip", str(seed_map)]
    )
    data = capsysbinary.readouterr().out
    path = tmp_path / "x.pmap"
    path.write_bytes(data)
    assert (
        SEED_INTERNAL["vpc-id"] == PrefixMap.read(path).get("10.1.1.50").label
    )


# -- IPsets -------------------------------------------------------------------
def test_ipset_seed(seed_map: Path, tmp_path: Path) -> None:
    """aws-service:S3 holds the eight S3 addresses (plus every S3 prefix
    of ip-ranges unless --no-ip-ranges); internal holds 10.1.1.50."""
    path = _export(
        ["--ipset=aws-service:S3", "--no-ip-ranges"],
        tmp_path,
        "s3.set",
        seed_map,
    )
    assert set(SEED_S3) == _members(IPSet.read(path))
    path = _export(["--ipset=aws-service:S3"], tmp_path, "all.set", seed_map)
    full = IPSet.read(path)
    assert "1.178.4.1" in full
    assert all(a in full for a in SEED_S3)
    assert "10.1.1.50" not in full
    path = _export(["--ipset=internal"], tmp_path, "int.set", seed_map)
    assert {"10.1.1.50"} == _members(IPSet.read(path))
    path = _export(
        ["--ipset=vpc-id:" + SEED_INTERNAL["vpc-id"]],
        tmp_path,
        "vpc.set",
        seed_map,
    )
    assert {"10.1.1.50"} == _members(IPSet.read(path))


def test_ipset_times_and_scopes(reuse_map: Path, tmp_path: Path) -> None:
    """A value set at a time follows the lookup rule in each VPC (a
    shared address is a member of both VPCs' sets, never left out as
    ambiguous); over a range, at some time in it."""

    def members(argv: list[str]) -> set[str]:
        path = _export(argv, tmp_path, "x.set", reuse_map)
        out = _members(IPSet.read(path))
        path.unlink()
        return out

    assert {"10.0.0.5"} == members(["--ipset=vpc-id:vpc-0a"])
    assert {"10.0.0.5", "10.0.0.7"} == members(["--ipset=vpc-id:vpc-0b"])
    assert set() == members(["--ipset=vpc-id:vpc-0b", "--at=900"])
    assert {"10.0.0.7"} == members(["--ipset=vpc-id:vpc-0b", "--at=1030"])
    assert {"10.0.0.5", "10.0.0.7"} == members(
        ["--ipset=vpc-id:vpc-0b", "--at=1530"]
    )
    assert {"10.0.0.5"} == members(["--ipset=vpc-id:vpc-0a", "--at=1530"])
    assert set() == members(["--ipset=interface-id:eni-0a2", "--at=1530"])
    assert {"10.0.0.5"} == members(
        ["--ipset=interface-id:eni-0a2", "--start-time=1530"]
    )
    assert {"10.0.0.7"} == members(
        ["--ipset=vpc-id:vpc-0b", "--scope=vpc-0b", "--at=1030"]
    )
    assert {"10.0.0.5", "10.0.0.7"} == members(
        ["--ipset=vpc-id:vpc-0a,vpc-0b"]
    )
    assert {"52.216.215.0"} == members(["--ipset=aws-service:S3"])
    assert {"10.0.0.5", "10.0.0.7"} == members(["--ipset=internal"])
    assert set() == members(["--ipset=internal", "--at=999"])
    assert {"10.0.0.5"} == members(
        ["--ipset=internal", "--scope=vpc-0a", "--at=1030"]
    )


def test_ipset_ipv6_mode(seed_map: Path, tmp_path: Path) -> None:
    """--mode=ipv6 writes an IPv6 set holding IPv4 as ::ffff:."""
    path = _export(
        ["--ipset=internal", "--mode=ipv6"], tmp_path, "v6.set", seed_map
    )
    ipset = IPSet.read(path)
    assert ipset.is_ipv6
    assert {ipaddress.IPv6Address("::ffff:10.1.1.50")} == {
        ipaddress.IPv6Address(a) for a in _members(ipset)
    }


# -- errors -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--fields=address,bogus"],
            "Invalid fields 'address,bogus': Unknown name 'bogus'",
        ),
        (
            ["--fields=address,,vpc-id"],
            "Invalid fields 'address,,vpc-id': Empty list element",
        ),
        (
            ["--fields=vpc-id,vpc-id"],
            "Invalid fields 'vpc-id,vpc-id': Name 'vpc-id' used twice",
        ),
        (
            ["--relations=owner"],
            "Invalid relations 'owner': Unknown name 'owner'",
        ),
        (["--at=1000"], "The --at switch requires --pmap or --ipset"),
        (
            ["--pmap=vpc-id", "--ipset=internal"],
            "May not use --ipset when --pmap is specified",
        ),
        (
            ["--pmap=vpc", "--output-path=x"],
            "Invalid pmap 'vpc': Unknown field 'vpc'; expected one of ",
        ),
        (
            ["--ipset=S3", "--output-path=x"],
            (
                "Invalid ipset 'S3': Expected FIELD:VALUE[,VALUE...] or "
                "'internal'"
            ),
        ),
        (
            ["--ipset=aws-service:", "--output-path=x"],
            (
                "Invalid ipset 'aws-service:': Expected "
                "FIELD:VALUE[,VALUE...] or 'internal'"
            ),
        ),
        (
            ["--ipset=service:S3", "--output-path=x"],
            (
                "Invalid ipset 'service:S3': Unknown field 'service'; "
                "expected one of "
            ),
        ),
        (
            ["--pmap=vpc-id", "--at=noon", "--output-path=x"],
            (
                "Invalid at 'noon': Expected YYYY/MM/DD[Thh[:mm[:ss]]] (UTC) "
                "or epoch seconds"
            ),
        ),
        (
            ["--pmap=vpc-id", "--at=1000", "--end-time=2000"],
            "May not use --at when --start-time or --end-time is specified",
        ),
        (
            ["--start-time=2000", "--end-time=1000"],
            "Invalid end-time '1000': Ends before the start-time",
        ),
        (
            ["--scope=10.0.0.0/16"],
            "Invalid scope '10.0.0.0/16': Expected vpc-<hex digits>",
        ),
        (
            ["--pmap=vpc-id", "--mode=ipv5"],
            "Invalid mode 'ipv5': Expected ipv4 or ipv6",
        ),
        (["--delimited=ab"], "Invalid delimited 'ab': Expected one character"),
        (
            ["--timestamp-format=epoch,iso"],
            (
                "Invalid timestamp-format 'epoch,iso': Only one of default, "
                "iso, m/d/y, epoch may be given"
            ),
        ),
        (
            ["--timestamp-format=zulu"],
            "Invalid timestamp-format 'zulu': Unknown word 'zulu'",
        ),
        (
            ["a.vpcmap", "b.vpcmap"],
            "Too many arguments: expected one map, got 2",
        ),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    seed_map: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each usage error prints its message and the usage hint, exit 1."""
    if not any(a.endswith(".vpcmap") for a in argv):
        argv = [*argv, str(seed_map)]
    status, out, err = run(argv, capsys)
    assert (1, "") == (status, out)
    first, _, rest = err.partition("\n")
    assert first.startswith(f"rwvpcmapcat: {message}")
    assert USAGE == rest


def test_binary_not_to_terminal(
    seed_map: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An export is never written to a terminal."""

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Tty())
    status = rwvpcmapcat.main(["--pmap=vpc-id", str(seed_map)])
    err = capsys.readouterr().err
    assert 1 == status
    assert (
        "rwvpcmapcat: Will not write binary data on a terminal 'stdout'\n"
        + USAGE
    ) == err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Cannot open '{p}': No such file or directory"),
        (
            b"",
            (
                "Cannot read context map '{p}': Bad magic number: not a "
                "context map"
            ),
        ),
        (b"\x89VPCMAP\n" + b"\0" * 8, "Cannot read context map '{p}': "),
    ],
)
def test_bad_map_files(
    content: bytes | None,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing, empty or truncated map: a named error, exit 1."""
    path = tmp_path / "m.vpcmap"
    if content is not None:
        path.write_bytes(content)
    status, out, err = run([str(path)], capsys)
    assert (1, "") == (status, out)
    assert err.startswith("rwvpcmapcat: " + message.format(p=path))


def test_will_not_clobber(
    seed_map: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing export file is kept unless SILK_CLOBBER is set."""
    path = tmp_path / "x.pmap"
    path.write_text("keep")
    status, _out, err = run(
        ["--pmap=vpc-id", f"--output-path={path}", str(seed_map)], capsys
    )
    assert 1 == status
    assert (
        "rwvpcmapcat: Will not create new file over existing file "
        f"'{path}': File exists\n"
    ) == err
    assert "keep" == path.read_text()


# -- real SiLK ----------------------------------------------------------------
FLOWS = [
    ("10.1.1.50", "52.217.118.120"),  # to S3 (seen in logs)
    ("52.216.215.0", "10.1.1.50"),  # from S3 (seen in logs)
    ("10.1.1.50", "10.1.1.25"),  # internal
    ("1.178.4.1", "198.51.100.1"),  # S3 by ip-ranges only
    ("192.0.2.8", "198.51.100.1"),  # nothing
]


def _flows(tmp_path: Path, env: dict[str, str], pairs=FLOWS) -> Path:
    """A SiLK flow file written by rwtuc."""
    text = "sIP|dIP|sTime|\n" + "".join(
        f"{s}|{d}|2023/07/26T00:00:10|\n" for s, d in pairs
    )
    path = tmp_path / "flows.rw"
    subprocess.run(
        ["rwtuc", f"--output-path={path}"],
        input=text,
        text=True,
        env=env,
        check=True,
    )
    return path


def _silk(argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False
    )
    assert (0, "") == (result.returncode, result.stderr)
    return result.stdout


def _pairs(text: str) -> list[tuple[str, ...]]:
    return [tuple(line.split("|")[:2]) for line in text.splitlines()[1:]]


def _filter(
    switches: list[str], flows: Path, env: dict[str, str], fields: str
) -> list[tuple[str, ...]]:
    """(sIP, dIP) or (sIP,) of the flows rwfilter passes."""
    passed = flows.with_name("passed.rw")
    _silk(["rwfilter", *switches, f"--pass={passed}", str(flows)], env)
    out = _silk(["rwcut", f"--fields={fields}", "--delimited", str(passed)],
                env)  # fmt: skip
    passed.unlink()
    return [tuple(line.split("|")) for line in out.splitlines()[1:]]


@pytest.mark.silk
def test_silk_rwfilter_pmap(
    seed_map: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwfilter --pmap-any-aws-service=S3 passes exactly the flows to or
    from S3 addresses (with and without the ip-ranges prefixes)."""
    flows = _flows(tmp_path, silk)
    full = _export(["--pmap=aws-service"], tmp_path, "svc.pmap", seed_map)
    logs = _export(
        ["--pmap=aws-service", "--no-ip-ranges"], tmp_path, "l.pmap", seed_map
    )
    for pmap, expected in ((full, FLOWS[:2] + FLOWS[3:4]), (logs, FLOWS[:2])):
        assert expected == _filter(
            [f"--pmap-file={pmap}", "--pmap-any-aws-service=S3"],
            flows,
            silk,
            "sIP,dIP",
        )


@pytest.mark.silk
def test_silk_rwcut_and_rwpmapcat(
    seed_map: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwcut labels flows with src-vpc-id; rwpmapcat prints the map as
    the project's reader does."""
    flows = _flows(tmp_path, silk)
    pmap = _export(["--pmap=vpc-id"], tmp_path, "vpc.pmap", seed_map)
    out = _silk(
        [
            "rwcut",
            f"--pmap-file={pmap}",
            "--fields=sIP,src-vpc-id",
            "--delimited",
            str(flows),
        ],
        silk,
    )
    vpc = SEED_INTERNAL["vpc-id"]
    assert [
        ("10.1.1.50", vpc),
        ("52.216.215.0", "-"),
        ("10.1.1.50", vpc),
        ("1.178.4.1", "-"),
        ("192.0.2.8", "-"),
    ] == _pairs(out)
    text = _silk(["rwpmapcat", "--no-cidr-blocks", str(pmap)], silk)
    assert format_rwpmapcat(PrefixMap.read(pmap), no_cidr_blocks=True) == text
    assert f"      10.1.1.50|      10.1.1.50|{vpc}|" in text


@pytest.mark.silk
def test_silk_ambiguous_label(
    reuse_map: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwfilter selects the '(ambiguous)' label of a shared address."""
    flows = _flows(
        tmp_path, silk, [("10.0.0.5", "192.0.2.1"), ("10.0.0.7", "192.0.2.1")]
    )
    pmap = _export(
        ["--pmap=vpc-id", "--at=1530"], tmp_path, "vpc.pmap", reuse_map
    )
    assert [("10.0.0.5",)] == _filter(
        [f"--pmap-file={pmap}", "--pmap-src-vpc-id=(ambiguous)"],
        flows,
        silk,
        "sIP",
    )


@pytest.mark.silk
def test_silk_shared_address_has_no_service(
    reuse_map: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """In SiLK, the aws-service map gives a shared private address the
    answer its VPCs agree on (no service): --pmap-src-aws-service=-
    selects it, and rwpmapcat shows no (ambiguous) range."""
    flows = _flows(
        tmp_path, silk, [("10.0.0.5", "192.0.2.1"), ("10.0.0.7", "192.0.2.1")]
    )
    pmap = _export(
        ["--pmap=aws-service", "--at=1530"], tmp_path, "svc.pmap", reuse_map
    )
    assert [("10.0.0.5",), ("10.0.0.7",)] == _filter(
        [f"--pmap-file={pmap}", "--pmap-src-aws-service=-"],
        flows,
        silk,
        "sIP",
    )
    text = _silk(["rwpmapcat", "--no-cidr-blocks", str(pmap)], silk)
    assert "(ambiguous)" not in text


@pytest.mark.silk
def test_silk_ipv6_pmap_with_ipv4_flows(
    seed_map: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """An IPv6 export labels IPv4 flows (SiLK maps them to ::ffff:)."""
    flows = _flows(tmp_path, silk)
    pmap = _export(
        ["--pmap=aws-service", "--mode=ipv6", "--no-ip-ranges"],
        tmp_path,
        "v6.pmap",
        seed_map,
    )
    out = _silk(
        [
            "rwcut",
            f"--pmap-file={pmap}",
            "--fields=sIP,dIP,src-aws-service,dst-aws-service",
            "--delimited",
            str(flows),
        ],
        silk,
    )
    rows = [line.split("|") for line in out.splitlines()[1:]]
    assert ["-", "S3"] == rows[0][2:]
    assert ["S3", "-"] == rows[1][2:]


@pytest.mark.silk
def test_silk_ipsets(
    seed_map: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwsetcat prints the exported sets; rwfilter --anyset passes
    exactly the flows touching them."""
    flows = _flows(tmp_path, silk)
    s3 = _export(
        ["--ipset=aws-service:S3", "--no-ip-ranges"],
        tmp_path,
        "s3.set",
        seed_map,
    )
    text = _silk(["rwsetcat", str(s3)], silk)
    assert sorted(SEED_S3, key=ipaddress.IPv4Address) == text.split()
    internal = _export(["--ipset=internal"], tmp_path, "int.set", seed_map)
    assert "10.1.1.50\n" == _silk(["rwsetcat", str(internal)], silk)
    assert FLOWS[:3] == _filter(
        [f"--anyset={internal}"], flows, silk, "sIP,dIP"
    )


def test_entry_point(seed_map: Path) -> None:
    """The installed console script runs."""
    exe = shutil.which("rwvpcmapcat")
    if exe is None:
        pytest.skip("rwvpcmapcat is not installed on PATH")
    result = subprocess.run(
        [exe, "--delimited", "--fields=address", str(seed_map)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert "10.1.1.50" in result.stdout.split()
