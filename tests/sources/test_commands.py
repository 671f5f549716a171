"""The `sources check`, `backfill` and `releases` commands on a real config, store and fake API."""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.clock import ManualClock
from monitor.commands.backfill import backfill
from monitor.config import load_config
from monitor.errors import SourceError
from monitor.http import make_session
from monitor.store import open_store
from tests.sources.fakeapi import FIXTURES, FakeApi, Reply, comtrade_envelope, comtrade_record

EXPORTS = FIXTURES / "gacc" / "china_exports_to_us_201901.csv"
GET = "/data/v1/get/C/M/HS"


def _config(tmp_path: Path, api_url: str = "http://127.0.0.1:9", ct_extra: str = "") -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "state: sqlite:///state.db\n"
        "sources:\n"
        "  gacc:\n    type: gacc\n    path: inbox\n"
        "  ct:\n    type: comtrade\n    key: k\n    reporter: 156\n    commodity: '850511'\n"
        f"    base_url: {api_url}\n    rate_limit: 0\n{ct_extra}",
        encoding="utf-8",
    )
    return path


def _monthly(seen) -> Reply:
    """One World export record per requested period, value = the period number."""
    periods = seen.query["period"].split(",")
    return Reply(
        body=comtrade_envelope(
            [comtrade_record(p, "W00", 0, value=float(p), net_kg=1.0) for p in periods]
        )
    )


def test_sources_check_jsonl_prints_canonical_rows_and_moves_nothing(tmp_path, capsys):
    """`sources check` prints one canonical observation per line and leaves the inbox alone."""
    config = _config(tmp_path)
    shutil.copy(EXPORTS, tmp_path / "inbox" / EXPORTS.name)
    code = main(["--config", str(config), "sources", "check", "gacc", "--format", "jsonl"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    magnets = {r["measure"]: r["value"] for r in rows if r["commodity"] == "85051110"}
    assert magnets == {"net_weight_kg": 342_673.0, "value_usd": 17_186_505.0}
    assert (tmp_path / "inbox" / EXPORTS.name).exists()
    assert (
        not (tmp_path / "state.db").exists()
        or not open_store(f"sqlite:///{tmp_path / 'state.db'}").releases()
    )


def test_sources_check_unknown_name_is_a_config_error(tmp_path, capsys):
    """An unknown source name exits 2 with the configured names listed."""
    code = main(["--config", str(_config(tmp_path)), "sources", "check", "nope"])
    assert code == 2
    assert "unknown source 'nope'" in capsys.readouterr().err


def test_backfill_stores_silently_in_chunks(tmp_path):
    """Backfill of 14 months: two calls, releases recorded but not pending evaluation."""
    with FakeApi() as api:
        api.route(GET, _monthly)
        config = load_config(str(_config(tmp_path, api.url)))
        store = open_store(config.state)
        out = io.StringIO()
        backfill(
            config,
            store,
            "ct",
            "2024-01",
            "2025-02",
            out=out,
            clock=ManualClock(datetime(2025, 8, 20, tzinfo=UTC)),
        )
    periods = sorted(set(store.observations(source="ct")["period"]))
    assert periods[0] == "2024-01" and periods[-1] == "2025-02" and len(periods) == 14
    assert [len(c.query["period"].split(",")) for c in api.calls(GET)] == [12, 2]
    assert store.pending_releases() == []
    assert "complete" in out.getvalue()
    store.close()


def test_annual_backfill_asks_for_each_year_once(tmp_path):
    """An annual backfill starting in June asks for every year once, across its two chunks."""
    annual = "/data/v1/get/C/A/HS"
    with FakeApi() as api:
        api.route(annual, Reply(body=comtrade_envelope([])))
        config = load_config(str(_config(tmp_path, api.url, "    frequency: A\n")))
        store = open_store(config.state)
        clock = ManualClock(datetime(2025, 8, 20, tzinfo=UTC))
        backfill(config, store, "ct", "2010-06", "2024-12", out=io.StringIO(), clock=clock)
        store.close()
    asked = [year for call in api.calls(annual) for year in call.query["period"].split(",")]
    assert len(api.calls(annual)) == 2
    assert sorted(asked) == [str(year) for year in range(2010, 2025)]


def test_backfill_resumes_after_interruption(tmp_path):
    """A failure in the second chunk keeps the first; rerunning fetches only what is left."""
    with FakeApi() as api:
        api.route(
            GET,
            lambda seen: _monthly(seen) if "202401" in seen.query["period"] else Reply(500, "down"),
        )
        config = load_config(str(_config(tmp_path, api.url)))
        store = open_store(config.state)
        clock = ManualClock(datetime(2025, 8, 20, tzinfo=UTC))
        with pytest.raises(SourceError, match="HTTP 500"):
            backfill(
                config,
                store,
                "ct",
                "2024-01",
                "2025-02",
                out=io.StringIO(),
                clock=clock,
                session=make_session(retries=0),
            )
        assert store.source_state("ct").cursor["backfill"]["done"] == "2024-12"
        api.route(GET, _monthly)
        backfill(config, store, "ct", "2024-01", "2025-02", out=io.StringIO(), clock=clock)
    assert api.calls(GET)[-1].query["period"] == "202501,202502"
    assert len(set(store.observations(source="ct")["period"])) == 14
    store.close()


def test_backfill_refuses_sources_without_history(tmp_path, capsys):
    """A gacc source has no fetch_range: exit 2 naming the supported types."""
    code = main(["--config", str(_config(tmp_path)), "backfill", "gacc", "--from", "2024-01"])
    assert code == 2
    assert "comtrade, census, eurostat" in capsys.readouterr().err


def test_backfill_bad_month_is_a_usage_error(tmp_path, capsys):
    """--from that is not YYYY-MM exits 2."""
    code = main(["--config", str(_config(tmp_path)), "backfill", "ct", "--from", "2024-13"])
    assert code == 2


def test_releases_lists_what_arrived(tmp_path, capsys):
    """After a backfill, `releases --source ct` lists the release with its periods."""
    with FakeApi() as api:
        api.route(GET, _monthly)
        config_path = _config(tmp_path, api.url)
        config = load_config(str(config_path))
        store = open_store(config.state)
        backfill(
            config,
            store,
            "ct",
            "2025-01",
            "2025-03",
            out=io.StringIO(),
            clock=ManualClock(datetime(2025, 8, 20, tzinfo=UTC)),
        )
        store.close()
    assert (
        main(["--config", str(config_path), "releases", "--source", "ct", "--format", "jsonl"]) == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["new_periods"] == ["2025-01", "2025-02", "2025-03"]
    assert main(["--config", str(config_path), "releases"]) == 0
    assert "2025-01, 2025-02, 2025-03" in capsys.readouterr().out


def test_bad_option_value_is_a_located_config_error(tmp_path, capsys):
    """`endpoint: import` (not imports/exports) is reported at its line in monitor.yaml."""
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "sources:\n  us:\n    type: census\n    endpoint: import\n    commodity: '8505110070'\n",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "sources", "check", "us"]) == 2
    assert f"{path}:4:" in capsys.readouterr().err


def test_gacc_revised_file_is_a_revision_in_the_store(tmp_path, store, now):
    """A re-downloaded January with one changed figure is stored as a revision, not new."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = EXPORTS.read_text(encoding="utf-8").splitlines()
    (inbox / "export_201901.csv").write_text("\n".join(lines), encoding="utf-8")
    from monitor.sources.gacc import GaccSource

    first = GaccSource("gacc", {"path": str(inbox)}).fetch()
    release = store.ingest("gacc", first.observations, now=now, cursor=first.cursor)
    first.on_committed()
    assert release.new_periods == ("2019-01",)
    revised = [ln.replace('"339548"', '"339000"') for ln in lines]
    (inbox / "export_201901_revised.csv").write_text("\n".join(revised), encoding="utf-8")
    second = GaccSource("gacc", {"path": str(inbox)}, cursor=first.cursor).fetch()
    release = store.ingest("gacc", second.observations, now=now, cursor=second.cursor)
    assert release.revised_periods == ("2019-01",) and release.new_periods == ()
    assert release.observations == 1
    current = store.observations(source="gacc")
    kg = current.query("commodity == '85051110' and measure == 'net_weight_kg'")["value"]
    assert kg.tolist() == [342_673 - 548]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_backfill_draws_a_progress_bar_on_a_terminal(tmp_path):
    """On a TTY each chunk redraws one bar line ending in the chunk count."""
    with FakeApi() as api:
        api.route(GET, _monthly)
        config = load_config(str(_config(tmp_path, api.url)))
        store = open_store(config.state)
        out = _Tty()
        backfill(
            config,
            store,
            "ct",
            "2024-01",
            "2025-02",
            out=out,
            clock=ManualClock(datetime(2025, 8, 20, tzinfo=UTC)),
        )
        store.close()
    text = out.getvalue()
    assert "\rct [###############...............] 1/2" in text
    assert "\rct [##############################] 2/2" in text


def test_backfill_rerun_after_completion_does_nothing(tmp_path):
    """The same backfill again says it is complete and makes no request."""
    with FakeApi() as api:
        api.route(GET, _monthly)
        config = load_config(str(_config(tmp_path, api.url)))
        store = open_store(config.state)
        clock = ManualClock(datetime(2025, 8, 20, tzinfo=UTC))
        backfill(config, store, "ct", "2025-01", "2025-03", out=io.StringIO(), clock=clock)
        out = io.StringIO()
        backfill(config, store, "ct", "2025-01", "2025-03", out=out, clock=clock)
        store.close()
    assert len(api.calls(GET)) == 1
    assert "already complete" in out.getvalue()


def test_pipeline_poll_ingests_gacc_then_archives_the_file(tmp_path):
    """Through the real pipeline: first poll is a release, files move to done/, next poll idle."""
    from monitor.pipeline import Pipeline

    config = load_config(str(_config(tmp_path)))
    shutil.copy(EXPORTS, tmp_path / "inbox" / "export_201901.csv")
    store = open_store(config.state)
    pipeline = Pipeline(
        config, store, rules=None, channels={}, clock=ManualClock(datetime(2025, 8, 20, tzinfo=UTC))
    )
    first = pipeline.poll("gacc")
    assert first.ok and first.release is not None and first.release.new_periods == ("2019-01",)
    assert (tmp_path / "inbox" / "done" / "export_201901.csv").exists()
    second = pipeline.poll("gacc")
    assert second.ok and second.unchanged
    store.close()


def test_sources_check_ends_with_a_summary(tmp_path, capsys):
    """The table ends with rows, periods, commodities, partners and measures with units."""
    config = _config(tmp_path)
    shutil.copy(EXPORTS, tmp_path / "inbox" / EXPORTS.name)
    assert main(["--config", str(config), "sources", "check", "gacc", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "... 12,131 more row(s): --format jsonl prints them all" in out
    assert "  rows         12,134\n" in out
    assert "  periods      2019-01 .. 2019-01 (1)\n" in out
    assert "  commodities  5,176 (" in out and "  partners     1 (US)\n" in out
    assert re.search(r"net_weight_kg +4,707 rows  unit kg\n", out)
    assert re.search(r"value_usd +5,176 rows  unit USD\n", out)
    assert out.rstrip().endswith("not ingested none")


def test_sources_check_filters_by_commodity_prefix_and_partner(tmp_path, capsys):
    """--commodity 850511 --partner us: only the magnets lines; the summary says of how many."""
    config = _config(tmp_path)
    shutil.copy(EXPORTS, tmp_path / "inbox" / EXPORTS.name)
    argv = ["sources", "check", "gacc", "--format", "jsonl", "--commodity", "850511"]
    assert main(["--config", str(config), *argv, "--partner", "us"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert {r["commodity"] for r in rows} == {"85051110", "85051190"} and len(rows) == 4
    assert "rows         4 of 12,134 fetched (filters: commodity 850511*; partner us)" in (
        captured.err
    )


def test_sources_check_lists_what_was_not_ingested_with_the_reason(tmp_path, capsys):
    """A malformed file in the drop folder is listed under 'not ingested' with its problem."""
    config = _config(tmp_path)
    shutil.copy(EXPORTS, tmp_path / "inbox" / EXPORTS.name)
    (tmp_path / "inbox" / "bad_export.csv").write_text("garbage\n", encoding="utf-8")
    assert main(["--config", str(config), "sources", "check", "gacc", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "  not ingested\n" in out
    assert "1  file bad_export.csv: line 1: expected 12 cells, found 1" in out
    assert (tmp_path / "inbox" / "bad_export.csv").exists()
