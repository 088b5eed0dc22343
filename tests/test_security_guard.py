"""Issue #11, item 4: a server that sheds bad clients. Slow and idle sockets up to the caps,
legitimate requests still answered; over the caps HTTP 503 or websocket close 4100; header and
body read timeouts. Real hub on loopback, raw sockets as the attacker."""

from __future__ import annotations

import socket
import time

import pytest
import websocket

from authviz.hub import running_hub
from authviz.hub.guard import ServerLimits, default_max_connections

from hub_support import wait_for

ATTACKER, LEGIT = "127.0.0.1", "127.0.0.2"


def _connect(port: int, source: str = ATTACKER) -> socket.socket:
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def _get(port: int, source: str = LEGIT, path: str = "/") -> bytes:
    s = _connect(port, source)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return _read_all(s)
    finally:
        s.close()


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _closed_by_server(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except (TimeoutError, socket.timeout):
        return False


@pytest.fixture()
def hub():
    limits = ServerLimits(header_timeout=1.5, body_timeout=1.5, max_connections=40, max_connections_per_address=6)
    with running_hub(limits=limits) as h:
        yield h


def test_slow_and_idle_sockets_up_to_the_cap_do_not_stop_legitimate_requests(hub):
    guard = hub.server.guard
    idle = [_connect(hub.port) for _ in range(3)]
    slow = [_connect(hub.port) for _ in range(3)]
    for s in slow:  # a request whose headers never finish
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    wait_for(lambda: guard.by_address[ATTACKER] == 6)
    # the attacker's address is at its cap: one more is answered 503 and closed
    refused = _get(hub.port, ATTACKER)
    assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
    assert b"Retry-After: 1" in refused
    # a websocket from there completes the handshake and is closed with 4100 "over capacity"
    ws = websocket.create_connection(
        f"{hub.ws_url}/app/{hub.app.key}?protocol=7", timeout=5, socket=_connect(hub.port, ATTACKER)
    )
    opcode, frame = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame[:2], "big") == 4100 and frame[2:] == b"over capacity"
    ws.close()
    # everyone else is still served, HTTP and websocket
    for _ in range(3):
        assert _get(hub.port, LEGIT).startswith(b"HTTP/1.1 200")
    ok = websocket.create_connection(
        f"{hub.ws_url}/app/{hub.app.key}?protocol=7", timeout=5, socket=_connect(hub.port, LEGIT)
    )
    assert "connection_established" in ok.recv()
    ok.close()
    # the header timeout sheds the slow and idle sockets (slow ones hear 408 first)
    start = time.monotonic()
    assert all(_closed_by_server(s, 5) for s in idle + slow)
    assert time.monotonic() - start < 4
    wait_for(lambda: guard.by_address.get(ATTACKER, 0) == 0)
    assert _get(hub.port, ATTACKER).startswith(b"HTTP/1.1 200")
    for s in idle + slow:
        s.close()


def test_a_slow_header_hears_408(hub):
    s = _connect(hub.port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(5)
    answer = _read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_slow_body_is_answered_408(hub):
    s = _connect(hub.port)
    s.sendall(
        b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"name":'
    )
    s.settimeout(6)
    answer = _read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_the_overall_cap_answers_503():
    limits = ServerLimits(header_timeout=5, max_connections=4, max_connections_per_address=0)
    with running_hub(limits=limits) as hub:
        held = [_connect(hub.port, source) for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")]
        wait_for(lambda: hub.server.guard.total == 4)
        assert _get(hub.port, LEGIT).startswith(b"HTTP/1.1 503")
        held[0].close()
        wait_for(lambda: hub.server.guard.total == 3)
        assert _get(hub.port, LEGIT).startswith(b"HTTP/1.1 200")
        for s in held:
            s.close()


def test_defaults_are_sensible():
    limits = ServerLimits()
    assert limits.header_timeout == 30
    assert 16 <= limits.max_connections == default_max_connections() <= 10_000
    assert limits.max_connections_per_address == 256
    with pytest.raises(ValueError):
        ServerLimits(header_timeout=0)


def test_no_version_banner_and_no_header_echo(hub):
    answer = _get(hub.port, LEGIT)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert b"server: authviz" in head and b"aiohttp" not in head and b"python" not in head
    secret = "Bearer eyJhbGciOiJSUzI1NiJ9." + "s3cr3t" * 3000
    s = _connect(hub.port, LEGIT)
    s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: {secret}\r\n\r\n".encode())
    answer = _read_all(s)
    s.close()
    assert answer.split(b" ", 2)[1].startswith(b"4"), answer[:100]
    assert b"s3cr3t" not in answer and b"eyJhbGci" not in answer
    assert b"aiohttp" not in answer.lower() and b"python/" not in answer.lower()


@pytest.mark.parametrize(
    "flags",
    [
        ["--header-timeout", "0"],
        ["--body-timeout", "-1"],
        ["--max-connections", "-5"],
        ["--max-connections-per-address", "-1"],
        ["--client-events", "news-"],
    ],
)
def test_serve_refuses_bad_limits_with_one_sentence(flags, capsys):
    from authviz.cli import main

    with pytest.raises(SystemExit) if flags[0] == "--client-events" else _nothing():
        assert main(["serve", "--port", "0", "--no-bridge", *flags]) == 2
    err = capsys.readouterr().err
    assert flags[0] in err and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
