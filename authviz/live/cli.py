"""Sub-commands of this package (see authviz.cli for the contract)."""


def add_commands(subparsers) -> None:
    """Register this package's top-level commands (none yet)."""
