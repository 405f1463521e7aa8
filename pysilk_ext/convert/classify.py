# SPDX-License-Identifier: MIT
"""Class/type assignment for converted VPC flows (class ``all``).

The rules, first match wins (evaluated once for every combination of
the facts they decide on; see :class:`Classifier`):

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

from pysilk_ext._binding import check, load
from pysilk_ext.convert.addrs import (
    Addr16,
    AddressRanges,
    AddressSet,
    BoolArray,
)
from pysilk_ext.convert.config import ClassifyConfig, Direction
from pysilk_ext.convert.layout import INPUT_EGRESS, INPUT_INGRESS
from pysilk_ext.errors import ConvertError, CoreError, SiteConfigError
from pysilk_ext.silkfmt.siteconf import SiteConfig

__all__ = ["DEFAULT_TYPE_IDS", "TYPE_NAMES", "Classifier", "no_network"]

_conv = load("conv")
ffi, lib = _conv.ffi, _conv.lib

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


#: Bits of the per-record facts the rules decide on; a record's facts
#: index :attr:`Classifier.rules` (the same bits as csrc/pse_conv.h).
FACT_REJECT: Final = 0x001
FACT_INGRESS: Final = 0x002  # input == INPUT_INGRESS
FACT_EGRESS: Final = 0x004  # input == INPUT_EGRESS
FACT_WEB: Final = 0x008  # TCP with a web sPort or dPort
FACT_ICMP: Final = 0x010  # protocol 1, or 58 on an IPv6 record
FACT_SRC_INT: Final = 0x020
FACT_DST_INT: Final = 0x040
FACT_SRC_AWS: Final = 0x080
FACT_DST_AWS: Final = 0x100
FACT_SRC_NONE: Final = 0x200  # on no network (rule 5)
FACT_DST_NONE: Final = 0x400
FACT_COMBINATIONS: Final = 0x800


class Classifier:
    """Assigns flowtype ids from the per-record facts (see module doc).

    The rules are evaluated once, at construction, for every combination
    of the eleven facts (:data:`FACT_REJECT` ...) into :attr:`rules`;
    classifying a record is then one table lookup, in NumPy
    (:meth:`classify`) or in C over whole records
    (:meth:`classify_records`), with a single definition of the rules
    (:meth:`_first_match`).
    """

    def __init__(
        self,
        config: ClassifyConfig | None = None,
        site: SiteConfig | None = None,
    ) -> None:
        self.config = config or ClassifyConfig()
        self.ids = self._resolve(site)
        self._web = np.array(sorted(self.config.web_ports), dtype=np.int64)
        web_map = np.zeros(1 << 16, dtype=bool)
        web_map[self._web[(self._web >= 0) & (self._web < 1 << 16)]] = True
        #: the web ports as a 65536-bit map (bit p of byte p // 8)
        self.web_bits = np.packbits(web_map, bitorder="little")
        null = [self.ids["innull"], self.ids["outnull"]]
        self.null_ids: frozenset[int] = frozenset(null)
        #: flowtype id for every combination of facts
        self.rules = self._rule_table()

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
        facts = np.where(reject, FACT_REJECT, 0)
        facts |= np.where(direction == INPUT_INGRESS, FACT_INGRESS, 0)
        facts |= np.where(direction == INPUT_EGRESS, FACT_EGRESS, 0)
        facts |= np.where(self.is_web(proto, sport, dport), FACT_WEB, 0)
        icmp = (proto == 1) | ((proto == 58) & ipv6)
        facts |= np.where(icmp, FACT_ICMP, 0)
        for mask, bit in (
            (src_internal, FACT_SRC_INT),
            (dst_internal, FACT_DST_INT),
            (src_aws, FACT_SRC_AWS),
            (dst_aws, FACT_DST_AWS),
            (src_none, FACT_SRC_NONE),
            (dst_none, FACT_DST_NONE),
        ):
            if mask is not None:
                facts |= np.where(mask, bit, 0)
        out: npt.NDArray[np.uint8] = self.rules[facts]
        return out

    def classify_records(
        self,
        recs: npt.NDArray[np.void],
        reject: BoolArray,
        own: AddressSet,
        *,
        src_internal: BoolArray | None = None,
        dst_internal: BoolArray | None = None,
        src_aws: BoolArray | None = None,
        dst_aws: BoolArray | None = None,
    ) -> None:
        """Set the ``flowtype`` of FLOW_DTYPE records, in one C pass.

        The facts come from the records themselves (input, protocol,
        ports, IPv6 bit, memo's AWS-service bits, whether sIP/dIP are on
        no network or in ``own``, the interface addresses learned so far)
        plus, where given, what else makes an endpoint internal or an
        AWS service (configured networks, the context map, ip-ranges).
        """
        if len(recs) == 0:
            return
        if not recs.flags.c_contiguous:
            raise ValueError("classify_records needs contiguous records")
        v4, v6 = own.sorted_members()
        keep = [
            ffi.from_buffer("uint8_t[]", self.rules),
            ffi.from_buffer("uint8_t[]", self.web_bits),
            ffi.from_buffer("uint32_t[]", v4),
            ffi.from_buffer("uint8_t[]", v6),
        ]
        lookup = ffi.new(
            "struct pse_conv_lookup *",
            {
                "rules": keep[0],
                "web_ports": keep[1],
                "own_v4": keep[2],
                "n_own_v4": len(v4),
                "own_v6": keep[3],
                "n_own_v6": len(v6),
            },
        )
        masks = [
            ffi.NULL
            if mask is None
            else ffi.from_buffer(
                "uint8_t[]", np.ascontiguousarray(mask, dtype=np.bool_)
            )
            for mask in (reject, src_internal, dst_internal, src_aws, dst_aws)
        ]
        status = lib.pse_conv_classify(
            lookup, ffi.from_buffer("uint8_t[]", recs), len(recs), *masks
        )
        check(_conv, status, CoreError, "Cannot classify records")

    def _rule_table(self) -> npt.NDArray[np.uint8]:
        """Return the flowtype id of every combination of facts."""
        facts = np.arange(FACT_COMBINATIONS)

        def has(bit: int) -> BoolArray:
            mask: BoolArray = (facts & bit) != 0
            return mask

        return self._first_match(
            reject=has(FACT_REJECT),
            ingress_logged=has(FACT_INGRESS),
            egress_logged=has(FACT_EGRESS),
            web=has(FACT_WEB),
            icmp=has(FACT_ICMP),
            src_internal=has(FACT_SRC_INT),
            dst_internal=has(FACT_DST_INT),
            src_aws=has(FACT_SRC_AWS),
            dst_aws=has(FACT_DST_AWS),
            src_none=has(FACT_SRC_NONE),
            dst_none=has(FACT_DST_NONE),
        )

    def _first_match(
        self,
        *,
        reject: BoolArray,
        ingress_logged: BoolArray,
        egress_logged: BoolArray,
        web: BoolArray,
        icmp: BoolArray,
        src_internal: BoolArray,
        dst_internal: BoolArray,
        src_aws: BoolArray,
        dst_aws: BoolArray,
        src_none: BoolArray,
        dst_none: BoolArray,
    ) -> npt.NDArray[np.uint8]:
        """The rules of the module doc, first match wins, with the
        configuration applied (default direction, ICMP and AWS types)."""
        n = len(reject)
        ids = self.ids
        cfg = self.config
        ingress_default = cfg.default_direction is Direction.INGRESS
        ingress = ingress_logged | (~egress_logged & ingress_default)
        if not cfg.icmp_types:
            icmp = np.zeros(n, dtype=bool)
        s_int = src_internal
        d_int = dst_internal
        s_aws = src_aws & ~s_int
        d_aws = dst_aws & ~d_int
        if not cfg.aws_types:
            s_aws = d_aws = np.zeros(n, dtype=bool)
        nowhere = (src_none & ~s_int) | (dst_none & ~d_int)
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
