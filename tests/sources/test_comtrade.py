"""UN Comtrade against a local fake API speaking its real JSON envelope and faults."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.clock import ManualClock
from monitor.errors import SourceError
from monitor.http import make_session
from monitor.sources.comtrade import MISSING_WEIGHT, ComtradeSource
from tests.sources.fakeapi import (
    FIXTURES,
    FakeApi,
    Reply,
    comtrade_da,
    comtrade_envelope,
    comtrade_record,
    comtrade_template,
)

KEY = "s3cr3t-subscription-key"
GET = "/data/v1/get/C/M/HS"
DA = "/data/v1/getDa/C/M/HS"
NOW = datetime(2025, 8, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def _source(api: FakeApi, cursor=None, **options) -> ComtradeSource:
    opts = {
        "key": KEY,
        "reporter": 156,
        "commodity": "850511",
        "partner": "0,842",
        "months": 2,
        "base_url": api.url,
        "rate_limit": 0,
        "max_wait": 5,
        **options,
    }
    return ComtradeSource(
        "comtrade", opts, clock=ManualClock(NOW), cursor=cursor, session=make_session(retries=0)
    )


def _july() -> list[dict]:
    return [
        comtrade_record("202507", "W00", 0, value=1.5e8, net_kg=5.6e6),
        comtrade_record("202507", "USA", 842, value=2.0e7, net_kg=6.0e5),
    ]


def test_get_maps_records_to_canonical_rows(api):
    """World and US records become CN->WORLD/US export rows in kg and USD."""
    api.route(DA, Reply(body=comtrade_da({"202507": "abc"})))
    api.route(GET, Reply(body=comtrade_envelope(_july())))
    obs = _source(api).fetch().observations
    us = obs[(obs.partner == "US") & (obs.measure == "net_weight_kg")]
    assert us["value"].tolist() == [6.0e5]
    assert set(obs.partner) == {"WORLD", "US"} and set(obs.reporter) == {"CN"}
    assert set(obs.period) == {"2025-07"} and set(obs.flow) == {"export"}


def test_key_sent_as_header_and_totals_requested(api):
    """The key goes in Ocp-Apim-Subscription-Key; the query asks for C00 / motCode 0 totals."""
    api.route(DA, Reply(body=comtrade_da({"202507": "abc"})))
    api.route(GET, Reply(body=comtrade_envelope(_july())))
    _source(api).fetch()
    call = api.calls(GET)[0]
    assert call.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert (call.query["customsCode"], call.query["motCode"], call.query["partner2Code"]) == (
        "C00",
        "0",
        "0",
    )
    assert KEY not in str(call.query)


def test_non_total_records_are_dropped(api):
    """Records by customs procedure, transport mode or second partner are not totals."""
    rows = [
        *_july(),
        comtrade_record("202507", "USA", 842, value=1.0, net_kg=1.0, customsCode="C01"),
        comtrade_record("202507", "USA", 842, value=1.0, net_kg=1.0, motCode=2100),
    ]
    api.route(DA, Reply(body=comtrade_da({"202507": "abc"})))
    api.route(GET, Reply(body=comtrade_envelope(rows)))
    obs = _source(api).fetch().observations
    assert obs[(obs.partner == "US") & (obs.measure == "value_usd")]["value"].tolist() == [2.0e7]


def test_unchanged_checksums_cost_one_call(api):
    """Same datasetChecksum as the cursor: unchanged, and only getDa was called."""
    api.route(DA, Reply(body=comtrade_da({"202506": "a", "202507": "b"})))
    result = _source(api, cursor={"checksums": {"202506": "a", "202507": "b"}}).fetch()
    assert result.unchanged and result.observations.empty
    assert len(api.seen) == 1 and api.seen[0].path == DA


def test_revised_month_fetches_only_that_period(api):
    """A changed checksum for June (a revision) downloads June only."""
    api.route(DA, Reply(body=comtrade_da({"202506": "a2", "202507": "b"})))
    api.route(
        GET,
        Reply(
            body=comtrade_envelope(
                [comtrade_record("202506", "USA", 842, value=3.0e7, net_kg=7.0e5)]
            )
        ),
    )
    result = _source(api, cursor={"checksums": {"202506": "a", "202507": "b"}}).fetch()
    assert api.calls(GET)[0].query["period"] == "202506"
    assert result.cursor["checksums"] == {"202506": "a2", "202507": "b"}
    assert set(result.observations.period) == {"2025-06"}


def test_record_limit_splits_per_period(api):
    """count == maxRecords over two periods: the query is split into one call per period."""

    def serve(seen):
        periods = seen.query["period"].split(",")
        if len(periods) > 1:
            return Reply(body=comtrade_envelope(_july()[:1], count=2))
        return Reply(
            body=comtrade_envelope([comtrade_record(periods[0], "W00", 0, value=1.0, net_kg=2.0)])
        )

    api.route(DA, Reply(body=comtrade_da({"202506": "a", "202507": "b"})))
    api.route(GET, serve)
    obs = _source(api, max_records=2).fetch().observations
    assert [c.query["period"] for c in api.calls(GET)] == ["202506,202507", "202506", "202507"]
    assert sorted(set(obs.period)) == ["2025-06", "2025-07"]


def test_record_limit_on_one_period_fails_loudly(api):
    """A single period at the limit is an error, never a silently truncated result."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    api.route(GET, Reply(body=comtrade_envelope(_july(), count=2)))
    with pytest.raises(SourceError, match="record limit 2 reached for period 202507") as info:
        _source(api, max_records=2, months=1).fetch()
    assert not info.value.retryable


def test_preview_without_key_uses_public_endpoints(api):
    """No key: getDA and preview under /public/v1, no key header, limit 500."""
    api.route("/public/v1/getDA/C/M/HS", Reply(body=comtrade_da({"202507": "b"})))
    api.route("/public/v1/preview/C/M/HS", Reply(body=comtrade_envelope(_july())))
    result = _source(api, key=None, months=1).fetch()
    call = api.calls("/public/v1/preview/C/M/HS")[0]
    assert "Ocp-Apim-Subscription-Key" not in call.headers
    assert call.query["maxRecords"] == "500"
    assert len(result.observations) == 4


def test_429_retry_after_is_waited_for_then_succeeds(api):
    """429 with a short Retry-After: the fetch waits that long (on its clock) and retries."""
    api.route(
        DA,
        Reply(429, "Rate limit is exceeded", {"Retry-After": "3"}),
        Reply(body=comtrade_da({"202507": "b"})),
    )
    api.route(GET, Reply(body=comtrade_envelope(_july())))
    source = _source(api, months=1)
    source.fetch()
    assert source.clock.now() - NOW >= __import__("datetime").timedelta(seconds=3)
    assert len(api.calls(DA)) == 2


def test_long_retry_after_becomes_the_error_retry_after(api):
    """403 with a Retry-After beyond max_wait: SourceError carrying retry_after, no key shown."""
    api.route(DA, Reply(403, "Out of call volume quota", {"Retry-After": "3600"}))
    with pytest.raises(SourceError) as info:
        _source(api).fetch()
    assert info.value.retry_after == 3600
    assert KEY not in str(info.value)


def test_rate_limit_spaces_requests(api):
    """With rate_limit 6 s, the second request waits 6 s on the source's clock."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    api.route(GET, Reply(body=comtrade_envelope(_july())))
    source = _source(api, rate_limit=6, months=1)
    source.fetch()
    assert (source.clock.now() - NOW).total_seconds() == 6


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(500, "Internal Server Error"), "HTTP 500"),
        (
            Reply(200, "<html><body>Maintenance</body></html>", {"Content-Type": "text/html"}),
            "HTML",
        ),
        (Reply(200, comtrade_envelope([comtrade_template()]), truncate=300), "malformed JSON"),
        (Reply(200, {"elapsedTime": "0", "count": 1, "data": "oops", "error": ""}), "not a list"),
    ],
)
def test_faults_are_located_source_errors(api, reply, message):
    """500, HTML, truncated JSON and wrong shapes are SourceErrors naming the URL."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    api.route(GET, reply)
    with pytest.raises(SourceError, match=message) as info:
        _source(api, months=1).fetch()
    assert info.value.url.startswith(api.url + GET)


def test_wrong_field_type_is_a_source_error(api):
    """A primaryValue that is a string is rejected, not coerced."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    api.route(
        GET,
        Reply(
            body=comtrade_envelope([comtrade_record("202507", "USA", 842, value="12", net_kg=1.0)])
        ),
    )
    with pytest.raises(SourceError, match="expected a number"):
        _source(api, months=1).fetch()


def test_timeout_is_a_retryable_source_error(api):
    """A server slower than the read timeout gives a retryable SourceError."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"}), delay=1.0))
    with pytest.raises(SourceError, match="timed out") as info:
        _source(api, timeout=0.2).fetch()
    assert info.value.retryable


def test_annual_rows_land_on_december_with_annual_measures(api):
    """The real annual sample (2010) maps to 2010-12 with *_annual measures."""
    import json

    from tests.sources.fakeapi import COMTRADE_SAMPLE

    api.route("/data/v1/getDa/C/A/HS", Reply(body=comtrade_da({"2010": "x"})))
    api.route("/data/v1/get/C/A/HS", Reply(body=json.loads(COMTRADE_SAMPLE.read_text())))
    # What the recorded request asked (see the fixture's provenance).
    result = _source(
        api,
        frequency="A",
        years=1,
        commodity="TOTAL",
        partner="32,280,276",
        flow="M,X,RM,RX",
    ).fetch_range("2010-01", "2010-12")
    obs = result.observations
    assert set(obs.period) == {"2010-12"} and set(obs.measure) == {"value_usd_annual"}
    de = obs[(obs.partner == "DE") & (obs.flow == "import")]
    sample = json.loads(COMTRADE_SAMPLE.read_text())["data"]
    expected = [
        r["primaryValue"] for r in sample if r["partnerISO"] == "DEU" and r["flowCode"] == "M"
    ]
    assert de["value"].tolist() == expected


def test_fetch_range_requests_twelve_periods_per_call(api):
    """Backfill of 14 months asks in chunks of at most 12 periods."""
    api.route(GET, Reply(body=comtrade_envelope([])))
    _source(api).fetch_range("2024-01", "2025-02")
    assert [len(c.query["period"].split(",")) for c in api.calls(GET)] == [12, 2]


def test_key_file_relative_to_config_folder(api, tmp_path):
    """`key_file` is read (first line) relative to the configuration folder."""
    (tmp_path / "comtrade.key").write_text(KEY + "\n", encoding="utf-8")
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    api.route(GET, Reply(body=comtrade_envelope(_july())))
    source = ComtradeSource(
        "comtrade",
        {
            "key_file": "comtrade.key",
            "reporter": 156,
            "commodity": "850511",
            "base_url": api.url,
            "rate_limit": 0,
            "months": 1,
        },
        clock=ManualClock(NOW),
        base_dir=str(tmp_path),
        session=make_session(retries=0),
    )
    source.fetch()
    assert api.calls(GET)[0].headers["Ocp-Apim-Subscription-Key"] == KEY


def test_missing_key_file_fails_the_fetch_not_the_construction(api, tmp_path):
    """A missing key_file is a non-retryable SourceError when fetching."""
    source = ComtradeSource(
        "comtrade",
        {"key_file": "nope.key", "reporter": 156, "commodity": "850511", "base_url": api.url},
        base_dir=str(tmp_path),
    )
    with pytest.raises(SourceError, match="cannot read key_file") as info:
        source.fetch()
    assert not info.value.retryable
    source.close()


# -- recorded real responses and what comes back against what was asked ---------------------

PREVIEW_2023 = FIXTURES / "comtrade" / "comtrade_preview_C_A_HS_reporter842_partner392_2023.json"


def _preview_2023(api: FakeApi) -> ComtradeSource:
    """The request the recorded preview answered: USA-Japan, TOTAL, M and X, 2023."""
    api.route("/public/v1/preview/C/A/HS", Reply(body=PREVIEW_2023.read_bytes()))
    return _source(
        api,
        key=None,
        frequency="A",
        reporter=842,
        partner=392,
        commodity="TOTAL",
        flow="M,X",
    )


def test_real_zero_weight_without_unit_is_missing_not_zero_kg(api):
    """Recorded preview: netWgt 0, qtyUnitCode -1, isNetWgtEstimated: no weight row at all."""
    result = _preview_2023(api).fetch_range("2023-01", "2023-12")
    obs = result.observations
    assert not obs.measure.str.startswith("net_weight").any()
    assert result.rejected == {MISSING_WEIGHT: 2}


def test_real_preview_values_are_kept(api):
    """The same records' primaryValue is stored: imports 151,580,564,290 USD, exports 76,154,..."""
    obs = _preview_2023(api).fetch_range("2023-01", "2023-12").observations
    values = obs.set_index("flow")["value"].to_dict()
    assert values == {"import": 151_580_564_290.0, "export": 76_154_045_176.0}
    assert set(obs.measure) == {"value_usd_annual"} and set(obs.unit) == {"USD"}
    assert set(obs.reporter) == {"US"} and set(obs.partner) == {"JP"}


def test_reported_zero_kilograms_stay_zero(api):
    """netWgt 0 in kg (qtyUnitCode 8), not estimated, is a published 0 kg and is kept."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    rec = comtrade_record("202507", "USA", 842, value=10.0, net_kg=0.0, isNetWgtEstimated=False)
    api.route(GET, Reply(body=comtrade_envelope([rec])))
    obs = _source(api, months=1).fetch().observations
    assert obs.query("measure == 'net_weight_kg'")["value"].tolist() == [0.0]


def test_other_asia_nes_is_taiwan(api):
    """Comtrade's 'Other Asia, nes' (490, S19) is Taiwan: stored as TW like every source."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    rec = comtrade_record(
        "202507", "S19", 490, value=5.0e6, net_kg=1.0e5, partnerDesc="Other Asia, nes"
    )
    api.route(GET, Reply(body=comtrade_envelope([rec])))
    result = _source(api, months=1, partner="490").fetch()
    assert set(result.observations.partner) == {"TW"} and not result.rejected


@pytest.mark.parametrize(
    ("override", "field", "value"),
    [
        ({"period": "202506"}, "period", "202506"),
        ({"reporterCode": 842, "reporterISO": "USA"}, "reporterCode", "842"),
        ({"cmdCode": "850520"}, "cmdCode", "850520"),
        ({"partnerCode": 276, "partnerISO": "DEU"}, "partnerCode", "276"),
        ({"flowCode": "RX"}, "flowCode", "RX"),
    ],
)
def test_records_not_asked_for_are_refused(api, override, field, value):
    """A record for another period, reporter, commodity, partner or flow refuses the answer."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    fields = dict(override)
    period = fields.pop("period", "202507")
    rec = comtrade_record(period, "USA", 842, value=1.0, net_kg=1.0, **fields)
    api.route(GET, Reply(body=comtrade_envelope([*_july(), rec])))
    with pytest.raises(SourceError, match=f"record 3 of 3 was not asked for: {field} '{value}'"):
        _source(api, months=1).fetch()


def test_dropped_non_totals_are_reported(api):
    """Records that are not totals are counted under their reason, not dropped silently."""
    rows = [*_july(), comtrade_record("202507", "USA", 842, value=1.0, net_kg=1.0, motCode=2100)]
    api.route(DA, Reply(body=comtrade_da({"202507": "abc"})))
    api.route(GET, Reply(body=comtrade_envelope(rows)))
    rejected = _source(api).fetch().rejected
    assert list(rejected.values()) == [1] and "not totals" in next(iter(rejected))


def test_availability_of_periods_not_asked_about_is_ignored(api):
    """A getDa mark for a month outside the watched window never enters the cursor."""
    api.route(DA, Reply(body=comtrade_da({"202507": "b", "201901": "old"})))
    api.route(GET, Reply(body=comtrade_envelope(_july())))
    result = _source(api, months=1).fetch()
    assert result.cursor["checksums"] == {"202507": "b"}


def test_records_of_areas_without_iso_code_are_counted_per_record(api):
    """Three records of Comtrade areas without an ISO code count as three rejected records."""
    areas = [
        comtrade_record("202507", "_X", 899, value=4.0e6, net_kg=2.0e4, partnerDesc="Areas, nes"),
        comtrade_record(
            "202507", "_X", 899, flow="M", value=1.0e6, net_kg=5.0e3, partnerDesc="Areas, nes"
        ),
        comtrade_record(
            "202507", "E19", 568, value=3.0e5, net_kg=1.0e3, partnerDesc="Other Europe, nes"
        ),
    ]
    api.route(DA, Reply(body=comtrade_da({"202507": "b"})))
    api.route(GET, Reply(body=comtrade_envelope([*_july(), *areas])))
    result = _source(api, months=1, partner="0,842,899,568").fetch()
    assert result.rejected == {"records for areas without an ISO code (E19, _X)": 3}
    assert set(result.observations.partner) == {"WORLD", "US"}


def test_annual_fetch_range_asks_for_the_years_whose_december_it_holds(api):
    """Annual figures are stored at December: 2010-06..2012-05 asks for 2010 and 2011 only."""
    api.route("/data/v1/get/C/A/HS", Reply(body=comtrade_envelope([])))
    _source(api, frequency="A").fetch_range("2010-06", "2012-05")
    assert [c.query["period"] for c in api.calls("/data/v1/get/C/A/HS")] == ["2010,2011"]
