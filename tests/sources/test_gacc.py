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


def test_a_file_replaced_after_it_was_read_stays_for_the_next_poll(tmp_path, caplog):
    """A new download saved under the ingested file's name before the commit is not archived
    unread: it stays in the drop folder."""
    inbox = _inbox(tmp_path, EXPORTS)
    first = GaccSource("gacc", {"path": str(inbox)}).fetch()
    replacement = IMPORTS.read_bytes()
    (inbox / EXPORTS.name).write_bytes(replacement)
    first.on_committed()
    assert (inbox / EXPORTS.name).read_bytes() == replacement
    assert not (inbox / "done" / EXPORTS.name).exists()
    assert "changed since it was read" in caplog.text


def test_archiving_never_replaces_a_file_already_in_done(tmp_path):
    """done/ already holding a file of that name keeps it; the new one gets a free name."""
    inbox = _inbox(tmp_path, EXPORTS)
    (inbox / "done").mkdir()
    (inbox / "done" / EXPORTS.name).write_text("the user's own file")
    GaccSource("gacc", {"path": str(inbox)}).fetch().on_committed()
    assert (inbox / "done" / EXPORTS.name).read_text() == "the user's own file"
    moved = inbox / "done" / f"{EXPORTS.stem}.1{EXPORTS.suffix}"
    assert moved.read_bytes() == EXPORTS.read_bytes()


def test_a_rejection_note_never_replaces_an_existing_file(tmp_path):
    """rejected/ holding a note of that name keeps it; the new note gets a free name."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken_export.csv").write_text("not a GACC file\n")
    (inbox / "rejected").mkdir()
    (inbox / "rejected" / "broken_export.csv.error.txt").write_text("the user's notes")
    GaccSource("gacc", {"path": str(inbox)}).fetch()
    assert (inbox / "rejected" / "broken_export.csv.error.txt").read_text() == "the user's notes"
    assert (inbox / "rejected" / "broken_export.csv").read_text() == "not a GACC file\n"
    notes = sorted(p.name for p in (inbox / "rejected").glob("*.error*.txt"))
    assert notes == ["broken_export.csv.error.1.txt", "broken_export.csv.error.txt"]


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


def test_close_closes_the_connection_of_the_url_download(tmp_path):
    """close() closes the HTTP session the source opened for `url`, and with it the connection."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with FakeApi(keep_alive=True) as api:
        api.route("/gacc/export_201901.csv", Reply(200, EXPORTS.read_bytes()))
        source = GaccSource(
            "gacc", {"path": str(inbox), "url": api.url + "/gacc/export_201901.csv"}
        )
        source.fetch()
        assert api.open_connections == 1
        source.close()
        assert api.wait_all_closed()


# -- encodings, 人民币, "?" second units: real downloads of both platforms --------------------

ENGLISH_GB18030 = FIXTURES / "gacc" / "chinautils_english_full_trimmed.csv"
CHINESE_CNY = FIXTURES / "gacc" / "chinautils_chinese_full_trimmed.csv"
CEUTA = FIXTURES / "gacc" / "e210201810.csv"
BOTSWANA = FIXTURES / "gacc" / "i20420186.csv"


def _at(frame: pd.DataFrame, period: str, commodity: str, partner: str, measure: str) -> float:
    row = frame.query(
        "period == @period and commodity == @commodity and partner == @partner "
        "and measure == @measure"
    )
    assert len(row) == 1
    return float(row["value"].iloc[0])


def test_gb18030_english_download_is_detected_and_read():
    """The newer English download is GB18030 (full-width comma in 'Hong Kong，China')."""
    parsed = parse(ENGLISH_GB18030.name, ENGLISH_GB18030.read_bytes(), flow="export")
    assert parsed.encoding == "gb18030"
    assert _at(parsed.rows, "2026-01", "29012920", "HK", "value_usd") == 315_286


def test_locations_of_importers_are_summed_like_regimes():
    """29012990 to the US, Jan 2026: seven rows (one per province) sum to one total."""
    rows = parse(ENGLISH_GB18030.name, ENGLISH_GB18030.read_bytes(), flow="export").rows
    assert _at(rows, "2026-01", "29012990", "US", "net_weight_kg") == 4 + 150_000 + 225_917 + (
        999_403 + 1_758_391 + 471_205 + 455_838
    )
    assert _at(rows, "2026-01", "29012990", "US", "value_usd") == 31 + 181_000 + 312_869 + (
        1_099_343 + 2_122_403 + 568_584 + 527_113
    )


def test_question_mark_second_unit_with_zero_is_no_quantity():
    """'0' in unit '?' is no supplementary quantity: no row, and no unit '?' anywhere."""
    rows = parse(ENGLISH_GB18030.name, ENGLISH_GB18030.read_bytes(), flow="export").rows
    assert "supplementary_quantity" not in set(rows.measure)
    assert "?" not in set(rows.unit)
    assert set(rows.measure) == {"net_weight_kg", "value_usd"}


def test_nonzero_quantity_without_unit_is_a_located_error():
    """A supplementary quantity of 12 in unit '?' cannot be stored: the line is named."""
    lines = ENGLISH_GB18030.read_bytes().decode("gb18030").splitlines()
    lines[3] = lines[3].replace('"0","?"', '"12","?"', 1)
    data = "\n".join(lines).encode("gb18030")
    with pytest.raises(GaccFormatError, match=r"Supplimentary Quantity '12' has no unit") as info:
        parse("x.csv", data, flow="export")
    assert info.value.line == 4


def test_taiwan_is_tw():
    """GACC 143 (中国台湾 / 'Taiwan，China') is TW, the policy of every source."""
    rows = parse(ENGLISH_GB18030.name, ENGLISH_GB18030.read_bytes(), flow="export").rows
    assert _at(rows, "2026-02", "29012920", "TW", "net_weight_kg") == 576 + 1537


def test_rmb_download_is_a_cny_value_never_converted():
    """The Chinese platform's 人民币 column becomes value_cny in CNY, summed, no value_usd."""
    parsed = parse("出口2023年1月.csv", CHINESE_CNY.read_bytes(), flow="export")
    rows = parsed.rows
    assert parsed.encoding == "gb18030"
    assert "value_usd" not in set(rows.measure)
    assert set(rows[rows.measure == "value_cny"].unit) == {"CNY"}
    assert _at(rows, "2023-01", "29012920", "TW", "value_cny") == 387_003 + 132_000 + (
        5_432_631 + 1_026_226
    )
    assert _at(rows, "2023-01", "29012920", "TW", "net_weight_kg") == 576 + 4800 + 4034 + 800


def test_file_without_month_and_no_month_in_its_name_is_refused():
    """No 数据年月 column and no month in the file name: refused, saying how to name it."""
    with pytest.raises(GaccFormatError, match=r"no month column.*export_202501\.csv"):
        parse(CHINESE_CNY.name, CHINESE_CNY.read_bytes(), flow="export")


def test_month_is_read_from_common_file_names():
    """export_202501.csv, 出口2025年1月.csv and gacc-2025-01.xlsx carry January 2025."""
    from monitor.sources._gacc_parse import month_from_name

    names = ["export_202501.csv", "出口2025年1月.csv", "gacc-2025-01.xlsx", "202501_02.csv"]
    assert [month_from_name(n) for n in names] == ["2025-01", "2025-01", "2025-01", "2025-01"]
    assert month_from_name("export_202501_vs_202412.csv") is None


def test_undecodable_byte_is_reported_with_line_and_column():
    """A byte neither UTF-8 nor GB18030 reads is reported with its line and column."""
    data = bytearray(CEUTA.read_bytes())
    at = data.index(b"Combs")  # line 3
    data[at + 2] = 0xFF
    with pytest.raises(GaccFormatError, match=r"line 3, column \d+: .*not gb18030") as info:
        parse("e.csv", bytes(data), flow="export")
    assert info.value.line == 3
    assert info.value.column == len(data[: at + 2].decode().split("\n")[-1]) + 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "gb18030"])
def test_utf16_and_bom_variants_read_the_same(encoding):
    """The real Ceuta download re-encoded as UTF-16 (with/without BOM) or UTF-8 BOM reads alike."""
    text = CEUTA.read_text(encoding="utf-8")
    expected = parse(CEUTA.name, text.encode("utf-8"), flow="export").rows
    rows = parse(CEUTA.name, text.encode(encoding), flow="export").rows
    pd.testing.assert_frame_equal(rows, expected)


def test_dash_second_unit_and_supplementary_kilograms():
    """Ceuta Oct 2018: 8000 items with 790 kg supplementary; '0','-' gives no quantity."""
    rows = parse(CEUTA.name, CEUTA.read_bytes(), flow="export").rows
    assert _at(rows, "2018-10", "62121090", "EA", "net_weight_kg") == 790
    assert _at(rows, "2018-10", "62121090", "EA", "quantity") == 8000
    assert _at(rows, "2018-10", "96151100", "EA", "net_weight_kg") == 363
    assert set(rows.measure) == {"net_weight_kg", "quantity", "value_usd"}


def test_carats_stay_a_quantity_in_carats():
    """Botswana diamonds in carats are a quantity in 'Carat', never a weight."""
    rows = parse(BOTSWANA.name, BOTSWANA.read_bytes(), flow="import").rows
    diamonds = rows[rows.commodity == "71023100"].set_index("measure")
    assert diamonds.loc["quantity", "unit"] == "Carat" and diamonds.loc["quantity", "value"] == 891
    assert "net_weight_kg" not in diamonds.index


def test_grams_become_kilograms_of_net_weight(exports):
    """A first unit of 'Gram' is a weight: stored as net_weight_kg, divided by 1000."""
    raw = pd.read_csv(EXPORTS, dtype=str, keep_default_na=False)
    grams = raw[raw["Unit"] == "Gram"]
    code = grams["Commodity code"].iloc[0]
    expected = sum(
        float(v.replace(",", "")) for v in grams[grams["Commodity code"] == code]["Quantity"]
    )
    assert _at(exports, "2019-01", code, "US", "net_weight_kg") == pytest.approx(expected / 1000)
    assert not ((exports.commodity == code) & (exports.measure == "quantity")).any()


def test_a_copy_that_fails_half_way_leaves_no_part_behind(tmp_path):
    """A rejected file written into rejected/ (as the copy where hard links are impossible)
    when the disk fills: the error is raised, the part written is removed, the dropped file
    stays where the user put it."""
    import subprocess
    import sys
    import textwrap

    dropped = tmp_path / "exports.csv"
    dropped.write_bytes(b"x" * 100_000)
    (tmp_path / "rejected").mkdir()
    # The file-size limit makes the write fail after 10 kB, as a full disk would (EFBIG).
    script = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from monitor.sources.gacc import _create_no_replace
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.RLIM_INFINITY))
        try:
            _create_no_replace(Path({str(tmp_path / "rejected")!r}), "exports.csv",
                               Path({str(dropped)!r}).read_bytes())
        except OSError as exc:
            print("raised", exc.errno)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip().startswith("raised"), done.stderr
    assert list((tmp_path / "rejected").iterdir()) == []
    assert dropped.read_bytes() == b"x" * 100_000
