"""Rule summaries are checked with the filters they will be rendered with."""

from __future__ import annotations

import textwrap

from monitor.engine import validate_rules

PACK = """\
pack: x
rules:
  - id: a
    summary: "{summary}"
    select: {{reporter: CN, flow: export, commodity: "85051110", measure: net_weight_kg}}
    condition: {{type: pct_change, periods: 1, above: 5}}
"""


def problems_for(tmp_path, summary: str) -> list[str]:
    path = tmp_path / "pack.yaml"
    path.write_text(textwrap.dedent(PACK.format(summary=summary)))
    return [str(p) for p in validate_rules([str(path)])]


def test_analyst_filters_are_known(tmp_path):
    """`| pp`, `| pct` and `| tonnes` are the render layer's filters and validate cleanly."""
    assert problems_for(tmp_path, "{{ pct | pct }} {{ value | tonnes }} {{ pct | pp }}") == []


def test_unknown_filter_is_a_located_problem(tmp_path):
    """A misspelt filter is reported at the summary, not raised as a traceback."""
    found = problems_for(tmp_path, "{{ pct | nosuchfilter }}")
    assert len(found) == 1 and "pack.yaml:4:14:" in found[0]
    assert "No filter named 'nosuchfilter'" in found[0]
