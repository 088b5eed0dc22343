"""Everything the top-level package promises can be imported from it."""

import subprocess
import sys

import pytest

import authviz


@pytest.mark.parametrize("name", sorted(authviz._EXPORTS))
def test_every_public_name_resolves(name):
    value = getattr(authviz, name)
    assert value is getattr(__import__(authviz._EXPORTS[name], fromlist=[name]), name)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError):
        authviz.no_such_thing  # noqa: B018


def test_importing_authviz_loads_no_server_library():
    code = "import sys, authviz; print(any(m.split('.')[0] in ('aiohttp', 'pysher', 'pandas') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
