# SPDX-License-Identifier: MIT
"""SiLK prefix maps (FT_PREFIXMAP): build, write, read, look up, print.

A prefix map labels every key of a key space -- IPv4 addresses, IPv6
addresses or (protocol, port) pairs -- through a binary trie plus a
dictionary of labels (spec section 4).  This module reproduces
rwpmapbuild exactly: label ids in the same order, the same trie node for
node (including the nodes rwpmapbuild abandons when a later range covers
them), the same header entries.  A map built here from the same input is
therefore byte-identical to rwpmapbuild's, and real SiLK tools
(rwpmapcat, rwpmaplookup, rwcut/rwfilter ``--pmap-file``) read it.

The trie is built and walked in C (``pysilk_ext._pmap``) because the
context map exports maps of hundreds of thousands of ranges.

Public API::

    PrefixMapBuilder(mode="ipv4", map_name=None, default_label=None)
        .add_label(label_id, text)     # rwpmapbuild's "label N TEXT"
        .set_default(label)            # "default LABEL"
        .label_id(label) -> int        # resolve a range label (may add it)
        .add_range(lo, hi, label)      # "LOW HIGH LABEL"
        .add_cidr(block, label)        # "CIDR LABEL"
        .add_ranges(lo, hi, values)    # batch: arrays of keys + label ids
        .to_bytes(...) / .write(path, ...) / .build() -> PrefixMap
    parse_pmap_text(text, *, path=None, mode=None) -> PrefixMapBuilder
    PrefixMap.read(path) / PrefixMap.from_bytes(data)
        .get(key) -> PrefixMapHit | None   .lookup(keys) -> (values, prefixes)
        .iter_ranges() -> (start, end, label)   .ranges() -> numpy arrays
    format_rwpmapcat(pmap, ...) -> str      format_rwpmaplookup(pmap, ...)

Keys are integers in the map's key space: an IPv4 address, a 128-bit
IPv6 address (IPv4 as ``::ffff:a.b.c.d``), or ``protocol << 16 | port``.
The API also accepts address text, :mod:`ipaddress` objects and
``(protocol, port)`` tuples / ``"6/443"`` text.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pysilk_ext.errors import PrefixMapError, SilkFormatError
from pysilk_ext.silkfmt import _ipaddr as ipa
from pysilk_ext.silkfmt.header import (
    AnnotationEntry,
    ByteOrder,
    Compression,
    FileFormat,
    FileHeader,
    HeaderEntry,
    InvocationEntry,
    PrefixMapEntry,
    encode_header,
    format_name,
    read_header,
)

__all__ = [
    "DEFAULT_LABEL",
    "MODES",
    "NO_VALUE",
    "PrefixMap",
    "PrefixMapBuilder",
    "PrefixMapCorruptError",
    "PrefixMapFileError",
    "PrefixMapHit",
    "PrefixMapSyntaxError",
    "PrefixMapTruncatedError",
    "format_rwpmapcat",
    "format_rwpmaplookup",
    "invocation_text",
    "parse_pmap_text",
]

#: Key spaces, named as rwpmapbuild's ``mode`` statement names them.
MODES = ("ipv4", "ipv6", "proto-port")
_KEY_BITS = {"ipv4": 32, "proto-port": 32, "ipv6": 128}
#: Record version written for each mode (spec 4.1).
_RECORD_VERSION = {"ipv4": 2, "proto-port": 3, "ipv6": 4}
#: Mode of each readable record version (1 and 5: country-code maps).
_VERSION_MODE = {1: "ipv4", 2: "ipv4", 3: "proto-port", 4: "ipv6", 5: "ipv6"}
#: rwpmapcat's name of each mode ("TYPE:" line).
_CONTENT_NAME = {
    "ipv4": "IPv4-address",
    "ipv6": "IPv6-address",
    "proto-port": "proto-port",
}

#: Leaf value meaning "no value" (printed as UNKNOWN).
NO_VALUE = 0x7FFFFFFF
_NOT_FOUND = 0xFFFFFFFF
#: Label installed as default when the input names none (rwpmapbuild).
DEFAULT_LABEL = "UNKNOWN"
_MAX_PROTO_PORT_KEY = 0xFFFFFF


class PrefixMapFileError(PrefixMapError, SilkFormatError):
    """A prefix map file is not readable (wrong kind, bad header)."""


class PrefixMapTruncatedError(PrefixMapFileError):
    """A prefix map file ends before its tree or dictionary does."""


class PrefixMapCorruptError(PrefixMapFileError):
    """A prefix map's tree or dictionary is inconsistent."""


class PrefixMapSyntaxError(PrefixMapError):
    """A line of rwpmapbuild input is invalid; carries path and lineno."""

    def __init__(
        self, message: str, *, path: str | None = None, lineno: int = 0
    ) -> None:
        super().__init__(message)
        self.path = path
        self.lineno = lineno


_pmap_lib = ipa.core
_check = functools.partial(ipa.check, error=PrefixMapError)


def _ascii_fold(text: str) -> bytes:
    # SiLK compares labels with strcasecmp(): ASCII letters only
    return text.encode("utf-8", "surrogateescape").lower()


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _rjust(text: str, width: int) -> str:
    # printf("%*s") pads by bytes; labels may hold non-ASCII text
    return " " * max(width - _byte_len(text), 0) + text


def _ljust(text: str, width: int) -> str:
    return text + " " * max(width - _byte_len(text), 0)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise PrefixMapError(
            f"Invalid mode '{mode}': Unrecognized mode name (choose from "
            f"{', '.join(MODES)})"
        )
    return mode


def _check_map_name(name: str) -> str:
    if (
        not isinstance(name, str)
        or not name
        or re.search(r"[\s,:#\0]", name) is not None
    ):
        raise PrefixMapError(
            f"Invalid map name '{name}': it must be non-empty and hold no "
            f"whitespace, comma, colon or '#'"
        )
    return name


def invocation_text(argv: str | Sequence[str]) -> str:
    """Return the invocation entry text SiLK records for ``argv``.

    SiLK joins the program name (without directory or libtool ``lt-``
    prefix) and the arguments with single spaces, without quoting.  A
    string is taken as the finished text.
    """
    if isinstance(argv, str):
        return argv
    if not argv:
        raise ValueError("Empty invocation")
    prog = os.path.basename(argv[0])
    prog = prog.removeprefix("lt-")
    return " ".join([prog, *argv[1:]])


# --------------------------------------------------------------------------
# The label dictionary


class _Dictionary:
    """Label ids <-> texts, with rwpmapbuild's insertion rules.

    Ids may have gaps (explicit ``label`` statements); gaps are empty
    strings in the file.  Look-ups ignore ASCII case, as SiLK's do.
    """

    def __init__(self) -> None:
        self.words: dict[int, str] = {}
        self.count = 0
        self._index: dict[bytes, int] = {}

    def lookup(self, text: str) -> int | None:
        return self._index.get(_ascii_fold(text))

    def insert(self, value: int, text: str) -> None:
        """Insert ``text`` as id ``value`` (SiLK's DictionaryInsert)."""
        self._check_text(text)
        if not 0 <= value <= NO_VALUE:
            raise PrefixMapError(f"Label id {value} is out of range")
        found = self.lookup(text)
        if found == value:
            return
        if found is not None or value in self.words:
            raise PrefixMapError(
                f"Invalid label '{value} {text}': Duplicate dictionary ID "
                f"or word"
            )
        self._add(value, text)

    def search(self, text: str) -> int:
        """Return the id of ``text``, adding it at the next id if new."""
        self._check_text(text)
        found = self.lookup(text)
        if found is not None:
            return found
        value = self.count
        if value > NO_VALUE:
            raise PrefixMapError("Too many labels (the limit is 2^31 - 1)")
        self._add(value, text)
        return value

    def _add(self, value: int, text: str) -> None:
        self.words[value] = text
        self._index[_ascii_fold(text)] = value
        self.count = max(self.count, value + 1)

    @staticmethod
    def _check_text(text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"Expected a label text, got {type(text)}")
        if not text or "\0" in text:
            raise PrefixMapError(
                f"Invalid label '{text}': a label is non-empty and holds "
                f"no NUL"
            )

    def encode(self) -> bytes:
        """The dictionary bytes: every id's text + NUL, gaps as NUL."""
        parts: list[bytes] = []
        expect = 0
        for value in sorted(self.words):
            if value > expect:
                parts.append(b"\0" * (value - expect))
            parts.append(
                self.words[value].encode("utf-8", "surrogateescape") + b"\0"
            )
            expect = value + 1
        return b"".join(parts)


# --------------------------------------------------------------------------
# Keys


def _proto_port_key(key: Any) -> int:
    if isinstance(key, tuple) and len(key) == 2:
        proto, port = (int(key[0]), int(key[1]))
    elif isinstance(key, str):
        proto_text, slash, port_text = key.strip().partition("/")
        if not slash:
            raise PrefixMapError(
                f"Invalid proto/port '{key}': Missing '/' delimiter"
            )
        try:
            proto, port = int(proto_text), int(port_text)
        except ValueError:
            raise PrefixMapError(
                f"Invalid proto/port '{key}': Not a number"
            ) from None
    elif isinstance(key, int) and not isinstance(key, bool):
        if not 0 <= key <= _MAX_PROTO_PORT_KEY:
            raise PrefixMapError(f"Proto/port key {key} is out of range")
        return key
    else:
        raise TypeError(f"Expected a (protocol, port) pair, got {key!r}")
    if not 0 <= proto <= 255:
        raise PrefixMapError(f"Invalid protocol {proto}: not in 0..255")
    if not 0 <= port <= 65535:
        raise PrefixMapError(f"Invalid port {port}: not in 0..65535")
    return (proto << 16) | port


def _address_key(mode: str, addr: Any) -> int:
    """Key of an address for a map in ``mode`` (ipv4 or ipv6)."""
    try:
        value, is_v6 = ipa.address_key(addr)
    except ValueError as exc:
        raise PrefixMapError(f"Invalid IP '{addr}': {exc}") from None
    if mode == "ipv4":
        if is_v6:
            raise PrefixMapError(
                f"Invalid IP '{addr}': IPv6 address not allowed in ipv4 "
                f"prefix map"
            )
        return value
    return value if is_v6 else ipa.V4_MAPPED_BASE | value


def _key_of(mode: str, key: Any) -> int:
    if mode == "proto-port":
        return _proto_port_key(key)
    return _address_key(mode, key)


# --------------------------------------------------------------------------
# Builder


class PrefixMapBuilder:
    """Build a prefix map exactly as rwpmapbuild does.

    Label ids follow rwpmapbuild: without ``label`` statements a label gets
    the next id at its first appearance, the default counting as one;
    when no default was given, ``UNKNOWN`` is added (and made the
    default) at the first range.  With :meth:`add_label` ("label N
    TEXT") the ids are the declared numbers, and every later label must
    name a declared one by text or number.

    ``default_label`` given here acts like a ``default`` statement placed
    after any :meth:`add_label` calls and before the first range.
    Ranges are applied in call order; later ranges overwrite earlier
    ones where they overlap, so add general ranges before specific ones.
    """

    def __init__(
        self,
        mode: str = "ipv4",
        map_name: str | None = None,
        default_label: str | int | None = None,
    ) -> None:
        self._mode = _check_mode(mode)
        self._map_name = (
            None if map_name is None else _check_map_name(map_name)
        )
        self._dict = _Dictionary()
        self._pending_default = default_label
        self._default_value: int | None = None
        self._label_stmt_allowed = True
        self._label_stmt_seen = False
        self._dict_num_entries = 0
        self._ranges_started = False
        self._handle: Any = None

    # -- properties -------------------------------------------------------

    @property
    def mode(self) -> str:
        """Key space: ``ipv4``, ``ipv6`` or ``proto-port``."""
        return self._mode

    @property
    def map_name(self) -> str | None:
        """Name stored in the prefix-map header entry (None: no entry)."""
        return self._map_name

    @property
    def labels(self) -> tuple[str, ...]:
        """The dictionary in id order (gaps as empty strings)."""
        return tuple(
            self._dict.words.get(i, "") for i in range(self._dict.count)
        )

    @property
    def node_count(self) -> int:
        """Number of trie nodes so far (abandoned nodes included)."""
        if self._handle is None:
            return 1
        return int(_pmap_lib().lib.pse_pmap_builder_node_count(self._handle))

    def set_mode(self, mode: str) -> None:
        """Change the key space; only allowed before the first range."""
        mode = _check_mode(mode)
        if mode == self._mode:
            return
        if self._ranges_started:
            raise PrefixMapError(
                "Mode conflict: Cannot change mode after processing a range"
            )
        self._mode = mode
        if self._handle is not None:
            self._handle = None
            if self._default_value is not None:
                self._tree_default(self._default_value)

    def set_map_name(self, name: str) -> None:
        """Set the map name (once, like rwpmapbuild's ``map-name``)."""
        if self._map_name is not None:
            raise PrefixMapError("Multiple map-names specified in input")
        self._map_name = _check_map_name(name)

    # -- labels -----------------------------------------------------------

    def add_label(self, label_id: int, text: str) -> None:
        """Declare label ``label_id`` (``label N TEXT``).

        Only allowed before the default and the first range.  Once used,
        every later label must be a declared one.
        """
        if not self._label_stmt_allowed:
            raise PrefixMapError(
                "Invalid label: label only permitted before 'default' and "
                "range statements"
            )
        if isinstance(label_id, bool) or not isinstance(label_id, int):
            raise TypeError(f"Expected an integer label id, got {label_id!r}")
        self._label_stmt_seen = True
        self._dict.insert(label_id, text)
        self._dict_num_entries = self._dict.count

    def _resolve(self, label: str | int) -> int:
        """Label id of ``label`` the way rwpmapbuild's gotLabel() finds it."""
        if self._label_stmt_seen:
            if self._dict_num_entries == 0:
                raise PrefixMapError("No label statements successfully parsed")
            if not isinstance(label, str):
                if 0 <= label < self._dict_num_entries:
                    return int(label)
                raise PrefixMapError(f"Using unknown label '{label}'")
            text = label.strip()
            if text.isdigit() and text.isascii():
                number = int(text)
                if number < self._dict_num_entries:
                    return number
            found = self._dict.lookup(label)
            if found is None:
                raise PrefixMapError(f"Using unknown label '{label}'")
            return found
        if not isinstance(label, str):
            raise PrefixMapError(
                f"Label id {label!r} given but no labels were declared "
                f"with add_label(); give the label text"
            )
        return self._dict.search(label)

    def set_default(self, label: str | int) -> None:
        """Set the label of every key no range covers (``default``)."""
        if self._default_value is not None or (
            self._pending_default is not None
        ):
            raise PrefixMapError(
                "Invalid default: Multiple default statements or setting "
                "default in non-empty map"
            )
        self._apply_default(label)

    def _apply_default(self, label: str | int) -> None:
        self._label_stmt_allowed = False
        value = self._resolve(label)
        if value >= self._dict.count:
            raise PrefixMapError(f"Default set to undefined index '{label}'")
        self._tree_default(value)
        self._default_value = value

    def _tree_default(self, value: int) -> None:
        status = _pmap_lib().lib.pse_pmap_builder_set_default(
            self._tree(), value
        )
        _check(status, "Cannot set default in non-empty map")

    def _tree(self) -> Any:
        if self._handle is None:
            mod = _pmap_lib()
            out = mod.ffi.new("pse_pmap_builder_t **")
            _check(
                mod.lib.pse_pmap_builder_create(out, _KEY_BITS[self._mode]),
                "Error creating prefix map",
            )
            self._handle = mod.ffi.gc(out[0], mod.lib.pse_pmap_builder_free)
        return self._handle

    def _start_ranges(self) -> None:
        # What rwpmapbuild does before the first range's label: no more
        # label statements; install the default (or UNKNOWN).
        self._label_stmt_allowed = False
        self._ranges_started = True
        if self._default_value is None:
            if self._pending_default is not None:
                pending, self._pending_default = self._pending_default, None
                self._apply_default(pending)
            else:
                value = self._dict.search(DEFAULT_LABEL)
                self._tree_default(value)
                self._default_value = value

    def label_id(self, label: str | int) -> int:
        """Return the id a range labelled ``label`` gets (adding it).

        This is the first half of a range statement: it installs the
        default (or ``UNKNOWN``) when needed, so calling it fixes the
        dictionary order exactly as the range would.
        """
        self._start_ranges()
        return self._resolve(label)

    # -- ranges -----------------------------------------------------------

    def add_range(self, lo: Any, hi: Any, label: str | int) -> None:
        """Label the keys ``lo`` .. ``hi`` (inclusive) with ``label``."""
        lo_key = _key_of(self._mode, lo)
        hi_key = _key_of(self._mode, hi)
        value = self.label_id(label)
        if lo_key > hi_key:
            raise PrefixMapError("Invalid range: start is greater than end")
        self._add_keys([lo_key], [hi_key], value)

    def add_cidr(self, block: Any, label: str | int) -> None:
        """Label a CIDR block: ``"10.0.1.0/24"``, an ipaddress network
        or ``(address, prefix)``; IPv4 blocks in an ipv6 map are mapped
        into ``::ffff:0:0/96``."""
        if self._mode == "proto-port":
            raise PrefixMapError(
                "Invalid IP: IP address not allowed in proto-port prefix map"
            )
        value, prefix, is_v6 = self._parse_block(block)
        if self._mode == "ipv4" and is_v6:
            raise PrefixMapError(
                f"Invalid IP '{block}': IPv6 address not allowed in ipv4 "
                f"prefix map"
            )
        if self._mode == "ipv6" and not is_v6:
            value, prefix = ipa.V4_MAPPED_BASE | value, prefix + 96
        lo, hi = ipa.cidr_range(value, prefix, _KEY_BITS[self._mode])
        label_value = self.label_id(label)
        self._add_keys([lo], [hi], label_value)

    @staticmethod
    def _parse_block(block: Any) -> tuple[int, int, bool]:
        if isinstance(block, ipaddress.IPv4Network):
            return int(block.network_address), block.prefixlen, False
        if isinstance(block, ipaddress.IPv6Network):
            return int(block.network_address), block.prefixlen, True
        if isinstance(block, tuple) and len(block) == 2:
            value, is_v6 = ipa.address_key(block[0])
            prefix = int(block[1])
            if not 0 <= prefix <= (128 if is_v6 else 32):
                raise PrefixMapError(
                    f"Invalid CIDR block '{block}': bad prefix {prefix}"
                )
            return value, prefix, is_v6
        if isinstance(block, str):
            try:
                return ipa.parse_cidr(block)
            except ValueError as exc:
                raise PrefixMapError(
                    f"Invalid CIDR block '{block}': {exc}"
                ) from None
        raise TypeError(f"Expected a CIDR block, got {block!r}")

    def add_ranges(
        self,
        lo: npt.ArrayLike,
        hi: npt.ArrayLike,
        values: int | npt.ArrayLike,
    ) -> None:
        """Insert many ranges at once (the fast path, in C).

        ``lo`` and ``hi`` hold keys: for ``ipv4`` and ``proto-port`` maps a
        1-D integer array; for ``ipv6`` an ``(n, 2)`` uint64 array (upper
        half first) or ``(n, 16)`` uint8 addresses in network order.
        ``values`` is one label id or an array of ids from
        :meth:`label_id`.  Ranges are applied in array order.
        """
        self._start_ranges()
        if self._mode == "ipv6":
            lo_arr: npt.NDArray[Any] = ipa.as_keys128(lo)
            hi_arr: npt.NDArray[Any] = ipa.as_keys128(hi)
            n = lo_arr.shape[0]
        else:
            limit = ipa.MAX_V4 if self._mode == "ipv4" else _MAX_PROTO_PORT_KEY
            lo_arr = _as_u32(lo, limit)
            hi_arr = _as_u32(hi, limit)
            n = lo_arr.shape[0]
        if hi_arr.shape[0] != n:
            raise ValueError("lo and hi have different lengths")
        self._add_arrays(
            lo_arr, hi_arr, _as_values(values, n, self._dict.count)
        )

    def _add_keys(self, lo: list[int], hi: list[int], value: int) -> None:
        if self._mode == "ipv6":
            self._add_arrays(
                ipa.keys128(lo),
                ipa.keys128(hi),
                np.full(len(lo), value, dtype=np.uint32),
            )
        else:
            self._add_arrays(
                np.asarray(lo, dtype=np.uint32),
                np.asarray(hi, dtype=np.uint32),
                np.full(len(lo), value, dtype=np.uint32),
            )

    def _add_arrays(
        self,
        lo: npt.NDArray[Any],
        hi: npt.NDArray[Any],
        values: npt.NDArray[np.uint32],
    ) -> None:
        n = values.shape[0]
        if n == 0:
            return
        mod = _pmap_lib()
        ffi = mod.ffi
        done = ffi.new("size_t *")
        if self._mode == "ipv6":
            status = mod.lib.pse_pmap_builder_add128(
                self._tree(),
                ffi.cast("const uint64_t *", ffi.from_buffer(lo)),
                ffi.cast("const uint64_t *", ffi.from_buffer(hi)),
                ffi.cast("const uint32_t *", ffi.from_buffer(values)),
                n,
                done,
            )
        else:
            status = mod.lib.pse_pmap_builder_add32(
                self._tree(),
                ffi.cast("const uint32_t *", ffi.from_buffer(lo)),
                ffi.cast("const uint32_t *", ffi.from_buffer(hi)),
                ffi.cast("const uint32_t *", ffi.from_buffer(values)),
                n,
                done,
            )
        if status == mod.lib.PSE_ERR_ARG:
            raise PrefixMapError(
                f"Invalid range at index {done[0]}: start is greater than end"
            )
        _check(status, "Cannot add entry to prefix map")

    # -- output -----------------------------------------------------------

    def _finish(self) -> None:
        if self._pending_default is not None:
            pending, self._pending_default = self._pending_default, None
            self._apply_default(pending)

    def record_version(self) -> int:
        """Record version the file gets (1/5 when no label exists)."""
        if self._dict.count == 0 and self._mode != "proto-port":
            # rwpmapbuild writes a dictionary-less (country-code) map
            return 1 if self._mode == "ipv4" else 5
        return _RECORD_VERSION[self._mode]

    def to_bytes(
        self,
        *,
        invocation: str | Sequence[str] | None = None,
        annotations: Iterable[str] = (),
        byte_order: ByteOrder | None = None,
    ) -> bytes:
        """Return the complete file as rwpmapbuild would write it.

        ``invocation`` adds an invocation entry (SiLK records one unless
        ``--invocation-strip``); pass the same command line as rwpmapbuild
        saw to get identical bytes.  ``byte_order`` defaults to the host's,
        like SiLK.
        """
        self._finish()
        order: ByteOrder = byte_order or ipa.native_order()
        version = self.record_version()
        entries: list[HeaderEntry] = []
        if invocation is not None:
            entries.append(InvocationEntry(invocation_text(invocation)))
        entries.extend(AnnotationEntry(text) for text in annotations)
        if self._map_name is not None:
            entries.append(PrefixMapEntry(self._map_name))
        header = FileHeader(
            format=FileFormat.FT_PREFIXMAP,
            record_version=version,
            record_size=1,
            byte_order=order,
            compression=Compression.NONE,
            entries=entries,
        )
        return encode_header(header) + self._payload(order, version)

    def _payload(self, order: ByteOrder, version: int) -> bytes:
        mod = _pmap_lib()
        handle = self._tree()
        n_nodes = int(mod.lib.pse_pmap_builder_node_count(handle))
        words = np.empty(2 * n_nodes, dtype=np.uint32)
        _check(
            mod.lib.pse_pmap_builder_export(
                handle,
                mod.ffi.cast("uint32_t *", mod.ffi.from_buffer(words)),
                words.shape[0],
                int(order != ipa.native_order()),
            ),
            "Cannot export prefix map",
        )
        fmt = "<I" if order == "little" else ">I"
        parts = [struct.pack(fmt, n_nodes), words.tobytes()]
        if version in (2, 3, 4):
            dictionary = self._dict.encode()
            parts += [struct.pack(fmt, len(dictionary)), dictionary]
        return b"".join(parts)

    def write(
        self,
        path: str | os.PathLike[str],
        *,
        invocation: str | Sequence[str] | None = None,
        annotations: Iterable[str] = (),
        byte_order: ByteOrder | None = None,
    ) -> None:
        """Write the map to ``path`` atomically (temporary file + rename).

        Prefix maps are never compressed (SiLK's reader refuses it).
        """
        data = self.to_bytes(
            invocation=invocation, annotations=annotations,
            byte_order=byte_order,
        )  # fmt: skip
        ipa.write_atomic(path, data)

    def build(self) -> PrefixMap:
        """Return the map as a :class:`PrefixMap` (for look-ups)."""
        return PrefixMap.from_bytes(self.to_bytes())


def _as_u32(keys: npt.ArrayLike, limit: int) -> npt.NDArray[np.uint32]:
    arr = np.asarray(keys)
    if arr.ndim != 1:
        raise ValueError(f"Expected a 1-D array of keys, got {arr.shape}")
    if arr.dtype == np.uint32:
        out = np.ascontiguousarray(arr)
    else:
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"Expected integer keys, got {arr.dtype}")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > limit):
            raise PrefixMapError(f"Key out of range 0..{limit}")
        out = np.ascontiguousarray(arr, dtype=np.uint32)
    if out.size and int(out.max()) > limit:
        raise PrefixMapError(f"Key out of range 0..{limit}")
    return out


def _as_values(
    values: int | npt.ArrayLike, n: int, word_count: int
) -> npt.NDArray[np.uint32]:
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        arr = np.full(n, int(values), dtype=np.int64)
    else:
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise ValueError(f"Expected {n} label ids, got shape {arr.shape}")
        if n and arr.dtype.kind not in "iu":
            raise TypeError(f"Expected integer label ids, got {arr.dtype}")
    if n and (int(arr.min()) < 0 or int(arr.max()) >= word_count):
        raise PrefixMapError(
            f"Label id out of range: the dictionary holds {word_count} ids"
        )
    return np.ascontiguousarray(arr, dtype=np.uint32)


# --------------------------------------------------------------------------
# rwpmapbuild's input language


_IP_TOKEN = re.compile(r"[0-9A-Fa-f]*[:.][0-9A-Fa-f:.]+\Z")
_CIDR_TOKEN = re.compile(r"[0-9A-Fa-f]*[:.][0-9A-Fa-f:.]+/[0-9]+\Z")
_NUMBER_TOKEN = re.compile(r"[0-9]+\Z")
_PROTO_PORT_TOKEN = re.compile(r"[0-9]+/[0-9]+\Z")
_NAME_TOKEN = re.compile(r"[^#:, \t\r\n]+\Z")
_WS = " \t\r"


def _split_first(text: str) -> tuple[str, str]:
    """First whitespace-separated token and the rest (stripped)."""
    m = re.match(r"([^ \t\r]+)(?:[ \t\r]+(.*))?\Z", text, re.DOTALL)
    if m is None:
        return "", ""
    return m.group(1), (m.group(2) or "").strip(_WS)


class _PmapTextParser:
    """One pass over rwpmapbuild input; raises at the first bad line."""

    def __init__(self, path: str | None, mode: str | None) -> None:
        self.path = path
        self.lineno = 0
        if mode is not None:
            _check_mode(mode)
        self.mode_set = "switch" if mode is not None else "default"
        self.builder = PrefixMapBuilder(mode or "ipv4")

    def fail(self, message: str) -> PrefixMapSyntaxError:
        where = self.path if self.path is not None else "<input>"
        return PrefixMapSyntaxError(
            f"{where}:{self.lineno}: {message}",
            path=self.path,
            lineno=self.lineno,
        )

    def parse(self, text: str) -> PrefixMapBuilder:
        for self.lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.split("#", 1)[0].strip(_WS)
            if not line:
                continue
            try:
                self.statement(line)
            except PrefixMapSyntaxError:
                raise
            except PrefixMapError as exc:
                raise self.fail(str(exc)) from None
        return self.builder

    def statement(self, line: str) -> None:
        first, rest = _split_first(line)
        if first in ("mode", "map-name", "default", "label"):
            if not rest:
                raise self.fail(f"Incomplete {first} statement")
            getattr(self, "stmt_" + first.replace("-", "_"))(rest)
            return
        if _CIDR_TOKEN.match(first):
            self.stmt_cidr(first, rest)
        elif _IP_TOKEN.match(first):
            self.stmt_pair(first, rest, _IP_TOKEN, self.ip_key)
        elif _PROTO_PORT_TOKEN.match(first):
            self.stmt_pair(first, rest, _PROTO_PORT_TOKEN, self.pp_key)
        elif _NUMBER_TOKEN.match(first):
            self.stmt_pair(first, rest, _NUMBER_TOKEN, self.number_key)
        else:
            raise self.fail("Unrecognized input")

    def single_token(self, rest: str) -> str:
        if not _NAME_TOKEN.match(rest):
            raise self.fail("Too many arguments in statement")
        return rest

    def stmt_mode(self, rest: str) -> None:
        name = self.single_token(rest)
        new_mode = "ipv4" if name == "ip" else name
        if new_mode not in MODES:
            raise self.fail(f"Invalid mode '{name}'")
        if self.mode_set == "default":
            self.mode_set = "stmt"
            self.builder.set_mode(new_mode)
        elif new_mode != self.builder.mode:
            reason = {
                "stmt": "Mode does not match previous mode statement",
                "switch": "Mode does not match mode specified on command line",
                "range": "Cannot change mode after processing a range",
            }[self.mode_set]
            raise self.fail(f"Mode conflict: {reason}")

    def stmt_map_name(self, rest: str) -> None:
        self.builder.set_map_name(self.single_token(rest))

    def stmt_default(self, label: str) -> None:
        self.builder.set_default(label)

    def stmt_label(self, rest: str) -> None:
        number, text = _split_first(rest)
        if not _NUMBER_TOKEN.match(number):
            raise self.fail("Unrecognized input")
        if not text:
            raise self.fail("Incomplete statement")
        value = int(number)
        if value > NO_VALUE:
            raise self.fail(f"Invalid label '{number}': Value above maximum")
        self.builder.add_label(value, text)

    def started_range(self) -> None:
        if self.mode_set == "default":
            self.mode_set = "range"

    def stmt_cidr(self, token: str, label: str) -> None:
        if not label:
            raise self.fail("Incomplete statement")
        try:
            value, prefix, is_v6 = ipa.parse_cidr(token, min_prefix=1)
        except ValueError as exc:
            raise self.fail(f"Invalid CIDR block '{token}': {exc}") from None
        mode = self.builder.mode
        if is_v6 and mode != "ipv6":
            raise self.fail(
                f"Invalid IP: IPv6 address not allowed in {mode} prefix map"
            )
        self.started_range()
        lo, hi = ipa.cidr_range(value, prefix, 128 if is_v6 else 32)
        self.add(lo, hi, is_v6, label, is_ip=True)

    def stmt_pair(
        self,
        first: str,
        rest: str,
        pattern: re.Pattern[str],
        to_key: Any,
    ) -> None:
        lo = to_key(first, low=True)
        second, label = _split_first(rest)
        if not second:
            raise self.fail("Incomplete statement")
        if not pattern.match(second):
            raise self.fail("Unrecognized input")
        hi = to_key(second, low=False)
        if not label:
            raise self.fail("Incomplete statement")
        if to_key == self.pp_key:
            self.add_proto_port(lo[0], hi[0], label)
        else:
            self.add(lo[0], hi[0], lo[1] or hi[1], label,
                     is_ip=to_key == self.ip_key,
                     mixed=(lo[1], hi[1]))  # fmt: skip

    def ip_key(self, token: str, *, low: bool) -> tuple[int, bool]:
        try:
            value, is_v6 = ipa.parse_ip(token)
        except ValueError as exc:
            raise self.fail(f"Invalid IP '{token}': {exc}") from None
        if is_v6 and self.builder.mode != "ipv6":
            raise self.fail(
                f"Invalid IP: IPv6 address not allowed in "
                f"{self.builder.mode} prefix map"
            )
        return value, is_v6

    def number_key(self, token: str, *, low: bool) -> tuple[int, bool]:
        self.started_range()
        if self.builder.mode == "proto-port":
            proto = int(token)
            if proto > 255:
                raise self.fail(
                    f"Invalid protocol '{token}': Value above maximum (255)"
                )
            return ((proto << 16) | (0 if low else 0xFFFF)), False
        try:
            return ipa.parse_ipv4(token), False
        except ValueError as exc:
            raise self.fail(f"Invalid IP '{token}': {exc}") from None

    def pp_key(self, token: str, *, low: bool) -> tuple[int, bool]:
        proto_text, _, port_text = token.partition("/")
        proto, port = int(proto_text), int(port_text)
        if proto > 255:
            raise self.fail(
                f"Invalid protocol '{token}': Value above maximum (255)"
            )
        if port > 65535:
            raise self.fail(
                f"Invalid port '{port_text}': Value above maximum (65535)"
            )
        return (proto << 16) | port, False

    def add(
        self,
        lo: int,
        hi: int,
        is_v6: bool,
        label: str,
        *,
        is_ip: bool,
        mixed: tuple[bool, bool] | None = None,
    ) -> None:
        builder = self.builder
        self.started_range()
        value = builder.label_id(label)
        mode = builder.mode
        if is_ip and mode == "proto-port":
            raise self.fail(
                "Invalid IP: IP address not allowed in proto-port prefix map"
            )
        if mode == "ipv6":
            # IPv4 input in an ipv6 map means ::ffff:a.b.c.d
            lo_v6, hi_v6 = mixed if mixed is not None else (is_v6, is_v6)
            lo = lo if lo_v6 else ipa.V4_MAPPED_BASE | lo
            hi = hi if hi_v6 else ipa.V4_MAPPED_BASE | hi
        if lo > hi:
            raise self.fail("Invalid range: start is greater than end")
        builder._add_keys([lo], [hi], value)

    def add_proto_port(self, lo: int, hi: int, label: str) -> None:
        builder = self.builder
        self.started_range()
        value = builder.label_id(label)
        if builder.mode != "proto-port":
            raise self.fail(
                "Invalid proto/port input in IP prefix map input file"
            )
        if lo > hi:
            raise self.fail("Invalid range: start is greater than end")
        builder._add_keys([lo], [hi], value)


def parse_pmap_text(
    text: str, *, path: str | None = None, mode: str | None = None
) -> PrefixMapBuilder:
    """Parse rwpmapbuild input (spec 4.4) into a builder.

    ``mode`` plays the part of ``--mode`` (a ``mode`` statement must then
    agree).  Raises :class:`PrefixMapSyntaxError` (``path:line: message``)
    at the first invalid statement.
    """
    return _PmapTextParser(path, mode).parse(text)


# --------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class PrefixMapHit:
    """Result of a look-up: the label and the trie block holding the key.

    ``start``/``end`` are the first and last key of the block and
    ``prefix`` its CIDR prefix length (in the 32- or 128-bit key space),
    as ``rwpmaplookup --fields=block`` shows them.
    """

    key: int
    value: int
    label: str
    start: int
    end: int
    prefix: int


class PrefixMap:
    """A prefix map read from a file (or built): look-ups and walks."""

    def __init__(
        self,
        *,
        mode: str,
        record_version: int,
        words: npt.NDArray[np.uint32],
        labels: Sequence[str | None] | None,
        map_name: str | None = None,
        header: FileHeader | None = None,
    ) -> None:
        self.mode = mode
        self.record_version = record_version
        self.map_name = map_name
        self.header = header
        self._words = np.ascontiguousarray(words, dtype=np.uint32).reshape(-1)
        self._key_bits = _KEY_BITS[mode]
        words_list = list(labels or ())
        self._labels: tuple[str, ...] = tuple(w or "" for w in words_list)
        self._index: dict[bytes, int] = {}
        for i, word in enumerate(words_list):
            if word:
                self._index.setdefault(_ascii_fold(word), i)
        self._max_label_len = max(
            (_byte_len(w) for w in words_list if w), default=0
        )

    # -- reading ------------------------------------------------------------

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PrefixMap:
        """Read and validate a prefix map file.

        Raises:
            OSError: the file cannot be opened.
            SilkFormatError: the SiLK header is invalid (bad magic, ...).
            PrefixMapFileError: not a prefix map, or truncated
                (:class:`PrefixMapTruncatedError`) or inconsistent
                (:class:`PrefixMapCorruptError`).
        """
        with open(path, "rb") as fh:
            data = fh.read()
        return cls.from_bytes(data, path=os.fspath(path))

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, *, path: str | None = None
    ) -> PrefixMap:
        """Parse a whole prefix map file held in memory."""
        where = f"'{path}'" if path is not None else "'<stream>'"
        header = read_header(data, path)
        if header.format != FileFormat.FT_PREFIXMAP:
            raise PrefixMapFileError(
                f"Failed to read prefix map {where}: file is "
                f"{format_name(header.format)}, not FT_PREFIXMAP(0x25)"
            )
        version = header.record_version
        if version not in _VERSION_MODE:
            raise PrefixMapFileError(
                f"Failed to read prefix map {where}: Invalid version, type, "
                f"or compression method in file header (record version "
                f"{version})"
            )
        if header.compression != Compression.NONE:
            raise PrefixMapFileError(
                f"Failed to read prefix map {where}: Unrecognized prefix map "
                f"compression method"
            )
        assert header.length is not None  # noqa: S101 - set by read_header
        payload = memoryview(data).cast("B")[header.length :]
        fmt = "<I" if header.byte_order == "little" else ">I"
        if len(payload) < 4:
            raise PrefixMapTruncatedError(
                f"Failed to read prefix map {where}: Failed to read record "
                f"count (read {len(payload)} bytes of 4 expected)"
            )
        (n_nodes,) = struct.unpack_from(fmt, payload)
        if n_nodes < 1:
            raise PrefixMapCorruptError(
                f"Failed to read prefix map {where}: Input file contains "
                f"invalid prefix map (record count is 0)"
            )
        tree_len = 8 * n_nodes
        if len(payload) - 4 < tree_len:
            raise PrefixMapTruncatedError(
                f"Failed to read prefix map {where}: Failed to read record "
                f"data (read {len(payload) - 4} bytes of {tree_len} expected)"
            )
        dtype = np.dtype("<u4" if header.byte_order == "little" else ">u4")
        words = np.frombuffer(
            payload, dtype=dtype, count=2 * n_nodes, offset=4
        ).astype(np.uint32)
        labels: list[str | None] | None = None
        if version in (2, 3, 4):
            labels = _read_dictionary(payload[4 + tree_len :], fmt, where)
        used = _validate(words, n_nodes, _KEY_BITS[_VERSION_MODE[version]],
                         where)  # fmt: skip
        map_name = None
        for entry in header.entries:
            if isinstance(entry, PrefixMapEntry):
                if entry.version == 1:
                    map_name = entry.name
                break
        return cls(
            mode=_VERSION_MODE[version],
            record_version=version,
            words=words[: 2 * used],
            labels=labels,
            map_name=map_name,
            header=header,
        )

    # -- properties ---------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """Dictionary in id order (gaps as empty strings)."""
        return self._labels

    @property
    def node_count(self) -> int:
        """Number of valid trie nodes."""
        return int(self._words.shape[0] // 2)

    @property
    def key_bits(self) -> int:
        """32 (ipv4, proto-port) or 128 (ipv6)."""
        return self._key_bits

    @property
    def max_label_length(self) -> int:
        """SiLK's column width for labels (10 when there are none)."""
        return self._max_label_len if self._labels else 10

    def label(self, value: int) -> str:
        """Text of a leaf value, as SiLK's dictionary look-up gives it."""
        # record versions 1 and 5 (country codes) have no dictionary;
        # SiLK's generic tools print their values as numbers too
        if value >= len(self._labels):
            if value in (NO_VALUE, _NOT_FOUND):
                return "UNKNOWN"
            return str(value)
        return self._labels[value]

    def value_of(self, label: str) -> int | None:
        """Id of a label text (ASCII case ignored), or None."""
        return self._index.get(_ascii_fold(label))

    # -- look-ups -----------------------------------------------------------

    def key(self, key: Any) -> int | None:
        """Key of an address/pair for this map, None when not applicable.

        As SiLK does, an IPv6 address looked up in an IPv4 map is
        converted when it is ``::ffff:a.b.c.d`` and is not found
        otherwise; an IPv4 address in an IPv6 map becomes
        ``::ffff:a.b.c.d``.
        """
        if self.mode == "proto-port":
            return _proto_port_key(key)
        value, is_v6 = ipa.address_key(key)
        if self.mode == "ipv4":
            return ipa.unmap_v4(value) if is_v6 else value
        return value if is_v6 else ipa.V4_MAPPED_BASE | value

    def get(self, key: Any) -> PrefixMapHit | None:
        """Look ``key`` up; None for an IPv6 key an IPv4 map cannot hold."""
        k = self.key(key)
        if k is None:
            return None
        return self.get_key(k)

    def get_key(self, k: int) -> PrefixMapHit:
        """Look up a key already in the map's key space (an integer)."""
        if self._key_bits == 32:
            values, depths = self.lookup(np.array([k], dtype=np.uint32))
        else:
            values, depths = self.lookup(ipa.keys128([k]))
        value, prefix = int(values[0]), int(depths[0])
        start, end = ipa.cidr_range(k, prefix, self._key_bits)
        return PrefixMapHit(k, value, self.label(value), start, end, prefix)

    def lookup(
        self, keys: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8]]:
        """Batch look-up in C: ``(values, prefixes)`` for each key.

        Keys are in the map's key space: a 1-D uint32 array for ipv4 and
        proto-port maps; ``(n, 2)`` uint64 or ``(n, 16)`` uint8 for ipv6.
        """
        mod = _pmap_lib()
        ffi = mod.ffi
        if self._key_bits == 32:
            karr: npt.NDArray[Any] = _as_u32(keys, ipa.MAX_V4)
            n = karr.shape[0]
        else:
            karr = ipa.as_keys128(keys)
            n = karr.shape[0]
        values = np.empty(n, dtype=np.uint32)
        depths = np.empty(n, dtype=np.uint8)
        if n == 0:
            return values, depths
        words = ffi.cast("const uint32_t *", ffi.from_buffer(self._words))
        if self._key_bits == 32:
            status = mod.lib.pse_pmap_lookup32(
                words, self.node_count,
                ffi.cast("const uint32_t *", ffi.from_buffer(karr)), n,
                ffi.cast("uint32_t *", ffi.from_buffer(values)),
                ffi.cast("uint8_t *", ffi.from_buffer(depths)),
            )  # fmt: skip
        else:
            status = mod.lib.pse_pmap_lookup128(
                words, self.node_count,
                ffi.cast("const uint64_t *", ffi.from_buffer(karr)), n,
                ffi.cast("uint32_t *", ffi.from_buffer(values)),
                ffi.cast("uint8_t *", ffi.from_buffer(depths)),
            )  # fmt: skip
        _check(status, "Corrupt prefix map")
        return values, depths

    # -- walking ------------------------------------------------------------

    def ranges(
        self, *, merge: bool = True
    ) -> tuple[
        npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint32]
    ]:
        """All ranges in key order: ``(starts, ends, values)``.

        ``starts``/``ends`` are ``(n, 2)`` uint64 (upper half first).  With
        ``merge`` adjacent leaves of one value form one range, as
        rwpmapcat's iterator does; without it every trie leaf is a range.
        """
        mod = _pmap_lib()
        ffi = mod.ffi
        words = ffi.cast("const uint32_t *", ffi.from_buffer(self._words))
        count = ffi.new("size_t *")
        _check(
            mod.lib.pse_pmap_ranges(
                words, self.node_count, self._key_bits, int(merge),
                ffi.NULL, ffi.NULL, ffi.NULL, 0, count,
            ),
            "Corrupt prefix map",
        )  # fmt: skip
        n = int(count[0])
        starts = np.empty((n, 2), dtype=np.uint64)
        ends = np.empty((n, 2), dtype=np.uint64)
        values = np.empty(n, dtype=np.uint32)
        _check(
            mod.lib.pse_pmap_ranges(
                words, self.node_count, self._key_bits, int(merge),
                ffi.cast("uint64_t *", ffi.from_buffer(starts)),
                ffi.cast("uint64_t *", ffi.from_buffer(ends)),
                ffi.cast("uint32_t *", ffi.from_buffer(values)),
                n, count,
            ),
            "Corrupt prefix map",
        )  # fmt: skip
        if self.mode == "proto-port":
            # keys are 24 bits wide; rwpmapcat stops at 255/65535
            keep = starts[:, 1] <= _MAX_PROTO_PORT_KEY
            starts, ends, values = starts[keep], ends[keep], values[keep]
            np.minimum(ends[:, 1], _MAX_PROTO_PORT_KEY, out=ends[:, 1])
        return starts, ends, values

    def iter_values(
        self, *, merge: bool = True
    ) -> Iterator[tuple[int, int, int]]:
        """Yield ``(start_key, end_key, value)`` in key order."""
        starts, ends, values = self.ranges(merge=merge)
        if self._key_bits == 32:
            yield from zip(
                starts[:, 1].tolist(), ends[:, 1].tolist(), values.tolist(),
                strict=True,
            )  # fmt: skip
            return
        s_hi, s_lo = starts[:, 0].tolist(), starts[:, 1].tolist()
        e_hi, e_lo = ends[:, 0].tolist(), ends[:, 1].tolist()
        for i, value in enumerate(values.tolist()):
            yield (
                (s_hi[i] << 64) | s_lo[i],
                (e_hi[i] << 64) | e_lo[i],
                value,
            )

    def iter_ranges(
        self, *, merge: bool = True
    ) -> Iterator[tuple[int, int, str]]:
        """Yield ``(start_key, end_key, label)`` as rwpmapcat lists them."""
        for start, end, value in self.iter_values(merge=merge):
            yield start, end, self.label(value)

    def key_text(self, key: int) -> str:
        """A key as SiLK prints it (address, or ``proto/port``)."""
        if self.mode == "proto-port":
            return f"{key >> 16}/{key & 0xFFFF}"
        if self.mode == "ipv4":
            return ipa.format_ipv4(key)
        return ipa.format_ipv6(key)

    def __repr__(self) -> str:
        return (
            f"<PrefixMap {self.mode} name={self.map_name!r} "
            f"labels={len(self._labels)} nodes={self.node_count}>"
        )


def _read_dictionary(
    rest: memoryview, fmt: str, where: str
) -> list[str | None]:
    if len(rest) < 4:
        raise PrefixMapTruncatedError(
            f"Failed to read prefix map {where}: Failed to read dictionary "
            f"entry count (read {len(rest)} bytes of 4 expected)"
        )
    (size,) = struct.unpack_from(fmt, rest)
    if size == 0:
        return []
    body = bytes(rest[4 : 4 + size])
    if len(body) < size:
        raise PrefixMapTruncatedError(
            f"Failed to read prefix map {where}: Failed to read dictionary "
            f"entries (read {len(body)} bytes of {size} expected)"
        )
    # words end at NULs; bytes after the last NUL are ignored (as SiLK)
    pieces = body.split(b"\0")[:-1]
    labels: list[str | None] = []
    seen: set[bytes] = set()
    for piece in pieces:
        if not piece:
            labels.append(None)
            continue
        folded = piece.lower()
        if folded in seen:
            raise PrefixMapCorruptError(
                f"Failed to read prefix map {where}: Duplicate dictionary ID "
                f"or word '{piece.decode('utf-8', 'replace')}'"
            )
        seen.add(folded)
        labels.append(piece.decode("utf-8", "surrogateescape"))
    return labels


def _validate(
    words: npt.NDArray[np.uint32], n_nodes: int, key_bits: int, where: str
) -> int:
    mod = _pmap_lib()
    ffi = mod.ffi
    used = ffi.new("size_t *")
    bad = ffi.new("size_t *")
    status = mod.lib.pse_pmap_validate(
        ffi.cast("const uint32_t *", ffi.from_buffer(words)),
        n_nodes, key_bits, used, bad,
    )  # fmt: skip
    if status == mod.lib.PSE_ERR_CORRUPT:
        raise PrefixMapCorruptError(
            f"Failed to read prefix map {where}: Prefix map is malformed "
            f"(contains invalid child at node {bad[0]})"
        )
    if status == mod.lib.PSE_ERR_RANGE:
        raise PrefixMapCorruptError(
            f"Failed to read prefix map {where}: Prefix map is malformed "
            f"(contains invalid depth: a path through node {bad[0]} is "
            f"longer than {key_bits} levels or loops)"
        )
    _check(status, f"Failed to read prefix map {where}")
    return int(used[0])


# --------------------------------------------------------------------------
# Text output (rwpmapcat, rwpmaplookup)


_OUTPUT_TYPES = ("type", "mapname", "labels", "ranges")


def _cidr_blocks(
    start: int, end: int, width: int
) -> Iterator[tuple[int, int]]:
    """Canonical CIDR blocks of [start, end] (SiLK's skCIDRComputePrefix)."""
    while True:
        size = (start & -start).bit_length() - 1 if start else width
        size = min(size, width)
        while size > 0 and start + (1 << size) - 1 > end:
            size -= 1
        yield start, width - size
        start += 1 << size
        if start > end:
            return


def format_rwpmapcat(
    pmap: PrefixMap,
    *,
    output_types: str | Iterable[str] = ("ranges",),
    no_cidr_blocks: bool = False,
    ignore_label: str | None = None,
    left_justify_labels: bool = False,
    no_titles: bool = False,
    no_columns: bool = False,
    column_separator: str = "|",
    no_final_delimiter: bool = False,
) -> str:
    """Return what ``rwpmapcat`` prints for ``pmap`` with these switches.

    Reproduces SiLK 3.19.1's layout (column widths, titles, CIDR
    splitting of each merged range, label order); the fixtures under
    ``fixtures/silk/pmap`` are the reference.
    """
    if isinstance(output_types, str):
        output_types = output_types.split(",")
    wanted = set()
    for name in output_types:
        if name not in _OUTPUT_TYPES:
            raise PrefixMapError(
                f"Invalid output-types: Unrecognized value '{name}'"
            )
        wanted.add(name)
    ignore_val: int | None = None
    if ignore_label is not None:
        if not pmap.labels:
            text = ignore_label.strip()
            if not (text.isdigit() and int(text) <= NO_VALUE):
                raise PrefixMapError(
                    f"Invalid ignore-label '{ignore_label}': Value not in "
                    f"dictionary"
                )
            ignore_val = int(text)
        else:
            ignore_val = pmap.value_of(ignore_label)
            if ignore_val is None:
                raise PrefixMapError(
                    f"Invalid ignore-label '{ignore_label}': Value not in "
                    f"dictionary"
                )
    out: list[str] = []
    if "type" in wanted:
        out.append(("" if no_titles else "TYPE:  ") + _CONTENT_NAME[pmap.mode])
    if "mapname" in wanted:
        if pmap.map_name is None:
            out.append("NO MAPNAME IS PRESENT")
        else:
            out.append(("" if no_titles else "MAPNAME:  ") + pmap.map_name)
    if "labels" in wanted:
        if not pmap.labels:
            out.append("NO LABELS ARE PRESENT; VALUE IS APPLICATION DEPENDENT")
        else:
            if not no_titles:
                out.append("LABELS:")
            out.extend(pmap.labels)
        if "ranges" in wanted:
            out.append("")
    text = "".join(line + "\n" for line in out)
    if "ranges" in wanted:
        text += _format_ranges(
            pmap, ignore_val, no_cidr_blocks=no_cidr_blocks,
            left=left_justify_labels, no_titles=no_titles,
            no_columns=no_columns, sep=column_separator,
            final=not no_final_delimiter,
        )  # fmt: skip
    return text


def _format_ranges(
    pmap: PrefixMap,
    ignore_val: int | None,
    *,
    no_cidr_blocks: bool,
    left: bool,
    no_titles: bool,
    no_columns: bool,
    sep: str,
    final: bool,
) -> str:
    title = "label" if pmap.labels else "value"
    end = sep if final else ""
    if no_columns:
        key_w = label_w = 0
    else:
        label_w = max(pmap.max_label_length, len(title))
        if pmap.mode == "proto-port":
            key_w = 9
        elif no_cidr_blocks:
            key_w = 39 if pmap.mode == "ipv6" else 15
        else:
            key_w = 43 if pmap.mode == "ipv6" else 18
    lab = _ljust if left else _rjust
    lines: list[str] = []
    pp = pmap.mode == "proto-port"
    if not no_titles:
        if pp:
            lines.append(
                f"{'startPair':>{key_w}}{sep}{'endPair':>{key_w}}{sep}"
                f"{lab(title, label_w)}{end}"
            )
        elif no_cidr_blocks:
            lines.append(
                f"{'startIP':>{key_w}}{sep}{'endIP':>{key_w}}{sep}"
                f"{lab(title, label_w)}{end}"
            )
        else:
            lines.append(
                f"{'ipBlock':>{key_w}}{sep}{lab(title, label_w)}{end}"
            )
    width = pmap.key_bits
    for start, stop, value in pmap.iter_values():
        if value == ignore_val:
            continue
        label = lab(pmap.label(value), label_w)
        if pp or no_cidr_blocks:
            lines.append(
                f"{pmap.key_text(start):>{key_w}}{sep}"
                f"{pmap.key_text(stop):>{key_w}}{sep}{label}{end}"
            )
            continue
        for block, prefix in _cidr_blocks(start, stop, width):
            lines.append(
                f"{pmap.key_text(block) + '/' + str(prefix):>{key_w}}{sep}"
                f"{label}{end}"
            )
    return "".join(line + "\n" for line in lines)


_LOOKUP_FIELDS = ("key", "value", "input", "block", "start-block", "end-block")


def format_rwpmaplookup(
    pmap: PrefixMap,
    inputs: Iterable[str],
    *,
    fields: str | Sequence[str] = ("key", "value"),
    no_titles: bool = False,
    column_separator: str = "|",
    no_final_delimiter: bool = False,
) -> str:
    """Return what ``rwpmaplookup --map-file=M --no-files INPUTS`` prints.

    An input that does not parse, or an IPv6 address an IPv4 map cannot
    hold, gives a row with only the ``input`` column filled (or no row
    when ``input`` is not among the fields), as rwpmaplookup does.
    """
    if isinstance(fields, str):
        fields = fields.split(",")
    for name in fields:
        if name not in _LOOKUP_FIELDS:
            raise PrefixMapError(
                f"Invalid fields: Unrecognized field '{name}'"
            )
    value_w = 22
    if pmap.labels:
        value_w = max(pmap.max_label_length, 5)
    input_w = 22
    if pmap.mode == "proto-port":
        key_w, block_w = 9, 19
    elif pmap.mode == "ipv6":
        key_w, block_w, input_w = 39, 43, 39
    else:
        key_w, block_w = 15, 18
    widths = {
        "key": key_w, "value": value_w, "input": input_w, "block": block_w,
        "start-block": key_w, "end-block": key_w,
    }  # fmt: skip
    end = "" if no_final_delimiter else column_separator
    lines: list[str] = []
    if not no_titles:
        lines.append(
            column_separator.join(
                f"{name[: widths[name]]:>{widths[name]}}" for name in fields
            )
            + end
        )
    for text in inputs:
        cells = _lookup_cells(pmap, text)
        if cells is None:
            if "input" not in fields:
                continue
            cells = {name: "" for name in fields}
            cells["input"] = text
        lines.append(
            column_separator.join(
                _rjust(cells[name], widths[name]) for name in fields
            )
            + end
        )
    return "".join(line + "\n" for line in lines)


def _lookup_cells(pmap: PrefixMap, text: str) -> dict[str, str] | None:
    try:
        key = pmap.key(text.strip())
    except (ValueError, TypeError):
        return None
    if key is None:
        return None
    hit = pmap.get_key(key)
    if pmap.mode == "proto-port":
        first, last = _proto_port_block(hit)
        block = f"{first} {last}"
    else:
        first, last = pmap.key_text(hit.start), pmap.key_text(hit.end)
        block = f"{first}/{hit.prefix}"
    return {
        "key": pmap.key_text(key),
        "value": hit.label,
        "input": text,
        "block": block,
        "start-block": first,
        "end-block": last,
    }


def _proto_port_block(hit: PrefixMapHit) -> tuple[str, str]:
    # keys live in 24 bits; a leaf above them covers every pair
    start = hit.start if hit.prefix >= 8 else 0
    end = hit.end if hit.prefix >= 8 else _MAX_PROTO_PORT_KEY
    return (
        f"{start >> 16}/{start & 0xFFFF}",
        f"{end >> 16}/{end & 0xFFFF}",
    )
