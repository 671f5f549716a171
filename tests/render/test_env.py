"""TemplateEnv: sandboxed, strict, escaped, overridable, and checked by validate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.errors import ConfigError
from monitor.render import TemplateEnv
from monitor.render.env import summary_variables
from tests.notify.realdata import alert, magnets


@pytest.fixture(scope="module")
def frame():
    return magnets()


@pytest.fixture
def env() -> TemplateEnv:
    return TemplateEnv()


def test_render_summary_uses_readable_names(env, frame) -> None:
    """A rule summary gets partner_name and period_name from the alert's codes."""
    a = alert(frame, "DE", "2025-07")
    assert env.render_summary(a) == (
        "China's rare-earth magnet exports to Germany hit a six-month high in July 2025"
    )


def test_render_summary_sees_context_and_filters(env, frame) -> None:
    """Engine context (pct) and filters are available in a summary."""
    from tests.notify.realdata import value_of

    jump = (value_of(frame, "US", "2025-07") / value_of(frame, "US", "2025-06") - 1) * 100
    a = alert(
        frame, "US", "2025-07", summary="{{ partner_name }} {{ pct | pct }}", context={"pct": jump}
    )  # 619 t after 353 t
    assert env.render_summary(a) == "the United States +75.4%"


def test_summary_with_unknown_variable_falls_back(env, frame, caplog) -> None:
    """At runtime an undefined name does not lose the alert: the default headline is used."""
    a = alert(frame, "DE", "2025-07", summary="{{ partner_nme }} high")
    text = env.render_summary(a)
    assert text == "China's exports of rare-earth permanent magnets to Germany, July 2025"
    assert "partner_nme" in caplog.text


def test_sandbox_blocks_attribute_escape(env) -> None:
    """Templates cannot reach Python internals (the sandbox refuses unsafe attributes)."""
    with pytest.raises(ConfigError, match="template error"):
        env.render_string("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_strict_undefined_in_files(env, tmp_path) -> None:
    """An undefined variable in a template file is an error naming the template."""
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "digest.txt.j2").write_text("{{ nothing_here }}\n")
    custom = TemplateEnv(str(tmp_path))
    with pytest.raises(ConfigError, match=r"digest.txt.j2.*nothing_here"):
        custom.render_strict("text/digest.txt.j2", {})


def test_html_is_autoescaped(env, tmp_path) -> None:
    """.html templates escape values; text templates do not."""
    (tmp_path / "x.html.j2").write_text("<p>{{ v }}</p>")
    (tmp_path / "x.txt.j2").write_text("{{ v }}")
    custom = TemplateEnv(str(tmp_path))
    assert custom.render("x.html.j2", {"v": "<b>&"}) == "<p>&lt;b&gt;&amp;</p>"
    assert custom.render("x.txt.j2", {"v": "<b>&"}) == "<b>&"


def test_markdown_templates_escape_for_slack(tmp_path) -> None:
    """.md.j2 (Slack mrkdwn) escapes every value but keeps the template's own markup."""
    (tmp_path / "x.md.j2").write_text("*{{ v }}*")
    custom = TemplateEnv(str(tmp_path))
    assert custom.render("x.md.j2", {"v": "<!here> & co"}) == "*&lt;!here&gt; &amp; co*"


def test_override_dir_wins_over_bundled(tmp_path) -> None:
    """A file in the override folder replaces the bundled one of the same name."""
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "footer.md.j2").write_text("custom footer for {{ source }}")
    custom = TemplateEnv(str(tmp_path))
    assert custom.render("slack/footer.md.j2", {"source": "gacc"}) == "custom footer for gacc"


def test_variant_folder_overrides_only_its_files(tmp_path) -> None:
    """A variant sub-folder is tried first; names it lacks fall back to the defaults."""
    (tmp_path / "terse" / "slack").mkdir(parents=True)
    (tmp_path / "terse" / "slack" / "footer.md.j2").write_text("terse")
    custom = TemplateEnv(str(tmp_path))
    assert custom.render("slack/footer.md.j2", {}, variants=["terse"]) == "terse"
    default = custom.render(
        "slack/footer.md.j2",
        {"test": False, "source": "s", "channel": "c", "release_date": "", "release_id": None},
        variants=["nope"],
    )
    assert default == "Source: s"


def test_missing_override_dir_is_a_config_error(tmp_path) -> None:
    """A templates folder that does not exist is reported at start-up."""
    with pytest.raises(ConfigError, match="does not exist"):
        TemplateEnv(str(tmp_path / "missing"))


def test_syntax_error_is_located(tmp_path) -> None:
    """A syntax error names the file and line."""
    (tmp_path / "bad.txt.j2").write_text("line one\n{% if %}\n")
    custom = TemplateEnv(str(tmp_path))
    with pytest.raises(ConfigError, match=r"bad.txt.j2:2:"):
        custom.render_strict("bad.txt.j2", {})


def test_check_reports_unknown_fields_with_suggestion(env, frame) -> None:
    """check() lists variables a summary uses that alerts do not have, with a suggestion."""
    known = summary_variables(alert(frame, "DE", "2025-07"))
    problems = env.check("{{ partner_nme }} in {{ period_name }}", known)
    assert problems == ["template: unknown variable 'partner_nme' (did you mean 'partner_name'?)"]


def test_check_accepts_loop_variables(env) -> None:
    """Names the template sets itself (loop variables, set) are not reported."""
    assert (
        env.check("{% for x in items %}{{ x }}{% endfor %}{% set y = 1 %}{{ y }}", ["items"]) == []
    )


def test_check_reports_syntax_errors(env) -> None:
    """check() returns syntax errors instead of raising."""
    assert "syntax error" in env.check("{{ oops ", [])[0]


def test_check_bundled_templates_are_clean(env) -> None:
    """Every bundled notice template only uses the variables the view provides."""
    for name in ("slack/footer.md.j2", "slack/header.txt.j2", "email/subject.txt.j2"):
        assert (
            env.check(
                name,
                [
                    "test",
                    "kind",
                    "count",
                    "top",
                    "source",
                    "period_names",
                    "channel",
                    "release_date",
                    "release_id",
                ],
            )
            == []
        ), name


def test_check_by_name_finds_missing_template(env) -> None:
    """A template file that does not exist is reported."""
    assert env.check("nowhere/x.txt.j2", []) == ["template 'nowhere/x.txt.j2' not found"]


def test_summary_of_a_revised_alert_uses_new_figures(env, frame) -> None:
    """Rendering uses the alert given: a revised alert's summary shows its own value."""
    a = alert(frame, "DE", "2025-07", summary="{{ value_text }}")
    assert env.render_summary(replace(a, value=1_200_000.0)) == "1,200 t"
