"""The application layer stays in its homes: the environment is read only by ``authviz.config``.

(import-linter checks the layers and keeps ``argparse`` in ``authviz.cli``; ruff's banned-api
rule keeps ``os.environ`` out of the library packages. The command-line package may import
argparse, so this test checks the environment rule across the whole package, ``authviz.cli``
included.)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "authviz"
ENVIRONMENT_NAMES = {"environ", "getenv", "putenv", "unsetenv", "environb"}


def _environment_reads(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" \
                and any(alias.name in ENVIRONMENT_NAMES for alias in node.names):
            lines.append(node.lineno)
    return lines


def test_only_config_reads_the_environment():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative == "authviz/config.py":
            continue
        lines = _environment_reads(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[relative] = lines
    assert offenders == {}


def test_the_check_sees_a_read_of_the_environment():
    assert _environment_reads(ast.parse("import os\nx = os.environ.get('A')\n")) == [2]
    assert _environment_reads(ast.parse("from os import getenv\n")) == [1]
