"""Jupyter server extension serving authviz's static assets (the world topology for plotly maps).

Enable it once per environment (``make install`` does)::

    jupyter server extension enable --sys-prefix authviz.widgets.serverext

or per launch with ``--ServerApp.jpserver_extensions="{'authviz.widgets.serverext': True}"``.
The route ``<base_url>authviz/static/(.*)`` serves only files below the packaged assets folder
(tornado's ``StaticFileHandler`` refuses paths outside it) and needs no kernel.
"""

from __future__ import annotations

from typing import Any

from authviz.widgets.topojson import ASSETS_DIR, STATIC_ROUTE


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "authviz.widgets.serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join
    from tornado.web import StaticFileHandler

    web_app = serverapp.web_app
    base_url = web_app.settings.get("base_url", "/")
    pattern = url_path_join(base_url, STATIC_ROUTE, "(.*)")
    web_app.add_handlers(".*$", [(pattern, StaticFileHandler, {"path": str(ASSETS_DIR)})])
    serverapp.log.info("authviz: serving %s at %s", ASSETS_DIR, url_path_join(base_url, STATIC_ROUTE))
