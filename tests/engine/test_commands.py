"""The backtest, test and schema commands, run through the real CLI entry point."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from monitor.cli import main
from monitor.resources import bundled_path, default_dataset


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_backtest_jsonl_contract(capsys):
    """jsonl prints one object per alert with the contract fields and the context."""
    code, out, _ = run(
        capsys, "backtest", "--data", str(default_dataset()), "--from", "2025-07", "--to", "2025-07"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["period"] for r in rows} == {"2025-07"}
    high = [r for r in rows if r["rule"] == "magnets-six-month-high" and r["partner"] == "WORLD"]
    assert len(high) == 1
    r = high[0]
    assert (r["reporter"], r["commodity"], r["flow"], r["measure"]) == (
        "CN",
        "85051110",
        "export",
        "net_weight_kg",
    )
    assert r["value"] == 5_577_000 and r["months_known"] == 3
    assert r["prior_max_period"] == "2025-06"


def test_backtest_sorted_output(capsys):
    """Output is sorted by period, rule, series."""
    _, out, _ = run(capsys, "backtest", "--data", str(default_dataset()))
    rows = [json.loads(line) for line in out.splitlines()]
    keys = [(r["period"], r["rule"], r["reporter"], r["partner"]) for r in rows]
    assert keys == sorted(keys) and len(keys) > 5


def test_backtest_summary_counts(capsys):
    """summary prints a count per rule, zeros included."""
    _, out, _ = run(capsys, "backtest", "--data", str(default_dataset()), "--format", "summary")
    counts = dict(line.split("\t")[:2] for line in out.splitlines())
    assert counts["magnets-monthly-drop"] == "0"
    assert int(counts["magnets-six-month-high"]) >= 3


def test_backtest_reads_parquet(tmp_path, capsys, magnets):
    """Parquet input gives the same alerts as the CSV."""
    pq = tmp_path / "obs.parquet"
    magnets.to_parquet(pq)
    _, from_csv, _ = run(
        capsys, "backtest", "--data", str(default_dataset()), "--format", "summary"
    )
    _, from_pq, _ = run(capsys, "backtest", "--data", str(pq), "--format", "summary")
    assert from_csv == from_pq


def test_backtest_missing_file(tmp_path, capsys):
    """A missing data file exits 2 naming the file."""
    code, _, err = run(capsys, "backtest", "--data", str(tmp_path / "none.csv"))
    assert code == 2 and f"{tmp_path / 'none.csv'}: no such data file" in err


def test_backtest_missing_column(tmp_path, capsys):
    """A file without the canonical columns exits 2 naming the file and the column."""
    bad = tmp_path / "bad.csv"
    bad.write_text("period,value\n2025-01,1\n", encoding="utf-8")
    code, _, err = run(capsys, "backtest", "--data", str(bad))
    assert code == 2 and str(bad) in err and "missing column" in err


def test_backtest_non_numeric_value(tmp_path, capsys):
    """A non-numeric value exits 2 naming the file and the row."""
    frame = pd.read_csv(default_dataset(), dtype=str)
    frame.loc[3, "value"] = "n/a"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    code, _, err = run(capsys, "backtest", "--data", str(bad))
    assert code == 2 and f"{bad}:5:1: column value: not a number: 'n/a'" in err


def test_backtest_bad_period_flag(capsys):
    """--from that is not a month is a usage error (exit 2)."""
    code, _, err = run(capsys, "backtest", "--data", str(default_dataset()), "--from", "July")
    assert code == 2 and "--from 'July'" in err


def test_rule_tests_pass(capsys):
    """The shipped rules/tests pass."""
    code, out, _ = run(capsys, "test", str(bundled_path("rules") / "tests"))
    assert code == 0 and "FAIL" not in out and out.count("ok ") >= 2


def test_rule_tests_report_differences(tmp_path, capsys):
    """A wrong expectation fails with the missing, unexpected and differing values."""
    pack = bundled_path("rules") / "rare_earth_magnets.yaml"
    (tmp_path / "t.yaml").write_text(
        f"rule_files: [{pack}]\n"
        "tests:\n"
        "  - name: wrong\n"
        "    series_defaults: {reporter: CN, commodity: '85051110', flow: export,"
        " measure: net_weight_kg}\n"
        "    input_series:\n"
        "      - {series: {partner: US}, start: 2025-05, values: [46 t, 353 t]}\n"
        "    expected_alerts:\n"
        "      - period: 2025-06\n"
        "        alerts:\n"
        "          - {rule: magnets-monthly-jump, partner: US, context: {pct: 600}}\n"
        "          - {rule: magnets-six-month-high, partner: US}\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "test", str(tmp_path / "t.yaml"))
    assert code == 1
    assert "pct expected 600, got 667.39" in out
    assert "expected alert did not fire: 2025-06 magnets-six-month-high" in out


def test_schema_command(capsys):
    """schema prints rule_pack and config schemas; every condition type is offered."""
    code, out, _ = run(capsys, "schema")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"rule_pack", "config"}
    titles = {c["title"] for c in doc["rule_pack"]["$defs"]["condition"]["oneOf"]}
    assert {"period_high", "share_shift", "anomaly", "all", "any"} <= titles


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_backtest_no_alerts_in_range(capsys, fmt):
    """A range without data prints no alerts and exits 0."""
    code, out, _ = run(
        capsys, "backtest", "--data", str(default_dataset()), "--from", "2030-01", "--format", fmt
    )
    assert code == 0
    assert len([ln for ln in out.splitlines() if ln.startswith("20")]) == 0
