"""Self-monitoring: incidents when the monitor itself is unwell, one notice when each begins and
one when it clears.

An incident is an ``Alert`` recorded in the store's alerts table (source ``OPS_SOURCE``):
firing while it lasts, resolved when it clears. Its identity is the rule plus its subject (the
source, channel or release), so however often a check runs, a failure that lasts is one
incident; the store, not process memory, says which are open, so an HA standby that takes over
and a restarted daemon see the same ones.

- ``ops-source-failing``: a source failed ``source_failures`` polls in a row (per source:
  ``failure_alert_after``); clears with its next successful poll.
- ``ops-outbox-stuck``: a channel's oldest pending message waited longer than
  ``outbox_stuck_minutes``; clears when no message of the channel waits that long.
- ``ops-release-failed``: a release failed to evaluate; clears when it evaluates.
- ``ops-evaluation-failing``: a pass over the pending releases failed as a whole (the store, a
  bug); clears with the next pass that works.
- ``ops-template-failing``: a template or a rule's summary failed or went past a limit (the
  message went out in a fallback rendering); clears when that rule's alerts next render
  without it.
- ``ops-cluster-failing``: a release meant for the Dask cluster (``engine.cluster``) was
  evaluated in the daemon because the cluster could not (unreachable, failed, too slow);
  clears when a release next evaluates on it.

The first two are recomputed from the store by ``check``; the others are decided from each
evaluation pass (``evaluation_changes``, ``template_changes``, ``cluster_changes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from monitor.config.daemon import OpsOptions
from monitor.model import Alert
from monitor.store.base import ALERT_FIRING, ALERT_SILENCED, OUTBOX_PENDING, Store, StoredAlert

if TYPE_CHECKING:
    from monitor.config.sources import SourceOptions
    from monitor.engine.cluster.release import ClusterRun

RULE_SOURCE_FAILING = "ops-source-failing"
RULE_OUTBOX_STUCK = "ops-outbox-stuck"
RULE_RELEASE_FAILED = "ops-release-failed"
RULE_EVALUATION_FAILING = "ops-evaluation-failing"
RULE_TEMPLATE_FAILING = "ops-template-failing"
RULE_CLUSTER_FAILING = "ops-cluster-failing"
RULES = (
    RULE_SOURCE_FAILING,
    RULE_OUTBOX_STUCK,
    RULE_RELEASE_FAILED,
    RULE_EVALUATION_FAILING,
    RULE_TEMPLATE_FAILING,
    RULE_CLUSTER_FAILING,
)
#: the ``source`` of every incident in the alerts table (and of the digests sent for them)
OPS_SOURCE = "customs-monitor"
#: the labels that identify an incident (``_ops_alert``): what a silence of ops notices matches
LABELS = ("ops", "subject", "incident_id")
#: the ``source`` label of a failure that is not one source's (a whole evaluation pass)
ALL_SOURCES = "all"


@dataclass
class Changes:
    """What a check decided: incidents to open, and incidents to clear with what was sent."""

    opened: list[Alert] = field(default_factory=list)
    cleared: list[tuple[Alert, dict[str, Any]]] = field(default_factory=list)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _ops_alert(
    rule: str,
    subject: str,
    since: dt.datetime,
    value: float,
    unit: str,
    title: str,
    detail: str,
    context: dict[str, Any],
    *,
    instance: str | None = None,
) -> Alert:
    # A notice identified by its labels: what it is about (``subject``) and which incident of
    # it (``incident_id``: when it began, or ``instance``), so each incident keeps its own
    # record; the period is the month it began.
    return Alert.notice(
        rule,
        f"{since.year:04d}-{since.month:02d}",
        {"ops": "true", "subject": subject, "incident_id": instance or _stamp(since)},
        value=float(value),
        unit=unit,
        severity="critical",
        summary=f"{title} ({detail})" if detail else title,
        context={"incident": title, **context},
        source=OPS_SOURCE,
    )


def subject_of(alert: Alert | Mapping[str, Any]) -> str:
    """What an incident is about (a source, a channel, a release): ``Alert.subject``, also read
    from a stored payload."""
    if isinstance(alert, Alert):
        return alert.subject
    return str((alert.get("labels") or {}).get("subject", ""))


def _identity(rule: str, alert: Mapping[str, Any] | Alert) -> tuple[str, str]:
    return rule, subject_of(alert)


def source_alerts(
    store: Store,
    ops: OpsOptions,
    thresholds: dict[str, int],
    now: dt.datetime,
    sources: set[str] | None = None,
) -> list[Alert]:
    """A configured source (all when ``sources`` is None) that failed ``threshold`` polls in a
    row (per-source ``failure_alert_after``)."""
    out = []
    for st in store.source_states():
        if sources is not None and st.source not in sources:
            continue
        threshold = thresholds.get(st.source, ops.source_failures)
        if st.consecutive_failures < threshold:
            continue
        # The streak began after the last success, which stays fixed while it lasts. For a
        # source that never succeeded the store keeps no start, so the incident is dated when
        # it is first seen (the open incident is found by its subject, not its date).
        since = st.last_success_at or now
        out.append(
            _ops_alert(
                RULE_SOURCE_FAILING,
                st.source,
                since,
                st.consecutive_failures,
                "polls",
                f"source {st.source} is failing",
                f"{st.consecutive_failures} polls in a row",
                {
                    "last_error": st.last_error or "",
                    "last_success_at": st.last_success_at.isoformat()
                    if st.last_success_at
                    else "never",
                    "threshold": threshold,
                },
            )
        )
    return out


def outbox_alerts(store: Store, ops: OpsOptions, now: dt.datetime) -> list[Alert]:
    """The oldest message per channel that has waited longer than ``outbox_stuck_minutes``."""
    limit = dt.timedelta(minutes=ops.outbox_stuck_minutes)
    oldest: dict[str, Any] = {}
    for m in store.outbox(state=OUTBOX_PENDING):
        if m.created_at is None or now - m.created_at <= limit:
            continue
        if m.channel not in oldest or m.created_at < oldest[m.channel].created_at:
            oldest[m.channel] = m
    out = []
    for channel, m in sorted(oldest.items()):
        minutes = (now - m.created_at).total_seconds() / 60
        out.append(
            _ops_alert(
                RULE_OUTBOX_STUCK,
                channel,
                m.created_at,
                round(minutes),
                "minutes",
                f"channel {channel} is stuck",
                f"a message has waited {minutes:.0f} minutes, {m.attempts} attempts",
                {"message_id": m.id, "attempts": m.attempts, "last_error": m.last_error or ""},
            )
        )
    return out


def release_failed_alert(source: str, release_id: int, error: str, now: dt.datetime) -> Alert:
    """The incident of one release that failed to evaluate (the error stays out of the summary,
    which is a template: it goes in the context)."""
    return _ops_alert(
        RULE_RELEASE_FAILED,
        f"{source} release {release_id}",
        now,
        1,
        "failing releases",
        f"release {release_id} of {source} fails to evaluate",
        "",
        {"error": error, "release_id": release_id, "release_source": source},
        instance=f"release-{release_id}",
    )


def evaluation_failing_alert(error: str, now: dt.datetime) -> Alert:
    """The incident of a whole evaluation pass failing (subject ``evaluation``; the error in the
    context, out of the summary)."""
    return _ops_alert(
        RULE_EVALUATION_FAILING,
        "evaluation",
        now,
        1,
        "failing passes",
        "evaluating pending releases fails",
        "",
        {"error": error},
    )


def template_failing_alert(template: str, rule: str, error: str, now: dt.datetime) -> Alert:
    """The incident of a template (or summary) that fails for a rule's alerts."""
    return _ops_alert(
        RULE_TEMPLATE_FAILING,
        f"{template} for rule {rule or 'any'}",
        now,
        1,
        "failing templates",
        f"template {template} fails for rule {rule or 'any'}; messages use a fallback",
        "",
        {"error": error, "template": template, "failing_rule": rule},
    )


def template_changes(
    store: Store, failing: list[Alert], rendered_rules: set[str], now: dt.datetime
) -> Changes:
    """From one evaluation pass: templates that failed (``template_failing_alert``s), and open
    template incidents whose rule rendered in the pass without failing (cleared)."""
    open_ = open_incidents(store, (RULE_TEMPLATE_FAILING,))
    changes = Changes()
    failing_now = set()
    for alert in failing:
        ident = _identity(alert.rule_id, alert)
        failing_now.add(ident)
        if ident not in open_:
            changes.opened.append(alert)
    for ident, stored in sorted(open_.items()):
        rule = str(stored.alert.get("failing_rule") or "")
        if ident not in failing_now and rule in rendered_rules:
            changes.cleared.append(_cleared(stored))
    return changes


def cluster_failing_alert(address: str, error: str, now: dt.datetime) -> Alert:
    """The incident of a cluster that could not evaluate a release (the daemon did)."""
    return _ops_alert(
        RULE_CLUSTER_FAILING,
        f"cluster {address}",
        now,
        1,
        "releases evaluated in the daemon",
        f"the Dask cluster {address} fails; releases are evaluated in the daemon",
        "",
        {"error": error, "cluster": address},
    )


def cluster_changes(store: Store, runs: Iterable[ClusterRun], now: dt.datetime) -> Changes:
    """From one evaluation pass's cluster runs (``ClusterRun``: address, error or None): a
    cluster whose last run failed opens an incident, one whose last run worked clears it."""
    last = {run.address: run for run in runs}
    open_ = open_incidents(store, (RULE_CLUSTER_FAILING,))
    changes = Changes()
    for address, run in sorted(last.items()):
        stored = open_.get((RULE_CLUSTER_FAILING, f"cluster {address}"))
        if run.error and stored is None:
            changes.opened.append(cluster_failing_alert(address, run.error, now))
        elif not run.error and stored is not None:
            changes.cleared.append(_cleared(stored))
    return changes


def open_incidents(
    store: Store, rules: Iterable[str] = RULES
) -> dict[tuple[str, str], StoredAlert]:
    """Incidents recorded open (firing, or silenced: a silence mutes the notices, the incident
    still holds), by (rule, subject)."""
    wanted = set(rules)
    return {
        _identity(a.rule_id, a.alert): a
        for a in store.alerts(source=OPS_SOURCE).values()
        if a.state in (ALERT_FIRING, ALERT_SILENCED) and a.rule_id in wanted
    }


def _cleared(stored: StoredAlert) -> tuple[Alert, dict[str, Any]]:
    """The alert a clearing notice carries: the incident's title, and nothing failing any more
    (0 failed polls, 0 minutes waiting...); the notice shows what held when it began."""
    alert = Alert.from_dict(stored.alert)
    title = str(stored.alert.get("incident") or alert.summary)
    return replace(alert, summary=title, value=0.0), stored.alert


def _reconcile(
    rules: tuple[str, ...], holding: list[Alert], open_: dict[Any, StoredAlert]
) -> Changes:
    held = {_identity(a.rule_id, a) for a in holding}
    return Changes(
        opened=[a for a in holding if _identity(a.rule_id, a) not in open_],
        cleared=[
            _cleared(stored)
            for ident, stored in sorted(open_.items())
            if ident[0] in rules and ident not in held
        ],
    )


def check(
    store: Store,
    ops: OpsOptions,
    now: dt.datetime,
    *,
    thresholds: dict[str, int] | None = None,
    sources: set[str] | None = None,
) -> Changes:
    """Failing sources and stuck channels: incidents that began, and open ones that ended."""
    rules = (RULE_SOURCE_FAILING, RULE_OUTBOX_STUCK)
    holding = source_alerts(store, ops, thresholds or {}, now, sources) + outbox_alerts(
        store, ops, now
    )
    return _reconcile(rules, holding, open_incidents(store, rules))


def evaluation_changes(
    store: Store,
    failed: list[Alert],
    worked: list[tuple[str, int]],
    pass_error: str | None,
    now: dt.datetime,
) -> Changes:
    """From one evaluation pass: releases that failed (``release_failed_alert``s), releases
    that evaluated (source, id), and whether the pass as a whole failed."""
    open_ = open_incidents(store, (RULE_RELEASE_FAILED, RULE_EVALUATION_FAILING))
    changes = Changes()
    for alert in failed:
        if _identity(alert.rule_id, alert) not in open_:
            changes.opened.append(alert)
    for source, release_id in worked:
        stored = open_.get((RULE_RELEASE_FAILED, f"{source} release {release_id}"))
        if stored is not None:
            changes.cleared.append(_cleared(stored))
    pass_open = open_.get((RULE_EVALUATION_FAILING, "evaluation"))
    if pass_error is not None and pass_open is None:
        changes.opened.append(evaluation_failing_alert(pass_error, now))
    elif pass_error is None and pass_open is not None:
        changes.cleared.append(_cleared(pass_open))
    return changes


def release_problems(store: Store) -> list[str]:
    """Open release incidents as readiness reasons."""
    out = []
    for (rule, _), stored in sorted(open_incidents(store).items()):
        if rule == RULE_RELEASE_FAILED:
            ctx = stored.alert
            out.append(
                f"release {ctx.get('release_id')} of {ctx.get('release_source')} failed to "
                f"evaluate: {ctx.get('error', '')}"
            )
    return out


def describe(alert: Alert) -> str:
    """One line for the log: the summary and what went wrong."""
    error = alert.context.get("error") or alert.context.get("last_error")
    return alert.summary + (f": {error}" if error else "")


def thresholds_from_sources(sources: Mapping[str, SourceOptions]) -> dict[str, int]:
    """Per-source ``failure_alert_after`` overrides of ``daemon.ops.source_failures``."""
    return {
        name: opts.failure_alert_after
        for name, opts in sources.items()
        if opts.failure_alert_after is not None
    }
