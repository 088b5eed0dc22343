"""The history client over https: a server with its own CA is trusted through PUSHER_CA_FILE
(as the websocket and the auth endpoint are), and verification is never turned off."""

from __future__ import annotations

import asyncio
import ssl
import threading

import pytest
from aiohttp import web

from authviz.bridge.serve import _local_url
from authviz.config import PusherSettings
from authviz.live.errors import HistoryError
from authviz.live.history import HistoryClient
from hub_support import make_tls_files


@pytest.fixture
def https_history(tmp_path):
    """A real https server (aiohttp, certificate from a CA made here) answering one page."""
    files = make_tls_files(tmp_path, "history")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files["cert"], files["key"])

    async def events(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == "Bearer t"
        return web.json_response({"events": [{"seq": 1, "id": "a"}], "last_seq": 1, "more": False})

    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def start():
        app = web.Application()
        app.router.add_get("/auth0/events", events)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10)
    yield files, f"https://127.0.0.1:{holder['port']}/auth0/events"
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_history_trusts_the_ca_file(https_history):
    files, url = https_history
    settings = PusherSettings.from_url("https://k:s@127.0.0.1:1/apps/1", ca_file=str(files["ca"]))
    page = HistoryClient(url, {"Authorization": "Bearer t"}, ssl_context=settings.client_ssl_context()).fetch(0)
    assert page.last_seq == 1 and page.events[0]["id"] == "a"


def test_history_without_the_ca_refuses_the_certificate(https_history):
    _, url = https_history
    with pytest.raises(HistoryError, match="could not be reached"):
        HistoryClient(url, {"Authorization": "Bearer t"}).fetch(0)


def test_dev_identity_issuer_follows_tls():
    assert _local_url("0.0.0.0", 6001) == "http://127.0.0.1:6001/"
    assert _local_url("0.0.0.0", 6001, tls=True) == "https://127.0.0.1:6001/"
    assert _local_url("::1", 6001, tls=True) == "https://[::1]:6001/"


def test_live_client_backfills_over_https_with_the_ca_file(https_history):
    """The client hands PUSHER_CA_FILE to its history client too (not only to the websocket)."""
    from authviz.live import LiveClient

    files, url = https_history
    settings = PusherSettings.from_url("https://k:s@127.0.0.1:1/apps/1", ca_file=str(files["ca"]))
    client = LiveClient(settings, history_url=url, history_token="t")
    try:
        assert client.backfill is not None
        assert client.backfill.history.fetch(0).last_seq == 1
    finally:
        client.close()
