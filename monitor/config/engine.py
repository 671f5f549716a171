"""The ``engine:`` section of monitor.yaml: where a large release is evaluated.

    engine:
      cluster: tcp://scheduler:8786  # a Dask scheduler (the dask extra); unset: in the daemon
      cluster_min_rows: 1000000      # observations read for a release before the cluster is used
      partition_rows: 2000000        # observations per partition (a task on one worker)
      scratch: /shared/scratch       # a folder the workers read too (default: the system temp)
      connect_timeout_seconds: 10    # no scheduler within this: evaluated in the daemon
      timeout_seconds: 600           # nor a cluster evaluation longer than this

When the cluster is unreachable or fails, the release is evaluated in the daemon and an ops
incident (``ops-cluster-failing``) opens until the cluster works again: a cluster that is down
never costs an alert.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from monitor.config.options import FLOAT, INT, Options

_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value.strip()):
        raise PydanticCustomError(
            "option", "must be a scheduler address such as tcp://scheduler:8786"
        )
    return value.strip()


class EngineOptions(Options):
    """Where releases are evaluated: in the daemon, or on a Dask cluster when they are large."""

    cluster: Annotated[str, AfterValidator(_address)] | None = Field(
        default=None, description="Dask scheduler address, e.g. tcp://scheduler:8786 (unset: local)"
    )
    cluster_min_rows: Annotated[int, Field(ge=0), INT] = Field(
        default=1_000_000,
        description="observations read for a release from which it goes to the cluster",
    )
    partition_rows: Annotated[int, Field(ge=1000), INT] = Field(
        default=2_000_000, description="observations per partition (one task on one worker)"
    )
    scratch: str | None = Field(
        default=None,
        description="folder for the partitions' Parquet pieces, readable by every worker "
        "(default: the system temp, enough for workers on this host)",
    )
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=600), FLOAT] = 10.0
    timeout_seconds: Annotated[float, Field(gt=0), FLOAT] = Field(
        default=600.0,
        description="a cluster evaluation taking longer is abandoned and run in the daemon",
    )
