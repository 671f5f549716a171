"""`backtest --workers N` / `--cluster ADDRESS` print exactly what the local backtest prints."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.cli import main
from tests.cluster.conftest import PACK


@pytest.fixture(scope="module")
def data(tmp_path_factory, observations):
    path = tmp_path_factory.mktemp("backtest") / "exports.parquet"
    observations.to_parquet(path)
    return path


def backtest(capsys, *args: str) -> str:
    assert main(["backtest", "--rules", str(PACK), *args]) == 0
    return capsys.readouterr().out


def test_backtest_on_two_local_workers_prints_the_local_jsonl(capsys, data):
    """`--workers 2` (its own LocalCluster, in a fresh process) gives the same JSON lines."""
    local = backtest(capsys, "--data", str(data), "--format", "jsonl")
    command = ["backtest", "--rules", str(PACK), "--data", str(data), "--format", "jsonl"]
    run = subprocess.run(
        [sys.executable, "-m", "monitor", *command, "--workers", "2", "--partition-rows", "15000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == local and local.count("\n") > 100
    assert "partitions on the cluster (dashboard: http://127.0.0.1:" in run.stderr


@pytest.mark.parametrize("fmt", ["table", "summary"])
def test_backtest_on_a_cluster_address_prints_the_local_output(capsys, data, client, fmt):
    """`--cluster ADDRESS` (a running scheduler) gives the same table and summary."""
    local = backtest(capsys, "--data", str(data), "--format", fmt)
    address = client.scheduler.address
    remote = backtest(
        capsys,
        "--data",
        str(data),
        "--format",
        fmt,
        "--cluster",
        address,
        "--partition-rows",
        "15000",
    )
    assert remote == local


def test_unreachable_cluster_is_a_one_line_error(capsys, data):
    """No scheduler at --cluster: exit 1 with a sentence naming the address, no traceback."""
    from tests.daemon.helpers import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    code = main(["backtest", "--data", str(data), "--cluster", address, "--connect-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"no Dask scheduler at {address}" in err and "Traceback" not in err
