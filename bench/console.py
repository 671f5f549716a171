"""Console page times on a large state store: how long each page takes to answer.

    python bench/console.py [--alerts 20000] [--series 20000] [--months 36] [--repeat 5]

Generates (fixed seed) a source of ``series`` series (200 commodities x 100 partners by
default) over ``months`` months ingested month by month as releases, with 2% of the values
revised by a later release; then ``alerts`` recorded alerts spread over those releases, each
release queueing one message on each of two channels (one sent, one failed). Times the pages
through Flask's test client (no network; the WSGI server adds the same small cost to each):
the first page of /alerts, /alerts filtered by partner and by rule, one alert's page, a series
page with every vintage of 36 months, /releases, /outbox, /sources. Prints the median of
``repeat`` runs of each. SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.model import Alert, month_to_period, period_to_month
from monitor.render import TemplateEnv
from monitor.render.links import alert_path, series_path
from monitor.store import ALERT_FIRING, AlertUpdate, OutboxEntry, open_store
from monitor.web.app import create_app
from monitor.web.backend import StaticBackend
from monitor.web.options import WebOptions

SEED = 20251120
RULES = ("six-month-high", "monthly-jump", "monthly-drop", "share-shift", "streak-up")


def build(folder: Path, n_series: int, months: int, n_alerts: int) -> tuple[object, list]:
    rng = np.random.default_rng(SEED)
    store = open_store(f"sqlite:///{folder / 'state.db'}")
    partners = [f"P{i:02d}" for i in range(100)]
    commodities = [f"{85000000 + i:08d}" for i in range(max(1, n_series // len(partners)))]
    keys = pd.DataFrame(
        [(c, p) for c in commodities for p in partners], columns=["commodity", "partner"]
    )
    first = period_to_month("2023-01")
    start = datetime(2023, 2, 20, 2, 0, tzinfo=UTC)
    releases = []
    base = rng.uniform(10, 1000, len(keys))
    for m in range(months):
        period = month_to_period(first + m)
        frame = pd.DataFrame(
            {
                "period": period,
                "reporter": "CN",
                "partner": keys["partner"],
                "commodity": keys["commodity"],
                "flow": "export",
                "measure": "net_weight_kg",
                "value": base * rng.uniform(0.5, 1.5, len(keys)) * 1000,
                "unit": "kg",
                "source": "gen",
            }
        )
        if m:  # 2% of last month's values revised with this release
            previous = frame.copy()
            previous["period"] = month_to_period(first + m - 1)
            revised = previous.sample(frac=0.02, random_state=int(rng.integers(1 << 31)))
            frame = pd.concat([frame, revised.assign(value=revised["value"] * 1.01)])
        release = store.ingest("gen", frame, now=start + timedelta(days=30 * m))
        releases.append(release)
    stamp = start + timedelta(days=30 * months)
    alerts = []
    for i in range(n_alerts):
        release = releases[i % len(releases)]
        row = keys.iloc[int(rng.integers(len(keys)))]
        period = release.new_periods[0]
        alerts.append(
            (
                release.id,
                Alert(
                    rule_id=RULES[i % len(RULES)],
                    period=period,
                    reporter="CN",
                    partner=str(row["partner"]),
                    commodity=str(row["commodity"]),
                    flow="export",
                    measure="net_weight_kg",
                    value=float(rng.uniform(1e4, 1e6)),
                    unit="kg",
                    severity=("info", "warning")[i % 2],
                    summary="{{ partner }} {{ commodity }} moved in {{ period_name }}",
                    context={"window": 6, "months_known": 6},
                    source="gen",
                ),
            )
        )
    by_release: dict[int, list[Alert]] = {}
    for release_id, alert in alerts:
        by_release.setdefault(release_id, []).append(alert)
    for release_id, group in by_release.items():
        updates = [AlertUpdate(a, ALERT_FIRING, release_id) for a in group]
        messages = [
            OutboxEntry(
                channel,
                f"r{release_id}:route-1:new",
                "alert",
                {"subject": f"{len(group)} alerts", "text": "…", "payload": {}},
                [a.key for a in group],
            )
            for channel in ("slack", "email")
        ]
        store.commit_evaluation([release_id], updates, messages, now=stamp)
    for entry in store.outbox():
        if entry.channel == "slack":
            store.mark_sent(entry.id, now=stamp)
        else:
            store.mark_failed(entry.id, now=stamp, error="HTTP 404 from https://hooks…/…")
    return store, [a for _, a in alerts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--series", type=int, default=20000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        store, alerts = build(folder, args.series, args.months, args.alerts)
        stored = len(store.alerts())  # random picks may repeat an identity: count what is kept
        print(
            f"built: {args.series} series x {args.months} months, {stored} alerts recorded "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        (folder / "monitor.yaml").write_text(
            f"state: sqlite:///{folder / 'state.db'}\n"
            "sources:\n  gen: {type: file, path: x.csv}\nrules: []\n"
        )
        config = load_config(str(folder / "monitor.yaml"))
        from monitor.engine.rules import RuleSet

        backend = StaticBackend(
            store, config, RuleSet(), TemplateEnv(), ManualClock(datetime.now(UTC))
        )
        client = create_app(backend, WebOptions(enabled=True)).test_client()
        sample = alerts[len(alerts) // 2]
        pages = {
            "/alerts (first 50)": "/alerts",
            "/alerts?partner=": "/alerts?" + urlencode({"partner": sample.partner}),
            "/alerts?rule=": "/alerts?" + urlencode({"rule": RULES[0]}),
            "one alert": alert_path(sample.key),
            f"series ({args.months} months of vintages)": series_path("gen", sample.series),
            "/releases": "/releases",
            "/outbox": "/outbox",
            "/sources": "/sources",
        }
        print(f"{'page':40} {'median ms':>10} {'bytes':>9}")
        for name, path in pages.items():
            times, size = [], 0
            for _ in range(args.repeat):
                t = time.perf_counter()
                answer = client.get(path)
                times.append(time.perf_counter() - t)
                assert answer.status_code == 200, (path, answer.status_code)
                size = len(answer.data)
            print(f"{name:40} {statistics.median(times) * 1000:>10.0f} {size:>9}")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
