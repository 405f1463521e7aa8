# SPDX-License-Identifier: MIT
"""cffi builders for the C core (out-of-line API mode).

One C file, one job, one extension module: ``csrc/pse_<name>.c`` with its
public header ``pse_<name>.h`` and its cffi declarations
``pse_<name>.cdef`` becomes ``pysilk_ext._<name>``.  Keeping the modules
apart lets the PySiLK plug-in load only the map lookup into rwfilter's
process, and lets each part be rebuilt and tested on its own.

Every module also links ``pse_err.c`` (status text, version stamp).  All
symbols are compiled with ``-fvisibility=hidden``: only cffi's
``PyInit__<name>`` is exported, so nothing in our objects can bind to one
of libsilk's ~850 ``sk*``/``rw*`` symbols inside rwfilter.

Environment toggles (argon2-cffi style):
  PSE_WERROR=1  add -Werror (CI and ``make ubsan``)
  PSE_UBSAN=1   add -fsanitize=undefined -fno-sanitize-recover
  PSE_DEBUG=1   build with -O0 -g
"""

from __future__ import annotations

import os
import pathlib
import tomllib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def _package_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def _flags() -> tuple[list[str], list[str]]:
    cflags = [
        "-std=gnu11",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
    ]
    ldflags: list[str] = []
    if os.environ.get("PSE_DEBUG"):
        cflags += ["-O0", "-g"]
    else:
        cflags += ["-O3"]
    if os.environ.get("PSE_WERROR"):
        cflags.append("-Werror")
    if os.environ.get("PSE_UBSAN"):
        san = ["-fsanitize=undefined", "-fno-sanitize-recover"]
        cflags += san
        ldflags += san
    return cflags, ldflags


def make_builder(name: str, *, absolute: bool = False) -> FFI:
    """Return the FFI builder of module ``pysilk_ext._<name>``.

    setuptools wants source paths relative to the project root; a direct
    ``compile()`` runs in a temporary directory and needs absolute ones.
    """
    version = _package_version()
    cdef = (HERE / "pse_err.cdef").read_text()
    cdef += (HERE / f"pse_{name}.cdef").read_text()
    ffibuilder = FFI()
    ffibuilder.cdef(cdef)
    cflags, ldflags = _flags()
    ffibuilder.set_source(
        f"pysilk_ext._{name}",
        f'#include "pse.h"\n#include "pse_{name}.h"\n',
        sources=[
            str(src) if absolute else os.path.relpath(src, ROOT)
            for src in (HERE / "pse_err.c", HERE / f"pse_{name}.c")
        ],
        include_dirs=[str(HERE)],
        define_macros=[("PSE_PACKAGE_VERSION", f'"{version}"')],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )
    return ffibuilder


vpc_ffi = make_builder("vpc")
flow_ffi = make_builder("flow")
pmap_ffi = make_builder("pmap")
ctxmap_ffi = make_builder("ctxmap")
conv_ffi = make_builder("conv")

BUILDERS = {
    "vpc": vpc_ffi,
    "flow": flow_ffi,
    "pmap": pmap_ffi,
    "ctxmap": ctxmap_ffi,
    "conv": conv_ffi,
}

if __name__ == "__main__":
    # ``python csrc/build_ffi.py [NAME...]`` rebuilds modules in place
    # (where an editable install keeps them) without touching the others.
    import shutil
    import sys

    os.chdir(ROOT)
    for mod in sys.argv[1:] or list(BUILDERS):
        built = make_builder(mod, absolute=True).compile(
            tmpdir=str(ROOT / "build" / "cffi"), verbose=False
        )
        # Copy beside the target, then rename: overwriting a .so in place
        # kills (SIGBUS) every running process that has it loaded.
        target = ROOT / "pysilk_ext" / f"_{mod}.abi3.so"
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copy(built, staging)
        os.replace(staging, target)
        print(f"built pysilk_ext/_{mod}.abi3.so")
