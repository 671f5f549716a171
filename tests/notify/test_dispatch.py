"""dispatch.plan: routing, silences, grouping into digests and deterministic dedup keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.config.routes import Route
from monitor.errors import ConfigError
from monitor.model import Release
from monitor.model import alert_matches as matches
from monitor.notify.base import CHANGE_RESOLVED, CHANGE_REVISED, RenderedMessage
from monitor.notify.console import ConsoleChannel
from monitor.notify.dispatch import plan
from monitor.notify.silences import ActiveSilences, Silence
from monitor.render import TemplateEnv
from tests.notify.realdata import alert, july_notices, notice

NOW = datetime(2025, 8, 20, 3, 0, tzinfo=UTC)
RELEASE = Release(
    id=12, source="magnets", detected_at="2025-08-20T03:00:00Z", new_periods=("2025-07",)
)


@pytest.fixture(scope="module")
def channels() -> dict[str, ConsoleChannel]:
    t = TemplateEnv()
    return {
        name: ConsoleChannel(name, {"format": "text"}, templates=t)
        for name in ("desk", "oncall", "archive")
    }


def run(notices, routes, channels, silences=None):
    return plan(
        notices,
        release=RELEASE,
        source="magnets",
        source_url=None,
        routes=routes,
        channels=channels,
        silences=silences,
        now=NOW,
    )


def test_one_message_per_route_and_channel(frame, channels) -> None:
    """Three alerts of one release to one route with two channels give two messages."""
    result = run(july_notices(frame), [Route("all", ("desk", "archive"))], channels)
    assert [(m.channel, m.dedup_key, m.kind) for m in result.messages] == [
        ("desk", "r12:all:new", "alert"),
        ("archive", "r12:all:new", "alert"),
    ]
    assert len(result.messages[0].alert_keys) == 3


def test_first_match_wins(frame, channels) -> None:
    """An alert matching an earlier route does not reach later ones."""
    routes = [Route("us", ("oncall",), match={"partner": ("US",)}), Route("rest", ("desk",))]
    result = run(july_notices(frame), routes, channels)
    assert result.routed == {
        "us": [alert(frame, "US", "2025-07").key],
        "rest": [alert(frame, p, "2025-07").key for p in ("DE", "WORLD")],
    }


def test_continue_lets_later_routes_match(frame, channels) -> None:
    """With continue: true the alert also goes on to the next matching route."""
    routes = [
        Route("us", ("oncall",), match={"partner": ("US",)}, continue_=True),
        Route("rest", ("desk",)),
    ]
    result = run(july_notices(frame), routes, channels)
    assert len(result.routed["rest"]) == 3


def test_match_on_labels_and_patterns(frame) -> None:
    """Routes match labels and fields, with shell patterns; all keys must match."""
    a = alert(frame, "DE", "2025-07", labels={"desk": "magnets"}, severity="warning")
    assert matches({"desk": ("magnets",), "rule": ("magnets-*",)}, a)
    assert not matches({"desk": ("magnets",), "severity": ("critical",)}, a)
    assert not matches({"team": ("x",)}, a)


def test_unrouted_alerts_are_reported(frame, channels) -> None:
    """Without a default route, alerts that match nothing are listed (and logged)."""
    result = run(
        july_notices(frame), [Route("us", ("oncall",), match={"partner": ("US",)})], channels
    )
    assert len(result.unrouted) == 2


def test_grouped_by_change_kind(frame, channels) -> None:
    """New, revised and resolved notices of one release go out as separate digests."""
    notices = [
        notice(frame, "DE", "2025-07"),
        notice(frame, "US", "2025-06", change=CHANGE_REVISED, previous={"value": 1.0}),
        notice(frame, "WORLD", "2025-06", change=CHANGE_RESOLVED, previous={"value": 1.0}),
    ]
    result = run(notices, [Route("all", ("desk",))], channels)
    assert [m.dedup_key for m in result.messages] == [
        "r12:all:new",
        "r12:all:revised",
        "r12:all:resolved",
    ]
    assert [m.kind for m in result.messages] == ["alert", "revised", "resolved"]


def test_plan_is_deterministic(frame, channels) -> None:
    """Re-planning the same release (after a crash) yields the same keys and messages."""
    routes = [Route("all", ("desk",))]
    first = run(july_notices(frame), routes, channels)
    again = run(list(reversed(july_notices(frame))), routes, channels)
    assert [(m.dedup_key, m.message) for m in first.messages] == [
        (m.dedup_key, m.message) for m in again.messages
    ]


def test_without_release_key_depends_on_alerts(frame, channels) -> None:
    """Without a release the dedup key is derived from the alert identities."""
    kwargs = dict(
        release=None,
        source="magnets",
        source_url=None,
        routes=[Route("all", ("desk",))],
        channels=channels,
        silences=None,
        now=NOW,
    )
    a = plan(july_notices(frame), **kwargs).messages[0].dedup_key
    b = plan(july_notices(frame)[:2], **kwargs).messages[0].dedup_key
    assert a != b and a.endswith(":all:new")


def test_silenced_alerts_are_recorded_not_sent(frame, channels) -> None:
    """A silenced alert is reported in plan.silenced and left out of every message."""
    silence = Silence(id=1, rule="magnets-*", matchers={"partner": "US"}, comment="known")
    result = run(
        july_notices(frame), [Route("all", ("desk",))], channels, ActiveSilences((silence,))
    )
    assert result.silenced == {alert(frame, "US", "2025-07").key}
    assert alert(frame, "US", "2025-07").key not in result.messages[0].alert_keys
    assert len(result.messages[0].alert_keys) == 2


def test_group_cap_from_route(frame, channels) -> None:
    """The route's group_cap decides where "and N more" starts."""
    result = run(july_notices(frame), [Route("all", ("desk",), group_cap=1)], channels)
    text = RenderedMessage.from_json(result.messages[0].message).text
    assert "... and 2 more" in text


def test_unknown_channel_is_a_config_error(frame, channels) -> None:
    """A route naming a channel that does not exist fails clearly."""
    with pytest.raises(ConfigError, match="unknown channel 'pager'"):
        run(july_notices(frame), [Route("all", ("pager",))], channels)


def test_broken_custom_template_falls_back_to_defaults(frame, tmp_path, caplog) -> None:
    """A route template that fails at runtime is logged and the defaults are used instead."""
    (tmp_path / "broken" / "text").mkdir(parents=True)
    (tmp_path / "broken" / "text" / "digest.txt.j2").write_text("{{ no_such_thing }}")
    ch = {"desk": ConsoleChannel("desk", {"format": "text"}, templates=TemplateEnv(str(tmp_path)))}
    result = run(july_notices(frame), [Route("all", ("desk",), template="broken")], ch)
    text = RenderedMessage.from_json(result.messages[0].message).text
    assert "3 alerts from magnets" in text
    assert "no_such_thing" in caplog.text
