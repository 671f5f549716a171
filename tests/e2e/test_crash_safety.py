"""Crash safety: SIGKILL the real daemon at random points of its poll-evaluate-deliver cycle.

The daemon's cron schedules have minute granularity (no seconds-level interval exists yet), so
the cycle is driven the documented fallback way: ``python -m monitor --config X run --once``
subprocesses, each SIGKILLed after a random delay (fixed seed) spread over a full cycle's
duration, then one clean run (the restart). Across a sequence of releases published by a local
source server, the receivers (generic webhook, Slack-compatible webhook, aiosmtpd SMTP) must end
up with every expected alert: none missing, duplicates only from the at-least-once window (a
message sent but not yet marked sent: at most one per channel per kill), and SQLite's
``PRAGMA integrity_check`` must say ok after every kill.

The observations are generated here with a fixed seed (five partners, one new month per
release), and the rule pack below fires for every series at every new month, so the expected
alerts are known exactly.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import (
    Daemon,
    HttpPeer,
    Publisher,
    SmtpPeer,
    http_peer,
    integrity_ok,
    record_figure,
    run_cli,
    smtp_peer,
)

SEED = 20260520
PARTNERS = ["US", "DE", "JP", "KR", "VN"]
RELEASES = 10
KILLS_PER_RELEASE = 6  # after the first release: 9 x 6 = 54 kills
RULES = """\
pack: crash
rules:
  - id: every-month
    # (a summary is given because a pack without defaults: and a rule without summary: crashes
    # the engine; pinned in tests/prove/test_fuzz_config.py)
    summary: "{{ partner_name }} {{ period_name }}"
    select: {reporter: CN, flow: export, commodity: "85051110", measure: net_weight_kg,
             partner: "*"}
    condition: {type: threshold, above: 0}
"""


def dataset(months: int, seed: int = SEED) -> bytes:
    """The canonical CSV with ``months`` months (2024-01 on) for five partners; a month's
    figures depend only on the seed, so each release adds a month and revises nothing."""
    rng = random.Random(seed)
    lines = ["period,reporter,partner,commodity,flow,measure,value,unit"]
    for m in range(months):
        period = f"{2024 + m // 12}-{m % 12 + 1:02d}"
        for p in PARTNERS:
            lines.append(f"{period},CN,{p},85051110,export,net_weight_t,{rng.randint(50, 900)},t")
    return ("\n".join(lines) + "\n").encode()


def write_config(folder: Path, peer: HttpPeer, feed: Publisher, smtp: SmtpPeer) -> Path:
    (folder / "rules.yaml").write_text(RULES)
    config = folder / "monitor.yaml"
    config.write_text(
        f"""\
state_dir: state
rules: [rules.yaml]
sources:
  feed: {{type: url, url: "{feed.url}", initial: alert_all, timeout: 5}}
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
    return config


@pytest.mark.slow
def test_sigkill_during_cycles_loses_nothing(tmp_path: Path) -> None:
    """54 SIGKILLs across 10 releases: every alert delivered on every channel, duplicates only
    within the at-least-once window, the SQLite file intact after every kill."""
    rng = random.Random(SEED)
    bodies = [dataset(months) for months in range(2, 2 + RELEASES)]
    with http_peer() as peer, smtp_peer() as smtp:
        feed = Publisher(peer)
        config = write_config(tmp_path, peer, feed, smtp)
        db = tmp_path / "state" / "state.db"
        # The first release goes through one clean cycle, which tells how long a cycle takes.
        feed.publish(bodies[0])
        started = time.monotonic()
        first = run_cli(config, "run", "--once")
        cycle = time.monotonic() - started
        assert first.returncode == 0, first.stderr.decode()[-2000:]
        kills = 0
        killed_before_exit = 0
        assert integrity_ok(db) == "ok"
        for body in bodies[1:]:
            feed.publish(body)
            for _ in range(KILLS_PER_RELEASE):
                daemon = Daemon(config, "run", "--once", tag="killed")
                time.sleep(rng.uniform(0.3, 1.0) * cycle)
                if daemon.proc.poll() is None:
                    killed_before_exit += 1
                daemon.kill()
                kills += 1
                assert integrity_ok(db) == "ok"
            restart = run_cli(config, "run", "--once")
            assert restart.returncode == 0, restart.stderr.decode()[-2000:]
            assert integrity_ok(db) == "ok"
        # Receivers: what each channel really accepted.
        hook = [p.json for p in peer.accepted("/hook")]
        slack = [p.body for p in peer.accepted("/services/T1/B1/x")]
        mails = [m["Message-ID"] for m in smtp.messages]

    expected = {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|{2024 + m // 12}-{m % 12 + 1:02d}"
        for m in range(1 + RELEASES)
        for p in PARTNERS
    }
    got_keys = Counter(a["key"] for body in hook for a in body["alerts"])
    missing = expected - set(got_keys)
    releases_seen = Counter(body["release_id"] for body in hook)
    dup_hook = len(hook) - len(releases_seen)
    dup_slack = len(slack) - len(set(slack))
    dup_mail = len(mails) - len(set(mails))
    figures = {
        "sigkills": kills,
        "sigkills_mid_cycle": killed_before_exit,
        "cycle_seconds": round(cycle, 2),
        "releases": RELEASES,
        "expected_alerts": len(expected),
        "alerts_delivered_webhook": len(set(got_keys) & expected),
        "messages_delivered": {"webhook": len(hook), "slack": len(slack), "email": len(mails)},
        "duplicates": {"webhook": dup_hook, "slack": dup_slack, "email": dup_mail},
        "losses": len(missing),
        "integrity_checks_ok": kills + RELEASES,
    }
    record_figure("crash_safety", figures)
    assert missing == set()
    assert set(got_keys) == expected  # nothing unexpected either
    # One digest per release per channel, each at least once.
    assert len(releases_seen) == RELEASES
    assert len(set(slack)) == RELEASES and len(set(mails)) == RELEASES
    # At-least-once: a kill can leave at most the one in-flight message per channel unmarked.
    assert max(dup_hook, dup_slack, dup_mail) <= kills
