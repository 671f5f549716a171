"""Rule pack validation: every problem, located as path:line:column, in one pass."""

from __future__ import annotations

import pytest
from engine_helpers import PACK_HEAD

from monitor.engine import load_rules, validate_rules
from monitor.errors import ConfigError
from monitor.resources import bundled_path


def problems(tmp_path, body: str, head: str = PACK_HEAD) -> list[str]:
    path = tmp_path / "p.yaml"
    path.write_text(head + body, encoding="utf-8")
    return [str(p) for p in validate_rules([str(path)])]


def one(tmp_path, body: str, head: str = PACK_HEAD) -> str:
    found = problems(tmp_path, body, head)
    assert len(found) == 1, found
    return found[0]


def test_bundled_packs_are_valid():
    """The shipped rule packs load without a problem."""
    assert validate_rules([str(bundled_path("rules"))]) == []
    assert len(load_rules([str(bundled_path("rules"))])) >= 5


def test_unknown_key_did_you_mean(tmp_path):
    """A misspelt rule key is located and gets a suggestion."""
    msg = one(
        tmp_path,
        "  - id: r\n    conditon: {type: threshold, above: 1}\n"
        "    condition: {type: threshold, above: 1}\n",
    )
    assert msg.startswith(f"{tmp_path / 'p.yaml'}:6:5: ")
    assert "unknown key 'conditon'" in msg and "did you mean 'condition'" in msg


def test_unknown_condition_type(tmp_path):
    """An unknown condition type names the known ones, with a suggestion."""
    msg = one(tmp_path, "  - id: r\n    condition: {type: period_hihg, window: 6}\n")
    assert ":6:" in msg and "unknown condition type 'period_hihg'" in msg
    assert "did you mean 'period_high'" in msg


def test_missing_required_parameter(tmp_path):
    """period_high without window is a located error."""
    msg = one(tmp_path, "  - id: r\n    condition: {type: period_high}\n")
    assert ":6:" in msg and "missing required key 'window'" in msg


def test_wrong_type(tmp_path):
    """A window that is not a whole number is reported at its value."""
    msg = one(tmp_path, "  - id: r\n    condition: {type: period_high, window: six}\n")
    assert ":6:" in msg and "window: expected a whole number" in msg


@pytest.mark.parametrize(
    ("condition", "needle"),
    [
        ("{type: period_high, window: 6, min_periods: 7}", "can never be met"),
        ("{type: period_high, window: 1}", "must be >= 2"),
        ("{type: anomaly, window: 6, z: 2, min_periods: 1}", "must be >= 2"),
        ("{type: pct_change, periods: 0, above: 5}", "must be >= 1"),
        ("{type: share_shift, points: 0}", "must be > 0"),
    ],
)
def test_impossible_windows(tmp_path, condition, needle):
    """Windows and counts that can never hold are rejected."""
    assert needle in one(tmp_path, f"  - id: r\n    condition: {condition}\n")


def test_unit_that_does_not_fit_measure(tmp_path):
    """'500 t' on a USD measure is an error at the value."""
    head = PACK_HEAD.replace("net_weight_kg", "value_usd")
    msg = one(tmp_path, "  - id: r\n    condition: {type: threshold, above: 500 t}\n", head)
    assert ":6:" in msg and "does not fit measure 'value_usd'" in msg


def test_unit_needs_single_measure(tmp_path):
    """A unit is refused when the rule selects every measure."""
    msg = one(
        tmp_path,
        '  - id: r\n    select: {measure: "*"}\n    condition: {type: threshold, above: 5 t}\n',
    )
    assert "single measure" in msg


def test_summary_unknown_name(tmp_path):
    """A summary referencing a name no alert has is flagged at the summary."""
    msg = one(
        tmp_path,
        "  - id: r\n    summary: '{{ partner_name }} at {{ prior_maxx }}'\n"
        "    condition: {type: period_high, window: 6}\n",
    )
    assert ":6:14:" in msg and "unknown name 'prior_maxx'" in msg
    assert "did you mean 'prior_max'" in msg


def test_summary_context_depends_on_condition(tmp_path):
    """pct is only known to summaries of rules whose condition computes it."""
    msg = one(
        tmp_path,
        "  - id: r\n    summary: '{{ pct }}'\n    condition: {type: period_high, window: 6}\n",
    )
    assert "unknown name 'pct'" in msg


def test_summary_syntax_error(tmp_path):
    """A Jinja syntax error is located at the summary."""
    msg = one(
        tmp_path,
        "  - id: r\n    summary: '{{ partner_name '\n    condition: {type: threshold, above: 1}\n",
    )
    assert ":6:" in msg and "template syntax error" in msg


def test_duplicate_yaml_key(tmp_path):
    """A duplicate key in a mapping is reported, not silently overwritten."""
    msg = one(
        tmp_path,
        "  - id: r\n    condition: {type: threshold, above: 1}\n"
        "    condition: {type: threshold, above: 2}\n",
    )
    assert ":7:5:" in msg and "duplicate key 'condition'" in msg


def test_duplicate_rule_ids_across_packs_name_both(tmp_path):
    """The same id in two packs names both places."""
    body = "  - id: same\n    condition: {type: threshold, above: 1}\n"
    (tmp_path / "a.yaml").write_text(PACK_HEAD + body, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(PACK_HEAD + body, encoding="utf-8")
    found = [str(p) for p in validate_rules([str(tmp_path)])]
    assert len(found) == 1
    assert "duplicate rule id 'same'" in found[0]
    assert str(tmp_path / "a.yaml") in found[0] and str(tmp_path / "b.yaml") in found[0]


def test_every_problem_of_every_pack_at_once(tmp_path):
    """load_rules raises one ConfigError carrying the problems of all packs."""
    (tmp_path / "a.yaml").write_text(
        PACK_HEAD + "  - id: A\n    condition: {type: threshold, above: 1}\n", encoding="utf-8"
    )
    (tmp_path / "b.yaml").write_text(
        PACK_HEAD + "  - id: b\n    condition: {type: streak, direction: sideways, length: 2}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_rules([str(tmp_path)])
    text = str(err.value)
    assert "a.yaml:5:" in text and "rule id 'A'" in text
    assert "b.yaml:6:" in text and "'sideways' is not one of up, down" in text


def test_unquoted_commodity_code(tmp_path):
    """An unquoted commodity code is refused (YAML would drop leading zeros)."""
    msg = one(
        tmp_path,
        "  - id: r\n    select: {commodity: 85051110}\n"
        "    condition: {type: threshold, above: 1}\n",
    )
    assert ":6:" in msg and 'write "85051110"' in msg


def test_unknown_flow(tmp_path):
    """Flows are checked against the canonical ones."""
    msg = one(
        tmp_path,
        "  - id: r\n    select: {flow: exports}\n    condition: {type: threshold, above: 1}\n",
    )
    assert "flow 'exports'" in msg and "did you mean 'export'" in msg


def test_tests_folder_is_skipped(tmp_path):
    """Folders are read non-recursively: rules/tests/ files are not packs."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text("not: a pack\n", encoding="utf-8")
    assert validate_rules([str(tmp_path)]) == []


def test_missing_path(tmp_path):
    """A path that does not exist is a problem naming it."""
    found = validate_rules([str(tmp_path / "nope")])
    assert [p.path for p in found] == [str(tmp_path / "nope")]


def test_a_problem_in_defaults_is_one_problem_when_the_pack_loads(tmp_path):
    """A bad value in `defaults:` is reported once, as the defaults', not once per rule (the
    daemon's start and `run` say it as `validate` does)."""
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "pack: p\n"
        "defaults:\n"
        "  select: {reporter: CN, flow: exprot, measure: net_weight_kg, commodity: '85051110'}\n"
        "rules:\n"
        "  - id: a\n"
        "    select: {partner: '*'}\n"
        "    condition: {type: period_high, window: 6}\n"
        "  - id: b\n"
        "    select: {partner: '*'}\n"
        "    condition: {type: pct_change, periods: 1, above: 50}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_rules([str(pack)])
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (3, 32)
    assert problem.message.startswith("defaults: flow 'exprot' is not one of")
