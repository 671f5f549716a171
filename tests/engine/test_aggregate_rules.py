"""Validation of sums, groups and mirrors: every problem located as path:line:column."""

from __future__ import annotations

import pytest

from monitor.engine import validate_rules

HEAD = """pack: t
defaults:
  select: {reporter: CN, flow: export, measure: net_weight_kg}
rules:
"""


def problems(tmp_path, body: str, head: str = HEAD) -> list[str]:
    path = tmp_path / "p.yaml"
    path.write_text(head + body, encoding="utf-8")
    return [str(p) for p in validate_rules([str(path)])]


def one(tmp_path, body: str, head: str = HEAD) -> str:
    found = problems(tmp_path, body, head)
    assert len(found) == 1, found
    return found[0]


def test_unknown_group_is_located_with_a_suggestion(tmp_path):
    """A group that matches nothing is an error at its line, with 'did you mean'."""
    msg = one(
        tmp_path,
        "  - id: r\n    select: {partner: {group: ASIAN}}\n"
        "    condition: {type: threshold, above: 1}\n",
    )
    assert msg.startswith(f"{tmp_path / 'p.yaml'}:6:31: ")
    assert "unknown group 'ASIAN'" in msg and "did you mean 'ASEAN'" in msg


def test_prefix_that_names_no_hs_code_is_located(tmp_path):
    """A prefix no HS chapter, heading or subheading starts with would select nothing."""
    msg = one(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "850599"}}\n'
        "    condition: {type: threshold, above: 1}\n",
    )
    assert msg.startswith(f"{tmp_path / 'p.yaml'}:6:")
    assert "prefix '850599' matches no HS chapter, heading or subheading" in msg


def test_national_prefix_is_checked_through_its_hs6(tmp_path):
    """An 8-digit prefix is accepted when its HS6 exists (850511), refused when not."""
    assert (
        problems(
            tmp_path,
            '  - id: r\n    select: {commodity: {prefix: "85051110"}}\n'
            "    condition: {type: threshold, above: 1}\n",
        )
        == []
    )
    assert "matches no HS" in one(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "85059999"}}\n'
        "    condition: {type: threshold, above: 1}\n",
    )


@pytest.mark.parametrize(
    ("commodity", "expected"),
    [
        ("{prefix: 850511}", 'quote the prefix so leading zeros survive (write "850511")'),
        ('{prefix: "85", level: 3}', "level must be one of 2, 4, 6, 8, 10"),
        ('{prefix: "850511", level: 4}', "level 4 is shorter than the prefix"),
        ('{codes: ["85051110"]}', "codes needs 'as'"),
        ('{prefix: "8505", codes: ["85051110"], as: X}', "give prefix or codes, not both"),
        ("{sum: yes}", "unknown key 'sum'"),
    ],
)
def test_malformed_commodity_aggregates(tmp_path, commodity, expected):
    """Each mistake in a commodity aggregate is reported, located, with what to write."""
    found = problems(
        tmp_path,
        f"  - id: r\n    select: {{commodity: {commodity}}}\n"
        "    condition: {type: threshold, above: 1}\n",
    )
    assert any(expected in p and p.startswith(f"{tmp_path / 'p.yaml'}:6:") for p in found), found


def test_only_commodity_and_partner_can_be_summed(tmp_path):
    """A mapping on another key is refused."""
    assert "only commodity (prefix, level, codes) and partner (group) can be summed" in one(
        tmp_path,
        "  - id: r\n    select: {reporter: {group: EU}}\n"
        "    condition: {type: threshold, above: 1}\n",
    )


def test_pack_group_may_not_redefine_a_shipped_one(tmp_path):
    """A pack's own EU27 would silently change every rule's meaning: refused, located."""
    head = HEAD.replace("rules:\n", "groups:\n  EU27: [DE, FR]\nrules:\n")
    msg = one(tmp_path, "  - id: r\n    condition: {type: threshold, above: 1}\n", head)
    assert msg.startswith(f"{tmp_path / 'p.yaml'}:5:3: ") and "is shipped" in msg


def test_group_named_like_a_country_is_refused(tmp_path):
    """A group called DE would shadow Germany."""
    head = HEAD.replace("rules:\n", "groups:\n  DE: [FR]\nrules:\n")
    assert "never a partner code" in one(
        tmp_path, "  - id: r\n    condition: {type: threshold, above: 1}\n", head
    )


def test_group_member_spans_are_checked(tmp_path):
    """until before from, and a bad month, are located errors."""
    head = HEAD.replace(
        "rules:\n",
        "groups:\n  DUO:\n    members:\n      - {code: DE, from: 2020-05, until: 2020-01}\n"
        "      - {code: FR, from: May}\nrules:\n",
    )
    found = problems(tmp_path, "  - id: r\n    condition: {type: threshold, above: 1}\n", head)
    assert any("until is before from" in p for p in found)
    assert any(":8:26:" in p and "from: expected YYYY-MM, got 'May'" in p for p in found)


def test_incomplete_policy_is_checked(tmp_path):
    """incomplete takes mark or skip; on a rule without a sum it is an error."""
    assert "incomplete 'drop' is not one of mark, skip" in one(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "8505"}}\n    incomplete: drop\n'
        "    condition: {type: threshold, above: 1}\n",
    )
    assert "applies to sums" in one(
        tmp_path,
        '  - id: r\n    select: {commodity: "85051110"}\n    incomplete: skip\n'
        "    condition: {type: threshold, above: 1}\n",
    )


def test_unknown_derived_series(tmp_path):
    """select: {derived: NAME} must name a derived series of the pack."""
    assert "unknown derived series 'magnet'" in one(
        tmp_path,
        "  - id: r\n    select: {derived: magnet}\n    condition: {type: threshold, above: 1}\n",
    )


def test_unused_derived_series_is_checked(tmp_path):
    """A derived series no rule selects is still validated (once), located."""
    head = HEAD.replace(
        "rules:\n", "derived:\n  bloc:\n    select: {partner: {group: EU28}}\nrules:\n"
    )
    msg = one(tmp_path, "  - id: r\n    condition: {type: threshold, above: 1}\n", head)
    assert msg.startswith(f"{tmp_path / 'p.yaml'}:6:31: ") and "unknown group 'EU28'" in msg


def test_missing_release_of_a_sum_is_refused(tmp_path):
    """A sum has no release day of its own."""
    assert "a sum has no release of its own" in one(
        tmp_path,
        '  - id: r\n    select: {commodity: {prefix: "8505"}}\n'
        "    condition: {type: missing_release, expected_day: 20}\n",
    )


def test_summary_may_use_the_coverage_names(tmp_path):
    """A summary on a sum may say '{{ coverage }}'; on a plain rule that name is unknown."""
    assert (
        problems(
            tmp_path,
            '  - id: r\n    select: {commodity: {prefix: "8505"}}\n'
            '    summary: "{{ commodity }}: {{ coverage }}"\n'
            "    condition: {type: threshold, above: 1}\n",
        )
        == []
    )
    assert "unknown name 'coverage'" in one(
        tmp_path,
        '  - id: r\n    summary: "{{ coverage }}"\n    condition: {type: threshold, above: 1}\n',
    )


MIRROR = (
    '  - id: r\n    select: {commodity: {prefix: "850511"}, partner: US, measure: value_usd}\n'
    "    condition: {type: mirror_gap, window: 3, pct: 20%s}\n"
)


def test_valid_mirror(tmp_path):
    """China's HS6 exports to the US against the US's imports: no problem."""
    assert problems(tmp_path, MIRROR % ", source: census") == []


def test_mirror_with_mismatched_measures(tmp_path):
    """A mirror in another measure (another unit) is a located error naming both units."""
    msg = one(tmp_path, MIRROR % ", measure: value_eur")
    assert msg.startswith(f"{tmp_path / 'p.yaml'}:7:")
    assert "mismatched measures" in msg and "(USD)" in msg and "(EUR)" in msg


def test_mirror_of_a_measure_without_a_fixed_unit(tmp_path):
    """Quantities come in units that differ by commodity and country: refused."""
    body = (MIRROR % "").replace("value_usd", "quantity")
    assert "has no fixed unit" in one(tmp_path, body)


def test_mirror_with_no_common_commodity_level(tmp_path):
    """China's 8-digit code has no counterpart in the US's 10-digit codes: refused, with the
    HS6 prefix to write instead."""
    body = (MIRROR % "").replace('{prefix: "850511"}', '"85051110"')
    msg = one(tmp_path, body)
    assert "no common commodity level" in msg and 'prefix: "850511"' in msg


def test_mirror_with_the_same_flow_on_both_sides(tmp_path):
    """The mirror of an export is the partner's import."""
    assert "not another export" in one(tmp_path, MIRROR % ", flow: export")


def test_mirror_of_a_group(tmp_path):
    """A partner group has no single reporter on the other side."""
    body = (MIRROR % "").replace("partner: US", "partner: {group: EU27}")
    assert "a partner group has no single mirror reporter" in one(tmp_path, body)


def test_mirror_needs_a_threshold(tmp_path):
    """pct or absolute is required; absolute takes the rule's unit."""
    body = (MIRROR % "").replace(", pct: 20", "")
    assert "needs at least one of pct, absolute" in one(tmp_path, body)
    body = (MIRROR % "").replace("pct: 20", "absolute: 500 t")
    assert "absolute" in one(tmp_path, body)
