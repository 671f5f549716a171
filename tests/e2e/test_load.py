"""Load: one release of many observations, 100 rules and 5 channels, end to end, memory bounded.

The issue asks for 1M observations. On the shared CI machine one cycle of that size does not fit
the ~3 minute budget, so the default is scaled down (``PROVE_LOAD_ROWS``, default 200,000);
``PROVE_LOAD_ROWS=1000000`` runs the full size. The observations are generated here with a
fixed seed: partners x commodities x months, net weight in tonnes. Peak RSS is measured inside
the daemon process (``resource.getrusage``), not estimated.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import child_env, http_peer, integrity_ok, record_figure

ROWS = int(os.environ.get("PROVE_LOAD_ROWS", "200000"))
RULES = 100
COMMODITIES = 50
MONTHS = 24
# Runs the real CLI in-process and reports its own peak RSS (KiB on Linux) on stderr.
MEASURE = (
    "import resource, sys; from monitor.cli import main; rc = main(sys.argv[1:]); "
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
    "sys.exit(rc)"
)


def write_dataset(path: Path, rows: int) -> int:
    rng = random.Random(1234)
    partners = max(1, rows // (COMMODITIES * MONTHS))
    with path.open("w") as fh:
        fh.write("period,reporter,partner,commodity,flow,measure,value,unit\n")
        n = 0
        for p in range(partners):
            partner = f"P{p:04d}"
            for c in range(COMMODITIES):
                commodity = f"850511{c:02d}"
                for m in range(MONTHS):
                    period = f"{2024 + m // 12}-{m % 12 + 1:02d}"
                    fh.write(
                        f"{period},CN,{partner},{commodity},export,net_weight_t,"
                        f"{rng.randint(1, 1000)},t\n"
                    )
                    n += 1
    return n


def write_rules(path: Path) -> None:
    lines = ["pack: load", "rules:"]
    for i in range(RULES):
        lines += [
            f"  - id: load-{i:03d}",
            '    summary: "{{ partner }} {{ period_name }}"',
            f'    select: {{commodity: "850511{i % COMMODITIES:02d}", partner: "*"}}',
            f"    condition: {{type: threshold, above: {990_000 + i * 50}}}",
        ]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_large_release_end_to_end_with_bounded_memory(tmp_path: Path) -> None:
    """A large release through 100 rules to 5 channels in one cycle; peak RSS recorded."""
    rows = write_dataset(tmp_path / "data.csv", ROWS)
    write_rules(tmp_path / "rules.yaml")
    with http_peer() as peer:
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f"""\
state_dir: state
rules: [rules.yaml]
sources:
  big: {{type: file, path: data.csv}}
channels:
  hook1: {{type: webhook, url: "{peer.url("/hook1")}"}}
  hook2: {{type: webhook, url: "{peer.url("/hook2")}"}}
  team: {{type: slack, webhook_url: "{peer.url("/services/T/B/x")}", max_per_second: 50}}
  archive: {{type: file, path: outbox}}
  am: {{type: alertmanager, url: "{peer.url("")}"}}
routes:
  - channels: [hook1, hook2, team, archive, am]
"""
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, "--config", str(config), "run", "--once"],
            cwd=str(tmp_path),
            env=child_env(),
            capture_output=True,
            timeout=900,
            check=False,
        )
        seconds = time.monotonic() - started
        posts = {path: len(peer.accepted(path)) for path in ("/hook1", "/hook2", "/services/T/B/x")}
        posts["/api/v2/alerts"] = len(peer.accepted("/api/v2/alerts"))
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    rss_kb = int(done.stderr.decode().rsplit("MAXRSS_KB", 1)[1].split()[0])
    alerts = [line for line in done.stdout.decode().splitlines() if "alert notice" in line]
    record_figure(
        "load",
        {
            "observations": rows,
            "rules": RULES,
            "channels": 5,
            "seconds": round(seconds, 1),
            "peak_rss_mb": round(rss_kb / 1024, 1),
            "messages_accepted": posts,
            "summary": alerts[-1] if alerts else "",
        },
    )
    assert integrity_ok(tmp_path / "state" / "state.db") == "ok"
    assert all(n >= 1 for n in posts.values()), posts
    # Measured: about 3 KiB of peak RSS per observation on top of ~150 MiB of imports (200k
    # rows: 652 MiB). The bound fails the test if that grows further: 300 MiB + 4 KiB a row.
    assert rss_kb / 1024 < 300 + rows * 4 / 1024
