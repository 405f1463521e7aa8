# SPDX-License-Identifier: MIT
"""The field-mapping table covers every field and feeds the man page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pysilk_ext.convert.mapping import (
    SCOPE_VERSIONS,
    Where,
    check_complete,
    context_fields,
    placements,
    pod_table,
    round_trip_fields,
)
from pysilk_ext.fields import FIELDS, fields_of_version


def test_table_is_complete() -> None:
    """No field of versions 2-5, 7, 8 is left without a home."""
    assert [] == check_complete()


def test_one_row_per_field_in_table_order() -> None:
    """The table walks fields.FIELDS: same names, same order."""
    assert [f.name for f in FIELDS] == [p.name for p in placements()]


def test_every_in_scope_field_is_kept_or_derivable() -> None:
    """Versions 2-5 and 8: kept, except the two declared derivable."""
    in_scope = [p for p in placements() if p.version in SCOPE_VERSIONS]
    assert {2, 3, 4, 5, 8} <= {p.version for p in in_scope}
    derivable = {p.name for p in in_scope if p.where is Where.DERIVED}
    assert {"version", "log-status"} == derivable
    assert all(p.kept for p in in_scope if p.name not in derivable)


def test_round_trip_fields_leave_out_derivable() -> None:
    """round_trip_fields keeps order and drops version and log-status."""
    v2 = fields_of_version(2)
    expected = tuple(n for n in v2 if n not in ("version", "log-status"))
    assert expected == round_trip_fields(v2)
    assert () == round_trip_fields(["no-such-field", "encryption-status"])


def test_context_fields_are_the_interface_properties() -> None:
    """The map answers the interface's ids and names, not the labels."""
    names = set(context_fields(8))
    assert {
        "account-id",
        "vpc-id",
        "subnet-id",
        "instance-id",
        "region",
        "az-id",
        "sublocation-type",
        "sublocation-id",
    } <= names
    assert not any(n.endswith("aws-service") for n in names)
    assert "interface-id" not in names  # the sensor holds it
    assert all(n.startswith("ecs-") for n in names - set(fields_of_version(5)))


def test_pod_table_lists_every_field() -> None:
    """The man-page text has one =item per field up to version 8."""
    pod = pod_table()
    for name in fields_of_version(8):
        assert f"=item B<{name}>" in pod
    assert "=item B<encryption-status>" not in pod
    assert pod.startswith("=over 4")
    assert pod.rstrip().endswith("=back")


@pytest.mark.skipif(shutil.which("podchecker") is None, reason="no podchecker")
def test_pod_table_passes_podchecker(tmp_path: Path) -> None:
    """podchecker finds no error in the generated table."""
    doc = tmp_path / "t.pod"
    doc.write_text(f"=head1 NAME\n\nt - t\n\n=head1 FIELDS\n\n{pod_table()}")
    result = subprocess.run(
        ["podchecker", str(doc)], capture_output=True, text=True, check=False
    )
    assert 0 == result.returncode, result.stderr
