# SPDX-License-Identifier: MIT
"""Tests of pysilk_ext.fields, the one table of VPC Flow Log fields."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pysilk_ext import fields as F
from pysilk_ext._binding import load

# Field counts per version, from the spec (section 3), which agree with
# the Terraform module comment (v10 = 42, v11 = 54).
SPEC_COUNTS = {2: 14, 3: 21, 4: 25, 5: 29, 7: 39, 8: 40, 9: 41, 10: 42, 11: 54}

SPEC_DEFAULT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} "
    "${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} "
    "${end} ${action} ${log-status}"
)


def test_versions_are_the_vpc_versions() -> None:
    """VPC versions are 2-5 and 7-11; 6 belongs to Transit Gateway."""
    assert (2, 3, 4, 5, 7, 8, 9, 10, 11) == F.VPC_VERSIONS
    assert F.TGW_VERSION not in F.VPC_VERSIONS
    assert max(F.VPC_VERSIONS) == F.MAX_VPC_VERSION


@pytest.mark.parametrize(("version", "count"), sorted(SPEC_COUNTS.items()))
def test_field_count_per_version(version: int, count: int) -> None:
    """All fields up to a version number as many as AWS documents."""
    assert count == len(F.fields_of_version(version))


def test_names_unique_and_hyphenated() -> None:
    """Names are unique, lower-case and hyphenated as AWS writes them."""
    names = [f.name for f in F.FIELDS]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name


def test_parquet_names_use_underscores() -> None:
    """Each Parquet column is the AWS name with '-' replaced by '_'."""
    for spec in F.FIELDS:
        assert spec.name.replace("-", "_") == spec.parquet
        assert spec.parquet_type in ("INT_32", "INT_64", "STRING")


def test_default_format_matches_spec() -> None:
    """DEFAULT_FORMAT is the fixed v2 format of the AWS documentation."""
    expected = tuple(re.findall(r"\$\{([^}]+)\}", SPEC_DEFAULT))
    assert expected == F.DEFAULT_FORMAT
    assert {2} == {F.field(n).version for n in F.DEFAULT_FORMAT}


def test_kinds_of_typed_fields() -> None:
    """Addresses, enumerations and integers are typed; the rest strings."""
    kinds = {f.name: f.kind for f in F.FIELDS}
    addrs = {n for n, k in kinds.items() if k is F.FieldKind.ADDR}
    enums = {n for n, k in kinds.items() if k is F.FieldKind.ENUM}
    assert {"srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"} == addrs
    assert {"action", "log-status", "flow-direction", "type"} == enums
    assert F.FieldKind.STR == kinds["account-id"]
    assert F.FieldKind.INT == kinds["encryption-status"]


def test_int_ranges() -> None:
    """Ports are 16-bit, protocol and flags 8-bit, counters int64; times
    end where SiLK's do (2^32-1 seconds, in milliseconds: 2106)."""
    assert 65535 == F.field("srcport").hi
    assert 65535 == F.field("dstport").hi
    assert 255 == F.field("protocol").hi
    assert 255 == F.field("tcp-flags").hi
    for name in ("packets", "bytes"):
        assert 2**63 - 1 == F.field(name).hi
        assert "INT_64" == F.field(name).parquet_type
    assert (2**32 - 1) * 1000 + 999 == F.TIME_MAX
    for name in ("start", "end"):
        assert F.TIME_MAX == F.field(name).hi
        assert "INT_64" == F.field(name).parquet_type


def test_enum_fields_name_their_enum() -> None:
    """Every ENUM field has an IntEnum whose texts are all listed."""
    for spec in F.FIELDS:
        if spec.kind is F.FieldKind.ENUM:
            assert spec.enum is not None
            assert len(spec.enum) == len(F.ENUM_TEXT[spec.enum])
        else:
            assert spec.enum is None


def test_enum_text_and_code_round_trip() -> None:
    """enum_code(enum_text(m)) is m, in any letter case."""
    for enum, texts in F.ENUM_TEXT.items():
        for member in enum:
            text = F.enum_text(member)
            assert texts[member - 1] == text
            assert member == F.enum_code(enum, text)
            assert member == F.enum_code(enum, text.swapcase())


def test_enum_code_rejects_unknown() -> None:
    """An unknown enumeration text is a ValueError naming it."""
    with pytest.raises(ValueError, match="'MAYBE'"):
        F.enum_code(F.Action, "MAYBE")


def test_version_of_fields() -> None:
    """The version is the highest among known fields (spec section 2)."""
    assert 2 == F.version_of_fields(F.DEFAULT_FORMAT)
    assert 8 == F.version_of_fields((*F.DEFAULT_FORMAT, "reject-reason"))
    assert 5 == F.version_of_fields(("traffic-path", "x-future"))
    assert 2 == F.version_of_fields(("x-future",))


def test_unknown_field_is_future_string() -> None:
    """An unknown name is a STR field of a version above the table's."""
    spec = F.field("x-new-thing")
    assert F.FieldKind.STR == spec.kind
    assert F.MAX_VPC_VERSION + 1 == spec.version
    assert "x_new_thing" == spec.parquet
    assert not F.is_known_field("x-new-thing")
    assert F.is_known_field("srcaddr")


def test_tgw_fields() -> None:
    """TGW default format has 36 fields; TGW-only names are not VPC's."""
    assert 36 == len(F.TGW_DEFAULT_FORMAT)
    assert 18 == len(F.TGW_FIELDS)
    assert not F.TGW_FIELDS & set(F.FIELDS_BY_NAME)
    assert "resource-type" in F.TGW_FIELDS
    assert "srcaddr" not in F.TGW_FIELDS


def test_c_codes_match_fields_table() -> None:
    """The C tokeniser's kinds and enum codes equal the Python ones."""
    lib = load("vpc").lib
    for kind in F.FieldKind:
        assert kind.value == getattr(lib, f"PSE_VPC_KIND_{kind.name}")
    prefixes = {
        F.Action: "ACTION",
        F.LogStatus: "LOG_STATUS",
        F.FlowDirection: "FLOW_DIRECTION",
        F.AddrType: "ADDR_TYPE",
    }
    for enum, prefix in prefixes.items():
        for member in enum:
            assert member.value == getattr(
                lib, f"PSE_VPC_{prefix}_{member.name}"
            )
    assert 2**31 - 1 == lib.PSE_VPC_SECONDS_MAX


def test_silk_targets_come_from_the_converter() -> None:
    """The table keeps no SiLK-target notes of its own: where a field
    lives after conversion is convert.mapping's answer (one source, next
    to the code that places it), e.g. pkt-* in sIP/dIP, traffic-path in
    ``out``."""
    from pysilk_ext.convert.mapping import placement

    assert "silk" not in {f.name for f in dataclasses.fields(F.FieldSpec)}
    silk = {
        name: placement(F.field(name)).silk
        for name in ("pkt-srcaddr", "pkt-dstaddr", "srcaddr", "traffic-path")
    }
    assert {
        "pkt-srcaddr": "sIP",
        "pkt-dstaddr": "dIP",
        "srcaddr": "sIP / nhIP",
        "traffic-path": "out",
    } == silk
