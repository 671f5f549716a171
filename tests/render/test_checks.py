"""Template checks for validate: override folders and named template variants."""

from __future__ import annotations

from monitor.errors import Problem
from monitor.render import TemplateEnv
from monitor.render.checks import check_template_dir, check_variants
from monitor.resources import bundled_path


def test_bundled_templates_pass_their_own_checks() -> None:
    """Every default template parses and uses only variables the renderer provides."""
    assert check_template_dir(TemplateEnv(), str(bundled_path("templates"))) == []


def test_override_typo_is_located(tmp_path) -> None:
    """A misspelt variable in an override template is reported with its file."""
    (tmp_path / "slack").mkdir()
    bad = tmp_path / "slack" / "footer.md.j2"
    bad.write_text("Source: {{ sorce }}")
    problems = check_template_dir(TemplateEnv(str(tmp_path)), str(tmp_path))
    assert problems == [
        Problem(str(bad), 0, 0, "unknown variable 'sorce' (did you mean 'source'?)")
    ]


def test_override_syntax_error_has_line(tmp_path) -> None:
    """A syntax error in a variant template is reported at its line."""
    (tmp_path / "terse" / "text").mkdir(parents=True)
    bad = tmp_path / "terse" / "text" / "notice.txt.j2"
    bad.write_text("ok\n{{ n.value | }}\nmore\n")
    [problem] = check_template_dir(TemplateEnv(str(tmp_path)), str(tmp_path))
    assert (problem.path, problem.line) == (str(bad), 2)
    assert "syntax error" in problem.message


def test_unknown_variant_is_reported(tmp_path) -> None:
    """A route naming a template folder that does not exist is a validation problem."""
    (tmp_path / "terse").mkdir()
    problems = check_variants(
        [("terse", "m.yaml", 0, "route 'a'"), ("tersee", "m.yaml", 0, "route 'b'")], str(tmp_path)
    )
    assert [p.message.split(":")[0] for p in problems] == ["route 'b'"]
