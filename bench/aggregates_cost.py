"""Engine-only cost of a pack with sums against the plain pack, on the window a release of the
newest month reads from the same store (what bench/e2e.py's new-month steps spend in the
engine, without the ingest, the outbox and the process start).

    python bench/aggregates_cost.py STATE_DB SOURCE PERIOD PLAIN_PACK AGG_PACK [--repeat 3]

Prints one JSON object: per pack the rows read, the seconds of ``evaluate_table`` (best of
``repeat``) and the alerts; and the aggregates / plain ratio of the seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.engine import load_rules
from monitor.engine.evaluate import evaluate_table
from monitor.model import month_to_period, period_to_month
from monitor.store import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("state")
    ap.add_argument("source")
    ap.add_argument("period")
    ap.add_argument("plain")
    ap.add_argument("aggregates")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    store = open_store(f"sqlite:///{args.state}", migrate=False)
    out: dict[str, dict] = {}
    for label, pack in (("plain", args.plain), ("aggregates", args.aggregates)):
        rules = load_rules([pack])
        first = month_to_period(period_to_month(args.period) - rules.lookback_months())
        frame = store.window(args.source, first=first, last=args.period)
        best = float("inf")
        alerts = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            table = evaluate_table(frame, rules, [args.period])
            best = min(best, time.perf_counter() - started)
            alerts = len(table)
        out[label] = {"rows": len(frame), "seconds": best, "alerts": alerts}
    out["ratio"] = {"seconds": out["aggregates"]["seconds"] / out["plain"]["seconds"]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
