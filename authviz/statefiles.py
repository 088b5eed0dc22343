"""Private state: the state directory (0700) and every file in it (0600), opened without following
symlinks.

The state directory holds the event store (logs: emails, IP addresses) and its ``-wal``/``-shm``
files, the chat, the log-stream token, the app secret and the dev-identity key. Invariants:

* :func:`private_dir` leaves the directory at mode 0700 (created so, or tightened with a notice);
  a symlink in its place is refused (:class:`StateFileError`).
* :func:`private_file` leaves a regular file at mode 0600 (created with ``O_EXCL|O_NOFOLLOW`` so,
  or tightened with a notice); a symlink or anything but a regular file is refused.
* :func:`read_or_create_secret` returns the secret kept in a file, creating it once with
  :func:`secrets.token_urlsafe`; two processes racing agree on one value (``O_EXCL``).

Notices go to the ``authviz.statefiles`` logger at WARNING (stderr by default); they never carry
a file's contents.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from pathlib import Path

from authviz.errors import AuthvizError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "StateFileError",
    "private_dir",
    "private_file",
    "read_or_create_secret",
    "read_secret",
    "tighten_sqlite_files",
]

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class StateFileError(AuthvizError):
    """A state path is a symlink or not the kind of file expected; nothing was written."""


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) at mode 0700, or tighten an existing directory.
    A symlink is refused (:class:`StateFileError`); a file there raises NotADirectoryError."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            pass  # another process made it: checked below
        info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise StateFileError(
            f"the state directory {path} is a symbolic link; refusing to use it (make it a real directory)."
        )
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, DIR_MODE)
        log.warning(
            "%s was mode %03o; tightened to 0700 (it holds logs, tokens and keys)", path, stat.S_IMODE(info.st_mode)
        )
    return path


def _check_regular(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise StateFileError(f"{path} is a symbolic link; refusing to follow it (remove it).")
    if not stat.S_ISREG(info.st_mode):
        raise StateFileError(f"{path} is not a regular file.")


def _tighten(path: Path, info: os.stat_result) -> None:
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, FILE_MODE, follow_symlinks=False)
        log.warning("%s was mode %03o; tightened to 0600", path, stat.S_IMODE(info.st_mode))


def private_file(path: str | os.PathLike[str]) -> Path:
    """Make sure ``path`` exists as a regular file of mode 0600 (created empty when missing)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_MODE)
    except FileExistsError:
        info = os.lstat(path)
        _check_regular(path, info)
        _tighten(path, info)
    else:
        os.close(fd)
    return path


def tighten_sqlite_files(database: str | os.PathLike[str]) -> None:
    """The database and its ``-wal``, ``-shm`` and ``-journal`` companions at 0600 (those present)."""
    database = Path(database)
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(str(database) + suffix)
        try:
            info = os.lstat(candidate)
        except FileNotFoundError:
            continue
        _check_regular(candidate, info)
        _tighten(candidate, info)


def read_or_create_secret(path: str | os.PathLike[str], *, nbytes: int = 32) -> str:
    """The secret kept in ``path`` (first line, stripped), or a new random one written there once
    (mode 0600, never through a symlink). An empty file is refused rather than silently reused."""
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return read_secret(path)
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def read_secret(path: str | os.PathLike[str]) -> str:
    """The secret in an existing file (first line), read without following a symlink; a looser
    mode than 0600 is tightened with a notice."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        raise StateFileError(f"the secret file {path} does not exist.") from None
    except OSError as error:
        if os.path.islink(path):
            raise StateFileError(f"{path} is a symbolic link; refusing to follow it (remove it).") from None
        raise StateFileError(f"cannot read {path}: {(error.strerror or str(error)).lower()}.") from None
    with os.fdopen(fd) as handle:
        info = os.fstat(handle.fileno())
        _check_regular(path, info)
        _tighten(path, info)
        value = handle.readline().strip()
    if not value:
        raise StateFileError(f"the secret file {path} is empty.")
    return value
