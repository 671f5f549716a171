"""End to end through the real daemon: Slack and SMTP down during a release, the process
restarted, the peers back: every alert arrives exactly once on each channel, and a later
revision sends exactly one "Revised" notice."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pandas as pd

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.notify.deliver import BACKOFF_CAP
from monitor.resources import default_dataset
from monitor.store import OUTBOX_PENDING, OUTBOX_SENT
from tests.notify.servers import Reply, http_peer, smtp_peer

RELEASE_DAY = datetime(2025, 11, 20, 3, 0, tzinfo=UTC)


def write_config(tmp_path, peer, smtp) -> str:
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///state.db
        initial: backfill
        sources:
          magnets: {{type: file, path: {tmp_path / "magnets.csv"}}}
        channels:
          team: {{type: slack, webhook_url: "{peer.url}/services/T1/B1/e2eSECRET"}}
          mail: {{type: email, host: {smtp.host}, port: {smtp.port}, starttls: false,
                  from: monitor@example.org, to: [desk@example.org], charts: false}}
        routes:
          - channels: [team, mail]
        """)
    )
    return str(tmp_path / "monitor.yaml")


def test_outage_restart_and_revision_exactly_once(tmp_path) -> None:
    """Each alert reaches Slack and email once despite the outage and the restart."""
    frame = pd.read_csv(default_dataset(), dtype=str)
    data = tmp_path / "magnets.csv"
    frame[frame.period <= "2025-09"].to_csv(data, index=False)
    clock = ManualClock(RELEASE_DAY)
    with http_peer() as peer, smtp_peer(tmp_path) as smtp:
        config = load_config(write_config(tmp_path, peer, smtp), env={})
        first = Service(config, clock=clock)
        first.run_once()  # history, silently
        # October is published while Slack answers 500 and the mail server 451.
        peer.default = Reply(500, "down")
        smtp.sink.refuse_with = "451 4.3.0 try again later"
        frame[frame.period <= "2025-10"].to_csv(data, index=False)
        first.run_once()
        assert {e.state for e in first.store.outbox()} == {OUTBOX_PENDING}
        assert smtp.sink.messages == []
        first.close()  # the process is killed

        peer.default = Reply(200, "ok")
        smtp.sink.refuse_with = None
        clock.advance(BACKOFF_CAP)
        second = Service(config, clock=clock)
        try:
            second.deliver_job()
            for _ in range(3):  # later rounds find nothing to do
                clock.advance(BACKOFF_CAP)
                second.run_once()
            assert {e.state for e in second.store.outbox()} == {OUTBOX_SENT}
            headers = [r.json["blocks"][0]["text"]["text"] for r in peer.accepted()]
            assert len(headers) == 1 and "October 2025" in headers[0]
            assert len(smtp.sink.messages) == 1
            assert peer.block_problems == []

            # GACC revises October's US figure: one "Revised" notice per channel.
            revised = frame[frame.period <= "2025-10"].copy()
            us_oct = (revised.period == "2025-10") & (revised.partner == "US")
            revised.loc[us_oct, "value"] = str(int(revised.loc[us_oct, "value"].iloc[0]) + 40)
            revised.to_csv(data, index=False)
            clock.advance(timedelta(days=1))
            second.run_once()
            second.run_once()
            headers = [r.json["blocks"][0]["text"]["text"] for r in peer.accepted()]
            assert [h.startswith("Revised: ") for h in headers] == [False, True]
            subjects = [m["Subject"] for m in smtp.sink.messages]
            assert len(subjects) == 2 and "Revised: " in subjects[1]
        finally:
            second.close()
