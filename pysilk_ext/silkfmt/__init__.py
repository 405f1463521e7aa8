# SPDX-License-Identifier: MIT
"""SiLK 3.x on-disk formats, implemented from the interop specification.

Modules: ``header`` (file header and entries), ``compression`` (block
framing), ``flowrec`` (flow record layouts), ``flowfile`` (streaming flow
readers/writers), ``siteconf`` (silk.conf), ``repository`` (paths,
rwfglob selection), ``appender`` (writing and appending hourly files),
``pmap`` (prefix maps), ``ipset`` (IPsets).
"""
