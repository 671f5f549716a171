"""Evaluation failures in the service, in-process: one ops notice when a failure begins, one when
it clears, and visible in /readyz, the metrics and `status` meanwhile.

A release's failed evaluation is the pipeline's ``EvaluationOutcome`` with an ``error``
(``FailedOutcome`` below has exactly that field); a pass that fails as a whole is the pipeline
raising, injected here by replacing ``evaluate_pending`` on the real pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest

from monitor.clock import ManualClock
from monitor.commands.status import as_json, format_status, gather
from monitor.config import load_config
from monitor.daemon import ops
from monitor.daemon.service import Service
from monitor.model import Release
from monitor.pipeline import EvaluationOutcome

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)


@dataclass
class FailedOutcome(EvaluationOutcome):
    error: str | None = None


@pytest.fixture
def service(tmp_path):
    path = tmp_path / "monitor.yaml"
    (tmp_path / "feed.csv").write_text("period,reporter,partner,commodity,flow,measure,value\n")
    path.write_text(
        f"state: sqlite:///{tmp_path / 'state.db'}\n"
        "sources:\n"
        f"  feed:\n    type: file\n    path: {tmp_path / 'feed.csv'}\n"
        "    schedule: '@every 5m'\n"
        "channels:\n"
        f"  analysts:\n    type: file\n    path: {tmp_path / 'analysts'}\n"
        f"  ops:\n    type: file\n    path: {tmp_path / 'ops'}\n"
        "routes:\n  - channels: [analysts]\n"
        "daemon:\n  health: {enabled: false}\n  ops: {channels: [ops]}\n"
    )
    svc = Service(load_config(str(path)), config_path=str(path), clock=ManualClock(NOW), environ={})
    yield svc
    svc.close()


def ops_messages(svc: Service) -> list[str]:
    return [m.message["text"] for m in svc.store.outbox() if m.channel == "ops"]


def sample(svc: Service, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(svc.metrics.exposition().decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


RELEASE = Release(7, "feed", "2025-08-20T03:00:00Z", ("2025-07",))


def test_failed_release_notifies_once_and_once_when_it_evaluates(service):
    """A release failing at every retry queues one ops notice; evaluating it queues one more."""
    assert service.observe_evaluations([FailedOutcome(RELEASE, error="ValueError: boom")], None)
    assert not service.observe_evaluations([FailedOutcome(RELEASE, error="ValueError: boom")], None)
    [opened] = ops_messages(service)
    assert "release 7 of feed fails to evaluate" in opened
    assert service.observe_evaluations([FailedOutcome(RELEASE)], None) == 1
    _, cleared = ops_messages(service)
    assert "no longer hold" in cleared and "release 7 of feed fails to evaluate" in cleared
    assert service.observe_evaluations([FailedOutcome(RELEASE)], None) == 0


def test_failed_release_is_visible_in_readyz_metrics_and_status(service):
    """While it fails: /readyz names it, the metrics count it, `status` lists the incident."""
    service.observe_evaluations([FailedOutcome(RELEASE, error="ValueError: boom")], None)
    ready = service.readiness()
    assert not ready.ready
    assert ready.reasons == ("release 7 of feed failed to evaluate: ValueError: boom",)
    assert sample(service, "customs_monitor_evaluation_failures_total", source="feed") == 1
    assert sample(service, "customs_monitor_incidents_open", rule=ops.RULE_RELEASE_FAILED) == 1
    report = gather(service.store, NOW)
    assert "release 7 of feed fails to evaluate: ValueError: boom" in format_status(report)
    [incident] = json.loads(as_json(report))["incidents"]
    assert incident["rule"] == ops.RULE_RELEASE_FAILED and incident["error"] == "ValueError: boom"
    service.observe_evaluations([FailedOutcome(RELEASE)], None)
    assert service.readiness().ready
    assert sample(service, "customs_monitor_incidents_open", rule=ops.RULE_RELEASE_FAILED) == 0
    assert "Open incidents\n  none" in format_status(gather(service.store, NOW))


def test_failing_evaluation_pass_is_one_incident_with_one_traceback(service, caplog):
    """The pipeline raising at every poll: one ops notice, one traceback in the log, /readyz
    not ready, the metric counting each failed pass; the first pass that works clears it."""
    pipeline = service.pipeline
    working = pipeline.evaluate_pending

    def broken() -> list[EvaluationOutcome]:
        raise RuntimeError("the evaluator broke")

    pipeline.evaluate_pending = broken
    for _ in range(3):
        service.poll("feed")
    [opened] = ops_messages(service)
    assert "evaluating pending releases fails" in opened
    assert sum(1 for r in caplog.records if r.exc_info) == 1
    assert service.readiness().reasons == (
        "evaluating pending releases fails: RuntimeError: the evaluator broke",
    )
    assert sample(service, "customs_monitor_evaluation_failures_total", source="all") == 3
    pipeline.evaluate_pending = working
    service.poll("feed")
    assert len(ops_messages(service)) == 2
    assert service.readiness().ready


def test_failing_template_is_one_incident_cleared_when_the_rule_renders(service):
    """A template failing for a rule's alerts (the message went out in a fallback) opens one
    incident, however often it fails; the rule's next alerts rendering cleanly clear it."""
    from monitor.render.env import TemplateFailure

    failure = TemplateFailure("slack/notice.md.j2", 3, "ZeroDivisionError", rule="us-high")
    failing = FailedOutcome(RELEASE, template_failures=[failure], rendered_rules={"us-high"})
    assert service.observe_evaluations([failing], None) == 1
    assert service.observe_evaluations([failing], None) == 0
    [opened] = ops_messages(service)
    assert "template slack/notice.md.j2 fails for rule us-high" in opened
    other = FailedOutcome(RELEASE, rendered_rules={"another-rule"})
    assert service.observe_evaluations([other], None) == 0
    clean = FailedOutcome(RELEASE, rendered_rules={"us-high"})
    assert service.observe_evaluations([clean], None) == 1
    assert "no longer hold" in ops_messages(service)[-1]
