"""authviz.config.PusherSettings: PUSHER_URL, single variables, .env, and one-sentence errors."""

from __future__ import annotations

import base64

import pytest

from authviz.config import PusherSettings
from authviz.errors import ConfigError


def test_pusher_url_gives_everything():
    s = PusherSettings.from_env({"PUSHER_URL": "http://k1:s%2F1@127.0.0.1:6001/apps/42"}, dotenv_path=None)
    assert (s.key, s.secret, s.app_id, s.host, s.port, s.tls) == ("k1", "s/1", "42", "127.0.0.1", 6001, False)
    assert s.ws_url.startswith("ws://127.0.0.1:6001/app/k1?protocol=7&")
    assert s.http_url == "http://127.0.0.1:6001"


def test_https_url_defaults_to_443_and_pusher_api_host_means_cluster():
    s = PusherSettings.from_env({"PUSHER_URL": "https://k:s@api-eu.pusher.com/apps/9"}, dotenv_path=None)
    assert (s.cluster, s.host, s.port, s.tls) == ("eu", "ws-eu.pusher.com", 443, True)
    assert s.ws_url.startswith("wss://ws-eu.pusher.com:443/app/k?")
    assert s.http_url == "https://api-eu.pusher.com:443"


def test_single_variables_and_cluster():
    s = PusherSettings.from_env(
        {"PUSHER_APP_ID": "1", "PUSHER_KEY": "k", "PUSHER_SECRET": "s", "PUSHER_CLUSTER": "mt1"}, dotenv_path=None
    )
    assert (s.host, s.port, s.tls) == ("ws-mt1.pusher.com", 443, True)


def test_host_port_tls_variables_override_the_url():
    s = PusherSettings.from_env(
        {
            "PUSHER_URL": "http://k:s@a.example/apps/1",
            "PUSHER_HOST": "127.0.0.1",
            "PUSHER_PORT": "7000",
            "PUSHER_TLS": "false",
        },
        dotenv_path=None,
    )
    assert (s.host, s.port, s.tls) == ("127.0.0.1", 7000, False)


def test_auth_endpoint_token_headers_and_master_key():
    key = base64.b64encode(bytes(32)).decode()
    s = PusherSettings.from_env(
        {
            "PUSHER_KEY": "k",
            "PUSHER_HOST": "127.0.0.1",
            "PUSHER_AUTH_ENDPOINT": "http://127.0.0.1:9/pusher/auth",
            "PUSHER_AUTH_TOKEN": "tok",
            "PUSHER_AUTH_HEADERS": '{"X-Team": "blue"}',
            "PUSHER_ENCRYPTION_MASTER_KEY": key,
        },
        dotenv_path=None,
    )
    assert s.auth_headers == {"X-Team": "blue", "Authorization": "Bearer tok"}
    assert s.encryption_master_key == bytes(32)
    assert "tok" not in repr(s) and "secret='***'" not in repr(s)


def test_dotenv_file_is_read_but_never_overrides_the_environment(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PUSHER_URL=http://filekey:fs@127.0.0.1:6001/apps/5\nPUSHER_PORT=6002\n")
    s = PusherSettings.from_env({"PUSHER_PORT": "7007"}, dotenv_path=env_file)
    assert (s.key, s.app_id, s.port) == ("filekey", "5", 7007)


def test_secret_is_not_in_repr():
    s = PusherSettings.from_url("http://k:topsecret@127.0.0.1:1/apps/1")
    assert "topsecret" not in repr(s)


@pytest.mark.parametrize(
    "env, variable",
    [
        ({}, "PUSHER_KEY"),
        ({"PUSHER_KEY": "k"}, "PUSHER_HOST"),
        ({"PUSHER_URL": "ftp://k:s@h/apps/1"}, "PUSHER_URL"),
        ({"PUSHER_URL": "http://h:1/apps/1"}, "PUSHER_URL"),
        ({"PUSHER_URL": "http://k:s@h:1/app/1"}, "PUSHER_URL"),
        ({"PUSHER_URL": "http://k:s@h:99999/apps/1"}, "PUSHER_URL"),
        ({"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_PORT": "http"}, "PUSHER_PORT"),
        ({"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_PORT": "0"}, "PUSHER_PORT"),
        ({"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_TLS": "maybe"}, "PUSHER_TLS"),
        ({"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_APP_ID": "app"}, "PUSHER_APP_ID"),
        ({"PUSHER_KEY": "k", "PUSHER_CLUSTER": "eu west"}, "PUSHER_CLUSTER"),
        ({"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_AUTH_HEADERS": "[1]"}, "PUSHER_AUTH_HEADERS"),
        (
            {"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_ENCRYPTION_MASTER_KEY": "c2hvcnQ="},
            "PUSHER_ENCRYPTION_MASTER_KEY",
        ),
        ({"PUSHER_KEY": "k", "PUSHER_HOST": "h", "PUSHER_ENCRYPTION_MASTER_KEY": "!!"}, "PUSHER_ENCRYPTION_MASTER_KEY"),
    ],
)
def test_bad_settings_are_one_sentence_naming_the_variable(env, variable):
    with pytest.raises(ConfigError) as info:
        PusherSettings.from_env(env, dotenv_path=None)
    message = str(info.value)
    assert variable in message
    assert message.endswith(".") and "\n" not in message and message.count(". ") == 0


def test_an_ipv6_host_is_bracketed_in_every_url_made_from_pusher_url():
    """One parser of PUSHER_URL: the websocket, HTTP API and publisher URLs all write an IPv6
    address in brackets, as the Pusher libraries do."""
    from authviz.bridge.publish import PusherCredentials

    url = "http://k:s@[::1]:6001/apps/1"
    settings = PusherSettings.from_url(url)
    assert settings.host == "::1"
    assert settings.ws_url.startswith("ws://[::1]:6001/app/k?")
    assert settings.http_url == "http://[::1]:6001"
    assert PusherCredentials.from_url(url).base_url == "http://[::1]:6001"
    assert PusherSettings.from_env({"PUSHER_URL": url}, dotenv_path=None).ws_url.startswith("ws://[::1]:6001/")
