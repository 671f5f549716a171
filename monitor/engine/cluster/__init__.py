"""The engine on a Dask cluster (the ``dask`` extra): partitions of the observations evaluated
by ``evaluate_table`` on workers, merged into the table one local evaluation gives.

    partition.py  what must be evaluated together, and packing it into partitions
    pieces.py     the partitions as Parquet pieces in a scratch folder the workers read
    run.py        one task per piece, the merge, progress
    connect.py    a client of a scheduler or of a LocalCluster

Nothing here imports Dask until a cluster is used: the core install runs without it.
"""

from monitor.engine.cluster.connect import ClusterUnreachable, cluster_client, dask_missing
from monitor.engine.cluster.partition import PartitionKey, plan_partitions
from monitor.engine.cluster.pieces import Pieces, split
from monitor.engine.cluster.run import (
    PARTITION_ROWS,
    PieceTask,
    evaluate_frame,
    evaluate_piece,
    evaluate_pieces,
)

__all__ = [
    "PARTITION_ROWS",
    "ClusterUnreachable",
    "PartitionKey",
    "PieceTask",
    "Pieces",
    "cluster_client",
    "dask_missing",
    "evaluate_frame",
    "evaluate_piece",
    "evaluate_pieces",
    "plan_partitions",
    "split",
]
