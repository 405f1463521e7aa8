# SPDX-License-Identifier: MIT
"""SiLK site configuration (``silk.conf``): parse, look up, write, extend.

SiLK tools turn the sensor and flowtype ids stored in every flow record
into names, and build repository paths, from ``silk.conf`` (spec section
6).  This module reads that file with the lexical and validation rules of
SiLK 3.19.1's own parser (checked against ``rwsiteinfo``), so a file we
accept is a file SiLK accepts and an error names the same line.

Public API::

    SiteConfig                          parsed site (sensors, classes, ...)
    SensorInfo, FlowtypeInfo, ClassInfo one entry of each kind
    parse_siteconf(text, path=...)      -> SiteConfig
    load_siteconf(path)                 -> SiteConfig (follows includes)
    locate_siteconf(site_config_file=None, data_rootdir=None, environ=None)
    format_siteconf(site) -> str        a valid silk.conf for a SiteConfig
    write_siteconf(path, site)          atomic write of format_siteconf()
    add_sensor(path, name, description=None, classes=("all",)) -> int
    add_sensors(path, [(name, description), ...], classes=...) -> [int]

Deliberate differences from SiLK 3.19.1, each safer than the original:

* ``default-types`` outside a ``class`` block makes SiLK's parser stop
  silently (the rest of the file is ignored and no error is printed); we
  report "Command 'default-types' not allowed in top level".
* A comment on the last line without a final newline is a comment (SiLK
  echoes it to stdout).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from pathlib import Path

from pysilk_ext.errors import SiteConfigError

#: Layout used when silk.conf has no ``path-format`` (spec 6.4).
DEFAULT_PATH_FORMAT = "%T/%Y/%m/%d/%x"
#: Compiled-in data root of SiLK (``/data``); silk.conf is looked up there.
DEFAULT_DATA_ROOTDIR = "/data"
SILK_CONF_NAME = "silk.conf"

#: Newest silk.conf ``version`` (2 added sensor descriptions).
CURRENT_VERSION = 2
MAX_SENSOR_ID = 65534  # 65535 is SK_INVALID_SENSOR
MAX_FLOWTYPE_ID = 254  # 255 is SK_INVALID_FLOWTYPE
MAX_CLASSES = 32
MAX_GROUPS = 255
MAX_SENSOR_NAME = 64
MAX_FLOWTYPE_NAME = 32  # also class and type names
MAX_INCLUDE_DEPTH = 16
MAX_STRING = 2046  # SiLK's 2048-byte quoted-string buffer, as it behaves

#: Characters that may form an unquoted argument (SiLK's "atom").
ATOM_CHARS = frozenset(
    "-._/@ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)
_BAD_FLOWTYPE_CHARS = frozenset("\t\n\v\f\r \b\a\"'\\/")
_BAD_SENSOR_CHARS = _BAD_FLOWTYPE_CHARS | {"_"}
_WS = " \t\r"
_KEYWORDS = frozenset(
    {
        "class",
        "default-class",
        "default-types",
        "group",
        "include",
        "path-format",
        "packing-logic",
        "sensor",
        "sensors",
        "type",
        "version",
    }
)
#: Commands allowed in each context; the others get "not allowed in ...".
_ALLOWED = {
    "top level": frozenset(
        {
            "class",
            "default-class",
            "group",
            "include",
            "path-format",
            "packing-logic",
            "sensor",
            "version",
        }
    ),
    "class": frozenset({"default-types", "sensors", "type", "end class"}),
    "group": frozenset({"sensors", "end group"}),
}
#: path-format conversions SiLK knows (spec 6.4).
PATH_FORMAT_CONVERSIONS = frozenset("%CFHNTYdfmnx")


# --------------------------------------------------------------------------
# The parsed site


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """One ``sensor ID NAME ["description"]`` line."""

    id: int
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FlowtypeInfo:
    """One ``type ID TYPENAME [FLOWTYPENAME]`` line of a class.

    ``name`` is the flowtype name used in file names (``ow``), ``type`` the
    type name used for directories and ``--type`` (``outweb``).
    """

    id: int
    name: str
    class_name: str
    type: str


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """A class: its sensors and flowtypes, in the order SiLK keeps them."""

    id: int
    name: str
    sensors: tuple[int, ...]
    flowtypes: tuple[int, ...]
    default_flowtypes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """A parsed ``silk.conf``.

    Mappings iterate in SiLK's orders: sensors and flowtypes by id, classes
    and groups in order of first appearance.  Records store ids and
    repository files store names, so both directions are offered.
    """

    sensors: Mapping[int, SensorInfo]
    classes: Mapping[str, ClassInfo]
    flowtypes: Mapping[int, FlowtypeInfo]
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    default_class: str | None = None
    path_format: str = DEFAULT_PATH_FORMAT
    packing_logic: str | None = None
    version: int | None = None
    path: Path | None = None

    # -- sensors ----------------------------------------------------------

    def sensor(self, key: int | str) -> SensorInfo | None:
        """Return the sensor with this id or name, or ``None``."""
        if isinstance(key, int):
            return self.sensors.get(key)
        return self._sensor_names().get(key)

    def sensor_id(self, name: str) -> int:
        """Return the id of sensor ``name``.

        Raises:
            SiteConfigError: no such sensor.
        """
        info = self.sensor(name)
        if info is None:
            raise SiteConfigError(f"Unknown sensor '{name}'")
        return info.id

    def sensor_name(self, sensor_id: int) -> str:
        """Return the name of a sensor id, or the id as text like rwcut."""
        info = self.sensors.get(sensor_id)
        return info.name if info is not None else str(sensor_id)

    def sensor_classes(self, sensor_id: int) -> tuple[str, ...]:
        """Return the names of the classes the sensor belongs to."""
        return tuple(
            cls.name
            for cls in self.classes.values()
            if sensor_id in cls.sensors
        )

    def _sensor_names(self) -> dict[str, SensorInfo]:
        return {s.name: s for s in self.sensors.values()}

    # -- flowtypes --------------------------------------------------------

    def flowtype(self, key: int | str) -> FlowtypeInfo | None:
        """Return the flowtype with this id or flowtype name (``ow``)."""
        if isinstance(key, int):
            return self.flowtypes.get(key)
        for info in self.flowtypes.values():
            if info.name == key:
                return info
        return None

    def flowtype_for(
        self, class_name: str, type_name: str
    ) -> FlowtypeInfo | None:
        """Return the flowtype of a class/type pair (``all``, ``outweb``)."""
        for info in self.flowtypes.values():
            if info.class_name == class_name and info.type == type_name:
                return info
        return None

    def flowtype_id(self, class_name: str, type_name: str) -> int:
        """Return the id of a class/type pair.

        Raises:
            SiteConfigError: the pair is not defined.
        """
        info = self.flowtype_for(class_name, type_name)
        if info is None:
            raise SiteConfigError(
                f"The type '{type_name}' is not defined in class "
                f"'{class_name}'"
            )
        return info.id

    def default_types(self, class_name: str | None = None) -> tuple[str, ...]:
        """Return the default type names of a class (default class)."""
        cls = self.classes.get(class_name or self.default_class or "")
        if cls is None:
            return ()
        return tuple(self.flowtypes[f].type for f in cls.default_flowtypes)

    # -- widths used by SiLK's text output ---------------------------------

    @property
    def max_sensor_name_length(self) -> int:
        """Width rwcut gives the sensor column (longest sensor name)."""
        return max((len(s.name) for s in self.sensors.values()), default=0)


# --------------------------------------------------------------------------
# Lexer (mirrors SiLK's flex rules; see module docstring)


@dataclass(slots=True)
class _Token:
    kind: str  # "int", "atom" or "string"
    text: str


@dataclass(slots=True)
class _Statement:
    lineno: int
    command: str | None  # keyword, "end class", "end group"; None if bad
    args: list[_Token] = field(default_factory=list)
    bad_args: bool = False  # the argument list could not be lexed
    unknown: str | None = None  # text of an unknown command
    unrecognizable: bool = False


class _Lexer:
    """Split silk.conf text into statements the way SiLK's scanner does."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_ws(self) -> None:
        while self._peek() in _WS and self._peek():
            self.pos += 1

    def _atom_run(self) -> str:
        start = self.pos
        while self._peek() and self._peek() in ATOM_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def _skip_line(self) -> None:
        """Discard the rest of the line, including its newline."""
        end = self.text.find("\n", self.pos)
        if end < 0:
            self.pos = len(self.text)
        else:
            self.pos = end + 1
            self.line += 1

    def statements(self) -> Iterator[_Statement]:
        while self.pos < len(self.text):
            self._skip_ws()
            ch = self._peek()
            if not ch:
                return
            if ch in "#\n":
                self._skip_line()
                continue
            stmt = _Statement(self.line, None)
            word = self._atom_run()
            if not word:
                stmt.unrecognizable = True
                self._skip_line()
                yield self._ended(stmt)
                continue
            if word == "end":
                save = self.pos
                self._skip_ws()
                if self.pos > save:
                    target = self._atom_run()
                    if target in ("class", "group"):
                        stmt.command = f"end {target}"
                    elif target:
                        stmt.unknown = self.text[save - 3 : self.pos]
                    else:
                        self.pos = save
                        stmt.unknown = "end"
                else:
                    stmt.unknown = "end"
            elif word in _KEYWORDS:
                stmt.command = word
            else:
                stmt.unknown = word
            if stmt.unknown is not None:
                self._skip_line()
            else:
                self._lex_args(stmt)
            yield self._ended(stmt)

    def _ended(self, stmt: _Statement) -> _Statement:
        """Date the statement by its last line, where SiLK reports it."""
        ended_by_newline = self.pos > 0 and self.text[self.pos - 1] == "\n"
        stmt.lineno = self.line - 1 if ended_by_newline else self.line
        return stmt

    def _lex_args(self, stmt: _Statement) -> None:
        while True:
            self._skip_ws()
            ch = self._peek()
            if not ch:
                return
            if ch in "#\n":
                self._skip_line()
                return
            if ch in ATOM_CHARS:
                run = self._atom_run()
                kind = "int" if run.isdigit() else "atom"
                stmt.args.append(_Token(kind, run))
                continue
            if ch == '"':
                self.pos += 1
                value = self._lex_string()
                if value is None:
                    stmt.bad_args = True
                    return
                stmt.args.append(_Token("string", value))
                continue
            stmt.bad_args = True
            self._skip_line()
            return

    def _lex_string(self) -> str | None:
        """Return the string after an opening quote, or None on error."""
        out: list[str] = []
        size = 0
        text = self.text
        while True:
            if self.pos >= len(text):
                return None  # unterminated at end of file
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\n":
                # Unterminated: SiLK's parser then discards tokens up to
                # the next newline, so the following line goes too.
                self.pos += 1
                self.line += 1
                self._skip_line()
                return None
            if ch == "\\":
                nxt = text[self.pos + 1 : self.pos + 2]
                if nxt.isdigit() and nxt.isascii():
                    end = self.pos + 1
                    while end < len(text) and text[end] in "0123456789":
                        end += 1
                    digits = text[self.pos + 1 : end]
                    if len(digits) > 3 or not set(digits) <= set("01234567"):
                        self._skip_line()
                        return None
                    value = int(digits, 8)
                    if value > 0xFF:
                        self._skip_line()
                        return None
                    out.append(chr(value))
                    self.pos = end
                elif nxt == "":
                    return None
                else:
                    # backslash-newline continues the string; SiLK does
                    # not count that line, and neither do we
                    out.append(_ESCAPES.get(nxt, nxt))
                    self.pos += 2
                size += 1
            else:
                end = self.pos
                while end < len(text) and text[end] not in '\\\n"':
                    end += 1
                out.append(text[self.pos : end])
                size += end - self.pos
                self.pos = end
            if size > MAX_STRING:
                self._skip_line()
                return None


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


# --------------------------------------------------------------------------
# Parser (SiLK's semantic rules and messages)


@dataclass(slots=True)
class _MutableClass:
    id: int
    name: str
    sensors: list[int] = field(default_factory=list)
    flowtypes: list[int] = field(default_factory=list)
    defaults: list[int] = field(default_factory=list)


class _Builder:
    """Accumulates a site while statements are applied, collecting errors."""

    def __init__(self) -> None:
        self.sensors: dict[int, SensorInfo] = {}
        self.sensor_by_name: dict[str, int] = {}
        self.classes: dict[str, _MutableClass] = {}
        self.flowtypes: dict[int, FlowtypeInfo] = {}
        self.groups: dict[str, list[int]] = {}
        self.default_class: str | None = None
        self.path_format = DEFAULT_PATH_FORMAT
        self.packing_logic: str | None = None
        self.version: int | None = None
        self.errors: list[str] = []
        self.where = ""
        self.stop = False

    def err(self, message: str) -> None:
        self.errors.append(f"{self.where}: {message}")

    # -- top level commands -------------------------------------------------

    def do_version(self, version: int) -> None:
        if self.version is not None and version != self.version:
            self.err("Multiple version commands specified")
        if version < 1 or version > CURRENT_VERSION:
            self.err(f"Unsupported version '{version}'")
            self.stop = True  # SiLK aborts the parse here
            return
        self.version = version

    def do_sensor(self, sid: int, name: str, description: str | None) -> None:
        if sid > MAX_SENSOR_ID:
            self.err(
                f"Sensor id '{sid}' is greater than maximum of {MAX_SENSOR_ID}"
            )
        elif len(name) > MAX_SENSOR_NAME:
            self.err(
                f"Sensor name '{name}' is longer than maximum of "
                f"{MAX_SENSOR_NAME}"
            )
        elif sid in self.sensors:
            self.err(f"A sensor with id '{sid}' already exists")
        elif name in self.sensor_by_name:
            self.err(f"A sensor with name '{name}' already exists")
        elif sensor_name_problem(name) is not None:
            self.err("Failed to create sensor")
        else:
            if description is not None and (
                self.version is not None and self.version < 2
            ):
                self.err(
                    "Sensor descriptions only allowed when file's version "
                    "is 2 or greater"
                )
                description = None
            self.sensors[sid] = SensorInfo(sid, name, description)
            self.sensor_by_name[name] = sid

    def do_path_format(self, fmt: str) -> None:
        problem = path_format_problem(fmt)
        for message in problem:
            self.err(message)
        self.path_format = fmt

    def do_class(self, name: str) -> _MutableClass | None:
        cls = self.classes.get(name)
        if cls is not None:
            return cls
        if len(name) > MAX_FLOWTYPE_NAME:
            self.err(
                f"The class-name '{name}' is longer than the maximum of "
                f"{MAX_FLOWTYPE_NAME}"
            )
        if (
            len(self.classes) >= MAX_CLASSES
            or flowtype_name_problem(name) is not None
        ):
            self.err("Failed to create class")
            return None
        cls = _MutableClass(len(self.classes), name)
        self.classes[name] = cls
        return cls

    def do_group(self, name: str) -> list[int] | None:
        if name in self.groups:
            return self.groups[name]
        if len(self.groups) >= MAX_GROUPS:
            self.err("Failed to create sensorgroup")
            return None
        self.groups[name] = []
        return self.groups[name]

    def do_default_class(self, name: str) -> None:
        cls = self.classes.get(name)
        if cls is None:
            self.err(
                f"Cannot set default class: class '{name}' is not defined"
            )
        elif not cls.flowtypes:
            self.err(
                f"Cannot set default class: class '{name}' contains no types"
            )
        elif not cls.sensors:
            self.err("Failed to set default class")
        else:
            self.default_class = name

    # -- inside blocks -------------------------------------------------------

    def add_sensors(
        self, members: list[int], names: list[str], kind: str, owner: str
    ) -> None:
        """``sensors`` inside a class or group block (``@group`` allowed)."""
        for name in names:
            if name.startswith("@"):
                group = self.groups.get(name[1:])
                if group is None:
                    self.err(
                        f"Cannot add group to {kind} '{owner}': group "
                        f"'{name}' is not defined"
                    )
                    continue
                ids = list(group)
            else:
                sid = self.sensor_by_name.get(name)
                if sid is None:
                    self.err(
                        f"Cannot add sensor to {kind} '{owner}': sensor "
                        f"'{name}' is not defined"
                    )
                    continue
                ids = [sid]
            for sid in ids:
                if sid not in members:
                    members.append(sid)

    def do_type(
        self, cls: _MutableClass | None, class_name: str, tid: int,
        type_name: str, ft_name: str | None,
    ) -> None:  # fmt: skip
        if len(type_name) > MAX_FLOWTYPE_NAME:
            self.err(
                f"The type-name '{type_name}' is longer than the maximum "
                f"of {MAX_FLOWTYPE_NAME}"
            )
        if ft_name is not None:
            if len(ft_name) > MAX_FLOWTYPE_NAME:
                self.err(
                    f"The flowtype-name '{ft_name}' is longer than the "
                    f"maximum of {MAX_FLOWTYPE_NAME}"
                )
        else:
            ft_name = class_name + type_name
            if len(ft_name) > MAX_FLOWTYPE_NAME:
                self.err(
                    f"The generated flowtype-name '{ft_name}' is longer "
                    f"than the maximum of {MAX_FLOWTYPE_NAME}"
                )
            # SiLK builds the name in a 32-byte buffer: 31 characters kept
            ft_name = ft_name[: MAX_FLOWTYPE_NAME - 1]
        if cls is None:
            return
        if tid > MAX_FLOWTYPE_ID:
            self.err(
                f"Type id '{tid}' is greater than maximum of {MAX_FLOWTYPE_ID}"
            )
        elif tid in self.flowtypes:
            self.err(f"A type with id '{tid}' already exists")
        elif any(f.name == ft_name for f in self.flowtypes.values()):
            self.err(f"A type with prefix '{ft_name}' already exists")
        elif any(self.flowtypes[f].type == type_name for f in cls.flowtypes):
            self.err(
                f"The type '{type_name}' for class '{cls.name}' already exists"
            )
        elif (
            flowtype_name_problem(ft_name) is not None
            or flowtype_name_problem(type_name) is not None
        ):
            self.err("Failed to create type")
        else:
            self.flowtypes[tid] = FlowtypeInfo(
                tid, ft_name, cls.name, type_name
            )
            cls.flowtypes.append(tid)

    def do_default_types(
        self, cls: _MutableClass | None, names: list[str]
    ) -> None:
        if cls is None:
            return
        for name in names:
            found = [
                f for f in cls.flowtypes if self.flowtypes[f].type == name
            ]
            if not found:
                self.err(
                    f"Cannot set default type in class '{cls.name}': type "
                    f"'{name}' is not defined"
                )
            elif found[0] not in cls.defaults:
                cls.defaults.append(found[0])

    def finish(self, path: Path | None) -> SiteConfig:
        # SiLK checks for empty classes only after a clean parse
        empty = [] if self.errors else list(self.classes.values())
        for cls in empty:
            if not cls.flowtypes:
                self.errors.append(
                    f"{path or '<string>'}: Site configuration error: class "
                    f"'{cls.name}' contains no types"
                )
        if self.errors:
            raise _site_error(self.errors)
        return SiteConfig(
            sensors=dict(sorted(self.sensors.items())),
            classes={
                c.name: ClassInfo(
                    c.id,
                    c.name,
                    tuple(c.sensors),
                    tuple(c.flowtypes),
                    tuple(c.defaults),
                )
                for c in self.classes.values()
            },
            flowtypes=dict(sorted(self.flowtypes.items())),
            groups={k: tuple(v) for k, v in self.groups.items()},
            default_class=self.default_class,
            path_format=self.path_format,
            packing_logic=self.packing_logic,
            version=self.version,
            path=path,
        )


def _site_error(errors: list[str]) -> SiteConfigError:
    """One exception for all problems; the first one leads the message."""
    message = errors[0]
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error(s))"
    exc = SiteConfigError(message)
    exc.errors = list(errors)  # type: ignore[attr-defined]
    return exc


def _one_word(
    handler: Callable[[_Parser, str], None],
) -> Callable[[_Parser, list[_Token]], bool]:
    """Make a handler of a command that takes exactly one argument (any
    other shape is SiLK's "Bad arguments")."""

    def checked(parser: _Parser, args: list[_Token]) -> bool:
        if len(args) != 1:
            return False
        handler(parser, args[0].text)
        return True

    return checked


class _Parser:
    """Applies statements in SiLK's three contexts (top, class, group)."""

    def __init__(self, builder: _Builder) -> None:
        self.b = builder
        self.context = "top level"
        self.current_class: _MutableClass | None = None
        self.current_class_name = ""
        self.current_group: list[int] | None = None
        self.current_group_name = ""
        self.depth = 0

    def run(self, text: str, name: str) -> None:
        self.depth += 1
        for stmt in _Lexer(text).statements():
            if self.b.stop:
                break
            self.b.where = f"{name}:{stmt.lineno}"
            self.apply(stmt)
        self.depth -= 1

    def apply(self, stmt: _Statement) -> None:
        b = self.b
        if stmt.unrecognizable:
            b.err("Unrecognizable command")
            return
        if stmt.unknown is not None:
            b.err(f"Unknown command '{stmt.unknown}'")
            return
        cmd = stmt.command
        assert cmd is not None  # noqa: S101 - lexer sets one of the three
        if cmd not in _ALLOWED[self.context]:
            b.err(f"Command '{cmd}' not allowed in {self.context}")
            return
        args = stmt.args
        if cmd in ("end class", "end group"):
            if args or stmt.bad_args:
                b.err(f"Command '{cmd}' does take arguments")
            self.context = "top level"
            self.current_class = None
            self.current_group = None
            return
        if stmt.bad_args:
            b.err(f"Bad arguments to command '{cmd}'")
            return
        handler = getattr(self, "cmd_" + cmd.replace("-", "_"))
        if not handler(args):
            b.err(f"Bad arguments to command '{cmd}'")

    # Each handler returns False when the argument shape is wrong.

    def cmd_version(self, args: list[_Token]) -> bool:
        if len(args) != 1 or args[0].kind != "int":
            return False
        self.b.do_version(int(args[0].text))
        return True

    def cmd_sensor(self, args: list[_Token]) -> bool:
        if len(args) not in (2, 3) or args[0].kind != "int":
            return False
        if len(args) == 3 and args[2].kind != "string":
            return False
        desc = args[2].text if len(args) == 3 else None
        self.b.do_sensor(int(args[0].text), args[1].text, desc)
        return True

    @_one_word
    def cmd_path_format(self, fmt: str) -> None:
        self.b.do_path_format(fmt)

    @_one_word
    def cmd_packing_logic(self, value: str) -> None:
        self.b.packing_logic = value

    @_one_word
    def cmd_include(self, name: str) -> None:
        path = Path(name)  # relative to the working directory, like SiLK
        if self.depth >= MAX_INCLUDE_DEPTH:
            self.b.err(
                f"Failed to include file '{name}' (includes nested too deeply)"
            )
            return
        if not path.is_file():
            self.b.err(
                f"Cannot include '{name}': File does not exist or is not a "
                f"regular file"
            )
            return
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            self.b.err(f"Failed to include file '{name}' ({exc.strerror})")
            return
        where = self.b.where
        self.run(text, name)
        self.b.where = where

    @_one_word
    def cmd_group(self, name: str) -> None:
        self.current_group = self.b.do_group(name)
        self.current_group_name = name
        self.context = "group"

    @_one_word
    def cmd_class(self, name: str) -> None:
        self.current_class = self.b.do_class(name)
        self.current_class_name = name
        self.context = "class"

    @_one_word
    def cmd_default_class(self, name: str) -> None:
        self.b.do_default_class(name)

    def cmd_sensors(self, args: list[_Token]) -> bool:
        names = [a.text for a in args]
        if self.context == "group":
            if self.current_group is not None:
                self.b.add_sensors(
                    self.current_group, names, "group",
                    self.current_group_name,
                )  # fmt: skip
        elif self.current_class is not None:
            self.b.add_sensors(
                self.current_class.sensors, names, "class",
                self.current_class_name,
            )  # fmt: skip
        return True

    def cmd_type(self, args: list[_Token]) -> bool:
        if len(args) not in (2, 3) or args[0].kind != "int":
            return False
        ft_name = args[2].text if len(args) == 3 else None
        self.b.do_type(
            self.current_class, self.current_class_name,
            int(args[0].text), args[1].text, ft_name,
        )  # fmt: skip
        return True

    def cmd_default_types(self, args: list[_Token]) -> bool:
        self.b.do_default_types(self.current_class, [a.text for a in args])
        return True


def parse_siteconf(text: str, path: str | Path | None = None) -> SiteConfig:
    """Parse silk.conf text; ``path`` names it in messages.

    ``include`` paths are opened relative to the working directory, as SiLK
    does.

    Raises:
        SiteConfigError: the file is invalid.  The message starts with
            ``path:line:`` of the first problem; ``exc.errors`` lists all.
    """
    builder = _Builder()
    name = str(path) if path is not None else "<string>"
    _Parser(builder).run(text, name)
    return builder.finish(Path(path) if path is not None else None)


def load_siteconf(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and parse the silk.conf at ``path``.

    Raises:
        SiteConfigError: the file cannot be read or is invalid.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise SiteConfigError(
            f"Cannot read config '{p}': File does not exist or is not a "
            f"regular file"
        ) from None
    except OSError as exc:
        raise SiteConfigError(
            f"Cannot read config '{p}': {exc.strerror}"
        ) from None
    return parse_siteconf(text, p)


def locate_siteconf(
    site_config_file: str | os.PathLike[str] | None = None,
    data_rootdir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Return the silk.conf a SiLK tool would use (spec 6.1).

    Order: ``--site-config-file``, ``$SILK_CONFIG_FILE``,
    ``DATA_ROOTDIR/silk.conf`` (``--data-rootdir``, else
    ``$SILK_DATA_ROOTDIR``, else ``/data``), ``$SILK_PATH/share/silk/``,
    and finally ``DATA_ROOTDIR/silk.conf`` even if absent (SiLK then says
    "Site configuration file not found").
    """
    env = os.environ if environ is None else environ
    if site_config_file is not None and str(site_config_file):
        return Path(site_config_file)
    from_env = env.get("SILK_CONFIG_FILE", "").lstrip()
    if from_env:
        return Path(from_env)
    root = Path(data_rootdir_of(data_rootdir, env))
    candidate = root / SILK_CONF_NAME
    if candidate.is_file():
        return candidate
    silk_path = env.get("SILK_PATH", "").strip()
    if silk_path:
        for sub in ("share/silk", "share"):
            alt = Path(silk_path) / sub / SILK_CONF_NAME
            if alt.is_file():
                return alt
    return candidate


def data_rootdir_of(
    data_rootdir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return the repository root a SiLK tool would use (spec 6.1)."""
    env = os.environ if environ is None else environ
    if data_rootdir is not None and str(data_rootdir):
        return str(data_rootdir)
    value = env.get("SILK_DATA_ROOTDIR", "").lstrip()
    return value or DEFAULT_DATA_ROOTDIR


# --------------------------------------------------------------------------
# Validation helpers (shared with the writer and the repository module)


def sensor_name_problem(name: str) -> str | None:
    """Return why ``name`` is not a legal sensor name, or ``None``."""
    return _name_problem(name, _BAD_SENSOR_CHARS, MAX_SENSOR_NAME, "sensor")


def flowtype_name_problem(name: str) -> str | None:
    """Return why ``name`` is not a legal class/type/flowtype name."""
    return _name_problem(name, _BAD_FLOWTYPE_CHARS, MAX_FLOWTYPE_NAME, "type")


def _name_problem(
    name: str, bad: frozenset[str], limit: int, what: str
) -> str | None:
    if not name:
        return f"The {what} name is empty"
    if len(name) > limit:
        return f"The {what} name '{name}' is longer than {limit} characters"
    if not (name[0].isascii() and name[0].isalpha()):
        return f"The {what} name '{name}' does not begin with a letter"
    for ch in name:
        if ch in bad:
            return f"The {what} name '{name}' contains the character {ch!r}"
    return None


def path_format_problem(fmt: str) -> list[str]:
    """Return SiLK's complaints about a path-format (empty when valid)."""
    problems: list[str] = []
    final_x = False
    i = 0
    while True:
        i = fmt.find("%", i)
        if i < 0:
            break
        if i + 1 >= len(fmt):
            problems.append(f"The path-format '{fmt}' ends with a single '%'")
            break
        conv = fmt[i + 1]
        if conv not in PATH_FORMAT_CONVERSIONS:
            problems.append(
                f"The path-format '{fmt}' contains an unknown conversion "
                f"'%{conv}'"
            )
        elif (
            conv == "x" and i + 2 == len(fmt) and (i == 0 or fmt[i - 1] == "/")
        ):
            final_x = True
        i += 2
    if not final_x:
        problems.append(f"The path-format '{fmt}' does not end with '/%x'")
    return problems


# --------------------------------------------------------------------------
# Writing


def quote(value: str) -> str:
    """Return ``value`` as a silk.conf argument: bare atom or quoted."""
    if value and all(ch in ATOM_CHARS for ch in value) and not value.isdigit():
        return value
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _quote_always(value: str) -> str:
    text = quote(value)
    return text if text.startswith('"') else f'"{text}"'


def format_siteconf(site: SiteConfig, *, comment: str | None = None) -> str:
    """Return silk.conf text that parses back to ``site``.

    Sensors come first (by id), then groups, then each class with its
    sensors, types and default types, then the defaults and paths.
    """
    lines: list[str] = []
    if comment:
        lines.extend(f"# {line}".rstrip() for line in comment.splitlines())
    version = site.version or CURRENT_VERSION
    lines.append(f"version {version}")
    lines.append("")
    for s in site.sensors.values():
        text = f"sensor {s.id} {quote(s.name)}"
        if s.description is not None and version >= 2:
            text += f" {_quote_always(s.description)}"
        lines.append(text)
    for gname, members in site.groups.items():
        lines.append("")
        lines.append(f"group {quote(gname)}")
        if members:
            names = " ".join(quote(site.sensors[m].name) for m in members)
            lines.append(f"    sensors {names}")
        lines.append("end group")
    for cls in site.classes.values():
        lines.append("")
        lines.append(f"class {quote(cls.name)}")
        if cls.sensors:
            names = " ".join(quote(site.sensors[m].name) for m in cls.sensors)
            lines.append(f"    sensors {names}")
        for fid in cls.flowtypes:
            ft = site.flowtypes[fid]
            lines.append(f"    type {fid} {quote(ft.type)} {quote(ft.name)}")
        if cls.default_flowtypes:
            names = " ".join(
                quote(site.flowtypes[f].type) for f in cls.default_flowtypes
            )
            lines.append(f"    default-types {names}")
        lines.append("end class")
    lines.append("")
    if site.default_class is not None:
        lines.append(f"default-class {quote(site.default_class)}")
    lines.append(f"path-format {_quote_always(site.path_format)}")
    if site.packing_logic is not None:
        lines.append(f"packing-logic {_quote_always(site.packing_logic)}")
    return "\n".join(lines) + "\n"


def write_siteconf(
    path: str | os.PathLike[str],
    site: SiteConfig,
    *,
    comment: str | None = None,
) -> None:
    """Write ``site`` to ``path`` atomically (temporary file + rename).

    The text is parsed again before it replaces anything, so a site that
    SiLK would refuse is never written.

    Raises:
        SiteConfigError: the site does not make a valid file.
        OSError: the file cannot be written.
    """
    text = format_siteconf(site, comment=comment)
    parse_siteconf(text, Path(path))
    _replace_text(Path(path), text)


def _replace_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (same mode, fsynced)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(
            fd, "w", encoding="utf-8", errors="surrogateescape"
        ) as fp:
            fp.write(text)
            fp.flush()
            os.fchmod(fp.fileno(), mode)
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------
# Adding sensors to a live silk.conf

_REGION_BEGIN = (
    "# BEGIN sensors added by pysilk_ext (add_sensor); keep this block"
)
_REGION_END = "# END sensors added by pysilk_ext"


def add_sensor(
    path: str | os.PathLike[str],
    name: str,
    description: str | None = None,
    *,
    classes: Iterable[str] = ("all",),
) -> int:
    """Add sensor ``name`` to the silk.conf at ``path``; return its id.

    Used by the converter for newly seen AWS interfaces.  The new sensor
    gets the next id after the highest one in use (ids of removed sensors
    are never reused: old records may still carry them) and joins
    ``classes``.  The file keeps its text: the sensor line and the class
    membership go into a marked block at its end, which later calls
    extend.  The update holds an exclusive lock on ``PATH.lock`` and
    replaces the file atomically, so concurrent converters each see the
    other's sensors and a crash leaves the old or the new file.

    If the sensor already exists its id is returned and nothing changes
    (it is not added to further classes).  A description is dropped when
    the file declares ``version 1`` (SiLK would refuse it).

    Raises:
        SiteConfigError: bad name, unknown class, no free id, or the
            current file is invalid.
        OSError: the file cannot be read or written.
    """
    return add_sensors(path, [(name, description)], classes=classes)[0]


def add_sensors(
    path: str | os.PathLike[str],
    sensors: Sequence[tuple[str, str | None]],
    *,
    classes: Iterable[str] = ("all",),
) -> list[int]:
    """Add several ``(name, description)`` sensors in one update.

    :func:`add_sensor` for many sensors at once: one lock, one parse, one
    atomic replacement, whatever their number (a first conversion can
    meet thousands of interfaces).  Ids follow the order given; names
    already present keep their ids.  Returns the id of each sensor.

    Raises:
        SiteConfigError, OSError: as :func:`add_sensor`; on error nothing
            is written.
    """
    for name, _ in sensors:
        problem = sensor_name_problem(name)
        if problem is not None:
            raise SiteConfigError(f"Invalid sensor name '{name}': {problem}")
    class_names = list(dict.fromkeys(classes))
    target = Path(path)
    lock_path = target.with_name(target.name + ".lock")
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            text = target.read_text(encoding="utf-8", errors="surrogateescape")
            site = parse_siteconf(text, target)
            ids: list[int] = []
            new_id = max(site.sensors, default=-1) + 1
            added: dict[str, int] = {}
            new_text = text
            for name, description in sensors:
                existing = site.sensor(name)
                if existing is not None or name in added:
                    ids.append(
                        existing.id if existing is not None else added[name]
                    )
                    continue
                for cname in class_names:
                    if cname not in site.classes:
                        raise SiteConfigError(
                            f"Cannot add sensor '{name}' to class '{cname}': "
                            f"class is not defined in '{target}'"
                        )
                if new_id > MAX_SENSOR_ID:
                    raise SiteConfigError(
                        f"Cannot add sensor '{name}': no sensor id left in "
                        f"'{target}'"
                    )
                keep = site.version is None or site.version >= 2
                new_text = _insert_sensor(
                    new_text,
                    new_id,
                    name,
                    description if keep else None,
                    class_names,
                )
                added[name] = new_id
                ids.append(new_id)
                new_id += 1
            if added:
                parse_siteconf(new_text, target)  # never write a broken file
                _replace_text(target, new_text)
            return ids
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _insert_sensor(
    text: str,
    sensor_id: int,
    name: str,
    description: str | None,
    class_names: list[str],
) -> str:
    """Return ``text`` with the sensor added to the managed block."""
    sensor_line = f"sensor {sensor_id} {quote(name)}"
    if description is not None:
        sensor_line += f" {_quote_always(description)}"
    lines = text.splitlines()
    try:
        begin = lines.index(_REGION_BEGIN)
        end = lines.index(_REGION_END, begin)
    except ValueError:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend([_REGION_BEGIN, _REGION_END])
        begin, end = len(lines) - 2, len(lines) - 1
    region = lines[begin + 1 : end]
    # sensor lines stay ahead of the first class block of the region
    first_class = next(
        (i for i, line in enumerate(region) if line.startswith("class ")),
        len(region),
    )
    region.insert(first_class, sensor_line)
    for cname in class_names:
        header = f"class {quote(cname)}"
        if header in region:
            start = region.index(header)
            stop = region.index("end class", start)
            region.insert(stop, f"    sensors {quote(name)}")
        else:
            region.extend([header, f"    sensors {quote(name)}", "end class"])
    lines[begin + 1 : end] = region
    return "\n".join(lines) + "\n"
