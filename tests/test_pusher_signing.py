"""Signatures: Pusher's published worked examples, the `pusher` library, and property tests.

Vectors come from pusher/docs `docs/channels/library_auth_reference/auth-signatures.md` and
`rest-api.md` (key 278d425bdf160c739803, secret 7ad3773142a6692b25b8, socket 1234.1234).
"""

from __future__ import annotations

import base64
import json

import pusher
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.errors import AuthvizError
from authviz.pusher import (
    EncryptionKeyError,
    PusherValidationError,
    SignatureError,
    authenticate_user,
    authorize_channel,
    hmac_sha256_hex,
    presence_channel_data,
    request_string_to_sign,
    sign_request,
    verify_channel_auth,
    verify_request,
    verify_user_auth,
)

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET = "1234.1234"

# --- the documentation's worked examples ----------------------------------------------------------

# auth-signatures.md, "Private channel".
PRIVATE_AUTH = f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
# auth-signatures.md, "User authentication".
USER_DATA = '{"id":"12345"}'
USER_AUTH = f"{KEY}:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
# auth-signatures.md, "Presence channels". The page's current text signs "Mr. Channels" but still
# prints the digest of its earlier "Mr. Pusher" example (afaed369..., also the vector of the
# Java, PHP, Go and Haskell server libraries). Both pairs are published; both are checked.
PRESENCE_DATA_CHANNELS = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
PRESENCE_AUTH_CHANNELS = f"{KEY}:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
PRESENCE_DATA_PUSHER = '{"user_id":10,"user_info":{"name":"Mr. Pusher"}}'
PRESENCE_AUTH_PUSHER = f"{KEY}:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"
# rest-api.md, "Worked authentication example".
REST_BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
REST_TIMESTAMP = 1353088179
REST_BODY_MD5 = "ec365a775a4cd0599faeb73354201b6f"
REST_SIGNATURE = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
REST_STRING = (
    "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
    "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
)


def test_private_channel_worked_example() -> None:
    assert authorize_channel(KEY, SECRET, SOCKET, "private-foobar") == {"auth": PRIVATE_AUTH}
    assert verify_channel_auth(KEY, SECRET, SOCKET, "private-foobar", PRIVATE_AUTH)


@pytest.mark.parametrize(
    ("channel_data", "auth"),
    [(PRESENCE_DATA_CHANNELS, PRESENCE_AUTH_CHANNELS), (PRESENCE_DATA_PUSHER, PRESENCE_AUTH_PUSHER)],
)
def test_presence_channel_worked_example(channel_data: str, auth: str) -> None:
    response = authorize_channel(KEY, SECRET, SOCKET, "presence-foobar", channel_data=channel_data)
    assert response == {"auth": auth, "channel_data": channel_data}
    assert verify_channel_auth(KEY, SECRET, SOCKET, "presence-foobar", auth, channel_data)


def test_presence_channel_data_builds_the_documented_string() -> None:
    assert presence_channel_data(10, {"name": "Mr. Channels"}) == PRESENCE_DATA_CHANNELS
    assert presence_channel_data("u-1") == '{"user_id":"u-1"}'


def test_user_authentication_worked_example() -> None:
    assert authenticate_user(KEY, SECRET, SOCKET, USER_DATA) == {
        "auth": USER_AUTH,
        "user_data": USER_DATA,
    }
    # A mapping is serialised compactly, giving the same documented string.
    assert authenticate_user(KEY, SECRET, SOCKET, {"id": "12345"})["auth"] == USER_AUTH
    assert verify_user_auth(KEY, SECRET, SOCKET, USER_DATA, USER_AUTH)


def test_http_api_worked_example() -> None:
    query = sign_request(KEY, SECRET, "POST", "/apps/3/events", None, REST_BODY, timestamp=REST_TIMESTAMP)
    assert query == {
        "auth_key": KEY,
        "auth_timestamp": str(REST_TIMESTAMP),
        "auth_version": "1.0",
        "body_md5": REST_BODY_MD5,
        "auth_signature": REST_SIGNATURE,
    }
    assert request_string_to_sign("POST", "/apps/3/events", query) == REST_STRING
    verify_request(SECRET, "POST", "/apps/3/events", query, REST_BODY, now=REST_TIMESTAMP + 599)


def test_hmac_accepts_text_and_bytes() -> None:
    assert hmac_sha256_hex(SECRET, "1234.1234:private-foobar") == PRIVATE_AUTH.split(":")[1]
    assert hmac_sha256_hex(SECRET.encode(), b"1234.1234:private-foobar") == PRIVATE_AUTH.split(":")[1]


# --- verification rejects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        PRIVATE_AUTH.upper(),  # hex digests are lower-case
        PRIVATE_AUTH[:-1],
        PRIVATE_AUTH + "0",
        "other-key:" + PRIVATE_AUTH.split(":")[1],
        PRIVATE_AUTH.split(":")[1],  # no key
        "",
        ":",
        None,
        12,
        "278d425bdf160c739803:é",  # non-ASCII must not crash compare_digest
        "\udcff:x",
    ],
)
def test_verify_channel_auth_rejects_malformed_or_wrong(auth: object) -> None:
    assert verify_channel_auth(KEY, SECRET, SOCKET, "private-foobar", auth) is False


def test_verify_channel_auth_binds_socket_channel_and_channel_data() -> None:
    assert not verify_channel_auth(KEY, SECRET, "1234.1235", "private-foobar", PRIVATE_AUTH)
    assert not verify_channel_auth(KEY, SECRET, SOCKET, "private-foobaz", PRIVATE_AUTH)
    assert not verify_channel_auth(KEY, "other-secret", SOCKET, "private-foobar", PRIVATE_AUTH)
    # channel_data is signed: a client may not swap in another user.
    forged = PRESENCE_DATA_CHANNELS.replace("10", "11")
    assert not verify_channel_auth(KEY, SECRET, SOCKET, "presence-foobar", PRESENCE_AUTH_CHANNELS, forged)
    # Re-encoding the same JSON changes the bytes, so it is not the signed string either.
    respaced = json.dumps(json.loads(PRESENCE_DATA_CHANNELS))
    assert not verify_channel_auth(KEY, SECRET, SOCKET, "presence-foobar", PRESENCE_AUTH_CHANNELS, respaced)


def test_verify_user_auth_rejects_other_user_data() -> None:
    assert not verify_user_auth(KEY, SECRET, SOCKET, '{"id":"12346"}', USER_AUTH)
    assert not verify_user_auth(KEY, SECRET, SOCKET, USER_DATA, PRIVATE_AUTH)
    assert not verify_user_auth(KEY, SECRET, SOCKET, None, USER_AUTH)  # type: ignore[arg-type]


# --- authorization input errors -------------------------------------------------------------------


def test_authorize_rejects_bad_input_with_clear_errors() -> None:
    with pytest.raises(PusherValidationError, match="socket_id") as err:
        authorize_channel(KEY, SECRET, "1234", "private-foobar")
    assert err.value.limit == "socket_id"
    with pytest.raises(PusherValidationError, match="public and needs no authorization"):
        authorize_channel(KEY, SECRET, SOCKET, "foobar")
    with pytest.raises(PusherValidationError, match="needs channel_data"):
        authorize_channel(KEY, SECRET, SOCKET, "presence-foobar")
    with pytest.raises(PusherValidationError, match="only for presence"):
        authorize_channel(KEY, SECRET, SOCKET, "private-foobar", channel_data="{}")
    with pytest.raises(PusherValidationError, match="no user_id"):
        authorize_channel(KEY, SECRET, SOCKET, "presence-foobar", channel_data='{"id":1}')
    with pytest.raises(PusherValidationError, match="not valid JSON"):
        authorize_channel(KEY, SECRET, SOCKET, "presence-foobar", channel_data="{nope")
    with pytest.raises(PusherValidationError, match="165 characters; the limit is 164"):
        authorize_channel(KEY, SECRET, SOCKET, "private-" + "a" * 157)
    with pytest.raises(EncryptionKeyError, match="master key"):
        authorize_channel(KEY, SECRET, SOCKET, "private-encrypted-foobar")
    with pytest.raises(EncryptionKeyError, match="16 bytes; it must be exactly 32"):
        authorize_channel(KEY, SECRET, SOCKET, "private-encrypted-foobar", encryption_master_key=b"k" * 16)


def test_authenticate_user_checks_user_data() -> None:
    with pytest.raises(PusherValidationError, match="no id"):
        authenticate_user(KEY, SECRET, SOCKET, '{"user_info":{}}')
    with pytest.raises(PusherValidationError, match="id must be a string"):
        authenticate_user(KEY, SECRET, SOCKET, {"id": 12345})
    with pytest.raises(PusherValidationError, match="empty"):
        authenticate_user(KEY, SECRET, SOCKET, {"id": ""})
    with pytest.raises(PusherValidationError) as err:
        authenticate_user(KEY, SECRET, SOCKET, {"id": "a", "watchlist": [str(i) for i in range(101)]})
    assert err.value.code == 4302 and err.value.limit == "max_watchlist"
    assert "101 user ids; the limit is 100" in str(err.value)
    with pytest.raises(PusherValidationError, match="not JSON-serialisable"):
        authenticate_user(KEY, SECRET, SOCKET, {"id": "a", "user_info": object()})


# --- HTTP API verification ------------------------------------------------------------------------


def _signed(params=None, body=REST_BODY, path="/apps/3/events", method="POST"):
    return sign_request(KEY, SECRET, method, path, params, body, timestamp=REST_TIMESTAMP)


def test_verify_request_reasons() -> None:
    good = _signed()
    verify_request(SECRET, "POST", "/apps/3/events", good, REST_BODY, now=REST_TIMESTAMP)

    for name in ("auth_key", "auth_timestamp", "auth_version", "auth_signature"):
        params = {k: v for k, v in good.items() if k != name}
        with pytest.raises(SignatureError, match=name) as err:
            verify_request(SECRET, "POST", "/apps/3/events", params, REST_BODY, now=REST_TIMESTAMP)
        assert err.value.reason == "missing"

    cases = [
        ({**good, "auth_signature": "0" * 64}, REST_BODY, "POST", "/apps/3/events", "bad_signature"),
        (good, REST_BODY, "GET", "/apps/3/events", "bad_signature"),
        (good, REST_BODY, "POST", "/apps/4/events", "bad_signature"),
        ({**good, "extra": "1"}, REST_BODY, "POST", "/apps/3/events", "bad_signature"),
        ({**good, "auth_version": "2.0"}, REST_BODY, "POST", "/apps/3/events", "bad_signature"),
        (good, REST_BODY + b" ", "POST", "/apps/3/events", "body_md5"),
        (good, b"", "POST", "/apps/3/events", "body_md5"),
    ]
    for params, body, method, path, reason in cases:
        with pytest.raises(SignatureError) as err:
            verify_request(SECRET, method, path, params, body, now=REST_TIMESTAMP)
        assert err.value.reason == reason, (params, body, method, path)
        assert isinstance(err.value, AuthvizError) and str(err.value)


def test_verify_request_clock_skew() -> None:
    good = _signed()
    for now in (REST_TIMESTAMP - 600, REST_TIMESTAMP + 600):
        verify_request(SECRET, "POST", "/apps/3/events", good, REST_BODY, now=now)
    with pytest.raises(SignatureError, match="601 s behind the server clock; the limit is 600 s") as err:
        verify_request(SECRET, "POST", "/apps/3/events", good, REST_BODY, now=REST_TIMESTAMP + 601)
    assert err.value.reason == "expired"
    with pytest.raises(SignatureError, match="ahead of") as err:
        verify_request(SECRET, "POST", "/apps/3/events", good, REST_BODY, now=REST_TIMESTAMP - 601)
    verify_request(SECRET, "POST", "/apps/3/events", good, REST_BODY, now=REST_TIMESTAMP + 5000, max_skew=6000)
    # A signed but non-numeric timestamp is refused as such.
    odd = sign_request(KEY, SECRET, "POST", "/apps/3/events", None, REST_BODY, timestamp=0) | {
        "auth_timestamp": "soon",
    }
    odd["auth_signature"] = hmac_sha256_hex(SECRET, request_string_to_sign("POST", "/apps/3/events", odd))
    with pytest.raises(SignatureError, match="not a whole number") as err:
        verify_request(SECRET, "POST", "/apps/3/events", odd, REST_BODY, now=0)
    assert err.value.reason == "expired"


def test_non_empty_body_needs_body_md5() -> None:
    unsigned_body = _signed(body=None)
    with pytest.raises(SignatureError, match="no body_md5") as err:
        verify_request(SECRET, "POST", "/apps/3/events", unsigned_body, REST_BODY, now=REST_TIMESTAMP)
    assert err.value.reason == "body_md5"
    # GET without body and without body_md5 is fine.
    get = _signed(
        {"filter_by_prefix": "presence-", "info": "user_count"}, body=None, path="/apps/3/channels", method="GET"
    )
    assert "body_md5" not in get
    verify_request(SECRET, "GET", "/apps/3/channels", get, b"", now=REST_TIMESTAMP)


def test_query_sorted_by_lower_cased_key_unescaped() -> None:
    # rest-api.md: auth_key=foo, Name="Something else" -> "auth_key=foo&name=Something else".
    s = request_string_to_sign("get", "/some/resource", {"Name": "Something else", "auth_key": "foo"})
    assert s == "GET\n/some/resource\nauth_key=foo&name=Something else"
    s = request_string_to_sign("GET", "/p", {"b": "1", "A": "2", "auth_signature": "x"})
    assert s == "GET\n/p\na=2&b=1"


def test_sign_request_replaces_caller_auth_params() -> None:
    q = sign_request(
        KEY, SECRET, "GET", "/apps/3/channels", {"auth_signature": "x", "AUTH_KEY": "y", "info": "a"}, None, timestamp=5
    )
    assert q["auth_key"] == KEY and "AUTH_KEY" not in q and q["auth_signature"] != "x"
    verify_request(SECRET, "GET", "/apps/3/channels", q, b"", now=5)


# --- cross-checks with the `pusher` library -------------------------------------------------------


def _client(app_id: str = "3", **kw) -> pusher.Pusher:
    return pusher.Pusher(app_id=app_id, key=KEY, secret=SECRET, host="127.0.0.1", port=1, ssl=False, **kw)


def test_pusher_library_private_and_presence_agree() -> None:
    client = _client()
    assert client.authenticate("private-foobar", SOCKET) == {"auth": PRIVATE_AUTH}
    # The library serialises custom_data itself (with spaces); whatever string it signs, our
    # verifier accepts it as long as that string is passed back unchanged.
    theirs = client.authenticate("presence-foobar", SOCKET, {"user_id": 10, "user_info": {"name": "Mr. Channels"}})
    assert verify_channel_auth(KEY, SECRET, SOCKET, "presence-foobar", theirs["auth"], theirs["channel_data"])
    ours = authorize_channel(KEY, SECRET, SOCKET, "presence-foobar", channel_data=theirs["channel_data"])
    assert ours == theirs


def test_pusher_library_user_authentication_agrees() -> None:
    client = _client()
    theirs = client.authenticate_user(SOCKET, {"id": "12345", "user_info": {"name": "Ada"}})
    assert verify_user_auth(KEY, SECRET, SOCKET, theirs["user_data"], theirs["auth"])
    assert authenticate_user(KEY, SECRET, SOCKET, theirs["user_data"]) == theirs


def test_pusher_library_encrypted_auth_agrees_but_ours_is_json_serialisable() -> None:
    master = bytes(range(32))
    client = _client(encryption_master_key_base64=base64.b64encode(master).decode())
    theirs = client.authenticate("private-encrypted-foobar", SOCKET)
    ours = authorize_channel(KEY, SECRET, SOCKET, "private-encrypted-foobar", encryption_master_key=master)
    assert ours["auth"] == theirs["auth"]
    # Defect not inherited: the library returns shared_secret as bytes, which json.dumps rejects.
    assert isinstance(theirs["shared_secret"], bytes)
    assert isinstance(ours["shared_secret"], str)
    assert ours["shared_secret"].encode() == theirs["shared_secret"]
    assert json.loads(json.dumps(ours)) == ours


def test_pusher_library_trigger_requests_verify() -> None:
    client = _client()
    request = client._pusher_client.trigger.make_request(["project-3", "private-x"], "foo", {"some": "data"})
    params = dict(request.query_params)
    now = float(params["auth_timestamp"])
    verify_request(SECRET, request.method, request.path, params, request.body, now=now)
    ours = sign_request(
        KEY, SECRET, request.method, request.path, None, request.body, timestamp=int(params["auth_timestamp"])
    )
    assert ours == params

    batch = client._pusher_client.trigger_batch.make_request([{"channel": "a", "name": "e", "data": "é"}])
    verify_request(SECRET, "POST", batch.path, dict(batch.query_params), batch.body, now=now)


def test_pusher_library_get_requests_verify_with_empty_body_md5() -> None:
    client = _client()
    request = client._pusher_client.channels_info.make_request("presence-", ["user_count"])
    params = dict(request.query_params)
    assert params["body_md5"] == "d41d8cd98f00b204e9800998ecf8427e"  # the library always sends it
    verify_request(SECRET, "GET", request.path, params, b"", now=float(params["auth_timestamp"]))


def test_non_numeric_app_ids_are_fine() -> None:
    # Defect not inherited: the `pusher` library refuses app ids that are not all digits.
    with pytest.raises(ValueError):
        _client(app_id="workshop-app")
    q = sign_request(KEY, SECRET, "POST", "/apps/workshop-app/events", None, REST_BODY, timestamp=REST_TIMESTAMP)
    verify_request(SECRET, "POST", "/apps/workshop-app/events", q, REST_BODY, now=REST_TIMESTAMP)


# --- properties -----------------------------------------------------------------------------------

socket_ids = st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 10**12), st.integers(0, 10**12))
channel_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=@,.;",
    min_size=1,
    max_size=140,
).map(lambda s: "private-" + s)


def _flip_one_bit(text: str, position: int, bit: int) -> str:
    raw = bytearray(text.encode("utf-8"))
    raw[position % len(raw)] ^= 1 << bit
    return raw.decode("utf-8", errors="surrogateescape")


@settings(max_examples=150, deadline=None)
@given(
    socket_ids,
    channel_names,
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=40),
    st.integers(0, 10**6),
    st.integers(0, 7),
)
def test_property_channel_auth_round_trip_and_bit_flips(socket_id, channel, secret, pos, bit) -> None:
    auth = authorize_channel(KEY, secret, socket_id, channel)["auth"]
    assert verify_channel_auth(KEY, secret, socket_id, channel, auth)
    assert not verify_channel_auth(KEY, secret, socket_id, channel, _flip_one_bit(auth, pos, bit))
    assert not verify_channel_auth(KEY, secret, _flip_one_bit(socket_id, pos, bit), channel, auth)
    assert not verify_channel_auth(KEY, secret, socket_id, _flip_one_bit(channel, pos, bit), auth)
    assert not verify_channel_auth(KEY, _flip_one_bit(secret, pos, bit), socket_id, channel, auth)


@settings(max_examples=100, deadline=None)
@given(
    socket_ids,
    st.text(min_size=1, max_size=20).map(str.strip).filter(bool),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
    st.integers(0, 10**6),
    st.integers(0, 7),
)
def test_property_presence_and_user_auth_round_trip(socket_id, uid, info, pos, bit) -> None:
    try:
        data = presence_channel_data(uid, info)
    except PusherValidationError:
        return  # e.g. control characters in the id: refused, which is the point
    resp = authorize_channel(KEY, SECRET, socket_id, "presence-room", channel_data=data)
    assert resp["channel_data"] == data
    assert verify_channel_auth(KEY, SECRET, socket_id, "presence-room", resp["auth"], data)
    assert not verify_channel_auth(KEY, SECRET, socket_id, "presence-room", resp["auth"], _flip_one_bit(data, pos, bit))

    user = authenticate_user(KEY, SECRET, socket_id, {"id": "u1", "user_info": info})
    assert verify_user_auth(KEY, SECRET, socket_id, user["user_data"], user["auth"])
    assert not verify_user_auth(KEY, SECRET, socket_id, _flip_one_bit(user["user_data"], pos, bit), user["auth"])
    assert not verify_user_auth(KEY, SECRET, socket_id, user["user_data"], _flip_one_bit(user["auth"], pos, bit))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcdefghij_", min_size=1, max_size=8).filter(
            lambda k: not k.startswith("auth_") and k != "body_md5"
        ),
        st.text(max_size=20),
        max_size=5,
    ),
    st.binary(max_size=200),
    st.integers(0, 10**6),
    st.integers(0, 7),
)
def test_property_request_round_trip_and_bit_flips(params, body, pos, bit) -> None:
    signed = sign_request(KEY, SECRET, "POST", "/apps/3/events", params, body, timestamp=1000)
    verify_request(SECRET, "POST", "/apps/3/events", signed, body, now=1000)
    if body:
        flipped = bytearray(body)
        flipped[pos % len(flipped)] ^= 1 << bit
        with pytest.raises(SignatureError) as err:
            verify_request(SECRET, "POST", "/apps/3/events", signed, bytes(flipped), now=1000)
        assert err.value.reason == "body_md5"
    for name in list(signed):
        tampered = dict(signed)
        tampered[name] = _flip_one_bit(signed[name], pos, bit) if signed[name] else "x"
        with pytest.raises(SignatureError):
            verify_request(SECRET, "POST", "/apps/3/events", tampered, body, now=1000)


def test_verify_request_refuses_repeated_parameters_from_a_multidict() -> None:
    from multidict import MultiDict

    good = _signed({"info": "user_count"})
    verify_request(SECRET, "POST", "/apps/3/events", MultiDict(good), REST_BODY, now=REST_TIMESTAMP)
    for extra in (("info", "subscription_count"), ("INFO", "user_count"), ("auth_timestamp", str(REST_TIMESTAMP))):
        doubled = MultiDict(good)
        doubled.add(*extra)
        with pytest.raises(SignatureError, match="repeats a parameter") as err:
            verify_request(SECRET, "POST", "/apps/3/events", doubled, REST_BODY, now=REST_TIMESTAMP)
        assert err.value.reason == "bad_signature"


def test_verify_request_absurd_timestamp_is_refused_not_crashed() -> None:
    huge = sign_request(KEY, SECRET, "POST", "/apps/3/events", None, REST_BODY, timestamp=0) | {
        "auth_timestamp": "9" * 5000,  # int() of this would raise ValueError in Python >= 3.11
    }
    huge["auth_signature"] = hmac_sha256_hex(SECRET, request_string_to_sign("POST", "/apps/3/events", huge))
    with pytest.raises(SignatureError) as err:
        verify_request(SECRET, "POST", "/apps/3/events", huge, REST_BODY, now=0)
    assert err.value.reason == "expired"


_text = st.text(max_size=80)
_auth_keys = st.sampled_from(
    ["auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5", "AUTH_KEY", "x"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(_auth_keys, _text), _text, max_size=7), st.binary(max_size=40), _text, _text)
def test_property_verify_request_never_crashes(params, body, method, path) -> None:
    try:
        verify_request(SECRET, method, path, params, body, now=1000)
    except SignatureError as exc:
        assert exc.reason in SignatureError.REASONS and str(exc)


@settings(max_examples=300, deadline=None)
@given(_text, _text, st.one_of(_text, st.none(), st.integers()), st.one_of(_text, st.none()))
def test_property_verifiers_never_crash(socket_id, channel, auth, channel_data) -> None:
    assert verify_channel_auth(KEY, SECRET, socket_id, channel, auth, channel_data) in (True, False)
    assert verify_user_auth(KEY, SECRET, socket_id, channel_data or "", auth) in (True, False)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(_text, socket_ids),
    st.one_of(_text, channel_names, st.sampled_from(["presence-a", "private-encrypted-a"])),
    st.one_of(st.none(), _text, st.just('{"user_id":"x"}')),
    st.one_of(_text, st.dictionaries(_text, _text, max_size=3)),
)
def test_property_signers_raise_only_clear_errors(socket_id, channel, channel_data, user_data) -> None:
    try:
        response = authorize_channel(KEY, SECRET, socket_id, channel, channel_data=channel_data)
        assert verify_channel_auth(KEY, SECRET, socket_id, channel, response["auth"], response.get("channel_data"))
    except AuthvizError as exc:
        assert str(exc)
    try:
        response = authenticate_user(KEY, SECRET, socket_id, user_data)
        assert verify_user_auth(KEY, SECRET, socket_id, response["user_data"], response["auth"])
    except AuthvizError as exc:
        assert str(exc)
