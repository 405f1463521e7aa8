# SPDX-License-Identifier: MIT
"""The converter's YAML configuration (``share/rwvpc2silk.yaml``).

Everything a site decides about conversion, in one file: which actions
become flows, which networks are internal, where AWS-service addresses
come from, how interfaces become SiLK sensors, class/type rule
overrides, de-duplication and the policy for counts SiLK cannot hold.
Every key has a default, so an empty file (or none) is valid.

Validation is strict: an unknown key, a wrong type or a bad value raises
:class:`~pysilk_ext.errors.ConvertError` naming the file and the dotted
key (``Invalid configuration 'site.yaml': sensors.policy: ...``), so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from pysilk_ext.errors import ConvertError
from pysilk_ext.silkfmt.siteconf import sensor_name_problem

__all__ = [
    "PRIVATE_NETWORKS",
    "ActionSelection",
    "ClassifyConfig",
    "ConvertConfig",
    "DedupConfig",
    "Direction",
    "OverflowPolicy",
    "SensorConfig",
    "SensorPolicy",
    "config_from_mapping",
    "load_config",
    "parse_config",
]

#: What ``private`` in ``internal-networks`` stands for.
PRIVATE_NETWORKS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
)

#: ip-ranges services that are not counted as "AWS service" by default:
#: AMAZON and EC2 also cover every customer's public instance addresses.
_E = TypeVar("_E", bound=Enum)

DEFAULT_EXCLUDED_SERVICES: tuple[str, ...] = ("AMAZON", "EC2")


class ActionSelection(Enum):
    """Which ``action`` values become flow records."""

    REJECT = "reject"
    ACCEPT = "accept"
    ALL = "all"


class SensorPolicy(Enum):
    """Which AWS id becomes the SiLK sensor of a record."""

    INTERFACE = "interface"
    SUBNET = "subnet"
    VPC = "vpc"
    ACCOUNT = "account"


class Direction(Enum):
    """Flow direction relative to the interface."""

    INGRESS = "ingress"
    EGRESS = "egress"


class OverflowPolicy(Enum):
    """What to do with packets/bytes above 2^32-1 (see :mod:`.records`)."""

    SPLIT = "split"
    CLAMP = "clamp"


@dataclass(frozen=True, slots=True)
class SensorConfig:
    """How records are assigned to SiLK sensors (see :mod:`.sensors`).

    ``max_sensors`` caps how many sensors the converter may create in
    silk.conf: ephemeral interfaces (Lambda, Fargate, EKS pods with their
    own ENIs) would otherwise exhaust SiLK's 65535 sensor ids.  Beyond
    the cap, ``on_exhausted`` decides: ``fallback`` puts the records on
    the ``fallback`` sensor (the interface id stays in the context map;
    counted and warned), ``error`` stops the conversion.
    """

    policy: SensorPolicy = SensorPolicy.INTERFACE
    max_sensors: int = 10_000
    on_exhausted: str = "fallback"
    fallback: str = "vpc-other"
    unknown: str = "vpc-unknown"
    classes: tuple[str, ...] = ("all",)


@dataclass(frozen=True, slots=True)
class ClassifyConfig:
    """Overrides of the class/type rules (see :mod:`.classify`)."""

    class_name: str = "all"
    web_ports: frozenset[int] = frozenset({80, 443, 8080})
    icmp_types: bool = True
    aws_types: bool = True
    default_direction: Direction = Direction.INGRESS
    type_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """De-duplication of flows logged on two monitored interfaces."""

    enabled: bool = False
    slack: int = 60
    horizon: int = 900
    max_entries: int = 2_000_000


@dataclass(frozen=True, slots=True)
class ConvertConfig:
    """The whole converter configuration."""

    action: ActionSelection = ActionSelection.REJECT
    internal_networks: tuple[str, ...] = ()
    aws_ip_ranges: Path | None = None
    aws_services: tuple[str, ...] | None = None
    overflow: OverflowPolicy = OverflowPolicy.SPLIT
    sensors: SensorConfig = field(default_factory=SensorConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    source: str | None = None


# --------------------------------------------------------------------------
# Loading


def load_config(path: str | os.PathLike[str]) -> ConvertConfig:
    """Read and validate the YAML configuration at ``path``.

    Raises:
        ConvertError: the file cannot be read, is not YAML, or holds an
            invalid setting.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConvertError(
            f"Cannot open '{p}': No such file or directory", path=str(p)
        ) from None
    except OSError as exc:
        raise ConvertError(
            f"Cannot open '{p}': {exc.strerror}", path=str(p)
        ) from None
    except UnicodeDecodeError as exc:  # a binary file given by mistake
        raise ConvertError(
            f"Invalid configuration '{p}': Not UTF-8 text (byte {exc.start})",
            path=str(p),
        ) from None
    return parse_config(text, p)


def parse_config(
    text: str, path: str | os.PathLike[str] | None = None
) -> ConvertConfig:
    """Parse configuration text; ``path`` names it in messages.

    Raises:
        ConvertError: not YAML, or an invalid setting.
    """
    # imported here: most runs have no configuration file, and importing
    # PyYAML costs about 8 ms of every start-up
    import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - no stubs

    name = str(path) if path is not None else "<string>"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConvertError(
            f"Invalid configuration '{name}'{where}: {problem}", path=name
        ) from None
    if data is None:
        data = {}
    base = Path(path).parent if path is not None else None
    return config_from_mapping(data, name, base)


def config_from_mapping(
    data: Any, source: str = "<string>", base: Path | None = None
) -> ConvertConfig:
    """Validate an already-loaded mapping (see :func:`parse_config`)."""
    v = _Validator(source)
    top = v.mapping(data, "")
    v.known(
        top,
        "",
        {
            "action",
            "internal-networks",
            "aws-ip-ranges",
            "aws-services",
            "overflow",
            "sensors",
            "classify",
            "dedup",
        },
    )
    ranges = top.get("aws-ip-ranges")
    ranges_path: Path | None = None
    if ranges is not None:
        text = v.string(ranges, "aws-ip-ranges")
        ranges_path = Path(text)
        if base is not None and not ranges_path.is_absolute():
            ranges_path = base / ranges_path
    services = top.get("aws-services")
    return ConvertConfig(
        action=v.choice(
            top.get("action", "reject"), "action", ActionSelection
        ),
        internal_networks=v.networks(
            top.get("internal-networks", []), "internal-networks"
        ),
        aws_ip_ranges=ranges_path,
        aws_services=(
            None
            if services is None
            else tuple(v.string_list(services, "aws-services"))
        ),
        overflow=v.choice(
            top.get("overflow", "split"), "overflow", OverflowPolicy
        ),
        sensors=_sensors(v, top.get("sensors", {})),
        classify=_classify(v, top.get("classify", {})),
        dedup=_dedup(v, top.get("dedup", {})),
        source=source,
    )


def _sensors(v: _Validator, data: Any) -> SensorConfig:
    m = v.mapping(data, "sensors")
    v.known(
        m,
        "sensors",
        {
            "policy",
            "max-sensors",
            "on-exhausted",
            "fallback",
            "unknown",
            "classes",
        },
    )
    default = SensorConfig()
    on_exhausted = v.string(
        m.get("on-exhausted", default.on_exhausted), "sensors.on-exhausted"
    )
    if on_exhausted not in ("fallback", "error"):
        v.fail(
            "sensors.on-exhausted",
            f"'{on_exhausted}' is not one of fallback, error",
        )
    fallback = v.sensor_name(
        m.get("fallback", default.fallback), "sensors.fallback"
    )
    unknown = v.sensor_name(
        m.get("unknown", default.unknown), "sensors.unknown"
    )
    classes = tuple(
        v.string_list(
            m.get("classes", list(default.classes)), "sensors.classes"
        )
    )
    if not classes:
        v.fail("sensors.classes", "At least one class is required")
    return SensorConfig(
        policy=v.choice(
            m.get("policy", "interface"), "sensors.policy", SensorPolicy
        ),
        max_sensors=v.integer(
            m.get("max-sensors", default.max_sensors),
            "sensors.max-sensors",
            1,
            65534,
        ),
        on_exhausted=on_exhausted,
        fallback=fallback,
        unknown=unknown,
        classes=classes,
    )


_TYPE_KEYS = frozenset(
    {
        "in",
        "out",
        "inweb",
        "outweb",
        "innull",
        "outnull",
        "int2int",
        "ext2ext",
        "inicmp",
        "outicmp",
        "other",
        "int2aws",
        "aws2int",
    }
)


def _classify(v: _Validator, data: Any) -> ClassifyConfig:
    m = v.mapping(data, "classify")
    v.known(
        m,
        "classify",
        {
            "class",
            "web-ports",
            "icmp-types",
            "aws-types",
            "default-direction",
            "type-names",
        },
    )
    default = ClassifyConfig()
    ports = m.get("web-ports")
    web_ports = default.web_ports
    if ports is not None:
        if not isinstance(ports, list):
            v.fail("classify.web-ports", "Expected a list of ports")
        web_ports = frozenset(
            v.integer(p, "classify.web-ports", 0, 65535) for p in ports
        )
    names_raw = v.mapping(m.get("type-names", {}), "classify.type-names")
    type_names: dict[str, str] = {}
    for key, value in names_raw.items():
        if key not in _TYPE_KEYS:
            v.fail(f"classify.type-names.{key}", f"Unknown type '{key}'")
        type_names[key] = v.string(value, f"classify.type-names.{key}")
    return ClassifyConfig(
        class_name=v.string(m.get("class", "all"), "classify.class"),
        web_ports=web_ports,
        icmp_types=v.boolean(m.get("icmp-types", True), "classify.icmp-types"),
        aws_types=v.boolean(m.get("aws-types", True), "classify.aws-types"),
        default_direction=v.choice(
            m.get("default-direction", "ingress"),
            "classify.default-direction",
            Direction,
        ),
        type_names=type_names,
    )


def _dedup(v: _Validator, data: Any) -> DedupConfig:
    m = v.mapping(data, "dedup")
    v.known(m, "dedup", {"enabled", "slack", "horizon", "max-entries"})
    default = DedupConfig()
    return DedupConfig(
        enabled=v.boolean(m.get("enabled", False), "dedup.enabled"),
        slack=v.integer(m.get("slack", default.slack), "dedup.slack", 0, 3600),
        horizon=v.integer(
            m.get("horizon", default.horizon), "dedup.horizon", 0, 86400
        ),
        max_entries=v.integer(
            m.get("max-entries", default.max_entries),
            "dedup.max-entries",
            1,
            2**31,
        ),
    )


class _Validator:
    """Type checks that raise ConvertError naming the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> None:
        where = f"{key}: " if key else ""
        raise ConvertError(
            f"Invalid configuration '{self.source}': {where}{message}",
            path=self.source,
            key=key or None,
        )

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, "Expected a mapping of settings")
        for k in value:
            if not isinstance(k, str):
                self.fail(key, f"Setting name {k!r} is not a string")
        return dict(value)

    def known(self, m: Mapping[str, Any], key: str, names: set[str]) -> None:
        for k in m:
            if k not in names:
                dotted = f"{key}.{k}" if key else k
                allowed = ", ".join(sorted(names))
                self.fail(dotted, f"Unknown setting (known: {allowed})")

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, f"Expected a non-empty string, got {value!r}")
        return str(value)

    def string_list(self, value: Any, key: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(key, "Expected a list of strings")
        return [self.string(item, key) for item in value]

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"Expected true or false, got {value!r}")
        return bool(value)

    def integer(self, value: Any, key: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"Expected an integer, got {value!r}")
        if not lo <= value <= hi:
            self.fail(key, f"Value {value} is not in {lo}-{hi}")
        return int(value)

    def choice(self, value: Any, key: str, enum: type[_E]) -> _E:
        for member in enum:
            if member.value == value:
                return member
        allowed = ", ".join(str(m.value) for m in enum)
        self.fail(key, f"'{value}' is not one of {allowed}")
        raise AssertionError  # pragma: no cover - fail() raised

    def sensor_name(self, value: Any, key: str) -> str:
        name = self.string(value, key)
        problem = sensor_name_problem(name)
        if problem is not None:
            self.fail(key, problem)
        return name

    def networks(self, value: Any, key: str) -> tuple[str, ...]:
        out: list[str] = []
        for item in self.string_list(value, key):
            if item == "private":
                out.extend(PRIVATE_NETWORKS)
                continue
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError as exc:
                self.fail(key, f"Invalid network '{item}': {exc}")
        return tuple(out)
