"""Derived series: sums over commodity prefixes, levels, code lists and dated partner groups,
read by the conditions exactly as published series (expectations worked out by hand)."""

from __future__ import annotations

import pandas as pd
import pytest

from monitor.engine import evaluate, load_rules
from monitor.engine.groups import shipped_groups
from monitor.model import normalize
from monitor.model import period_to_month as m

HEAD = """pack: t
defaults:
  select: {reporter: CN, flow: export, measure: net_weight_kg}
rules:
"""


def obs(rows: list[tuple[str, str, str, float]], source: str = "test") -> pd.DataFrame:
    """(period, partner, commodity, kg) rows of China's exports."""
    return normalize(
        pd.DataFrame(
            [
                {
                    "period": p,
                    "reporter": "CN",
                    "partner": partner,
                    "commodity": code,
                    "flow": "export",
                    "measure": "net_weight_kg",
                    "value": v,
                    "unit": "kg",
                    "source": source,
                }
                for p, partner, code, v in rows
            ]
        )
    )


def rules_of(tmp_path, body: str, head: str = HEAD):
    path = tmp_path / "p.yaml"
    path.write_text(head + body, encoding="utf-8")
    return load_rules([str(path)])


MAGNETS = [
    # two national codes under HS 850511 to the US, and China's totals
    ("2025-01", "US", "85051110", 100.0),
    ("2025-01", "US", "85051190", 10.0),
    ("2025-02", "US", "85051110", 120.0),
    ("2025-02", "US", "85051190", 30.0),
    ("2025-03", "US", "85051110", 200.0),  # 85051190 missing this month
    ("2025-04", "US", "85051110", 90.0),
    ("2025-04", "US", "85051190", 100.0),
    ("2025-01", "WORLD", "85051110", 1000.0),
    ("2025-01", "WORLD", "85051190", 100.0),
    ("2025-02", "WORLD", "85051110", 1000.0),
    ("2025-02", "WORLD", "85051190", 100.0),
    ("2025-03", "WORLD", "85051110", 1000.0),
    ("2025-03", "WORLD", "85051190", 100.0),
    ("2025-04", "WORLD", "85051110", 1000.0),
    ("2025-04", "WORLD", "85051190", 100.0),
]


def test_prefix_sum_has_its_own_key_and_value(tmp_path):
    """850511 to the US in 2025-02 is 120 + 30 kg, under commodity 850511."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US}\n'
        "    condition: {type: threshold, above: 1}\n",
    )
    (a,) = evaluate(obs(MAGNETS), rules, ["2025-02"])
    assert (a.commodity, a.partner, a.value) == ("850511", "US", 150.0)
    assert a.context["coverage"] == "2 of 2 codes reported"
    assert a.context["complete"] is True


def test_missing_member_is_marked_never_a_silent_dip(tmp_path):
    """In 2025-03 only 85051110 reported: 200 kg, marked 1 of 2 codes, and the summary says so."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US}\n'
        "    condition: {type: threshold, above: 1}\n",
    )
    (a,) = evaluate(obs(MAGNETS), rules, ["2025-03"])
    assert a.value == 200.0
    assert (a.context["members_reported"], a.context["members_expected"]) == (1, 2)
    assert a.context["coverage"] == "1 of 2 codes reported" and a.context["complete"] is False
    assert "{% if not complete %} ({{ coverage }}){% endif %}" in a.summary


def test_skip_policy_leaves_an_incomplete_month_missing(tmp_path):
    """incomplete: skip makes 2025-03 missing: no alert then, and no month-on-month against it."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US}\n'
        "    incomplete: skip\n    condition: {type: pct_change, periods: 1, above: 1}\n",
    )
    assert evaluate(obs(MAGNETS), rules, ["2025-03"]) == []
    # 2025-04 (190 kg) against 2025-03 (skipped): nothing to compare with.
    assert evaluate(obs(MAGNETS), rules, ["2025-04"]) == []
    (a,) = evaluate(obs(MAGNETS), rules, ["2025-02"])  # 150 vs 110: +36.4 %
    assert a.context["pct"] == pytest.approx((150 / 110 - 1) * 100)


def test_period_high_of_a_prefix_sum(tmp_path):
    """The 2025-04 sum (190 kg) beats 110, 150 and 200: a four-month high of 850511."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US}\n'
        "    condition: {type: period_high, window: 4}\n",
    )
    assert evaluate(obs(MAGNETS), rules, ["2025-04"]) == []  # 190 < 200 (2025-03)
    rows = [r for r in MAGNETS if r[0] != "2025-03"] + [("2025-03", "US", "85051110", 80.0)]
    (a,) = evaluate(obs(rows), rules, ["2025-04"])
    assert a.value == 190.0 and a.context["prior_max"] == 150.0
    assert a.context["prior_max_period"] == "2025-02"


def test_share_of_a_prefix_sum_uses_the_summed_world_total(tmp_path):
    """US share of 850511 in 2025-02 = 150 / (1000 + 100) * 100, basis WORLD, rank 1 of 1."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US}\n'
        "    condition: {type: share, above: 1}\n",
    )
    (a,) = evaluate(obs(MAGNETS), rules, ["2025-02"])
    assert a.context["share"] == pytest.approx(150 / 1100 * 100)
    assert (a.context["total"], a.context["total_basis"]) == (1100.0, "WORLD")
    assert (a.context["rank"], a.context["partners_ranked"]) == (1, 1)


def test_level_sums_every_code_to_its_heading(tmp_path):
    """level 4 under 85: 85051110 + 85051190 -> 8505, 85011010 -> 8501, each its own series."""
    rows = [*MAGNETS, ("2025-02", "US", "85011010", 7.0)]
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "85", level: 4}, partner: US}\n'
        "    condition: {type: threshold, above: 1}\n",
    )
    got = {(a.commodity, a.value) for a in evaluate(obs(rows), rules, ["2025-02"])}
    assert got == {("8505", 150.0), ("8501", 7.0)}


def test_code_list_sums_under_its_name(tmp_path):
    """codes [...] as NAME sums exactly the listed codes."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {codes: ["85051190"], as: OTHER_METAL}, '
        "partner: US}\n    condition: {type: threshold, above: 1}\n",
    )
    (a,) = evaluate(obs(MAGNETS), rules, ["2025-04"])
    assert (a.commodity, a.value) == ("OTHER_METAL", 100.0)


def test_exclude_on_a_summed_dimension_removes_a_member(tmp_path):
    """exclude: {commodity: [85051190]} sums 850511 without that code."""
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US}\n'
        '    exclude: {commodity: ["85051190"]}\n    condition: {type: threshold, above: 1}\n',
    )
    (a,) = evaluate(obs(MAGNETS), rules, ["2025-04"])
    assert a.value == 90.0 and a.context["coverage"] == "1 of 1 codes reported"


def test_named_derived_series_is_defined_once_and_reused(tmp_path):
    """Two rules select the pack's derived series by name and read the same sums."""
    head = HEAD.replace(
        "rules:\n",
        'derived:\n  magnets:\n    select: {commodity: {prefix: "850511"}}\nrules:\n',
    )
    rules = rules_of(
        tmp_path,
        "  - id: a\n    select: {derived: magnets, partner: US}\n"
        "    condition: {type: threshold, above: 1}\n"
        "  - id: b\n    select: {derived: magnets, partner: WORLD}\n"
        "    condition: {type: threshold, above: 1}\n",
        head,
    )
    got = {(a.rule_id, a.partner, a.value) for a in evaluate(obs(MAGNETS), rules, ["2025-02"])}
    assert got == {("a", "US", 150.0), ("b", "WORLD", 1100.0)}


EU_ROWS = [
    # China's exports of one code to three EU members and the UK around Brexit (31 Jan 2020)
    *[(p, "DE", "85051110", 100.0) for p in ("2019-12", "2020-01", "2020-02")],
    *[(p, "FR", "85051110", 10.0) for p in ("2019-12", "2020-01", "2020-02")],
    *[(p, "GB", "85051110", 1000.0) for p in ("2019-12", "2020-01", "2020-02")],
    *[(p, "US", "85051110", 5000.0) for p in ("2019-12", "2020-01", "2020-02")],
]


@pytest.mark.parametrize(
    ("group", "period", "value", "members"),
    [
        ("EU", "2020-01", 1110.0, 3),  # the UK was still a member in January 2020
        ("EU", "2020-02", 110.0, 2),  # and no longer in February
        ("EU27", "2019-12", 110.0, 2),  # EU27_2020 never counts the UK
    ],
)
def test_group_membership_follows_the_dates(tmp_path, group, period, value, members):
    """A group sums its members at the date: the UK counts in EU until 2020-01."""
    rules = rules_of(
        tmp_path,
        f'  - id: r\n    select: {{commodity: "85051110", partner: {{group: {group}}}}}\n'
        "    condition: {type: threshold, above: 1}\n",
    )
    (a,) = evaluate(obs(EU_ROWS), rules, [period])
    assert (a.partner, a.value) == (group, value)
    assert a.context["members_reported"] == members
    assert a.context["coverage"] == f"{members} of {members} partners reported"


def test_group_share_takes_no_rank_and_leaves_partner_ranks_alone(tmp_path):
    """ASEAN share = (VN + TH) / sum of partners; the group, like WORLD, has no rank."""
    rows = [
        ("2025-09", "VN", "85051110", 456.0),
        ("2025-09", "TH", "85051110", 44.0),
        ("2025-09", "DE", "85051110", 1288.0),
        ("2025-09", "KR", "85051110", 854.0),
    ]
    rules = rules_of(
        tmp_path,
        '  - id: g\n    select: {commodity: "85051110", partner: {group: ASEAN}}\n'
        "    condition: {type: share, above: 1}\n"
        '  - id: p\n    select: {commodity: "85051110", partner: "*"}\n'
        "    condition: {type: share, above: 1}\n",
    )
    alerts = evaluate(obs(rows), rules, ["2025-09"])
    (g,) = [a for a in alerts if a.rule_id == "g"]
    assert g.value == 500.0
    assert g.context["share"] == pytest.approx(500 / (456 + 44 + 1288 + 854) * 100)
    assert (g.context["total_basis"], g.context["rank"]) == ("sum", None)
    assert g.context["partners_ranked"] == 4
    ranks = {a.partner: a.context["rank"] for a in alerts if a.rule_id == "p"}
    assert ranks == {"DE": 1, "KR": 2, "VN": 3, "TH": 4}


def test_pack_adds_its_own_dated_group(tmp_path):
    """A pack's group joins the shipped ones, with its own dates."""
    head = HEAD.replace(
        "rules:\n",
        "groups:\n  DUO:\n    members: [DE, {code: FR, from: 2020-02}]\nrules:\n",
    )
    rules = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: "85051110", partner: {group: DUO}}\n'
        "    condition: {type: threshold, above: 1}\n",
        head,
    )
    got = {a.period: a.value for a in evaluate(obs(EU_ROWS), rules)}
    assert got == {"2019-12": 100.0, "2020-01": 100.0, "2020-02": 110.0}


def test_shipped_groups_have_the_documented_members():
    """EU27 has 27 members and never the UK; EU loses the UK after January 2020; ASEAN has
    Timor-Leste from October 2025; the euro area has Bulgaria from January 2026."""
    groups = shipped_groups()
    assert len(groups["EU27"].codes) == 27 and "GB" not in groups["EU27"].codes
    assert "GB" in groups["EU"].members_at(m("2020-01"))
    assert "GB" not in groups["EU"].members_at(m("2020-02"))
    assert len(groups["EU"].members_at(m("2020-02"))) == 27
    assert "TL" not in groups["ASEAN"].members_at(m("2025-09"))
    assert len(groups["ASEAN"].members_at(m("2025-10"))) == 11
    assert len(groups["EURO_AREA"].members_at(m("2026-01"))) == 21
    assert len(groups["OECD"].members_at(m("2025-01"))) == 38
    assert len(groups["BRICS"].members_at(m("2025-01"))) == 10
    assert set(groups["G7"].members_at(m("2025-01"))) == {"CA", "DE", "FR", "GB", "IT", "JP", "US"}


def test_derived_rules_add_their_completeness_window_to_the_lookback(tmp_path):
    """A six-month expectation window makes the rule read 6 months back (mark) or 6 more
    months than its condition (skip), so the daemon loads enough of the store."""
    mark = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}}\n'
        "    condition: {type: pct_change, periods: 1, above: 1}\n",
    )
    assert mark.lookback_months() == 6
    skip = rules_of(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850511"}}\n    incomplete: skip\n'
        "    expect_within: 2\n    condition: {type: pct_change, periods: 3, above: 1}\n",
    )
    assert skip.lookback_months() == 5
