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
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from monitor.errors import ConfigError, Problem
from monitor.model import Alert
from monitor.render import filters
from monitor.resources import bundled_path

log = logging.getLogger(__name__)

_TEMPLATE_SUFFIX = ".j2"


def _is_template_name(text: str) -> bool:
    return "\n" not in text and "{" not in text and text.endswith(_TEMPLATE_SUFFIX)


def summary_variables(alert: Alert) -> dict[str, Any]:
    """What a rule's ``summary`` may use: ``Alert.to_dict()`` plus readable names."""
    data = alert.to_dict()
    data.update(
        partner_name=filters.country(alert.partner),
        reporter_name=filters.country(alert.reporter),
        commodity_name=filters.commodity(alert.commodity),
        period_name=filters.month_name(alert.period),
        value_text=filters.quantity(alert.value, alert.unit),
    )
    return data


def default_summary(alert: Alert) -> str:
    """A headline for rules without a ``summary``: which series, which month."""
    imports = "import" in alert.flow
    return (
        f"{filters.country_title(alert.reporter)}'s {'imports' if imports else 'exports'} "
        f"of {filters.commodity(alert.commodity)} {'from' if imports else 'to'} "
        f"{filters.country(alert.partner)}, {filters.month_name(alert.period)}"
    )


class TemplateEnv:
    """Jinja2 SandboxedEnvironment + StrictUndefined + analyst filters; see module docstring."""

    def __init__(self, override_dir: str | None = None) -> None:
        folders: list[str] = []
        if override_dir:
            if not Path(override_dir).is_dir():
                raise ConfigError(
                    Problem(str(override_dir), 0, 0, "templates folder does not exist")
                )
            folders.append(str(override_dir))
        folders.append(str(bundled_path("templates")))
        self.override_dir = override_dir
        loader = jinja2.FileSystemLoader(folders)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        self.env = SandboxedEnvironment(
            autoescape=jinja2.select_autoescape(
                ["html", "htm", "html.j2"], default_for_string=False
            ),
            **common,
        )
        # Slack mrkdwn: escape every expression's output, never the template's own markup.
        self.md_env = SandboxedEnvironment(autoescape=False, finalize=self._finalize_md, **common)
        for env in (self.env, self.md_env):
            env.filters.update(filters.FILTERS)
            env.globals["variants"] = self.candidates

    @staticmethod
    def _finalize_md(value: Any) -> Any:
        return filters.mrkdwn(value) if isinstance(value, str) else value

    # -- lookup -----------------------------------------------------------------------------
    @staticmethod
    def candidates(name: str, *variants: str | None) -> list[str]:
        """``name`` under each variant folder in turn, then the default."""
        return [f"{v}/{name}" for v in variants if v] + [name]

    def _env_for(self, name: str) -> SandboxedEnvironment:
        return self.md_env if name.endswith(".md.j2") else self.env

    def render(
        self, name: str, variables: Mapping[str, Any], *, variants: Iterable[str | None] = ()
    ) -> str:
        """Render the first of ``<variant>/<name>`` ... ``<name>`` that exists."""
        env = self._env_for(name)
        names = self.candidates(name, *variants)
        try:
            template = env.select_template(names)
            return template.render(**variables).strip()
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                Problem(
                    self._where(exc.filename or exc.name or name),
                    exc.lineno or 0,
                    0,
                    f"template error: {exc.message}",
                )
            ) from None
        except jinja2.TemplatesNotFound:
            raise ConfigError(
                f"template {name!r} not found (looked for {', '.join(names)})"
            ) from None
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise ConfigError(
                Problem(self._where(name), self._lineno(exc), 0, f"template error: {exc}")
            ) from None

    def render_string(
        self, source: str, variables: Mapping[str, Any], *, where: str = "<template>"
    ) -> str:
        try:
            return self.env.from_string(source).render(**variables)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                Problem(where, exc.lineno or 0, 0, f"template error: {exc.message}")
            ) from None
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise ConfigError(Problem(where, 0, 0, f"template error: {exc}")) from None

    def render_summary(self, alert: Alert) -> str:
        """The rule's ``summary`` rendered for this alert, or a default sentence.

        A summary that fails at runtime (validate should have caught it) falls back to the
        default sentence, logged, so the alert is still delivered.
        """
        if not alert.summary:
            return default_summary(alert)
        try:
            return self.render_string(
                alert.summary, summary_variables(alert), where=f"rule {alert.rule_id!r} summary"
            ).strip()
        except ConfigError as exc:
            log.warning("%s; using the default summary", exc)
            return default_summary(alert)

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
    def _lineno(exc: BaseException) -> int:
        tb = exc.__traceback__
        line = 0
        while tb is not None:  # the deepest frame that belongs to a template holds its line
            if tb.tb_frame.f_code.co_filename.endswith(_TEMPLATE_SUFFIX):
                line = tb.tb_lineno
            tb = tb.tb_next
        return line


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    from monitor.config_checks import did_you_mean

    return did_you_mean(word, choices)
