"""`validate` renders every rule summary and every template before any alert does: runtime
errors and limits are reported at their file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from monitor.engine import validate_rules
from monitor.render import TemplateEnv
from monitor.render.checks import check_template_runtime
from monitor.resources import bundled_path, default_dataset

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


@pytest.mark.parametrize(
    ("summary", "says"),
    [
        ("{{ 1 // 0 }}", "ZeroDivisionError"),
        ("{{ 'x' * 100000000 }}", "more than the limit"),
        ("{% for i in range(100000000) %}{% endfor %}", "range() of 100,000,000 items"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "nested more than"),
        ("{{ pct // (pct - pct) }}", "ZeroDivisionError"),
    ],
)
def test_summary_runtime_error_is_located(tmp_path, summary, says) -> None:
    """A summary that parses but fails when rendered is reported at the summary's place."""
    [problem] = problems_for(tmp_path, summary)
    assert problem.startswith(
        f"{tmp_path / 'pack.yaml'}:4:14: rule 'a': summary fails when rendered"
    )
    assert says in problem


def test_summaries_using_the_context_pass(tmp_path) -> None:
    """A summary rounding and formatting the condition's own figures renders cleanly."""
    assert problems_for(tmp_path, "{{ partner_name }} {{ pct | round(0) | int }}% {{ -pct }}") == []


def test_bundled_rule_packs_pass() -> None:
    """The shipped summaries (six-month high, jumps, share shift, missing release) render."""
    assert validate_rules([str(bundled_path("rules"))]) == []


def test_bundled_templates_render_every_notice_kind() -> None:
    """The default templates render new, revised, resolved, missing and ops samples."""
    assert check_template_runtime(TemplateEnv(), []) == []


def test_override_failing_only_for_missing_releases_is_reported(tmp_path) -> None:
    """A notice override that breaks only on a missing-release notice names that kind, file
    and line."""
    (tmp_path / "text").mkdir()
    bad = tmp_path / "text" / "notice.txt.j2"
    bad.write_text("- {{ n.summary_text }}\n{% if n.is_missing %}{{ 1 // 0 }}{% endif %}\n")
    [problem] = check_template_runtime(TemplateEnv(str(tmp_path)), [])
    assert (problem.path, problem.line) == (str(bad), 2)
    assert problem.message.startswith("fails when rendering a missing release notice:")
    assert "ZeroDivisionError" in problem.message


def test_variant_folder_is_rendered_too(tmp_path) -> None:
    """A variant's own template is rendered (with every kind) and its failure located."""
    (tmp_path / "terse" / "slack").mkdir(parents=True)
    bad = tmp_path / "terse" / "slack" / "header.txt.j2"
    bad.write_text("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    problems = check_template_runtime(TemplateEnv(str(tmp_path)), ["terse"])
    assert [(p.path, p.line) for p in problems] == [(str(bad), 1)]
    assert "new / revised / resolved / missing release / ops" in problems[0].message


def test_validate_command_reports_a_broken_override_with_exit_2(tmp_path) -> None:
    """`customs-monitor validate` prints file:line for a template dividing by zero."""
    shutil.copytree(
        bundled_path("rules"), tmp_path / "rules", ignore=shutil.ignore_patterns("tests")
    )
    (tmp_path / "templates" / "slack").mkdir(parents=True)
    bad = tmp_path / "templates" / "slack" / "footer.md.j2"
    bad.write_text("Source: {{ source }}\n\n{{ 1 // 0 }}\n")
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///state.db
        rules: [rules/]
        templates: templates/
        sources:
          magnets: {{type: file, path: {default_dataset()}}}
        channels:
          out: {{type: console}}
        routes:
          - channels: [out]
        """)
    )
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", "--config", str(tmp_path / "monitor.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"{bad}:3:1: fails when rendering a new" in result.stderr
    assert "Traceback" not in result.stderr
