"""monitor.yaml -> a typed Config; ${VAR} from the environment; every error located.

With no config file the embedded default is used: the bundled real dataset (China's rare-earth
magnet exports), the bundled rule packs and a console channel. Relative paths in a config file
resolve against the file's folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.config_checks import did_you_mean
from monitor.errors import ConfigError, Problem
from monitor.notify.base import Route
from monitor.resources import bundled_path, default_dataset
from monitor.yamlload import LocatedDict, LocatedList, Mark, load_yaml_file

ENV_CONFIG = "CUSTOMS_MONITOR_CONFIG"
INITIAL_MODES = ("alert_latest", "backfill", "alert_all")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RouteModel(_Strict):
    name: str | None = None
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    channels: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    template: str | None = None
    group_cap: int = Field(default=20, ge=1, le=45)


class ConfigModel(_Strict):
    """The monitor.yaml format (``customs-monitor schema`` prints it as JSON Schema)."""

    state: str | None = Field(
        default=None,
        description="SQLAlchemy URL: sqlite:///... or "
        "postgresql://...; default: state.db in the state directory",
    )
    state_dir: str | None = None
    state_timeout: float = Field(
        default=30.0,
        gt=0,
        description="seconds to wait for a state "
        "store locked by another process before the poll fails",
    )
    rules: list[str] | None = Field(default=None, description="files or folders of rule packs")
    templates: str | None = Field(default=None, description="folder overriding default templates")
    initial: Literal["alert_latest", "backfill", "alert_all"] = Field(
        default="alert_latest",
        description="first poll of a new source: alert on the latest "
        "period only, record history silently, or alert on everything",
    )
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    routes: list[RouteModel] = Field(default_factory=list)
    daemon: dict[str, Any] = Field(default_factory=dict)


def config_json_schema() -> dict[str, Any]:
    return ConfigModel.model_json_schema()


@dataclass
class Config:
    path: str | None  # None: the embedded default
    base_dir: str
    state: str
    state_dir: str
    rules: list[str]
    templates: str | None
    initial: str
    sources: dict[str, dict[str, Any]]
    channels: dict[str, dict[str, Any]]
    routes: list[Route]
    daemon: dict[str, Any] = field(default_factory=dict)
    state_timeout: float = 30.0

    @property
    def where(self) -> str:
        return self.path or "<embedded default>"


def default_state_dir() -> str:
    # systemd's StateDirectory= exports STATE_DIRECTORY; otherwise the XDG location.
    for var in ("CUSTOMS_MONITOR_STATE_DIR", "STATE_DIRECTORY"):
        if os.environ.get(var):
            return os.environ[var].split(":")[0]
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return os.path.join(base, "customs-monitor")


def embedded_default(state_dir: str | None = None) -> dict[str, Any]:
    return {
        "state_dir": state_dir or default_state_dir(),
        "rules": [str(bundled_path("rules"))],
        "sources": {
            "magnets": {"type": "file", "path": str(default_dataset()), "schedule": "*/30 * * * *"}
        },
        "channels": {"console": {"type": "console", "format": "slack"}},
        "routes": [{"channels": ["console"]}],
    }


def load_config(
    path: str | None = None,
    *,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Load and validate monitor.yaml (path, else $CUSTOMS_MONITOR_CONFIG, else the default)."""
    env = dict(os.environ) if env is None else env
    path = path or env.get(ENV_CONFIG) or None
    if path is None:
        raw: Any = embedded_default()
        base_dir = os.getcwd()
    else:
        raw = load_yaml_file(path)
        base_dir = os.path.dirname(os.path.abspath(path))
        if raw is None:
            raw = LocatedDict()
            raw.mark, raw.key_marks, raw.value_marks = Mark(path, 1, 1), {}, {}
    if overrides:
        raw.update(overrides)
    where = path or "<embedded default>"
    if not isinstance(raw, dict):
        m = getattr(raw, "mark", Mark(where, 1, 1))
        raise ConfigError(Problem(where, m.line, m.column, "the config must be a mapping"))
    problems: list[Problem] = []
    raw = _substitute(raw, env, where, problems)
    try:
        model = ConfigModel.model_validate(dict(raw))
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, raw, where))
        raise ConfigError(problems) from None
    config = _build(model, raw, where, base_dir, path)
    problems.extend(check_config(config, raw))
    if problems:
        raise ConfigError(problems)
    return config


def _substitute(
    obj: Any, env: dict[str, str], where: str, problems: list[Problem], mark: Mark | None = None
) -> Any:
    """Replace ${VAR} in strings; a missing variable is a located error (value never shown)."""
    if isinstance(obj, LocatedDict):
        for key in list(obj):
            obj[key] = _substitute(obj[key], env, where, problems, obj.value_where(key))
        return obj
    if isinstance(obj, LocatedList):
        for i, item in enumerate(obj):
            obj[i] = _substitute(item, env, where, problems, obj.item_marks[i])
        return obj
    if isinstance(obj, dict):
        return {k: _substitute(v, env, where, problems, mark) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, env, where, problems, mark) for v in obj]
    if isinstance(obj, str) and "${" in obj:

        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                mk = mark or Mark(where, 0, 0)
                problems.append(
                    Problem(
                        mk.path, mk.line, mk.column, f"environment variable {m.group(1)} is not set"
                    )
                )
                return ""
            return env[m.group(1)]

        return _VAR.sub(repl, obj)
    return obj


def _locate(raw: Any, loc: tuple[Any, ...], where: str) -> tuple[Mark, bool]:
    """Walk pydantic's error location through the located YAML; (mark, key_exists)."""
    node, mark = raw, getattr(raw, "mark", Mark(where, 0, 0))
    for part in loc:
        if isinstance(node, LocatedDict) and isinstance(part, str):
            if part not in node:
                return node.mark, False
            mark, node = node.where(part), node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and part < len(node):
            mark, node = node.item_marks[part], node[part]
        else:
            break
    return mark, True


def _pydantic_problems(exc: ValidationError, raw: Any, where: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("str", "list[str]", "function-after"))
        mark, _ = _locate(raw, loc, where)
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(loc[:-1])
            msg = f"unknown key {key!r}{did_you_mean(key, allowed)}"
        elif err["type"] == "missing":
            msg = f"missing required key {dotted!r}"
        else:
            msg = f"{dotted}: {err['msg']}"
        problems.append(Problem(mark.path or where, mark.line, mark.column, msg))
    return problems


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    if loc and loc[0] == "routes":
        return [f.alias or n for n, f in RouteModel.model_fields.items()]
    return list(ConfigModel.model_fields)


def _resolve(base_dir: str, p: str) -> str:
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, p))


def _build(model: ConfigModel, raw: Any, where: str, base_dir: str, path: str | None) -> Config:
    state_dir = _resolve(base_dir, model.state_dir) if model.state_dir else default_state_dir()
    state = model.state or f"sqlite:///{os.path.join(state_dir, 'state.db')}"
    if state.startswith("sqlite:///") and not state.startswith("sqlite:////"):
        rel = state[len("sqlite:///") :]
        if rel and rel != ":memory:" and not os.path.isabs(rel):
            state = f"sqlite:///{_resolve(base_dir, rel)}"
    rules = (
        [_resolve(base_dir, r) for r in model.rules]
        if model.rules is not None
        else [str(bundled_path("rules"))]
    )
    routes = []
    for i, r in enumerate(model.routes):
        routes.append(
            Route(
                name=r.name or f"route-{i + 1}",
                channels=tuple(r.channels),
                match={
                    k: tuple(v) if isinstance(v, list) else (str(v),) for k, v in r.match.items()
                },
                continue_=r.continue_,
                template=r.template,
                group_cap=r.group_cap,
            )
        )
    return Config(
        path=path,
        base_dir=base_dir,
        state=state,
        state_dir=state_dir,
        rules=rules,
        templates=_resolve(base_dir, model.templates) if model.templates else None,
        initial=model.initial,
        sources=dict(raw.get("sources", {}) or {}),
        channels=dict(raw.get("channels", {}) or {}),
        routes=routes,
        daemon=dict(raw.get("daemon", {}) or {}),
        state_timeout=model.state_timeout,
    )


def check_config(config: Config, raw: Any) -> list[Problem]:
    """Checks that need more than types: known source/channel types and their options, routes
    naming known channels, the daemon section."""
    from monitor.notify import channel_class, channel_types
    from monitor.sources import source_class, source_types

    where = config.where
    problems: list[Problem] = []

    def at(obj: Any, key: str | None) -> Mark:
        if isinstance(obj, LocatedDict):
            return obj.where(key) if key else obj.mark
        return Mark(where, 0, 0)

    for section, types, get_class in (
        ("sources", source_types(), source_class),
        ("channels", channel_types(), channel_class),
    ):
        block = raw.get(section) or {}
        for name, options in block.items():
            if not isinstance(options, dict) or "type" not in options:
                m = at(block, name)
                problems.append(
                    Problem(
                        m.path,
                        m.line,
                        m.column,
                        f"{section[:-1]} {name!r}: missing required key 'type' "
                        f"(one of {', '.join(types)})",
                    )
                )
                continue
            kind = str(options["type"])
            if kind not in types:
                m = at(options, "type")
                problems.append(
                    Problem(
                        m.path,
                        m.line,
                        m.column,
                        f"{section[:-1]} {name!r}: unknown type {kind!r}"
                        f"{did_you_mean(kind, types)} (one of "
                        f"{', '.join(types)})",
                    )
                )
                continue
            try:
                cls = get_class(kind)
            except ImportError as exc:
                m = at(options, "type")
                problems.append(
                    Problem(
                        m.path,
                        m.line,
                        m.column,
                        f"{section[:-1]} {name!r}: type {kind!r} is not "
                        f"available in this installation ({exc})",
                    )
                )
                continue
            problems.extend(cls.check_options(name, options, where))
    routes_raw = raw.get("routes") or []
    for i, route in enumerate(config.routes):
        for ch in route.channels:
            if ch not in config.channels:
                node = routes_raw[i] if i < len(routes_raw) else None
                m = at(node, "channels")
                problems.append(
                    Problem(
                        m.path,
                        m.line,
                        m.column,
                        f"route {route.name!r}: unknown channel {ch!r}"
                        f"{did_you_mean(ch, config.channels)}",
                    )
                )
    if config.channels and not config.routes:
        m = at(raw, None)
        problems.append(
            Problem(
                m.path,
                m.line,
                m.column,
                "channels are configured but no route sends to them "
                "(add routes: [{channels: [...]}])",
            )
        )
    from monitor.daemon.calendar import check_schedule
    from monitor.daemon.options import DaemonOptions, check_channel_refs, check_daemon_options

    for name, options in (raw.get("sources") or {}).items():
        if isinstance(options, dict):
            problems.extend(check_schedule(name, options, where))
    if config.daemon:
        daemon_problems = check_daemon_options(raw.get("daemon"), where)
        problems.extend(daemon_problems)
        if not daemon_problems:
            problems.extend(
                check_channel_refs(
                    DaemonOptions.from_config(raw.get("daemon")), set(config.channels), where
                )
            )
    return problems
