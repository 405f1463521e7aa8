# SPDX-License-Identifier: MIT
"""Sensors: valid SiLK names, ids stable across runs, the explicit cap."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pysilk_ext.batch import StrColumn
from pysilk_ext.convert import Converter, MemoryContext
from pysilk_ext.convert.addrs import pack_addresses
from pysilk_ext.convert.config import SensorPolicy, parse_config
from pysilk_ext.convert.sensors import (
    SensorAssigner,
    parse_description,
    sensor_key,
    sensor_name,
)
from pysilk_ext.errors import ConvertError
from pysilk_ext.silkfmt.siteconf import load_siteconf, sensor_name_problem
from pysilk_ext.vpcparse import ChunkParser

FMT = (
    "version account-id interface-id vpc-id srcaddr dstaddr srcport dstport "
    "protocol packets bytes start end action log-status"
)


def lines(*enis: str, vpc: str = "vpc-0844e5fb7dab616dd") -> bytes:
    """A v3-style log with one REJECT from each interface."""
    rows = [
        f"3 904652123456 {eni} {vpc} 198.51.100.{i + 1} 10.0.0.{i + 1} 5 22 6 "
        f"1 40 1700000000 1700000001 REJECT OK"
        for i, eni in enumerate(enis)
    ]
    return ("\n".join([FMT, *rows]) + "\n").encode()


@pytest.fixture
def conf(tmp_path: Path, silk_fixtures: Path) -> Path:
    """A writable copy of the fixture silk.conf."""
    path = tmp_path / "silk.conf"
    shutil.copy(silk_fixtures / "site" / "silk.conf", path)
    return path


def run(
    conf: Path, data: bytes, config: str = ""
) -> tuple[list[int], Converter]:
    """One converter run against silk.conf at ``conf``."""
    conv = Converter(
        parse_config(config), site=load_siteconf(conf), site_path=conf
    )
    recs = conv.convert(ChunkParser(source="t").feed(data).batch)
    return recs["sensor"].tolist(), conv


@pytest.mark.parametrize(
    ("key", "policy", "expected"),
    [
        (
            "eni-0ffa7e54f1ae8fa1b",
            SensorPolicy.INTERFACE,
            "eni-0ffa7e54f1ae8fa1b",
        ),
        ("vpc-0844e5fb7dab616dd", SensorPolicy.VPC, "vpc-0844e5fb7dab616dd"),
        (
            "subnet-0d7d9632ca72baf2",
            SensorPolicy.SUBNET,
            "subnet-0d7d9632ca72baf2",
        ),
        ("904652123456", SensorPolicy.ACCOUNT, "acct-904652123456"),
        ("unknown", SensorPolicy.ACCOUNT, "acct-unknown"),
        (
            "nat-0123456789abcdef0",
            SensorPolicy.INTERFACE,
            "nat-0123456789abcdef0",
        ),
    ],
)
def test_aws_ids_are_sensor_names(
    key: str, policy: SensorPolicy, expected: str
) -> None:
    """AWS ids are valid SiLK sensor names as they are (accounts prefixed)."""
    assert expected == sensor_name(key, policy)
    assert sensor_name_problem(expected) is None


@pytest.mark.parametrize(
    "key", ["eni_with_underscore", "a/b", "x" * 80, "9abc", "a b", "@grp", ""]
)
def test_odd_ids_become_valid_distinct_names(key: str) -> None:
    """Anything else is made valid, with a hash so names stay distinct."""
    name = sensor_name(key, SensorPolicy.INTERFACE)
    assert sensor_name_problem(name) is None
    other = sensor_name(key + "-", SensorPolicy.INTERFACE)
    assert name != other


def test_ids_stable_across_runs(conf: Path) -> None:
    """A second run reuses the ids silk.conf got in the first."""
    first, _ = run(conf, lines("eni-0aaa", "eni-0bbb"))
    second, conv = run(conf, lines("eni-0bbb", "eni-0ccc"))
    assert first[1] == second[0]
    assert second[1] not in first
    site = load_siteconf(conf)
    assert first[0] == site.sensor_id("eni-0aaa")
    assert second[1] == site.sensor_id("eni-0ccc")
    assert [(second[1], "eni-0ccc")] == [
        (c[0], c[1]) for c in conv.sensors.created
    ]
    assert 15 == site.sensor_id("AWS-VPC1")  # existing sensors untouched


def test_new_sensor_description_carries_aws_ids(conf: Path) -> None:
    """The description names the interface, then its VPC and account."""
    ids, _ = run(conf, lines("eni-0aaa"))
    site = load_siteconf(conf)
    info = site.sensors[ids[0]]
    assert ("interface-id", "eni-0aaa") == parse_description(info.description)
    assert ("interface-id", "eni-0aaa") == sensor_key(site, ids[0])
    assert "vpc-id vpc-0844e5fb7dab616dd" in (info.description or "")
    assert "account-id 904652123456" in (info.description or "")
    assert ("all",) == site.sensor_classes(ids[0])


def test_cap_falls_back_and_counts(conf: Path) -> None:
    """Beyond sensors.max-sensors, records go to the fallback sensor."""
    ids, conv = run(
        conf,
        lines("eni-0aaa", "eni-0bbb", "eni-0ccc"),
        "sensors: {max-sensors: 2}",
    )
    site = load_siteconf(conf)
    fallback = site.sensor_id("vpc-other")
    assert [
        site.sensor_id("eni-0aaa"),
        site.sensor_id("eni-0bbb"),
        fallback,
    ] == ids
    assert 1 == conv.stats.sensor_fallback


def test_cap_error_stops(conf: Path) -> None:
    """on-exhausted: error raises a named error at the cap."""
    with pytest.raises(ConvertError, match="limit of 1 converter sensors"):
        run(
            conf,
            lines("eni-0aaa", "eni-0bbb"),
            "sensors: {max-sensors: 1, on-exhausted: error}",
        )


def test_cap_counts_sensors_of_earlier_runs(conf: Path) -> None:
    """The cap is kept in silk.conf, so it holds across runs."""
    run(conf, lines("eni-0aaa"), "sensors: {max-sensors: 1}")
    ids, _ = run(conf, lines("eni-0bbb"), "sensors: {max-sensors: 1}")
    assert [load_siteconf(conf).sensor_id("vpc-other")] == ids


def test_vpc_policy(conf: Path) -> None:
    """sensors.policy: vpc names the sensor after the VPC."""
    ids, _ = run(conf, lines("eni-0aaa", "eni-0bbb"), "sensors: {policy: vpc}")
    site = load_siteconf(conf)
    assert [site.sensor_id("vpc-0844e5fb7dab616dd")] * 2 == ids


def test_vpc_policy_needs_a_source() -> None:
    """v2 logs carry no vpc-id: without a map the policy is an error."""
    text = (
        "2 904652123456 eni-0aaa 198.51.100.1 10.0.0.1 5 22 6 1 40 "
        "1700000000 1700000001 REJECT OK\n"
    )
    batch = ChunkParser(source="t").feed(text.encode()).batch
    conv = Converter(parse_config("sensors: {policy: vpc}"))
    with pytest.raises(ConvertError, match="needs the field 'vpc-id'"):
        conv.convert(batch)
    ctx = MemoryContext()
    ctx.bind(
        pack_addresses(["10.0.0.1"])[0].tobytes(),
        0,
        2**40,
        {"interface-id": "eni-0aaa", "vpc-id": "vpc-0ddd"},
    )
    conv = Converter(parse_config("sensors: {policy: vpc}"), context=ctx)
    recs = conv.convert(batch)
    assert conv.sensors.ids["vpc-0ddd"] == recs["sensor"][0]


def test_records_without_interface_go_to_unknown() -> None:
    """A record naming no interface is on the 'unknown' sensor."""
    assigner = SensorAssigner()
    ids = assigner.assign(
        StrColumn(np.array([0, 1], dtype=np.uint32), ["", "eni-0aaa"])
    )
    assert [assigner.ids["vpc-unknown"], assigner.ids["eni-0aaa"]] == list(ids)


@pytest.mark.silk
def test_rwsiteinfo_lists_new_sensors(
    conf: Path, silk: dict[str, str]
) -> None:
    """Real SiLK reads the extended silk.conf and lists the sensors."""
    run(conf, lines("eni-0aaa", "eni-0bbb"))
    out = subprocess.run(
        [
            "rwsiteinfo",
            f"--site-config-file={conf}",
            "--fields=sensor,describe-sensor",
            "--delimited=|",
            "--no-titles",
        ],
        check=True,
        env=silk,
        capture_output=True,
        text=True,
    ).stdout
    rows = dict(line.split("|", 1) for line in out.splitlines())
    assert rows["eni-0aaa"].startswith("AWS interface-id eni-0aaa")
    assert "eni-0bbb" in rows
