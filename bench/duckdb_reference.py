"""A DuckDB SQL reference for the engine: the same rules, written as window queries.

Used by bench/engine.py to time the engine against a column store doing the same work, and to
check that both produce exactly the same alerts (rule, series, period, rank). It implements the
condition meanings of docs/engine.md independently of the engine's numpy code.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from monitor.engine import Condition, RuleSet
from monitor.model import WORLD

SERIES = "reporter, partner, commodity, flow, measure"
GROUP = "reporter, commodity, flow, measure"


def _lag(k: int, expr: str = "value") -> str:
    """The value exactly k months earlier (NULL when that month is missing)."""
    return (
        f"max({expr}) OVER (PARTITION BY {SERIES} ORDER BY m "
        f"RANGE BETWEEN {k} PRECEDING AND {k} PRECEDING)"
    )


def _condition_sql(c: Condition) -> str:
    """SELECT series, m FROM o WHERE the condition holds at m."""
    p = c.params
    if c.type in ("all", "any"):
        op = " INTERSECT " if c.type == "all" else " UNION "
        return op.join(f"({_condition_sql(m)})" for m in c.members)
    if c.type == "threshold":
        tests = []
        if p["above"] is not None:
            tests.append(f"value >= {p['above']!r}")
        if p["below"] is not None:
            tests.append(f"value <= {p['below']!r}")
        return f"SELECT {SERIES}, m FROM o WHERE {' OR '.join(tests)}"
    if c.type in ("period_high", "period_low"):
        agg, cmp = ("max", ">") if c.type == "period_high" else ("min", "<")
        w = (
            f"PARTITION BY {SERIES} ORDER BY m "
            f"RANGE BETWEEN {p['window'] - 1} PRECEDING AND 1 PRECEDING"
        )
        return (
            f"SELECT {SERIES}, m FROM (SELECT *, {agg}(value) OVER ({w}) AS prior, "
            f"count(value) OVER ({w}) AS known FROM o) "
            f"WHERE known >= 1 AND known + 1 >= {p['min_periods']} AND value {cmp} prior"
        )
    if c.type == "pct_change":
        tests = []
        if p["above"] is not None:
            tests.append(f"pct >= {p['above']!r}")
        if p["below"] is not None:
            tests.append(f"pct <= {p['below']!r}")
        return (
            f"SELECT {SERIES}, m FROM (SELECT *, (value / base - 1) * 100 AS pct FROM "
            f"(SELECT *, {_lag(p['periods'])} AS base FROM o) "
            f"WHERE base IS NOT NULL AND base <> 0) "
            f"WHERE {' OR '.join(tests)}"
        )
    if c.type == "share":
        tests = []
        if p["above"] is not None:
            tests.append(f"share >= {p['above']!r}")
        if p["below"] is not None:
            tests.append(f"share <= {p['below']!r}")
        return f"SELECT {SERIES}, m FROM shares WHERE share IS NOT NULL AND ({' OR '.join(tests)})"
    if c.type == "share_shift":
        shift = f"(share - {_lag(p['periods'], 'share')})"
        test = {"up": "shift >= {P}", "down": "shift <= -{P}", "any": "abs(shift) >= {P}"}[
            p["direction"]
        ].format(P=repr(p["points"]))
        return f"SELECT {SERIES}, m FROM (SELECT *, {shift} AS shift FROM shares) WHERE {test}"
    if c.type == "streak":
        cmp = ">" if p["direction"] == "up" else "<"
        lags = ", ".join(f"{_lag(k)} AS v{k}" for k in range(1, p["length"] + 1))
        chain = " AND ".join(
            f"{'value' if k == 0 else f'v{k}'} {cmp} v{k + 1}" for k in range(p["length"])
        )
        return f"SELECT {SERIES}, m FROM (SELECT *, {lags} FROM o) WHERE {chain}"
    if c.type == "anomaly":
        w = (
            f"PARTITION BY {SERIES} ORDER BY m "
            f"RANGE BETWEEN {p['window']} PRECEDING AND 1 PRECEDING"
        )
        return (
            f"SELECT {SERIES}, m FROM (SELECT *, count(value) OVER ({w}) AS n, "
            f"avg(value) OVER ({w}) AS mu, stddev_samp(value) OVER ({w}) AS sd, "
            f"max(value) OVER ({w}) AS hi, min(value) OVER ({w}) AS lo FROM o) "
            f"WHERE n >= {p['min_periods']} AND hi > lo AND abs(value - mu) / sd >= {p['z']!r}"
        )
    raise ValueError(c.type)


def _selection(rule) -> str:
    """The rule's select/exclude as a SQL predicate on the series columns."""
    tests = ["TRUE"]
    for name, values in rule.select.items():
        if values is not None:
            tests.append(f"{name} IN ({', '.join(repr(v) for v in values)})")
    for name, values in rule.exclude.items():
        tests.append(f"{name} NOT IN ({', '.join(repr(v) for v in values)})")
    return " AND ".join(tests)


MONTH = (
    "CAST(substr(CAST(period AS VARCHAR), 1, 4) AS INTEGER) * 12 "
    "+ CAST(substr(CAST(period AS VARCHAR), 6, 2) AS INTEGER) - 1"
)


def reference_alerts(
    observations: pd.DataFrame, rules: RuleSet, first: int, last: int, lookback: int
) -> pd.DataFrame:
    """Alerts (rule, series, period, rank) at months [first, last] using data from
    first - lookback on, as DuckDB computes them."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("raw", observations)
    con.execute(
        f"""CREATE TEMP TABLE o AS
        SELECT {SERIES}, m, value FROM (SELECT {SERIES}, value, {MONTH} AS m FROM raw)
        WHERE m BETWEEN {first - lookback} AND {last}"""
    )
    return alerts_of(con, rules, first, last)


def alerts_of(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet | list,
    first: int,
    last: int,
    blocs: tuple[str, ...] = (),
    dense: bool = False,
) -> pd.DataFrame:
    """The alerts of ``rules`` at months [first, last] over the temp table ``o`` (the series
    columns, m = month number, value), which holds the look-back window. ``blocs``: partner
    groups, which like WORLD are aggregates over partners (left out of partner sums and ranks).

    ``dense``: first give every series every month of ``o``'s range (NULL where none was
    published), so "k months before" is k rows before and the window frames become ROWS frames,
    which DuckDB evaluates far faster than RANGE frames over a month number (same alerts)."""
    aggregates = ", ".join(f"'{p}'" for p in (WORLD, *blocs))
    if dense:
        lo, hi = con.execute("SELECT min(m), max(m) FROM o").fetchone()
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE dense_o AS
            SELECT k.*, g.m, r.value FROM (SELECT DISTINCT {SERIES} FROM o) k
            CROSS JOIN (SELECT range AS m FROM range({lo}, {hi} + 1)) g
            LEFT JOIN o r USING ({SERIES}, m)"""
        )
        _drop_o(con)
        con.execute("ALTER TABLE dense_o RENAME TO o")
    if any(c.type in ("share", "share_shift") for r in rules for c in r.condition.walk()):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE shares AS
            WITH tot AS (SELECT {GROUP}, m,
                  max(value) FILTER (WHERE partner = '{WORLD}') AS world,
                  sum(value) FILTER (WHERE partner NOT IN ({aggregates})) AS psum
                FROM o GROUP BY ALL)
            SELECT o.*, CASE WHEN coalesce(world, psum) > 0
                        THEN value / coalesce(world, psum) * 100 END AS share
            FROM o JOIN tot USING ({GROUP}, m) WHERE partner <> '{WORLD}'"""
        )

    def sql(c: Condition) -> str:
        text = _condition_sql(c)
        return text.replace("RANGE BETWEEN", "ROWS BETWEEN") if dense else text

    parts = [
        f"SELECT '{r.id}' AS rule, * FROM ({sql(r.condition)}) WHERE {_selection(r)}"
        for r in rules
        if r.condition.type != "missing_release"
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE fired AS SELECT * FROM ({' UNION ALL '.join(parts)}) "
        f"WHERE m BETWEEN {first} AND {last}"
    )
    # Rank among the partners of the same group and month, only where an alert needs it.
    return con.execute(
        f"""WITH need AS (SELECT DISTINCT {GROUP}, m FROM fired),
        ranked AS (SELECT {SERIES}, m,
                   rank() OVER (PARTITION BY {GROUP}, m ORDER BY value DESC) AS rank
                   FROM o SEMI JOIN need USING ({GROUP}, m)
                   WHERE partner NOT IN ({aggregates}) AND value IS NOT NULL)
        SELECT rule, {SERIES}, m, rank FROM fired LEFT JOIN ranked USING ({SERIES}, m)"""
    ).fetchdf()


# --------------------------------------------------------------------------------------------
# Derived series (sums over commodity prefixes and partner groups), written as SQL.

NO_LOW, NO_HIGH = -(2**31), 2**31


def _drop_o(con: duckdb.DuckDBPyConnection) -> None:
    """Drop ``o``, a view (published series) or a table (derived ones), whichever it is."""
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'o'"
    ).fetchall()
    for (kind,) in kinds:
        con.execute("DROP VIEW o" if kind == "VIEW" else "DROP TABLE o")


def _commodity_sql(agg) -> str:
    """SELECT base rows with their derived commodity ``dcom`` (one row per derived code)."""
    c = agg.commodity
    keep = " AND ".join(
        ["TRUE"]
        + [
            f"{k} IN ({', '.join(repr(v) for v in values)})"
            for k, values in agg.base_select
            if values is not None
        ]
        + [
            f"{k} NOT IN ({', '.join(repr(v) for v in values)})"
            for k, values in agg.member_exclude
            if k == "commodity"
        ]
    )
    if c is None:
        return f"SELECT *, commodity AS dcom FROM base WHERE {keep}"
    if c.codes:
        codes = ", ".join(repr(v) for v in c.codes)
        return f"SELECT *, {c.name!r} AS dcom FROM base WHERE {keep} AND commodity IN ({codes})"
    parts = []
    for p in c.prefixes or ("",):
        if c.level is not None:
            digits = f"regexp_full_match(commodity, '[0-9]{{{c.level},}}')"
            parts.append(
                f"SELECT *, substr(commodity, 1, {c.level}) AS dcom FROM base "
                f"WHERE {keep} AND starts_with(commodity, {p!r}) AND {digits}"
            )
        else:
            parts.append(
                f"SELECT *, {p!r} AS dcom FROM base WHERE {keep} AND starts_with(commodity, {p!r})"
            )
    return " UNION ALL ".join(parts)


def derive_sql(con: duckdb.DuckDBPyConnection, agg) -> None:
    """Temp table ``o`` (series, m, value) of ``agg``'s derived series over temp table ``base``
    and ``cover`` (series, m, reported, expected): members with a value at m, and members with a
    value in [m - expect_within, m] that belong to the group at m."""
    members = [
        (g.name, s.code, s.first, s.last)
        for g in agg.groups
        for s in g.members
        if s.code not in dict(agg.member_exclude).get("partner", ())
    ]
    frame = pd.DataFrame(members, columns=["gname", "code", "lo", "hi"])
    con.register("members_df", frame)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE members AS "
        "SELECT gname, code, CAST(lo AS BIGINT) AS lo, CAST(hi AS BIGINT) AS hi FROM members_df"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pairs AS
        WITH mapped AS ({_commodity_sql(agg)})
        SELECT reporter, partner AS dpar, dcom, flow, measure, m, value,
               partner AS mp, commodity AS mc, {NO_LOW} AS lo, {NO_HIGH} AS hi FROM mapped
        UNION ALL
        SELECT reporter, g.gname, dcom, flow, measure, m, value, partner, commodity, g.lo, g.hi
        FROM mapped JOIN members g ON mapped.partner = g.code AND mapped.m BETWEEN g.lo AND g.hi"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cover AS
        WITH reported AS (
            SELECT reporter, dpar, dcom, flow, measure, m, count(*) AS reported,
                   sum(value) AS value
            FROM pairs GROUP BY ALL),
        seen AS (
            SELECT DISTINCT reporter, dpar, dcom, flow, measure, mp, mc, p.m + k AS m
            FROM pairs p, range(0, {agg.expect_within + 1}) r(k)
            WHERE p.m + k BETWEEN p.lo AND p.hi),
        expected AS (
            SELECT reporter, dpar, dcom, flow, measure, m, count(*) AS expected
            FROM seen GROUP BY ALL)
        SELECT reporter, dpar AS partner, dcom AS commodity, flow, measure, m, value,
               reported, expected
        FROM reported JOIN expected USING (reporter, dpar, dcom, flow, measure, m)"""
    )
    skip = "WHERE reported >= expected" if agg.incomplete == "skip" else ""
    _drop_o(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE o AS SELECT {SERIES}, m, value FROM cover {skip}")


def alerts_over_base(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet | list,
    first: int,
    last: int,
    dense: bool = False,
) -> pd.DataFrame:
    """Alerts (rule, series, m, rank, reported, expected) of every rule, plain or on an
    aggregate, at months [first, last] over the temp table ``base`` (series, m, value);
    ``dense`` as in :func:`alerts_of`."""
    by_aggregate: dict = {}
    for rule in rules:
        if rule.condition.type != "missing_release":
            by_aggregate.setdefault(rule.aggregate, []).append(rule)
    frames = []
    for agg, members in by_aggregate.items():
        if agg is None:  # the published series as they are (a view: no copy)
            _drop_o(con)
            con.execute(f"CREATE OR REPLACE TEMP VIEW o AS SELECT {SERIES}, m, value FROM base")
            found = alerts_of(con, members, first, last, dense=dense)
            found["reported"] = found["expected"] = None
        else:
            derive_sql(con, agg)
            found = alerts_of(
                con, members, first, last, tuple(g.name for g in agg.groups), dense=dense
            )
            counts = con.execute(f"SELECT {SERIES}, m, reported, expected FROM cover").fetchdf()
            found = found.merge(counts, on=[*SERIES.split(", "), "m"], how="left")
        frames.append(found)
    return pd.concat(frames, ignore_index=True)


def derived_reference(
    observations: pd.DataFrame, rules: RuleSet, first: int, last: int, lookback: int
) -> pd.DataFrame:
    """Alerts (rule, series, period, rank, reported, expected) of every rule, plain or on an
    aggregate, at months [first, last] from data of [first - lookback, last]."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("raw", observations)
    con.execute(
        f"""CREATE TEMP TABLE base AS
        SELECT {SERIES}, m, value FROM (SELECT {SERIES}, value, {MONTH} AS m FROM raw)
        WHERE m BETWEEN {first - lookback} AND {last}"""
    )
    found = alerts_over_base(con, rules, first, last)
    con.close()
    return found
