import pytest
from hypothesis import given, strategies as st

from authviz.auth0 import Country, normalize_country, resolve_country


@pytest.mark.parametrize(
    ("value", "code", "iso3"),
    [
        ("US", "US", "USA"),
        ("us", "US", "USA"),
        ("USA", "US", "USA"),
        ("United States", "US", "USA"),
        ("Russia", "RU", "RUS"),
        ("Russian Federation", "RU", "RUS"),
        ("South Korea", "KR", "KOR"),
        ("Iran", "IR", "IRN"),
        ("Vietnam", "VN", "VNM"),
        ("Turkey", "TR", "TUR"),
        ("Türkiye", "TR", "TUR"),
        ("UK", "GB", "GBR"),
        ("United Kingdom", "GB", "GBR"),
        ("  france ", "FR", "FRA"),
        ("Cote d'Ivoire", "CI", "CIV"),
        ("Czech Republic", "CZ", "CZE"),
        ("DEU", "DE", "DEU"),
    ],
)
def test_known_values(value, code, iso3):
    country = normalize_country(value)
    assert (country.code, country.iso3) == (code, iso3)
    assert country.name


def test_common_names_are_preferred_for_display():
    assert normalize_country("KR").name == "South Korea"
    assert normalize_country("IRN").name == "Iran"
    assert normalize_country("United States").name == "United States"


@pytest.mark.parametrize("value", ["Atlantis", "XK", "Kosovo", "<b>Narnia</b>"])
def test_unknown_values_are_kept_as_name_with_empty_codes(value):
    assert normalize_country(value) == Country("", "", value)


@pytest.mark.parametrize("value", [None, "", "   ", 42])
def test_missing_values(value):
    assert normalize_country(value) == Country("", "", "")


def test_resolve_prefers_codes_and_keeps_unknown_names():
    assert resolve_country("US", "USA", "United States").code == "US"
    assert resolve_country("XK", "XKX", "Kosovo") == Country("", "", "Kosovo")
    assert resolve_country(None, None, "Germany").code == "DE"
    assert resolve_country("zz", None, "France").code == "FR"
    assert resolve_country(None, None, None) == Country("", "", "")


def test_results_are_cached():
    normalize_country.cache_clear()
    normalize_country("Germany")
    normalize_country("Germany")
    assert normalize_country.cache_info().hits >= 1


@given(st.text(max_size=40))
def test_never_raises_and_codes_come_together(value):
    country = normalize_country(value)
    assert bool(country.code) == bool(country.iso3)
    if not country.code and value.strip():
        assert country.name == value.strip()
