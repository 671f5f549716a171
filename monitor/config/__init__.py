"""monitor.yaml -> a typed Config; ${VAR} from the environment; every error located.

With no config file the embedded default is used: the bundled real dataset (China's rare-earth
magnet exports), the bundled rule packs and a console channel. Relative paths in a config file
resolve against the file's folder.

Every part of monitor.yaml is a model in this package, and the components receive those models:

    options.py   the base model, shared field types, located problems from pydantic's errors
    sources.py   one model per source type     channels.py  one model per channel type
    daemon.py    the daemon: section, a source's schedule and calendar
    engine.py    engine: where large releases are evaluated (a Dask cluster)
    routes.py    routes:                       schedule.py  what a crontab or @every line means

The package imports no component (daemon, sources, notify, engine, commands): they import it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from monitor.config.channels import AnyChannelOptions, ChannelOptions
from monitor.config.daemon import DaemonOptions
from monitor.config.engine import EngineOptions
from monitor.config.options import FLOAT, Loc, Options, key_problems_of, problems, registry
from monitor.config.routes import Route, RouteModel
from monitor.config.sources import AnySourceOptions, InitialMode, SourceOptions
from monitor.config_checks import did_you_mean
from monitor.errors import ConfigError, Problem
from monitor.resources import bundled_path, default_dataset
from monitor.yamlload import LocatedDict, LocatedList, Mark, load_yaml_file, mark_of

ENV_CONFIG = "CUSTOMS_MONITOR_CONFIG"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigModel(Options):
    """The monitor.yaml format (``customs-monitor schema`` prints it as JSON Schema).

    A new top-level section is one model and one field here, and one field of ``Config``."""

    state: str | None = Field(
        default=None,
        description="SQLAlchemy URL: sqlite:///... or "
        "postgresql://...; default: state.db in the state directory",
    )
    state_dir: str | None = None
    state_timeout: Annotated[float, Field(gt=0), FLOAT] = Field(
        default=30.0,
        description="seconds to wait for a state "
        "store locked by another process before the poll fails",
    )
    rules: list[str] | None = Field(default=None, description="files or folders of rule packs")
    templates: str | None = Field(default=None, description="folder overriding default templates")
    initial: InitialMode = Field(
        default="alert_latest",
        description="first poll of a new source: alert on the latest "
        "period only, record history silently, or alert on everything",
    )
    sources: dict[str, AnySourceOptions] = Field(default_factory=dict)
    channels: dict[str, AnyChannelOptions] = Field(default_factory=dict)
    routes: list[RouteModel] = Field(default_factory=list)
    daemon: DaemonOptions = Field(default_factory=DaemonOptions)
    engine: EngineOptions = Field(default_factory=EngineOptions)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of monitor.yaml, as ``customs-monitor schema`` prints it."""
    return ConfigModel.model_json_schema()


SOURCE_TYPES: dict[str, type[SourceOptions]] = registry(AnySourceOptions)
CHANNEL_TYPES: dict[str, type[ChannelOptions]] = registry(AnyChannelOptions)


@dataclass
class Config:
    """A validated monitor.yaml: paths resolved, every section typed."""

    path: str | None  # None: the embedded default
    base_dir: str
    state: str
    state_dir: str
    rules: list[str]
    templates: str | None
    initial: InitialMode
    sources: dict[str, SourceOptions]
    channels: dict[str, ChannelOptions]
    routes: list[Route]
    daemon: DaemonOptions = field(default_factory=DaemonOptions)
    state_timeout: float = 30.0
    engine: EngineOptions = field(default_factory=EngineOptions)

    @property
    def where(self) -> str:
        """The config file's path for messages, or ``<embedded default>`` when there is none."""
        return self.path or "<embedded default>"

    def initial_for(self, source: str) -> InitialMode:
        """How a source's first poll alerts: its own ``initial``, else the top-level one."""
        options = self.sources.get(source)
        return (options.initial if options is not None else None) or self.initial

    def source_link(self, source: str) -> str | None:
        """The link a message gives for a source's data (None: no link); may hold secrets."""
        options = self.sources.get(source)
        return options.link if options is not None else None


def default_state_dir() -> str:
    """The state directory when the config names none.

    ``$CUSTOMS_MONITOR_STATE_DIR`` (a path as given), else systemd's ``$STATE_DIRECTORY`` (its
    first entry: systemd joins several with colons), else ``$XDG_STATE_HOME/customs-monitor`` or
    ``~/.local/state/customs-monitor``. Nothing is created here."""
    # systemd's StateDirectory= exports STATE_DIRECTORY; otherwise the XDG location.
    if os.environ.get("CUSTOMS_MONITOR_STATE_DIR"):
        return os.environ["CUSTOMS_MONITOR_STATE_DIR"]
    if os.environ.get("STATE_DIRECTORY"):
        return os.environ["STATE_DIRECTORY"].split(":")[0]
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return os.path.join(base, "customs-monitor")


def embedded_default(state_dir: str | None = None) -> dict[str, Any]:
    """The raw config used without a config file: bundled dataset and rules, a console channel."""
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
    env: Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Load and validate monitor.yaml (path, else $CUSTOMS_MONITOR_CONFIG, else the default);
    a ConfigError lists every problem found."""
    config, found = read_config(path, env=env, overrides=overrides)
    if found or config is None:
        raise ConfigError(found)
    return config


def read_config(
    path: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[Config | None, list[Problem]]:
    """Every problem of the config, and the config built from the parts that are valid (None
    when the file cannot be read as a mapping): ``validate`` checks templates with it."""
    env = dict(os.environ) if env is None else env
    path = path or env.get(ENV_CONFIG) or None
    found: list[Problem] = []
    raw: Any
    if path is None:
        raw = embedded_default()
        base_dir = os.getcwd()
    else:
        try:
            raw = load_yaml_file(path, problems=found)
        except ConfigError as exc:
            return None, exc.problems
        base_dir = os.path.dirname(os.path.abspath(path))
        if raw is None:
            raw = LocatedDict(mark=Mark(path, 1, 1))
    if overrides:
        raw.update(overrides)
    where = path or "<embedded default>"
    if not isinstance(raw, dict):
        m = mark_of(raw, where, line=1, column=1)
        return None, [*found, Problem(where, m.line, m.column, "the config must be a mapping")]
    env_values = _Environment(env, where)
    raw = env_values.substitute(raw)
    found += env_values.problems
    model = None
    try:
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        found += problems(
            exc,
            ConfigModel,
            raw,
            where,
            subject=_subject(raw),
            hidden=env_values.unset,
            quiet=env_values.used,
        )
        model = _salvaged(raw, exc)
    if model is None:
        return None, found
    config = _build(model, base_dir, path)
    found += check_config(config, raw)
    return config, found


class _Environment:
    """``${VAR}`` replaced from the environment, remembering where: an unset variable is one
    problem naming it (never a value), and no other check reports the same place again."""

    def __init__(self, env: Mapping[str, str], where: str) -> None:
        self.env = env
        self.where = where
        self.unset: list[Loc] = []
        self.used: list[Loc] = []  # values that came from the environment: never shown
        self.problems: list[Problem] = []
        self._first: dict[str, Problem] = {}

    def substitute(self, obj: Any, loc: Loc = (), mark: Mark | None = None) -> Any:
        if isinstance(obj, dict):
            for key in list(obj):
                at = obj.value_where(key) if isinstance(obj, LocatedDict) else mark
                obj[key] = self.substitute(obj[key], (*loc, key), at)
            return obj
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                at = obj.item_marks[i] if isinstance(obj, LocatedList) else mark
                obj[i] = self.substitute(item, (*loc, i), at)
            return obj
        if isinstance(obj, str) and "${" in obj:
            missing = [m.group(1) for m in _VAR.finditer(obj) if m.group(1) not in self.env]
            if missing:
                self.unset.append(loc)
                for name in missing:
                    self._report(name, mark or Mark(self.where, 0, 0))
                return obj  # kept as written: present for the checks of which keys are given
            self.used.append(loc)
            return _VAR.sub(lambda m: self.env[m.group(1)], obj)
        return obj

    def _report(self, name: str, mark: Mark) -> None:
        first = self._first.get(name)
        if first is None:
            problem = Problem(
                mark.path or self.where,
                mark.line,
                mark.column,
                f"environment variable {name} is not set",
            )
            self._first[name] = problem
            self.problems.append(problem)
            return
        # One problem per variable, however often it is used: the others are listed in it.
        also = f"line {mark.line}" if mark.line else "elsewhere"
        i = self.problems.index(first)
        head, sep, listed = first.message.partition(" (also used at ")
        listed = f"{listed[:-1]}, {also})" if sep else f"{also})"
        updated = Problem(first.path, first.line, first.column, f"{head} (also used at {listed}")
        self.problems[i] = self._first[name] = updated


def _subject(raw: Mapping[str, Any]) -> Any:
    routes = raw.get("routes")

    def subject(loc: Loc) -> tuple[str, Loc]:
        if len(loc) >= 2 and loc[0] in ("sources", "channels"):
            return f"{str(loc[0])[:-1]} {loc[1]!r}", loc[2:]
        if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
            return f"route {_route_name(routes, loc[1])!r}", loc[2:]
        return "", loc

    return subject


def _route_name(routes: Any, i: int) -> str:
    route = routes[i] if isinstance(routes, list) and i < len(routes) else None
    name = route.get("name") if isinstance(route, dict) else None
    return name if isinstance(name, str) and name else f"route-{i + 1}"


def _salvaged(raw: Mapping[str, Any], exc: ValidationError) -> ConfigModel | None:
    """The config without the parts that failed (a broken channel, route or key), so the rest
    can still be checked in the same run; None if even that does not validate."""
    out = dict(raw)
    broken: dict[str, set[Any]] = {}
    for err in exc.errors():
        loc = err["loc"]
        if not loc:
            return None
        top = str(loc[0])
        if top in ("sources", "channels", "routes") and len(loc) >= 2:
            broken.setdefault(top, set()).add(loc[1])
        else:
            out.pop(top, None)
            if top == "rules":
                out["rules"] = []  # not the bundled packs: the user named others
    for top, keys in broken.items():
        if top == "routes":
            out[top] = [
                {**r, "name": _route_name(raw["routes"], i)}
                for i, r in enumerate(raw["routes"])
                if i not in keys
            ]
        else:
            out[top] = {k: v for k, v in raw[top].items() if k not in keys}
    try:
        return ConfigModel.model_validate(out)
    except ValidationError:
        return None


def _resolve(base_dir: str, p: str) -> str:
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, p))


def _channel_paths(base_dir: str, options: ChannelOptions) -> ChannelOptions:
    """A channel's file options (a file channel's ``path``, every ``*_file``) resolved against
    the config file's folder, as every other path in the config is, not the working directory
    of whoever starts the daemon."""
    update = {
        key: _resolve(base_dir, value)
        for key, value in options
        if isinstance(value, str) and value and (key == "path" or key.endswith("_file"))
    }
    return options.model_copy(update=update) if update else options


def _build(model: ConfigModel, base_dir: str, path: str | None) -> Config:
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
    routes = [
        Route(
            name=r.name or f"route-{i + 1}",
            channels=tuple(r.channels),
            match={k: tuple(v) for k, v in r.match.items()},
            continue_=r.continue_,
            template=r.template,
            group_cap=r.group_cap,
        )
        for i, r in enumerate(model.routes)
    ]
    return Config(
        path=path,
        base_dir=base_dir,
        state=state,
        state_dir=state_dir,
        rules=rules,
        templates=_resolve(base_dir, model.templates) if model.templates else None,
        initial=model.initial,
        sources=dict(model.sources),
        channels={n: _channel_paths(base_dir, o) for n, o in model.channels.items()},
        routes=routes,
        daemon=model.daemon,
        state_timeout=model.state_timeout,
        engine=model.engine.model_copy(update={"scratch": _resolve(base_dir, model.engine.scratch)})
        if model.engine.scratch
        else model.engine,
    )


def check_config(config: Config, raw: Mapping[str, Any]) -> list[Problem]:
    """Checks across sections: which keys are given together in each source and channel,
    types this installation cannot run, routes and ``daemon.ops`` naming known channels."""
    where = config.where
    found: list[Problem] = []
    for section, types in (("sources", SOURCE_TYPES), ("channels", CHANNEL_TYPES)):
        block = raw.get(section)
        for name, options in (block or {}).items() if isinstance(block, dict) else ():
            kind = options.get("type") if isinstance(options, dict) else None
            model = types.get(kind) if isinstance(kind, str) else None
            if model is None:
                continue  # the field checks reported it
            what = f"{section[:-1]} {name!r}"
            found += key_problems_of(model, options, where, what)
            missing = model.unavailable()
            if missing:
                m = _value_mark(options, "type", where)
                found.append(Problem(m.path, m.line, m.column, f"{what}: {missing}"))
    declared = raw.get("channels")
    channels = set(declared) if isinstance(declared, dict) else set(config.channels)
    routes = raw.get("routes")
    for i, route in enumerate(routes if isinstance(routes, list) else []):
        listed = route.get("channels") if isinstance(route, dict) else None
        for j, ch in enumerate(listed if isinstance(listed, list) else []):
            if str(ch) not in channels:
                m = _item_mark(listed, j, route, "channels", where)
                found.append(
                    Problem(
                        m.path,
                        m.line,
                        m.column,
                        f"route {_route_name(routes, i)!r}: unknown channel {ch!r}"
                        f"{did_you_mean(str(ch), channels)}",
                    )
                )
    if channels and not routes:
        m = mark_of(raw, where)
        found.append(
            Problem(
                m.path or where,
                m.line,
                m.column,
                "channels are configured but no route sends to them "
                "(add routes: [{channels: [...]}])",
            )
        )
    # Read from the YAML, so an ops channel is checked even when another daemon key is wrong.
    daemon = raw.get("daemon")
    ops = daemon.get("ops") if isinstance(daemon, dict) else None
    listed = ops.get("channels") if isinstance(ops, dict) else None
    for j, ch in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(ch, str) and ch not in channels:
            m = _item_mark(listed, j, ops, "channels", where)
            found.append(
                Problem(
                    m.path,
                    m.line,
                    m.column,
                    f"daemon.ops.channels: unknown channel {ch!r}{did_you_mean(ch, channels)}",
                )
            )
    return found


def _value_mark(node: Any, key: str, where: str) -> Mark:
    if isinstance(node, LocatedDict):
        m = node.value_where(key)
        return Mark(m.path or where, m.line, m.column)
    return Mark(where, 0, 0)


def _item_mark(items: Any, i: int, owner: Any, key: str, where: str) -> Mark:
    if isinstance(items, LocatedList) and i < len(items.item_marks):
        m = items.item_marks[i]
        return Mark(m.path or where, m.line, m.column)
    return _value_mark(owner, key, where)
