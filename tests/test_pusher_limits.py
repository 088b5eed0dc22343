"""Limits and validators: documented limits, messages that name them, never a crash."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.errors import AuthvizError
from authviz.pusher import (
    DEFAULT_LIMITS,
    SERVER_TO_USER_PREFIX,
    ChannelKind,
    Limits,
    PusherValidationError,
    channel_kind,
    is_cache_channel,
    parse_presence_channel_data,
    parse_user_data,
    requires_auth,
    server_to_user_channel,
    validate_batch_size,
    validate_channel_name,
    validate_channels,
    validate_data_size,
    validate_event_name,
    validate_socket_id,
    validate_user_id,
    validate_user_info,
    validate_watchlist,
)
from authviz.pusher import limits as limits_module

VALID_CHARS = "ABCXYZabcxyz0189_-=@,.;"


def test_defaults_are_pusher_documented_values() -> None:
    d = DEFAULT_LIMITS
    assert (d.max_channel_name, d.max_event_name, d.max_data_bytes) == (164, 200, 10_240)
    assert (d.max_channels_per_trigger, d.max_batch_events, d.max_watchlist) == (100, 10, 100)
    assert (d.max_presence_members, d.max_presence_user_info_bytes, d.max_user_id) == (100, 1024, 128)
    assert d.client_events_per_second == 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.max_data_bytes = 1  # type: ignore[misc]


def test_every_limit_field_is_documented() -> None:
    source = open(limits_module.__file__, encoding="utf-8").read()
    for field in dataclasses.fields(Limits):
        # each field is followed by its docstring
        after = source.split(f"    {field.name}: int = ", 1)[1].split("\n", 2)[1]
        assert after.strip().startswith('"""'), field.name


# --- channel kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "cache", "auth"),
    [
        ("foo", ChannelKind.PUBLIC, False, False),
        ("cache-foo", ChannelKind.PUBLIC, True, False),
        ("private-foo", ChannelKind.PRIVATE, False, True),
        ("private-cache-foo", ChannelKind.PRIVATE, True, True),
        ("private-encrypted-foo", ChannelKind.PRIVATE_ENCRYPTED, False, True),
        ("private-encrypted-cache-foo", ChannelKind.PRIVATE_ENCRYPTED, True, True),
        ("presence-foo", ChannelKind.PRESENCE, False, True),
        ("presence-cache-foo", ChannelKind.PRESENCE, True, True),
        ("privatefoo", ChannelKind.PUBLIC, False, False),
        ("encrypted-foo", ChannelKind.PUBLIC, False, False),
        ("#server-to-user-42", ChannelKind.PUBLIC, False, True),
    ],
)
def test_channel_kinds(name: str, kind: ChannelKind, cache: bool, auth: bool) -> None:
    assert channel_kind(name) is kind
    assert is_cache_channel(name) is cache
    assert requires_auth(name) is auth


def test_server_to_user_channel_name() -> None:
    assert SERVER_TO_USER_PREFIX == "#server-to-user-"
    assert server_to_user_channel("42") == "#server-to-user-42"


# --- channel names --------------------------------------------------------------------------------


def test_channel_name_limit_is_164_not_200() -> None:
    assert validate_channel_name("a" * 164) == "a" * 164
    with pytest.raises(PusherValidationError) as err:
        validate_channel_name("a" * 170)
    assert str(err.value) == "channel name is 170 characters; the limit is 164"
    assert err.value.limit == "max_channel_name" and err.value.http_status == 400
    assert isinstance(err.value, AuthvizError)
    # Configurable.
    validate_channel_name("a" * 170, Limits(max_channel_name=200))


def test_channel_name_characters() -> None:
    assert validate_channel_name(VALID_CHARS) == VALID_CHARS
    for bad in ["with space", "é", "a/b", "a:b", "a#b", "a\nb", "a\x00", "(x)", "a|b"]:
        with pytest.raises(PusherValidationError, match="characters outside") as err:
            validate_channel_name(bad)
        assert err.value.limit == "channel_chars"
    with pytest.raises(PusherValidationError, match="empty"):
        validate_channel_name("")
    with pytest.raises(PusherValidationError, match="must be a string, not int"):
        validate_channel_name(5)


def test_server_to_user_channels_only_via_signin_or_http() -> None:
    with pytest.raises(PusherValidationError, match="pusher:signin") as err:
        validate_channel_name("#server-to-user-42")
    assert err.value.limit == "server_to_user"
    assert validate_channel_name("#server-to-user-42", allow_server_to_user=True)
    with pytest.raises(PusherValidationError, match="names no user"):
        validate_channel_name("#server-to-user-", allow_server_to_user=True)
    with pytest.raises(PusherValidationError, match="characters outside"):
        validate_channel_name("#server-to-user-a b", allow_server_to_user=True)
    with pytest.raises(PusherValidationError, match="characters outside"):
        validate_channel_name("#other-42", allow_server_to_user=True)


def test_encrypted_channels_cannot_be_presence() -> None:
    with pytest.raises(PusherValidationError, match="cannot be presence") as err:
        validate_channel_name("presence-encrypted-room")
    assert err.value.limit == "channel_kind"
    validate_channel_name("private-encrypted-room")


def test_pusher_library_channel_defect_not_inherited() -> None:
    from pusher.util import validate_channel as pusher_validate_channel

    name = "private-" + "x" * 180  # 188 characters: beyond Pusher's documented 164
    assert pusher_validate_channel(name) == name  # the library lets it through (caps at 200)
    with pytest.raises(PusherValidationError, match="188 characters; the limit is 164"):
        validate_channel_name(name)


# --- events, data, batches ------------------------------------------------------------------------


def test_event_name() -> None:
    assert validate_event_name("e" * 200)
    with pytest.raises(PusherValidationError, match="event name is 201 characters; the limit is 200"):
        validate_event_name("e" * 201)
    with pytest.raises(PusherValidationError, match="empty"):
        validate_event_name("")
    with pytest.raises(PusherValidationError, match="not NoneType"):
        validate_event_name(None)
    for reserved in ("pusher:subscription_succeeded", "pusher_internal:member_added"):
        with pytest.raises(PusherValidationError, match="reserved") as err:
            validate_event_name(reserved)
        assert err.value.limit == "reserved_event_name"
    assert validate_event_name("pusher-ish:event") and validate_event_name("client-typing")


def test_data_size_counts_utf8_bytes() -> None:
    assert validate_data_size("a" * 10_240) == 10_240
    assert validate_data_size(b"a" * 10_240) == 10_240
    assert validate_data_size(bytearray(3)) == 3
    assert validate_data_size(memoryview(b"abcd")) == 4
    assert validate_data_size("é") == 2 and validate_data_size("€") == 3 and validate_data_size("🙂") == 4
    with pytest.raises(PusherValidationError) as err:
        validate_data_size("a" * 10_241)
    assert str(err.value) == "event data is 10241 bytes; the limit is 10240"
    assert err.value.limit == "max_data_bytes" and err.value.http_status == 413
    # 3,500 euro signs are 3,500 characters but 10,500 bytes on the wire.
    with pytest.raises(PusherValidationError, match="10500 bytes"):
        validate_data_size("€" * 3500)
    validate_data_size("€" * 3500, Limits(max_data_bytes=100_000))
    with pytest.raises(PusherValidationError, match="unpaired surrogate"):
        validate_data_size("\ud800")
    with pytest.raises(PusherValidationError, match="must be a string"):
        validate_data_size({"a": 1})


def test_pusher_library_getsizeof_defect_not_inherited() -> None:
    data = "€" * 3500  # 10,500 bytes of UTF-8
    # The library's batch check (sys.getsizeof(data) > 10240) measures Python's 2-byte-per-char
    # storage, so it would let this through; an emoji string is measured at 4 bytes per char.
    assert sys.getsizeof(data) <= 10_240
    with pytest.raises(PusherValidationError):
        validate_data_size(data)
    # ...and conversely getsizeof counts object overhead, so an ASCII string of exactly 10 KB is
    # refused by the library but is within Pusher's limit.
    assert sys.getsizeof("a" * 10_240) > 10_240
    assert validate_data_size("a" * 10_240) == 10_240


def test_channels_of_a_trigger() -> None:
    assert validate_channels(["a", "b", "a"]) == ["a", "b"]
    assert validate_channels(("a",)) == ["a"]
    assert validate_channels(["#server-to-user-7"]) == ["#server-to-user-7"]
    assert len(validate_channels([f"c{i}" for i in range(100)])) == 100
    with pytest.raises(PusherValidationError, match="101 channels; the limit is 100") as err:
        validate_channels([f"c{i}" for i in range(101)])
    assert err.value.limit == "max_channels_per_trigger"
    with pytest.raises(PusherValidationError, match="list of channel names, not str"):
        validate_channels("abc")
    with pytest.raises(PusherValidationError, match="empty"):
        validate_channels([])
    with pytest.raises(PusherValidationError, match="characters outside"):
        validate_channels(["ok", "not ok"])
    with pytest.raises(PusherValidationError, match="not NoneType"):
        validate_channels(None)


def test_batch_size() -> None:
    assert validate_batch_size(10) == 10
    with pytest.raises(PusherValidationError, match="11 events; the limit is 10"):
        validate_batch_size(11)
    with pytest.raises(PusherValidationError, match="empty"):
        validate_batch_size(0)


# --- socket ids, users ----------------------------------------------------------------------------


def test_socket_ids() -> None:
    assert validate_socket_id("1234.1234") == "1234.1234"
    for bad in ["1234", "1234.", ".1", "a.b", "1.2.3", "1.2\n", " 1.2", "١.٢", "1" * 21 + ".1", "", None, 1.2]:
        with pytest.raises(PusherValidationError) as err:
            validate_socket_id(bad)
        assert err.value.limit == "socket_id"


def test_user_ids() -> None:
    assert validate_user_id("auth0|5f7c8ec7c33c6c004bbafe82") == "auth0|5f7c8ec7c33c6c004bbafe82"
    assert validate_user_id(10) == 10
    assert validate_user_id("u" * 128)
    with pytest.raises(PusherValidationError, match="user id is 129 characters; the limit is 128"):
        validate_user_id("u" * 129)
    with pytest.raises(PusherValidationError, match="2\\*\\*53"):
        validate_user_id(2**53)
    with pytest.raises(PusherValidationError, match="empty"):
        validate_user_id("")
    with pytest.raises(PusherValidationError, match="control"):
        validate_user_id("a\nb")
    with pytest.raises(PusherValidationError, match="not bool"):
        validate_user_id(True)
    # Sign-in ids name a channel, so they are held to channel characters.
    with pytest.raises(PusherValidationError, match="part of a channel name"):
        validate_user_id("auth0|abc", channel_safe=True)
    with pytest.raises(PusherValidationError, match="not int"):
        validate_user_id(5, channel_safe=True)


def test_user_info_size() -> None:
    validate_user_info({"name": "x" * 1000})
    with pytest.raises(PusherValidationError, match="bytes of JSON; the limit is 1024") as err:
        validate_user_info({"name": "é" * 600})
    assert err.value.limit == "max_presence_user_info_bytes"
    with pytest.raises(PusherValidationError, match="not JSON-serialisable"):
        validate_user_info({"x": float("nan")})


def test_watchlist() -> None:
    assert validate_watchlist(["a", "b"]) == ["a", "b"]
    with pytest.raises(PusherValidationError) as err:
        validate_watchlist([str(i) for i in range(101)])
    assert err.value.code == 4302 and err.value.limit == "max_watchlist"
    assert str(err.value) == "watchlist has 101 user ids; the limit is 100"
    with pytest.raises(PusherValidationError, match="list of user ids"):
        validate_watchlist("abc")
    with pytest.raises(PusherValidationError, match="user id strings"):
        validate_watchlist([1])


def test_parse_presence_channel_data() -> None:
    member = parse_presence_channel_data('{"user_id":10,"user_info":{"name":"Mr. Channels"}}')
    assert member.user_id == 10 and member.key == "10" and member.user_info == {"name": "Mr. Channels"}
    assert parse_presence_channel_data('{"user_id":"a"}').user_info is None
    for bad, msg in [
        ("[]", "JSON object"),
        ("{", "not valid JSON"),
        ("{}", "no user_id"),
        ('{"user_id":null}', "not NoneType"),
        (None, "must be a string"),
        ("[" * 100_000, "not valid JSON"),
    ]:
        with pytest.raises(PusherValidationError, match=msg):
            parse_presence_channel_data(bad)


def test_parse_user_data() -> None:
    user = parse_user_data('{"id":"42","user_info":{"n":1},"watchlist":["7"]}')
    assert (user.id, user.user_info, user.watchlist) == ("42", {"n": 1}, ("7",))
    with pytest.raises(PusherValidationError, match="user id strings"):
        parse_user_data('{"id":"42","watchlist":[1]}')
    with pytest.raises(PusherValidationError, match="part of a channel name"):
        parse_user_data('{"id":"auth0|42"}')
    with pytest.raises(PusherValidationError) as err:
        parse_user_data('{"id":"42","watchlist":[' + ",".join(f'"{i}"' for i in range(101)) + "]}")
    assert err.value.code == 4302


# --- never crash ----------------------------------------------------------------------------------

anything = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=50),
    st.integers(),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=30), max_size=120),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(anything)
def test_validators_never_crash(value: object) -> None:
    small = Limits(max_channels_per_trigger=5, max_watchlist=5)
    for check in (
        validate_socket_id,
        validate_channel_name,
        validate_event_name,
        validate_data_size,
        validate_user_id,
        validate_user_info,
        parse_presence_channel_data,
        parse_user_data,
        lambda v: validate_watchlist(v, small),
        lambda v: validate_channels(v, small),
        lambda v: validate_channel_name(v, allow_server_to_user=True),
        lambda v: validate_user_id(v, channel_safe=True),
    ):
        try:
            check(value)
        except PusherValidationError as exc:
            assert str(exc) and exc.limit


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=VALID_CHARS, min_size=1, max_size=200))
def test_channel_name_property(name: str) -> None:
    if name.startswith("presence-encrypted-"):
        return
    if len(name) <= 164:
        assert validate_channel_name(name) == name
    else:
        with pytest.raises(PusherValidationError, match=f"{len(name)} characters; the limit is 164"):
            validate_channel_name(name)


def test_limits_must_be_positive_whole_numbers() -> None:
    from authviz.errors import ConfigError

    assert Limits(max_data_bytes=100_000).max_data_bytes == 100_000
    for bad in (0, -1, 1.5, "10", True, None):
        with pytest.raises(ConfigError, match="Limits.max_data_bytes must be a positive whole number"):
            Limits(max_data_bytes=bad)  # type: ignore[arg-type]
