# SPDX-License-Identifier: MIT
"""awsvpc -- AWS VPC cloud context for SiLK flows (PySiLK plug-in).

Load with ``--python-file`` in rwfilter, rwcut, rwsort, rwuniq, rwstats
or rwgroup; see awsvpc(3).  ``python -m pysilk_ext.plugin_path`` prints
where the installed copy of this file lives.

This file only hands PySiLK's ``silk.plugin`` module to
``pysilk_ext.plugin.register_silk``; the logic lives in the package.
PySiLK runs the file in a shared namespace, so nothing is left behind in
it: the one loader function deletes its own name at the end.
"""


# Imports stay inside the function (PLC0415): module-level names would
# land in PySiLK's namespace.
def _awsvpc_load():
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    try:
        import pysilk_ext.plugin as awsvpc_plugin  # noqa: PLC0415
    except ImportError as exc:
        # pysilk_ext is not on the embedded Python's path.  Look beside
        # this file: installed as package data the package is two levels
        # up (.../pysilk_ext/silkplugin/awsvpc.py), in a source checkout
        # one level up (.../silkplugin/awsvpc.py).
        here = os.path.abspath(sys._getframe().f_code.co_filename)
        for path in (here, os.path.realpath(here)):
            for up in (2, 3):
                base = path
                for _ in range(up):
                    base = os.path.dirname(base)
                init = os.path.join(base, "pysilk_ext", "__init__.py")
                if os.path.exists(init) and base not in sys.path:
                    sys.path.insert(0, base)
        try:
            import pysilk_ext.plugin as awsvpc_plugin  # noqa: PLC0415
        except ImportError:
            raise ImportError(
                f"awsvpc.py: Cannot import pysilk_ext ({exc}); install it "
                "into the Python that SiLK uses or add it to PYTHONPATH"
            ) from None
    import silk.plugin  # noqa: PLC0415

    awsvpc_plugin.register_silk(silk.plugin)


_awsvpc_load()
del _awsvpc_load
