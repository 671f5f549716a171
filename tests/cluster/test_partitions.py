"""Partitioned evaluation on a LocalCluster gives the local engine's alerts, row for row."""

from __future__ import annotations

import os
import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from monitor.engine import load_rules
from monitor.engine.cluster import (
    PartitionKey,
    PieceTask,
    evaluate_piece,
    evaluate_pieces,
    split,
)
from monitor.engine.cluster.pieces import frame_chunks
from monitor.engine.evaluate import AlertTable, concat_tables, evaluate_table
from tests.cluster.conftest import PACK

# The task that kills its worker is sent by value: the workers need not import this module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def periods_of(obs: pd.DataFrame) -> list[str]:
    return sorted(str(p) for p in obs["period"].unique())


def alert_dicts(table: AlertTable) -> list[dict]:
    return [a.to_dict() for a in table.alerts()]


@pytest.fixture(scope="module")
def rules():
    return load_rules([str(PACK)])


@pytest.fixture(scope="module")
def local(observations, rules):
    return alert_dicts(evaluate_table(observations, rules, periods_of(observations)))


def test_every_rule_of_the_pack_fires_on_the_data(local):
    """The data exercises each rule, the HS6 sum and the mirror gap included."""
    fired = {a["rule"] for a in local}
    assert fired == {
        "cluster-period-high",
        "cluster-share-shift",
        "cluster-hs6-high",
        "cluster-mirror",
    }


def test_key_keeps_hs6_sums_and_mirror_reporters_together(rules):
    """With an HS6 sum and a mirror rule loaded the key is (measure, HS6) without reporter."""
    key = PartitionKey.of(rules)
    assert (key.digits, key.by_reporter, key.columns) == (6, False, ["measure", "commodity"])


def test_key_blind_to_sums_would_change_the_alerts(observations, rules, local):
    """Partitioning by whole code and reporter (ignoring sums and mirrors) gives other alerts:
    the safe key is what makes the partitions agree."""
    periods = periods_of(observations)
    pieces = split(frame_chunks(observations), PartitionKey(), 5_000)
    try:
        tables = [
            evaluate_piece(PieceTask(p.path, p.mirrors, rules, tuple(periods)))
            for p in pieces.pieces
        ]
    finally:
        pieces.remove()
    assert alert_dicts(concat_tables(tables)) != local


def test_partitions_on_the_cluster_equal_the_local_engine(client, observations, rules, local):
    """Several partitions on 2 worker processes: the same alerts in the same order."""
    periods = periods_of(observations)
    pieces = split(frame_chunks(observations, 20_000), PartitionKey.of(rules), 15_000)
    try:
        assert len(pieces.pieces) >= 3
        table = evaluate_pieces(client, pieces, rules, periods)
    finally:
        pieces.remove()
    assert not pieces.root.exists()
    assert alert_dicts(table) == local


def test_two_runs_at_once_on_one_cluster_keep_their_own_partitions(
    client, observations, rules, local
):
    """Two runs sharing a scheduler (partition numbers alike) each get their own alerts."""
    from concurrent.futures import ThreadPoolExecutor

    periods = periods_of(observations)
    early = periods[:12]
    first = observations[observations["period"].astype(str).isin(early)]

    def run(obs: pd.DataFrame, wanted: list[str]) -> list[dict]:
        pieces = split(frame_chunks(obs), PartitionKey.of(rules), 15_000)
        try:
            return alert_dicts(evaluate_pieces(client, pieces, rules, wanted))
        finally:
            pieces.remove()

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(run, first, early)
        b = pool.submit(run, observations, periods)
        got_a, got_b = a.result(), b.result()
    assert got_b == local
    assert got_a == alert_dicts(evaluate_table(first, rules, early)) != local


def test_codes_list_joins_the_prefixes_it_spans(tmp_path):
    """A `codes` sum over two HS6 prefixes puts both prefixes in one partition key."""
    pack = tmp_path / "codes.yaml"
    pack.write_text(
        "pack: codes\n"
        "defaults: {select: {reporter: CN, flow: export, measure: net_weight_kg}}\n"
        "rules:\n"
        "  - id: hs6\n"
        "    select: {commodity: {level: 6}}\n"
        "    condition: {type: threshold, above: 1}\n"
        "  - id: pair\n"
        '    select: {commodity: {codes: ["85000001", "85000101"], as: PAIR}}\n'
        "    condition: {type: threshold, above: 1}\n"
    )
    key = PartitionKey.of(load_rules([str(pack)]))
    which, atoms = key.atoms(
        pd.DataFrame(
            {
                "measure": ["net_weight_kg"] * 3,
                "commodity": ["85000001", "85000101", "85000201"],
                "reporter": ["CN"] * 3,
                "flow": ["export"] * 3,
            }
        )
    )
    assert [atoms[i][1] for i in which] == ["850000", "850000", "850002"]


def skewed_exports(observations: pd.DataFrame) -> pd.DataFrame:
    """China's exports of 20 codes plus one of them reported by 30 more reporters (China's
    figures, scaled per reporter): that commodity holds most of the rows."""
    exports = observations[observations["reporter"] == "CN"].astype(
        {
            c: "str"
            for c in [
                "period",
                "reporter",
                "partner",
                "commodity",
                "flow",
                "measure",
                "unit",
                "source",
            ]
        }
    )
    exports = exports[exports["commodity"].isin(sorted(exports["commodity"].unique())[:20])]
    big = exports[exports["commodity"] == exports["commodity"].iloc[0]]
    copies = [
        big.assign(reporter=f"R{i:02d}", value=big["value"] * (1 + i / 10)) for i in range(30)
    ]
    out = pd.concat([exports, *copies], ignore_index=True)
    return out.astype({c: "category" for c in out.columns if c != "value"})


def test_skewed_commodity_is_split_by_reporter_and_identical(client, observations, tmp_path):
    """One huge commodity (most rows) spreads over several partitions by reporter when no
    rule needs two reporters together, and the alerts are the local engine's."""
    pack = tmp_path / "plain.yaml"
    pack.write_text(
        "pack: plain\n"
        "defaults: {select: {flow: export, measure: net_weight_kg, partner: '*'}}\n"
        "rules:\n"
        "  - id: high\n"
        "    condition: {type: period_high, window: 12, min_periods: 9}\n"
        "  - id: shift\n"
        "    condition: {type: share_shift, points: 4, direction: up}\n"
    )
    rules = load_rules([str(pack)])
    obs = skewed_exports(observations)
    big = obs["commodity"].iloc[0]
    assert (obs["commodity"] == big).mean() > 0.5
    periods = periods_of(obs)
    pieces = split(frame_chunks(obs), PartitionKey.of(rules), 8_000)
    try:
        holding = [p for p in pieces.pieces if (pd.read_parquet(p.path)["commodity"] == big).any()]
        assert len(holding) > 1
        table = evaluate_pieces(client, pieces, rules, periods)
    finally:
        pieces.remove()
    assert alert_dicts(table) == alert_dicts(evaluate_table(obs, rules, periods))


def kill_worker_once(marker: str):
    """A partition's task that kills its own worker process the first time any task runs."""

    def task(piece: PieceTask) -> AlertTable:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return evaluate_piece(piece)
        os.close(fd)
        os._exit(1)

    return task


def test_worker_killed_mid_run_still_gives_the_complete_result(
    client, observations, rules, local, tmp_path
):
    """A worker process dying under a partition: Dask re-runs it, nothing is lost or doubled."""
    marker = tmp_path / "killed"
    before = set(client.scheduler_info()["workers"])
    periods = periods_of(observations)
    pieces = split(frame_chunks(observations), PartitionKey.of(rules), 15_000)
    try:
        table = evaluate_pieces(client, pieces, rules, periods, task=kill_worker_once(str(marker)))
    finally:
        pieces.remove()
    assert marker.exists()
    assert alert_dicts(table) == local
    client.wait_for_workers(2)
    assert set(client.scheduler_info()["workers"]) != before  # a new process replaced it


def test_partition_plan_puts_an_oversized_atom_alone():
    """An atom above the target is a partition of its own; small ones are packed together."""
    from monitor.engine.cluster import plan_partitions

    plan = plan_partitions({("m", "a"): 3, ("m", "b"): 50, ("m", "c"): 3, ("m", "d"): 4}, 10)
    assert plan == {("m", "a"): 0, ("m", "b"): 1, ("m", "c"): 2, ("m", "d"): 2}
    assert np.unique(list(plan.values())).tolist() == [0, 1, 2]
