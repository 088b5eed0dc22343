"""The Jupyter server extension serves the packaged world topology over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import types
import urllib.request

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from authviz.widgets import serverext, topojson_path


def test_extension_point_names_the_module():
    assert serverext._jupyter_server_extension_points() == [{"module": "authviz.widgets.serverext"}]


def test_topology_is_served_under_the_base_url_and_nothing_outside_assets():
    async def main():
        app = Application(base_url="/base/")
        serverext._load_jupyter_server_extension(types.SimpleNamespace(web_app=app, log=logging.getLogger("t")))
        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server = HTTPServer(app)
        server.add_sockets(sockets)
        loop = asyncio.get_running_loop()

        def get(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, b""

        ok = await loop.run_in_executor(None, get, "/base/authviz/static/topojson/world_110m.json")
        escape = await loop.run_in_executor(None, get, "/base/authviz/static/../../serverext.py")
        escape2 = await loop.run_in_executor(None, get, "/base/authviz/static/%2e%2e/topojson.py")
        server.stop()
        return ok, escape, escape2

    (status, body), escape, escape2 = asyncio.run(main())
    assert status == 200 and body == topojson_path().read_bytes()
    assert json.loads(body)["type"] == "Topology"
    assert escape[0] in (403, 404) and escape2[0] in (403, 404)


def test_install_config_enables_the_extension_for_the_environment(tmp_path):
    path = serverext.install_config(tmp_path)
    assert path == tmp_path / "etc/jupyter/jupyter_server_config.d/authviz.json"
    assert json.loads(path.read_text()) == {"ServerApp": {"jpserver_extensions": {"authviz.widgets.serverext": True}}}
