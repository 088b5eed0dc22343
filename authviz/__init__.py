"""authviz: watch and analyse Auth0 authentication activity live through Pusher Channels.

The public API is re-exported here so users import from one place.
"""

__version__ = "0.1.0"

from authviz.errors import AuthvizError, ConfigError, UsageError  # noqa: E402

__all__ = ["AuthvizError", "ConfigError", "UsageError", "__version__"]


def __getattr__(name: str):  # lazy: importing authviz must not start aiohttp
    if name in ("running_hub", "RunningHub"):
        import authviz.hub

        return getattr(authviz.hub, name)
    raise AttributeError(f"module 'authviz' has no attribute {name!r}")
