"""The replay source: publishes a canonical dataset month by month on the injected clock.

Each period becomes visible on its release day (by default the 20th of the following month, as
GACC's detailed tables) so the demo and end-to-end tests exercise the real daemon loop on an
accelerated clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from monitor.config.sources import ReplayOptions, SourceOptions
from monitor.model import period_to_month
from monitor.resources import default_dataset
from monitor.sources._common import resolve_path
from monitor.sources.base import FetchResult, Source
from monitor.sources.file import read_canonical


def release_time(period: str, release_day: int = 20, lag_months: int = 1) -> datetime:
    """When a period's data is published: ``release_day`` of the month ``lag_months`` later."""
    month = period_to_month(period) + lag_months
    return datetime(month // 12, month % 12 + 1, release_day, 2, 0, tzinfo=UTC)


class ReplaySource(Source):
    """A canonical dataset (the bundled one by default) released on the clock: each fetch
    returns every period whose release time has passed."""

    type: ClassVar[str] = "replay"
    Options = ReplayOptions
    options: ReplayOptions

    def __init__(self, name: str, options: SourceOptions | Mapping[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        path = self.options.path
        self.path = resolve_path(self.name, path, self.base_dir) if path else default_dataset()
        self._data = read_canonical(self.path, source=self.name)
        day = self.options.release_day
        lag = self.options.lag_months
        self._published_at = {p: release_time(p, day, lag) for p in self._data["period"].unique()}

    def schedule(self) -> list[datetime]:
        """The release times of every period in the dataset, in order."""
        return sorted(set(self._published_at.values()))

    def fetch(self) -> FetchResult:
        now = self.clock.now()
        visible = [p for p, when in self._published_at.items() if when <= now]
        frame = self._data[self._data["period"].isin(visible)].reset_index(drop=True)
        return FetchResult(observations=frame, description=f"replay of {self.path.name}")
