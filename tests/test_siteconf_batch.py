# SPDX-License-Identifier: MIT
"""add_sensors: many new sensors in one silk.conf update."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pysilk_ext.errors import SiteConfigError
from pysilk_ext.silkfmt.siteconf import add_sensor, add_sensors, load_siteconf
from tests.conftest import REPO


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """A writable copy of the bundled silk.conf (sensors 0-14)."""
    path = tmp_path / "silk.conf"
    shutil.copy(REPO / "share" / "silk.conf", path)
    return path


def test_ids_in_order_and_existing_kept(conf: Path) -> None:
    """New names get the next ids in order; known names keep theirs."""
    ids = add_sensors(
        conf,
        [("eni-a", "AWS interface-id eni-a"), ("S3", None), ("eni-b", None)],
    )
    assert [15, 3, 16] == ids
    site = load_siteconf(conf)
    assert "AWS interface-id eni-a" == site.sensors[15].description
    assert ("all",) == site.sensor_classes(16)
    assert 17 == add_sensor(conf, "eni-c")


def test_same_as_one_by_one(conf: Path, tmp_path: Path) -> None:
    """One batch writes the file that single additions write."""
    other = tmp_path / "other.conf"
    shutil.copy(conf, other)
    names = [
        (f"eni-{i:04x}", f"AWS interface-id eni-{i:04x}") for i in range(5)
    ]
    add_sensors(conf, names)
    for name, text in names:
        add_sensor(other, name, text)
    assert other.read_text() == conf.read_text()


def test_a_bad_name_writes_nothing(conf: Path) -> None:
    """One invalid name: an error, and the file is unchanged."""
    before = conf.read_text()
    with pytest.raises(SiteConfigError, match="Invalid sensor name 'a_b'"):
        add_sensors(conf, [("eni-ok", None), ("a_b", None)])
    assert before == conf.read_text()


def test_repeated_name_in_one_batch(conf: Path) -> None:
    """A name given twice is added once."""
    assert [15, 15] == add_sensors(conf, [("eni-x", None), ("eni-x", None)])
    assert 16 == len(load_siteconf(conf).sensors)
