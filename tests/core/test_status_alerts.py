"""`status` lists recent alerts with their summaries rendered, as the messages said them."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pandas as pd

from monitor.clock import ManualClock
from monitor.commands.status import format_status, gather
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.resources import default_dataset


def test_recent_alerts_show_rendered_summaries(tmp_path) -> None:
    """After a real cycle over the bundled data, no raw Jinja, and each partner is named."""
    data = tmp_path / "magnets.csv"
    pd.read_csv(default_dataset(), dtype=str).to_csv(data, index=False)
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///state.db
        initial: alert_all
        sources:
          magnets: {{type: file, path: {data}}}
        channels:
          outbox: {{type: file, format: slack, path: {tmp_path / "sent"}}}
        routes:
          - channels: [outbox]
        """)
    )
    now = datetime(2026, 1, 20, 3, tzinfo=UTC)
    daemon = Service(load_config(str(tmp_path / "monitor.yaml"), env={}), clock=ManualClock(now))
    try:
        daemon.run_once()
        text = format_status(gather(daemon.store, now, recent=50))
    finally:
        daemon.close()
    recent = text.split("Recent alerts", 1)[1]
    assert "{{" not in recent and "}}" not in recent
    assert "magnet exports to the United States hit a six-month high in October 2025" in recent
    assert "magnet exports to the world hit a six-month high in November 2025" in recent
