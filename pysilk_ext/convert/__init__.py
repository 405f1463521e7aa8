# SPDX-License-Identifier: MIT
"""VPC Flow Logs to SiLK flow records and back (issue 5's core).

Modules, each with one job:

``layout``      which SiLK field holds which part of a VPC record
``mapping``     the field-mapping table (man page, round-trip check)
``config``      the YAML configuration (``share/rwvpc2silk.yaml``)
``records``     FlowBatch -> FLOW_DTYPE, vectorised; overflow policy
``direction``   flow direction for logs without ``flow-direction``
``classify``    class/type rules (twoway's plus int2aws/aws2int)
``sensors``     interface/subnet/VPC/account -> SiLK sensor, stable ids
``dedup``       copies of one flow logged on two monitored interfaces
``context``     what the converter asks of the context map; adapters
``awsranges``   ip-ranges.json as AWS-service networks
``converter``   the pipeline (:class:`Converter`) the commands drive
``reverse``     SiLK records + context map -> VPC Flow Log text
``report``      ``--print-statistics`` text
"""

from __future__ import annotations

from pysilk_ext.convert.config import ConvertConfig, load_config
from pysilk_ext.convert.context import (
    CloudContext,
    MapContext,
    MemoryContext,
)
from pysilk_ext.convert.converter import Converter, ConvertStats
from pysilk_ext.convert.report import statistics_lines
from pysilk_ext.convert.reverse import VpcTextFormatter

__all__ = [
    "CloudContext",
    "ConvertConfig",
    "ConvertStats",
    "Converter",
    "MapContext",
    "MemoryContext",
    "VpcTextFormatter",
    "load_config",
    "statistics_lines",
]
