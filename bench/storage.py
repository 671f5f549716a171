"""The measurement that chose the data plane's storage (docs/data-plane.md).

    python bench/storage.py [--series 200000] [--months 23] [--window 7]
                            [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Stores the same integer-coded observations (series id, month, value; fixed seed, 5% missing)
four ways and reports the time to write them all, the size on disk and the time to read back a
window of the newest months, which is what evaluating a release reads:

- SQLite, one row per observation in an integer-keyed table (WITHOUT ROWID, clustered on month),
  written with one executemany;
- PostgreSQL, the same table written with COPY;
- Parquet segments (one per month, zstd) as blobs in SQLite, and in PostgreSQL (bytea).
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20250720


def data(series: int, months: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    ids = np.tile(np.arange(series, dtype=np.int32), months)
    month = np.repeat(np.arange(24300, 24300 + months, dtype=np.int32), series)
    value = np.round(rng.lognormal(8, 2, series * months), 1)
    keep = rng.random(series * months) > 0.05
    return ids[keep], month[keep], value[keep]


def segment(ids: np.ndarray, values: np.ndarray) -> bytes:
    sink = io.BytesIO()
    table = pa.table({"series": ids, "value": values})
    pq.write_table(table, sink, compression="zstd", use_dictionary=False)
    return sink.getvalue()


def sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def sqlite_size(conn: sqlite3.Connection, path: Path) -> float:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size / 2**20


def run_sqlite_rows(folder: Path, ids, month, value, first: int) -> tuple[float, float, float]:
    path = folder / "rows.db"
    conn = sqlite(path)
    conn.execute(
        "CREATE TABLE v (period INTEGER, series INTEGER, release INTEGER, value REAL, "
        "PRIMARY KEY (period, series, release)) WITHOUT ROWID"
    )
    start = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO v VALUES (?, ?, 1, ?)",
            zip(month.tolist(), ids.tolist(), value.tolist(), strict=True),
        )
    write = time.perf_counter() - start
    size = sqlite_size(conn, path)
    start = time.perf_counter()
    conn.execute("SELECT series, period, value FROM v WHERE period >= ?", (first,)).fetchall()
    return write, size, time.perf_counter() - start


def run_sqlite_segments(folder: Path, ids, month, value, first: int) -> tuple[float, float, float]:
    path = folder / "segments.db"
    conn = sqlite(path)
    conn.execute("CREATE TABLE seg (id INTEGER PRIMARY KEY, period INTEGER, data BLOB)")
    start = time.perf_counter()
    with conn:
        for m in np.unique(month):
            at = month == m
            conn.execute(
                "INSERT INTO seg (period, data) VALUES (?, ?)",
                (int(m), segment(ids[at], value[at])),
            )
    write = time.perf_counter() - start
    size = sqlite_size(conn, path)
    start = time.perf_counter()
    rows = conn.execute("SELECT data FROM seg WHERE period >= ?", (first,))
    [pq.read_table(io.BytesIO(blob)) for (blob,) in rows]
    return write, size, time.perf_counter() - start


def run_postgres(url: str, ids, month, value, first: int) -> list[tuple[str, float, float, float]]:
    import psycopg

    name = f"cm_bench_storage_{os.getpid()}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    out = []
    try:
        with psycopg.connect(f"{base}/{name}") as conn:
            conn.execute(
                "CREATE TABLE v (period int, series int, release int, value double precision, "
                "PRIMARY KEY (period, series, release))"
            )
            start = time.perf_counter()
            with conn.cursor().copy("COPY v (period, series, release, value) FROM STDIN") as cp:
                for i in range(0, len(ids), 200_000):
                    part = zip(
                        month[i : i + 200_000].tolist(),
                        ids[i : i + 200_000].tolist(),
                        value[i : i + 200_000].tolist(),
                        strict=True,
                    )
                    cp.write("".join(f"{m}\t{s}\t1\t{v!r}\n" for m, s, v in part))
            conn.commit()
            write = time.perf_counter() - start
            size = conn.execute("SELECT pg_total_relation_size('v')").fetchone()[0] / 2**20
            start = time.perf_counter()
            conn.execute(
                "SELECT series, period, value FROM v WHERE period >= %s", (first,)
            ).fetchall()
            out.append(("PostgreSQL rows (COPY)", write, size, time.perf_counter() - start))

            conn.execute("CREATE TABLE seg (id serial PRIMARY KEY, period int, data bytea)")
            conn.execute("ALTER TABLE seg ALTER COLUMN data SET STORAGE EXTERNAL")
            start = time.perf_counter()
            for m in np.unique(month):
                at = month == m
                conn.execute(
                    "INSERT INTO seg (period, data) VALUES (%s, %s)",
                    (int(m), segment(ids[at], value[at])),
                )
            conn.commit()
            write = time.perf_counter() - start
            size = conn.execute("SELECT pg_total_relation_size('seg')").fetchone()[0] / 2**20
            start = time.perf_counter()
            rows = conn.execute("SELECT data FROM seg WHERE period >= %s", (first,)).fetchall()
            [pq.read_table(io.BytesIO(blob)) for (blob,) in rows]
            out.append(("PostgreSQL Parquet segments", write, size, time.perf_counter() - start))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=200_000)
    ap.add_argument("--months", type=int, default=23)
    ap.add_argument("--window", type=int, default=7)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args(argv)
    ids, month, value = data(args.series, args.months)
    first = int(month.max()) - args.window + 1
    print(
        f"{len(ids):,} observations ({args.series:,} series x {args.months} months); "
        f"window read: the newest {args.window} months"
    )
    print("| storage | write s | size MB | window read s |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [
            ("SQLite rows (executemany)", *run_sqlite_rows(folder, ids, month, value, first)),
            ("SQLite Parquet segments", *run_sqlite_segments(folder, ids, month, value, first)),
        ]
    if args.postgres:
        rows += run_postgres(args.postgres, ids, month, value, first)
    for name, write, size, read in rows:
        print(f"| {name} | {write:.2f} | {size:,.0f} | {read:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
