"""The daemon with ``engine.cluster``: large releases on the cluster, the same alerts; a cluster
that is down means local evaluation and one ops incident, never a missed alert."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.engine import evaluate, load_rules
from monitor.engine.cluster.release import ClusterRun
from monitor.model import Release
from monitor.pipeline import EvaluationOutcome
from tests.cluster.conftest import PACK
from tests.daemon.helpers import free_port

NOW = dt.datetime(2026, 2, 20, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def feed(tmp_path_factory, observations):
    """The cluster test data as the CSV a file source reads."""
    path = tmp_path_factory.mktemp("feed") / "feed.csv"
    observations.drop(columns=["source"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def expected_keys(observations):
    """The alert keys of every period, as the local engine evaluates them."""
    obs = observations.assign(source="feed")
    periods = sorted(str(p) for p in obs["period"].unique())
    keys = {a.key for a in evaluate(obs, load_rules([str(PACK)]), periods)}
    assert len(keys) > 100  # the pack fires on this data: an empty result would prove nothing
    return keys


def make_service(tmp_path, feed, engine: str) -> Service:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"state: sqlite:///{tmp_path / 'state.db'}\n"
        f"rules: [{PACK}]\n"
        "initial: alert_all\n"
        f"sources:\n  feed:\n    type: file\n    path: {feed}\n    schedule: '@every 5m'\n"
        "channels:\n"
        f"  analysts:\n    type: file\n    path: {tmp_path / 'analysts'}\n"
        f"  ops:\n    type: file\n    path: {tmp_path / 'ops'}\n"
        "routes:\n  - channels: [analysts]\n"
        "daemon:\n  health: {enabled: false}\n  ops: {channels: [ops]}\n"
        f"engine: {engine}\n"
    )
    return Service(
        load_config(str(path)), config_path=str(path), clock=ManualClock(NOW), environ={}
    )


def ops_messages(svc: Service) -> list[str]:
    return [m.message["text"] for m in svc.store.outbox() if m.channel == "ops"]


def firing_keys(svc: Service) -> set[str]:
    return set(svc.store.alerts(source="feed"))


def test_unreachable_cluster_evaluates_locally_with_one_ops_notice(tmp_path, feed, expected_keys):
    """No scheduler at the address: every alert still fires, and ops hear about it once."""
    address = f"tcp://127.0.0.1:{free_port()}"
    svc = make_service(
        tmp_path,
        feed,
        f"{{cluster: '{address}', cluster_min_rows: 0, connect_timeout_seconds: 1}}",
    )
    try:
        svc.poll("feed")
        assert firing_keys(svc) == expected_keys
        [notice] = ops_messages(svc)
        assert f"the Dask cluster {address} fails" in notice
    finally:
        svc.close()


def test_release_on_the_cluster_fires_the_local_alerts(tmp_path, feed, expected_keys, client):
    """A release above cluster_min_rows is evaluated on the cluster, to the same alerts."""
    address = client.scheduler.address
    svc = make_service(tmp_path, feed, f"{{cluster: '{address}', cluster_min_rows: 1000}}")
    try:
        pipeline = svc.pipeline
        assert pipeline.poll("feed").ok
        [outcome] = pipeline.evaluate_pending()
        assert outcome.cluster == ClusterRun(address)
        assert firing_keys(svc) == expected_keys
    finally:
        svc.close()


def test_small_release_stays_in_the_daemon(tmp_path, feed, expected_keys):
    """Below cluster_min_rows the cluster is not asked (nor missed when it is down)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    svc = make_service(tmp_path, feed, f"{{cluster: '{address}', cluster_min_rows: 100000000}}")
    try:
        pipeline = svc.pipeline
        assert pipeline.poll("feed").ok
        [outcome] = pipeline.evaluate_pending()
        assert outcome.cluster is None
        assert firing_keys(svc) == expected_keys
    finally:
        svc.close()


RELEASE = Release(7, "feed", "2026-02-20T03:00:00Z", ("2025-12",))


def test_cluster_incident_opens_once_and_clears_once(tmp_path, feed):
    """Failing releases open one incident; the next release the cluster evaluates clears it."""
    address = "tcp://scheduler:8786"
    svc = make_service(tmp_path, feed, f"{{cluster: '{address}'}}")
    try:
        failed = EvaluationOutcome(RELEASE, cluster=ClusterRun(address, "OSError: refused"))
        assert svc.observe_evaluations([failed], None) == 1
        assert svc.observe_evaluations([failed], None) == 0
        worked = EvaluationOutcome(RELEASE, cluster=ClusterRun(address))
        assert svc.observe_evaluations([worked], None) == 1
        assert svc.observe_evaluations([worked], None) == 0
        opened, cleared = ops_messages(svc)
        assert f"the Dask cluster {address} fails" in opened
        assert "no longer hold" in cleared
    finally:
        svc.close()
