"""The sandboxed Jinja environment every channel renders through.

Templates come from an override folder first (``templates_dir`` in monitor.yaml), then the
bundled defaults, so a team can replace one file without copying the rest. A *variant* (a rule's,
route's or channel's ``template:``) is a sub-folder that overrides only the files it contains:
``<variant>/slack/notice.md.j2`` wins over ``slack/notice.md.j2``.

Three output flavours share one loader:
- ``.html.j2`` autoescaped as HTML;
- ``.md.j2`` (Slack mrkdwn) with every ``{{ value }}`` escaped for mrkdwn (``& < >``), so a
  partner name or summary can never inject a link or mention;
- everything else plain text.

Every render runs in ``monitor.render.sandbox``'s limits (size, loops, depth, time). A template
that fails or exceeds them never stops an alert: ``render`` falls back to the bundled template,
then to a plain rendering (``monitor.render.plain``) that still carries the figures; a failing
summary falls back to a default headline. Each failure is logged once per template and rule for
the life of the environment, and handed to the caller through ``collect_failures`` so it can be
raised as an ops notice. ``render_strict`` and ``render_string`` raise instead (validate, tests).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from monitor.errors import ConfigError, Problem
from monitor.model import Alert
from monitor.render import filters
from monitor.render.kinds import KIND_MISSING, KIND_OPS, alert_kind
from monitor.render.sandbox import (
    MESSAGE_LIMITS,
    SUMMARY_LIMITS,
    GuardedSandbox,
    Limits,
    budget_for,
    render_stream,
)
from monitor.resources import bundled_path

log = logging.getLogger(__name__)

_TEMPLATE_SUFFIX = ".j2"
_STRING_TEMPLATE = "<template>"


def _is_template_name(text: str) -> bool:
    return "\n" not in text and "{" not in text and text.endswith(_TEMPLATE_SUFFIX)


@dataclass(frozen=True)
class TemplateFailure:
    """A template or summary that failed at render time (or went past a limit)."""

    template: str  # the file (the included one if the failure is there) or "rule 'x' summary"
    line: int  # line in that template, 0 if unknown
    error: str
    rule: str = ""  # the rule(s) whose alerts were being rendered

    @property
    def key(self) -> tuple[str, str]:
        """What a failure is reported once per: its template and rule."""
        return (self.template, self.rule)

    def __str__(self) -> str:
        where = f"{self.template}:{self.line}" if self.line else self.template
        return f"{where}: {self.error}" + (f" (rule {self.rule})" if self.rule else "")


class TemplateFailed(ConfigError):
    """``render_strict``/``render_string`` failed; ``failure`` says where and why."""

    def __init__(self, failure: TemplateFailure) -> None:
        self.failure = failure
        super().__init__(
            Problem(failure.template, failure.line, 0, f"template error: {failure.error}")
        )


_COLLECTOR: contextvars.ContextVar[list[TemplateFailure] | None] = contextvars.ContextVar(
    "template_failures", default=None
)


@contextmanager
def collect_failures() -> Iterator[list[TemplateFailure]]:
    """Template failures of the renders inside the block (each template and rule once)."""
    found: list[TemplateFailure] = []
    token = _COLLECTOR.set(found)
    try:
        yield found
    finally:
        _COLLECTOR.reset(token)


def summary_variables(alert: Alert) -> dict[str, Any]:
    """What a rule's ``summary`` may use: ``Alert.to_dict()`` plus readable names.

    A missing-release alert has no figure of its own (its ``value`` is not the missing month's),
    so ``value`` and ``value_text`` are left empty for it."""
    data = alert.to_dict()
    missing = alert_kind(alert) == KIND_MISSING
    data.update(
        partner_name=filters.country(alert.partner),
        reporter_name=filters.country(alert.reporter),
        commodity_name=filters.commodity(alert.commodity),
        period_name=filters.month_name(alert.period),
        value_text=filters.MISSING if missing else filters.quantity(alert.value, alert.unit),
    )
    if missing:
        data["value"] = None
    return data


def default_summary(alert: Alert) -> str:
    """A headline for rules without a ``summary`` (or whose summary failed)."""
    kind = alert_kind(alert)
    if kind == KIND_OPS:
        return alert.summary or f"customs-monitor: {alert.rule_id} ({alert.subject})"
    imports = "import" in alert.flow
    series = (
        f"{filters.country_title(alert.reporter)}'s {'imports' if imports else 'exports'} "
        f"of {filters.commodity(alert.commodity)} {'from' if imports else 'to'} "
        f"{filters.country(alert.partner)}"
    )
    if kind == KIND_MISSING:
        return f"{series}: figures for {filters.month_name(alert.period)} have not arrived"
    return f"{series}, {filters.month_name(alert.period)}"


def _rule_of(variables: Mapping[str, Any]) -> str:
    n = variables.get("n")
    if isinstance(n, Mapping) and n.get("rule"):
        return str(n["rule"])
    rules = variables.get("rules")
    return ",".join(str(r) for r in rules) if isinstance(rules, list | tuple) else ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateError):
        return str(exc.message or exc)
    if isinstance(exc, RecursionError):
        return "RecursionError: calls nested too deeply (a recursive macro?)"
    return f"{type(exc).__name__}: {exc}"


class TemplateEnv:
    """Guarded sandbox + StrictUndefined + analyst filters; see the module docstring."""

    def __init__(self, override_dir: str | None = None) -> None:
        folders: list[str] = []
        if override_dir:
            if not Path(override_dir).is_dir():
                raise ConfigError(
                    Problem(str(override_dir), 0, 0, "templates folder does not exist")
                )
            folders.append(str(override_dir))
        self.bundled_dir = str(bundled_path("templates"))
        folders.append(self.bundled_dir)
        self.override_dir = override_dir
        self.console_url: str | None = None  # daemon.web.public_url: alert links in messages
        loader = jinja2.FileSystemLoader(folders)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        self.env = GuardedSandbox(
            autoescape=jinja2.select_autoescape(
                ["html", "htm", "html.j2"], default_for_string=False
            ),
            **common,
        )
        # Slack mrkdwn: escape every expression's output, never the template's own markup.
        self.md_env = GuardedSandbox(autoescape=False, finalize=self._finalize_md, **common)
        for env in (self.env, self.md_env):
            env.filters.update(filters.FILTERS)
            env.guard_filters()
            env.globals["variants"] = self.candidates
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._bundled_only: TemplateEnv | None = None

    @staticmethod
    def _finalize_md(value: Any) -> Any:
        return filters.mrkdwn(value) if isinstance(value, str) else value

    # -- lookup -----------------------------------------------------------------------------
    @staticmethod
    def candidates(name: str, *variants: str | None) -> list[str]:
        """``name`` under each variant folder in turn, then the default."""
        return [f"{v}/{name}" for v in variants if v] + [name]

    def _env_for(self, name: str) -> GuardedSandbox:
        return self.md_env if name.endswith(".md.j2") else self.env

    # -- rendering --------------------------------------------------------------------------
    def render(
        self, name: str, variables: Mapping[str, Any], *, variants: Iterable[str | None] = ()
    ) -> str:
        """Render the first of ``<variant>/<name>`` ... ``<name>`` that exists; if it fails,
        the bundled ``<name>``; if that fails too, the plain rendering. Never raises for a
        template's runtime error, a limit or a syntax error (each is reported)."""
        from monitor.render.plain import PLAIN

        rule = _rule_of(variables)
        try:
            return self.render_strict(name, variables, variants=variants)
        except TemplateFailed as exc:
            first = replace(exc.failure, rule=rule)
        self.report(first)
        if not first.template.startswith(self.bundled_dir):
            try:
                return self._bundled().render_strict(name, variables)
            except TemplateFailed as exc:
                self.report(replace(exc.failure, rule=rule))
        plain = PLAIN.get(name)
        if plain is None:
            raise TemplateFailed(first)
        return plain(variables)

    def render_strict(
        self,
        name: str,
        variables: Mapping[str, Any],
        *,
        variants: Iterable[str | None] = (),
        limits: Limits = MESSAGE_LIMITS,
    ) -> str:
        """Like ``render`` but a failure raises ``TemplateFailed`` (located)."""
        env = self._env_for(name)
        names = self.candidates(name, *variants)
        try:
            template = env.select_template(names)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateFailed(
                TemplateFailure(
                    self._where(exc.filename or exc.name or name),
                    exc.lineno or 0,
                    f"syntax error: {exc.message}",
                )
            ) from None
        except jinja2.TemplatesNotFound:
            raise ConfigError(
                f"template {name!r} not found (looked for {', '.join(names)})"
            ) from None
        where = self._where(template.filename or name)
        return self._run(template, variables, limits, where).strip()

    def render_string(
        self,
        source: str,
        variables: Mapping[str, Any],
        *,
        where: str = "<template>",
        limits: Limits = MESSAGE_LIMITS,
    ) -> str:
        """Render a template given as text; a failure raises ``TemplateFailed``."""
        try:
            template = self.env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateFailed(
                TemplateFailure(where, exc.lineno or 0, f"syntax error: {exc.message}")
            ) from None
        return self._run(template, variables, limits, where)

    def _run(
        self, template: jinja2.Template, variables: Mapping[str, Any], limits: Limits, where: str
    ) -> str:
        with budget_for(limits) as budget:
            try:
                return render_stream(template.generate(**variables), budget)
            except jinja2.TemplateSyntaxError as exc:  # an included template
                raise TemplateFailed(
                    TemplateFailure(
                        self._where(exc.filename or exc.name or where),
                        exc.lineno or 0,
                        f"syntax error: {exc.message}",
                    )
                ) from None
            except Exception as exc:
                filename, line = self._location(exc, template.filename)
                own = filename in (None, template.filename, _STRING_TEMPLATE)
                located = where if own else str(filename)
                raise TemplateFailed(TemplateFailure(located, line, _describe(exc))) from None

    def render_summary(self, alert: Alert) -> str:
        """The rule's ``summary`` rendered for this alert, or a default headline.

        A summary that fails at runtime or exceeds the summary limits (validate reports it
        beforehand) falls back to the default headline, reported once, so the alert still goes
        out with its figures. An ops notice's summary is plain text, never a template.
        """
        if alert_kind(alert) == KIND_OPS or not alert.summary:
            return default_summary(alert)
        try:
            return self.render_string(
                alert.summary,
                summary_variables(alert),
                where=f"rule {alert.rule_id!r} summary",
                limits=SUMMARY_LIMITS,
            ).strip()
        except TemplateFailed as exc:
            self.report(replace(exc.failure, rule=alert.rule_id))
            return default_summary(alert)

    # -- failures ---------------------------------------------------------------------------
    def report(self, failure: TemplateFailure) -> None:
        """Hand ``failure`` to the running ``collect_failures`` and log it, once per template
        and rule for the life of this environment (not once per poll)."""
        found = _COLLECTOR.get()
        if found is not None and all(f.key != failure.key for f in found):
            found.append(failure)
        with self._lock:
            if failure.key in self._reported:
                return
            self._reported.add(failure.key)
        log.error("template failed, rendering a fallback instead: %s", failure)

    def _bundled(self) -> TemplateEnv:
        if self._bundled_only is None:
            self._bundled_only = TemplateEnv()
        return self._bundled_only

    # -- validation -------------------------------------------------------------------------
    def check(self, template_name_or_string: str, known_names: Iterable[str]) -> list[str]:
        """Problems of a template (a file name ending .j2, or a template string): syntax
        errors and variables that are neither in ``known_names`` nor set by the template."""
        known = set(known_names) | set(self.env.globals)
        if _is_template_name(template_name_or_string):
            try:
                source, filename, _ = self.env.loader.get_source(  # type: ignore[union-attr]
                    self.env, template_name_or_string
                )
            except jinja2.TemplateNotFound:
                return [f"template {template_name_or_string!r} not found"]
            where = self._where(filename or template_name_or_string)
        else:
            source, where = template_name_or_string, "template"
        try:
            ast = self.env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            return [f"{where}:{exc.lineno}: syntax error: {exc.message}"]
        problems = []
        for name in sorted(meta.find_undeclared_variables(ast) - known):
            problems.append(f"{where}: unknown variable {name!r}" + _did_you_mean(name, known))
        return problems

    # -- helpers ----------------------------------------------------------------------------
    def _where(self, name: str) -> str:
        return str(name)

    @staticmethod
    def _location(exc: BaseException, filename: str | None) -> tuple[str | None, int]:
        """The deepest template frame of a traceback (Jinja maps it to the template's file
        and line): an error inside an included template names that template."""
        tb = exc.__traceback__
        found: tuple[str | None, int] = (None, 0)
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.endswith(_TEMPLATE_SUFFIX) or name in (filename, _STRING_TEMPLATE):
                found = (name, tb.tb_lineno)
            tb = tb.tb_next
        return found


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    from monitor.config_checks import did_you_mean

    return did_you_mean(word, choices)
