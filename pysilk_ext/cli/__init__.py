# SPDX-License-Identifier: MIT
"""Command-line tools, one module per command (``rwvpc2silk`` ...)."""

import os

# Every command, before NumPy is first imported: OpenBLAS would start a
# thread per core that spins for a while (measured: 60 ms of CPU per
# rwvpc2silk run, on a machine whose cores the reader, the converter and
# the commits already share).  Nothing here does linear algebra.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
