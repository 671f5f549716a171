"""The health endpoint over real HTTP on 127.0.0.1, backed by a real SQLite store."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon.health import HealthServer, Readiness, readiness
from monitor.daemon.metrics import Metrics
from monitor.model import Alert, Release
from monitor.store import OutboxEntry

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def server(store):
    metrics = Metrics(store)
    state = {"ready": Readiness(True)}
    srv = HealthServer(metrics, lambda: state["ready"], port=0).start()
    yield srv, metrics, state
    srv.close()


def test_binds_loopback_by_default(server):
    """Without a bind option the endpoint listens on 127.0.0.1 only."""
    srv, _, _ = server
    assert srv.httpd.server_address[0] == "127.0.0.1"


def test_healthz_answers_ok(server):
    """/healthz is 200 while the process serves."""
    srv, _, _ = server
    assert get(srv.url + "/healthz") == (200, "ok\n")


def test_readyz_reports_reasons_with_503(server):
    """/readyz is 503 with the reasons when not ready, 200 when ready."""
    srv, _, state = server
    assert get(srv.url + "/readyz")[0] == 200
    state["ready"] = Readiness(False, ("source 'gacc': never polled successfully",))
    code, body = get(srv.url + "/readyz")
    assert code == 503
    assert json.loads(body)["reasons"] == ["source 'gacc': never polled successfully"]


def head(url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_head_answers_like_get_without_a_body(server, path):
    """HEAD gets GET's status, Content-Type and Content-Length, and no body."""
    srv, _, state = server
    state["ready"] = Readiness(False, ("source 'gacc': never polled successfully",))
    status, headers, body = head(srv.url + path)
    got = urllib.request.Request(srv.url + path)
    try:
        with urllib.request.urlopen(got, timeout=5) as resp:
            get_status, get_headers = resp.status, dict(resp.headers.items())
    except urllib.error.HTTPError as exc:
        get_status, get_headers = exc.code, dict(exc.headers.items())
    assert status == get_status == (503 if path == "/readyz" else 200)
    assert body == b""
    assert headers["Content-Type"] == get_headers["Content-Type"]
    if path != "/metrics":  # the exposition's length changes as scrapes are counted
        assert headers["Content-Length"] == get_headers["Content-Length"] != "0"


def test_unknown_path_is_404(server):
    """Anything else is 404."""
    srv, _, _ = server
    assert get(srv.url + "/admin")[0] == 404


def test_metrics_show_store_figures(server, store):
    """Polls, failures, last success per source and outbox depth come from the store."""
    srv, _, _ = server
    store.record_poll("gacc", now=NOW)
    store.record_poll("gacc", now=NOW + dt.timedelta(minutes=10), error="HTTP 500")
    store.enqueue(
        [OutboxEntry(channel="slack", dedup_key="a", kind="alert", message={"subject": "s"})],
        now=NOW,
    )
    code, body = get(srv.url + "/metrics")
    got = samples(body)
    src = (("source", "gacc"),)
    assert code == 200
    assert got[("customs_monitor_source_polls_total", src)] == 2
    assert got[("customs_monitor_source_poll_failures_total", src)] == 1
    assert got[("customs_monitor_source_consecutive_failures", src)] == 1
    assert got[("customs_monitor_source_last_success_timestamp_seconds", src)] == NOW.timestamp()
    assert got[("customs_monitor_outbox_depth", (("channel", "slack"),))] == 1
    assert got[("customs_monitor_store_up", ())] == 1


def test_metrics_show_process_counters(server):
    """Releases, revisions, alerts per rule, deliveries and evaluation time are exposed."""
    srv, metrics, _ = server
    metrics.observe_release(Release(1, "gacc", "2025-08-20T03:00:00Z", ("2025-07",), ("2025-06",)))
    alert = Alert("six-month-high", "2025-07", "CN", "US", "85051110", "export", "kg", 1.0, "kg")
    metrics.observe_alerts([alert, alert])
    metrics.observe_delivery("slack", ok=True)
    metrics.observe_delivery("email", ok=False, permanent=True)
    metrics.evaluation.observe(0.2)
    got = samples(get(srv.url + "/metrics")[1])
    assert got[("customs_monitor_releases_total", (("source", "gacc"),))] == 1
    assert got[("customs_monitor_revisions_total", (("source", "gacc"),))] == 1
    assert got[("customs_monitor_alerts_fired_total", (("rule", "six-month-high"),))] == 2
    assert got[("customs_monitor_deliveries_total", (("channel", "slack"),))] == 1
    key = ("customs_monitor_delivery_failures_total", (("channel", "email"), ("permanent", "true")))
    assert got[key] == 1
    assert got[("customs_monitor_evaluation_duration_seconds_count", ())] == 1


def test_registries_are_independent(store):
    """Two daemons in one process do not share counters."""
    a, b = Metrics(), Metrics()
    a.observe_delivery("slack", ok=True)
    assert b"customs_monitor_deliveries_total{" not in b.exposition()
    assert b'customs_monitor_deliveries_total{channel="slack"} 1.0' in a.exposition()


def test_metrics_answer_when_store_is_gone(tmp_path):
    """A broken store gives store_up 0 instead of a failed scrape."""
    from monitor.store import open_store

    broken = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    broken.close()
    (tmp_path / "x.db").unlink()
    (tmp_path / "x.db").mkdir()  # now it cannot be opened as a database at all
    got = samples(Metrics(broken).exposition().decode())
    assert got[("customs_monitor_store_up", ())] == 0


def test_readiness_needs_fresh_sources(store):
    """Ready only when every source succeeded within its interval."""
    interval = {"gacc": dt.timedelta(hours=1), "census": dt.timedelta(hours=1)}
    started = NOW - dt.timedelta(minutes=5)
    assert readiness(store, interval, NOW, started).ready  # grace after start
    later = NOW + dt.timedelta(hours=2)
    store.record_poll("gacc", now=later - dt.timedelta(minutes=10))
    result = readiness(store, interval, later, started)
    assert not result.ready
    assert result.reasons == (
        "source 'census': never polled successfully (expected within 1:00:00)",
    )
    store.record_poll("census", now=later)
    assert readiness(store, interval, later, started).ready


def test_failing_source_is_not_ready_after_twice_its_gap(store):
    """A source on a 5 s schedule whose polls fail is reported 10 s after its last success,
    with the failure count and the last error."""
    interval = {"feed": dt.timedelta(seconds=10)}
    started = NOW - dt.timedelta(hours=1)
    store.record_poll("feed", now=NOW)
    store.record_poll("feed", now=NOW + dt.timedelta(seconds=5), error="HTTP 500 from server")
    assert readiness(store, interval, NOW + dt.timedelta(seconds=10), started).ready
    store.record_poll("feed", now=NOW + dt.timedelta(seconds=10), error="HTTP 500 from server")
    result = readiness(store, interval, NOW + dt.timedelta(seconds=11), started)
    assert not result.ready
    [reason] = result.reasons
    assert reason.startswith("source 'feed': last success 2025-08-20T03:00:00+00:00")
    assert "2 failed poll(s) since, last: HTTP 500 from server" in reason


def test_slow_source_that_does_not_fail_gets_the_stuck_allowance(store):
    """No failure and no recent success (a long poll still running): ready until STUCK_AFTER."""
    from monitor.daemon.health import STUCK_AFTER

    interval = {"feed": dt.timedelta(seconds=10)}
    store.record_poll("feed", now=NOW)
    started = NOW - dt.timedelta(hours=1)
    assert readiness(store, interval, NOW + dt.timedelta(minutes=4), started).ready
    late = readiness(store, interval, NOW + STUCK_AFTER + dt.timedelta(seconds=1), started)
    assert late.reasons == (
        "source 'feed': last success 2025-08-20T03:00:00+00:00 (expected within 0:00:10)",
    )


def test_other_problems_make_it_not_ready(store):
    """Problems the daemon adds (a release that failed to evaluate) are reasons too."""
    result = readiness(store, {}, NOW, NOW, problems=["release 3 (feed) failed: boom"])
    assert result == Readiness(False, ("release 3 (feed) failed: boom",))


def test_closing_a_server_that_never_started_frees_its_port(store):
    """close() before start() returns at once and frees the port (no wait for a serve loop)."""
    import socket
    import threading

    srv = HealthServer(Metrics(store), lambda: Readiness(True), port=0)
    port = srv.port
    closer = threading.Thread(target=srv.close, daemon=True)
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
