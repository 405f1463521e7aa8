# SPDX-License-Identifier: MIT
"""Class/type rules: every branch, on records the converter builds.

Each case is one VPC line; the converter learns interface addresses from
the records themselves and is told ``internal-networks: 10.0.0.0/8``.
"""

from __future__ import annotations

import numpy as np
import pytest

from pysilk_ext.convert import Converter
from pysilk_ext.convert.classify import DEFAULT_TYPE_IDS, Classifier
from pysilk_ext.convert.config import (
    ClassifyConfig,
    ConvertConfig,
    Direction,
    parse_config,
)
from pysilk_ext.errors import ConvertError
from pysilk_ext.silkfmt.siteconf import load_siteconf, parse_siteconf
from pysilk_ext.vpcparse import ChunkParser

FMT = (
    "version interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport "
    "dstport protocol packets bytes start end action log-status "
    "flow-direction pkt-src-aws-service pkt-dst-aws-service"
)
ENI = "eni-0a1b2c3d4e5f60718"

# (src, dst, sport, dport, proto, action, direction, src svc, dst svc) -> type
CASES = [
    # REJECT: by direction at the interface, whatever the endpoints
    (("198.51.100.7", "10.0.1.5", 5555, 22, 6, "REJECT", "ingress"), "innull"),
    (("10.0.1.5", "198.51.100.7", 22, 5555, 6, "REJECT", "egress"), "outnull"),
    (
        ("10.0.1.5", "52.216.8.100", 5, 443, 6, "REJECT", "egress", "-", "S3"),
        "outnull",
    ),
    # AWS service
    (
        ("10.0.1.5", "52.216.8.100", 5, 443, 6, "ACCEPT", "egress", "-", "S3"),
        "int2aws",
    ),
    (
        (
            "52.216.8.100",
            "10.0.1.5",
            443,
            5,
            6,
            "ACCEPT",
            "ingress",
            "S3",
            "-",
        ),
        "aws2int",
    ),
    # inbound: web (either port), ICMP, other; UDP/80 is not web
    (("198.51.100.7", "10.0.1.5", 5555, 443, 6, "ACCEPT", "ingress"), "inweb"),
    (
        ("198.51.100.7", "10.0.1.5", 8080, 5555, 6, "ACCEPT", "ingress"),
        "inweb",
    ),
    (("198.51.100.7", "10.0.1.5", 5555, 80, 17, "ACCEPT", "ingress"), "in"),
    (("198.51.100.7", "10.0.1.5", 0, 0, 1, "ACCEPT", "ingress"), "inicmp"),
    (("198.51.100.7", "10.0.1.5", 5555, 22, 6, "ACCEPT", "ingress"), "in"),
    # outbound
    (("10.0.1.5", "198.51.100.7", 5555, 80, 6, "ACCEPT", "egress"), "outweb"),
    (("10.0.1.5", "198.51.100.7", 0, 0, 1, "ACCEPT", "egress"), "outicmp"),
    (("10.0.1.5", "198.51.100.7", 5555, 25, 6, "ACCEPT", "egress"), "out"),
    # IPv6: ICMPv6 is ICMP on an IPv6 record; web the same
    (("2001:db8::7", "fd00::5", 0, 0, 58, "ACCEPT", "ingress"), "inicmp"),
    (("fd00::5", "2001:db8::7", 5555, 443, 6, "ACCEPT", "egress"), "outweb"),
    (("2001:db8::7", "fd00::5", 0, 0, 1, "ACCEPT", "ingress"), "inicmp"),
    # both sides internal / both external / no network
    (("10.0.1.5", "10.0.2.9", 5555, 443, 6, "ACCEPT", "egress"), "int2int"),
    # (the interface side is internal by definition, so ext2ext needs a
    # forwarding interface: its own address logged, pkt-* elsewhere)
    (
        (
            "198.51.100.7",
            "203.0.113.9",
            5,
            6,
            17,
            "ACCEPT",
            "ingress",
            "-",
            "-",
            "10.0.0.220",
        ),
        "ext2ext",
    ),
    (("10.0.1.5", "224.0.0.251", 5353, 5353, 17, "ACCEPT", "egress"), "other"),
    # an AWS-service address that is also internal is internal
    (
        ("10.0.1.5", "10.0.9.9", 5, 443, 6, "ACCEPT", "egress", "-", "S3"),
        "int2int",
    ),
    # AWS service to an external address is ext2ext
    (
        (
            "52.216.8.100",
            "198.51.100.7",
            443,
            5,
            6,
            "ACCEPT",
            "ingress",
            "S3",
            "-",
            "10.0.0.220",
        ),
        "ext2ext",
    ),
]


def _line(case: tuple[object, ...], start: int = 1700000000) -> str:
    """Return a v5 line; a 10th item is the interface's own address."""
    src, dst, sport, dport, proto, action, direction, *rest = case
    ssvc, dsvc, *via = rest if rest else ("-", "-")
    logged_src, logged_dst = src, dst
    if via and direction == "ingress":
        logged_dst = via[0]
    elif via:
        logged_src = via[0]
    return (
        f"5 {ENI} {logged_src} {logged_dst} {src} {dst} {sport} {dport} "
        f"{proto} 3 300 {start} {start + 5} {action} OK {direction} "
        f"{ssvc} {dsvc}"
    )


def _classify(lines: list[str], config: ConvertConfig) -> list[str]:
    text = "\n".join([FMT, *lines]) + "\n"
    batch = ChunkParser(source="t").feed(text.encode()).batch
    recs = Converter(config).convert(batch)
    names = {v: k for k, v in DEFAULT_TYPE_IDS.items()}
    return [names[int(t)] for t in recs["flowtype"]]


CONFIG = parse_config("action: all\ninternal-networks: [10.0.0.0/8, fd00::/8]")


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_type_of_each_branch(case: tuple[object, ...], expected: str) -> None:
    """One record of each rule gets exactly its class/type."""
    assert [expected] == _classify([_line(case)], CONFIG)


def test_internal_from_records_alone() -> None:
    """Without networks, the interface side of each record is internal."""
    lines = [
        _line(("10.0.1.5", "198.51.100.7", 5, 80, 6, "ACCEPT", "egress")),
        # 10.0.2.9 never appears on an interface side: external
        _line(("10.0.2.9", "10.0.1.5", 5, 443, 6, "ACCEPT", "ingress")),
    ]
    assert ["outweb", "inweb"] == _classify(
        lines, ConvertConfig(action=CONFIG.action)
    )


def test_icmp_types_off_is_stock_twoway() -> None:
    """classify.icmp-types: false puts ICMP in in/out like stock twoway."""
    config = parse_config(
        "action: all\ninternal-networks: [10.0.0.0/8]\n"
        "classify: {icmp-types: false}"
    )
    lines = [
        _line(("198.51.100.7", "10.0.1.5", 0, 0, 1, "ACCEPT", "ingress")),
        _line(("10.0.1.5", "198.51.100.7", 0, 0, 1, "ACCEPT", "egress")),
    ]
    assert ["in", "out"] == _classify(lines, config)


def test_aws_types_off_makes_services_external() -> None:
    """classify.aws-types: false: an S3 address is just external."""
    config = parse_config(
        "action: all\ninternal-networks: [10.0.0.0/8]\n"
        "classify: {aws-types: false}"
    )
    lines = [
        _line(
            (
                "10.0.1.5",
                "52.216.8.100",
                5,
                443,
                6,
                "ACCEPT",
                "egress",
                "-",
                "S3",
            )
        ),
    ]
    assert ["outweb"] == _classify(lines, config)


def test_action_selection_reject_is_default() -> None:
    """By default only REJECT records become flows; the rest are counted."""
    lines = [_line(c) for c, _ in CASES]
    text = "\n".join([FMT, *lines]) + "\n"
    batch = ChunkParser(source="t").feed(text.encode()).batch
    conv = Converter()
    recs = conv.convert(batch)
    rejects = sum(1 for c, _ in CASES if c[5] == "REJECT")
    assert rejects == len(recs)
    assert len(CASES) - rejects == conv.stats.skipped["ACCEPT not selected"]


def test_type_ids_come_from_silk_conf() -> None:
    """A site numbering its types differently gets its own ids."""
    text = (
        "\n".join(
            ["sensor 0 S0", "class all", "    sensors S0"]
            + [
                f"    type {20 + i} {name}"
                for i, name in enumerate(reversed(list(DEFAULT_TYPE_IDS)))
            ]
            + ["end class"]
        )
        + "\n"
    )
    site = parse_siteconf(text)
    clf = Classifier(ClassifyConfig(), site)
    assert site.flowtype_id("all", "int2aws") == clf.ids["int2aws"]
    assert {
        site.flowtype_id("all", "innull"),
        site.flowtype_id("all", "outnull"),
    } == clf.null_ids


def test_missing_aws_types_in_silk_conf_is_named(silk_fixtures) -> None:
    """A stock twoway silk.conf lacks int2aws: the error says what to do."""
    site = load_siteconf(silk_fixtures / "twoway" / "silk-twoway-stock.conf")
    with pytest.raises(ConvertError, match="'int2aws' is not defined"):
        Classifier(ClassifyConfig(), site)
    clf = Classifier(ClassifyConfig(aws_types=False), site)
    assert clf.ids["out"] == clf.ids["int2aws"]


def test_classifier_default_direction() -> None:
    """A REJECT of unknown direction takes classify.default-direction."""
    one = np.ones(1, dtype=bool)
    zero = np.zeros(1, dtype=bool)
    kw = {
        "reject": one,
        "direction": np.zeros(1, dtype=np.uint8),
        "proto": np.array([6]),
        "sport": np.array([1]),
        "dport": np.array([2]),
        "ipv6": zero,
        "src_internal": zero,
        "dst_internal": one,
        "src_aws": zero,
        "dst_aws": zero,
    }
    ingress = Classifier(ClassifyConfig(default_direction=Direction.INGRESS))
    egress = Classifier(ClassifyConfig(default_direction=Direction.EGRESS))
    assert DEFAULT_TYPE_IDS["innull"] == ingress.classify(**kw)[0]
    assert DEFAULT_TYPE_IDS["outnull"] == egress.classify(**kw)[0]
