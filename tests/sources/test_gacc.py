"""The GACC drop-folder connector on the real January 2019 query-platform downloads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from monitor.errors import SourceError
from monitor.sources._gacc_parse import GaccFormatError, parse, partner_table
from monitor.sources.gacc import GaccSource
from tests.sources.fakeapi import FIXTURES, FakeApi, Reply

EXPORTS = FIXTURES / "gacc" / "china_exports_to_us_201901.csv"
IMPORTS = FIXTURES / "gacc" / "china_imports_from_us_201901.csv"
# The Chinese platform's header for the same twelve columns (values identical, real figures).
CHINESE_HEADER = (
    "数据年月,贸易伙伴编码,贸易伙伴名称,商品编码,商品名称,贸易方式编码,贸易方式名称,"
    "第一数量,第一计量单位,第二数量,第二计量单位,美元,"
)


def _value(frame: pd.DataFrame, commodity: str, measure: str, partner: str = "US") -> float:
    row = frame[
        (frame.commodity == commodity) & (frame.measure == measure) & (frame.partner == partner)
    ]
    assert len(row) == 1
    return float(row["value"].iloc[0])


@pytest.fixture(scope="module")
def exports() -> pd.DataFrame:
    return parse(EXPORTS.name, EXPORTS.read_bytes(), flow="export").rows


def test_magnets_to_us_sum_four_regimes_in_kg(exports):
    """85051110 to the US, January 2019: 4 regime rows sum to 342,673 kg."""
    assert _value(exports, "85051110", "net_weight_kg") == 342_673


def test_magnets_to_us_sum_four_regimes_in_usd(exports):
    """The same rows sum to US$17,186,505 (thousands separators read)."""
    assert _value(exports, "85051110", "value_usd") == 17_186_505


def test_every_commodity_of_the_export_file_is_kept(exports):
    """All 5,176 commodities of the real export file have a value row."""
    usd = exports[exports.measure == "value_usd"]
    assert usd.commodity.nunique() == 5176
    assert set(usd.period) == {"2019-01"} and set(usd.partner) == {"US"}


def test_other_first_unit_is_quantity_with_its_unit(exports):
    """A first unit other than kg (inductors, 'Number of item') stays a quantity in that unit."""
    row = exports[(exports.commodity == "85045000") & (exports.measure == "quantity")]
    assert set(row.unit) == {"Number of item"}
    assert (exports[(exports.commodity == "85045000")].measure == "net_weight_kg").sum() <= 1


def test_supplementary_kilogram_becomes_net_weight(exports):
    """'Number of item' + supplementary 'Kilogram' (transistors) gives net_weight_kg."""
    raw = pd.read_csv(EXPORTS, dtype=str, keep_default_na=False)
    rows = raw[raw["Commodity code"] == "85412100"]
    expected = sum(float(v) for v in rows["Supplimentary Quantity"] if v != "—")
    assert _value(exports, "85412100", "net_weight_kg") == expected


def test_headerless_imports_file_parses(tmp_path):
    """The real imports download (no header line) parses with the platform's column order."""
    parsed = parse(IMPORTS.name, IMPORTS.read_bytes(), flow="import")
    assert parsed.regime_rows == 11419
    assert _value(parsed.rows, "85051110", "net_weight_kg") == 1249 + 4 + 1 + 1 + 0 + 0
    assert set(parsed.rows.flow) == {"import"}


def test_chinese_header_variant(exports):
    """The Chinese-header layout gives the same figures as the English one."""
    lines = EXPORTS.read_text(encoding="utf-8").splitlines()
    data = "\n".join([CHINESE_HEADER, *lines[1:]]).encode("gb18030")
    rows = parse("出口.csv", data, flow="export").rows
    assert _value(rows, "85051110", "value_usd") == 17_186_505
    assert len(rows) == len(exports)


def test_xlsx_download(tmp_path):
    """An .xlsx download (written with openpyxl from real rows) parses like the CSV."""
    raw = pd.read_csv(EXPORTS, dtype=str, keep_default_na=False).iloc[:, :12]
    magnets = raw[raw["Commodity code"] == "85051110"]
    path = tmp_path / "exports.xlsx"
    magnets.to_excel(path, index=False)
    rows = parse(path.name, path.read_bytes(), flow="export").rows
    assert _value(rows, "85051110", "net_weight_kg") == 342_673


def test_partner_table_has_the_documented_codes():
    """US 502, Germany 304, Japan 116, Korea 133 map to their ISO codes."""
    table = partner_table()
    assert [table[c] for c in ("502", "304", "116", "133")] == ["US", "DE", "JP", "KR"]
    assert len(table) > 230


@pytest.mark.parametrize(
    ("index", "old", "new", "text"),
    [
        (4, '"5,850,427"', '"5,85x,427"', "not a number"),
        (3, ',"Kilogram","140,241,078",', ",", "cells"),
        (2, '"502"', '"987"', "partner code '987'"),
    ],
)
def test_malformed_lines_are_located(index, old, new, text):
    """A bad number, a truncated line or an unknown partner is reported with its file line."""
    lines = EXPORTS.read_text(encoding="utf-8").splitlines()[:10]
    assert old in lines[index]
    lines[index] = lines[index].replace(old, new, 1)
    with pytest.raises(GaccFormatError, match=text) as info:
        parse("bad.csv", "\n".join(lines).encode(), flow="export")
    assert info.value.line == index + 1


# -- the drop folder --------------------------------------------------------------------------


def _inbox(tmp_path: Path, *files: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for f in files:
        shutil.copy(f, inbox / f.name)
    return inbox


def test_drop_folder_ingests_and_flow_from_file_name(tmp_path):
    """Both real files ingest; export/import is read from each file name."""
    inbox = _inbox(tmp_path, EXPORTS, IMPORTS)
    result = GaccSource("gacc", {"path": str(inbox)}).fetch()
    assert not result.unchanged
    assert set(result.observations.flow) == {"export", "import"}
    assert set(result.observations.source) == {"gacc"}


def test_committed_files_move_to_done_and_are_skipped_by_hash(tmp_path):
    """After commit files move to done/; the same content dropped again is skipped."""
    inbox = _inbox(tmp_path, EXPORTS)
    first = GaccSource("gacc", {"path": str(inbox)}).fetch()
    first.on_committed()
    assert (inbox / "done" / EXPORTS.name).exists() and not (inbox / EXPORTS.name).exists()
    shutil.copy(EXPORTS, inbox / "again_export.csv")
    second = GaccSource("gacc", {"path": str(inbox)}, cursor=first.cursor).fetch()
    assert second.unchanged and second.observations.empty


def test_malformed_file_is_rejected_and_good_ones_still_ingest(tmp_path, caplog):
    """A broken file goes to rejected/ with an .error.txt naming the line; the good one ingests."""
    inbox = _inbox(tmp_path, EXPORTS)
    lines = IMPORTS.read_text(encoding="utf-8").splitlines()[:20]
    lines[7] = lines[7].replace('"502"', '"1234"', 1)
    (inbox / "broken_import.csv").write_text("\n".join(lines), encoding="utf-8")
    result = GaccSource("gacc", {"path": str(inbox)}).fetch()
    assert set(result.observations.flow) == {"export"}
    error = (inbox / "rejected" / "broken_import.csv.error.txt").read_text()
    assert "line 8" in error and "1234" in error
    assert not (inbox / "broken_import.csv").exists()
    assert "broken_import.csv" in caplog.text


def test_file_without_flow_is_rejected_with_a_hint(tmp_path):
    """A file whose name says neither export nor import (and no flow option) is refused."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(EXPORTS, inbox / "january.csv")
    result = GaccSource("gacc", {"path": str(inbox)}).fetch()
    assert result.unchanged
    assert "flow" in (inbox / "rejected" / "january.csv.error.txt").read_text()


def test_flow_option_overrides_file_name(tmp_path):
    """The `flow` option applies to every file of the folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(EXPORTS, inbox / "january.csv")
    result = GaccSource("gacc", {"path": str(inbox), "flow": "export"}).fetch()
    assert set(result.observations.flow) == {"export"}


def test_relative_path_resolves_against_config_folder(tmp_path):
    """A relative path is read from the configuration's folder."""
    _inbox(tmp_path, EXPORTS)
    result = GaccSource("gacc", {"path": "inbox"}, base_dir=str(tmp_path)).fetch()
    assert len(result.observations) > 0


def test_path_escaping_config_folder_is_refused(tmp_path):
    """`../` out of the configuration folder is refused (absolute paths are allowed)."""
    (tmp_path / "conf").mkdir()
    with pytest.raises(SourceError, match="escapes"):
        GaccSource("gacc", {"path": "../inbox"}, base_dir=str(tmp_path / "conf")).fetch()


def test_missing_folder_is_a_source_error(tmp_path):
    """A drop folder that does not exist is a clear SourceError."""
    with pytest.raises(SourceError, match="does not exist"):
        GaccSource("gacc", {"path": str(tmp_path / "nope")}).fetch()


def test_dry_run_moves_nothing(tmp_path):
    """With dry_run (sources check) neither good nor bad files are moved."""
    inbox = _inbox(tmp_path, EXPORTS)
    (inbox / "bad_export.csv").write_text("garbage\n", encoding="utf-8")
    source = GaccSource("gacc", {"path": str(inbox)})
    source.dry_run = True
    result = source.fetch()
    result.on_committed()
    assert sorted(p.name for p in inbox.iterdir()) == ["bad_export.csv", EXPORTS.name]


def test_url_download_with_etag(tmp_path):
    """A file served at `url` ingests once; the next poll sends If-None-Match and gets 304."""
    body = EXPORTS.read_bytes()

    def serve(seen):
        if seen.headers.get("If-None-Match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(200, body, {"ETag": '"v1"', "Content-Type": "text/csv"})

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with FakeApi() as api:
        api.route("/gacc/export_201901.csv", serve)
        options = {"path": str(inbox), "url": api.url + "/gacc/export_201901.csv"}
        first = GaccSource("gacc", options).fetch()
        assert _value(first.observations, "85051110", "net_weight_kg") == 342_673
        second = GaccSource("gacc", options, cursor=first.cursor).fetch()
    assert second.unchanged
    assert api.seen[-1].headers.get("If-None-Match") == '"v1"'
