"""A small built-in world for the simulator: countries, their cities and plausible IP prefixes.

Invariants: every city lies in its country (coordinates from public gazetteers, rounded to 4 decimals);
``utc_offset`` is the standard-time offset in hours (no daylight saving: a simulator approximation);
``ip_prefixes`` are first octets of public address blocks registered in that country, so an IP built
from them looks plausible in charts. Attack traffic uses the documentation ranges instead
(:data:`ATTACK_NETWORKS`), so injected attackers are recognisable at a glance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    time_zone: str
    utc_offset: float


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    code3: str  # ISO 3166-1 alpha-3
    name: str
    continent: str  # two-letter continent code as Auth0 sends it
    weight: float  # share of the default traffic mix (relative)
    cities: tuple[City, ...]
    ip_prefixes: tuple[int, ...]


def _c(name: str, lat: float, lon: float, tz: str, off: float) -> City:
    return City(name, lat, lon, tz, off)


# A table: one country per entry reads better than one field per line.
# fmt: off
COUNTRIES: tuple[Country, ...] = (
    Country("US", "USA", "United States", "NA", 30.0, (
        _c("New York", 40.7128, -74.0060, "America/New_York", -5),
        _c("San Francisco", 37.7749, -122.4194, "America/Los_Angeles", -8),
        _c("Chicago", 41.8781, -87.6298, "America/Chicago", -6),
        _c("Austin", 30.2672, -97.7431, "America/Chicago", -6),
    ), (24, 73, 98, 173)),
    Country("GB", "GBR", "United Kingdom", "EU", 7.0, (
        _c("London", 51.5074, -0.1278, "Europe/London", 0),
        _c("Manchester", 53.4808, -2.2426, "Europe/London", 0),
        _c("Edinburgh", 55.9533, -3.1883, "Europe/London", 0),
    ), (81, 86, 90)),
    Country("DE", "DEU", "Germany", "EU", 6.0, (
        _c("Berlin", 52.5200, 13.4050, "Europe/Berlin", 1),
        _c("Munich", 48.1351, 11.5820, "Europe/Berlin", 1),
        _c("Hamburg", 53.5511, 9.9937, "Europe/Berlin", 1),
    ), (84, 91, 93)),
    Country("FR", "FRA", "France", "EU", 5.0, (
        _c("Paris", 48.8566, 2.3522, "Europe/Paris", 1),
        _c("Lyon", 45.7640, 4.8357, "Europe/Paris", 1),
        _c("Marseille", 43.2965, 5.3698, "Europe/Paris", 1),
    ), (82, 88, 92)),
    Country("ES", "ESP", "Spain", "EU", 3.0, (
        _c("Madrid", 40.4168, -3.7038, "Europe/Madrid", 1),
        _c("Barcelona", 41.3851, 2.1734, "Europe/Madrid", 1),
    ), (79, 83, 88)),
    Country("IT", "ITA", "Italy", "EU", 3.0, (
        _c("Rome", 41.9028, 12.4964, "Europe/Rome", 1),
        _c("Milan", 45.4642, 9.1900, "Europe/Rome", 1),
    ), (79, 87, 93)),
    Country("NL", "NLD", "Netherlands", "EU", 2.0, (
        _c("Amsterdam", 52.3676, 4.9041, "Europe/Amsterdam", 1),
        _c("Rotterdam", 51.9244, 4.4777, "Europe/Amsterdam", 1),
    ), (77, 83, 145)),
    Country("SE", "SWE", "Sweden", "EU", 1.5, (
        _c("Stockholm", 59.3293, 18.0686, "Europe/Stockholm", 1),
        _c("Gothenburg", 57.7089, 11.9746, "Europe/Stockholm", 1),
    ), (78, 81, 85)),
    Country("PL", "POL", "Poland", "EU", 1.5, (
        _c("Warsaw", 52.2297, 21.0122, "Europe/Warsaw", 1),
        _c("Krakow", 50.0647, 19.9450, "Europe/Warsaw", 1),
    ), (31, 83, 89)),
    Country("TR", "TUR", "Turkey", "AS", 1.5, (
        _c("Istanbul", 41.0082, 28.9784, "Europe/Istanbul", 3),
        _c("Ankara", 39.9334, 32.8597, "Europe/Istanbul", 3),
    ), (78, 88, 176)),
    Country("CA", "CAN", "Canada", "NA", 4.0, (
        _c("Toronto", 43.6532, -79.3832, "America/Toronto", -5),
        _c("Vancouver", 49.2827, -123.1207, "America/Vancouver", -8),
        _c("Montreal", 45.5017, -73.5673, "America/Toronto", -5),
    ), (24, 70, 142)),
    Country("MX", "MEX", "Mexico", "NA", 2.0, (
        _c("Mexico City", 19.4326, -99.1332, "America/Mexico_City", -6),
        _c("Guadalajara", 20.6597, -103.3496, "America/Mexico_City", -6),
    ), (187, 189, 201)),
    Country("BR", "BRA", "Brazil", "SA", 4.0, (
        _c("Sao Paulo", -23.5505, -46.6333, "America/Sao_Paulo", -3),
        _c("Rio de Janeiro", -22.9068, -43.1729, "America/Sao_Paulo", -3),
        _c("Brasilia", -15.7939, -47.8828, "America/Sao_Paulo", -3),
    ), (177, 179, 189, 200)),
    Country("AR", "ARG", "Argentina", "SA", 1.0, (
        _c("Buenos Aires", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", -3),
        _c("Cordoba", -31.4201, -64.1888, "America/Argentina/Cordoba", -3),
    ), (181, 186, 190)),
    Country("IN", "IND", "India", "AS", 8.0, (
        _c("Mumbai", 19.0760, 72.8777, "Asia/Kolkata", 5.5),
        _c("Bengaluru", 12.9716, 77.5946, "Asia/Kolkata", 5.5),
        _c("Delhi", 28.7041, 77.1025, "Asia/Kolkata", 5.5),
    ), (49, 106, 117, 122)),
    Country("JP", "JPN", "Japan", "AS", 3.0, (
        _c("Tokyo", 35.6762, 139.6503, "Asia/Tokyo", 9),
        _c("Osaka", 34.6937, 135.5023, "Asia/Tokyo", 9),
    ), (60, 126, 153)),
    Country("KR", "KOR", "South Korea", "AS", 1.5, (
        _c("Seoul", 37.5665, 126.9780, "Asia/Seoul", 9),
        _c("Busan", 35.1796, 129.0756, "Asia/Seoul", 9),
    ), (121, 175, 211)),
    Country("SG", "SGP", "Singapore", "AS", 1.5, (
        _c("Singapore", 1.3521, 103.8198, "Asia/Singapore", 8),
    ), (103, 116, 175)),
    Country("ID", "IDN", "Indonesia", "AS", 2.0, (
        _c("Jakarta", -6.2088, 106.8456, "Asia/Jakarta", 7),
        _c("Surabaya", -7.2575, 112.7521, "Asia/Jakarta", 7),
    ), (36, 110, 114)),
    Country("AE", "ARE", "United Arab Emirates", "AS", 1.0, (
        _c("Dubai", 25.2048, 55.2708, "Asia/Dubai", 4),
        _c("Abu Dhabi", 24.4539, 54.3773, "Asia/Dubai", 4),
    ), (5, 86, 94)),
    Country("AU", "AUS", "Australia", "OC", 3.0, (
        _c("Sydney", -33.8688, 151.2093, "Australia/Sydney", 10),
        _c("Melbourne", -37.8136, 144.9631, "Australia/Melbourne", 10),
        _c("Perth", -31.9505, 115.8605, "Australia/Perth", 8),
    ), (1, 49, 101, 203)),
    Country("NZ", "NZL", "New Zealand", "OC", 0.8, (
        _c("Auckland", -36.8485, 174.7633, "Pacific/Auckland", 12),
        _c("Wellington", -41.2866, 174.7756, "Pacific/Auckland", 12),
    ), (49, 115, 125)),
    Country("ZA", "ZAF", "South Africa", "AF", 1.2, (
        _c("Johannesburg", -26.2041, 28.0473, "Africa/Johannesburg", 2),
        _c("Cape Town", -33.9249, 18.4241, "Africa/Johannesburg", 2),
    ), (41, 102, 105)),
    Country("NG", "NGA", "Nigeria", "AF", 1.2, (
        _c("Lagos", 6.5244, 3.3792, "Africa/Lagos", 1),
        _c("Abuja", 9.0765, 7.3986, "Africa/Lagos", 1),
    ), (41, 102, 105)),
    Country("EG", "EGY", "Egypt", "AF", 1.0, (
        _c("Cairo", 30.0444, 31.2357, "Africa/Cairo", 2),
        _c("Alexandria", 31.2001, 29.9187, "Africa/Cairo", 2),
    ), (41, 156, 197)),
)
# fmt: on

COUNTRY_BY_CODE: dict[str, Country] = {c.code: c for c in COUNTRIES}

#: Default weighted country mix (ISO alpha-2 -> relative weight).
DEFAULT_COUNTRY_MIX: dict[str, float] = {c.code: c.weight for c in COUNTRIES}

#: RFC 5737 documentation networks (first three octets): used for attacker IPs.
ATTACK_NETWORKS: tuple[str, ...] = ("203.0.113", "198.51.100", "192.0.2")

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
