"""The app secret and where the served credentials are written (never printed).

There is no well-known secret: without one given (``secret``, a secret file, or ``PUSHER_SECRET``
read by the caller), the secret is generated once with :func:`secrets.token_urlsafe` and kept in
``{state_dir}/app-secret`` (mode 0600, see :mod:`authviz.statefiles`), so a restarted server keeps
signing what its clients expect. The credentials clients need (``PUSHER_URL`` per app) go to
``{state_dir}/pusher.env`` (mode 0600); start-up output names that file, never the secret.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from authviz.statefiles import FILE_MODE, private_dir, read_or_create_secret, read_secret

__all__ = ["APP_SECRET_FILE", "CREDENTIALS_FILE", "app_secret", "write_credentials"]

APP_SECRET_FILE = "app-secret"
CREDENTIALS_FILE = "pusher.env"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def app_secret(
    state_dir: str | os.PathLike[str], *, secret: str | None = None, secret_file: str | os.PathLike[str] | None = None
) -> tuple[str, str]:
    """``(secret, where it came from)``: ``secret`` when given, else the first line of
    ``secret_file``, else the one kept in ``state_dir/app-secret`` (generated the first time).
    The second item names a source for messages (``"the command line"``, a path), never the value.
    """
    if secret:
        return secret, "the given secret"
    if secret_file is not None:
        return read_secret(secret_file), str(secret_file)
    path = Path(state_dir) / APP_SECRET_FILE
    return read_or_create_secret(path), str(path)


def write_credentials(state_dir: str | os.PathLike[str], lines: Iterable[tuple[str, str]]) -> Path:
    """Write ``NAME=value`` lines to ``state_dir/pusher.env`` (0600, replaced atomically, never
    through a symlink) and return its path."""
    directory = private_dir(state_dir)
    path = directory / CREDENTIALS_FILE
    tmp = directory / f".{CREDENTIALS_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in lines)
    os.replace(tmp, path)  # replaces a planted symlink itself, never its target
    return path
