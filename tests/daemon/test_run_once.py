"""What `run --once` counts as a failed cycle (exit 1): the outcomes the pipeline returns.

``Rejected`` and ``Failed`` below are the pipeline's PollOutcome and EvaluationOutcome with the
fields the ingest and evaluation isolation report (``rejected_rows``: rows skipped under
``bad_rows: skip``; ``error``: why a release failed to evaluate).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.commands.run import cycle_failures
from monitor.model import Release
from monitor.pipeline import EvaluationOutcome, PollOutcome

RELEASE = Release(3, "feed", "2025-08-20T03:00:00Z", ("2025-07",))


@dataclass
class Rejected(PollOutcome):
    rejected_rows: int = 0


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


def test_rejected_rows_are_a_failure():
    """A poll that stored what it could but skipped bad rows still fails the cycle."""
    poll = Rejected("feed", ok=True, rejected_rows=3)
    assert cycle_failures([poll], [], None) == [
        "source 'feed' rejected 3 row(s) (bad_rows: skip; the log lists them)"
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
