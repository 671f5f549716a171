"""The `engine:` section of monitor.yaml: typed, located problems, checked by validate."""

from __future__ import annotations

from monitor.config import load_config, read_config
from monitor.engine.cluster.connect import check_engine_options


def test_engine_section_is_read_typed(tmp_path):
    """Numbers from text become numbers; a relative scratch folder is the config folder's."""
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "engine: {cluster: 'tcp://scheduler:8786', cluster_min_rows: '5000', scratch: pieces}\n"
    )
    engine = load_config(str(path)).engine
    assert engine.cluster == "tcp://scheduler:8786"
    assert engine.cluster_min_rows == 5000
    assert engine.scratch == str(tmp_path / "pieces")


def test_engine_section_problems_are_located(tmp_path):
    """A bad address, a negative threshold and a misspelt key: one located line each."""
    path = tmp_path / "monitor.yaml"
    path.write_text("engine:\n  cluster: scheduler 8786\n  cluster_min_rows: -1\n  clustre: x\n")
    _, problems = read_config(str(path))
    lines = sorted((p.line, p.message) for p in problems)
    assert [line for line, _ in lines] == [2, 3, 4]
    assert "engine.cluster must be a scheduler address" in lines[0][1]
    assert "engine.cluster_min_rows must be at least 0" in lines[1][1]
    assert "did you mean 'cluster'" in lines[2][1]


def test_validate_names_the_missing_dask_extra(tmp_path):
    """A configured cluster without Dask installed is a problem `validate` reports."""
    path = tmp_path / "monitor.yaml"
    path.write_text("engine: {cluster: 'tcp://scheduler:8786'}\n")
    config = load_config(str(path))
    [problem] = check_engine_options(config, missing="needs dask: pip install x")
    assert problem.message == "engine.cluster: needs dask: pip install x"
    assert check_engine_options(config) == []  # installed here
