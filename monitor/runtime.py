"""Build the configured parts (sources, channels, rules, templates) from a Config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import ConfigError, Problem
from monitor.notify import Channel, channel_class
from monitor.sources import Source, source_class

if TYPE_CHECKING:
    import requests

    from monitor.engine.rules import RuleSet
    from monitor.render import TemplateEnv
    from monitor.store import SqlStore


def build_source(
    config: Config,
    name: str,
    *,
    clock: Clock | None = None,
    cursor: dict[str, Any] | None = None,
    session: requests.Session | None = None,
) -> Source:
    """A new source object for configured source ``name`` (its type's class), starting from
    ``cursor`` and using ``session`` if given; an unknown name is a ConfigError with a hint."""
    if name not in config.sources:
        from monitor.config_checks import did_you_mean

        known = ", ".join(sorted(config.sources)) or "none"
        raise ConfigError(
            Problem(
                config.where,
                0,
                0,
                f"unknown source {name!r}"
                f"{did_you_mean(name, config.sources)} (configured: {known})",
            )
        )
    options = config.sources[name]
    cls = source_class(options.type)
    return cls(name, options, clock=clock, session=session, cursor=cursor, base_dir=config.base_dir)


def template_env(config: Config) -> TemplateEnv:
    """The ``TemplateEnv`` of the configured templates; messages link to the web console only
    when ``daemon.web`` is enabled (its ``public_url``, None otherwise)."""
    from monitor.render import TemplateEnv

    env = TemplateEnv(config.templates)
    web = config.daemon.web  # messages link to the console's pages when it has a public URL
    env.console_url = web.public_url if web is not None and web.enabled else None
    return env


def build_channels(
    config: Config, templates: TemplateEnv | None = None, **transports: Any
) -> dict[str, Channel]:
    """A channel object per configured channel, by name, rendering with ``templates`` (default:
    ``template_env(config)``); ``transports`` (e.g. ``stream``) go to every channel's class."""
    templates = templates if templates is not None else template_env(config)
    channels = {}
    for name, options in config.channels.items():
        cls = channel_class(options.type)
        channels[name] = cls(name, options, templates=templates, **transports)
    return channels


def load_rules(config: Config) -> RuleSet:
    """The ``RuleSet`` of the configured rule packs; a pack that does not load is a ConfigError."""
    from monitor.engine import load_rules as _load

    return _load(config.rules)


def open_state(config: Config) -> SqlStore:
    """The configured state store, migrated, waiting at most ``state_timeout`` for a lock.

    A missing database driver is a configuration error (exit 2) naming the extra to install."""
    from monitor.config_checks import check_state_driver
    from monitor.store import open_store

    problems = check_state_driver(config)
    if problems:
        raise ConfigError(problems)
    return open_store(config.state, timeout=config.state_timeout)
