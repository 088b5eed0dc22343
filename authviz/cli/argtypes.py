"""argparse ``type=`` helpers shared by the sub-commands: a bad value is one sentence naming
what is allowed (argparse prefixes it with the flag and exits with status 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["whole_number"]


def whole_number(low: int, high: int | None = None, *, unit: str, note: str = "") -> Callable[[str], int]:
    """A ``type=`` accepting a whole number from ``low`` to ``high`` (no upper bound when None).

    ``unit`` names what is counted ("events", "bytes"); ``note`` follows the upper bound, e.g.
    ``" (1 GiB)"``.
    """

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}{note}"
            raise argparse.ArgumentTypeError(f"must be a whole number of {unit}, {allowed}, not {value!r}")
        return number

    return parse


def check_port(port: int, flag: str = "--port") -> None:
    """The one port check of the commands that listen: 0 (any free port) to 65535."""
    from authviz.errors import UsageError

    if not 0 <= port <= 65535:
        raise UsageError(f"{flag} {port} is not a port number (0-65535).")
