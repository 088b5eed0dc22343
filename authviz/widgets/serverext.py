"""Jupyter server extension serving authviz's static assets (the world topology for plotly maps).

Enable it once per environment (``make install`` does); this writes
``{sys.prefix}/etc/jupyter/jupyter_server_config.d/authviz.json``::

    python -m authviz.widgets.serverext

or per launch with ``--ServerApp.jpserver_extensions="{'authviz.widgets.serverext': True}"``.
The route ``<base_url>authviz/static/(.*)`` serves only files below the packaged assets folder
(tornado's ``StaticFileHandler`` refuses paths outside it) and needs no kernel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
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


CONFIG_NAME = "authviz.json"


def install_config(prefix: str | Path = sys.prefix) -> Path:
    """Enable the extension for every Jupyter server of the environment at ``prefix``."""
    folder = Path(prefix) / "etc" / "jupyter" / "jupyter_server_config.d"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    config = {"ServerApp": {"jpserver_extensions": {"authviz.widgets.serverext": True}}}
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


if __name__ == "__main__":
    print(f"authviz: enabled the Jupyter server extension ({install_config()})")
