# SPDX-License-Identifier: MIT
"""SiLK-style command-line layer shared by every ``rw*`` tool.

SiLK's conventions, reproduced here once:

* long options only; unique abbreviations accepted (getopt_long);
* ``--help`` prints ``PROG [SWITCHES] [FILES]``, the description indented
  by a tab, then one ``--name Req Arg. Text. Def. X`` line per switch, on
  stdout, exit 0;
* ``--version`` prints SiLK's configuration block;
* a usage error prints ``PROG: Message`` and ``Use 'PROG --help' for
  usage`` on stderr and exits 1 (argparse would exit 2);
* library errors (:class:`~pysilk_ext.errors.PysilkExtError`) are printed
  as ``PROG: Message`` and exit 1.

Help text and defaults are declared once, in ``add_argument``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pysilk_ext import __version__
from pysilk_ext.errors import PysilkExtError

EXIT_OK = 0
EXIT_FAILURE = 1


class UsageError(Exception):
    """Raised by :meth:`SilkArgumentParser.error` to end option parsing."""


class SilkArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that looks and fails like a SiLK tool."""

    def __init__(
        self,
        prog: str,
        description: str,
        *,
        usage_tail: str = "[FILES]",
    ) -> None:
        super().__init__(
            prog=prog,
            description=description,
            add_help=False,
            allow_abbrev=True,
            prefix_chars="-",
        )
        self.usage_tail = usage_tail
        self.add_argument(
            "--help",
            action="store_true",
            help="Print this usage output and exit",
        )
        self.add_argument(
            "--version",
            action="store_true",
            help="Print this program's version and installation parameters",
        )

    # -- output ---------------------------------------------------------
    def format_help(self) -> str:
        lines = [f"{self.prog} [SWITCHES] {self.usage_tail}".rstrip()]
        body = textwrap.fill(
            " ".join((self.description or "").split()), width=72
        )
        lines += ["\t" + ln for ln in body.splitlines()]
        lines += ["", "SWITCHES:"]
        for action in self._actions:
            if not action.option_strings:
                continue
            name = next(
                (s for s in action.option_strings if s.startswith("--")),
                action.option_strings[0],
            )
            if action.nargs == 0:
                kind = "No Arg."
            elif action.nargs == "?":
                kind = "Opt Arg."
            else:
                kind = "Req Arg."
            text = (action.help or "").rstrip(".")
            default = action.default
            if "Def." not in text:
                if action.nargs == 0:
                    text += ". Def. No"
                elif default not in (None, argparse.SUPPRESS, [], ""):
                    text += f". Def. {default}"
            lines.append(f"{name} {kind} {text}".rstrip())
        return "\n".join(lines) + "\n"

    def version_text(self) -> str:
        """SiLK's ``--version`` block, with our configuration."""
        silk = shutil.which("rwcut")
        silk_text = "not found on PATH"
        if silk:
            try:
                out = subprocess.run(
                    [silk, "--version"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                ).stdout
                first = out.splitlines()[0] if out else ""
                ver = first.split("SiLK")[-1].split(";")[0].strip()
                silk_text = f"{ver} ({os.path.dirname(silk)})"
            except (OSError, subprocess.SubprocessError):
                silk_text = f"unknown ({os.path.dirname(silk)})"
        return (
            f"{self.prog}: part of pysilk_ext {__version__}; "
            "configuration settings:\n"
            f"    * SiLK found:       {silk_text}\n"
            f"    * C core:           pse {__version__}\n"
            f"    * Python:           {platform.python_version()}\n"
        )

    # -- errors ---------------------------------------------------------
    def error(self, message: str) -> NoReturn:
        """Print a SiLK-style usage error and stop parsing."""
        msg = message
        if msg.startswith("unrecognized arguments:"):
            bad = msg.split(":", 1)[1].strip().split()[0]
            msg = f"Unrecognized switch '{bad}'"
        elif msg.startswith("ambiguous option:"):
            opt = msg.split(":", 1)[1].split()[0]
            msg = f"Option '{opt}' is ambiguous"
        elif msg.startswith("argument "):
            # "argument --x: expected one argument"
            name, _, rest = msg[len("argument ") :].partition(": ")
            name = name.split("/")[0]
            if "expected one argument" in rest:
                msg = f"Switch '{name}' requires an argument"
            else:
                detail = rest[:1].upper() + rest[1:]
                msg = f"Invalid {name.lstrip('-')}: {detail}"
        else:
            msg = msg[:1].upper() + msg[1:]
        raise UsageError(msg)


def print_error(prog: str, message: str) -> None:
    """Write ``PROG: Message`` to stderr, SiLK's error grammar."""
    sys.stderr.write(f"{prog}: {message}\n")


def usage_error(prog: str, message: str) -> int:
    """Report a usage error; return the exit status to use."""
    print_error(prog, message)
    sys.stderr.write(f"Use '{prog} --help' for usage\n")
    return EXIT_FAILURE


def bind_optional_values(
    argv: Sequence[str], switches: dict[str, str]
) -> list[str]:
    """Give optional-argument switches their value only through ``=``.

    SiLK documents ``--delimited[=C]``: a following word is an input
    file, never the switch's value (argparse would take it).  A bare
    switch (or a unique abbreviation of it) gets its default value;
    ``switches`` maps each such switch to that value.
    """
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out) :])
            break
        bound = arg
        for name, default in switches.items():
            if "=" not in arg and len(arg) > 2 and name.startswith(arg):
                bound = f"{name}={default}"
                break
        out.append(bound)
    return out


def optional_value_switches(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The parser's ``--switch[=VALUE]`` switches and their bare values."""
    return {
        name: action.const
        for action in parser._actions
        if action.nargs == "?"
        for name in action.option_strings
        if name.startswith("--")
    }


def parse(
    parser: SilkArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace | int:
    """Parse ``argv``; return the namespace or an exit status.

    ``--help`` and ``--version`` are handled here (stdout, status 0).
    A switch with an optional value takes it only as ``--switch=VALUE``
    (:func:`bind_optional_values`), for every command.
    """
    args_list = bind_optional_values(
        list(sys.argv[1:] if argv is None else argv),
        optional_value_switches(parser),
    )
    try:
        ns = parser.parse_args(args_list)
    except UsageError as exc:
        return usage_error(parser.prog, str(exc))
    if ns.help:
        sys.stdout.write(parser.format_help())
        return EXIT_OK
    if ns.version:
        sys.stdout.write(parser.version_text())
        return EXIT_OK
    return ns


def parse_and_run(
    parser: SilkArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int],
) -> int:
    """A command's whole ``main``: :func:`parse` ``argv``, then
    :func:`run` ``body`` with the namespace; return the exit status."""
    ns = parse(parser, argv)
    if isinstance(ns, int):
        return ns
    return run(parser.prog, lambda: body(ns))


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP: stop as on Ctrl-C, so writers clean up."""
    raise KeyboardInterrupt(signum)


def run(prog: str, body: Callable[[], int]) -> int:
    """Run a command's body, turning library errors into SiLK messages.

    SIGTERM and SIGHUP (``kill``, a closed terminal, a scheduler's
    time-out) end the body the way SIGINT does, so that writers abort:
    no temporary file is left beside the outputs.
    """
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, _terminated)
    try:
        return _run_body(prog, body)
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def _run_body(prog: str, body: Callable[[], int]) -> int:
    try:
        return body()
    except UsageError as exc:
        return usage_error(prog, str(exc))
    except PysilkExtError as exc:
        print_error(prog, str(exc))
        return EXIT_FAILURE
    except BrokenPipeError:
        # Reader went away (``| head``): stop quietly, like SiLK.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt as exc:
        print_error(prog, "Interrupted")
        signum = exc.args[0] if exc.args else None
        return 128 + (signum if isinstance(signum, int) else signal.SIGINT)


def clobber_allowed() -> bool:
    """May an output replace an existing file?  SiLK's rule (skstream):
    ``SILK_CLOBBER`` set, non-empty and not starting with ``0``."""
    value = os.environ.get("SILK_CLOBBER", "")
    return bool(value) and not value.startswith("0")


def stdin_is_terminal_error(prog: str) -> int:
    """The error SiLK gives when there is no input at all."""
    text = "No input files on command line and stdin is connected to a"
    return usage_error(prog, f"{text} terminal")
