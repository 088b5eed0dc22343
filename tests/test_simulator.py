"""The traffic generator: deterministic, believable, geographically coherent, attacks recognisable."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from authviz.simulator import (
    BUILTIN_SCENARIOS,
    COUNTRIES,
    TrafficGenerator,
    action_event,
    haversine_km,
    month_of_traffic,
    rule_payload,
)
from authviz.simulator.geo import ATTACK_NETWORKS

START = datetime(2026, 11, 1, tzinfo=UTC)
CITIES = {(c.code, city.name): (c, city) for c in COUNTRIES for city in c.cities}


def _day(seed=3, **kw):
    return list(TrafficGenerator(seed=seed, start=START, **kw).generate(duration=timedelta(days=2)))


@pytest.fixture(scope="module")
def two_days():
    return _day()


def test_same_seed_same_bytes_different_seed_different():
    a = list(TrafficGenerator(seed=5, start=START).generate(n=500))
    b = list(TrafficGenerator(seed=5, start=START).generate(n=500))
    c = list(TrafficGenerator(seed=6, start=START).generate(n=500))
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(c)
    assert len(a) == 500


def test_generate_continues_where_it_stopped():
    gen = TrafficGenerator(seed=5, start=START)
    first, second = list(gen.generate(n=200)), list(gen.generate(n=200))
    assert first[-1]["data"]["date"] <= second[0]["data"]["date"]
    assert {r["log_id"] for r in first}.isdisjoint(r["log_id"] for r in second)


def test_record_shape_and_order(two_days):
    dates = [r["data"]["date"] for r in two_days]
    assert dates == sorted(dates)
    assert len({r["log_id"] for r in two_days}) == len(two_days)
    for record in two_days[:300]:
        data = record["data"]
        assert record["log_id"] == data["log_id"] and len(data["log_id"]) == 56
        assert datetime.fromisoformat(data["date"].replace("Z", "+00:00")).tzinfo is not None
        for key in ("type", "tenant_name", "client_id", "client_name", "ip", "user_agent", "is_mobile", "hostname"):
            assert key in data
        assert set(data["location_info"]) == {
            "country_code",
            "country_code3",
            "country_name",
            "city_name",
            "latitude",
            "longitude",
            "time_zone",
            "continent_code",
        }


def test_volume_and_proportions_are_believable(two_days):
    # 2,000 a day by default (sign-ups bring two follow-up records each).
    assert 3600 <= len(two_days) <= 4800
    counts = Counter(r["data"]["type"] for r in two_days)
    logins, signups = counts["s"], counts["ss"]
    failures = counts["f"] + counts["fp"] + counts["fu"]
    assert logins > 8 * signups > 0
    assert 0.05 <= failures / (failures + logins) <= 0.2
    for code in ("slo", "scp", "fsa", "seacft", "fp", "fu"):
        assert counts[code] > 0, code
    for code in ("pwd_leak", "signup_pwd_leak", "reset_pwd_leak", "limit_mu"):
        assert counts[code] == 0, code  # attacks only come from scenarios
    assert all("reuse" not in r["data"]["description"] for r in two_days if r["data"]["type"] == "ferrt")


def test_rate_parameter_and_diurnal_curve():
    per_hour = Counter()
    records = list(
        TrafficGenerator(seed=1, start=START, rate_per_s=0.2, countries={"US": 1}).generate(duration=timedelta(days=2))
    )
    assert 0.85 * 0.2 * 2 * 86400 <= len(records) <= 1.3 * 0.2 * 2 * 86400
    for r in records:
        per_hour[int(r["data"]["date"][11:13])] += 1
    # US afternoon (~19-22 UTC) is much busier than US night (~07-10 UTC).
    busy = sum(per_hour[h] for h in (19, 20, 21, 22))
    quiet = sum(per_hour[h] for h in (7, 8, 9, 10))
    assert busy > 2 * quiet
    flat = Counter(
        int(r["data"]["date"][11:13])
        for r in TrafficGenerator(seed=1, start=START, rate_per_s=0.2, countries={"US": 1}, diurnal=False).generate(
            duration=timedelta(days=2)
        )
    )
    assert sum(flat[h] for h in (19, 20, 21, 22)) < 1.4 * sum(flat[h] for h in (7, 8, 9, 10))


def test_geo_is_coherent(two_days):
    codes = Counter()
    for record in two_days:
        loc, ip = record["data"]["location_info"], record["data"]["ip"]
        country, city = CITIES[(loc["country_code"], loc["city_name"])]
        assert (loc["latitude"], loc["longitude"]) == (city.latitude, city.longitude)
        assert (loc["country_code3"], loc["country_name"], loc["continent_code"], loc["time_zone"]) == (
            country.code3,
            country.name,
            country.continent,
            city.time_zone,
        )
        assert int(ip.split(".")[0]) in country.ip_prefixes
        assert not ip.startswith(ATTACK_NETWORKS)
        codes[loc["country_code"]] += 1
    assert codes.most_common(1)[0][0] == "US" and len(codes) >= 15


def test_a_user_keeps_a_home_and_never_travels_impossibly(two_days):
    logins: dict[str, list] = {}
    for record in two_days:
        data = record["data"]
        if data["type"] == "s":
            logins.setdefault(data["user_id"], []).append(data)
    assert sum(len(v) > 1 for v in logins.values()) > 100
    for events in logins.values():
        for a, b in zip(events, events[1:]):
            km = haversine_km(
                a["location_info"]["latitude"],
                a["location_info"]["longitude"],
                b["location_info"]["latitude"],
                b["location_info"]["longitude"],
            )
            hours = (
                datetime.fromisoformat(b["date"][:-1]) - datetime.fromisoformat(a["date"][:-1])
            ).total_seconds() / 3600
            assert km <= 500 or km / max(hours, 1e-9) < 1000


def test_unknown_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown country"):
        TrafficGenerator(countries={"XX": 1})
    with pytest.raises(ValueError):
        TrafficGenerator(rate_per_s=1, events_per_day=5)
    with pytest.raises(ValueError, match="unknown scenario"):
        TrafficGenerator().scenario("nope", at=START)


@pytest.mark.parametrize("name", list(BUILTIN_SCENARIOS))
def test_scenarios_are_recognisable(name):
    gen = TrafficGenerator(seed=11, start=START)
    at = START + timedelta(hours=5)
    records, truth = gen.attack(name, at)
    assert records == gen.scenario(name, at)  # deterministic
    assert truth.log_ids == tuple(r["log_id"] for r in records)
    assert truth.start == at and truth.end >= truth.start
    types = Counter(r["data"]["type"] for r in records)
    if name == "brute-force":
        assert types["fp"] >= 5 and types["s"] == 1
        assert {r["data"]["user_name"] for r in records} == {truth.key}
        assert len({r["data"]["ip"] for r in records}) == 1
    elif name == "credential-stuffing":
        assert len({r["data"]["user_name"] for r in records if r["data"]["type"] in ("fp", "fu")}) >= 10
        assert {r["data"]["ip"] for r in records} == {truth.key} and types["s"] == 1
    elif name == "impossible-travel":
        a, b = (r["data"] for r in records)
        km = haversine_km(
            a["location_info"]["latitude"],
            a["location_info"]["longitude"],
            b["location_info"]["latitude"],
            b["location_info"]["longitude"],
        )
        assert a["user_name"] == b["user_name"] == truth.key and km > 5000
    elif name == "breached-password":
        assert types == {"pwd_leak": 1}
    elif name == "lockout-spike":
        assert sum(types[t] for t in ("limit_wc", "limit_mu", "limit_sul")) >= 5
        assert truth.end - truth.start < timedelta(hours=1)
    elif name == "signup-fraud":
        assert types["ss"] + types["fs"] >= 20 and truth.end - truth.start < timedelta(hours=1)
    elif name == "mfa-push-fatigue":
        assert types["gd_send_pn"] >= 5 and truth.end - truth.start < timedelta(minutes=30)
    elif name == "refresh-token-reuse":
        assert types == {"ferrt": 1} and "reuse" in records[0]["data"]["description"]
    attacker_ips = {r["data"]["ip"] for r in records if r["data"]["user_agent"].startswith("python-requests")}
    assert attacker_ips and all(ip.startswith(ATTACK_NETWORKS) for ip in attacker_ips)


def test_scenario_options():
    gen = TrafficGenerator(seed=11, start=START)
    records, truth = gen.attack("brute-force", START, success=False, attempts=5)
    assert [r["data"]["type"] for r in records] == ["fp"] * 5 and truth.severity == "info"
    records, truth = gen.attack("credential-stuffing", START, users=9, successes=0)
    assert len({r["data"]["user_name"] for r in records}) == 9 and truth.severity == "info"


def test_month_of_traffic_mixes_in_every_scenario():
    month = month_of_traffic(seed=2, start=START, days=6, events_per_day=500, users=200)
    dates = [r["data"]["date"] for r in month.records]
    assert dates == sorted(dates)
    assert {a.kind for a in month.attacks} == set(BUILTIN_SCENARIOS)
    ids = {r["log_id"] for r in month.records}
    assert all(set(a.log_ids) <= ids for a in month.attacks)
    assert all(START <= a.start <= START + timedelta(days=6) for a in month.attacks)


def test_rule_payload_and_action_event_shapes(two_days):
    signup = next(r for r in two_days if r["data"]["type"] == "ss")
    login = next(r for r in two_days if r["data"]["type"] == "s")
    first = rule_payload(signup)
    assert first["app_metadata"] == {} and first["email"] == signup["data"]["user_name"]
    later = rule_payload(login)
    assert later["app_metadata"] == {"signedUp": True}
    assert later["country"] == login["data"]["location_info"]["country_name"]
    assert later["updated_at"] == login["data"]["date"]
    event = action_event(login)
    geo = event["request"]["geoip"]
    assert geo["countryCode"] == login["data"]["location_info"]["country_code"]
    assert set(geo) >= {"cityName", "continentCode", "countryCode3", "countryName", "latitude", "longitude", "timeZone"}
    assert event["user"]["user_id"] == login["data"]["user_id"] and event["stats"]["logins_count"] > 1
    assert action_event(signup)["stats"]["logins_count"] == 1
    assert event["client"]["name"] == login["data"]["client_name"] and event["connection"]["strategy"]
