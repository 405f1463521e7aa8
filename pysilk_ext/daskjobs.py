# SPDX-License-Identifier: MIT
"""Run conversion and map building on a Dask distributed cluster.

Why Dask: estates that outgrow one machine usually already run an engine;
Dask's distributed scheduler is the one that needs nothing but Python on
the workers.  The job is the one :mod:`pysilk_ext.parallel` runs on a
process pool, submitted through a :class:`distributed.Client` instead:

* **tasks per batch of objects**: each task is a
  :class:`~pysilk_ext.parallel.WorkUnit` (whole S3 objects or files);
  workers read them straight from S3 (or a shared filesystem);
* **conversion**: tasks return SiLK records with provisional sensor
  numbers; the client (the process running ``rwvpc2silk``) takes them in
  input order and reduces them into the repository through its one
  appender and ledger -- so a rerun skips the objects the ledger lists
  (name, size, ETag), and an interrupted job resumes without duplicates;
* **map building**: tasks return partial maps, merged on the cluster in
  a tree (fan-in :data:`FAN_IN`; merging is associative), and the client
  merges the one result into the map it writes.

Without a scheduler address a :class:`distributed.LocalCluster` is
started on ``127.0.0.1`` (no dashboard), with one single-threaded worker
process per ``--workers`` (default: the machine's CPUs).  Paths given to
``--map`` must be readable by the workers (on a cluster: shared storage).

``dask[distributed]`` is the optional extra ``pysilk_ext[dask]``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from pysilk_ext.parallel import MapPart, merge_map_parts

__all__ = ["FAN_IN", "DaskSubmitter", "dask_submitter"]

#: Partial maps merged per reduction task.
FAN_IN = 8


class DaskSubmitter:
    """A :class:`~pysilk_ext.parallel.Submitter` over a Dask client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Run ``fn(*args)`` on the cluster (never cached: tasks read
        inputs that may change between runs)."""
        return self.client.submit(fn, *args, pure=False)

    def reduce_maps(self, futures: list[Any]) -> MapPart:
        """Merge partial maps on the cluster, :data:`FAN_IN` at a time;
        return the single merged part."""
        level = list(futures)
        if not level:
            return merge_map_parts()
        while len(level) > 1:
            level = [
                self.client.submit(
                    merge_map_parts, *level[i : i + FAN_IN], pure=False
                )
                for i in range(0, len(level), FAN_IN)
            ]
        part: MapPart = level[0].result()
        return part

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now."""
        info = self.client.scheduler_info()
        return max(1, len(info.get("workers", {})))


def _import_distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415 - optional, slow to import
    except ImportError as exc:
        raise ImportError(
            "Running on Dask needs dask[distributed] "
            "(pip install 'pysilk_ext[dask]')"
        ) from exc
    return distributed


@contextlib.contextmanager
def dask_submitter(
    address: str | None = None,
    *,
    workers: int | None = None,
    processes: bool = True,
) -> Iterator[DaskSubmitter]:
    """Connect to the scheduler at ``address``, or start a local cluster.

    The local cluster listens on 127.0.0.1 only and has no dashboard;
    ``processes=False`` runs its workers as threads of this process
    (light, for tests and small jobs).

    Raises:
        ImportError: dask[distributed] is not installed.
        OSError: the scheduler cannot be reached.
    """
    distributed = _import_distributed()
    quiet = logging.ERROR
    for name in ("distributed", "distributed.worker", "distributed.nanny"):
        logging.getLogger(name).setLevel(quiet)
    with contextlib.ExitStack() as stack:
        if address is not None:
            client = stack.enter_context(
                distributed.Client(
                    address, set_as_default=False, timeout="30s"
                )
            )
        else:
            count = workers or os.cpu_count() or 1
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=processes,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=quiet,
                )
            )
            client = stack.enter_context(
                distributed.Client(cluster, set_as_default=False)
            )
        yield DaskSubmitter(client)
