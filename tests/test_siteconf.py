# SPDX-License-Identifier: MIT
"""silk.conf: parsing, validation, writing and extending, against SiLK.

The site fixtures (``site/rwsiteinfo-*.txt``) are compared with the output
of a small rwsiteinfo-like formatter over our parse; where real SiLK is on
PATH, rwsiteinfo itself judges files we wrote and the error messages of
files we refuse.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from pysilk_ext.errors import SiteConfigError
from pysilk_ext.silkfmt.siteconf import (
    SiteConfig,
    add_sensor,
    load_siteconf,
    locate_siteconf,
    parse_siteconf,
    write_siteconf,
)
from tests.conftest import REPO

SHARE = REPO / "share"

# --------------------------------------------------------------------------
# A minimal rwsiteinfo for the fields the fixtures use

TITLES = {
    "class": "Class",
    "type": "Type",
    "flowtype": "Flowtype",
    "id-flowtype": "Flowtype-ID",
    "sensor": "Sensor",
    "id-sensor": "Sensor-ID",
    "describe-sensor": "Sensor-Description",
    "default-class": "Default-Class",
    "default-type": "Default-Type",
    "mark-defaults": "Defaults",
    "class:list": "Class:list",
    "type:list": "Type:list",
    "default-type:list": "Default-Type:list",
    "sensor:list": "Sensor:list",
}
FLOWTYPE_FIELDS = {"type", "flowtype", "id-flowtype", "default-type",
                   "mark-defaults"}  # fmt: skip
SENSOR_FIELDS = {"sensor", "id-sensor", "describe-sensor"}


def _rows(
    site: SiteConfig, fields: list[str], types: set[str] | None
) -> Iterable[dict[str, str]]:
    """One dict per output row, iterating like rwsiteinfo does."""
    by_flowtype = bool(FLOWTYPE_FIELDS & set(fields))
    by_sensor = bool(SENSOR_FIELDS & set(fields))
    if by_sensor and not by_flowtype and "class" not in fields:
        for sensor in site.sensors.values():
            yield {
                "id-sensor": str(sensor.id),
                "sensor": sensor.name,
                "describe-sensor": sensor.description or "",
                "class:list": ",".join(site.sensor_classes(sensor.id)),
            }
        return
    for cls in site.classes.values():
        class_row = {
            "class": cls.name,
            "default-class": cls.name
            if site.default_class == cls.name
            else "",
            "type:list": ",".join(
                site.flowtypes[f].type for f in cls.flowtypes
            ),
            "default-type:list": ",".join(
                site.flowtypes[f].type for f in cls.default_flowtypes
            ),
            "sensor:list": ",".join(site.sensors[s].name for s in cls.sensors),
        }
        if not by_flowtype:
            yield class_row
            continue
        for fid in cls.flowtypes:
            ft = site.flowtypes[fid]
            if types is not None and ft.type not in types:
                continue
            is_default = fid in cls.default_flowtypes
            ft_row = {
                **class_row,
                "type": ft.type,
                "flowtype": ft.name,
                "id-flowtype": str(fid),
                "default-type": ft.type if is_default else "",
                "mark-defaults": (
                    ("+" if site.default_class == cls.name else " ")
                    + ("*" if is_default else " ")
                ),
            }
            if not by_sensor:
                yield ft_row
                continue
            for sid in cls.sensors:
                sensor = site.sensors[sid]
                yield {
                    **ft_row,
                    "sensor": sensor.name,
                    "id-sensor": str(sid),
                    "describe-sensor": sensor.description or "",
                }


def siteinfo(
    site: SiteConfig,
    fields: str,
    *,
    types: str | None = None,
    delimited: str | None = None,
) -> str:
    """Format ``site`` like ``rwsiteinfo --fields=FIELDS``."""
    names = fields.split(",")
    wanted = set(types.split(",")) if types else None
    table = [[TITLES[n] for n in names]]
    table += [[row[n] for n in names] for row in _rows(site, names, wanted)]
    if delimited is not None:
        return "".join(delimited.join(r) + "\n" for r in table)
    widths = [max(len(r[i]) for r in table) for i in range(len(names))]
    return "".join(
        "".join(f"{v:>{w}}|" for v, w in zip(r, widths, strict=True)) + "\n"
        for r in table
    )


SITEINFO_CASES = [
    ("rwsiteinfo-flowtypes.txt",
     "id-flowtype,flowtype,class,type,mark-defaults", None, None),
    ("rwsiteinfo-sensors.txt",
     "id-sensor,sensor,describe-sensor,class:list", None, None),
    ("rwsiteinfo-classes.txt",
     "class,default-class,type:list,default-type:list,sensor:list", None,
     None),
    ("rwsiteinfo-delimited.txt", "id-flowtype,flowtype,class,type", None,
     ","),
    ("rwsiteinfo-aws-types.txt", "id-flowtype,flowtype,class,type",
     "int2aws,aws2int", None),
    ("rwsiteinfo-all.txt",
     "class,type,flowtype,id-flowtype,sensor,id-sensor,describe-sensor,"
     "default-class,default-type,mark-defaults", None, None),
]  # fmt: skip


@pytest.fixture(scope="module")
def fixture_site(silk_fixtures: Path) -> SiteConfig:
    """The fixture silk.conf (twoway + int2aws/aws2int + AWS-VPC1)."""
    return load_siteconf(silk_fixtures / "site" / "silk.conf")


@pytest.mark.parametrize("case", SITEINFO_CASES, ids=lambda c: c[0])
def test_fixture_site_matches_rwsiteinfo(
    fixture_site: SiteConfig,
    silk_fixtures: Path,
    case: tuple[str, str, str | None, str | None],
) -> None:
    """Sensors, classes, flowtypes and defaults equal rwsiteinfo's view."""
    name, fields, types, delimited = case
    expected = (silk_fixtures / "site" / name).read_text()
    assert expected == siteinfo(
        fixture_site, fields, types=types, delimited=delimited
    )


def test_fixture_site_lookups(fixture_site: SiteConfig) -> None:
    """Names and ids resolve both ways, as the repository needs them."""
    site = fixture_site
    assert 3 == site.flowtype_id("all", "outweb")
    assert "ow" == site.flowtypes[3].name
    assert 11 == site.flowtype("int2aws").id  # type: ignore[union-attr]
    assert 15 == site.sensor_id("AWS-VPC1")
    assert "AWS-VPC1" == site.sensor_name(15)
    assert "99" == site.sensor_name(99)  # unknown ids print as numbers
    assert ("in", "inweb", "inicmp") == site.default_types()
    assert "%T/%Y/%m/%d/%x" == site.path_format
    assert "packlogic-twoway.so" == site.packing_logic
    assert 8 == site.max_sensor_name_length
    with pytest.raises(SiteConfigError, match="Unknown sensor 'S99'"):
        site.sensor_id("S99")


# --------------------------------------------------------------------------
# Errors: the same lines and messages as SiLK's parser

BAD_FILES = {
    "args": (
        'sensor 0 S0 "a\\0123"\n'  # 4-digit escape: SiLK refuses it
        "sensor 1 S_1\n"
        "sensor 2 1S\n"
        "sensor 70000 X\n"
        'sensor 3 S3 "d" extra\n'
        "class all\n"
        " sensors S0 @nogroup Sx\n"
        " type 0 in\n"
        " type 1 in\n"
        " type 0 out\n"
        "end class\n"
        "  bogus 1\n"
        "end foo\n"
        ":\n"
        "version 1\n"
        'sensor 4 S4 "desc"\n'
    ),
    "defaults": (
        "sensor 0 S0\n"
        "group g1\n sensors S0\nend group\n"
        "group g2\n sensors @g1\nend group\n"
        "class all\n sensors @g2\n type 0 in\nend class\n"
        "class empty\nend class\n"
        "default-class empty\n"
        'path-format "%T/%x/y"\n'
        'path-format "%q/%x"\n'
        'path-format "a%x"\n'
        'include "does-not-exist.conf"\n'
        "version 3\n"
    ),
    "context": (
        "sensor 0 S0\n"
        "type 0 x\n"
        "sensors S0\n"
        "end class\n"
        "class all\n"
        " sensor 1 S1\n"
        " type 0 in\n"
        " class x\n"
        " version 2\n"
        "end class extra\n"
        "group g\n"
        " type 1 out\n"
        "end group\n"
        'sensor 5 "S5"  "unterminated\n'
        'sensor 6 S6 "x\\400"\n'
        "sensor 7 " + "S" * 65 + "\n"
        "class " + "c" * 33 + "\n type 9 t\nend class\n"
        "class all\n type 300 big\n type 10 " + "t" * 32 + "\nend class\n"
    ),
    "nodefault": (
        "sensor 0 S0\nclass all\n type 0 in\nend class\n"
        "default-class all\n"
        "class c2\n sensors S0\nend class\n"
    ),
}

_SILK_ERROR = re.compile(
    r"Error while parsing site configuration file at [^:\n]+:(\d+):\n\t(.*)\n"
)


def _silk_errors(stderr: str, name: str) -> list[str]:
    found = [
        f"{name}:{line}: {msg}" for line, msg in _SILK_ERROR.findall(stderr)
    ]
    # errors after the parse (no file:line), e.g. "contains no types"
    for msg in re.findall(
        r"file:\n\tSite configuration error: (.*)\n", stderr
    ):
        found.append(f"{name}: Site configuration error: {msg}")
    return found


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_errors_name_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Every problem is reported as FILE:LINE: message; the first leads."""
    monkeypatch.chdir(tmp_path)
    Path("bad.conf").write_text(BAD_FILES[case])
    with pytest.raises(SiteConfigError) as info:
        load_siteconf("bad.conf")
    errors = info.value.errors  # type: ignore[attr-defined]
    assert errors
    assert str(info.value).startswith(errors[0])
    assert all(e.startswith("bad.conf") for e in errors)


@pytest.mark.silk
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_errors_equal_rwsiteinfo(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    silk: dict[str, str],
    case: str,
) -> None:
    """Our error list is rwsiteinfo's, line for line and word for word."""
    monkeypatch.chdir(tmp_path)
    Path("bad.conf").write_text(BAD_FILES[case])
    run = subprocess.run(
        ["rwsiteinfo", "--site-config-file=bad.conf", "--fields=sensor"],
        capture_output=True, text=True, env=silk, check=False,
    )  # fmt: skip
    assert 0 != run.returncode
    with pytest.raises(SiteConfigError) as info:
        load_siteconf("bad.conf")
    assert _silk_errors(run.stderr, "bad.conf") == (
        info.value.errors  # type: ignore[attr-defined]
    )


def test_default_types_outside_class_is_an_error() -> None:
    """SiLK silently stops parsing here; we report it (documented)."""
    with pytest.raises(SiteConfigError, match=r"x:2: Command 'default-types'"):
        parse_siteconf("sensor 0 S0\ndefault-types in\n", "x")


def test_lexer_strings_comments_and_escapes() -> None:
    """Quoted strings take C escapes and may hold '#'; comments end lines."""
    text = (
        "# comment line\n"
        '   sensor 0 S0 "A \\101\\tB\\"C # not a comment" # a comment\n'
        "class all   # comment after an argument\n"
        '    sensors "S0"\n'
        "    type 0 in\n"
        "end class\n"
        "default-class all"  # no final newline: still read
    )
    site = parse_siteconf(text)
    assert 'A A\tB"C # not a comment' == site.sensors[0].description
    assert "all" == site.default_class
    assert (0,) == site.classes["all"].sensors


def test_name_and_id_limits() -> None:
    """The limits of 6.2 hold exactly at their edges."""
    ok = parse_siteconf(
        f"sensor 65534 {'S' * 64}\nsensor 0 S\n"
        f"class {'c' * 32}\n sensors {'S' * 64}\n"
        f" type 254 {'t' * 32} {'f' * 32}\n"
        " type 0 t-x_y.z tx\nend class\n"
        "class all\n sensors S\n type 1 t-x_y.z\nend class\n"
    )
    assert {0, 65534} == set(ok.sensors)
    assert "t-x_y.z" == ok.flowtypes[0].type
    assert "allt-x_y.z" == ok.flowtypes[1].name
    for bad in (
        "sensor 65535 S\n",
        f"sensor 1 {'S' * 65}\n",
        "sensor 1 a_b\n",
        "sensor 1 9a\n",
        "sensor 1 S\nsensor 1 T\n",
        "sensor 1 S\nsensor 2 S\n",
    ):
        with pytest.raises(SiteConfigError):
            parse_siteconf(bad)


def test_generated_flowtype_name_is_cut_like_silk() -> None:
    """A 32-character class+type name is kept to 31, as SiLK's buffer."""
    site = parse_siteconf(
        f"sensor 0 S\nclass {'c' * 16}\n sensors S\n type 0 {'t' * 16}\n"
        "end class\n"
    )
    assert 31 == len(site.flowtypes[0].name)


# --------------------------------------------------------------------------
# Writing and locating


def test_format_round_trips_the_fixture(
    fixture_site: SiteConfig, tmp_path: Path
) -> None:
    """format_siteconf() text parses back to the same site."""
    out = tmp_path / "silk.conf"
    write_siteconf(out, fixture_site, comment="generated\nfor a test")
    again = load_siteconf(out)
    for name in ("sensors", "classes", "flowtypes", "default_class",
                 "path_format", "packing_logic", "version"):  # fmt: skip
        assert getattr(fixture_site, name) == getattr(again, name)
    assert out.read_text().startswith("# generated\n# for a test\n")


@pytest.mark.silk
def test_written_file_reads_the_same_in_rwsiteinfo(
    fixture_site: SiteConfig, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwsiteinfo prints the same tables for our file and the fixture."""
    out = tmp_path / "silk.conf"
    write_siteconf(out, fixture_site)
    for _, fields, types, _ in SITEINFO_CASES:
        args = [f"--fields={fields}"] + ([f"--types={types}"] if types else [])
        mine = subprocess.run(
            ["rwsiteinfo", f"--site-config-file={out}", *args],
            capture_output=True, text=True, env=silk, check=True,
        ).stdout  # fmt: skip
        assert siteinfo(fixture_site, fields, types=types) == mine


def test_quote_round_trips_odd_descriptions(tmp_path: Path) -> None:
    """Descriptions with quotes, backslashes and controls survive."""
    text = 'quote " back \\ tab \t nl \n bell \x07 é'
    site = parse_siteconf(
        "sensor 0 S0\nclass all\n sensors S0\n type 0 in\nend class\n"
    )
    out = tmp_path / "silk.conf"
    write_siteconf(out, site)
    add_sensor(out, "eni-0a1b", text)
    assert text == load_siteconf(out).sensor("eni-0a1b").description  # type: ignore[union-attr]


def test_locate_follows_silk_order(tmp_path: Path) -> None:
    """--site-config-file, SILK_CONFIG_FILE, DATA_ROOTDIR/silk.conf."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "silk.conf").write_text("")
    env = {"SILK_DATA_ROOTDIR": str(root)}
    assert Path("x.conf") == locate_siteconf("x.conf", environ=env)
    assert Path("/e/silk.conf") == locate_siteconf(
        environ={**env, "SILK_CONFIG_FILE": " /e/silk.conf"}
    )
    assert root / "silk.conf" == locate_siteconf(environ=env)
    assert root / "silk.conf" == locate_siteconf(data_rootdir=root, environ={})
    assert Path("/data/silk.conf") == locate_siteconf(environ={})
    share = tmp_path / "silkpath" / "share" / "silk"
    share.mkdir(parents=True)
    (share / "silk.conf").write_text("")
    assert share / "silk.conf" == locate_siteconf(
        environ={
            "SILK_DATA_ROOTDIR": str(tmp_path / "none"),
            "SILK_PATH": str(tmp_path / "silkpath"),
        }
    )


# --------------------------------------------------------------------------
# add_sensor


def test_add_sensor_keeps_text_and_numbers_next_id(
    silk_fixtures: Path, tmp_path: Path
) -> None:
    """New sensors take the next ids, join class all, keep the old text."""
    conf = tmp_path / "silk.conf"
    shutil.copy(silk_fixtures / "site" / "silk.conf", conf)
    before = conf.read_text()
    assert 16 == add_sensor(conf, "eni-0a1b2c3d", "VPC vpc-1 eni-0a1b2c3d")
    assert 17 == add_sensor(conf, "eni-0ffff", None)
    assert 16 == add_sensor(conf, "eni-0a1b2c3d", "ignored: exists")
    after = conf.read_text()
    assert after.startswith(before)
    site = load_siteconf(conf)
    assert "VPC vpc-1 eni-0a1b2c3d" == site.sensors[16].description
    assert ("all",) == site.sensor_classes(17)
    assert site.classes["all"].sensors[-2:] == (16, 17)
    assert not list(tmp_path.glob(".silk.conf.*"))  # no temporaries left


def test_add_sensor_refuses_bad_input(tmp_path: Path) -> None:
    """Illegal names and unknown classes leave the file untouched."""
    conf = tmp_path / "silk.conf"
    conf.write_text(
        "sensor 0 S0\nclass all\n sensors S0\n type 0 in\nend class\n"
    )
    before = conf.read_text()
    with pytest.raises(SiteConfigError, match="Invalid sensor name 'a_b'"):
        add_sensor(conf, "a_b")
    with pytest.raises(SiteConfigError, match="class 'nope'"):
        add_sensor(conf, "S1", classes=["nope"])
    assert before == conf.read_text()


@pytest.mark.parametrize("step", ["fsync", "replace"])
@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_interrupted_add_sensor_keeps_old_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    failure: type[BaseException],
) -> None:
    """An update stopped before its rename (Ctrl-C, or a full disk at the
    flush or the rename) leaves the old silk.conf byte for byte, no
    temporary file, and the lock free: the next update succeeds with the
    id the failed one would have taken."""
    conf = tmp_path / "silk.conf"
    conf.write_text(
        "sensor 0 S0\nclass all\n sensors S0\n type 0 in\nend class\n"
    )
    before = conf.read_bytes()

    def fail(*_args: object) -> None:
        raise failure

    monkeypatch.setattr(os, step, fail)
    with pytest.raises(failure):
        add_sensor(conf, "eni-0a1b")
    monkeypatch.undo()
    assert before == conf.read_bytes()
    assert [] == list(tmp_path.glob(".silk.conf.*"))
    assert 1 == add_sensor(conf, "eni-0a1b")
    assert ("all",) == load_siteconf(conf).sensor_classes(1)


def _add_many(args: tuple[str, str, int]) -> list[int]:
    path, prefix, count = args
    return [add_sensor(path, f"{prefix}{i}") for i in range(count)]


def test_add_sensor_concurrent_processes(tmp_path: Path) -> None:
    """Two processes adding sensors at once: all kept, ids unique."""
    conf = tmp_path / "silk.conf"
    conf.write_text(
        "sensor 0 S0\nclass all\n sensors S0\n type 0 in\nend class\n"
    )
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(
            _add_many, [(str(conf), "A", 15), (str(conf), "B", 15)]
        )
    ids = results[0] + results[1]
    assert 30 == len(set(ids))
    site = load_siteconf(conf)
    assert set(range(31)) == set(site.sensors)
    assert 31 == len(site.classes["all"].sensors)


@pytest.mark.silk
def test_added_sensors_read_by_rwsiteinfo(
    silk_fixtures: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """SiLK accepts the extended file and sees the new sensors."""
    conf = tmp_path / "silk.conf"
    shutil.copy(SHARE / "silk.conf", conf)
    add_sensor(conf, "eni-0a1b", 'desc "quoted"')
    add_sensor(conf, "eni-0c2d")
    out = subprocess.run(
        ["rwsiteinfo", f"--site-config-file={conf}",
         "--fields=id-sensor,sensor,describe-sensor,class:list"],
        capture_output=True, text=True, env=silk, check=True,
    ).stdout  # fmt: skip
    assert (
        siteinfo(
            load_siteconf(conf), "id-sensor,sensor,describe-sensor,class:list"
        )
        == out
    )
    assert '15|eni-0a1b|desc"quoted"|all|' in out.replace(" ", "")


# --------------------------------------------------------------------------
# The shipped site and sensor files


def test_shipped_silk_conf_keeps_twoway_and_adds_aws(
    silk_fixtures: Path,
) -> None:
    """Flowtypes 0-10 are the stock twoway ones; 11/12 are int2aws/aws2int."""
    ours = load_siteconf(SHARE / "silk.conf")
    stock = load_siteconf(silk_fixtures / "twoway" / "silk-twoway-stock.conf")
    for fid, ft in stock.flowtypes.items():
        assert ft == ours.flowtypes[fid]
    assert ("int2aws", "all", "int2aws") == (
        ours.flowtypes[11].name, ours.flowtypes[11].class_name,
        ours.flowtypes[11].type,
    )  # fmt: skip
    assert ("aws2int", "all", "aws2int") == (
        ours.flowtypes[12].name, ours.flowtypes[12].class_name,
        ours.flowtypes[12].type,
    )  # fmt: skip
    assert stock.sensors == ours.sensors
    assert stock.default_types() == ours.default_types()
    assert "all" == ours.default_class
    assert ours.packing_logic is None  # twoway plug-in aborts on ids > 10


@pytest.mark.silk
def test_shipped_silk_conf_in_rwsiteinfo(silk: dict[str, str]) -> None:
    """rwsiteinfo reads share/silk.conf exactly as we do."""
    ours = load_siteconf(SHARE / "silk.conf")
    for _, fields, types, _ in SITEINFO_CASES:
        args = [f"--fields={fields}"] + ([f"--types={types}"] if types else [])
        out = subprocess.run(
            ["rwsiteinfo", f"--site-config-file={SHARE / 'silk.conf'}", *args],
            capture_output=True, text=True, env=silk, check=True,
        ).stdout  # fmt: skip
        assert siteinfo(ours, fields, types=types) == out


def _silk_env_with_plugins(silk: dict[str, str]) -> dict[str, str]:
    """SILK_PATH so that rwflowpack finds packlogic-twoway.so."""
    rwflowpack = shutil.which("rwflowpack", path=silk.get("PATH"))
    if rwflowpack is None:
        pytest.skip("rwflowpack not on PATH")
    prefix = Path(rwflowpack).resolve().parent.parent
    return {**silk, "SILK_PATH": str(prefix)}


@pytest.mark.silk
def test_shipped_sensor_conf_verifies(
    silk_fixtures: Path, tmp_path: Path, silk: dict[str, str]
) -> None:
    """rwflowpack --verify-sensor-config accepts share/sensor.conf.

    With the stock twoway site (the plug-in refuses flowtype ids above
    10).  A SiLK built without libfixbuf cannot load ipfix/netflow-v9
    probes; then the probe types are swapped for netflow-v5 (everything
    else is verified unchanged).
    """
    env = _silk_env_with_plugins(silk)
    text = (SHARE / "sensor.conf").read_text()
    version = subprocess.run(
        ["rwflowpack", "--version"], capture_output=True, text=True, env=env,
        check=False,
    ).stdout  # fmt: skip
    if re.search(r"IPFIX/NetFlow9/sFlow collection:\s+no", version):
        text = re.sub(r"^(probe \S+) (ipfix|netflow-v9)$", r"\1 netflow-v5",
                      text, flags=re.M)  # fmt: skip
        text = re.sub(r"\b(ipfix|netflow-v9)-probes\b", "netflow-v5-probes",
                      text)  # fmt: skip
        text = re.sub(r"protocol tcp", "protocol udp", text)
    conf = tmp_path / "sensor.conf"
    conf.write_text(text)
    stock = silk_fixtures / "twoway" / "silk-twoway-stock.conf"
    run = subprocess.run(
        ["rwflowpack", f"--sensor-configuration={conf}",
         f"--site-config-file={stock}", "--verify-sensor-config=VERBOSE"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert 0 == run.returncode, run.stderr
    assert "Successfully parsed 2 probes" in run.stderr + run.stdout
    assert "Successfully parsed 2 sensors" in run.stderr + run.stdout
