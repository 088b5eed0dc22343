"""The ``authviz`` command.

The only command-line code of the package: every parser, flag and handler lives in this package,
one module per command group, each exposing ``add_commands(subparsers)`` (top-level commands)
and/or ``add_logs_commands(subparsers)`` (commands under ``authviz logs``). A command's handler
takes the parsed namespace, calls the library with typed values and returns an exit status; the
library raises :class:`~authviz.errors.AuthvizError` in library words, which the handlers
translate into flag words where a flag is the cause. Any :class:`AuthvizError` becomes one
sentence on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from authviz import __version__
from authviz.errors import AuthvizError, UsageError

# Modules contributing top-level commands, in help order.
_COMMAND_MODULES = (
    "authviz.cli.serve",  # serve
    "authviz.cli.tail",  # tail
    "authviz.cli.bridge",  # simulate, token, demo, bridge
    "authviz.cli.detect",  # detect, rules
    "authviz.cli.dashboard",  # dashboard
)
# Modules contributing `authviz logs ...` commands.
_LOGS_MODULES = (
    "authviz.cli.logs_convert",  # logs convert
    "authviz.cli.logs_pull",  # logs pull
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authviz",
        description="Watch and analyse Auth0 authentication activity live through Pusher Channels.",
    )
    parser.add_argument("--version", action="version", version=f"authviz {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    logs = commands.add_parser(
        "logs",
        help="convert Auth0 log files and pull a tenant's logs",
        description="Convert Auth0 log files of any shape into a table, and "
        "pull a tenant's logs from the Management API.",
    )
    logs_commands = logs.add_subparsers(title="logs commands", metavar="COMMAND")
    logs.set_defaults(func=lambda args: _missing_subcommand(logs))
    for name in _LOGS_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "add_logs_commands"):
            module.add_logs_commands(logs_commands)

    for name in _COMMAND_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "add_commands"):
            module.add_commands(commands)
    parser.set_defaults(func=lambda args: _missing_subcommand(parser))
    return parser


#: Library settings whose flag is not ``--`` + the setting with dashes.
_FLAG_OF_SETTING = {
    "page_size": "--take",
    "run_for": "--for",
    "from_log_id": "--from",
    "allowed_channels": "--allow-channel",
    "publish_feed": "--public-feed",
}


def flag_of(setting: str) -> str:
    """The command-line flag of a library setting (``max_wait`` -> ``--max-wait``)."""
    return _FLAG_OF_SETTING.get(setting, "--" + setting.replace("_", "-"))


def in_flags(error: AuthvizError) -> str:
    """The error's sentence with the settings it names said as the flags that set them."""
    return error.worded({setting: flag_of(setting) for setting in error.settings})


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run one command: exit 2 for a usage error, 1 for any other :class:`AuthvizError`
    (one sentence on stderr, never a traceback). Ctrl-C is quiet: 130 while the command is still
    being set up (the sub-command imports are slow), 0 once it runs (``authviz tail``'s contract)."""
    running = False
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        running = True
        return int(args.func(args) or 0)
    except UsageError as error:
        print(f"authviz: {in_flags(error)}", file=sys.stderr)
        return 2
    except AuthvizError as error:
        print(f"authviz: {in_flags(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0 if running else 130
    except BrokenPipeError:
        # The reader went away (`authviz tail | head`): it has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not complain, and stop quietly.
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (embedded, tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
