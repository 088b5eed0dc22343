"""TLS for the hub: the server-side :class:`ssl.SSLContext` from a certificate and a key file.

With it the same port serves ``wss://`` (websockets) and ``https://`` (HTTP API, webhooks'
senders are unaffected). Every problem with the files is one :class:`~authviz.errors.ConfigError`
sentence naming the file, never an ``ssl`` traceback.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from authviz.errors import ConfigError

__all__ = ["server_ssl_context"]


def server_ssl_context(
    cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or newer) serving ``cert_file`` (PEM, the certificate chain,
    leaf first) with its private key ``key_file`` (PEM, unencrypted; None: inside ``cert_file``)."""
    cert = Path(cert_file)
    key = Path(key_file) if key_file is not None else None
    for setting, path in (("tls_cert", cert), ("tls_key", key)):
        if path is None:
            continue
        if not path.is_file():
            raise ConfigError(f"{setting} {path}: no such file.").naming(setting)
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{setting} {path}: the file is not readable.").naming(setting)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # an encrypted key gets an empty password (an error) instead of a terminal prompt
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        if "KEY_VALUES_MISMATCH" in str(reason).upper():
            raise ConfigError(f"tls_key {key} is not the private key of the certificate tls_cert {cert}.").naming(
                "tls_cert", "tls_key"
            ) from None
        raise ConfigError(
            f"tls_cert {cert} / tls_key {key}: not a PEM certificate and its unencrypted private key ({reason})."
        ).naming("tls_cert", "tls_key") from None
    except OSError as exc:
        raise ConfigError(f"cannot read tls_cert {cert} / tls_key {key}: {exc.strerror or exc}.").naming(
            "tls_cert", "tls_key"
        ) from None
    return context
