# SPDX-License-Identifier: MIT
"""Build shim: setuptools needs setup.py to carry cffi_modules (cffi#55).

Metadata lives in pyproject.toml; this file must not import the project.
"""

from setuptools import setup

setup(
    cffi_modules=[
        "csrc/build_ffi.py:vpc_ffi",
        "csrc/build_ffi.py:flow_ffi",
        "csrc/build_ffi.py:pmap_ffi",
        "csrc/build_ffi.py:ctxmap_ffi",
        "csrc/build_ffi.py:conv_ffi",
    ],
    zip_safe=False,
)
