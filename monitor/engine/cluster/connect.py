"""A Dask client: to a running scheduler (``tcp://host:8786``) or to a LocalCluster of worker
processes on this machine (loopback only; its dashboard, on a free port, needs bokeh to draw
its pages)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError, Problem

if TYPE_CHECKING:
    from distributed import Client

#: what the cluster needs beyond the core dependencies (the ``dask`` extra)
DASK_MODULES = ("dask", "distributed")


class ClusterUnreachable(MonitorError):
    """No Dask scheduler answered at the configured address."""


def dask_missing() -> str | None:
    """Why this installation cannot use a cluster (None when it can)."""
    absent = [m for m in DASK_MODULES if importlib.util.find_spec(m) is None]
    if absent:
        return (
            f"running on a Dask cluster needs {', '.join(absent)}: "
            "pip install 'customs-monitor[dask]'"
        )
    return None


def check_engine_options(config: Any, *, missing: str | None = None) -> list[Problem]:
    """What ``validate`` checks of ``engine:`` beyond its types: a configured cluster needs
    the dask extra installed here (``missing``: why not, as ``dask_missing`` says)."""
    if config.engine.cluster is None:
        return []
    why = missing if missing is not None else dask_missing()
    return [Problem(config.where, 0, 0, f"engine.cluster: {why}")] if why else []


@contextmanager
def cluster_client(
    address: str | None = None, workers: int | None = None, *, timeout: float = 30.0
) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a new LocalCluster of ``workers``
    single-threaded worker processes (closed on exit)."""
    missing = dask_missing()
    if missing:
        raise MonitorError(missing)
    from distributed import Client, LocalCluster

    if address is not None:
        try:
            client = Client(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnreachable(f"no Dask scheduler at {address}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    # The scheduler and nannies of a local cluster run in this process: their start-up and
    # shut-down chatter at INFO is not the user's business (warnings still show).
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with (
        LocalCluster(
            n_workers=workers or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free port: never a clash with another cluster
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client
