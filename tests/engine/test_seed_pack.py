"""The seed-story pack (rules/stories/magnets_blocs_and_mirror.yaml) backtested through the
CLI on the bundled real figures, alone and joined with the real GACC January 2019 file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from monitor.cli import main
from monitor.resources import bundled_path, default_dataset
from monitor.sources._gacc_parse import parse

PACK = str(bundled_path("rules") / "stories" / "magnets_blocs_and_mirror.yaml")
GACC = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "gacc"


def backtest(capsys, data: Path) -> list[dict]:
    assert main(["backtest", "--rules", PACK, "--data", str(data)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_bundled_figures(capsys):
    """On the news-quoted GACC figures (one code, 85051110) the HS6 sum is that code:
    complete, firing where the 8-digit pack fires; the EU27 (Germany in two months only) and
    the mirror (no US figures) stay silent."""
    alerts = backtest(capsys, default_dataset())
    got = {(a["period"], a["rule"], a["partner"]) for a in alerts}
    assert got == {
        ("2019-07", "magnets-hs6-six-month-high", "US"),
        ("2025-07", "magnets-hs6-six-month-high", "US"),
        ("2025-07", "magnets-hs6-six-month-high", "WORLD"),
        ("2025-08", "magnets-hs6-six-month-high", "WORLD"),
        ("2025-10", "magnets-hs6-six-month-high", "US"),
        ("2025-11", "magnets-hs6-six-month-high", "WORLD"),
    }
    assert {a["coverage"] for a in alerts} == {"1 of 1 codes reported"}


def test_with_the_real_january_2019_file(capsys, tmp_path):
    """Adding GACC's January 2019 file (both codes of 850511 to the US) makes 85051190 an
    expected member: July 2019's high (447 t over 431 t and 414 t) is then 1 of 2 codes."""
    raw = (GACC / "china_exports_to_us_201901.csv").read_bytes()
    jan = parse("china_exports_to_us_201901.csv", raw, flow="export").rows
    jan = jan[jan["commodity"].astype(str).str.startswith("850511")].assign(
        source="GACC query platform"
    )
    bundled = pd.read_csv(default_dataset(), dtype=str)
    data = tmp_path / "combined.csv"
    pd.concat([bundled, jan.astype(str)[bundled.columns]]).to_csv(data, index=False)
    alerts = backtest(capsys, data)
    (july,) = [a for a in alerts if a["period"] == "2019-07"]
    assert (july["value"], july["prior_max"], july["months_known"]) == (447_000, 431_000, 3)
    assert july["coverage"] == "1 of 2 codes reported" and july["complete"] is False
    assert not [a for a in alerts if a["period"] == "2019-01"]  # one month: nothing to compare
