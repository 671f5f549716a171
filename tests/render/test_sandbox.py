"""The template sandbox's resource limits, and what a failing template or summary falls back to.

Each resource attack (a 100 MB string, a 100M range, a recursive macro, a division by zero)
is tried as a rule summary and as a template override; the alert must still go out with its
figures, quickly, and the failure be reported once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from monitor.notify.console import ConsoleChannel
from monitor.notify.rendering import render_email, render_slack, render_text
from monitor.render import TemplateEnv, filters
from monitor.render.env import TemplateFailed, collect_failures
from monitor.render.sandbox import Limits
from tests.notify.realdata import alert, digest, notice, value_of

ATTACKS = {
    "huge string": "{{ 'x' * 100000000 }}",
    "huge range": "{% for i in range(100000000) %}{% endfor %}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "division by zero": "{{ 1 // 0 }}",
    "nested loops": "{% set s = 'x' * 5000 %}"
    "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "doubling": "{% set ns = namespace(s='x' * 1000) %}"
    "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "padding": "{{ 'x'.ljust(1000000000) }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "percent width": "{{ '%999999999d' % 1 }}",
    "join": "{{ range(1000) | join('x' * 1000000) }}",
    "power": "{{ 2 ** 100000000 }}",
}


@pytest.fixture
def env() -> TemplateEnv:
    return TemplateEnv()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_in_a_summary_falls_back_to_the_default_headline(attack, env, frame) -> None:
    """The alert keeps a readable headline, the render stops within a second, and the failure
    is handed to the caller."""
    a = alert(frame, "US", "2025-07", summary=ATTACKS[attack])
    started = time.monotonic()
    with collect_failures() as failures:
        text = env.render_summary(a)
    assert time.monotonic() - started < 2.0
    assert text == "China's exports of rare-earth permanent magnets to the United States, July 2025"
    assert [f.template for f in failures] == ["rule 'magnets-six-month-high' summary"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_in_a_template_override_still_sends_the_figures(
    attack, tmp_path, frame, templates
) -> None:
    """A Slack notice override with the attack: the section falls back to the bundled template
    and carries the value; the failure names the override file."""
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "notice.md.j2").write_text("{{ n.summary_text }}\n" + ATTACKS[attack])
    custom = TemplateEnv(str(tmp_path))
    ch = ConsoleChannel("preview", {"format": "slack"}, templates=custom)
    started = time.monotonic()
    with collect_failures() as failures:
        payload = render_slack(ch, digest([notice(frame, "US", "2025-07")])).payload
    assert time.monotonic() - started < 10.0
    section = payload["blocks"][1]["text"]["text"]
    assert filters.tonnes(value_of(frame, "US", "2025-07")) in section
    assert [f.template for f in failures] == [str(tmp_path / "slack" / "notice.md.j2")]
    assert failures[0].line == 2


def test_a_failing_bundled_template_falls_back_to_plain_text(tmp_path, frame) -> None:
    """When the default templates cannot render either, the plain rendering still carries the
    summary, value and figures of every alert."""
    env = TemplateEnv()
    env.env.filters["month_name"] = _broken_filter  # a bundled template's filter blows up
    env.env.guard_filters()
    ch = ConsoleChannel("preview", {"format": "text"}, templates=env)
    n = notice(frame, "US", "2025-07", context={"window": 6, "months_known": 3})
    with collect_failures() as failures:
        text = render_text(ch, digest([n])).text
    assert "the United States hit a six-month high" in text
    assert f"{filters.tonnes(value_of(frame, 'US', '2025-07'))} in" in text
    assert "3 of 6 months known" in text
    assert failures and all("RuntimeError: broken" in f.error for f in failures)


def _broken_filter(value):
    raise RuntimeError("broken")


def test_email_with_a_broken_override_keeps_text_html_and_charts(tmp_path, frame) -> None:
    """An email body override dividing by zero: both parts still render (bundled templates)."""
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "body.html.j2").write_text("<p>{{ 1 // 0 }}</p>")
    custom = TemplateEnv(str(tmp_path))
    ch = ConsoleChannel("preview", {"format": "email"}, templates=custom)
    msg = render_email(ch, digest([notice(frame, "DE", "2025-07")]))
    assert "1,116 t" in msg.payload["html"] and "1,116 t" in msg.text
    assert msg.payload["images"]


def test_a_failure_is_logged_once_per_template_and_rule(env, frame, caplog) -> None:
    """Three polls rendering the same broken summary log it once; each plan still returns it."""
    a = alert(frame, "US", "2025-07", summary="{{ 1 // 0 }}")
    returned = []
    with caplog.at_level(logging.ERROR, logger="monitor.render.env"):
        for _ in range(3):
            with collect_failures() as failures:
                env.render_summary(a)
            returned.append(len(failures))
    assert returned == [1, 1, 1]
    assert sum("ZeroDivisionError" in r.getMessage() for r in caplog.records) == 1


def test_another_rule_with_the_same_broken_template_is_logged_too(env, frame, caplog) -> None:
    """The once-only key is template + rule: a second rule's failure is its own report."""
    with caplog.at_level(logging.ERROR, logger="monitor.render.env"):
        env.render_summary(alert(frame, "US", "2025-07", summary="{{ 1 // 0 }}", rule="a"))
        env.render_summary(alert(frame, "US", "2025-07", summary="{{ 1 // 0 }}", rule="b"))
    assert sum("ZeroDivisionError" in r.getMessage() for r in caplog.records) == 2


def test_runtime_error_is_located_in_the_template_file(tmp_path) -> None:
    """render_strict names the file and line of the failing expression."""
    (tmp_path / "x.txt.j2").write_text("line one\nline two {{ 1 // 0 }}\n")
    with pytest.raises(TemplateFailed) as caught:
        TemplateEnv(str(tmp_path)).render_strict("x.txt.j2", {})
    failure = caught.value.failure
    assert (failure.template, failure.line) == (str(tmp_path / "x.txt.j2"), 2)
    assert "ZeroDivisionError" in failure.error


def test_error_in_an_included_template_names_the_included_file(tmp_path) -> None:
    """A failure inside an {% include %} is located in the included file."""
    (tmp_path / "outer.txt.j2").write_text("a\n{% include 'inner.txt.j2' %}\n")
    (tmp_path / "inner.txt.j2").write_text("b\nc\n{{ 1 // 0 }}\n")
    with pytest.raises(TemplateFailed) as caught:
        TemplateEnv(str(tmp_path)).render_strict("outer.txt.j2", {})
    assert caught.value.failure.template == str(tmp_path / "inner.txt.j2")
    assert caught.value.failure.line == 3


def test_output_size_is_limited_while_it_streams(env) -> None:
    """A loop printing 10 MB stops at the output limit (1,000,000 characters)."""
    with pytest.raises(TemplateFailed, match="the output would be"):
        env.render_string("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", {})


def test_render_time_is_limited(env) -> None:
    """A render still running after its time limit is stopped, whatever it is doing."""
    slow = "{% for a in range(1000) %}{% for b in range(1000) %}{{ '' }}{% endfor %}{% endfor %}"
    limits = Limits(iterations=10**9, seconds=0.2)
    started = time.monotonic()
    with pytest.raises(TemplateFailed, match=r"took longer than 0\.2 s"):
        env.render_string(slow, {}, limits=limits)
    assert time.monotonic() - started < 5.0


def test_templates_cannot_modify_the_values_they_are_given(env) -> None:
    """The immutable sandbox: a template cannot append to a list another channel renders."""
    items = [1, 2]
    with pytest.raises(TemplateFailed, match="unsafe"):
        env.render_string("{{ items.append(3) }}", {"items": items})
    assert items == [1, 2]


def test_ordinary_templates_are_unaffected(env) -> None:
    """Loops, macros, namespaces, formatting and filters within the limits work as before."""
    source = (
        "{% macro twice(x) %}{{ x }}{{ x }}{% endmacro %}"
        "{% set ns = namespace(total=0) %}{% for v in values %}{% set ns.total = ns.total + v %}"
        "{% endfor %}{{ twice('a') }} {{ ns.total }} {{ '%.1f' % 2.25 }} {{ '{:>4}'.format(7) }} "
        "{{ values | join(',') }} {{ 'ab' ~ 'cd' }} {{ range(3) | list | length }}"
    )
    assert env.render_string(source, {"values": [1, 2, 3]}) == "aa 6 2.2    7 1,2,3 abcd 3"


def test_a_summary_longer_than_the_summary_limit_falls_back(env, frame) -> None:
    """A summary is a headline: 10,000 characters of it is refused (2,000 at most)."""
    a = alert(frame, "US", "2025-07", summary="{{ 'word ' * 2000 }}")
    assert env.render_summary(a).startswith("China's exports of rare-earth permanent magnets")


def test_summary_failure_keeps_the_rest_of_the_message(env, frame) -> None:
    """A digest whose rule summary divides by zero still has the value and facts."""
    ch = ConsoleChannel("preview", {"format": "text"}, templates=env)
    n = notice(frame, "US", "2025-07", summary="{{ 1 // 0 }}")
    n = replace(n, alert=replace(n.alert, context={"window": 6, "months_known": 3}))
    text = render_text(ch, digest([n])).text
    assert "619 t in July 2025" in text and "3 of 6 months known" in text
