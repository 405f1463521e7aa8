# SPDX-License-Identifier: MIT
"""The cloud-context map: address (at a time, in a VPC) <-> cloud fields.

VPC flow logs repeat a hundred-odd bytes of cloud context on every record,
but that context belongs to addresses, not to flows.  The map keeps it
once, with first/last seen times, so that any flow -- from the VPC
converter or from a traditional sensor -- can be labelled or filtered by
VPC, subnet, instance, interface, account, region, AZ or AWS service.

Data model
----------
A *binding* says: address A, in scope S, had context C from ``first_seen``
to ``last_seen`` (epoch seconds).  A context is a tuple of field values
(interface-id, instance-id, aws-service, vpc-id, subnet-id, account-id,
region, az-id, availability-zone, sublocation-type, sublocation-id,
interface-type, type, network-border-group, the ten ECS fields and the six
tag fields; see :data:`model.FIELDS`) plus a *relation*.  Relations are
kept apart; one lookup answers each:

``interface`` (:attr:`Relation.IFACE`)
    The interface's own address, from flow logs: ``srcaddr`` on egress,
    ``dstaddr`` on ingress.  Records without ``flow-direction`` (versions
    2-4) are resolved at build time: per (interface-id, address family)
    the own address is the address present in the most of that
    interface's records -- AWS writes the interface's primary address on
    one side of every record -- with ties going to a private address, then
    to the address most often the destination of REJECTed records (inbound
    scans dominate REJECT volume), then to the lowest address.
``packet`` (:attr:`Relation.PKT`)
    ``pkt-srcaddr`` (egress) or ``pkt-dstaddr`` (ingress) when it differs
    from the interface's own address: a secondary IP or pod behind the
    interface, or a peer forwarded through a NAT gateway / TGW attachment
    / appliance.  Never merged into "owned by the interface".  The kind
    ``forwarded`` records evidence that it is a forwarded peer (a public
    address behind a private interface address, or an interface type that
    forwards); an inventory entry listing the address as secondary is the
    evidence of ownership (then the ``inventory`` relation answers).
``service`` (:attr:`Relation.SVC`)
    ``pkt-srcaddr``/``pkt-dstaddr`` (``srcaddr``/``dstaddr`` when the
    format has no packet addresses) labelled by ``pkt-src-aws-service`` /
    ``pkt-dst-aws-service``.
``inventory`` (:attr:`Relation.ENI`)
    ``aws ec2 describe-network-interfaces`` (see :mod:`.eni`): primary,
    secondary and IPv6 addresses, public IPv4 / Elastic IP associations.
``ip-ranges`` (:attr:`Relation.RANGE`)
    ``ip-ranges.json`` prefixes (see :mod:`.ipranges`): a timeless base
    layer; the newest snapshot wins.

A new context for an address starts a new binding, so history is kept:
when an address moves to another interface or instance (IP reuse) the old
binding keeps its interval and the new one starts its own.  The interval
of a binding is ``[min first, max last]`` of its observations, so an
address that moves A -> B -> A shows two bindings for A's context that
overlap B's; the lookup rule below still answers B inside B's interval.

Scope
-----
Private space is reused across VPCs.  A binding's scope is its VPC for an
interface's own IPv4 address, for inventory private addresses, and for
any address in private space (RFC 1918, 100.64/10, link-local; IPv6
unique-local); otherwise (public IPv4, AWS IPv6, public IP / EIP
associations, service addresses) it is global.  A private address whose
VPC is unknown (version 2 logs) gets the inventory's VPC of its interface
when there is one, else the scope ``"?"``.

Lookups (``pse_ctxmap_lookup``; the same in every API)
------------------------------------------------------
For address A at time T, per relation:

* a binding whose ``[first_seen, last_seen]`` holds T answers (if several
  do, the one that started last);
* otherwise the binding seen most recently before T answers, flagged
  *stale*: it is extrapolated until the address is re-bound;
* before A's first binding there is no answer (the map does not guess
  backwards in time).

A lookup with a scope uses that VPC's bindings and global ones; when A
has none there, it answers as an unscoped lookup (a unique answer is never
hidden).  An unscoped lookup of an address bound in more than one VPC by
time T is *ambiguous* for the address (flag 0x80, rows -2): it never picks
a VPC.

Ambiguity is decided per field, not per address.  Each VPC the address is
bound in by T is a *candidate*, answered as the lookup scoped to it would
be (its bindings, the global ones, then ip-ranges).  A field gets the
value every candidate gives -- "no value" included -- and is ambiguous
(value id 0xFFFFFFFF, printed and exported as
:data:`~model.AMBIGUOUS_LABEL`) only when candidates disagree.  So a
reused 10.x address is ambiguous for ``vpc-id``, ``subnet-id``,
``instance-id`` (its VPCs disagree) but has no ``aws-service`` (none of
them has one), and its ``region`` or ``account-id`` when all its VPCs
share one.  The rule lives in C (``pse_ctxmap_values``,
``pse_ctxmap_pair_values``), so :meth:`ContextMap.lookup`, the exports,
rwvpcmaplookup and the awsvpc plug-in give the same answer.

Precedence between sources (resolving one field)
------------------------------------------------
Within one scope (one candidate, above): logs observed, then the ENI
inventory, then ip-ranges, field by field: among the ``interface``,
``inventory`` and ``service`` answers that carry a value for the field,
a current binding beats a stale one; among current ones the order is
interface (logs), inventory, service; among stale ones the most recently
seen wins.  The ip-ranges layer answers only when no binding carries the
field (so ``aws-service`` from the logs' own label beats the prefix
list, and a prefix's ``region`` fills in for public addresses).  The
``packet`` relation never supplies a field by itself: ask for it
explicitly (:class:`LookupResult` ``bindings``).

Merging and updates
-------------------
Building is a reduction of observations to one interval per (address,
scope, context); a map's bindings are observations again.  Hence
``merge`` is associative, commutative and idempotent, ingesting the same
logs twice changes nothing, and partial maps from parallel workers merge
to the map one process would build -- exactly for logs with
``flow-direction``; for version 2-4 logs the own-address inference runs
per interface inside each worker, so give each worker whole interfaces
(split by flow log, not by line).  Files are canonical (sorted), so
"the same map" means the same bytes.  An update is
:meth:`ContextMapBuilder.from_file`, add new batches, build, write
(atomically: readers that have the old file mapped keep it).

Value -> address queries (:meth:`ContextMap.addresses`,
:meth:`ContextMap.lookup_value`) use the owning relations (interface,
inventory, service) unless asked otherwise, so a VPC's address set never
holds the internet hosts seen behind its NAT gateway.  The file keeps no
value index (format version 2): such a query scans the contexts and the
bindings once in C, a few milliseconds per million bindings -- they
serve exports and start-up, never a record -- and a binding costs 24
bytes (BIND row and address index) plus its share of a 24-byte context
and of the strings, 48 bytes when every address has its own interface
and instance.
"""

from __future__ import annotations

from pysilk_ext.ctxmap.builder import BuildStats, ContextMapBuilder, merge
from pysilk_ext.ctxmap.cmap import (
    Binding,
    ContextMap,
    ContextMapFileError,
    LookupResult,
)
from pysilk_ext.ctxmap.diff import diff
from pysilk_ext.ctxmap.model import (
    AMBIGUOUS_LABEL,
    FIELDS,
    GLOBAL_SCOPE,
    UNKNOWN_SCOPE,
    Relation,
    format_time,
    parse_time,
)

__all__ = [
    "AMBIGUOUS_LABEL",
    "FIELDS",
    "GLOBAL_SCOPE",
    "UNKNOWN_SCOPE",
    "Binding",
    "BuildStats",
    "ContextMap",
    "ContextMapBuilder",
    "ContextMapFileError",
    "LookupResult",
    "Relation",
    "diff",
    "format_time",
    "merge",
    "parse_time",
]
