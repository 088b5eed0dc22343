"""The project's set-up files agree with each other."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name_and_spec(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";", 1)[0]  # an environment marker is not part of the pin
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(3).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    return dict(_name_and_spec(r) for r in requirements)


#: conda-forge names that differ from the PyPI name of the same package
CONDA_FORGE_NAMES = {"python-duckdb": "duckdb"}


def _environment_requirements() -> dict[str, str]:
    found: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.match(r"^\s*-\s+([A-Za-z0-9_.\-\[\]]+\s*[<>=!~].*|[A-Za-z0-9_.\-]+)\s*(#.*)?$", line)
        if not match:
            continue
        name, spec = _name_and_spec(match.group(1))
        if name in {"python", "pip", "-e", "."}:
            continue
        found[CONDA_FORGE_NAMES.get(name, name)] = spec
    return found


def test_environment_yml_mirrors_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme


def test_console_script_help_works():
    result = subprocess.run([sys.executable, "-m", "authviz", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage: authviz" in result.stdout


def test_bare_command_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "authviz"], capture_output=True, text=True)
    assert result.returncode == 2
