"""``customs-monitor alerts list|show``: the console's alert pages in a terminal, over the same
store the console tests read (tests/web/conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.cli import main
from monitor.commands.alerts import parse_since
from monitor.errors import ConfigError
from monitor.web import queries

US_JULY_HIGH = "magnets-six-month-high|CN|US|85051110|export|net_weight_kg|2025-07"


def run(site, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(site.folder / "monitor.yaml"), "alerts", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_jsonl_is_what_the_console_lists(site, capsys) -> None:
    """Same filters, same alerts, same order as the console's query."""
    code, out, _ = run(site, capsys, "list", "--partner", "US", "--format", "jsonl")
    assert code == 0
    keys = [json.loads(line)["key"] for line in out.splitlines()]
    records, _ = queries.list_alerts(site.store, queries.AlertFilter(partner="US"), limit=None)
    assert keys == [r.key for r in records]
    assert len(keys) == 8


def test_list_filters_by_rule_commodity_and_since(site, capsys) -> None:
    """--rule (a pattern), --commodity and --since (recorded since) narrow the list."""
    _, out, _ = run(
        site,
        capsys,
        "list",
        "--rule",
        "*-six-month-*",
        "--commodity",
        "85051110",
        "--since",
        "2025-10-01",
        "--format",
        "jsonl",
    )
    found = sorted(
        (json.loads(x)["alert"]["partner"], json.loads(x)["alert"]["period"])
        for x in out.splitlines()
    )
    assert found == [("US", "2025-10"), ("WORLD", "2025-08")]


def test_list_table_shows_state_value_and_delivery(site, capsys) -> None:
    """One row per alert: state, severity, rule, series, value, per-channel outcome, key."""
    code, out, _ = run(site, capsys, "list", "--period", "2025-07", "--rule", "magnets-six-*")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "recorded",
        "state",
        "severity",
        "rule",
        "series",
        "period",
        "value",
        "sent",
        "key",
    ]
    row = next(line for line in lines if line.endswith(US_JULY_HIGH))
    assert row.split()[:9] == [
        "2025-08-20",
        "02:00",
        "firing",
        "warning",
        "magnets-six-month-high",
        "CN>US",
        "85051110",
        "2025-07",
        "619",
    ]
    assert "archive:sent desk:failed" in row


def test_show_gives_figures_and_delivery_per_channel(site, capsys) -> None:
    """show: headline, figures, release, and each channel's outcome with the reason."""
    code, out, _ = run(site, capsys, "show", US_JULY_HIGH)
    assert code == 0
    assert "hit a six-month high in July 2025" in out
    assert "619 t in July 2025 · previous high 353 t in June 2025" in out
    assert "recorded 2025-08-20 02:00 UTC (release 1)" in out
    assert "archive      alert #1     sent 2025-08-20 02:00 UTC" in out
    assert (
        "desk         alert #2     failed: channel 'desk': HTTP 404 from http://127.0.0.1:" in out
    )
    assert "console:" not in out  # no public_url configured


def test_show_json(site, capsys) -> None:
    """--format json carries the alert and its deliveries."""
    _, out, _ = run(site, capsys, "show", US_JULY_HIGH, "--format", "json")
    data = json.loads(out)
    assert data["alert"]["value"] == 619000.0
    assert [(d["channel"], d["state"]) for d in data["deliveries"]] == [
        ("archive", "sent"),
        ("desk", "failed"),
    ]


def test_show_unknown_key_is_a_usage_error(site, capsys) -> None:
    """An unknown key: exit 2 and a sentence saying where keys are listed."""
    code, _, err = run(site, capsys, "show", "nope|CN|US|1|export|value_usd|2025-01")
    assert code == 2
    assert "no alert recorded with key 'nope|CN|US|1|export|value_usd|2025-01'" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", datetime(2025, 11, 13, 12, 0, tzinfo=UTC)),
        ("12h", datetime(2025, 11, 20, 0, 0, tzinfo=UTC)),
        ("2025-08", datetime(2025, 8, 1, tzinfo=UTC)),
        ("2025-08-20", datetime(2025, 8, 20, tzinfo=UTC)),
        ("2025-08-20T02:00Z", datetime(2025, 8, 20, 2, 0, tzinfo=UTC)),
    ],
)
def test_parse_since(text, expected) -> None:
    """Durations count back from now; months and dates are UTC."""
    assert parse_since(text, datetime(2025, 11, 20, 12, 0, tzinfo=UTC)) == expected


def test_parse_since_refuses_nonsense() -> None:
    """Anything else is a usage error naming the option and the accepted forms."""
    with pytest.raises(ConfigError, match="--since 'last week'"):
        parse_since("last week", datetime(2025, 11, 20, tzinfo=UTC))
