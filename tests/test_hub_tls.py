"""TLS: the hub serving wss:// and https:// with a certificate made in the test (cryptography),
the live client trusting a custom CA (PUSHER_CA_FILE, SSL_CERT_FILE) with verification on, the
`pusher` library triggering over https, and clear sentences for every TLS mistake.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from urllib.parse import urlsplit

import pusher
import pytest
import requests
import websocket
from pusher.requests import RequestsBackend

from authviz.cli import main as authviz_main
from authviz.config import PusherSettings
from authviz.errors import ConfigError
from authviz.hub import running_hub
from authviz.live import LiveClient
from hub_support import APP_ID, KEY, SECRET, make_tls_files, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    files = make_tls_files(directory, "hub")
    files["other_ca"] = make_tls_files(directory, "other")["ca"]
    return files


@pytest.fixture(scope="module")
def hub(tls):
    with running_hub(APP_ID, KEY, SECRET, tls_cert=tls["cert"], tls_key=tls["key"]) as h:
        yield h


class CABackend(RequestsBackend):
    """The `pusher` library's HTTP backend verifying against our CA. (With ``ssl=True`` the
    library always verifies against its bundled cacert.pem and ignores ``verify=``.)"""

    def __init__(self, client, ca_file, **options):
        super().__init__(client, **options)
        self.options["verify"] = str(ca_file)


def settings_for(h, **env) -> PusherSettings:
    return PusherSettings.from_env({"PUSHER_URL": h.pusher_url, **env}, dotenv_path=None)


def test_urls_say_https_and_wss(hub):
    assert hub.url.startswith("https://127.0.0.1:") and hub.ws_url.startswith("wss://")
    assert hub.pusher_url.startswith(f"https://{KEY}:{SECRET}@127.0.0.1:")
    settings = settings_for(hub)
    assert settings.tls and settings.ws_url.startswith(f"wss://127.0.0.1:{hub.port}/")


def test_live_client_over_wss_receives_what_the_pusher_library_triggers_over_https(hub, tls):
    client = LiveClient(settings_for(hub, PUSHER_CA_FILE=str(tls["ca"])))
    try:
        sub = client.subscribe("news", "private-news")
        assert sub.wait_subscribed(10), list(sub.errors)
        lib = pusher.Pusher(
            app_id=APP_ID,
            key=KEY,
            secret=SECRET,
            host="127.0.0.1",
            port=hub.port,
            ssl=True,
            backend=CABackend,
            ca_file=tls["ca"],
        )
        lib.trigger(["news", "private-news"], "flash", {"n": 1})
        got = {(e.channel, e.name, e.data["n"]) for e in sub.events(timeout=5, limit=2)}
        assert got == {("news", "flash", 1), ("private-news", "flash", 1)}
        assert lib.channel_info("news", ["subscription_count"])["subscription_count"] == 1
        assert not sub.errors
    finally:
        assert client.close()


def test_ssl_cert_file_is_honoured(hub, tls):
    client = LiveClient(settings_for(hub, SSL_CERT_FILE=str(tls["ca"])))
    try:
        assert client.subscribe("news").wait_subscribed(10)
    finally:
        assert client.close()


def test_verification_stays_on(hub):
    # the pusher library's own bundle and requests' defaults do not know our CA
    lib = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=hub.port, ssl=True)
    with pytest.raises(requests.exceptions.SSLError):
        lib.trigger("news", "flash", "x")
    # nor does the system trust store, which the live client uses without PUSHER_CA_FILE
    with pytest.raises(ssl.SSLCertVerificationError):
        websocket.create_connection(
            f"{hub.ws_url}/app/{KEY}?protocol=7", timeout=5, sslopt={"context": ssl.create_default_context()}
        )


def test_wrong_ca_is_one_clear_sentence_not_a_traceback(hub, tls, capfd):
    client = LiveClient(settings_for(hub, PUSHER_CA_FILE=str(tls["other_ca"])))
    try:
        sub = client.subscribe("news")
        wait_for(lambda: sub.errors, timeout=10)
        assert not client.is_subscribed("news")
        message = str(sub.errors[0])
        assert message.startswith(
            f"The Pusher server at 127.0.0.1:{hub.port} presented a TLS certificate this client does not trust ("
        )
        assert "set PUSHER_CA_FILE" in message and message.count("\n") == 0
    finally:
        assert client.close()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_plain_client_against_tls_port_and_bad_ca_files(hub, tls, tmp_path):
    with pytest.raises(ConfigError, match="PUSHER_CA_FILE .*no such file"):
        settings_for(hub, PUSHER_CA_FILE=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="PUSHER_CA_FILE .*no PEM CA certificate"):
        LiveClient(settings_for(hub, PUSHER_CA_FILE=str(junk)))
    # ws:// against the TLS port: the handshake fails and the client says where
    plain = settings_for(hub, PUSHER_TLS="false")
    client = LiveClient(plain, connect_timeout=2)
    try:
        sub = client.subscribe("news")
        wait_for(lambda: sub.errors, timeout=10)
        assert f"127.0.0.1:{hub.port}" in str(sub.errors[0])
    finally:
        assert client.close()


# --- authviz serve / authviz tail -----------------------------------------------------------------


def test_serve_with_tls_prints_an_https_url_and_serves_wss(tmp_path, tls):
    env = {**os.environ, "AUTHVIZ_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authviz",
            "serve",
            "--port",
            "0",
            "--no-bridge",
            "--tls-cert",
            str(tls["cert"]),
            "--tls-key",
            str(tls["key"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("PUSHER_ENV_FILE="), (line, proc.stderr.read())
        line = (tmp_path / line.split("=", 1)[1]).read_text().splitlines()[0]
        assert line.startswith("PUSHER_URL=https://"), line
        url = urlsplit(line.split("=", 1)[1])
        ws = websocket.create_connection(
            f"wss://127.0.0.1:{url.port}/app/{url.username}?protocol=7", timeout=5, sslopt={"ca_certs": str(tls["ca"])}
        )
        assert "connection_established" in ws.recv()
        ws.close()
        lib = pusher.Pusher(
            app_id=url.path.rsplit("/", 1)[1],
            key=url.username,
            secret=url.password,
            host="127.0.0.1",
            port=url.port,
            ssl=True,
            backend=CABackend,
            ca_file=tls["ca"],
        )
        assert lib.trigger("news", "flash", "hello") == {}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "listening on https://" in err and "Traceback" not in err


def test_bad_tls_files_are_one_cli_sentence(tmp_path, tls, capsys):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(tls["key"].read_bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"  # refused, never a terminal password prompt
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
    )
    cases = [
        (["--tls-cert", str(tls["cert"]), "--tls-key", str(encrypted)], 1, "unencrypted private key"),
        (["--tls-cert", str(tmp_path / "nope.pem")], 1, "--tls-cert"),
        (["--tls-cert", str(tls["cert"]), "--tls-key", str(tmp_path / "nope.pem")], 1, "--tls-key"),
        (["--tls-key", str(tls["key"])], 2, "--tls-key needs --tls-cert"),
        (["--tls-cert", str(tls["ca"]), "--tls-key", str(tls["key"])], 1, "is not the private key of the certificate"),
        (["--tls-cert", str(tls["key"]), "--tls-key", str(tls["key"])], 1, "not a PEM certificate"),
    ]
    for flags, status, message in cases:
        assert authviz_main(["serve", "--port", "0", "--no-bridge", *flags]) == status, flags
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err


def test_tail_with_the_wrong_ca_prints_one_sentence_and_stops_cleanly(hub, tls, tmp_path):
    env = {**os.environ, "PUSHER_URL": hub.pusher_url, "PUSHER_CA_FILE": str(tls["other_ca"]), "PYTHONUNBUFFERED": "1"}
    env.pop("AUTHVIZ_SOURCE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "tail", "--channel", "news"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        line = proc.stderr.readline()
        assert line.startswith("authviz: The Pusher server at 127.0.0.1:") and "does not trust" in line, line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in proc.stderr.read()
