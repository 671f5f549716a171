"""Property: one poisoned payload or template never costs another source an alert.

Two file sources carry the same real series (the bundled GACC magnet figures); one of them gets
one poison in its payload (a non-finite or malformed value, a control character, an impossible
month), or a rule's summary is poisoned (it raises, or exceeds the sandbox's limits; the rule
serves both sources). `run --once`, twice, in either polling order and under either bad-row
policy: the healthy source's alerts are delivered exactly once, with the same figures as without
the poison.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.resources import default_dataset

#: rows appended to the poisoned source's file (a month after the last one published)
PAYLOAD_POISONS = {
    "inf value": "2026-01,CN,US,85051110,export,net_weight_t,inf,t,x",
    "NaN value": "2026-01,CN,US,85051110,export,net_weight_t,NaN,t,x",
    "text value": "2026-01,CN,US,85051110,export,net_weight_t,lots,t,x",
    "control character": "2026-01,CN,U\x07S,85051110,export,net_weight_t,12,t,x",
    "impossible month": "2025-13,CN,US,85051110,export,net_weight_t,12,t,x",
}

#: summaries that fail only on some alerts (the WORLD rows), so they pass `validate`'s sample
#: alert (a summary failing on every alert is refused when the pack loads) and fail at runtime
TEMPLATE_POISONS = {
    "division by zero": "{{ 1 // (0 if partner == 'WORLD' else 1) }}",
    "huge string": "{{ 'x' * (100000000 if partner == 'WORLD' else 1) }}",
    "huge loop": "{% for i in range(100000000 if partner == 'WORLD' else 1) %}x{% endfor %}",
    "recursive macro": (
        "{% macro m() %}{{ m() if partner == 'WORLD' else '' }}{% endmacro %}{{ m() }}"
    ),
    "missing attribute": "{{ (partner_name if partner != 'WORLD' else none).upper() }}",
}

PACK = """\
pack: poison
defaults:
  select: {reporter: CN, partner: "*", commodity: "85051110", flow: export, measure: net_weight_kg}
rules:
  - id: high
    condition: {type: period_high, window: 6, min_periods: 3}
    summary: %s
  - id: jump
    condition: {type: pct_change, periods: 1, above: 50}
"""


def _project(root: Path, poison: str | None, bad_rows: str, order: tuple[str, str]) -> Path:
    data = default_dataset().read_text(encoding="utf-8")
    for name in ("good", "bad"):
        text = data
        if name == "bad" and poison in PAYLOAD_POISONS:
            text = data.rstrip("\n") + "\n" + PAYLOAD_POISONS[poison] + "\n"
        (root / f"{name}.csv").write_text(text, encoding="utf-8")
    summary = TEMPLATE_POISONS.get(poison or "", "Six-month high to {{ partner_name }}")
    (root / "pack.yaml").write_text(PACK % json.dumps(summary), encoding="utf-8")
    sources = "".join(
        f"  {name}: {{type: file, path: {name}.csv, bad_rows: {bad_rows}}}\n" for name in order
    )
    (root / "monitor.yaml").write_text(
        textwrap.dedent("""\
        state: sqlite:///state.db
        initial: alert_all
        rules: [pack.yaml]
        sources:
        """)
        + sources
        + textwrap.dedent("""\
        channels:
          good-out: {type: file, path: out-good, format: [slack]}
          bad-out: {type: file, path: out-bad, format: [slack]}
        routes:
          - match: {source: good}
            channels: [good-out]
          - channels: [bad-out]
        """),
        encoding="utf-8",
    )
    return root / "monitor.yaml"


def _delivered(folder: Path) -> list[tuple[str, str]]:
    """(figures line, rule line) of every alert in every message written to ``folder``: the
    parts of a message that come from the data, whatever the summary template did."""
    alerts = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        lines = json.loads(path.read_text(encoding="utf-8"))["text"].splitlines()
        for i, line in enumerate(lines):
            if line.startswith("- ["):
                rule = next(x for x in lines[i + 1 :] if x.strip().startswith("rule "))
                alerts.append((lines[i + 1].strip(), rule.strip()))
    return sorted(alerts)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> list[tuple[str, str]]:
    """What the healthy source delivers when nothing is poisoned."""
    root = tmp_path_factory.mktemp("clean")
    config = _project(root, None, "refuse", ("good", "bad"))
    assert main(["--config", str(config), "--log-level", "ERROR", "run", "--once"]) == 0
    delivered = _delivered(root / "out-good")
    assert len(delivered) >= 10  # the real series fires a dozen alerts: a meaningful baseline
    return delivered


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    poison=st.sampled_from(sorted(PAYLOAD_POISONS) + sorted(TEMPLATE_POISONS)),
    bad_rows=st.sampled_from(["refuse", "skip"]),
    bad_first=st.booleans(),
)
def test_one_poison_never_costs_the_healthy_source_an_alert(
    baseline, poison: str, bad_rows: str, bad_first: bool, capsys
) -> None:
    """Any single poison: the other source's alerts arrive exactly once, figures intact."""
    with tempfile.TemporaryDirectory(prefix="cm-poison-") as folder:
        root = Path(folder)
        order = ("bad", "good") if bad_first else ("good", "bad")
        config = _project(root, poison, bad_rows, order)
        args = ["--config", str(config), "--log-level", "ERROR", "run", "--once"]
        first = main(args)
        assert _delivered(root / "out-good") == baseline
        second = main(args)
        assert _delivered(root / "out-good") == baseline  # nothing sent twice
        out = capsys.readouterr().out
        assert "Traceback" not in out
        refused = poison in PAYLOAD_POISONS and bad_rows == "refuse"
        if poison in PAYLOAD_POISONS:
            # a rejected row shows in the exit code; a refused file again at every poll, a
            # skipped row once (the unchanged file is not read again)
            assert (first, second) == (1, 1 if refused else 0)
        else:
            # the poisoned template falls back to a plain rendering with the same figures
            assert (first, second) == (0, 0)
        if not refused:
            assert _delivered(root / "out-bad") == baseline
