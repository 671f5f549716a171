"""Backtest on a local Dask cluster against the local backtest, both through the CLI.

    python bench/dask_backtest.py [--series 1000000] [--months 60] [--workers 2]
                                  [--partition-rows 2000000] [--work DIR] [--keep]
                                  [--partition-only]

Generates (fixed seed, bench/generate.py) a Parquet file of series / 100 commodities x 100
partners x months (5% of cells missing), then runs, each in its own subprocess:

1. ``customs-monitor backtest --format summary`` of the bench pack (bench/pack.yaml, every
   condition type): the reference;
2. the same with ``--workers N`` (a LocalCluster of N single-threaded worker processes);
3. the local backtest of one partition's worth of the same data (partition-rows observations,
   fewer commodities): what one task costs on one core, without the other workers beside it.

The summaries of 1 and 2 must be identical (the script exits 1 otherwise). Reported: wall
seconds and peak RSS. A local run's peak is its own (wait4's ru_maxrss). The cluster run's
processes (the CLI, which also hosts the scheduler and the nannies, and each worker process) are
sampled with psutil every 0.1 s: the CLI's own peak (exact, from wait4), the largest worker's
peak, and the peak of the sum over every process at once. Also the seconds the CLI took to split
the file into pieces (its stderr). Needs the dask extra (psutil comes with it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import PARTNERS, write_parquet  # noqa: E402

PACK = ROOT / "bench" / "pack.yaml"


class _Sampler(threading.Thread):
    """Peak RSS of a process tree: per process, and of the sum over the tree at one time."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.every = every
        self.peaks: dict[int, int] = {}
        self.sum_peak = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in tree:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peaks[p.pid] = max(self.peaks.get(p.pid, 0), rss)
            self.sum_peak = max(self.sum_peak, total)
            self.stopping.wait(self.every)


def run(cmd: list[str]) -> dict:
    """``cmd`` timed, its stdout and stderr, and the peak RSS figures (MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = _Sampler(proc.pid)
    sampler.start()
    out_parts: list[str] = []
    err_parts: list[str] = []
    out, err = proc.stdout, proc.stderr
    assert out is not None and err is not None  # both are pipes
    readers = [
        threading.Thread(target=lambda: out_parts.append(out.read()), daemon=True),
        threading.Thread(target=lambda: err_parts.append(err.read()), daemon=True),
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    sampler.stopping.set()
    sampler.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = "".join(err_parts)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    own = usage.ru_maxrss / 1024  # kB -> MB (Linux)
    others = [v for pid, v in sampler.peaks.items() if pid != proc.pid]
    return {
        "seconds": round(seconds, 1),
        "rss_mb": round(own),
        "worker_max_rss_mb": round(max(others) / 2**20) if others else None,
        "sum_rss_mb": round(max(sampler.sum_peak / 2**20, own)),
        "processes": len(sampler.peaks),
        "stdout": "".join(out_parts),
        "stderr": stderr,
    }


def _one_partition(exe: str, work: Path, rows: int, months: int) -> dict:
    """The local backtest of about ``rows`` observations of the same shape: one task's work."""
    commodities = max(1, round(rows / (PARTNERS * months * 0.95)))
    path = work / f"partition-{commodities}x{months}.parquet"
    written = write_parquet(path, commodities, months)
    result = run(
        [exe, "backtest", "--rules", str(PACK), "--data", str(path), "--format", "summary"]
    )
    return {
        "rows": written,
        "seconds": result["seconds"],
        "rss_mb": result["rss_mb"],
        "rows_per_second": round(written / result["seconds"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partition-rows", type=int, default=2_000_000)
    ap.add_argument("--work", help="folder for the generated file (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument(
        "--partition-only", action="store_true", help="run step 3 only (one partition's worth)"
    )
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="dask-backtest-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"backtest-{args.series}x{args.months}.parquet"
    exe = shutil.which("customs-monitor") or "customs-monitor"
    try:
        one = _one_partition(exe, work, args.partition_rows, args.months)
        if args.partition_only:
            print(json.dumps({"one_partition": one}, indent=2))
            return 0
        if not data.exists():
            t = time.perf_counter()
            rows = write_parquet(data, max(1, args.series // PARTNERS), args.months)
            print(f"generated {rows:,} rows in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        base = [exe, "backtest", "--rules", str(PACK), "--data", str(data), "--format", "summary"]
        local = run(base)
        print(f"local: {local['seconds']} s, peak RSS {local['rss_mb']} MB", file=sys.stderr)
        cluster = run(
            [*base, "--workers", str(args.workers), "--partition-rows", str(args.partition_rows)]
        )
        split = [line for line in cluster["stderr"].splitlines() if " split into " in line]
        same = cluster["stdout"] == local["stdout"]
        report = {
            "series": args.series,
            "months": args.months,
            "workers": args.workers,
            "partition_rows": args.partition_rows,
            "local": {k: local[k] for k in ("seconds", "rss_mb")},
            "cluster": {
                k: cluster[k]
                for k in ("seconds", "rss_mb", "worker_max_rss_mb", "sum_rss_mb", "processes")
            },
            "split": split[-1] if split else None,
            "cluster_over_local_time": round(cluster["seconds"] / local["seconds"], 2),
            "one_partition": one,
            "identical_summaries": same,
            "summary": local["stdout"].strip().splitlines()[-1],
            "bench_process_max_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ),
        }
        print(json.dumps(report, indent=2))
        return 0 if same else 1
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
