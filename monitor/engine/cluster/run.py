"""The engine on a Dask cluster: one task per partition, each running ``evaluate_table`` on
its own Parquet piece; the partitions' alert tables merged in the local engine's order.

Dask retries a task whose worker died (up to ``distributed.scheduler.allowed-failures``), so a
worker lost mid-run costs a re-run of its partitions, never an alert. A task that raises (bad
data, a bug) fails the run with that error, as the local engine would.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import pandas as pd

from monitor.engine.cluster.partition import PartitionKey
from monitor.engine.cluster.pieces import Pieces, frame_chunks, read_piece, split
from monitor.engine.evaluate import AlertTable, concat_tables, evaluate_table
from monitor.engine.rules import RuleSet

if TYPE_CHECKING:
    from distributed import Client

#: observations per partition by default: a few hundred MB of a worker's memory at most
PARTITION_ROWS = 2_000_000


@dataclass(frozen=True)
class PieceTask:
    """What one task needs: where its observations are, the rules and the periods."""

    path: str
    mirrors: Mapping[str, str]
    rules: RuleSet
    periods: Sequence[str]


def evaluate_piece(task: PieceTask) -> AlertTable:
    """One partition, evaluated by the local engine; panels cut to the rows that fired."""
    observations = read_piece(task.path)
    mirrors = {name: read_piece(path) for name, path in task.mirrors.items()}
    table = evaluate_table(observations, task.rules, list(task.periods), mirrors or None)
    return table.compact()


def evaluate_pieces(
    client: Client,
    pieces: Pieces,
    rules: RuleSet,
    periods: Sequence[str],
    *,
    progress: TextIO | None = None,
    timeout: float | None = None,
    task: Callable[[PieceTask], AlertTable] = evaluate_piece,
) -> AlertTable:
    """Every piece on the cluster; the merged table, identical to one local evaluation."""
    from distributed import as_completed

    if not pieces.pieces or not periods:
        return AlertTable(None, [])
    tasks = [PieceTask(p.path, p.mirrors, rules, tuple(periods)) for p in pieces.pieces]
    # Keys are global on a scheduler: a run's own prefix keeps two runs (a backtest and the
    # daemon on one cluster) from sharing each other's partitions.
    run = uuid.uuid4().hex[:12]
    futures = client.map(
        task, tasks, pure=False, key=[f"partition-{run}-{p.number}" for p in pieces.pieces]
    )
    bar = _Progress(progress, len(futures), dashboard_link(client))
    results: dict[str, AlertTable] = {}
    try:
        for future in as_completed(futures, timeout=timeout, loop=client.loop):
            results[str(future.key)] = future.result()
            bar.step()
    except BaseException:
        client.cancel(futures)  # a failed or abandoned run leaves no work behind
        raise
    finally:
        bar.done()
    return concat_tables([results[str(f.key)] for f in futures])


def evaluate_frame(
    client: Client,
    observations: pd.DataFrame,
    rules: RuleSet,
    periods: Sequence[str],
    mirrors: Mapping[str, pd.DataFrame] | None = None,
    *,
    partition_rows: int = PARTITION_ROWS,
    scratch: str | None = None,
    timeout: float | None = None,
) -> AlertTable:
    """``evaluate_table(observations, rules, periods, mirrors)`` on the cluster (what the
    daemon does with a large release)."""
    pieces = split(
        frame_chunks(observations), PartitionKey.of(rules), partition_rows, scratch, mirrors
    )
    try:
        return evaluate_pieces(client, pieces, rules, periods, timeout=timeout)
    finally:
        pieces.remove()


def dashboard_link(client: Client) -> str | None:
    """The scheduler's dashboard, when it serves one (bokeh installed, a port given)."""
    services = client.scheduler_info().get("services", {})
    return client.dashboard_link if "dashboard" in services else None


class _Progress:
    """Partitions done, on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

    def __init__(self, stream: TextIO | None, total: int, dashboard: str | None) -> None:
        self.stream, self.total, self.n = stream, total, 0
        self.tty = bool(stream is not None and stream.isatty())
        self.shown = -1
        if stream is not None:
            where = f" (dashboard: {dashboard})" if dashboard else ""
            stream.write(f"evaluating {total} partitions on the cluster{where}\n")
            stream.flush()

    def step(self) -> None:
        self.n += 1
        if self.stream is None:
            return
        tenth = self.n * 10 // self.total
        if self.tty:
            width = 30
            filled = self.n * width // self.total
            self.stream.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {self.n}/{self.total}")
        elif tenth != self.shown:
            self.stream.write(f"{self.n}/{self.total} partitions done\n")
        self.shown = tenth
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def default_progress() -> TextIO:
    """The stream for ``evaluate_pieces``' progress when it is shown: ``sys.stderr``, read at
    the call (a replaced ``sys.stderr`` is honoured)."""
    return sys.stderr
