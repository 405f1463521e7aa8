# SPDX-License-Identifier: MIT
"""Command-line tools, one module per command (``rwvpc2silk`` ...)."""
