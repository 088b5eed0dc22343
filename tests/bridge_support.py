"""Helpers for the bridge tests: a real hub with the bridge mounted (background thread), a real
``authviz serve`` subprocess, plain HTTP on loopback, log-stream records, and a real websocket
subscriber (websocket-client) speaking Pusher protocol 7 to the hub."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket

from authviz.bridge import serve as bridge_serve
from authviz.cli.bridge_options import add_bridge_arguments, bridge_settings
from authviz.config import BridgeSettings
from authviz.hub.running import RunningHub
from authviz.hub.server import HubServer
from authviz.pusher.protocol import App

ROOT = Path(__file__).resolve().parent.parent
APP_ID, KEY, SECRET = "1", "bridge-key", "bridge-secret"
LOG_TOKEN = "log-stream-token-for-tests"


def bridge_args(state_dir: Path, *extra: str) -> BridgeSettings:
    """The bridge's settings as ``authviz serve`` would make them from its options (the
    environment is not consulted)."""
    parser = argparse.ArgumentParser()
    add_bridge_arguments(parser)
    args = parser.parse_args(["--state-dir", str(state_dir), "--log-token", LOG_TOKEN, *extra])
    return bridge_settings(args, base=BridgeSettings())


class BridgeHub(RunningHub):
    """The embedded hub with the bridge mounted through the real plugin hook."""

    def __init__(self, args: BridgeSettings, **options: Any) -> None:
        super().__init__([App(APP_ID, KEY, SECRET)], **options)
        self.args = args
        self.bridge: Any = None

    async def _mount(self, server: HubServer) -> None:
        # the bridge's own start/stop ride on the app's startup/cleanup signals
        self.bridge = bridge_serve.mount(server.app, server, self.args, host=self.host)

    def _serving(self) -> None:
        if self.bridge is not None and self.bridge.dev_identity is not None:
            self.bridge.verifier.set_issuer(self.url + "/")

    def token(self, user: str, **kwargs: Any) -> str:
        """A dev-identity token for ``user`` (the server must run with --dev-identity)."""
        verifier = self.bridge.verifier
        kwargs.setdefault("audience", verifier.audience)
        return self.bridge.dev_identity.mint(user, issuer=verifier.issuer, **kwargs)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every publication submitted so far reached the hub."""
        self.call(lambda: None)
        loop = self.loop
        assert loop is not None
        import asyncio

        asyncio.run_coroutine_threadsafe(self.bridge.queue.drain(timeout), loop).result(timeout + 1)


@contextmanager
def bridge_hub(state_dir: Path, *extra: str) -> Iterator[BridgeHub]:
    hub = BridgeHub(bridge_args(state_dir, *extra))
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


# -- HTTP ------------------------------------------------------------------------------------------


def http(
    method: str,
    url: str,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes, Mapping[str, str]]:
    """One HTTP request on loopback; returns (status, body, headers) for every status."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def post_logs(
    base: str, records: list[dict] | bytes, token: str | None = LOG_TOKEN, fmt: str = "lines"
) -> tuple[int, Any]:
    if isinstance(records, bytes):
        body = records
    elif fmt == "lines":
        body = b"\n".join(json.dumps(r).encode() for r in records)
    elif fmt == "array":
        body = json.dumps(records).encode()
    else:
        assert len(records) == 1
        body = json.dumps(records[0]).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = token
    status, data, _ = http("POST", base + "/auth0/logs", body, headers)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, data


def form(
    base: str, path: str, fields: Mapping[str, str], token: str | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    from urllib.parse import urlencode

    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    status, data, _ = http("POST", base + path, urlencode(fields), all_headers)
    return status, data


# -- records -------------------------------------------------------------------------------------


def record(
    n: int,
    type_: str = "s",
    *,
    user_id: str | None = "auth0|user1",
    email: str | None = "ada@example.com",
    country: str | None = "France",
    code: str = "FR",
    date: str = "2026-11-20T10:00:00.000Z",
    prefix: str = "900",
) -> dict:
    """A log-stream record ``{"log_id", "data"}`` with a unique id per ``n`` (and ``prefix``)."""
    log_id = f"{prefix}{n:020d}"
    data: dict[str, Any] = {
        "date": date,
        "type": type_,
        "description": "",
        "log_id": log_id,
        "client_id": "client1",
        "client_name": "Feed",
        "connection": "Username-Password-Authentication",
        "ip": "81.2.69.143",
        "user_agent": "Mozilla/5.0",
        "hostname": "acme.eu.auth0.com",
        "tenant_name": "acme",
    }
    if user_id is not None:
        data["user_id"] = user_id
    if email is not None:
        data["user_name"] = email
    if country is not None:
        data["location_info"] = {
            "country_code": code,
            "country_name": country,
            "city_name": "Paris",
            "latitude": 48.85,
            "longitude": 2.35,
        }
    return {"log_id": log_id, "data": data}


# -- websocket subscriber -----------------------------------------------------------------------


class Subscriber:
    """A real websocket client of the hub (protocol 7), driven synchronously with timeouts."""

    def __init__(self, ws_base: str, key: str = KEY, timeout: float = 5.0) -> None:
        self.ws = websocket.create_connection(f"{ws_base}/app/{key}?protocol=7&client=test&version=1", timeout=timeout)
        hello = self.recv()
        assert hello["event"] == "pusher:connection_established", hello
        self.socket_id = json.loads(hello["data"])["socket_id"]

    def send(self, event: str, data: Any) -> None:
        self.ws.send(json.dumps({"event": event, "data": data}))

    def recv(self) -> dict:
        return json.loads(self.ws.recv())

    def subscribe(self, channel: str, auth: Mapping[str, str] | None = None) -> dict:
        data: dict[str, Any] = {"channel": channel}
        if auth:
            data.update(auth)
        self.send("pusher:subscribe", data)
        return self.wait(lambda m: m.get("channel") == channel or m["event"] == "pusher:error")

    def wait(self, predicate: Any, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                message = self.recv()
            except websocket.WebSocketTimeoutException:
                break
            if predicate(message):
                return message
        raise TimeoutError("no matching message")

    def close(self) -> None:
        self.ws.close()


# -- a real `authviz serve` process ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``python -m authviz serve --dev-identity`` on a fixed port, with a state directory."""

    def __init__(self, state_dir: Path, port: int, *extra: str) -> None:
        self.state_dir = state_dir
        self.port = port
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServeProcess:
        cmd = [
            sys.executable,
            "-m",
            "authviz",
            "serve",
            "--port",
            str(self.port),
            "--app-id",
            APP_ID,
            "--key",
            KEY,
            "--secret",
            SECRET,
            "--state-dir",
            str(self.state_dir),
            "--log-token",
            LOG_TOKEN,
            *self.extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"authviz serve exited with {self.proc.returncode}")
            try:
                status, _, _ = http(
                    "GET", self.url + "/auth0/events?limit=1", headers={"Authorization": LOG_TOKEN}, timeout=1.0
                )
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError("authviz serve did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
