"""Sub-commands of this package (see authviz.cli for the contract)."""


def add_logs_commands(subparsers) -> None:
    """Register this package's `authviz logs` commands (none yet)."""
