"""Helpers for the hub tests: a raw websocket client (websocket-client) and waiting utilities.

Everything here talks to a real hub over loopback; every wait is bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import websocket  # websocket-client

KEY, SECRET, APP_ID = "test-key", "test-secret", "7"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


class RawClient:
    """A websocket client that speaks the Pusher protocol by hand (to send anything at all)."""

    def __init__(self, hub: Any, key: str = KEY, protocol: str | None = "7", timeout: float = 5.0) -> None:
        query = f"?protocol={protocol}" if protocol is not None else ""
        self.ws = websocket.create_connection(f"{hub.ws_url}/app/{key}{query}", timeout=timeout)
        self.socket_id: str | None = None
        self.close_code: int | None = None

    def established(self) -> dict[str, Any]:
        msg = self.recv()
        assert msg["event"] == "pusher:connection_established", msg
        data = json.loads(msg["data"])
        self.socket_id = data["socket_id"]
        return data

    def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        msg: dict[str, Any] = {"event": event}
        if data is not None:
            msg["data"] = data
        if channel is not None:
            msg["channel"] = channel
        self.ws.send(json.dumps(msg))

    def recv(self) -> dict[str, Any]:
        """The next text message, decoded (fails on a close)."""
        while True:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_TEXT:
                return json.loads(data)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise ConnectionError(f"closed with {self.close_code}: {data[2:]!r}")

    def recv_event(self, event: str) -> dict[str, Any]:
        """Skip messages until one named ``event`` arrives."""
        for _ in range(100):
            msg = self.recv()
            if msg["event"] == event:
                return msg
        raise AssertionError(f"no {event} in 100 messages")

    def wait_close(self) -> int | None:
        """Read until the server closes; return its close code (None if the socket just died)."""
        try:
            for _ in range(1000):
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    return self.close_code
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return self.close_code
        raise AssertionError("the server did not close the connection")

    def subscribe(self, channel: str, auth: dict[str, str] | None = None) -> dict[str, Any]:
        self.send("pusher:subscribe", {"channel": channel, **(auth or {})})
        return self.recv()

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:  # noqa: BLE001 - already gone
            pass


class WebhookReceiver:
    """A real aiohttp webhook endpoint on loopback, in its own thread (a context manager).

    Every POST is checked with :func:`authviz.pusher.webhooks.verify_webhook` (a bad signature is
    answered 401 and counted in ``rejected``); ``events`` is ``[(monotonic time, event), ...]``.
    """

    def __init__(self, key: str = KEY, secret: str = SECRET) -> None:
        import asyncio
        import threading

        self.key, self.secret = key, secret
        self._events: list[tuple[float, dict[str, Any]]] = []
        self.rejected = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="test-webhook-receiver")
        self._runner: Any = None
        self.url = ""

    async def _hook(self, request: Any) -> Any:
        from aiohttp import web

        from authviz.pusher.webhooks import verify_webhook

        body = await request.read()
        if not verify_webhook(self.key, self.secret, dict(request.headers), body):
            self.rejected += 1
            return web.Response(status=401)
        now = time.monotonic()
        with self._lock:
            self._events.extend((now, e) for e in json.loads(body)["events"])
        return web.Response(text="ok")

    def __enter__(self) -> "WebhookReceiver":
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    @property
    def events(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self._events)

    def names(self, **match: Any) -> list[str]:
        """Names of the events received so far whose fields equal ``match``."""
        return [e["name"] for _, e in self.events if all(e.get(k) == v for k, v in match.items())]


def make_tls_files(directory: Any, name: str = "hub") -> dict[str, Any]:
    """A fresh CA and a server certificate it signed, for 127.0.0.1 / localhost, written as PEM
    files in ``directory``: ``{"ca": path, "cert": path, "key": path}`` (cryptography)."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"authviz test CA {name}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": directory / f"{name}-ca.pem",
        "cert": directory / f"{name}-cert.pem",
        "key": directory / f"{name}-key.pem",
    }
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
