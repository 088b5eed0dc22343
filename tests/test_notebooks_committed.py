"""Committed notebooks: executed (so nbval compares something), no widget state, no secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MINE = [p for p in NOTEBOOKS if p.name[:2] in {"01", "02", "03", "04"}]

SECRET_PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "credentials in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a bearer token": re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{16,}"),
    "the dev hub secret": re.compile(r"authviz-secret"),
    "a Pusher secret setting": re.compile(r"PUSHER_(?:SECRET|URL|AUTH_TOKEN)\s*=\s*\S{6,}"),
}


def test_the_four_notebooks_exist():
    assert [p.name for p in MINE] == [
        "01_live_feed.ipynb",
        "02_logins_by_country.ipynb",
        "03_chat.ipynb",
        "04_session_events.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_state_is_committed(path):
    text = path.read_text()
    doc = json.loads(text)
    assert "widgets" not in doc.get("metadata", {}), f"{path.name}: notebook metadata holds widget state"
    for i, cell in enumerate(doc["cells"]):
        assert "widgets" not in cell.get("metadata", {}), f"{path.name} cell {i}: widget state in metadata"
    assert "application/vnd.jupyter.widget-state+json" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_secrets_are_committed(path):
    text = path.read_text()
    for what, pattern in SECRET_PATTERNS.items():
        match = pattern.search(text)
        assert match is None, f"{path.name} contains {what}: {match.group()[:40]}..."


@pytest.mark.parametrize("path", MINE, ids=lambda p: p.name)
def test_checked_cells_are_committed_executed_with_outputs(path):
    doc = json.loads(path.read_text())
    checked = [
        c
        for c in doc["cells"]
        if c["cell_type"] == "code" and "nbval-ignore-output" not in c.get("metadata", {}).get("tags", [])
    ]
    assert checked, path.name
    for cell in checked:
        assert cell.get("execution_count") is not None, f"{path.name}: a compared cell was committed unexecuted"
    with_output = [c for c in checked if c.get("outputs")]
    assert len(with_output) >= 3, f"{path.name}: too few compared outputs ({len(with_output)})"
    text = "".join("".join(o.get("text", "")) for c in checked for o in c["outputs"])
    assert "Traceback" not in text and "Error" not in text.replace("errors", "")


def test_secret_scanner_finds_what_it_looks_for():
    samples = [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXZ8YWxpY2UifQ.c2lnbmF0dXJlLWJ5dGVz",
        "http://authviz-key:authviz-secret@127.0.0.1:6001/apps/1",
        "-----BEGIN PRIVATE KEY-----",
        "Authorization: Bearer abcdefghijklmnopqrstu",
    ]
    for sample in samples:
        assert any(p.search(sample) for p in SECRET_PATTERNS.values()), sample
