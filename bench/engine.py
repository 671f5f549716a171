"""Engine benchmark: the vectorised engine against a DuckDB SQL reference.

    python bench/engine.py --sizes 10000,100000,1000000 [--months 60] [--history-check 100000]
        [--traced-memory 1000000]

Generates (fixed seed) a full-release-shaped dataset: commodities x 100 partners (99 countries +
WORLD) x months, 5% of months missing, runs a pack with every condition type (bench/pack.yaml)
and reports wall time and peak memory of (a) the full backtest, (b) the newest month from the
full-history frame and (c) the newest month from the look-back window only (the rows the store
hands the daemon), each against DuckDB computing the same alerts from the same frame in the same
run; it asserts that both give identical alerts (rule, series, period, rank). The history check
times the newest-month evaluation at 60 and 240 months of history, both with the input cut to
the look-back window and with the full frame.

Peak memory is the growth of the process's resident-set high-water mark during a run (Linux:
/proc/self/clear_refs resets it), so numpy, pandas, pyarrow and DuckDB allocations all count.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.duckdb_reference import reference_alerts
from bench.generate import LAST, SEED, frame
from monitor.engine import evaluate, load_rules
from monitor.model import month_to_period, period_to_month

PACK = Path(__file__).resolve().parent / "pack.yaml"


def generate(n_series: int, months: int) -> pd.DataFrame:
    """Canonical observations with categorical string columns (how a store would hand them):
    bench/generate.py's customs-shaped data (per-series level, Zipf over partners, seasonality,
    trend, 8% noise, rare 3x shocks, WORLD the partners' sum, 5% of months dropped)."""
    return frame(n_series, months)


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak resident-set growth in MB)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    base = _rss_kb("VmRSS")
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = (_rss_kb("VmHWM") - base) / 1024
    return result, seconds, peak


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    """Peak of memory allocated by Python and numpy during ``fn`` (tracemalloc), in MB.

    Unlike the resident-set growth, this does not under-count when an earlier run left freed
    memory in the allocator's pools; it sees numpy/pandas buffers and Python objects only."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def engine_keys(alerts: list) -> set[tuple]:
    return {
        (
            a.rule_id,
            a.reporter,
            a.partner,
            a.commodity,
            a.flow,
            a.measure,
            a.period,
            a.context["rank"],
        )
        for a in alerts
    }


def reference_keys(frame: pd.DataFrame) -> set[tuple]:
    periods = [month_to_period(int(m)) for m in frame["m"]]
    ranks = [None if pd.isna(r) else int(r) for r in frame["rank"]]
    cols = [
        frame[c].astype(str).tolist()
        for c in ("rule", "reporter", "partner", "commodity", "flow", "measure")
    ]
    return set(zip(*cols, periods, ranks, strict=True))


def lookback_window(obs: pd.DataFrame, rules) -> pd.DataFrame:
    """The rows a store hands the daemon for the newest month: the look-back window only
    (``since_period = newest - rules.lookback_months()``), its period categories trimmed to
    the months present, as a query for those months would return them."""
    months = sorted(period_to_month(p) for p in obs["period"].cat.categories)
    since = month_to_period(months[-1] - rules.lookback_months())
    window = obs[obs["period"].astype(str) >= since].reset_index(drop=True)
    window["period"] = window["period"].cat.remove_unused_categories()
    return window


def run(obs: pd.DataFrame, rules, mode: str) -> dict[str, Any]:
    """One timed engine run and one DuckDB run on the same frame, alerts asserted identical.

    Modes: ``full`` every period; ``newest`` the newest month from the full-history frame;
    ``window`` the newest month from the look-back window only (what the daemon gets)."""
    months = sorted(period_to_month(p) for p in obs["period"].cat.categories)
    first, last = (months[0], months[-1]) if mode == "full" else (months[-1], months[-1])
    lookback = rules.lookback_months()
    periods = None if mode == "full" else [month_to_period(last)]
    alerts, e_s, e_mb = measure(lambda: evaluate(obs, rules, periods))
    ref, d_s, d_mb = measure(lambda: reference_alerts(obs, rules, first, last, lookback))
    mine, theirs = engine_keys(alerts), reference_keys(ref)
    if mine != theirs:
        only_e, only_d = sorted(mine - theirs)[:5], sorted(theirs - mine)[:5]
        raise AssertionError(f"{mode}: alerts differ; engine only {only_e}; duckdb only {only_d}")
    return {
        "mode": mode,
        "alerts": len(alerts),
        "engine_s": e_s,
        "duckdb_s": d_s,
        "engine_mb": e_mb,
        "duckdb_mb": d_mb,
    }


def newest_seconds(obs: pd.DataFrame, rules, repeat: int = 3) -> float:
    """Best of ``repeat`` timed newest-month evaluations (after one warm-up)."""
    last = [month_to_period(max(period_to_month(p) for p in obs["period"].cat.categories))]
    evaluate(obs, rules, last)
    return min(measure(lambda: evaluate(obs, rules, last))[1] for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="series counts, comma-separated")
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument(
        "--history-check",
        type=int,
        default=100000,
        metavar="SERIES",
        help="series count for the 60 vs 240 months check (0 = skip)",
    )
    ap.add_argument(
        "--traced-memory",
        type=int,
        default=0,
        metavar="SERIES",
        help="series count for an engine-only tracemalloc peak of each mode (0 = skip)",
    )
    args = ap.parse_args(argv)
    rules = load_rules([str(PACK)])
    print(f"pack: {PACK.name}, {len(rules)} rules; seed {SEED}", flush=True)
    header = (
        "| series | rows | obs MB | mode | alerts | engine s | duckdb s | time ratio | "
        "engine peak MB | peak/obs | duckdb peak MB |"
    )
    print(header)
    print("|" + "---|" * 11)
    for size in [int(s) for s in args.sizes.split(",")]:
        obs = generate(size, args.months)
        for mode in ("full", "newest", "window"):
            frame = lookback_window(obs, rules) if mode == "window" else obs
            obs_mb = frame.memory_usage(deep=True).sum() / 2**20
            r = run(frame, rules, mode)
            print(
                f"| {size:,} | {len(frame):,} | {obs_mb:,.0f} | {mode} | {r['alerts']:,} | "
                f"{r['engine_s']:.2f} | {r['duckdb_s']:.2f} | "
                f"{r['engine_s'] / r['duckdb_s']:.2f} | {r['engine_mb']:,.0f} | "
                f"{r['engine_mb'] / obs_mb:.2f} | {r['duckdb_mb']:,.0f} |",
                flush=True,
            )
            del frame
        del obs
        gc.collect()
    if args.history_check:
        times: dict[tuple[str, int], float] = {}
        for months in (60, 240):
            obs = generate(args.history_check, months)
            window = lookback_window(obs, rules)
            times["window", months] = newest_seconds(window, rules)
            times["full frame", months] = newest_seconds(obs, rules)
            del obs, window
            gc.collect()
        print(f"\nnewest-month evaluation, {args.history_check:,} series, best of 3:")
        for kind in ("window", "full frame"):
            a, b = times[kind, 60], times[kind, 240]
            print(f"  {kind}: 60 months {a:.3f} s, 240 months {b:.3f} s, ratio {b / a:.2f}")
    if args.traced_memory:
        obs = generate(args.traced_memory, args.months)
        print(f"\nengine-only traced peak (tracemalloc), {args.traced_memory:,} series:")
        for mode in ("full", "newest", "window"):
            frame = lookback_window(obs, rules) if mode == "window" else obs
            obs_mb = frame.memory_usage(deep=True).sum() / 2**20
            periods = None if mode == "full" else [LAST]
            peak = traced_peak_mb(lambda f=frame, p=periods: evaluate(f, rules, p))
            print(f"  {mode}: obs {obs_mb:,.0f} MB, peak {peak:,.0f} MB, ratio {peak / obs_mb:.2f}")
            del frame
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
