"""Every failure is visible where an operator looks, against the real daemon process.

- A source failing on ``@every 5s``: /readyz turns 503 within twice its gap (10 s, as
  docs/operations.md promises), HEAD answers like GET without a body.
- The same failure lasting many polls: ONE ops notice when it begins and one when it clears,
  while `status`, /readyz and the metrics show it meanwhile.
- A release that fails to evaluate (injected into the real process, tests/e2e/inject.py, since
  no input is meant to cause it): `run --once` exits 1 naming it; the daemon sends one ops
  notice, reports it in /readyz, the metrics and `status`, and one clearing notice once the
  fault is gone and the release evaluated.
Each check polls with a generous deadline; no sleep stands in for an outcome.
Data: generated with a fixed seed (tests/e2e/test_crash_safety.dataset).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.harness import (
    Answer,
    Daemon,
    HttpPeer,
    Publisher,
    free_port,
    http,
    http_peer,
    record_figure,
    run_cli,
    scrape,
    wait_for,
)
from tests.e2e.inject import EVALUATE_FAULT
from tests.e2e.test_crash_safety import RULES, dataset

GAP = 5.0  # the sources' schedule below
# How much later than the promised 2 x GAP the 503 may be observed: the failing poll itself can
# be late on a loaded machine, and the test polls /readyz from outside.
SLACK = 20.0
OPS_RULES = ("ops-release-failed", "ops-evaluation-failing")


def write_config(folder: Path, peer: HttpPeer, feeds: dict[str, Publisher], port: int) -> Path:
    (folder / "rules.yaml").write_text(RULES)
    sources = "".join(
        f'  {name}: {{type: url, url: "{feed.url}", timeout: 5, schedule: "@every 5s"}}\n'
        for name, feed in feeds.items()
    )
    config = folder / "monitor.yaml"
    config.write_text(
        f"""\
state_dir: state
rules: [rules.yaml]
initial: alert_all
sources:
{sources}channels:
  hook: {{type: webhook, url: "{peer.url("/hook")}", timeout: 10}}
  ops: {{type: webhook, url: "{peer.url("/ops")}", timeout: 10}}
routes:
  - channels: [hook]
daemon:
  health: {{port: {port}}}
  deliver_interval: 1
  release_retry_seconds: 2
  ops: {{channels: [ops], source_failures: 2}}
"""
    )
    return config


def readyz(port: int, method: str = "GET") -> tuple[int, bytes]:
    return http(f"http://127.0.0.1:{port}/readyz", method)


def value(port: int, name: str, **labels: str) -> float | None:
    return scrape(port).get((name, tuple(sorted(labels.items()))))


def ops_notices(peer: HttpPeer) -> list[tuple[str, str, str]]:
    """(change, rule, subject) of every alert in every complete ops message, in arrival order."""
    return [
        (a["change"], a["alert"]["rule"], a["alert"]["labels"]["subject"])
        for post in peer.accepted("/ops")
        for a in post.json["alerts"]
    ]


def failed_attempts(port: int) -> float:
    """Failed evaluations the daemon counted, of a release or of a whole pass."""
    return sum(
        v
        for (name, _), v in scrape(port).items()
        if name == "customs_monitor_evaluation_failures_total"
    )


def status(config: Path) -> dict:
    done = run_cli(config, "status", "--format", "json")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_readyz_turns_503_within_twice_the_gap_of_a_failing_source(tmp_path: Path) -> None:
    """A source on @every 5s starts failing: /readyz is 503 naming it within 10 s of its last
    success (plus the slack a loaded machine needs), not after minutes; HEAD agrees."""
    port = free_port()
    with http_peer() as peer:
        feed = Publisher(peer)
        feed.publish(dataset(2))
        config = write_config(tmp_path, peer, {"feed": feed}, port)
        daemon = Daemon(config, "run")
        try:
            assert wait_for(lambda: readyz(port)[0] == 200, timeout=120), daemon.stderr()[-3000:]
            assert http(f"http://127.0.0.1:{port}/healthz", "HEAD") == (200, b"")
            assert readyz(port, "HEAD") == (200, b"")
            head_metrics = http(f"http://127.0.0.1:{port}/metrics", "HEAD")
            assert head_metrics == (200, b"")
            # ready comes before the first poll ends: fail the source only once it succeeded
            assert wait_for(
                lambda: (
                    value(
                        port, "customs_monitor_source_last_success_timestamp_seconds", source="feed"
                    )
                    is not None
                ),
                timeout=120,
            ), daemon.stderr()[-3000:]
            feed.fault = Answer(500, b"internal error")
            assert wait_for(lambda: readyz(port)[0] == 503, timeout=300), daemon.stderr()[-3000:]
            seen_at = time.time()
            last_success = value(
                port, "customs_monitor_source_last_success_timestamp_seconds", source="feed"
            )
            code, body = readyz(port)
            head = readyz(port, "HEAD")
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=120) == 0
        finally:
            daemon.kill()
    assert last_success is not None
    after = seen_at - last_success
    record_figure(
        "readyz_failing_source", {"gap_seconds": GAP, "503_after_seconds": round(after, 1)}
    )
    assert after <= 2 * GAP + SLACK, after
    assert code == 503
    [reason] = json.loads(body)["reasons"]
    assert reason.startswith("source 'feed': last success ") and "HTTP 500" in reason
    assert head == (503, b"")


@pytest.mark.slow
def test_failing_source_is_one_incident_visible_everywhere_until_it_clears(
    tmp_path: Path,
) -> None:
    """One of two sources fails for many polls: one ops notice, the incident in `status`, the
    metrics and /readyz; it recovers: one clearing notice, and all of it goes back to normal."""
    port = free_port()
    with http_peer() as peer:
        good, bad = Publisher(peer, "/good.csv"), Publisher(peer, "/bad.csv")
        good.publish(dataset(2, seed=1))
        bad.publish(dataset(2, seed=2))
        config = write_config(tmp_path, peer, {"good": good, "bad": bad}, port)
        daemon = Daemon(config, "run")
        try:
            assert wait_for(lambda: readyz(port)[0] == 200, timeout=120), daemon.stderr()[-3000:]
            bad.fault = Answer(500, b"internal error")
            assert wait_for(lambda: ops_notices(peer), timeout=180), daemon.stderr()[-3000:]
            failures = "customs_monitor_source_consecutive_failures"
            assert wait_for(lambda: (value(port, failures, source="bad") or 0) >= 6, timeout=180)
            during = {
                "notices": ops_notices(peer),
                "incidents": value(
                    port, "customs_monitor_incidents_open", rule="ops-source-failing"
                ),
                "ready": readyz(port),
                "status": status(config),
            }
            bad.fault = None
            assert wait_for(lambda: len(ops_notices(peer)) == 2, timeout=180)
            polls = value(port, "customs_monitor_source_polls_total", source="bad") or 0
            # Several more polls (each followed by an ops check) after the clearing notice.
            assert wait_for(
                lambda: (
                    (value(port, "customs_monitor_source_polls_total", source="bad") or 0)
                    >= polls + 3
                ),
                timeout=180,
            )
            after = {
                "notices": ops_notices(peer),
                "incidents": value(
                    port, "customs_monitor_incidents_open", rule="ops-source-failing"
                ),
                "ready": readyz(port)[0],
                "status": status(config),
            }
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=120) == 0
        finally:
            daemon.kill()
        hook_sources = {p.json["source"] for p in peer.accepted("/hook")}

    assert during["notices"] == [("new", "ops-source-failing", "bad")]
    assert during["incidents"] == 1
    assert during["ready"][0] == 503 and "source 'bad'" in during["ready"][1].decode()
    [incident] = during["status"]["incidents"]
    assert incident["rule"] == "ops-source-failing" and incident["subject"] == "bad"
    assert "HTTP 500" in incident["error"]
    assert after["notices"] == [
        ("new", "ops-source-failing", "bad"),
        ("resolved", "ops-source-failing", "bad"),
    ]
    assert after["incidents"] == 0 and after["ready"] == 200
    assert after["status"]["incidents"] == []
    assert hook_sources == {"good", "bad"}  # the analysts' route never got an ops notice


@pytest.mark.slow
def test_release_failing_to_evaluate_makes_run_once_fail(tmp_path: Path) -> None:
    """`run --once` exits 1 and names the failure when a release fails to evaluate."""
    with http_peer() as peer:
        feed = Publisher(peer)
        feed.publish(dataset(2))
        config = write_config(tmp_path, peer, {"feed": feed}, free_port())
        flag = tmp_path / "fault"
        flag.touch()
        env = {EVALUATE_FAULT: f"{flag}:feed"}
        failed = run_cli(config, "run", "--once", env=env, module="tests.e2e.inject")
        flag.unlink()
        recovered = run_cli(config, "run", "--once", env=env, module="tests.e2e.inject")
    err = failed.stderr.decode()
    assert failed.returncode == 1, err[-3000:]
    assert "error: " in err and "injected evaluation fault (release 1)" in err
    assert recovered.returncode == 0, recovered.stderr.decode()[-3000:]


@pytest.mark.slow
def test_release_failing_to_evaluate_is_one_incident_until_it_evaluates(tmp_path: Path) -> None:
    """The daemon: one ops notice, /readyz 503 with the reason, the failures counted in the
    metrics, the incident in `status`; after the fault is gone the release evaluates, its
    alerts go out, and one clearing notice follows."""
    port = free_port()
    flag = tmp_path / "fault"
    flag.touch()
    with http_peer() as peer:
        feed = Publisher(peer)
        feed.publish(dataset(2))
        config = write_config(tmp_path, peer, {"feed": feed}, port)
        daemon = Daemon(
            config, "run", env={EVALUATE_FAULT: f"{flag}:feed"}, module="tests.e2e.inject"
        )
        try:
            assert wait_for(lambda: ops_notices(peer), timeout=180), daemon.stderr()[-3000:]
            # A second failed attempt (the pipeline retries a failed release with backoff,
            # 2 s at first here) must not notify again.
            assert wait_for(lambda: failed_attempts(port) >= 2, timeout=300), daemon.stderr()[
                -3000:
            ]
            metrics = scrape(port)
            during = {
                "notices": ops_notices(peer),
                "failures": failed_attempts(port),
                "incidents": sum(
                    metrics.get(("customs_monitor_incidents_open", (("rule", r),)), 0)
                    for r in OPS_RULES
                ),
                "ready": readyz(port),
                "status": status(config),
                "hook": len(peer.accepted("/hook")),
            }
            flag.unlink()
            # The next retry (4 s after the second failure) evaluates it.
            assert wait_for(lambda: len(ops_notices(peer)) == 2, timeout=400), daemon.stderr()[
                -3000:
            ]
            assert wait_for(lambda: readyz(port)[0] == 200, timeout=60)
            after = {"notices": ops_notices(peer), "status": status(config)}
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=120) == 0
        finally:
            daemon.kill()
        log = daemon.stderr()
        alerts = {a["key"] for p in peer.accepted("/hook") for a in p.json["alerts"]}

    [(change, rule, _)] = during["notices"]
    assert change == "new" and rule in OPS_RULES
    assert during["failures"] >= 2  # every failed attempt counts
    assert during["incidents"] == 1
    assert during["ready"][0] == 503
    assert "injected evaluation fault (release 1)" in during["ready"][1].decode()
    [incident] = during["status"]["incidents"]
    assert incident["rule"] == rule and "injected evaluation fault" in incident["error"]
    assert during["hook"] == 0
    assert [c for c, _, _ in after["notices"]] == ["new", "resolved"]
    assert after["status"]["incidents"] == []
    assert alerts == {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|2024-{m:02d}"
        for m in (1, 2)
        for p in ["US", "DE", "JP", "KR", "VN"]
    }
    assert log.count("Traceback") <= 1  # said once, not at every poll
