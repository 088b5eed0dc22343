"""Everything the top-level package promises can be imported from it."""

import subprocess
import sys

import pytest

import authviz


def test_every_public_name_is_the_object_its_module_defines():
    code = (
        "import importlib, authviz\n"
        "wrong = [n for n, m in authviz._EXPORTS.items()\n"
        "         if getattr(authviz, n) is not getattr(importlib.import_module(m), n)]\n"
        "print(wrong, len(authviz._EXPORTS), sorted(set(dir(authviz)) - set(authviz.__all__)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", str(len(authviz._EXPORTS)), "[]"]


def test_the_public_api_is_listed_once_and_documented():
    assert len(authviz.__all__) == len(set(authviz.__all__))
    undocumented = [
        name
        for name in authviz._EXPORTS
        if not (getattr(authviz, name).__doc__ or "").strip()
        and not isinstance(getattr(authviz, name), (tuple, list, dict, frozenset))
    ]
    assert undocumented == []


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError):
        authviz.no_such_thing  # noqa: B018


def test_importing_authviz_loads_no_server_library():
    code = "import sys, authviz; print(any(m.split('.')[0] in ('aiohttp', 'pysher', 'pandas') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
