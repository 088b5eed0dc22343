"""What a person sees when running notebooks 01-04 in JupyterLab and the dashboard in Voila
(headless chromium, offline): live after Run All, two people chatting, alerts firing."""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(300)

RUN_TIMEOUT_MS = 90_000


def _kernel_ready(lab, name: str) -> bool:
    url, token, _root = lab
    with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=5) as r:
        sessions = json.loads(r.read())
    return any(
        s["path"].endswith(name) and s["kernel"]["execution_state"] == "idle" and s["kernel"]["connections"] >= 1
        for s in sessions
    )


def _run_all(page) -> None:
    page.locator(".jp-Notebook").first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def open_and_run(page, lab, name: str) -> float:
    """Open ``name``, wait until its kernel is connected and idle, then Run All Cells (once more if
    the first code cell did not start within 20 s: a click during kernel start-up can be lost).
    Returns the ``time.monotonic()`` of the Run All that started."""
    url, token, _root = lab
    # a workspace of its own, reset: only this notebook is open in the page
    workspace = f"e2e-{secrets.token_hex(4)}"
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=RUN_TIMEOUT_MS)
    assert page.locator(".jp-NotebookPanel").count() == 1
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while not _kernel_ready(lab, name):
        assert time.monotonic() < deadline, f"the kernel of {name} never became idle"
        page.wait_for_timeout(500)  # (not time.sleep: route handlers run only inside Playwright calls)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=RUN_TIMEOUT_MS)
    first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
    for attempt in range(2):
        started = time.monotonic()
        _run_all(page)
        try:
            page.wait_for_function(
                "(el) => /\\[(\\*|\\d+)\\]/.test(el.textContent)", arg=first_prompt.element_handle(), timeout=20_000
            )
            return started
        except Exception:
            if attempt:
                raise


def run_finished(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until every code cell ran (numbered prompts, none pending) and the kernel is idle."""
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);"
        " return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }",
        timeout=timeout_ms,
    )
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=timeout_ms)


def status_text(page, scope: str = "") -> str:
    return page.locator(f"{scope} .authviz-status".strip()).first.inner_text()


def wait_still_live(page, read_number, what: str, timeout_s: float = 30) -> tuple[int, int]:
    """After Run All has ended, ``read_number()`` must still grow (events keep arriving)."""
    first = read_number()
    deadline = time.monotonic() + timeout_s
    while read_number() <= first:
        assert time.monotonic() < deadline, f"{what}: no new event reached the page after Run All ended"
        page.wait_for_timeout(500)
    return first, read_number()


# Records, in the page, when a watched element changes and how long until the next frame is painted
# (mutation -> requestAnimationFrame -> task: an estimate of the browser's cost to draw each update).
RENDER_PROBE = """(selector) => {
  window.__renders = window.__renders || {};
  const out = window.__renders[selector] = [];
  const attach = () => {
    const el = document.querySelector(selector);
    if (!el) { setTimeout(attach, 100); return; }
    new MutationObserver(() => {
      const t0 = performance.now();
      requestAnimationFrame(() => setTimeout(() => out.push([t0, performance.now() - t0]), 0));
    }).observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
  };
  attach();
}"""


def render_report(page, selector: str, artifacts, name: str) -> dict:
    samples = page.evaluate("(s) => (window.__renders || {})[s] || []", selector)
    # one update = mutations within 50 ms of each other
    updates, last = [], None
    for t0, ms in samples:
        if last is None or t0 - last > 50:
            updates.append(ms)
        else:
            updates[-1] = max(updates[-1], ms)
        last = t0
    updates.sort()
    report = {"selector": selector, "updates": len(updates)}
    if updates:
        report.update(
            p50_ms=round(updates[len(updates) // 2], 1),
            p95_ms=round(updates[min(len(updates) - 1, int(0.95 * len(updates)))], 1),
            max_ms=round(updates[-1], 1),
        )
    (artifacts / f"render-{name}.json").write_text(json.dumps(report, indent=2))
    print(f"render {name}: {report}")
    return report


def number(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text) or 0)


def shot(page, locator, artifacts, name: str) -> None:
    # live views replace their HTML on every redraw: an element can detach while being scrolled to
    for attempt in range(5):
        try:
            locator.scroll_into_view_if_needed(timeout=5_000)
            break
        except Exception:
            if attempt == 4:
                raise
            page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / name))


def no_errors(page) -> None:
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = [errors.nth(i).inner_text() for i in range(errors.count())]
    assert not [t for t in texts if "Traceback" in t or "Error" in t], texts
    assert page.dialogs == [], f"a script ran in the page: {page.dialogs}"


def test_live_feed_rows_appear_and_stay_live_after_run_all(new_page, lab, traffic, artifacts, timings):
    page = new_page()
    started = open_and_run(page, lab, "01_live_feed.ipynb")
    page.evaluate(RENDER_PROBE, ".authviz-feed")
    totals = page.locator(".authviz-feed .av-totals b").first
    rows = page.locator(".authviz-feed li.av-row")
    rows.first.wait_for(timeout=RUN_TIMEOUT_MS)
    timings["run_all_to_first_row_s"] = round(time.monotonic() - started, 2)
    shot(page, page.locator(".authviz-feed").first, artifacts, "01_live_feed_early.png")
    assert rows.first.inner_text().split(":")[0] in {
        "Sign Up",
        "Log In",
        "Failed Log In",
        "Log Out",
        "MFA",
        "Token Exchange",
        "Silent Auth",
        "Failed Sign Up",
        "Password Reset",
        "Password Changed",
        "Other",
        "Blocked",
    }
    run_finished(page)
    nasty = page.locator(".authviz-feed .av-who", has_text="<img src=x onerror=alert(1)>@evil.example")
    assert nasty.count() >= 1, "the escaped user name is not shown as text"
    assert page.locator(".authviz-feed img").count() == 0
    feed_text = page.locator(".authviz-feed").first.inner_text()
    # honest time: a date and a zone on every row, simulated rows marked
    assert re.search(r"(Sign Up|Log In): \S+\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+", feed_text), feed_text[:500]
    assert "simulated" in feed_text
    # Run All has ended: the feed keeps taking events, and says so
    first, later = wait_still_live(page, lambda: number(totals.inner_text()), "01_live_feed")
    assert later > first >= 401
    assert status_text(page).startswith("● live")
    page.wait_for_timeout(1500)
    shot(page, page.locator(".authviz-feed").first, artifacts, "01_live_feed.png")
    assert render_report(page, ".authviz-feed", artifacts, "feed")["updates"] >= 3
    # the Stop control stops it, and the line says so
    page.locator(".authviz-status").first.locator("xpath=..").get_by_role("button", name="Stop").click()
    page.wait_for_function(
        "() => document.querySelector('.authviz-status').textContent.includes('stopped')", timeout=20_000
    )
    no_errors(page)


def _rate(page) -> float:
    match = re.search(r"([0-9.]+) events/s", status_text(page))
    return float(match.group(1)) if match else 0.0


def test_bars_grow_as_events_arrive_and_the_map_shows_countries_offline(new_page, lab, traffic, artifacts):
    page = new_page()
    open_and_run(page, lab, "02_logins_by_country.ipynb")
    page.evaluate(RENDER_PROBE, ".authviz-bars")
    bars = page.locator(".authviz-bars .av-bar-row")
    bars.first.wait_for(timeout=RUN_TIMEOUT_MS)
    # the bars grow while the traffic flows (not all at once at the end)
    totals = lambda: sum(number(t) for t in page.locator(".authviz-bars .av-bar-total").all_inner_texts())  # noqa: E731
    seen = {totals()}
    deadline = time.monotonic() + 20
    while len(seen) < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        seen.add(totals())
    assert len(seen) >= 4, f"the bars did not grow step by step: {sorted(seen)}"
    names = page.locator(".authviz-bars .av-bar-name").all_inner_texts()
    assert "United States" in names and len(names) >= 5, names
    legend = page.locator(".authviz-bars .av-legend").inner_text()
    assert "Other" not in legend and all(k in legend for k in ("Log In", "Sign Up", "Failed Log In")), legend
    page.wait_for_function(
        "() => [...document.querySelectorAll('.authviz-map .av-country-shape')]"
        ".filter(p => p.dataset.count > 0).length >= 10",
        timeout=RUN_TIMEOUT_MS,
    )
    # small countries are visible: every country with events is coloured apart from the land's grey
    fills = page.evaluate(
        "() => [...document.querySelectorAll('.authviz-map .av-country-shape')]"
        ".filter(p => p.dataset.count > 0).map(p => p.getAttribute('fill'))"
    )
    assert fills and "#e8e8e8" not in fills
    assert page.offline.blocked == [], page.offline.blocked
    render_report(page, ".authviz-bars", artifacts, "bars")
    run_finished(page)
    # still live after Run All: ten seconds later the status line counts only events that came since
    page.wait_for_timeout(11_000)
    assert status_text(page).startswith("● live") and _rate(page) > 0, status_text(page)
    shot(page, page.locator(".authviz-map").first, artifacts, "02_map.png")
    shot(page, page.locator(".authviz-bars").first, artifacts, "02_bars.png")
    no_errors(page)


def test_two_pages_chat_and_see_each_other_online(new_page, lab, artifacts):
    alice, bob = new_page(), new_page()
    open_and_run(alice, lab, "03_chat.ipynb")
    open_and_run(bob, lab, "03_chat_bob.ipynb")
    for page, other in ((alice, "Bob"), (bob, "Alice")):
        page.wait_for_function(
            "(other) => [...document.querySelectorAll('.authviz-chat .av-totals')].some(d => "
            "d.textContent.includes('Online (2)') && d.textContent.includes(other))",
            arg=other,
            timeout=RUN_TIMEOUT_MS,
        )
    text = "typed in the browser <i>not italic</i> & still text"
    box = alice.get_by_placeholder("Say something and press Enter").first
    box.fill(text)
    box.press("Enter")
    seen = bob.locator(".authviz-chat .av-text", has_text=text)
    seen.first.wait_for(timeout=30_000)
    assert bob.locator(".authviz-chat i").count() == 0
    author = seen.first.locator("xpath=..").locator(".av-author").inner_text()
    assert author == "Alice"
    # your own messages are drawn apart: Alice's line is "mine" on her page, not on Bob's
    mine = alice.locator(".authviz-chat li.av-mine .av-text", has_text=text)
    mine.first.wait_for(timeout=30_000)
    assert bob.locator(".authviz-chat li.av-mine .av-text", has_text=text).count() == 0
    shot(bob, seen.first, artifacts, "03_chat_bob.png")
    shot(alice, alice.locator(".authviz-chat").first, artifacts, "03_chat_alice.png")
    no_errors(alice)
    no_errors(bob)


def test_session_events_appear(new_page, lab, traffic, artifacts):
    page = new_page()
    open_and_run(page, lab, "04_session_events.ipynb")
    rows = page.locator(".authviz-session li.av-row")
    rows.first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelectorAll('.authviz-session li.av-row').length >= 10", timeout=RUN_TIMEOUT_MS
    )
    assert "Log Out:" in page.locator(".authviz-session").first.inner_text()
    run_finished(page)
    page.wait_for_timeout(11_000)
    assert status_text(page).startswith("● live") and _rate(page) > 0, status_text(page)
    shot(page, page.locator(".authviz-session").first, artifacts, "04_session_events.png")
    no_errors(page)


def test_dashboard_shows_rows_bars_map_and_an_alert_after_a_launched_attack(
    new_page, dashboard, traffic, artifacts, timings
):
    page = new_page(viewport=(1366, 768))
    started = time.monotonic()
    page.goto(dashboard, wait_until="domcontentloaded")
    rows = page.locator(".authviz-dashboard .authviz-feed li.av-row")
    rows.first.wait_for(timeout=RUN_TIMEOUT_MS)
    timings["dashboard_open_to_first_row_s"] = round(time.monotonic() - started, 2)
    page.wait_for_function(
        "() => document.querySelectorAll('.authviz-dashboard .av-bar-row').length >= 3", timeout=RUN_TIMEOUT_MS
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.authviz-dashboard .av-country-shape')]"
        ".filter(p => p.dataset.count > 0).length >= 3",
        timeout=RUN_TIMEOUT_MS,
    )
    assert status_text(page, ".authviz-dashboard").startswith("● live")
    shot(page, page.locator(".authviz-dashboard"), artifacts, "00_dashboard_live.png")
    # a workshop launches an attack from the page; the live detections fire within 30 s
    from authviz.simulator import SCENARIOS

    label = f"credential-stuffing: {SCENARIOS['credential-stuffing']}"
    page.locator(".authviz-dashboard select").first.select_option(label=label)
    launched = time.monotonic()
    page.get_by_role("button", name="Launch").click()
    page.locator(".authviz-launch-result", has_text="Launched credential-stuffing").wait_for(timeout=20_000)
    alert = page.locator(".authviz-dashboard .authviz-alerts li.av-alert", has_text="Credential stuffing")
    alert.first.wait_for(timeout=30_000)
    timings["dashboard_launch_to_alert_s"] = round(time.monotonic() - launched, 2)
    text = alert.first.inner_text()
    assert "What to do:" in text and "Evidence:" in text, text
    # the page fits a 1366x768 screen: nothing wider than the viewport
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1366, f"the dashboard is {width} px wide"
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "00_dashboard.png"))
    assert page.offline.blocked == [], f"the dashboard asked beyond loopback: {page.offline.blocked}"
    assert page.dialogs == []
