"""Units end to end: every measure a connector emits has a unit, and no weight mixes units."""

from __future__ import annotations

import pandas as pd
import pytest

from monitor.clock import ManualClock
from monitor.http import make_session
from monitor.sources._common import canonical
from monitor.sources._gacc_parse import parse
from monitor.sources.comtrade import ComtradeSource
from monitor.sources.eurostat import EurostatSource
from monitor.sources.url import UrlSource
from tests.sources.fakeapi import COMTRADE_SAMPLE, FIXTURES, FakeApi, Reply
from tests.sources.test_census_eurostat_url import NOW

MAGNETS = FIXTURES.parents[1].parent / "monitor" / "data" / "china_rare_earth_magnet_exports.csv"
EXPORTS = FIXTURES / "gacc" / "china_exports_to_us_201901.csv"
COMEXT = FIXTURES / "eurostat" / "comext_ds045409_AT_CN_32121000_trimmed.csv"


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def _gacc() -> pd.DataFrame:
    return parse(EXPORTS.name, EXPORTS.read_bytes(), flow="export").rows


def _comtrade(api: FakeApi) -> pd.DataFrame:
    api.route("/data/v1/get/C/A/HS", Reply(body=COMTRADE_SAMPLE.read_bytes()))
    source = ComtradeSource(
        "ct",
        {
            "key": "k",
            "reporter": 156,
            "partner": "32,280,276",
            "commodity": "TOTAL",
            "flow": "M,X,RM,RX",
            "frequency": "A",
            "base_url": api.url,
            "rate_limit": 0,
        },
        session=make_session(retries=0),
    )
    return source.fetch_range("2010-01", "2010-12").observations


def _eurostat(api: FakeApi) -> pd.DataFrame:
    api.route(
        "/DS-045409/M.AT.CN.32121000.1+2.QUANTITY_IN_100KG+VALUE_IN_EUROS",
        Reply(body=COMEXT.read_bytes()),
    )
    source = EurostatSource(
        "es",
        {
            "reporter": "AT",
            "partner": "CN",
            "product": "32121000",
            "base_url": api.url + "/DS-045409",
        },
        clock=ManualClock(NOW),
        session=make_session(retries=0),
    )
    return source.fetch_range("2023-01", "2023-07").observations


def _url(api: FakeApi) -> pd.DataFrame:
    api.route("/magnets.csv", Reply(body=MAGNETS.read_bytes()))
    source = UrlSource("feed", {"url": api.url + "/magnets.csv"}, session=make_session(retries=0))
    return source.fetch().observations


def test_every_measure_of_the_real_gacc_file_has_its_unit():
    """GACC Jan 2019: weights in kg, values in USD, other quantities in their own units."""
    rows = _gacc()
    assert (rows.unit.str.strip() != "").all()
    units = rows.groupby("measure")["unit"].agg(lambda u: set(u))
    assert units["net_weight_kg"] == {"kg"} and units["value_usd"] == {"USD"}
    weights = {"Kilogram", "Gram", "kg", "千克"}
    assert not (units["quantity"] & weights) and not (units["supplementary_quantity"] & weights)


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (_comtrade, {"value_usd_annual": {"USD"}}),
        (_eurostat, {"net_weight_kg": {"kg"}, "value_eur": {"EUR"}}),
        (_url, {"net_weight_kg": {"kg"}}),
    ],
    ids=["comtrade", "eurostat", "url"],
)
def test_every_measure_of_real_payloads_has_its_unit(api, load, expected):
    """Recorded Comtrade, real Comext rows and the real magnets CSV: each measure, one unit."""
    obs = load(api)
    assert obs.groupby("measure")["unit"].agg(lambda u: set(u)).to_dict() == expected


def test_tonnes_of_the_real_magnets_file_become_kilograms(api):
    """The published magnets CSV is in tonnes: 447 t to the US in July 2019 is 447,000 kg."""
    obs = _url(api)
    july = obs.query("period == '2019-07' and partner == 'US'")
    assert july["value"].tolist() == [447_000.0] and july["unit"].tolist() == ["kg"]


def _frame(**row: str) -> pd.DataFrame:
    base = {
        "period": "2025-01",
        "reporter": "CN",
        "partner": "US",
        "commodity": "85051110",
        "flow": "export",
        "measure": "net_weight_kg",
        "value": "1",
        "unit": "kg",
    }
    return pd.DataFrame([{**base, **row}])


def test_a_weight_stated_in_another_unit_is_refused():
    """net_weight_kg stated in 't' would be relabelled kg by normalize: it is refused."""
    with pytest.raises(ValueError, match="measure net_weight_kg stated in unit 't', not 'kg'"):
        canonical(_frame(unit="t"), source="s")


def test_a_quantity_without_unit_is_refused():
    """A measure with no canonical unit must state one."""
    with pytest.raises(ValueError, match="measure quantity has no unit"):
        canonical(_frame(measure="quantity", unit=""), source="s")


def test_a_series_mixing_units_is_refused():
    """The same series in 'Pair' one month and 'Number of item' the next is refused."""
    frame = pd.concat(
        [
            _frame(measure="quantity", unit="Pair"),
            _frame(measure="quantity", unit="Number of item", period="2025-02"),
        ]
    )
    with pytest.raises(ValueError, match="mixes units Number of item, Pair"):
        canonical(frame, source="s")


def test_url_feed_stating_tonnes_as_kilograms_is_a_source_error(api):
    """A canonical feed whose net_weight_kg rows say 't' is refused with the source named."""
    from monitor.errors import SourceError

    body = "period,reporter,partner,commodity,flow,measure,value,unit\n"
    body += "2025-07,CN,US,85051110,export,net_weight_kg,619.6,t\n"
    api.route("/bad.csv", Reply(body=body))
    with pytest.raises(SourceError, match="stated in unit 't'"):
        UrlSource("feed", {"url": api.url + "/bad.csv"}, session=make_session(retries=0)).fetch()
