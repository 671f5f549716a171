"""Sink faults: the Slack-compatible webhook answers 429 (Retry-After) and then 500, the JSON
webhook 500s, the SMTP server refuses with 451, all while three releases arrive. Cycles
(``run --once`` subprocesses, see test_crash_safety.py) continue until the outbox is drained:
everything is delivered after recovery, in release order per channel, nothing lost, no
duplicates. The outbox's first retry comes 15-30 s after a failure (deliver.BACKOFF_BASE, not
configurable yet), so this scenario takes one to two minutes.
Data: generated with a fixed seed (tests/e2e/test_crash_safety.dataset).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import (
    Answer,
    Publisher,
    http_peer,
    integrity_ok,
    record_figure,
    run_cli,
    smtp_peer,
)
from tests.e2e.test_crash_safety import RULES, dataset


@pytest.mark.slow
def test_failing_sinks_deliver_everything_in_order_after_recovery(tmp_path: Path) -> None:
    """429/500 from Slack and the webhook and 451 from SMTP: all delivered later, in order."""
    with http_peer() as peer, smtp_peer() as smtp:
        feed = Publisher(peer)
        (tmp_path / "rules.yaml").write_text(RULES)
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f"""\
state_dir: state
rules: [rules.yaml]
initial: alert_all
sources:
  feed: {{type: url, url: "{feed.url}", timeout: 5}}
channels:
  hook: {{type: webhook, url: "{peer.url("/hook")}", timeout: 5}}
  team: {{type: slack, webhook_url: "{peer.url("/services/T1/B1/x")}", max_per_second: 50}}
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp.port}
    starttls: false
    from: monitor@example.org
    to: [desk@example.org]
    charts: false
routes:
  - channels: [hook, team, mail]
"""
        )
        faults: Counter[str] = Counter()

        # Every POST fails until the sinks recover (the first two cycles).
        peer.post_default = Answer(500, b"internal error")
        smtp.refuse = True
        deadline = time.monotonic() + 170
        cycles = 0
        for months in (2, 3, 4):
            feed.publish(dataset(months))
            run_cli(config, "run", "--once")
            cycles += 1
            if months == 2:
                peer.post_script = [Answer(429, b"rate_limited", {"Retry-After": "1"})]
        peer.post_default = Answer(200, b"ok")
        smtp.refuse = False
        while time.monotonic() < deadline:
            done = run_cli(config, "run", "--once")
            cycles += 1
            assert b"Traceback" not in done.stderr
            if (
                len(peer.accepted("/hook")) >= 3
                and len(peer.accepted("/services/T1/B1/x")) >= 3
                and len(smtp.messages) >= 3
            ):
                break
            time.sleep(2)
        faults["http_500"] = sum(1 for p in peer.posts if p.status == 500)
        faults["http_429"] = sum(1 for p in peer.posts if p.status == 429)
        faults["smtp_451"] = smtp.refusals
        hook = [p.json for p in peer.accepted("/hook")]
        slack = [p.body for p in peer.accepted("/services/T1/B1/x")]
        mails = [m["Subject"] for m in smtp.messages]
        assert integrity_ok(tmp_path / "state" / "state.db") == "ok"

    releases = [b["release_id"] for b in hook]
    keys = {a["key"] for b in hook for a in b["alerts"]}
    expected = {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|2024-{m:02d}"
        for m in range(1, 5)
        for p in ["US", "DE", "JP", "KR", "VN"]
    }
    figures = {
        "faults_injected": dict(faults),
        "cycles": cycles,
        "messages_delivered": {"webhook": len(hook), "slack": len(slack), "email": len(mails)},
        "duplicates": {
            "webhook": len(releases) - len(set(releases)),
            "slack": len(slack) - len(set(slack)),
            "email": len(mails) - len(set(mails)),
        },
        "losses": len(expected - keys),
    }
    record_figure("sink_faults", figures)
    assert keys == expected
    assert releases == sorted(releases) and len(releases) == 3  # in order, once each
    assert len(slack) == len(set(slack)) == 3
    assert len(mails) == len(set(mails)) == 3
