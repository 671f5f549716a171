"""Source faults: one source answers 500s, hangs past its timeout, storms 429s or sends a
malformed payload, while another keeps publishing. Each cycle (``run --once`` subprocess, see
test_crash_safety.py for why) must still alert the healthy source's releases, record the failed
poll, and once the broken source recovers its release is alerted too, exactly once.
Data: generated here with a fixed seed; the rule fires for every series at every new month.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import Answer, Publisher, http_peer, integrity_ok, record_figure, run_cli
from tests.e2e.test_crash_safety import RULES, dataset

FAULTS = {
    "http_500": Answer(500, b"internal error"),
    "timeout": Answer(200, b"late", hang=2.5),
    # An hour's Retry-After: it is not slept inside the fetch (test_long_retry_after_is_not_slept)
    "http_429_storm": Answer(429, b"slow down", {"Retry-After": "3600"}),
    "malformed_html": Answer(200, b"<html><body>Service Unavailable</body></html>"),
    "malformed_truncated_csv": Answer(200, b'period,reporter,partner\n"2024-0'),
}


@pytest.mark.slow
def test_broken_source_never_stops_the_healthy_one(tmp_path: Path) -> None:
    """Each fault kind: the healthy source's new release is alerted in the same cycle; the
    broken source's release is alerted once after it recovers; nothing is lost."""
    with http_peer() as peer:
        good, bad = Publisher(peer, "/good.csv"), Publisher(peer, "/bad.csv")
        (tmp_path / "rules.yaml").write_text(RULES)
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f"""\
state_dir: state
rules: [rules.yaml]
initial: alert_all
sources:
  good: {{type: url, url: "{good.url}", timeout: 1}}
  bad: {{type: url, url: "{bad.url}", timeout: 1, max_wait: 1}}
channels:
  hook: {{type: webhook, url: "{peer.url("/hook")}", timeout: 5}}
routes:
  - channels: [hook]
"""
        )
        injected: Counter[str] = Counter()
        months = 2
        good.publish(dataset(months, seed=1))
        bad.publish(dataset(months, seed=2))
        assert run_cli(config, "run", "--once").returncode == 0
        for kind, answer in FAULTS.items():
            months += 1
            good.publish(dataset(months, seed=1))
            bad.publish(dataset(months, seed=2))
            bad.fault = answer
            done = run_cli(config, "run", "--once")
            injected[kind] += 1
            assert done.returncode == 1  # one source failed: said so, did not crash
            assert b"Traceback" not in done.stderr
            assert b"source 'bad'" in done.stderr
            # the healthy source's new month went out in the same cycle
            latest = f"2024-{months:02d}"
            good_keys = {
                a["key"]
                for p in peer.accepted("/hook")
                if p.json["source"] == "good"
                for a in p.json["alerts"]
            }
            assert any(k.endswith(latest) for k in good_keys)
            bad.fault = None
            recovered = run_cli(config, "run", "--once")
            assert recovered.returncode == 0, recovered.stderr.decode()[-1500:]
        assert integrity_ok(tmp_path / "state" / "state.db") == "ok"
        bodies = [p.json for p in peer.accepted("/hook")]

    per_source = {
        src: Counter(a["key"] for b in bodies if b["source"] == src for a in b["alerts"])
        for src in ("good", "bad")
    }
    expected = {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|2024-{m:02d}"
        for m in range(1, months + 1)
        for p in ["US", "DE", "JP", "KR", "VN"]
    }
    figures = {
        "faults_injected": dict(injected),
        "cycles": 1 + 2 * len(FAULTS),
        "alerts_delivered": {s: len(c) for s, c in per_source.items()},
        "duplicates": {s: sum(n - 1 for n in c.values()) for s, c in per_source.items()},
        "losses": {s: len(expected - set(c)) for s, c in per_source.items()},
    }
    record_figure("source_faults", figures)
    for src, keys in per_source.items():
        assert set(keys) == expected, src
        assert max(keys.values()) == 1, f"{src}: an alert was sent twice"


def test_long_retry_after_is_not_slept() -> None:
    """url: 429 with Retry-After 3600 and max_wait 5 fails within seconds, not an hour."""
    import threading

    from monitor.errors import SourceError
    from monitor.sources.url import UrlSource

    with http_peer() as peer:
        peer.routes["/feed.csv"] = Answer(429, b"slow down", {"Retry-After": "3600"})
        source = UrlSource("feed", {"url": peer.url("/feed.csv"), "max_wait": 5})
        outcome: list[BaseException] = []

        def fetch() -> None:
            try:
                source.fetch()
            except SourceError as exc:
                outcome.append(exc)

        worker = threading.Thread(target=fetch, daemon=True)  # left asleep if it ever regresses
        worker.start()
        worker.join(timeout=15)
        assert not worker.is_alive(), "the fetch is still sleeping the server's Retry-After"
        assert outcome and "retry after 3600" in str(outcome[0])
