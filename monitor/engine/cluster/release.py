"""A daemon's release on the cluster when it is large, in the daemon otherwise, and in the
daemon again whenever the cluster cannot do it: a cluster that is down never costs an alert."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from monitor.engine.evaluate import evaluate
from monitor.engine.rules import RuleSet
from monitor.errors import MonitorError
from monitor.model import Alert

log = logging.getLogger(__name__)


class ClusterSettings(Protocol):
    """What a release needs of the ``engine:`` options (monitor.config.engine.EngineOptions
    has them; the engine reads them without importing the configuration)."""

    @property
    def cluster(self) -> str | None:
        """Dask scheduler address (``tcp://scheduler:8786``); None: every release in the daemon."""

    @property
    def cluster_min_rows(self) -> int:
        """Observations of a release, mirrors included, from which it goes to the cluster."""

    @property
    def partition_rows(self) -> int:
        """Observations per partition (a task on one worker); a bigger key is a partition alone."""

    @property
    def scratch(self) -> str | None:
        """Folder for the partitions' pieces, readable by every worker; None: the system temp."""

    @property
    def connect_timeout_seconds(self) -> float:
        """Seconds to wait for the scheduler before the release is evaluated in the daemon."""

    @property
    def timeout_seconds(self) -> float:
        """Seconds the partitions' tasks may take before the run is cancelled and the release
        evaluated in the daemon."""


@dataclass(frozen=True)
class ClusterRun:
    """A release sent to the cluster at ``address``; ``error`` says why it was evaluated in the
    daemon instead (None: the cluster evaluated it)."""

    address: str
    error: str | None = None


def evaluate_release(
    options: ClusterSettings,
    observations: pd.DataFrame,
    rules: RuleSet,
    periods: Sequence[str],
    mirrors: Mapping[str, pd.DataFrame],
) -> tuple[list[Alert], ClusterRun | None]:
    """The alerts of a release (as ``evaluate`` gives them) and how the cluster took part
    (None: not configured, or the release is below ``cluster_min_rows``).

    Any failure on the cluster (no scheduler, a lost connection, the timeout, a task error)
    is logged and the release evaluated here; an error the local engine raises as well (bad
    data) is the release's failure, not the cluster's, and propagates."""
    rows = len(observations) + sum(len(m) for m in mirrors.values())
    address = options.cluster
    if address is None or rows < options.cluster_min_rows:
        return evaluate(observations, rules, periods, mirrors), None
    try:
        from monitor.engine.cluster.connect import cluster_client
        from monitor.engine.cluster.run import evaluate_frame

        with cluster_client(address, timeout=options.connect_timeout_seconds) as client:
            table = evaluate_frame(
                client,
                observations,
                rules,
                periods,
                mirrors,
                partition_rows=options.partition_rows,
                scratch=options.scratch,
                timeout=options.timeout_seconds,
            )
        return table.alerts(), ClusterRun(address)
    except Exception as exc:
        error = str(exc) if isinstance(exc, MonitorError) else f"{type(exc).__name__}: {exc}"
        log.warning("cluster %s failed (%s): evaluating the release in the daemon", address, error)
        alerts = evaluate(observations, rules, periods, mirrors)
        return alerts, ClusterRun(address, error)
