"""Country normalisation: ISO 3166-1 alpha-2, alpha-3 or an English name -> one :class:`Country`.

Backed by pycountry (ISO 3166-1) plus the common English names GeoIP databases (MaxMind, hence
Auth0's ``location_info`` and Rules/Actions geoip) use where they differ from the ISO names.
Invariants: the result of a known country always has both codes and its English name
(pycountry's common name where it has one, else the ISO short name); an
unknown, non-empty value is kept as the name with empty codes; nothing raises. Results are cached:
this is called on the hot path (the bulk reader calls it once per distinct value).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import NamedTuple

import pycountry

#: How many distinct inputs the caches remember.
CACHE_SIZE = 8192


class Country(NamedTuple):
    """A normalised country. ``code``/``iso3`` are ``""`` when the value is not a known country."""

    code: str
    iso3: str
    name: str


UNKNOWN = Country("", "", "")

# Common English (GeoIP) names that pycountry's name/official_name/common_name do not cover.
_ALIASES: dict[str, str] = {
    "russia": "RU",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "turkey": "TR",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "macedonia": "MK",
    "palestine": "PS",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "micronesia": "FM",
    "federated states of micronesia": "FM",
    "vatican city": "VA",
    "vatican": "VA",
    "holland": "NL",
    "the netherlands": "NL",
    "republic of korea": "KR",
    "korea": "KR",
    "dr congo": "CD",
    "democratic republic of the congo": "CD",
    "congo republic": "CG",
    "republic of the congo": "CG",
    "saint martin": "MF",
    "sint maarten": "SX",
    "aland islands": "AX",
    "aland": "AX",
    "bonaire, sint eustatius, and saba": "BQ",
    "st kitts and nevis": "KN",
    "st lucia": "LC",
    "st vincent and grenadines": "VC",
    "saint vincent and the grenadines": "VC",
    "u.s. virgin islands": "VI",
    "us virgin islands": "VI",
    "british virgin islands": "VG",
    "hashemite kingdom of jordan": "JO",
    "republic of lithuania": "LT",
    "republic of moldova": "MD",
    "macau": "MO",
    "east timor": "TL",
    "falkland islands": "FK",
    "united states of america": "US",
    "america": "US",
    "czech republic": "CZ",
    "burma": "MM",
    "the gambia": "GM",
    "the bahamas": "BS",
    "reunion": "RE",
    "curacao": "CW",
    "sao tome and principe": "ST",
}


def _fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced form used to match names."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


@lru_cache(maxsize=1)
def _folded_names() -> dict[str, str]:
    """Accent-folded ISO names, official names and common names -> alpha-2."""
    table: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value:
                table.setdefault(_fold(value), country.alpha_2)
    for alias, code in _ALIASES.items():
        table.setdefault(_fold(alias), code)
    return table


def _country(record: object) -> Country:
    """The common English name where pycountry has one ("Iran", "South Korea"), else the ISO name."""
    name = getattr(record, "common_name", None) or record.name  # type: ignore[attr-defined]
    return Country(record.alpha_2, record.alpha_3, name)  # type: ignore[attr-defined]


def _from_alpha2(code: str) -> Country:
    record = pycountry.countries.get(alpha_2=code)
    return _country(record) if record else UNKNOWN


@lru_cache(maxsize=CACHE_SIZE)
def normalize_country(value: str | None) -> Country:
    """Normalise an ISO2 code, ISO3 code or English name; unknown values keep their text as name.

    ``None``/blank gives ``Country("", "", "")``.
    """
    if not isinstance(value, str):
        return UNKNOWN
    text = value.strip()
    if not text:
        return UNKNOWN
    if text.isascii() and text.isalpha() and len(text) in (2, 3):
        record = (
            pycountry.countries.get(alpha_2=text.upper())
            if len(text) == 2
            else pycountry.countries.get(alpha_3=text.upper())
        )
        if record is not None:
            return _country(record)
    code = _folded_names().get(_fold(text))
    if code is not None:
        return _from_alpha2(code)
    return Country("", "", text)


@lru_cache(maxsize=CACHE_SIZE)
def resolve_country(code: str | None, code3: str | None = None, name: str | None = None) -> Country:
    """The country described by any of an alpha-2 code, an alpha-3 code and a name, in that order.

    The first value that is a known country wins. When none is, the name (or else the first
    non-blank value given) is kept as the name with empty codes.
    """
    for value in (code, code3, name):
        country = normalize_country(value)
        if country.code:
            return country
    for value in (name, code, code3):
        if isinstance(value, str) and value.strip():
            return Country("", "", value.strip())
    return UNKNOWN
