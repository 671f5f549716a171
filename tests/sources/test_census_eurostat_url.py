"""Census, Eurostat and the canonical-URL source against the local fake API."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from monitor.clock import ManualClock
from monitor.errors import SourceError
from monitor.http import make_session
from monitor.sources.census import CensusSource, country_table
from monitor.sources.eurostat import EurostatSource
from monitor.sources.url import UrlSource
from tests.sources.fakeapi import FIXTURES, FakeApi, Reply, census_body, eurostat_csv

NOW = datetime(2025, 8, 20, 3, 0, tzinfo=UTC)
IMPORTS = "/intltrade/imports/hs"
HEADER = ["CTY_CODE", "CTY_NAME", "GEN_VAL_MO", "GEN_QY1_MO", "UNIT_QY1", "I_COMMODITY", "time"]
ESTAT = "/DS-045409/M.DE.CN.85051110.1+2.QUANTITY_IN_100KG+VALUE_IN_EUROS"


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def _census(api: FakeApi, cursor=None, **options) -> CensusSource:
    opts = {
        "endpoint": "imports",
        "commodity": "8505110070",
        "key": "census-key-123",
        "base_url": api.url + "/intltrade",
        "rate_limit": 0,
        "months": 2,
        **options,
    }
    return CensusSource(
        "census", opts, clock=ManualClock(NOW), cursor=cursor, session=make_session(retries=0)
    )


def _row(code: str, name: str, value: str, qty: str, month: str = "2025-07") -> dict:
    return {
        "CTY_CODE": code,
        "CTY_NAME": name,
        "GEN_VAL_MO": value,
        "GEN_QY1_MO": qty,
        "UNIT_QY1": "KG",
        "I_COMMODITY": "8505110070",
        "time": month,
    }


ROWS = [
    _row("5700", "CHINA", "61234567", "1234567"),
    _row("-", "TOTAL FOR ALL COUNTRIES", "90000000", "2000000"),
    _row("0003", "EUROPEAN UNION", "1000", "10"),
    _row("5880", "JAPAN", "5000000", "90000"),
]


def test_census_strings_become_canonical_rows(api):
    """String cells become numbers; 5700 -> CN, '-' -> WORLD, groupings dropped."""
    api.route(IMPORTS, Reply(body=census_body(ROWS, HEADER)))
    obs = _census(api).fetch().observations
    assert set(obs.partner) == {"CN", "WORLD", "JP"}
    cn = obs[(obs.partner == "CN")].set_index("measure")["value"]
    assert cn["value_usd"] == 61234567 and cn["net_weight_kg"] == 1234567
    assert set(obs.reporter) == {"US"} and set(obs.flow) == {"import"}


def test_census_query_names_commodity_level_and_range(api):
    """The query asks the HS10 code for the last months, with the key as a parameter."""
    api.route(IMPORTS, Reply(body=census_body(ROWS, HEADER)))
    _census(api).fetch()
    q = api.seen[0].query
    assert (q["I_COMMODITY"], q["COMM_LVL"], q["time"]) == (
        "8505110070",
        "HS10",
        "from 2025-06 to 2025-07",
    )


def test_census_204_is_no_data_not_an_error(api):
    """HTTP 204 with an empty body: no observations and no error."""
    api.route(IMPORTS, Reply(204))
    result = _census(api).fetch()
    assert result.observations.empty and not result.unchanged


def test_census_same_body_is_unchanged(api):
    """A body identical to the last poll's (checksum in the cursor) is unchanged."""
    api.route(IMPORTS, Reply(body=census_body(ROWS, HEADER)))
    first = _census(api).fetch()
    second = _census(api, cursor=first.cursor).fetch()
    assert second.unchanged and second.observations.empty


def test_census_revised_month_is_returned(api):
    """A changed figure for a month already seen comes back (the store records a revision)."""
    api.route(IMPORTS, Reply(body=census_body(ROWS, HEADER)))
    first = _census(api).fetch()
    revised = [_row("5700", "CHINA", "61300000", "1234567"), *ROWS[1:]]
    api.route(IMPORTS, Reply(body=census_body(revised, HEADER)))
    second = _census(api, cursor=first.cursor).fetch()
    cn = second.observations.query("partner == 'CN' and measure == 'value_usd'")
    assert cn["value"].tolist() == [61300000]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(500, "error"), "HTTP 500"),
        (
            Reply(200, "<html><body>Invalid Key</body></html>", {"Content-Type": "text/html"}),
            "HTML",
        ),
        (Reply(200, census_body(ROWS, HEADER), truncate=60), "malformed JSON"),
        (Reply(200, [["CTY_CODE", "time"], ["5700", "2025-07"]]), "missing column"),
        (
            Reply(200, [HEADER, ["5700", "CHINA", 12, "1", "KG", "8505110070", "2025-07"]]),
            "string cells",
        ),
    ],
)
def test_census_faults_name_source_and_hide_key(api, reply, message):
    """Faults are SourceErrors naming the URL, with the key masked."""
    api.route(IMPORTS, reply)
    with pytest.raises(SourceError, match=message) as info:
        _census(api).fetch()
    assert "census-key-123" not in str(info.value) and "key=%2A%2A%2A" in str(info.value)


def test_census_country_table_has_china_and_canada():
    """Schedule C: China 5700, Canada 1220, Mexico 2010, Japan 5880, Germany 4280."""
    table = country_table()
    assert [table[c] for c in ("5700", "1220", "2010", "5880", "4280")] == [
        "CN",
        "CA",
        "MX",
        "JP",
        "DE",
    ]


# -- Eurostat ---------------------------------------------------------------------------------


def _estat(api: FakeApi, cursor=None) -> EurostatSource:
    return EurostatSource(
        "eurostat",
        {
            "reporter": "DE",
            "partner": "CN",
            "product": "85051110",
            "base_url": api.url + "/DS-045409",
            "rate_limit": 0,
            "months": 3,
        },
        clock=ManualClock(NOW),
        cursor=cursor,
        session=make_session(retries=0),
    )


ESTAT_ROWS = [
    ("DE", "CN", "85051110", "1", "QUANTITY_IN_100KG", "2025-06", "4321"),
    ("DE", "CN", "85051110", "1", "VALUE_IN_EUROS", "2025-06", "98765432"),
]


def test_eurostat_100kg_becomes_kg(api):
    """QUANTITY_IN_100KG 4321 is 432,100 kg; VALUE_IN_EUROS is value_eur; flow 1 is import."""
    api.route(ESTAT, Reply(body=eurostat_csv(ESTAT_ROWS), headers={"ETag": '"e1"'}))
    obs = _estat(api).fetch().observations.set_index("measure")
    assert obs.loc["net_weight_kg", "value"] == 432_100
    assert obs.loc["value_eur", "value"] == 98_765_432
    assert set(obs.flow) == {"import"}
    assert api.seen[0].query == {"format": "SDMX-CSV", "startPeriod": "2025-05"}


def test_eurostat_304_with_etag_is_unchanged(api):
    """The second poll sends If-None-Match and a 304 means unchanged."""

    def serve(seen):
        if seen.headers.get("If-None-Match") == '"e1"':
            return Reply(304)
        return Reply(body=eurostat_csv(ESTAT_ROWS), headers={"ETag": '"e1"'})

    api.route(ESTAT, serve)
    first = _estat(api).fetch()
    second = _estat(api, cursor=first.cursor).fetch()
    assert second.unchanged and len(api.seen) == 2


def test_eurostat_missing_columns_is_an_error(api):
    """An SDMX-CSV without OBS_VALUE is refused with the column named."""
    api.route(ESTAT, Reply(body="DATAFLOW,freq,reporter\nx,M,DE\n"))
    with pytest.raises(SourceError, match="OBS_VALUE"):
        _estat(api).fetch()


# -- canonical URL ----------------------------------------------------------------------------

CANONICAL = (
    "period,reporter,partner,commodity,flow,measure,value,unit\n"
    "2025-07,CN,US,85051110,export,net_weight_t,619.6,t\n"
)


def _url(api: FakeApi, path: str, cursor=None) -> UrlSource:
    return UrlSource(
        "feed",
        {"url": api.url + path, "rate_limit": 0},
        cursor=cursor,
        session=make_session(retries=0),
    )


def test_url_csv_with_last_modified(api):
    """A canonical CSV ingests (tonnes to kg); the next poll sends If-Modified-Since -> 304."""
    stamp = "Wed, 20 Aug 2025 03:00:00 GMT"

    def serve(seen):
        if seen.headers.get("If-Modified-Since") == stamp:
            return Reply(304)
        return Reply(body=CANONICAL, headers={"Last-Modified": stamp})

    api.route("/feed.csv", serve)
    first = _url(api, "/feed.csv").fetch()
    assert first.observations["value"].tolist() == [619_600.0]
    assert first.observations["commodity"].tolist() == ["85051110"]
    assert _url(api, "/feed.csv", cursor=first.cursor).fetch().unchanged


def test_url_parquet(api):
    """A Parquet body is recognised by its magic bytes."""
    buf = io.BytesIO()
    pd.read_csv(io.StringIO(CANONICAL), dtype=str).to_parquet(buf)
    api.route("/feed", Reply(body=buf.getvalue()))
    assert len(_url(api, "/feed").fetch().observations) == 1


def test_url_bad_columns_is_a_source_error(api):
    """A CSV that is not the canonical layout names the missing columns."""
    api.route("/feed.csv", Reply(body="a,b\n1,2\n"))
    with pytest.raises(SourceError, match="missing column"):
        _url(api, "/feed.csv").fetch()


def test_census_countries_are_repeated_predicates(api):
    """`countries: [5700, '-']` is sent as CTY_CODE=5700&CTY_CODE=- (the API's OR)."""
    api.route(IMPORTS, Reply(body=census_body(ROWS[:2], HEADER)))
    _census(api, countries=["5700", "-"]).fetch()
    assert api.seen[0].raw_query.count("CTY_CODE=") == 2


def test_census_prefix_asks_ten_digit_lines_and_tolerates_repeated_columns(api):
    """`850511*` asks COMM_LVL=HS10; a predicate column returned twice is read once."""
    header = [*HEADER, "I_COMMODITY"]
    rows = [{**r, "I_COMMODITY": r["I_COMMODITY"]} for r in ROWS[:2]]
    body = [header] + [[r[h] for h in HEADER] + [r["I_COMMODITY"]] for r in rows]
    api.route(IMPORTS, Reply(body=body))
    obs = _census(api, commodity="850511*").fetch().observations
    assert api.seen[0].query["COMM_LVL"] == "HS10"
    assert set(obs.commodity) == {"8505110070"} and set(obs.partner) == {"CN", "WORLD"}


def test_census_key_echoed_by_server_is_scrubbed(api):
    """A server error text that echoes the key never shows it."""
    api.route(IMPORTS, Reply(400, "error: invalid key census-key-123"))
    with pytest.raises(SourceError, match="invalid key") as info:
        _census(api).fetch()
    assert "census-key-123" not in str(info.value)


# -- Census: what comes back against what was asked, units ------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time": "2025-05"}, "row 3 was not asked for: time '2025-05' (asked: 2025-06..2025-07)"),
        (
            {"I_COMMODITY": "8505110050"},
            "row 3 was not asked for: I_COMMODITY '8505110050' (asked: 8505110070)",
        ),
    ],
)
def test_census_rows_not_asked_for_are_refused(api, change, message):
    """A row for a month or commodity that was not requested refuses the whole answer."""
    rows = [ROWS[0], {**ROWS[1], **change}]
    api.route(IMPORTS, Reply(body=census_body(rows, HEADER)))
    with pytest.raises(SourceError, match=re.escape(message)):
        _census(api).fetch()


def test_census_country_not_asked_for_is_refused(api):
    """With `countries: [5700]`, a row for Japan (5880) is refused with its row number."""
    api.route(IMPORTS, Reply(body=census_body([ROWS[0], ROWS[3]], HEADER)))
    with pytest.raises(SourceError, match=re.escape("row 3 was not asked for: CTY_CODE '5880'")):
        _census(api, countries=["5700"]).fetch()


def test_census_taiwan_is_tw():
    """Schedule C 5830 (Taiwan) maps to TW, the same policy as GACC and Comtrade."""
    assert country_table()["5830"] == "TW"


def test_census_tonnes_become_kilograms_and_other_units_stay_quantities(api):
    """UNIT_QY1 'T' is net weight x1000 in kg; 'NO' (number) is a quantity in 'NO'."""
    rows = [
        {**ROWS[0], "UNIT_QY1": "T", "GEN_QY1_MO": "12"},
        {**ROWS[3], "UNIT_QY1": "NO", "GEN_QY1_MO": "5000"},
    ]
    api.route(IMPORTS, Reply(body=census_body(rows, HEADER)))
    obs = _census(api).fetch().observations.set_index(["partner", "measure"])
    assert obs.loc[("CN", "net_weight_kg"), "value"] == 12_000
    assert obs.loc[("CN", "net_weight_kg"), "unit"] == "kg"
    assert obs.loc[("JP", "quantity"), "unit"] == "NO"
    assert ("JP", "net_weight_kg") not in obs.index


def test_census_dropped_groupings_are_counted(api):
    """The EU grouping row is not stored, and the result says so with its reason."""
    api.route(IMPORTS, Reply(body=census_body(ROWS, HEADER)))
    assert _census(api).fetch().rejected == {"rows for country groupings (EU, continents...)": 1}


# -- Eurostat on a real Comext download: trailing commas, labels, annual periods -------------

COMEXT = FIXTURES / "eurostat" / "comext_ds045409_AT_CN_32121000_trimmed.csv"
AT_CN = "/DS-045409/M.AT.CN.32121000.1+2.QUANTITY_IN_100KG+VALUE_IN_EUROS"


def _at_cn(api: FakeApi, body: str) -> EurostatSource:
    api.route(AT_CN, Reply(body=body))
    return EurostatSource(
        "eurostat",
        {
            "reporter": "AT",
            "partner": "CN",
            "product": "32121000",
            "base_url": api.url + "/DS-045409",
            "rate_limit": 0,
        },
        clock=ManualClock(NOW),
        session=make_session(retries=0),
    )


def _comext() -> str:
    return COMEXT.read_text(encoding="utf-8")


def _with_trailing_commas(text: str) -> str:
    header, *lines = text.splitlines()
    return "\n".join([header, *(line + "," for line in lines)]) + "\n"


def test_eurostat_real_comext_file_in_kg_and_eur(api):
    """Real AT<-CN rows: 124.02 x 100 kg is 12,402 kg; VALUE_IN_EUROS 83,289 EUR (Apr 2023)."""
    obs = _at_cn(api, _comext()).fetch_range("2023-01", "2023-07").observations
    april = obs.query("period == '2023-04' and flow == 'import'").set_index("measure")
    assert april.loc["net_weight_kg", "value"] == pytest.approx(12_402)
    assert april.loc["net_weight_kg", "unit"] == "kg"
    assert april.loc["value_eur", "value"] == 83_289 and april.loc["value_eur", "unit"] == "EUR"
    assert len(obs) == 18 and set(obs.flow) == {"import", "export"}


def test_eurostat_trailing_comma_on_every_line_reads_the_same(api):
    """Comext's trailing comma (11 fields under 10 names) gives the very same observations."""
    plain = _at_cn(api, _comext()).fetch_range("2023-01", "2023-07").observations
    trailing = _at_cn(api, _with_trailing_commas(_comext())).fetch_range("2023-01", "2023-07")
    pd.testing.assert_frame_equal(trailing.observations, plain)


def test_eurostat_label_form_reads_the_same(api):
    """IMPORT/EXPORT, 'Monthly' and long area labels read as their codes."""
    labelled = (
        _comext()
        .replace(",M,AT,CN,", ",Monthly,Austria,China (People's Republic of),")
        .replace(",1,QUANTITY", ",IMPORT,QUANTITY")
        .replace(",1,VALUE", ",IMPORT,VALUE")
        .replace(",2,QUANTITY", ",EXPORT,QUANTITY")
        .replace(",2,VALUE", ",EXPORT,VALUE")
    )
    plain = _at_cn(api, _comext()).fetch_range("2023-01", "2023-07").observations
    got = _at_cn(api, _with_trailing_commas(labelled)).fetch_range("2023-01", "2023-07")
    pd.testing.assert_frame_equal(got.observations, plain)


def test_eurostat_product_label_is_refused_precisely(api):
    """A product given as a label (no CN code) is refused, saying which line and what to do."""
    body = _comext().replace(",32121000,", ",Stamping foils,", 1)
    with pytest.raises(SourceError, match=r"line 2: product 'Stamping foils' is a label"):
        _at_cn(api, body).fetch_range("2023-01", "2023-07")


def test_eurostat_area_label_naming_no_country_is_refused(api):
    """An area label that names no single country is refused, never guessed."""
    body = _comext().replace(",M,AT,", ",M,Atlantis (incl. nothing),", 1)
    with pytest.raises(SourceError, match=r"line 2: area label 'Atlantis \(incl. nothing\)'"):
        _at_cn(api, body).fetch_range("2023-01", "2023-07")


def test_eurostat_annual_periods_land_on_december_as_annual_measures(api):
    """freq A, TIME_PERIOD 2023: stored at 2023-12 as net_weight_kg_annual (x100) in kg."""
    header = _comext().splitlines()[0]
    body = (
        f"{header}\n"
        "ESTAT:DS-045409(1.0),13/02/26 11:00:00,A,AT,CN,32121000,1,QUANTITY_IN_100KG,2023,12.5,\n"
        "ESTAT:DS-045409(1.0),13/02/26 11:00:00,A,AT,CN,32121000,1,VALUE_IN_EUROS,2023,4000,\n"
    )
    obs = _at_cn(api, body).fetch_range("2023-01", "2023-12").observations.set_index("measure")
    assert set(obs.period) == {"2023-12"}
    assert obs.loc["net_weight_kg_annual", "value"] == 1250
    assert obs.loc["net_weight_kg_annual", "unit"] == "kg"
    assert obs.loc["value_eur_annual", "unit"] == "EUR"


def test_eurostat_wrong_field_count_names_the_line(api):
    """A line with two fields too many is named, never read shifted."""
    lines = _comext().splitlines()
    lines[2] += ",x,y"
    with pytest.raises(SourceError, match="line 3: 12 fields for 10 header names"):
        _at_cn(api, "\n".join(lines)).fetch_range("2023-01", "2023-07")


def test_eurostat_partner_not_asked_for_is_refused(api):
    """A row for Japan when CN was asked is refused with its line."""
    body = _comext().replace(",M,AT,CN,", ",M,AT,JP,", 1)
    with pytest.raises(SourceError, match=r"line 2: partner 'JP' was not asked for \(asked: CN\)"):
        _at_cn(api, body).fetch_range("2023-01", "2023-07")


def test_eurostat_aggregates_and_empty_values_are_counted(api):
    """An EU27_2020 reporter row and an empty OBS_VALUE are not stored, each with its reason."""
    lines = _comext().splitlines()
    lines[1] = lines[1].replace(",M,AT,", ",M,EU27_2020,")
    lines[2] = lines[2].rsplit(",", 1)[0] + ","
    result = _at_cn(api, "\n".join(lines)).fetch_range("2023-01", "2023-07")
    assert result.rejected == {
        "rows for aggregate areas (EU, extra-EU, euro area...)": 1,
        "observations without a value (confidential or not published)": 1,
    }
    assert len(result.observations) == 16


def test_url_utf16_feed_reads(api):
    """A canonical CSV saved as UTF-16 (Excel's 'Unicode text') reads like UTF-8."""
    api.route("/feed.csv", Reply(body=CANONICAL.encode("utf-16")))
    assert _url(api, "/feed.csv").fetch().observations["value"].tolist() == [619_600.0]


def test_url_undecodable_byte_is_located(api):
    """A byte no candidate encoding reads is reported with line and column."""
    api.route("/feed.csv", Reply(body=CANONICAL.encode() + b"2025-08,CN,\xff\n"))
    with pytest.raises(SourceError, match=r"not utf-8 \(line 3, column 12: byte 0xff\)"):
        _url(api, "/feed.csv").fetch()
