"""End-to-end benchmark: what the user runs, through the CLI, against DuckDB doing the same work.

    python bench/e2e.py [--commodities 2000] [--months 24] [--backtest-commodities 2020]
                        [--backtest-months 60] [--work DIR] [--keep] [--skip-backtest]

Generates (fixed seed, bench/generate.py) a customs-size file source: commodities x 100 partners
(99 countries + WORLD) x months, 5% of months missing. Then, each step a subprocess timed with
its peak resident set (wait4's ru_maxrss), in one run:

1. backfill: the file holds months 1..M-1; ``customs-monitor run --once`` with ``initial:
   backfill`` and three rules (period_high 6/6, pct_change +300%, share_shift 20 points);
   DuckDB loads the same CSV into a table in a database file;
2. new month: month M is appended to the file; ``run --once`` ingests it, evaluates the three
   rules and queues the alerts; DuckDB reads the whole new file, appends the rows it does not
   have and runs the rules as window SQL over the look-back window. The alerts of both are
   compared (rule, series, period) and must be identical;
3. new month, aggregates: the same new month on a copy of the state after step 1, with a pack
   that sums the 8-digit codes to HS6 (100 codes each) and a partner group, the same three
   conditions on the sums plus a group share shift (E2E_AGG_PACK); DuckDB does the same on a
   copy of its database, summing in SQL; alerts compared as in step 2;
4. backtest: ``customs-monitor backtest --format summary`` of the bench pack (bench/pack.yaml,
   every condition type) over a Parquet file of B commodities x 100 partners x 60 months against
   DuckDB's window SQL over the same file; per-rule counts must be identical; then the same for
   the aggregates pack (bench/pack_aggregates.yaml, every condition type on HS6 sums).

Reported: wall seconds, peak RSS, state size, each time as a ratio to DuckDB's, and the
aggregate steps' times as a ratio to the plain pack's in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import (  # noqa: E402
    period_of,
    write_csv,
    write_parquet,
    write_wide_parquet,
)

E2E_PACK = """\
pack: e2e
defaults:
  select: {reporter: CN, flow: export, measure: net_weight_kg}
rules:
  - id: six-month-high
    condition: {type: period_high, window: 6, min_periods: 6}
  - id: jump
    condition: {type: pct_change, periods: 1, above: 300}
  - id: share-shift
    select: {exclude: {partner: [WORLD]}}
    condition: {type: share_shift, points: 20}
"""


E2E_AGG_PACK = """\
pack: e2e-aggregates
groups:
  BLOC: [AA, AB, AC, AD, AF]
defaults:
  select: {reporter: CN, flow: export, measure: net_weight_kg, commodity: {level: 6}}
rules:
  - id: hs6-six-month-high
    condition: {type: period_high, window: 6, min_periods: 6}
  - id: hs6-jump
    condition: {type: pct_change, periods: 1, above: 300}
  - id: hs6-share-shift
    select: {exclude: {partner: [WORLD]}}
    condition: {type: share_shift, points: 20}
  - id: bloc-share-shift
    select: {partner: {group: BLOC}}
    condition: {type: share_shift, points: 2}
"""
AGG_PACK = Path(__file__).resolve().parent / "pack_aggregates.yaml"


def measured(cmd: list[str], *, cwd: Path) -> dict:
    """Run ``cmd`` under a small Python wrapper that reports the child's own peak RSS."""
    wrapper = (
        "import os, resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "s = time.perf_counter() - t\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(p.stderr)\n"
        "sys.stdout.write(p.stdout)\n"
        "print(json.dumps({'seconds': s, 'rss_mb': r, 'rc': p.returncode}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], cwd=cwd, capture_output=True, text=True
    )
    *lines, last = proc.stdout.rstrip("\n").split("\n")
    result = json.loads(last)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {result['rc']}:\n{proc.stderr[-3000:]}")
    result["stdout"] = "\n".join(lines)
    result["stderr"] = proc.stderr
    return result


def duckdb_step(step: str, *args: str, cwd: Path) -> dict:
    return measured([sys.executable, str(ROOT / "bench" / "duckdb_e2e.py"), step, *args], cwd=cwd)


def cli(*args: str, cwd: Path) -> dict:
    exe = shutil.which("customs-monitor") or "customs-monitor"
    return measured([exe, *args], cwd=cwd)


def size_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return total / 2**20


def monitor_alerts(state: Path, period: str) -> set[tuple[str, ...]]:
    with sqlite3.connect(state) as conn:
        rows = conn.execute("SELECT key FROM alerts WHERE period = ?", (period,)).fetchall()
    return {tuple(k.split("|")) for (k,) in rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commodities", type=int, default=2000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--backtest-commodities", type=int, default=2020)
    ap.add_argument("--backtest-months", type=int, default=60)
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument("--skip-backtest", action="store_true")
    ap.add_argument(
        "--wide",
        type=int,
        default=0,
        metavar="PARTNERS",
        help="also evaluate the newest month of one commodity with this many partners",
    )
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="cm-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    try:
        history, data = work / "history.csv", work / "trade.csv"
        print(f"generating {args.commodities:,} x 100 x {args.months} months in {work}", flush=True)
        rows_history = write_csv(history, args.commodities, args.months, keep=(0, args.months - 2))
        shutil.copy(history, data)
        rows_new = write_csv(
            data, args.commodities, args.months, keep=(args.months - 1,) * 2, append=True
        )
        new_month = period_of(args.months, args.months - 1)
        (work / "pack.yaml").write_text(E2E_PACK)
        (work / "pack-agg.yaml").write_text(E2E_AGG_PACK)
        state, state_agg = work / "state.db", work / "state-agg.db"
        for name, db, pack in (("monitor", state, "pack"), ("monitor-agg", state_agg, "pack-agg")):
            (work / f"{name}.yaml").write_text(
                f"state: sqlite:///{db}\n"
                f"rules: [{pack}.yaml]\n"
                "initial: backfill\n"
                "sources:\n"
                "  trade: {type: file, path: source.csv, schedule: '@every 1h'}\n"
                "channels:\n"
                f"  outbox: {{type: file, path: {work / ('outbox-' + name)}}}\n"
                "routes:\n"
                "  - channels: [outbox]\n"
            )
        shutil.copy(history, work / "source.csv")
        print(
            f"history: {rows_history:,} rows; new month {new_month}: {rows_new:,} rows", flush=True
        )

        r = cli("--config", "monitor.yaml", "run", "--once", cwd=work)
        r["state_mb"] = size_mb(state)
        d = duckdb_step("load", str(history), str(work / "duck.db"), cwd=work)
        d["state_mb"] = size_mb(work / "duck.db")
        results["backfill"] = {"monitor": r, "duckdb": d}
        report("backfill", r, d)
        # The aggregates run starts from the same backfilled state (its own copy).
        for f in work.glob("state.db*"):
            shutil.copy(f, work / f.name.replace("state.db", "state-agg.db"))
        shutil.copy(work / "duck.db", work / "duck-agg.db")

        shutil.copy(data, work / "source.csv")
        for label, config, db, duck, pack in (
            ("new month", "monitor.yaml", state, "duck.db", "pack.yaml"),
            (
                "new month, aggregates",
                "monitor-agg.yaml",
                state_agg,
                "duck-agg.db",
                "pack-agg.yaml",
            ),
        ):
            r = cli("--config", config, "run", "--once", cwd=work)
            r["state_mb"] = size_mb(db)
            d = duckdb_step(
                "new-month",
                str(data),
                str(work / duck),
                str(work / pack),
                new_month,
                str(work / "duck-alerts.json"),
                cwd=work,
            )
            d["state_mb"] = size_mb(work / duck)
            mine = monitor_alerts(db, new_month)
            theirs = {tuple(k) for k in json.loads((work / "duck-alerts.json").read_text())}
            if mine != theirs:
                raise SystemExit(
                    f"{label}: alerts differ: {len(mine)} vs DuckDB {len(theirs)}; only ours "
                    f"{sorted(mine - theirs)[:3]}, only DuckDB {sorted(theirs - mine)[:3]}"
                )
            r["alerts"] = d["alerts"] = len(mine)
            results[label] = {"monitor": r, "duckdb": d}
            report(label, r, d, f"{len(mine):,} alerts, identical")
        plain, agg = results["new month"]["monitor"], results["new month, aggregates"]["monitor"]
        print(
            f"aggregates / plain pack, new month: {agg['seconds'] / plain['seconds']:.2f}x time, "
            f"{agg['rss_mb'] / plain['rss_mb']:.2f}x peak RSS",
            flush=True,
        )
        # The steps above include ingest, outbox and process start, and the plain pack queues
        # far more alerts: the engine's own cost on the same store window, best of 3.
        cost = measured(
            [
                sys.executable,
                str(ROOT / "bench" / "aggregates_cost.py"),
                str(state),
                "trade",
                new_month,
                str(work / "pack.yaml"),
                str(work / "pack-agg.yaml"),
            ],
            cwd=work,
        )
        engine = json.loads(cost["stdout"].splitlines()[-1])
        results["engine only, new month"] = engine
        print(
            f"engine only, new month from the store window: plain {engine['plain']['seconds']:.2f}"
            f" s ({engine['plain']['rows']:,} rows, {engine['plain']['alerts']:,} alerts), "
            f"aggregates {engine['aggregates']['seconds']:.2f} s "
            f"({engine['aggregates']['rows']:,} rows, {engine['aggregates']['alerts']:,} alerts): "
            f"{engine['ratio']['seconds']:.2f}x",
            flush=True,
        )

        if not args.skip_backtest:
            parquet = work / "backtest.parquet"
            n_obs = write_parquet(parquet, args.backtest_commodities, args.backtest_months)
            for label, pack in (
                ("backtest", str(ROOT / "bench" / "pack.yaml")),
                ("backtest, aggregates", str(AGG_PACK)),
            ):
                r = cli(
                    "backtest",
                    "--rules",
                    pack,
                    "--data",
                    str(parquet),
                    "--format",
                    "summary",
                    cwd=work,
                )
                d = duckdb_step("backtest", str(parquet), pack, cwd=work)
                counts = _counts(r["stdout"])
                if counts != _counts(d["stdout"]):
                    raise SystemExit(f"{label} counts differ:\n{r['stdout']}\n--\n{d['stdout']}")
                results[label] = {"monitor": r, "duckdb": d, "observations": n_obs}
                report(
                    label,
                    r,
                    d,
                    f"{n_obs:,} observations, {counts['total']:,} alerts, "
                    "identical counts per rule",
                )
            plain, agg = results["backtest"]["monitor"], results["backtest, aggregates"]["monitor"]
            print(
                f"aggregates / plain pack, backtest: {agg['seconds'] / plain['seconds']:.2f}x "
                f"time, {agg['rss_mb'] / plain['rss_mb']:.2f}x peak RSS",
                flush=True,
            )
        if args.wide:
            wide = work / "wide.parquet"
            n_obs = write_wide_parquet(wide, args.wide, 7)
            newest = period_of(7, 6)
            args_ = ["--rules", "pack.yaml", "--data", str(wide), "--from", newest]
            r = cli("backtest", *args_, "--format", "summary", cwd=work)
            d = duckdb_step("backtest", str(wide), "pack.yaml", newest, cwd=work)
            counts = _counts(r["stdout"])
            if counts != _counts(d["stdout"]):
                raise SystemExit(f"wide counts differ:\n{r['stdout']}\n--\n{d['stdout']}")
            results["wide"] = {"monitor": r, "duckdb": d, "observations": n_obs}
            report(
                f"{args.wide:,} partners, newest month",
                r,
                d,
                f"{n_obs:,} observations, {counts['total']:,} alerts, identical counts per rule",
            )
    finally:
        if args.json:
            for step in results.values():
                for side in ("monitor", "duckdb"):
                    if side in step:
                        step[side].pop("stdout", None)
                        step[side].pop("stderr", None)
            args.json.write_text(json.dumps(results, indent=2))
        if not args.keep and not args.work:
            shutil.rmtree(work)  # the temporary folder this run made
    return 0


def _counts(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1].strip().isdigit():
            out[parts[0]] = int(parts[1])
    return out


def report(step: str, r: dict, d: dict, note: str = "") -> None:
    ratio = r["seconds"] / d["seconds"] if d["seconds"] else float("nan")
    state = ""
    if "state_mb" in r:
        state = f", state {r['state_mb']:,.0f} MB vs {d['state_mb']:,.0f} MB"
    print(
        f"| {step} | {r['seconds']:.1f} s, {r['rss_mb']:,.0f} MB | "
        f"{d['seconds']:.1f} s, {d['rss_mb']:,.0f} MB | {ratio:.2f} |{state} {note}",
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
