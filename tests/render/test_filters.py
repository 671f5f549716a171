"""The filters analysts read, checked against figures of the bundled real dataset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.render import filters
from tests.notify.realdata import magnets, value_of


@pytest.fixture(scope="module")
def frame():
    return magnets()


def test_tonnes_from_kilograms(frame) -> None:
    """Germany's July 2025 magnet exports (stored in kg) print as news quotes them."""
    assert filters.tonnes(value_of(frame, "DE", "2025-07")) == "1,116 t"


def test_tonnes_keeps_decimals_for_small_weights() -> None:
    """Under 10 t the value keeps two significant decimals instead of rounding to 0 t."""
    assert filters.tonnes(2_340.0) == "2.34 t"


def test_money_in_millions() -> None:
    """GACC's January 2019 85051110 value to the US (US$17,186,505) reads as US$17.2 million."""
    assert filters.money(17_186_505) == "US$17.2 million"


def test_money_below_a_million_in_full() -> None:
    """Smaller amounts are printed in full with thousands separators."""
    assert filters.money(342_673, "EUR") == "€342,673"


def test_quantity_picks_the_unit_filter(frame) -> None:
    """``quantity`` converts by unit: kg to tonnes, USD to US$."""
    assert filters.quantity(value_of(frame, "US", "2025-07"), "kg") == "619 t"
    assert filters.quantity(2.5e9, "USD") == "US$2.5 billion"


def test_pct_is_signed() -> None:
    """Percent changes always carry a sign: +75.5% and -12.0%."""
    assert filters.pct(75.53) == "+75.5%"
    assert filters.pct(-12) == "-12.0%"


def test_pp_is_signed_percentage_points() -> None:
    """Share shifts print in percentage points."""
    assert filters.pp(4.71) == "+4.7 pp"


def test_month_name_accepts_every_period_spelling() -> None:
    """YYYY-MM, YYYYMM and a date all give the same month name."""
    assert {filters.month_name(p) for p in ("2025-07", "202507", "2025-07-20")} == {"July 2025"}


def test_country_names_and_world() -> None:
    """ISO codes become names; WORLD reads as the world (or a given wording)."""
    assert filters.country("us") == "the United States"
    assert filters.country("WORLD") == "the world"
    assert filters.country("WORLD", world="all destinations") == "all destinations"
    assert filters.country_title("NL") == "The Netherlands"


def test_unknown_country_prints_its_code() -> None:
    """A code outside the table is shown as is rather than failing the message."""
    assert filters.country("QQ") == "QQ"


def test_missing_values_print_na() -> None:
    """A missing month never raises: every filter prints n/a."""
    for f in (filters.tonnes, filters.money, filters.pct, filters.pp, filters.month_name):
        assert f(None) == "n/a"
    assert filters.tonnes(math.nan) == "n/a"


def test_sparkline_shows_gaps(frame) -> None:
    """The US series has unpublished months; the sparkline shows them as gaps."""
    from tests.notify.realdata import history_of

    history = history_of(frame, "US", "2025-07", months=7)  # Jan..Jul 2025: Jan-Apr missing
    line = filters.sparkline(history)
    assert line[:4] == filters.SPARK_GAP * 4
    assert line[4:] == "▁▅█"  # 46 t, 353 t, 619 t


@given(st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12)), max_size=40))
def test_sparkline_one_character_per_month(values) -> None:
    """Whatever the values, one bar or gap per month, highest month gets the top bar."""
    line = filters.sparkline(values)
    assert len(line) == len(values)
    known = [v for v in values if v is not None]
    if known and max(known) != min(known):
        assert line[values.index(max(known))] == filters.SPARK_BARS[-1]


def test_mrkdwn_escapes_control_characters() -> None:
    """Slack's three control characters are escaped so text cannot become a link or mention."""
    assert (
        filters.mrkdwn("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "not a number"])
def test_every_filter_prints_na_for_values_that_are_not_finite_numbers(bad) -> None:
    """NaN, infinities and non-numbers never raise and never print 'inf' or 'nan'."""
    for name, f in filters.FILTERS.items():
        if name == "mrkdwn":
            continue
        text = f([bad]) if name == "sparkline" else f(bad)
        assert "inf" not in text.lower() and "nan" not in text.lower(), (name, text)
    for f in (filters.number, filters.tonnes, filters.money, filters.quantity, filters.pct):
        assert f(bad) == "n/a"


def test_sparkline_with_an_infinite_month_draws_it_as_a_gap() -> None:
    """An inf among real values (a poisoned row) is a gap, not a crash."""
    assert filters.sparkline([46_000.0, math.inf, 353_000.0, 619_000.0]) == "▁·▅█"


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=40))
def test_sparkline_never_raises(values) -> None:
    """Any floats at all, including NaN, inf and the extremes: one character per month."""
    assert len(filters.sparkline(values)) == len(values)


def test_decimals_are_bounded() -> None:
    """A template asking for a billion decimals gets at most 12 (not a billion characters)."""
    assert filters.number(1 / 3, 10**9) == "0.333333333333"
