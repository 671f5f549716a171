"""DuckDB doing what bench/e2e.py asks of customs-monitor, one step per process.

duckdb_e2e.py load CSV DB                       load a canonical CSV into a table on disk
duckdb_e2e.py new-month CSV DB PACK PERIOD OUT  append what is new or changed in CSV, then
                                                evaluate PACK at PERIOD; alert keys to OUT
duckdb_e2e.py backtest PARQUET PACK             evaluate PACK at every month; counts per rule

The window queries run over series made dense (a row per month, NULL where none was published)
with ROWS frames, the fastest of the two equivalent forms; DUCKDB_FRAMES=range keeps the sparse
rows and RANGE frames over the month number (same alerts, several times slower on backtests).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.duckdb_reference import MONTH, SERIES, alerts_over_base
from monitor.engine import load_rules
from monitor.model import month_to_period, period_to_month

DENSE = os.environ.get("DUCKDB_FRAMES", "rows") != "range"

COLUMNS = (
    "{'period': 'VARCHAR', 'reporter': 'VARCHAR', 'partner': 'VARCHAR', 'commodity': 'VARCHAR', "
    "'flow': 'VARCHAR', 'measure': 'VARCHAR', 'value': 'DOUBLE', 'unit': 'VARCHAR'}"
)


def connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    con.execute("SET threads TO 2")
    return con


def read_csv(path: str) -> str:
    return (
        f"SELECT {SERIES}, {MONTH} AS m, value, unit "
        f"FROM read_csv('{path}', header=true, columns={COLUMNS})"
    )


def load(csv: str, db: str) -> None:
    con = connect(db)
    con.execute(f"CREATE TABLE obs AS {read_csv(csv)}")
    con.close()


def new_month(csv: str, db: str, pack: str, period: str, out: str) -> None:
    con = connect(db)
    rules = load_rules([pack])
    key = f"{SERIES}, m"
    con.execute(f"CREATE TEMP TABLE incoming AS {read_csv(csv)}")
    con.execute(
        f"""CREATE TEMP TABLE changed AS SELECT i.* FROM incoming i
        LEFT JOIN obs o USING ({key}) WHERE o.value IS NULL OR o.value <> i.value"""
    )
    match = " AND ".join(f"obs.{c} = changed.{c}" for c in [*SERIES.split(", "), "m"])
    con.execute(f"UPDATE obs SET value = changed.value FROM changed WHERE {match}")
    con.execute(f"INSERT INTO obs SELECT * FROM changed ANTI JOIN obs USING ({key})")
    target = period_to_month(period)
    con.execute(
        f"CREATE TEMP TABLE base AS SELECT {SERIES}, m, value FROM obs "
        f"WHERE m BETWEEN {target - rules.lookback_months()} AND {target}"
    )
    alerts = alerts_over_base(con, rules, target, target, dense=DENSE)
    con.close()
    keys = [
        [r.rule, r.reporter, r.partner, r.commodity, r.flow, r.measure, month_to_period(int(r.m))]
        for r in alerts.itertuples()
    ]
    Path(out).write_text(json.dumps(keys))
    print(f"alerts\t{len(keys)}")


def backtest(parquet: str, pack: str, start: str | None = None) -> None:
    """Every month (or from ``start`` on), as ``customs-monitor backtest --from``."""
    con = connect()
    rules = load_rules([pack])
    con.execute(
        f"CREATE TEMP TABLE base AS SELECT {SERIES}, {MONTH} AS m, value "
        f"FROM read_parquet('{parquet}')"
    )
    first, last = con.execute("SELECT min(m), max(m) FROM base").fetchall()[0]
    if start is not None:
        first = period_to_month(start)
    alerts = alerts_over_base(con, rules, first, last, dense=DENSE)
    counts = alerts.groupby("rule").size().to_dict()
    for rule in rules:
        print(f"{rule.id}\t{counts.get(rule.id, 0)}")
    print(f"total\t{len(alerts)}")


if __name__ == "__main__":
    step, *rest = sys.argv[1:]
    {"load": load, "new-month": new_month, "backtest": backtest}[step](*rest)
