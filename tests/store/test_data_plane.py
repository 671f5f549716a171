"""The columnar data plane: chunked ingest, per-month digests, vintages, windows, the series
dictionary. Data generated here with a fixed seed (40 commodities x 12 partners x 6 months)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.errors import SourceError
from monitor.model import COLUMNS, OBSERVATION_KEY, SERIES_KEY, normalize
from monitor.store import open_store, schema
from monitor.store.buffer import MonthBuffer

NOW = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)
PARTNERS = [f"P{i}" for i in range(11)] + ["WORLD"]
MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]


def generated(commodities: int = 40, months: list[str] = MONTHS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (p, "CN", partner, f"{85000000 + c:08d}", "export", "net_weight_kg", v, "kg")
        for c in range(commodities)
        for partner in PARTNERS
        for p, v in zip(months, np.round(rng.lognormal(8, 1, len(months)), 1), strict=True)
        if rng.random() > 0.05
    ]
    columns = ["period", "reporter", "partner", "commodity", "flow", "measure", "value", "unit"]
    return normalize(pd.DataFrame(rows, columns=columns), source="trade")


def chunks(frame: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """The frame in n pieces, rows shuffled: a payload in arbitrary order."""
    shuffled = frame.sample(frac=1.0, random_state=3)
    edges = np.linspace(0, len(shuffled), n + 1).astype(int)
    return [shuffled.iloc[a:b] for a, b in itertools.pairwise(edges)]


def text(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[COLUMNS].astype({c: "str" for c in COLUMNS if c != "value"})
    return out.sort_values(["source", *OBSERVATION_KEY]).reset_index(drop=True)


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def test_chunked_ingest_stores_what_one_frame_would(tmp_path: Path) -> None:
    """A payload in shuffled chunks (spilled to disk past a tiny budget) equals one frame."""
    data = generated()
    whole = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    pieces = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    pieces.data.budget = 1024  # bytes: every chunk spills
    a = whole.ingest("trade", data, now=NOW)
    b = pieces.ingest("trade", chunks(data, 7), now=NOW)
    assert (a.new_periods, a.observations) == (b.new_periods, b.observations)
    pd.testing.assert_frame_equal(text(whole.observations()), text(pieces.observations()))
    pd.testing.assert_frame_equal(text(pieces.observations()), text(data))
    whole.close()
    pieces.close()


def test_spill_folder_is_removed_with_only_its_own_files(tmp_path: Path) -> None:
    """The month buffer spills into a folder it makes and removes; nothing else is touched."""
    (tmp_path / "mine.txt").write_text("keep")
    with MonthBuffer(tmp_path, budget=16) as buffer:
        ids = np.arange(10, dtype=np.int32)
        buffer.add(np.full(10, 24300), ids, np.ones(10), np.zeros(10, np.int16), ["kg"])
        assert buffer.spilled and len(list(tmp_path.iterdir())) == 2
        assert buffer.rows(24300).ids.tolist() == list(range(10))
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_unchanged_months_are_skipped_unread(store) -> None:
    """A month whose payload digest is unchanged is not read: even a damaged segment of it is
    never touched, while a changed month is diffed against its stored rows."""
    data = generated()
    store.ingest("trade", data, now=NOW)
    with store.engine.begin() as conn:  # damage the stored rows of January
        january = conn.execute(
            sa.select(schema.month_state.c.snapshot_id).where(
                schema.month_state.c.period == 2025 * 12
            )
        ).scalar_one()
        conn.execute(
            schema.segments.update().where(schema.segments.c.id == january).values(data=b"x")
        )
    assert store.ingest("trade", data, now=NOW).id == 0
    june = data.copy()
    june.loc[june.period == "2025-06", "value"] += 1.0
    release = store.ingest("trade", june, now=NOW)
    assert release.revised_periods == ("2025-06",)


def test_a_payload_that_omits_a_series_deletes_nothing(store) -> None:
    """Rows a payload does not mention stay: a payload is a view, not a deletion."""
    data = generated()
    store.ingest("trade", data, now=NOW)
    fewer = data[data.partner != "P3"]
    assert store.ingest("trade", fewer, now=NOW).id == 0
    assert len(store.observations()) == len(data)


def test_every_vintage_stays_queryable_after_revisions(store) -> None:
    """Two revisions of one month: three vintages of the series, the current value the last."""
    data = generated()
    store.ingest("trade", data, now=NOW)
    key = (data.partner == "P1") & (data.commodity == "85000002") & (data.period == "2025-03")
    original = float(data.loc[key, "value"].iloc[0])
    for value in (original + 10, original + 20):
        revised = data.copy()
        revised.loc[key, "value"] = value
        release = store.ingest("trade", revised, now=NOW)
        assert (release.revised_periods, release.observations) == (("2025-03",), 1)
    vintages = store.vintages(source="trade")
    series = vintages[
        (vintages.partner == "P1")
        & (vintages.commodity == "85000002")
        & (vintages.period == "2025-03")
    ]
    assert series.value.tolist() == [original, original + 10, original + 20]
    assert series.release_id.tolist() == [1, 2, 3]
    current = store.observations()
    now_value = current[
        (current.partner == "P1")
        & (current.commodity == "85000002")
        & (current.period == "2025-03")
    ].value
    assert now_value.tolist() == [original + 20]
    assert len(vintages) == len(data) + 2


def test_a_revision_keeps_one_current_segment_per_month(store) -> None:
    """A superseded snapshot is replaced, so a month's current rows stay one segment."""
    data = generated()
    store.ingest("trade", data, now=NOW)
    for bump in (1.0, 2.0):
        revised = data.copy()
        revised.loc[revised.period == "2025-03", "value"] += bump
        store.ingest("trade", revised, now=NOW)
    with store.engine.connect() as conn:
        kinds = conn.execute(
            sa.select(schema.segments.c.kind, sa.func.count())
            .where(schema.segments.c.period == 2025 * 12 + 2)
            .group_by(schema.segments.c.kind)
        ).all()
    assert dict(kinds) == {"vintage": 3, "snapshot": 1}


def test_one_series_twice_in_a_month_across_chunks_is_refused(store) -> None:
    """A key repeated in two chunks of one payload names the key; nothing is stored."""
    data = generated()
    twice = [data, data.iloc[[5]].assign(value=1.0)]
    with pytest.raises(SourceError, match="duplicate observation for reporter=CN"):
        store.ingest("trade", twice, now=NOW)
    assert store.observations().empty and store.releases() == []


def test_window_reads_only_the_months_asked_for(store) -> None:
    """window() returns the months in [first, last] with categorical text columns."""
    data = generated()
    store.ingest("trade", data, now=NOW)
    window = store.window("trade", first="2025-03", last="2025-04")
    assert sorted(window.period.unique()) == ["2025-03", "2025-04"]
    assert isinstance(window.partner.dtype, pd.CategoricalDtype)
    expected = data[data.period.isin(["2025-03", "2025-04"])]
    pd.testing.assert_frame_equal(text(window), text(expected))


def test_history_gives_each_series_its_months(store) -> None:
    """history() is a series x months matrix with NaN where nothing was published."""
    data = generated()
    store.ingest("trade", data, now=NOW)
    keys = data[SERIES_KEY].drop_duplicates().head(25).reset_index(drop=True)
    keys = pd.concat(
        [keys, pd.DataFrame([["CN", "ZZ", "1", "export", "net_weight_kg"]], columns=SERIES_KEY)],
        ignore_index=True,
    )
    matrix, totals = store.history("trade", keys, "2024-12", "2025-06")
    assert totals is None
    assert matrix.shape == (26, 7)
    indexed = data.set_index([*SERIES_KEY, "period"]).value
    for i, key in enumerate(keys.itertuples(index=False)):
        for j, period in enumerate(["2024-12", *MONTHS]):
            want = indexed.get((*key, period), np.nan)
            assert (np.isnan(matrix[i, j]) and np.isnan(want)) or matrix[i, j] == want


def test_latest_gives_each_series_its_newest_month(store) -> None:
    """latest() places every series at its newest month, reading months newest first."""
    data = generated()
    june_without_p0 = (data.period == "2025-06") & (data.partner != "P0")
    store.ingest("trade", data[data.period < "2025-06"], now=NOW)
    store.ingest("trade", data[june_without_p0], now=NOW)
    latest = store.latest("trade")
    stored = data[(data.period < "2025-06") | june_without_p0]
    newest = stored.groupby(SERIES_KEY).period.max()
    assert "2025-06" not in set(newest[newest.index.get_level_values("partner") == "P0"])
    assert len(latest) == len(newest)
    got = latest.set_index(SERIES_KEY).period
    assert got.sort_index().tolist() == newest.sort_index().tolist()


def test_series_added_by_another_writer_meanwhile_get_consistent_ids(tmp_path: Path) -> None:
    """Two stores on one file: a payload prepared before the other added series still lands
    every value on its own series."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first, second = open_store(url), open_store(url)
    data = generated()
    a, b = data[data.partner.isin(["P0", "P1"])], data[data.partner.isin(["P1", "P2"])]
    with first.engine.connect() as conn:
        seen = first.data.dictionary(conn, "trade")
    prepared = first.data.prepare("trade", [b], seen)
    second.ingest("trade", a, now=NOW)
    with first.transaction() as conn:
        first.data.write(conn, prepared, release_id=99, stamp="2026-01-20T03:00:00.000000Z")
    first.data.committed(prepared)
    prepared.close()
    both = pd.concat([a, b]).drop_duplicates(OBSERVATION_KEY)
    pd.testing.assert_frame_equal(text(second.observations()), text(both))
    first.close()
    second.close()


def test_history_totals_are_the_share_totals(store) -> None:
    """With totals, each series' group total per month: WORLD where published, else the sum of
    the partners (computed independently here from the rows)."""
    data = generated()
    data = data[~((data.commodity == "85000001") & (data.partner == "WORLD"))]
    store.ingest("trade", data, now=NOW)
    keys = data[SERIES_KEY].drop_duplicates().reset_index(drop=True)
    _, totals = store.history("trade", keys, "2025-01", "2025-06", totals=True)
    for i, key in enumerate(keys.itertuples(index=False)):
        group = data[(data.commodity == key.commodity)]
        for j, period in enumerate(MONTHS):
            month = group[group.period == period]
            world = month[month.partner == "WORLD"].value
            want = world.iloc[0] if len(world) else month[month.partner != "WORLD"].value.sum()
            assert totals[i, j] == pytest.approx(want)
