"""The manual clock tests drive: aware datetimes only, whichever way it is set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.clock import ManualClock


def test_setting_a_naive_datetime_is_refused() -> None:
    """set() refuses a datetime without a timezone, as the constructor does."""
    clock = ManualClock(datetime(2025, 8, 20, 3, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2025, 8, 21, 3))
    assert clock.now() == datetime(2025, 8, 20, 3, tzinfo=UTC)
