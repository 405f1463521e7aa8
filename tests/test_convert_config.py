# SPDX-License-Identifier: MIT
"""The YAML configuration: the shipped example, defaults, named errors."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path

import pytest

from pysilk_ext.convert.addrs import pack_addresses
from pysilk_ext.convert.awsranges import load_aws_ranges
from pysilk_ext.convert.config import (
    PRIVATE_NETWORKS,
    ActionSelection,
    ConvertConfig,
    SensorPolicy,
    load_config,
    parse_config,
)
from pysilk_ext.errors import ConvertError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "share" / "rwvpc2silk.yaml"


def test_shipped_example_is_the_defaults() -> None:
    """share/rwvpc2silk.yaml loads and states exactly the defaults."""
    loaded = load_config(EXAMPLE)
    assert dataclasses.replace(ConvertConfig(), source=str(EXAMPLE)) == loaded


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    """An empty file is valid and means the defaults."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert ActionSelection.REJECT == load_config(path).action


def test_settings_are_read() -> None:
    """Non-default settings arrive typed."""
    cfg = parse_config(
        "action: accept\n"
        "internal-networks: [private, 192.0.2.0/24]\n"
        "sensors: {policy: account, max-sensors: 5}\n"
        "classify: {web-ports: [443], type-names: {int2aws: toaws}}\n"
        "dedup: {enabled: true, slack: 0}\n"
    )
    assert ActionSelection.ACCEPT == cfg.action
    assert (*PRIVATE_NETWORKS, "192.0.2.0/24") == cfg.internal_networks
    assert (SensorPolicy.ACCOUNT, 5) == (
        cfg.sensors.policy,
        cfg.sensors.max_sensors,
    )
    assert frozenset({443}) == cfg.classify.web_ports
    assert {"int2aws": "toaws"} == dict(cfg.classify.type_names)
    assert (True, 0) == (cfg.dedup.enabled, cfg.dedup.slack)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("actoin: all", "actoin", "Unknown setting"),
        ("action: some", "action", "'some' is not one of reject, accept"),
        ("sensors: {policy: host}", "sensors.policy", "'host' is not one"),
        ("sensors: {max-sensors: 0}", "sensors.max-sensors", "not in 1-65534"),
        ("sensors: {fallback: a_b}", "sensors.fallback", "character '_'"),
        (
            "internal-networks: [10.0.0.300/8]",
            "internal-networks",
            "Invalid network '10.0.0.300/8'",
        ),
        (
            "classify: {web-ports: [80, http]}",
            "classify.web-ports",
            "Expected an integer",
        ),
        (
            "classify: {icmp-types: maybe}",
            "classify.icmp-types",
            "Expected true or false",
        ),
        (
            "classify: {type-names: {web: w}}",
            "classify.type-names.web",
            "Unknown type 'web'",
        ),
        ("dedup: [1, 2]", "dedup", "Expected a mapping"),
        ("- just\n- a list", "", "Expected a mapping"),
    ],
)
def test_errors_name_file_and_key(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    """Each invalid setting raises ConvertError naming the file and key."""
    path = tmp_path / "site.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConvertError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"Invalid configuration '{path}': ")
    if key:
        assert f": {key}: " in message
    assert words in message
    assert (str(path), key or None) == (info.value.path, info.value.key)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    """Broken YAML gives the file and the line."""
    path = tmp_path / "bad.yaml"
    path.write_text("action: all\nsensors: {policy: vpc\n")
    with pytest.raises(ConvertError, match=r"'.*bad.yaml' \(line \d+\)"):
        load_config(path)


def test_missing_file() -> None:
    """A missing file is reported like SiLK reports it."""
    with pytest.raises(
        ConvertError,
        match=r"Cannot open '/nonexistent\.yaml': No such file or directory",
    ):
        load_config("/nonexistent.yaml")


def test_ip_ranges_path_is_relative_to_file(tmp_path: Path) -> None:
    """aws-ip-ranges is resolved against the configuration's folder."""
    path = tmp_path / "conf.yaml"
    path.write_text("aws-ip-ranges: ranges.json\n")
    assert tmp_path / "ranges.json" == load_config(path).aws_ip_ranges


def _prefix_of(data: dict, want: str, others: set[str]) -> str:
    """Return an IPv4 prefix in service ``want`` and otherwise ``others``.

    No listed prefix covering it may belong to another service either.
    """
    services: dict[str, set[str]] = {}
    for entry in data["prefixes"]:
        services.setdefault(entry["ip_prefix"], set()).add(entry["service"])
    allowed = others | {want}
    for prefix, names in services.items():
        if want not in names or not names <= allowed:
            continue
        net = ipaddress.ip_network(prefix)
        covered = [
            p
            for p, s in services.items()
            if net.subnet_of(ipaddress.ip_network(p)) and not s <= allowed
        ]
        if not covered:
            return prefix
    raise AssertionError(f"no {want}-only prefix in ip-ranges.json")


def test_ip_ranges_services(shared: Path) -> None:
    """S3 counts as AWS service by default; EC2-only addresses do not."""
    path = shared / "data" / "ip-ranges.json"
    data = json.loads(path.read_text())
    ec2 = _prefix_of(data, "EC2", {"AMAZON"})
    s3 = _prefix_of(data, "S3", {"AMAZON"})
    addrs = pack_addresses(
        [str(ipaddress.ip_network(p)[1]) for p in (s3, ec2)]
    )
    assert [True, False] == load_aws_ranges(path).contains(addrs).tolist()
    only_ec2 = load_aws_ranges(path, ["EC2"])
    assert [False, True] == only_ec2.contains(addrs).tolist()


def test_ip_ranges_errors(tmp_path: Path) -> None:
    """A broken ip-ranges file is a named error, worded as the context
    map's (one parser), naming the file and the entry."""
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    with pytest.raises(ConvertError, match="Invalid ip-ranges file") as exc:
        load_aws_ranges(bad)
    assert str(bad) == exc.value.path
    bad.write_text(
        '{"prefixes": [{"ip_prefix": "1.2.3.400/8", "service": "S3"}]}'
    )
    with pytest.raises(
        ConvertError,
        match=r"^'.*r\.json': prefixes\[0\]: Invalid ip_prefix "
        r"'1\.2\.3\.400/8'$",
    ):
        load_aws_ranges(bad)
    with pytest.raises(ConvertError, match="No such file or directory"):
        load_aws_ranges(tmp_path / "missing.json")
