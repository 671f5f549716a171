"""What `run --once` counts as a failed cycle (exit 1): the outcomes the pipeline returns.

``Rejected`` and ``Failed`` below are the pipeline's PollOutcome and EvaluationOutcome with the
fields the ingest and evaluation isolation report (``rejected``: located messages of input a
poll refused; ``error``: why a release failed to evaluate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.commands.run import cycle_failures
from monitor.model import Release
from monitor.pipeline import EvaluationOutcome, PollOutcome

RELEASE = Release(3, "feed", "2025-08-20T03:00:00Z", ("2025-07",))


@dataclass
class Rejected(PollOutcome):
    rejected: list[str] = field(default_factory=list)


@dataclass
class Failed(EvaluationOutcome):
    error: str | None = None


def test_clean_cycle_has_no_failures():
    """Polls that worked and releases that evaluated: nothing to report, exit 0."""
    assert cycle_failures([PollOutcome("feed", ok=True)], [EvaluationOutcome(RELEASE)], None) == []


def test_failed_poll_is_a_failure():
    """A source that failed is named with its error."""
    [line] = cycle_failures([PollOutcome("feed", ok=False, error="HTTP 500")], [], None)
    assert line == "source 'feed' failed: HTTP 500"


def test_rejected_input_is_a_failure():
    """A poll that stored what it could but refused some input still fails the cycle."""
    poll = Rejected("gacc", ok=True, rejected=["exports.csv:2:7: value is not finite"])
    assert cycle_failures([poll], [], None) == [
        "source 'gacc' rejected exports.csv:2:7: value is not finite"
    ]


def test_release_that_failed_to_evaluate_is_a_failure_said_once():
    """A failed release (retried within the same cycle) is one line."""
    failed = Failed(RELEASE, error="ValueError: boom")
    assert cycle_failures([], [failed, failed, Failed(RELEASE)], None) == [
        "release 3 of 'feed' failed to evaluate: ValueError: boom"
    ]


def test_failed_evaluation_pass_is_a_failure():
    """A pass over the pending releases that failed as a whole is reported too."""
    assert cycle_failures([], [], "StoreError: disk full") == [
        "evaluating pending releases failed: StoreError: disk full"
    ]
