"""Sums on real files: GACC's January 2019 exports to the US (every 8-digit code, one row per
customs regime) summed to HS6, checked against the raw CSV read independently here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from monitor.engine import evaluate, load_rules
from monitor.sources._gacc_parse import parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "gacc"
EXPORTS = FIXTURES / "china_exports_to_us_201901.csv"


def raw_sums(prefix: str) -> dict[str, tuple[float, float]]:
    """(kg, US$) per 6-digit code under ``prefix``, summed over every regime row of the file
    (kg from the first quantity when its unit is Kilogram, US$ from the last column)."""
    out: dict[str, list[float]] = {}
    with EXPORTS.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 12 or not row[3].startswith(prefix):
                continue
            kg = float(row[7].replace(",", "")) if row[8] == "Kilogram" else 0.0
            usd = float(row[11].replace(",", ""))
            sums = out.setdefault(row[3][:6], [0.0, 0.0])
            sums[0] += kg
            sums[1] += usd
    return {k: (v[0], v[1]) for k, v in out.items()}


@pytest.fixture(scope="module")
def exports():
    return parse(EXPORTS.name, EXPORTS.read_bytes(), flow="export").rows


def test_hs6_850511_is_both_national_codes(exports, tmp_path):
    """850511 to the US, January 2019: 85051110 (342,673 kg, US$17,186,505) plus 85051190
    (983,607 kg, US$6,315,290) = 1,326,280 kg and US$23,501,795, as the raw rows add up."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "pack: real\nrules:\n"
        "  - id: magnets-hs6\n"
        '    select: {reporter: CN, partner: US, flow: export, commodity: {prefix: "850511"}}\n'
        "    condition: {type: threshold, above: 1}\n",
        encoding="utf-8",
    )
    alerts = evaluate(exports, load_rules([str(path)]), ["2019-01"])
    got = {a.measure: a for a in alerts}
    kg, usd = raw_sums("850511")["850511"]
    assert (kg, usd) == (1_326_280.0, 23_501_795.0)
    assert got["net_weight_kg"].value == kg and got["value_usd"].value == usd
    assert got["value_usd"].context["coverage"] == "2 of 2 codes reported"


def test_every_hs6_under_heading_8505(exports, tmp_path):
    """level 6 under 8505 gives one series per subheading, each the sum of its raw rows."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "pack: real\nrules:\n"
        "  - id: heading-8505\n"
        "    select: {reporter: CN, partner: US, flow: export, measure: value_usd,\n"
        '             commodity: {prefix: "8505", level: 6}}\n'
        "    condition: {type: threshold, above: 1}\n",
        encoding="utf-8",
    )
    alerts = evaluate(exports, load_rules([str(path)]), ["2019-01"])
    expected = {code: usd for code, (_, usd) in raw_sums("8505").items()}
    assert {a.commodity: a.value for a in alerts} == expected
    assert set(expected) == {"850511", "850519", "850520", "850590"}
