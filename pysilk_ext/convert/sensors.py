# SPDX-License-Identifier: MIT
"""SiLK sensors for VPC records: naming, stable ids, the cap.

Policy (``sensors.policy``): by default every interface (``eni-...``;
``resource-id`` when a regional NAT gateway logs no interface) is one
sensor -- the talk's "interface-id can become the SiLK sensor".  On
request a subnet, a VPC or an account is one sensor instead; the
interface id then lives only in the context map.

Names: AWS ids (``eni-0ffa7e54f1ae8fa1b``, ``vpc-...``, ``subnet-...``)
are valid SiLK sensor names as they are (letters, digits and ``-``,
first a letter, at most 64 characters).  Account ids start with a digit
and become ``acct-904652123456``; any other id is made valid by
replacing characters SiLK refuses (and ``@``, which silk.conf reads as a
group) with ``-``, prefixing a letter, and -- when that changed it --
appending 8 hex digits of its SHA-1 so two ids never share a name.

Ids are stable across runs because they live in silk.conf: a name
already there keeps its id; a new one is added through
:func:`pysilk_ext.silkfmt.siteconf.add_sensors` (atomic, locked, next id
after the highest) with a description carrying the AWS ids, e.g.
``AWS interface-id eni-0ffa... vpc-id vpc-0844... account-id 9046...``.
Without a silk.conf path new ids are allocated in memory (the command
reports them).

The cap: ephemeral interfaces (Lambda, Fargate, EKS pod ENIs) can create
thousands of sensors a day and exhaust SiLK's 65535 ids.  At most
``sensors.max-sensors`` sensors whose description starts ``AWS
interface-id`` (``subnet-id``, ``vpc-id``, ``account-id``,
``resource-id``) may exist in silk.conf; beyond it ``on-exhausted:
fallback`` puts the records on the ``fallback`` sensor (counted; the
interface id stays in the context map) and ``on-exhausted: error``
stops.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pysilk_ext.batch import StrColumn
from pysilk_ext.convert.config import SensorConfig, SensorPolicy
from pysilk_ext.errors import ConvertError
from pysilk_ext.silkfmt.siteconf import (
    MAX_SENSOR_ID,
    MAX_SENSOR_NAME,
    SiteConfig,
    add_sensors,
    sensor_name_problem,
)

__all__ = [
    "DESCRIPTION_PREFIX",
    "POLICY_FIELD",
    "SensorAssigner",
    "describe",
    "description_ids",
    "parse_description",
    "sensor_key",
    "sensor_name",
]

#: Description prefix of the sensors this converter creates for AWS ids
#: (counted against ``sensors.max-sensors``).
DESCRIPTION_PREFIX = "AWS "

#: The VPC field whose value names the sensor under each policy.
POLICY_FIELD: Mapping[SensorPolicy, str] = {
    SensorPolicy.INTERFACE: "interface-id",
    SensorPolicy.SUBNET: "subnet-id",
    SensorPolicy.VPC: "vpc-id",
    SensorPolicy.ACCOUNT: "account-id",
}

_SAFE = re.compile(r"[^A-Za-z0-9.\-]")
_DESCRIPTION = re.compile(
    r"^AWS (interface-id|resource-id|subnet-id|vpc-id|account-id) (\S+)"
)
_HELPER_DESCRIPTION = {
    "fallback": "rwvpc2silk: records beyond sensors.max-sensors",
    "unknown": "rwvpc2silk: records naming no AWS id",
}


def sensor_name(key: str, policy: SensorPolicy) -> str:
    """Return the SiLK sensor name for an AWS id (see module doc)."""
    if policy is SensorPolicy.ACCOUNT:
        key = f"acct-{key}"
    name = _SAFE.sub("-", key)
    changed = name != key
    if not name or not (name[0].isascii() and name[0].isalpha()):
        name = f"s-{name}"
        changed = True
    if changed or len(name) > MAX_SENSOR_NAME:
        digest = hashlib.sha1(key.encode(), usedforsecurity=False)
        name = f"{name[: MAX_SENSOR_NAME - 9]}-{digest.hexdigest()[:8]}"
    return name


def describe(fields: Mapping[str, str]) -> str:
    """Return a sensor description holding AWS ids (key field first)."""
    return DESCRIPTION_PREFIX + " ".join(
        f"{k} {v}" for k, v in fields.items() if v and " " not in v
    )


def parse_description(text: str | None) -> tuple[str, str] | None:
    """Return the (field, AWS id) a description names first, if any."""
    if not text:
        return None
    match = _DESCRIPTION.match(text)
    return (match.group(1), match.group(2)) if match else None


def description_ids(text: str | None) -> dict[str, str]:
    """Return every ``field id`` pair of a converter-made description."""
    if parse_description(text) is None:
        return {}
    words = (text or "")[len(DESCRIPTION_PREFIX) :].split()
    return dict(zip(words[::2], words[1::2], strict=False))


def sensor_key(site: SiteConfig, sensor_id: int) -> tuple[str, str] | None:
    """Return the (field, AWS id) a sensor of ``site`` stands for.

    The description says it when this converter created the sensor;
    otherwise a name that is itself an AWS id (``eni-...``) answers.
    """
    info = site.sensors.get(sensor_id)
    if info is None:
        return None
    parsed = parse_description(info.description)
    if parsed is not None:
        return parsed
    for prefix, field_name in (
        ("eni-", "interface-id"),
        ("subnet-", "subnet-id"),
        ("vpc-", "vpc-id"),
    ):
        if info.name.startswith(prefix):
            return field_name, info.name
    return None


@dataclass(slots=True)
class SensorAssigner:
    """Maps AWS ids to sensor ids, adding sensors to silk.conf as needed.

    ``site`` is the silk.conf as loaded; ``site_path``, when given, is
    where new sensors are written (through ``add_sensors``, all the new
    sensors of a batch in one update).
    """

    config: SensorConfig = field(default_factory=SensorConfig)
    site: SiteConfig | None = None
    site_path: Path | None = None
    ids: dict[str, int] = field(default_factory=dict)
    created: list[tuple[int, str, str]] = field(default_factory=list)
    fallback_records: int = 0
    _ours: int = 0
    _next_id: int = 0

    def __post_init__(self) -> None:
        if self.site is not None:
            for info in self.site.sensors.values():
                self.ids[info.name] = info.id
                if parse_description(info.description) is not None:
                    self._ours += 1
        self._next_id = max(self.ids.values(), default=-1) + 1

    def assign(
        self,
        keys: StrColumn,
        describe_with: Mapping[str, StrColumn] | None = None,
    ) -> npt.NDArray[np.uint16]:
        """Return the sensor id of every row, keyed by its AWS id.

        ``keys`` holds the policy's AWS id per row (code 0: unknown, which
        goes to the ``unknown`` sensor).  ``describe_with`` supplies other
        AWS ids (e.g. ``vpc-id``) for the description of new sensors.

        Raises:
            ConvertError: the cap is reached and ``on-exhausted`` is
                ``error``, or silk.conf has no id left.
        """
        policy = self.config.policy
        used = np.zeros(len(keys.values), dtype=bool)
        used[np.unique(keys.codes)] = True
        by_code = np.zeros(len(keys.values), dtype=np.uint16)
        fallback_codes: list[int] = []
        new: list[tuple[int, str, str]] = []  # created in one update
        for code in np.flatnonzero(used).tolist():
            if code == 0:
                by_code[0] = self._ensure(self.config.unknown, "unknown")
                continue
            key = keys.values[code]
            name = sensor_name(key, policy)
            sid = self.ids.get(name)
            if sid is None:
                if self._ours >= self.config.max_sensors:
                    if self.config.on_exhausted == "error":
                        raise ConvertError(
                            f"Cannot add sensor '{name}': the limit of "
                            f"{self.config.max_sensors} converter sensors "
                            f"is reached (sensors.max-sensors)",
                            key="sensors.max-sensors",
                        )
                    by_code[code] = self._ensure(
                        self.config.fallback, "fallback"
                    )
                    fallback_codes.append(code)
                    continue
                extra = self._extra_ids(code, keys, describe_with)
                fields = {POLICY_FIELD[policy]: key, **extra}
                new.append((code, name, describe(fields)))
                self._ours += 1
                continue
            by_code[code] = sid
        if new:
            sids = self._create_many([(name, text) for _, name, text in new])
            for (code, _, _), sid in zip(new, sids, strict=True):
                by_code[code] = sid
        if fallback_codes:
            self.fallback_records += int(
                np.isin(keys.codes, fallback_codes).sum()
            )
        return by_code[keys.codes]

    def _extra_ids(
        self,
        code: int,
        keys: StrColumn,
        describe_with: Mapping[str, StrColumn] | None,
    ) -> dict[str, str]:
        """Return other AWS ids of the first row with ``code``."""
        if not describe_with:
            return {}
        row = int(np.argmax(keys.codes == code))
        out: dict[str, str] = {}
        for name, col in describe_with.items():
            value_code = int(col.codes[row])
            if value_code:
                out[name] = col.values[value_code]
        return out

    def _ensure(self, name: str, role: str) -> int:
        """Return the id of a helper sensor, creating it if needed."""
        sid = self.ids.get(name)
        if sid is None:
            sid = self._create(name, _HELPER_DESCRIPTION[role])
        return sid

    def _create(self, name: str, description: str) -> int:
        return self._create_many([(name, description)])[0]

    def _create_many(self, sensors: list[tuple[str, str]]) -> list[int]:
        """Create sensors, in silk.conf with one update (add_sensors)."""
        for name, _ in sensors:
            problem = sensor_name_problem(name)
            if problem is not None:  # sensor_name() never returns such
                raise ConvertError(f"Invalid sensor name '{name}': {problem}")
        if self.site_path is not None:
            sids = add_sensors(
                os.fspath(self.site_path),
                [(name, text) for name, text in sensors],
                classes=self.config.classes,
            )
        else:
            sids = []
            fresh: dict[str, int] = {}
            for name, _ in sensors:
                sid = self.ids.get(name, fresh.get(name))
                if sid is None:
                    sid = self._next_id + len(fresh)
                    if sid > MAX_SENSOR_ID:
                        raise ConvertError(
                            f"Cannot add sensor '{name}': no sensor id left"
                        )
                    fresh[name] = sid
                sids.append(sid)
        for (name, text), sid in zip(sensors, sids, strict=True):
            if name not in self.ids:
                self.ids[name] = sid
                self.created.append((sid, name, text))
            self._next_id = max(self._next_id, sid + 1)
        return sids
