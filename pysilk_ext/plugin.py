# SPDX-License-Identifier: MIT
"""The awsvpc PySiLK plug-in: cloud context on every flow, at its own time.

SiLK loads ``silkplugin/awsvpc.py`` with ``--python-file``; that shim
calls :func:`register_silk`, and everything else happens here, where it
is testable without SiLK: :func:`register` takes the ``register_*``
callables as arguments (tests pass fakes that collect registrations) and
an address back-end (:mod:`pysilk_ext.plugin_backend`).

What is registered, by tool (see awsvpc(3) for the user's view):

* every tool: ``--awsvpc-map=PATH`` and ``--awsvpc-scope=[SENSOR:]VPC,...``;
* rwfilter: for each field F of :data:`FIELDS`, ``--F``, ``--src-F`` and
  ``--dst-F`` taking a comma list of values (``-`` = no value); the first
  use of a switch registers a filter for it (so a run that uses none
  pays nothing), and several switches must all pass;
* rwcut, rwsort, rwuniq, rwstats, rwgroup: the fields ``F``, ``src-F``,
  ``dst-F``.

The map is chosen and opened once, by the first filter's or field's
``initialize`` (after all switches are parsed): ``--awsvpc-map``, else
``AWSVPC_MAP``, else ``PYSILK_EXT_MAP``, else ``awsvpc.vpcmap`` in the
SiLK data root directory.  Errors are ``ValueError`` with SiLK's
phrasing; PySiLK prints them as ``rwfilter: PySiLK plugin: ValueError:
...`` and exits.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysilk_ext.errors import ContextMapError
from pysilk_ext.plugin_backend import AddressBackend
from pysilk_ext.plugin_map import (
    NO_VALUE,
    VALUE_AMBIGUOUS,
    FilterTables,
    PluginMap,
)

__all__ = [
    "AWS_SERVICES",
    "DEFAULT_MAP_NAME",
    "FIELDS",
    "FIELD_TOOLS",
    "MAP_ENV_VARS",
    "AwsvpcPlugin",
    "PluginField",
    "choose_map",
    "either_value",
    "field_names",
    "parse_scopes",
    "parse_values",
    "register",
    "register_silk",
    "switch_names",
]

#: Environment variables naming the map, in order of precedence.
MAP_ENV_VARS = ("AWSVPC_MAP", "PYSILK_EXT_MAP")
#: File name of the default map in the SiLK data root directory.
DEFAULT_MAP_NAME = "awsvpc.vpcmap"
#: Tools that get the fields (rwfilter gets the filter switches).
FIELD_TOOLS = frozenset({"rwcut", "rwsort", "rwuniq", "rwstats", "rwgroup"})

#: Service names AWS documents for pkt-*-aws-service and ip-ranges.json
#: (spec aws-vpc-flowlogs.md); accepted even when the map has none.
AWS_SERVICES = frozenset(
    {
        "AMAZON",
        "AMAZON_APPFLOW",
        "AMAZON_CONNECT",
        "API_GATEWAY",
        "AURORA_DSQL",
        "CHIME_MEETINGS",
        "CHIME_VOICECONNECTOR",
        "CLOUD9",
        "CLOUDFRONT",
        "CLOUDFRONT_ORIGIN_FACING",
        "CODEBUILD",
        "DYNAMODB",
        "EBS",
        "EC2",
        "EC2_INSTANCE_CONNECT",
        "EFS",
        "GLOBALACCELERATOR",
        "IOT_CORE",
        "IVS_LOW_LATENCY",
        "IVS_REALTIME",
        "KINESIS_VIDEO_STREAMS",
        "MEDIA_PACKAGE_V2",
        "ROUTE53",
        "ROUTE53_HEALTHCHECKS",
        "ROUTE53_HEALTHCHECKS_PUBLISHING",
        "ROUTE53_RESOLVER",
        "S3",
        "WORKSPACES_GATEWAYS",
    }
)


@dataclass(frozen=True, slots=True)
class PluginField:
    """One context field as the plug-in offers it.

    ``width`` is the printed column width: the longest value AWS
    produces for the field (and at least the 11 of ``(ambiguous)``),
    fixed so that output does not depend on how the map was chosen.
    """

    name: str
    width: int
    pattern: re.Pattern[str]
    expect: str  # completes "Expected ..."
    upper: bool  # canonical case: upper (services) or lower (ids)
    what: str  # for help text


def _field(
    name: str, width: int, pattern: str, expect: str, what: str, *,
    upper: bool = False,
) -> PluginField:  # fmt: skip
    return PluginField(name, width, re.compile(pattern), expect, upper, what)


_HEX = "[0-9a-f]{8,17}"
FIELDS: tuple[PluginField, ...] = (
    _field("vpc-id", 21, f"vpc-{_HEX}", "vpc-<hex digits>", "VPC"),
    _field(
        "subnet-id", 24, f"subnet-{_HEX}", "subnet-<hex digits>", "subnet"
    ),
    _field("instance-id", 19, f"i-{_HEX}", "i-<hex digits>", "instance"),
    _field(
        "interface-id", 21, f"eni-{_HEX}", "eni-<hex digits>",
        "network interface",
    ),
    _field(
        "account-id", 12, r"[0-9]{12}|unknown",
        "a 12-digit account number or 'unknown'", "AWS account",
    ),
    _field(
        "region", 14, r"[a-z]{2}(?:-[a-z]+)+-[0-9]+|GLOBAL",
        "a region name such as us-east-1", "AWS region",
    ),
    _field(
        "az-id", 17, r"[a-z]{2,6}[0-9]+(?:-[a-z0-9]+)+",
        "an availability-zone id such as use1-az2", "availability-zone id",
    ),
    _field(
        "aws-service", 31, r"[A-Z][A-Z0-9_]*",
        "an AWS service name such as S3", "AWS service", upper=True,
    ),
)  # fmt: skip
_BY_NAME = {f.name: f for f in FIELDS}

# Endpoint selectors of a switch or field.
SRC, DST, EITHER = 0, 1, 2
_PREFIXES = (("", EITHER), ("src-", SRC), ("dst-", DST))
_U32 = struct.Struct(">I")


def switch_names() -> list[str]:
    """Every rwfilter switch the plug-in adds (without ``--``)."""
    return [p + f.name for f in FIELDS for p, _ in _PREFIXES]


def field_names() -> list[str]:
    """Every field the plug-in adds to rwcut and the other tools."""
    return switch_names()


# -- values ------------------------------------------------------------------


def parse_values(field_name: str, text: str, switch: str) -> list[str]:
    """Canonical values of a comma list given to ``--switch``.

    Case is folded to the field's canonical case (AWS ids are lower
    case, service names upper case; ``GLOBAL`` is ip-ranges' region of
    global services).  ``-`` means "no value".

    Raises:
        ValueError: empty list or element, or a malformed value.
    """
    spec = _BY_NAME[field_name]
    if not text.strip():
        raise ValueError(f"Invalid {switch}: Missing value")
    out: list[str] = []
    for raw in text.split(","):
        value = raw.strip()
        if not value:
            raise ValueError(f"Invalid {switch} '{text}': Empty list element")
        if value == NO_VALUE:
            out.append(value)
            continue
        canon = value.upper() if spec.upper else value.lower()
        if field_name == "region" and canon == "global":
            canon = "GLOBAL"
        if not spec.pattern.fullmatch(canon):
            raise ValueError(
                f"Invalid {switch} '{value}': Expected {spec.expect}"
            )
        if canon not in out:
            out.append(canon)
    return out


def parse_scopes(text: str) -> dict[str, str]:
    """``--awsvpc-scope`` entries: ``SENSOR:VPC`` or a lone ``VPC``
    (key ``""``: sensors no other rule places).

    Raises:
        ValueError: a malformed entry or VPC id.
    """
    out: dict[str, str] = {}
    spec = _BY_NAME["vpc-id"]
    for raw in text.split(","):
        entry = raw.strip()
        sensor, _, vpc = entry.rpartition(":")
        vpc = vpc.strip().lower()
        if not entry or not spec.pattern.fullmatch(vpc):
            raise ValueError(
                f"Invalid awsvpc-scope '{text}': Expected "
                "[SENSOR:]vpc-<hex digits>[,...]"
            )
        out[sensor.strip()] = vpc
    return out


def choose_map(
    switch_value: str | None,
    environ: Mapping[str, str],
    data_rootdir: Callable[[], str],
) -> tuple[str, str]:
    """The map to open and where its name came from.

    Precedence: ``--awsvpc-map``, ``AWSVPC_MAP``, ``PYSILK_EXT_MAP``,
    ``<SiLK data root>/awsvpc.vpcmap``.  Empty variables are ignored.

    Returns:
        ``(path, source)``; source is ``--awsvpc-map``, a variable name
        or ``default``.
    """
    if switch_value:
        return switch_value, "--awsvpc-map"
    for var in MAP_ENV_VARS:
        value = environ.get(var, "")
        if value:
            return value, var
    return str(Path(data_rootdir()) / DEFAULT_MAP_NAME), "default"


# -- the plug-in ------------------------------------------------------------


class AwsvpcPlugin:
    """State of one loaded plug-in: switches seen, the opened map.

    Built by :func:`register`; the tool drives it through the callbacks
    registered there.
    """

    def __init__(
        self,
        backend: AddressBackend,
        register_filter: Callable[..., Any],
        environ: Mapping[str, str],
    ) -> None:
        self.backend = backend
        self._register_filter = register_filter
        self.environ = environ
        self.map_switch: str | None = None
        self.scopes: dict[str, str] = {}
        self.filters: list[tuple[str, str, int, list[str]]] = []
        self._seen: set[str] = set()
        self._map: PluginMap | None = None

    # -- switches -------------------------------------------------------------

    def _once(self, switch: str) -> None:
        if switch in self._seen:
            raise ValueError(f"Invalid {switch}: Switch used multiple times")
        self._seen.add(switch)

    def on_map(self, text: str) -> None:
        """``--awsvpc-map=PATH``."""
        self._once("awsvpc-map")
        if not text:
            raise ValueError("Invalid awsvpc-map: Missing value")
        self.map_switch = text

    def on_scope(self, text: str) -> None:
        """``--awsvpc-scope=[SENSOR:]VPC,...``."""
        self._once("awsvpc-scope")
        self.scopes = parse_scopes(text)

    def on_filter(self, switch: str, field_name: str, which: int) -> Any:
        """Handler of a filter switch: validates, registers a filter."""

        def handler(text: str) -> None:
            self._once(switch)
            values = parse_values(field_name, text, switch)
            run, initialize = self._make_filter(
                switch, field_name, which, values
            )
            self.filters.append((switch, field_name, which, values))
            self._register_filter(run, initialize=initialize)

        return handler

    # -- the map --------------------------------------------------------------

    def open_map(self) -> PluginMap:
        """The map, opened on first use (then kept).

        Raises:
            ValueError: none found, unreadable or not a map.
        """
        if self._map is not None:
            return self._map
        path, source = choose_map(
            self.map_switch, self.environ, self.backend.data_rootdir
        )
        if source == "default" and not os.path.exists(path):
            raise ValueError(
                f"No context map: '{path}' does not exist; name one with "
                f"--awsvpc-map=PATH or the {MAP_ENV_VARS[0]} variable"
            )
        try:
            self._map = PluginMap(path, self.backend, self.scopes)
        except ContextMapError as exc:
            raise ValueError(str(exc)) from None
        return self._map

    def check_values(
        self, pmap: PluginMap, switch: str, field_name: str, values: list[str]
    ) -> None:
        """Each value must occur in the map (documented AWS service names
        excepted): a value it lacks is a typo or the wrong map.

        Raises:
            ValueError: naming the first such value.
        """
        for value in values:
            if value == NO_VALUE or pmap.has_value(field_name, value):
                continue
            if field_name == "aws-service" and value in AWS_SERVICES:
                continue
            raise ValueError(
                f"Invalid {switch} '{value}': Not in context map '{pmap.path}'"
            )

    # -- filters --------------------------------------------------------------

    def _make_filter(
        self, switch: str, field_name: str, which: int, values: list[str]
    ) -> tuple[Callable[[Any], bool], Callable[[], None]]:
        """The record test of one switch and its ``initialize``.

        The tables are closure cells that ``initialize`` fills, so the
        record path is one Python call that reads no attribute of
        ``self``.  Almost every record fails ``x in maybe`` (C) for both
        addresses; a hit looks its verdict-over-time up (dict, bisect)
        and only addresses of reused private space reach the C lookup.
        See :mod:`pysilk_ext.plugin_map`.
        """
        maybe: Any = None
        steps_get: Callable[[Any], _Steps | None] = _not_initialized
        other: Callable[[Any, Any, int], bool] = _not_initialized
        bisect_right = bisect.bisect_right

        def initialize() -> None:
            nonlocal maybe, steps_get, other
            pmap = self.open_map()
            self.check_values(pmap, switch, field_name, values)
            tables = pmap.filter_tables(field_name, values)
            maybe = _Everything() if tables.dash else tables.maybe
            steps_get = tables.steps.get
            other = _unstepped_test(pmap, tables)

        def run_any(rec: Any) -> bool:
            s = rec.sip
            if s in maybe:
                entry = steps_get(s)
                if entry is None:
                    if other(s, rec, SRC):
                        return True
                elif entry[1][bisect_right(entry[0], rec.stime_epoch_secs)]:
                    return True
            d = rec.dip
            if d in maybe:
                entry = steps_get(d)
                if entry is None:
                    return other(d, rec, DST)
                return entry[1][bisect_right(entry[0], rec.stime_epoch_secs)]
            return False

        def run_src(rec: Any) -> bool:
            s = rec.sip
            if s in maybe:
                entry = steps_get(s)
                if entry is None:
                    return other(s, rec, SRC)
                return entry[1][bisect_right(entry[0], rec.stime_epoch_secs)]
            return False

        def run_dst(rec: Any) -> bool:
            d = rec.dip
            if d in maybe:
                entry = steps_get(d)
                if entry is None:
                    return other(d, rec, DST)
                return entry[1][bisect_right(entry[0], rec.stime_epoch_secs)]
            return False

        run = {EITHER: run_any, SRC: run_src, DST: run_dst}[which]
        return run, initialize

    # -- fields ---------------------------------------------------------

    def field_lookup(
        self, field_index: int, which: int
    ) -> Callable[[Any], int]:
        """A function: record -> value id of the field for one endpoint
        (or "the endpoint that has one", see :func:`either_value`)."""
        pair = self.open_map().pair_lookup(field_index)
        if which == EITHER:
            return lambda rec: either_value(*pair(rec))
        return lambda rec: pair(rec)[which]

    def text(self, sid: int) -> str:
        """Printed text of a value id."""
        return self.open_map().text(sid)


_Steps = tuple[tuple[int, ...], tuple[bool, ...]]


def _not_initialized(*args: Any) -> Any:
    """Stand-in for the tables until ``initialize`` ran."""
    raise RuntimeError("awsvpc: a filter ran before its initialize")


class _Everything:
    """``maybe`` when ``-`` is accepted: no address can be excluded."""

    def __contains__(self, addr: object) -> bool:
        return True


def either_value(src: int, dst: int) -> int:
    """The unprefixed field: "the endpoint that has one".

    A definite value wins over none and over ``(ambiguous)``; when both
    endpoints have one, the source's.  ``(ambiguous)`` if an endpoint is
    ambiguous and neither has a definite value; else none (0).
    """
    if src and src != VALUE_AMBIGUOUS:
        return src
    if dst and dst != VALUE_AMBIGUOUS:
        return dst
    if VALUE_AMBIGUOUS in (src, dst):
        return VALUE_AMBIGUOUS
    return 0


def _unstepped_test(
    pmap: PluginMap, tables: FilterTables
) -> Callable[[Any, Any, int], bool]:
    """Verdict for an address in ``maybe`` without a ``steps`` entry:
    reused private space (C lookup in the record's scope), else the
    ip-ranges layer (or "no value" when ``-`` was asked)."""
    scoped = tables.scoped
    range_accept = tables.range_accept
    ranged = tables.ranged
    sids = tables.sids
    dash = tables.dash
    pair = pmap.pair_lookup(tables.field_index)

    def other(addr: Any, rec: Any, which: int) -> bool:
        if addr in scoped:
            return pair(rec)[which] in sids
        if addr in range_accept:
            return True
        return dash and addr not in ranged

    return other


# -- registration ------------------------------------------------------------

_FIELD_HELP = {
    EITHER: "{what} of the endpoint that has one (source first)",
    SRC: "{what} of the source address",
    DST: "{what} of the destination address",
}
_SWITCH_HELP = {
    EITHER: "Pass the flow when the {what} of either address is",
    SRC: "Pass the flow when the {what} of the source address is",
    DST: "Pass the flow when the {what} of the destination address is",
}


def register(
    register_switch: Callable[..., Any],
    register_filter: Callable[..., Any],
    register_field: Callable[..., Any],
    *,
    backend: AddressBackend,
    app: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AwsvpcPlugin:
    """Register the plug-in's switches, filters and fields.

    Args:
        register_switch, register_filter, register_field: PySiLK's
            ``silk.plugin`` functions (or test fakes with their
            signatures).
        backend: address back-end (:class:`~pysilk_ext.plugin_backend.
            SilkBackend` inside SiLK).
        app: the tool's name; rwfilter gets the filter switches, the
            field tools the fields, an unknown name both.
        environ: environment (default ``os.environ``).

    Returns:
        The plug-in state (for tests).
    """
    plugin = AwsvpcPlugin(
        backend, register_filter, os.environ if environ is None else environ
    )
    register_switch(
        "awsvpc-map",
        handler=plugin.on_map,
        help=(
            "Read cloud context from this context map (.vpcmap). Def. "
            "$AWSVPC_MAP, $PYSILK_EXT_MAP, then awsvpc.vpcmap in the "
            "SiLK data root directory"
        ),
    )
    register_switch(
        "awsvpc-scope",
        handler=plugin.on_scope,
        help=(
            "Look private addresses of records of SENSOR up in this VPC: "
            "[SENSOR:]VPC-ID,... (no SENSOR: any other sensor). Def. "
            "from the sensor name (vpc-, eni-, subnet-) or description"
        ),
    )
    filters = app is None or app == "rwfilter"
    fields = app is None or app in FIELD_TOOLS
    for spec in FIELDS:
        for prefix, which in _PREFIXES:
            name = prefix + spec.name
            if filters:
                register_switch(
                    name,
                    handler=plugin.on_filter(name, spec.name, which),
                    help=(
                        _SWITCH_HELP[which].format(what=spec.what)
                        + f" in this comma-separated list of {spec.name}"
                        " values; '-' matches no value"
                    ),
                )
            if fields:
                _register_field(register_field, plugin, spec, name, which)
    return plugin


def _register_field(
    register_field: Callable[..., Any],
    plugin: AwsvpcPlugin,
    spec: PluginField,
    name: str,
    which: int,
) -> None:
    """One key field: text, 4-byte binary value, their inverse.

    The binary value is the value's id in the map's string dictionary,
    big-endian.  The dictionary is sorted, so sorting the bytes sorts
    by text (no value first, ``(ambiguous)`` last) and rwsort, rwuniq,
    rwstats and rwgroup group and order exactly as by text.
    """
    from pysilk_ext.ctxmap.model import field_ref  # noqa: PLC0415

    index = field_ref(spec.name).index
    pack = _U32.pack
    unpack = _U32.unpack
    texts: dict[int, str] = {}
    lookup: Callable[[Any], int]

    def initialize() -> None:
        nonlocal lookup
        lookup = plugin.field_lookup(index, which)

    def first_lookup(rec: Any) -> int:
        initialize()  # a tool that skipped initialize
        return lookup(rec)

    lookup = first_lookup

    def text(sid: int) -> str:
        found = texts.get(sid)
        if found is None:
            found = texts[sid] = plugin.text(sid)
        return found

    def rec_to_text(rec: Any) -> str:
        return text(lookup(rec))

    def rec_to_bin(rec: Any) -> bytes:
        return pack(lookup(rec))

    def bin_to_text(data: bytes) -> str:
        return text(unpack(data)[0])

    register_field(
        name,
        column_width=max(spec.width, len(name)),
        description=_FIELD_HELP[which].format(what=spec.what)
        + " at the flow's start time (context map)",
        initialize=initialize,
        rec_to_text=rec_to_text,
        rec_to_bin=rec_to_bin,
        bin_to_text=bin_to_text,
        bin_bytes=_U32.size,
    )


def register_silk(silk_plugin: Any) -> AwsvpcPlugin:
    """Register with PySiLK: ``silk_plugin`` is the ``silk.plugin``
    module (the shim passes it; it knows the tool's name)."""
    from pysilk_ext.plugin_backend import SilkBackend  # noqa: PLC0415

    return register(
        silk_plugin.register_switch,
        silk_plugin.register_filter,
        silk_plugin.register_field,
        backend=SilkBackend(),
        app=getattr(silk_plugin, "_programname", None),
    )
