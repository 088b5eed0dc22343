"""stack.ServerThread: an application served from a background thread, started and stopped the
way stack.serve starts it (listen and start-up failures as ListenError/StateError, raised in the
caller's thread), with no signal handlers and nothing left running."""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest
from aiohttp import web

from authviz.errors import ListenError, StateError
from authviz.stack import ServerThread


def _app_factory(stopped: list[str]):
    async def make() -> web.Application:
        app = web.Application()

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="hello")

        app.router.add_get("/", hello)
        return app

    async def on_stop() -> None:
        stopped.append("stopped")

    return make, on_stop


def test_serves_from_a_thread_and_stops_cleanly():
    stopped: list[str] = []
    make, on_stop = _app_factory(stopped)
    before = set(threading.enumerate())
    server = ServerThread(make, on_stop=on_stop).start()
    try:
        assert server.port > 0 and server.running
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as response:
            assert response.read() == b"hello"
        assert server.call(threading.current_thread).name.startswith("authviz-server")
        port = server.port
        server.restart()
        assert server.port == port
    finally:
        server.stop()
    assert stopped == ["stopped", "stopped"] and not server.running
    assert set(threading.enumerate()) <= before
    server.stop()  # idempotent


def test_a_taken_port_is_a_listen_error_in_the_callers_thread():
    stopped: list[str] = []
    make, on_stop = _app_factory(stopped)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match="the port is already in use") as caught:
            ServerThread(make, port=port, on_stop=on_stop).start()
    assert caught.value.port == port
    assert stopped == ["stopped"]  # what make_app set up is undone


def test_a_failing_start_up_hook_is_a_state_error():
    async def make() -> web.Application:
        app = web.Application()

        async def broken(app: web.Application) -> None:
            raise PermissionError(13, "Permission denied", "/nowhere/store.sqlite3")

        app.on_startup.append(broken)
        return app

    with pytest.raises(StateError, match="cannot prepare /nowhere/store.sqlite3: permission denied"):
        ServerThread(make).start()
