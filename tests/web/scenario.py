"""A monitor over the bundled real data (China's rare-earth magnet exports, GACC 85051110; see
monitor/data/PROVENANCE.md), published month by month into a canonical CSV that a ``file``
source polls, as GACC's releases would arrive.

One revision is staged from the dataset itself: August 2025 exports to the US are first
published as 590 t (Reuters) and later as 589 t, the figure asiacity.news gives (both noted in
the dataset's source column). Nothing else is invented.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from monitor.resources import default_dataset

#: (partner, period) -> the later figure in tonnes, from the dataset's own notes
REVISION = {("US", "2025-08"): 589.0}
SERIES = {
    "reporter": "CN",
    "commodity": "85051110",
    "flow": "export",
    "measure": "net_weight_kg",
}


def dataset() -> pd.DataFrame:
    return pd.read_csv(default_dataset(), dtype=str)


def publish(path: Path, until: str, *, revised: bool = False) -> pd.DataFrame:
    """Write every published month up to ``until`` (YYYY-MM) as the source's file; with
    ``revised`` the staged revision replaces its first figure. Written atomically (a poll
    never reads half a file)."""
    frame = dataset()
    frame = frame[frame["period"] <= until].copy()
    if revised:
        for (partner, period), value in REVISION.items():
            hit = (frame["partner"] == partner) & (frame["period"] == period)
            frame.loc[hit, "value"] = f"{value:g}"
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return frame


def write_config(
    folder: Path,
    *,
    web: dict[str, Any] | None = None,
    channels: dict[str, dict[str, Any]] | None = None,
    schedule: str = "@every 1h",
    calendar: bool = False,
    health: dict[str, Any] | None = None,
) -> Path:
    """monitor.yaml in ``folder``: the file source ``magnets`` on ``published.csv``, a
    ``file`` channel archiving every message, every alert of the first poll (initial:
    alert_all), the state in ``state.db``."""
    source: dict[str, Any] = {"type": "file", "path": "published.csv"}
    if calendar:
        source["calendar"] = "gacc"
    else:
        source["schedule"] = schedule
    # The archive keeps Slack's and the email's rendering; no chart files (they cost a second
    # per release and no test here reads them).
    all_channels = {
        "archive": {"type": "file", "path": str(folder / "sent"), "charts": False},
        **(channels or {}),
    }
    config: dict[str, Any] = {
        "state": f"sqlite:///{folder / 'state.db'}",
        "state_dir": str(folder),
        "initial": "alert_all",
        "sources": {"magnets": source},
        "channels": all_channels,
        "routes": [{"channels": sorted(all_channels)}],
        "daemon": {"health": health or {"enabled": False}, "deliver_interval": 1},
    }
    if web is not None:
        config["daemon"]["web"] = web
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
