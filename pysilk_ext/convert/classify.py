# SPDX-License-Identifier: MIT
"""Class/type assignment for converted VPC flows (class ``all``).

The rules, first match wins (vectorised with ``numpy.select``):

1. ``REJECT`` -> ``innull`` when the record is ingress at its interface,
   ``outnull`` when egress.  Only rejected records ever get a null type,
   so ``action`` is recovered from the type.
2. internal source, AWS-service destination -> ``int2aws``;
   AWS-service source, internal destination -> ``aws2int``.
3. external -> internal: ``inweb`` / ``inicmp`` / ``in``;
   internal -> external: ``outweb`` / ``outicmp`` / ``out``.
4. internal <-> internal -> ``int2int``; external <-> external ->
   ``ext2ext``.
5. anything else -> ``other``: an endpoint that is on no network at all
   (unspecified, multicast, limited broadcast).

"Web" is SiLK twoway's test exactly: protocol 6 and sPort or dPort in
{80, 443, 8080} (UDP/80 is not web).  "ICMP" is SiLK's: protocol 1, or
58 on an IPv6 record.  Stock twoway sends ICMP to in/out unless SiLK was
compiled with ICMP splitting; like the issue (and the ``default-types in
inweb inicmp`` of our silk.conf) we split by default, and
``classify.icmp-types: false`` restores the stock behaviour.

An address is internal when it belongs to a monitored interface (the
context map, or learned from the records: the interface side of every
record) or to a configured internal network; an AWS-service address is
one AWS labelled (``pkt-*-aws-service``), the map knows, or ip-ranges
lists -- and is not internal (internal wins, so a misconfigured network
list never turns ``int2int`` into ``int2aws``).  With
``classify.aws-types: false`` AWS-service addresses are simply external.

The type *ids* come from the site's silk.conf by name (class ``all``),
so a site that numbers its types differently still gets the right ids;
:data:`DEFAULT_TYPE_IDS` are those of ``share/silk.conf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from pysilk_ext.convert.addrs import Addr16, AddressRanges, BoolArray
from pysilk_ext.convert.config import ClassifyConfig, Direction
from pysilk_ext.convert.layout import INPUT_EGRESS, INPUT_INGRESS
from pysilk_ext.errors import ConvertError, SiteConfigError
from pysilk_ext.silkfmt.siteconf import SiteConfig

__all__ = ["DEFAULT_TYPE_IDS", "TYPE_NAMES", "Classifier", "no_network"]

#: The types the converter assigns, in ``share/silk.conf``'s id order.
TYPE_NAMES: Final = (
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
)
#: Ids of :data:`TYPE_NAMES` in ``share/silk.conf`` (and the fixture).
DEFAULT_TYPE_IDS: Final[Mapping[str, int]] = {
    name: i for i, name in enumerate(TYPE_NAMES)
}

_NO_NETWORK = AddressRanges(
    ["0.0.0.0/32", "224.0.0.0/4", "255.255.255.255/32", "::/128", "ff00::/8"]
)


def no_network(addr: Addr16) -> BoolArray:
    """Return True for addresses on no network (rule 5 of the module)."""
    return _NO_NETWORK.contains(addr)


class Classifier:
    """Assigns flowtype ids from the per-record facts (see module doc)."""

    def __init__(
        self,
        config: ClassifyConfig | None = None,
        site: SiteConfig | None = None,
    ) -> None:
        self.config = config or ClassifyConfig()
        self.ids = self._resolve(site)
        self._web = np.array(sorted(self.config.web_ports), dtype=np.int64)
        null = [self.ids["innull"], self.ids["outnull"]]
        self.null_ids: frozenset[int] = frozenset(null)

    def _resolve(self, site: SiteConfig | None) -> dict[str, int]:
        """Return the id of each type name, from silk.conf if given."""
        if site is None:
            return dict(DEFAULT_TYPE_IDS)
        cfg = self.config
        wanted = [
            n
            for n in TYPE_NAMES
            if (cfg.icmp_types or n not in ("inicmp", "outicmp"))
            and (cfg.aws_types or n not in ("int2aws", "aws2int"))
        ]
        ids: dict[str, int] = {}
        for name in wanted:
            site_name = cfg.type_names.get(name, name)
            try:
                ids[name] = site.flowtype_id(cfg.class_name, site_name)
            except SiteConfigError:
                hint = ""
                if name in ("int2aws", "aws2int"):
                    hint = " (see share/silk.conf, or classify.aws-types)"
                elif name in ("inicmp", "outicmp"):
                    hint = " (or set classify.icmp-types: false)"
                where = f" of '{site.path}'" if site.path else ""
                raise ConvertError(
                    f"The type '{site_name}' is not defined in class "
                    f"'{cfg.class_name}'{where}{hint}",
                    key="classify.type-names",
                ) from None
        # disabled types fall back to their parent type
        ids.setdefault("inicmp", ids["in"])
        ids.setdefault("outicmp", ids["out"])
        ids.setdefault("int2aws", ids["out"])
        ids.setdefault("aws2int", ids["in"])
        return ids

    def is_web(
        self,
        proto: npt.NDArray[np.integer],
        sport: npt.NDArray[np.integer],
        dport: npt.NDArray[np.integer],
    ) -> BoolArray:
        """Return SiLK twoway's web test for each record."""
        web: BoolArray = (proto == 6) & (
            np.isin(sport, self._web) | np.isin(dport, self._web)
        )
        return web

    def classify(
        self,
        *,
        reject: BoolArray,
        direction: npt.NDArray[np.uint8],
        proto: npt.NDArray[np.integer],
        sport: npt.NDArray[np.integer],
        dport: npt.NDArray[np.integer],
        ipv6: BoolArray,
        src_internal: BoolArray,
        dst_internal: BoolArray,
        src_aws: BoolArray,
        dst_aws: BoolArray,
        src_none: BoolArray | None = None,
        dst_none: BoolArray | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Return the flowtype id of every record.

        ``direction`` holds :data:`~.layout.INPUT_INGRESS` /
        ``INPUT_EGRESS`` (anything else takes the configured default);
        ``src_none``/``dst_none`` mark endpoints on no network.
        """
        n = len(reject)
        ids = self.ids
        cfg = self.config
        ingress_default = cfg.default_direction is Direction.INGRESS
        ingress = (direction == INPUT_INGRESS) | (
            (direction != INPUT_EGRESS) & ingress_default
        )
        web = self.is_web(proto, sport, dport)
        icmp = (proto == 1) | ((proto == 58) & ipv6)
        if not cfg.icmp_types:
            icmp = np.zeros(n, dtype=bool)
        s_int = src_internal
        d_int = dst_internal
        s_aws = src_aws & ~s_int
        d_aws = dst_aws & ~d_int
        if not cfg.aws_types:
            s_aws = d_aws = np.zeros(n, dtype=bool)
        nowhere = np.zeros(n, dtype=bool)
        if src_none is not None:
            nowhere |= src_none & ~s_int
        if dst_none is not None:
            nowhere |= dst_none & ~d_int
        inbound = ~s_int & d_int
        outbound = s_int & ~d_int
        conditions = [
            reject & ingress,
            reject,
            nowhere,
            s_int & d_aws,
            s_aws & d_int,
            inbound & web,
            inbound & icmp,
            inbound,
            outbound & web,
            outbound & icmp,
            outbound,
            s_int & d_int,
            ~s_int & ~d_int,
        ]
        choices = [
            ids["innull"],
            ids["outnull"],
            ids["other"],
            ids["int2aws"],
            ids["aws2int"],
            ids["inweb"],
            ids["inicmp"],
            ids["in"],
            ids["outweb"],
            ids["outicmp"],
            ids["out"],
            ids["int2int"],
            ids["ext2ext"],
        ]
        return np.select(conditions, choices, default=ids["other"]).astype(
            np.uint8
        )

    def is_reject(self, flowtype: npt.NDArray[np.uint8]) -> BoolArray:
        """Return True for records whose type says ``REJECT``."""
        return np.isin(flowtype, np.array(sorted(self.null_ids)))
