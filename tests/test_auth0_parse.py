import json
import pickle
from datetime import datetime, timezone

import orjson
import pytest

from authviz.auth0 import AuthEvent, ParseError, Reject, parse_body, parse_event, parse_records
from authviz.auth0.schema import COLUMNS, SOURCES
from auth0_support import lines, stream_record

UTC = timezone.utc

RULE_SIGNUP = {  # what the seed tutorial's Rule publishes: the user profile plus `country`
    "user_id": "auth0|5f1",
    "email": "ana@example.com",
    "name": "Ana",
    "nickname": "ana",
    "updated_at": "2024-05-01T10:00:00.000Z",
    "created_at": "2024-05-01T10:00:00.000Z",
    "identities": [{"connection": "Username-Password-Authentication", "provider": "auth0"}],
    "app_metadata": {},
    "country": "Germany",
}
ACTION_EVENT = {
    "user": {"user_id": "google-oauth2|1", "email": "bo@example.com", "name": "Bo"},
    "client": {"client_id": "abc", "name": "Web"},
    "connection": {"id": "con_1", "name": "google-oauth2", "strategy": "google-oauth2"},
    "stats": {"logins_count": 1},
    "tenant": {"id": "acme"},
    "request": {
        "ip": "203.0.113.7",
        "user_agent": "UA",
        "hostname": "acme.eu.auth0.com",
        "geoip": {
            "countryCode": "KR",
            "countryCode3": "KOR",
            "countryName": "South Korea",
            "cityName": "Seoul",
            "latitude": 37.57,
            "longitude": 126.98,
        },
    },
    "authentication": {"methods": [{"name": "federated", "timestamp": "2024-05-01T10:00:01.000Z"}]},
}


def test_event_has_one_field_per_schema_column():
    names = [name for name in AuthEvent.__dataclass_fields__]
    assert names == list(COLUMNS)


def test_log_stream_record():
    event = parse_event(
        stream_record(
            "L1",
            user_name="ana@example.com",
            hostname="dev-x.eu.auth0.com",
            location_info={"country_code": "US", "city_name": "Tucson", "latitude": 32.1, "longitude": -111.5},
        )
    )
    assert event.source == "log_stream"
    assert event.event_id == "L1"
    assert event.timestamp == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert (event.type, event.category, event.description) == ("s", "login_success", "Successful Login")
    assert event.email == "ana@example.com"  # the user name is an address
    assert (event.country_code, event.country_iso3, event.country_name) == ("US", "USA", "United States")
    assert (event.city, event.latitude, event.longitude) == ("Tucson", 32.1, -111.5)
    assert event.tenant == "dev-x"  # from the hostname


def test_management_api_entry():
    entry = {
        "_id": "M1",
        "log_id": "M1",
        "date": "2023-07-26T13:11:14.360Z",
        "type": "fsa",
        "isMobile": True,
        "client_id": "c",
        "tenant_name": "t",
    }
    event = parse_event(entry)
    assert (event.source, event.event_id, event.category, event.is_mobile, event.tenant) == (
        "management_api",
        "M1",
        "silent_auth",
        True,
        "t",
    )


def test_eventbridge_envelope_inside_a_named_wrapper():
    envelope = {
        "detail-type": "Auth0 log",
        "detail": {"log_id": "E1", "data": {"date": "2021-01-16T12:12:30.147Z", "type": "s", "user_name": "x@y.z"}},
    }
    event = parse_event({"SUCCESSFUL_LOGIN": envelope})
    assert (event.source, event.event_id, event.type) == ("eventbridge", "E1", "s")
    assert "SUCCESSFUL_LOGIN" in event.raw  # raw is the record exactly as given


def test_rule_payload_signup_then_login():
    signup = parse_event(RULE_SIGNUP)
    assert (signup.source, signup.type, signup.category) == ("rule", "ss", "signup")
    assert (signup.country_code, signup.country_name) == ("DE", "Germany")
    assert signup.connection == "Username-Password-Authentication"
    login = parse_event({**RULE_SIGNUP, "app_metadata": {"signedUp": True}, "updated_at": "2024-05-02T10:00:00.000Z"})
    assert (login.type, login.category) == ("s", "login_success")
    assert signup.event_id.startswith("derived-") and signup.event_id != login.event_id
    assert parse_event(dict(RULE_SIGNUP)).event_id == signup.event_id  # deterministic


def test_action_event_first_login_is_signup():
    event = parse_event(ACTION_EVENT)
    assert (event.source, event.type, event.category) == ("action", "ss", "signup")
    assert (event.user_id, event.email, event.client_name, event.connection) == (
        "google-oauth2|1",
        "bo@example.com",
        "Web",
        "google-oauth2",
    )
    assert (event.ip, event.country_code, event.country_name, event.city) == (
        "203.0.113.7",
        "KR",
        "South Korea",
        "Seoul",
    )
    assert event.tenant == "acme"
    again = parse_event({**ACTION_EVENT, "stats": {"logins_count": 7}})
    assert (again.type, again.category) == ("s", "login_success")
    assert parse_event({"event": ACTION_EVENT}).source == "action"  # wrapped as {"event": ...}


def test_source_override():
    entry = {"date": "2024-05-01T12:00:00Z", "type": "s", "log_id": "X"}
    assert parse_event(entry, source="management_api").source == "management_api"
    with pytest.raises(ParseError, match="'data' should be an object"):
        parse_event(entry, source="log_stream")
    with pytest.raises(ParseError, match="unknown source 'bogus'"):
        parse_event(entry, source="bogus")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (stream_record(date="yesterday"), "'data.date' is not a timestamp: 'yesterday'"),
        (stream_record(date=None), "'data.date' is missing"),
        (stream_record(date=""), "'data.date' is empty"),
        (stream_record(type=None), "'data.type' is missing"),
        (stream_record(type=7), "'data.type' should be text, not a number"),
        (stream_record(user_name={"a": 1}), "'data.user_name' should be text, not an object"),
        (stream_record(location_info="US"), "'data.location_info' should be an object, not text"),
        (
            stream_record(location_info={"latitude": "north"}),
            "'data.location_info.latitude' should be a number, not 'north'",
        ),
        (stream_record(is_mobile="maybe"), "'data.is_mobile' should be true or false, not 'maybe'"),
        ({"log_id": "x", "data": "text"}, "'data' should be an object, not text"),
        ({"hello": 1, "world": 2}, "not a recognised Auth0 event"),
        ({}, "its keys: none"),
    ],
)
def test_bad_records_say_what_is_wrong(record, reason):
    with pytest.raises(ParseError) as caught:
        parse_event(record)
    assert reason in str(caught.value)


def test_lenient_conversions_of_scalars():
    event = parse_event(
        stream_record(user_id=12345, is_mobile="false", location_info={"latitude": "1.5", "longitude": 2})
    )
    assert (event.user_id, event.is_mobile, event.latitude, event.longitude) == ("12345", False, 1.5, 2.0)


def test_reject_reason_names_the_record():
    body = lines(*[stream_record(f"id{i}") for i in range(1, 17)], stream_record("id17", date="yesterday"))
    result = parse_body(body)
    assert len(result.events) == 16
    assert result.rejects == [
        Reject(
            17,
            json.dumps(stream_record("id17", date="yesterday")),
            "record 17: 'data.date' is not a timestamp: 'yesterday'",
        )
    ]


def test_html_and_unicode_are_kept_as_given():
    html = "<script>alert('x')</script> &amp; <b>"
    event = parse_event(
        stream_record(
            description=html,
            user_name="clever\u00e1guila 🦅",
            location_info={"city_name": "Zürich", "country_name": "Schweiz"},
        )
    )
    assert event.description == html
    assert event.user_name == "clever\u00e1guila 🦅"
    assert event.city == "Zürich"
    assert (event.country_code, event.country_name) == (None, "Schweiz")  # unknown name kept


def test_nulls_everywhere_optional():
    record = stream_record(
        **{
            name: None
            for name in (
                "description",
                "user_id",
                "user_name",
                "connection",
                "client_id",
                "client_name",
                "ip",
                "user_agent",
                "location_info",
                "is_mobile",
                "tenant_name",
                "hostname",
            )
        }
    )
    event = parse_event(record)
    assert event.description == "Successful Login"  # filled from the type table
    assert event.user_id is None and event.country_code is None and event.is_mobile is None


def test_missing_ids_are_derived_deterministically():
    record = stream_record(None)
    record["data"].pop("log_id")
    first, second = parse_event(record), parse_event(json.loads(json.dumps(record)))
    assert first.event_id == second.event_id and first.event_id.startswith("derived-")


def test_body_formats_array_lines_object():
    records = [stream_record("a"), stream_record("b", type="fsa")]
    for body in (json.dumps(records), lines(*records), json.dumps(records[0])):
        result = parse_body(body)
        assert [event.event_id for event in result.events] == ["a", "b"][: len(result.events)]
        assert not result.rejects
    assert parse_body(b"").events == [] and parse_body("  \n").events == []


def test_invalid_json_line_is_rejected_and_the_rest_parse():
    body = lines(stream_record("a"), '{"log_id": "b", "data": {', stream_record("c")) + b"\r\n\n"
    result = parse_body(body)
    assert [event.event_id for event in result.events] == ["a", "c"]
    (reject,) = result.rejects
    assert reject.position == 2 and reject.raw == '{"log_id": "b", "data": {'
    assert reject.reason.startswith("record 2: not valid JSON (")


def test_management_api_include_totals_object_and_non_objects():
    result = parse_body(
        json.dumps(
            {
                "start": 0,
                "limit": 50,
                "length": 1,
                "total": 1,
                "logs": [{"_id": "m", "date": "2024-05-01T00:00:00Z", "type": "s"}, 5, ["x"]],
            }
        )
    )
    assert [event.event_id for event in result.events] == ["m"]
    assert [reject.reason for reject in result.rejects] == [
        "record 2: not a JSON object but a number",
        "record 3: not a JSON object but an array",
    ]


def test_duplicates_are_counted_and_conflicts_rejected():
    same = stream_record("dup")
    conflicting = stream_record("dup", type="f")
    result = parse_records([same, stream_record("other"), dict(same), conflicting])
    assert [event.event_id for event in result.events] == ["dup", "other"]
    assert result.duplicates == 1
    (reject,) = result.rejects
    assert reject.position == 4
    assert "already seen in record 1 with different content" in reject.reason
    everything = parse_records([same, dict(same), conflicting], dedup=False)
    assert len(everything.events) == 3 and everything.duplicates == 0


def test_strict_mode_raises_at_the_first_reject():
    with pytest.raises(ParseError, match="record 2: 'data.date' is not a timestamp"):
        parse_records([stream_record("a"), stream_record("b", date="soon")], strict=True)
    with pytest.raises(ParseError, match="record 1: not valid JSON"):
        parse_body(b"{oops\n", strict=True)


def test_events_are_immutable_json_safe_and_picklable():
    event = parse_event(stream_record("a", details={"nested": [1, {"x": 2}]}))
    with pytest.raises(AttributeError):
        event.type = "f"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.raw["log_id"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.raw["data"]["details"]["nested"][1]["x"] = 3  # nested values are read-only too
    as_dict = event.to_dict()
    assert as_dict["timestamp"] == "2024-05-01T12:00:00.000000Z"
    assert orjson.loads(orjson.dumps(as_dict))["raw"]["data"]["details"] == {"nested": [1, {"x": 2}]}
    clone = pickle.loads(pickle.dumps(event))
    assert clone == event and clone.raw == event.raw
    assert hash(event) == hash(clone)


def test_sources_are_the_schema_sources():
    seen = {
        parse_event(record).source
        for record in (
            stream_record("a"),
            RULE_SIGNUP,
            ACTION_EVENT,
            {"_id": "m", "date": "2024-05-01T00:00:00Z", "type": "s"},
            {"detail": {"log_id": "e", "data": {"date": "2024-05-01T00:00:00Z", "type": "s"}}},
        )
    }
    assert seen == set(SOURCES)
