"""authviz: watch and analyse Auth0 authentication activity live through Pusher Channels.

The public API is re-exported here so users import from one place.
"""

__version__ = "0.1.0"

from authviz.errors import AuthvizError, ConfigError, UsageError  # noqa: E402

__all__ = ["AuthvizError", "ConfigError", "UsageError", "__version__"]
