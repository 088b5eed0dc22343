"""Where the browser finds the world topology for plotly's maps, with no internet access.

The file ships in ``authviz/widgets/assets/topojson/`` (see PROVENANCE.md there) and is served by
the Jupyter server extension :mod:`authviz.widgets.serverext` at ``<base_url>authviz/static/``.
"""

from __future__ import annotations

from pathlib import Path

from authviz.config import JUPYTER_BASE_URL_ENVS, TOPOJSON_URL_ENV, NotebookSettings

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
TOPOJSON_DIR = ASSETS_DIR / "topojson"
#: Route of the static assets below the Jupyter server's base URL.
STATIC_ROUTE = "authviz/static/"

#: Environment variables read, in order: an explicit URL, then the server's base URL.
URL_ENV = TOPOJSON_URL_ENV
BASE_URL_ENVS = JUPYTER_BASE_URL_ENVS


def topojson_path(name: str = "world_110m") -> Path:
    """The packaged topology file (``world_110m.json``)."""
    return TOPOJSON_DIR / f"{name}.json"


def topojson_url() -> str:
    """The ``topojsonURL`` plotly config value: a folder URL ending in ``/``.

    ``AUTHVIZ_TOPOJSON_URL`` wins; otherwise the server extension's route under the base URL from
    ``AUTHVIZ_JUPYTER_BASE_URL`` / ``JUPYTERHUB_SERVICE_PREFIX`` (default ``/``).
    """
    settings = NotebookSettings.from_env()
    explicit = settings.topojson_url
    if explicit:
        return explicit if explicit.endswith("/") else explicit + "/"
    base = settings.jupyter_base_url or "/"
    if not base.endswith("/"):
        base += "/"
    return f"{base}{STATIC_ROUTE}topojson/"
