"""``authviz demo`` as a person uses it: both URLs printed once they answer, the dashboard live in
the browser, saving a notebook in JupyterLab leaves ``git status`` clean, a second demo on the same
ports refused at once with one sentence."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time

import pytest
from demo_support import ROOT, Demo, demo_command, free_port

pytestmark = pytest.mark.timeout(420)


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_demo_dashboard_live_saving_leaves_git_clean_and_a_second_demo_is_refused(new_page, artifacts, timings):
    state = ROOT / ".authviz" / f"e2e-{secrets.token_hex(4)}"  # .authviz/ is git-ignored, like the default
    before = _git_status()
    ports = free_port(), free_port(), free_port()
    demo = Demo(demo_command(*ports, state, "--rate", "5"))
    try:
        board_url = demo.url("dashboard")
        lab_url = demo.url("JupyterLab")
        # the URLs are printed only once both servers answer
        page = new_page(viewport=(1366, 768))
        page.goto(board_url, wait_until="domcontentloaded")
        page.locator(".authviz-dashboard .authviz-feed li.av-row").first.wait_for(timeout=120_000)
        timings["demo_start_to_first_live_event_s"] = round(time.monotonic() - demo.started, 2)
        page.screenshot(path=str(artifacts / "demo_dashboard.png"))

        # a second demo on the same ports: refused at once, one sentence naming what runs there
        t0 = time.monotonic()
        second = subprocess.run(demo_command(*ports, state), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and time.monotonic() - t0 < 20
        said = second.stderr.strip()
        assert said.startswith(
            f"authviz: The hub cannot listen on 127.0.0.1:{ports[0]}: it is in use by an authviz hub"
        ), said
        assert said.endswith("stop that, or choose another --port."), said
        assert len(said.splitlines()) == 1 and "Traceback" not in said

        # open a notebook of the working copy in JupyterLab and save it
        copy = state / "notebooks" / "01_live_feed.ipynb"
        assert copy.exists()
        saved_before = copy.stat().st_mtime_ns
        lab = new_page()
        lab.goto(lab_url.replace("/lab?", "/lab/tree/01_live_feed.ipynb?"), wait_until="domcontentloaded")
        lab.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        news = lab.get_by_text("official Jupyter news")
        lab.wait_for_timeout(3000)
        assert news.count() == 0, "the Jupyter news pop-up showed"
        lab.screenshot(path=str(artifacts / "demo_jupyterlab.png"))
        lab.locator(".jp-Notebook").first.click()
        lab.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while copy.stat().st_mtime_ns == saved_before:
            assert time.monotonic() < deadline, "JupyterLab did not save the working copy"
            lab.wait_for_timeout(250)
        assert _git_status() == before, "saving in the demo changed what git status shows"
        assert (state / "jupyterlab.log").stat().st_size > 0 and (state / "dashboard.log").exists()
    finally:
        code = demo.stop()
        shutil.rmtree(state, ignore_errors=True)
    assert code == 0, "\n".join(demo.lines[-30:])
