"""Writes notebooks 00-04 from the cell lists below (run it, then execute them; see README).

    .venv/bin/python tests/notebooks_build.py            # write the .ipynb files (no outputs)
    .venv/bin/python tests/notebooks_build.py --execute  # and execute them in place (local mode)

Cells tagged ``nbval-ignore-output`` show live widgets or timings; every other code cell's output is
compared strictly by nbval. Outputs are committed; widget state never is (see strip_widget_state).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
IGNORE = {"tags": ["nbval-ignore-output"]}

START = """\
from authviz.widgets import live_session, summary

session = live_session()
print(session.describe())"""

SOURCE_MD = """\
*How the events reach this page, live until you press **Stop**, and how times read: see
[the notebooks' README](README.md).*"""

END_MD = """\
## Stop

The widgets above stay live: new events keep arriving until you press **Stop** on any of them (or run
`session.stop()`). Shutting down or restarting the kernel stops everything too."""


def nb(cells):
    notebook = new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return notebook


def live_feed():
    return nb(
        [
            new_markdown_cell("""\
# Live feed of sign-ups and log-ins

This is the feed of the original Pusher + Auth0 tutorial, rebuilt on authviz: every sign-up and log-in
appears at the top as it happens (**Sign Up:** / **Log In:**, who, when, *From* which country), and so
does everything else Auth0 reports (failed log-ins in red, blocks and password events in amber). The
feed keeps the newest 200 rows per category on screen and counts everything in its totals; the
drop-down filters by category."""),
            new_markdown_cell(SOURCE_MD),
            new_code_cell(START),
            new_markdown_cell("## The feed\n\nDisplay it once; it keeps updating by itself."),
            new_code_cell("feed = session.feed()\nfeed", metadata=IGNORE),
            new_markdown_cell("""\
## Some traffic

400 events from the seeded simulator (seed 7: the same events every run), 80 per second, through the
bridge's `POST /auth0/logs` webhook: watch them arrive above, stamped with the time they are posted."""),
            new_code_cell("_ = session.simulate(n=400, rate=80, seed=7)"),
            new_code_cell("session.wait_for_events(400, timeout=40)"),
            new_markdown_cell("""\
## Strings from the outside world stay text

User names, e-mails and country names come from the outside world. This hand-made event has HTML in
its user name: the feed shows it as text, it never becomes markup."""),
            new_code_cell("""\
session.post_log_records([{
    "log_id": "90020990101000000000000000000000000000000000000000000001",
    "data": {"type": "s", "date": "2026-11-01T12:00:00.000Z", "description": "Successful login",
             "user_id": "auth0|html-demo", "user_name": "<img src=x onerror=alert(1)>@evil.example",
             "location_info": {"country_code": "FR", "country_name": "France"}},
}])
session.wait_for_events(401, timeout=20)"""),
            new_markdown_cell("""\
## What arrived

Counts by category and by country. In local mode these are the same numbers every run; against
`make demo` its own simulator's traffic is counted too."""),
            new_code_cell("print(summary(feed.counts, feed.countries))"),
            new_markdown_cell("The filter works on what is kept, per category (at most 200 rows each):"),
            new_code_cell("""\
feed.filter.value = "Failures"
print(len(feed.visible_rows()), "failure rows shown")
feed.filter.value = "All events"
print(len(feed.visible_rows()), "rows shown of", feed.total)"""),
            new_markdown_cell(END_MD),
        ]
    )


def countries():
    return nb(
        [
            new_markdown_cell("""\
# Log-ins by country

Where do log-ins, sign-ups and failed log-ins come from? Live bars of the top countries, growing as
events arrive, and a world map on a logarithmic scale, so a country with three log-ins shows beside
one with three thousand (hover for the count). Other kinds of events stay out of the way. Both are
plain HTML and SVG redrawn at most twice (bars) and every two seconds (map), whatever the event
rate, and draw with **no internet access**: the world's shapes ship inside authviz.
(`session.plotly_country_chart()` gives the same counts as zoomable plotly figures.)"""),
            new_markdown_cell(SOURCE_MD),
            new_code_cell(START),
            new_code_cell("chart = session.country_chart(top_n=12)\nchart", metadata=IGNORE),
            new_markdown_cell("## Traffic\n\n400 seeded events (seed 11), 30 per second: watch the bars grow."),
            new_code_cell("_ = session.simulate(n=400, rate=30, seed=11)\nsession.wait_for_events(400, timeout=40)"),
            new_markdown_cell("## Top countries\n\nIn local mode, the same ranking every run:"),
            new_code_cell("""\
from authviz.widgets import CATEGORY_LABELS

for name, total in chart.top():
    parts = ", ".join(f"{CATEGORY_LABELS[s]} {chart.by_country[name][s]}" for s in chart.stacks
                      if chart.by_country[name][s])
    print(f"{name:<16} {total:>4}  ({parts})")"""),
            new_code_cell("""\
print(len(chart.mapped()), "countries on the map")"""),
            new_markdown_cell(END_MD),
        ]
    )


def chat():
    return nb(
        [
            new_markdown_cell("""\
# Chat

The tutorial's chat on a presence channel, with identity done properly: the bridge takes the author
from a verified token (never from the request), stores every message, and publishes it on
`presence-chat`. The widget loads the history when it opens, shows who is online, and shows errors
inside itself. Text is stored raw and escaped where it is shown.

**Two people:** a kernel is one person. Against `make demo`, duplicate this notebook in JupyterLab
(right-click → **Duplicate**), set `CHAT_AS = "bob"` in the copy and *Run All* there: each sees the
other online and the other's messages; your own are drawn apart. Run unattended (local mode), the
notebook plays both people. A chat opens with the 20 most recent messages."""),
            new_markdown_cell(SOURCE_MD),
            new_code_cell(START),
            new_code_cell(
                """\
CHAT_AS = None  # a demo user name such as "bob" to chat as someone else (dev identity only)
me = session.chat(user=CHAT_AS)
me""",
                metadata=IGNORE,
            ),
            new_markdown_cell("In local mode a second person, Bob, joins from this same kernel:"),
            new_code_cell(
                """\
bob = session.chat(user="bob") if session.mode == "local" else None
bob""",
                metadata=IGNORE,
            ),
            new_markdown_cell("## Talking\n\nType in the box and press Enter, or let the cells talk:"),
            new_code_cell("""\
me.send("Hello Bob! <b>this is not bold</b>")
if bob is not None:
    bob.send("Hi! I see you online.")
session.wait_for(lambda: bob is None or (len(bob.messages) >= 2 and len(me.messages) >= 2
                                         and len(me.online) == 2 and len(bob.online) == 2), timeout=20)"""),
            new_code_cell("""\
print("online:", ", ".join(me.online))
for author, text, _when in me.messages.values():
    print(f"{author}: {text}")"""),
            new_markdown_cell("""\
Errors show inside the widget, in red, instead of a traceback: here the bridge refuses a message over
its length limit, and the widget says why."""),
            new_code_cell('print(me.send("x" * 1001))\nprint(me.error)'),
            new_markdown_cell(END_MD),
        ]
    )


def session_events():
    return nb(
        [
            new_markdown_cell("""\
# Session events

Log-outs, password changes and blocked users, as they happen: the events an application reacts to for
single sign-out (the idea of Auth0's *session events* sample). The bridge also sends each of them to
the affected user's private channel (`private-user-{id}`), so an application can sign that user out."""),
            new_markdown_cell(SOURCE_MD),
            new_code_cell(START),
            new_code_cell("events = session.session_events()\nevents", metadata=IGNORE),
            new_markdown_cell(
                "## Traffic\n\n600 seeded events (seed 5), 100 per second; only session events show above."
            ),
            new_code_cell("_ = session.simulate(n=600, rate=100, seed=5)\nsession.wait_for_events(600, timeout=40)"),
            new_markdown_cell("""\
## A lockout spike

The simulator can inject recognisable attacks. Six accounts blocked within an hour
(`limit_wc` / `limit_mu`) show up above as **Blocked** rows as soon as the bridge publishes them."""),
            new_code_cell("""\
print(session.launch_attack("lockout-spike", seed=5))  # six blocks over the last minutes, ending now
session.wait_for_events(606, timeout=20)"""),
            new_code_cell("""\
from authviz.widgets import CATEGORY_LABELS

for category, n in sorted(events.counts.items()):
    print(f"{CATEGORY_LABELS[category]:<18} {n:>4}")"""),
            new_markdown_cell(END_MD),
        ]
    )


def dashboard():
    return nb(
        [
            new_code_cell(
                """\
# The one-page live dashboard: `authviz dashboard` and `make demo` serve this notebook with Voila,
# which shows the widgets only. How the live notebooks work: README.md in this folder.
from authviz.widgets import live_session

session = live_session()
session.dashboard()""",
                metadata=IGNORE,
            ),
        ]
    )


BUILDERS = {
    "00_dashboard.ipynb": dashboard,
    "01_live_feed.ipynb": live_feed,
    "02_logins_by_country.ipynb": countries,
    "03_chat.ipynb": chat,
    "04_session_events.ipynb": session_events,
}


def strip_widget_state(notebook) -> None:
    """Remove saved widget state (notebook- and cell-level): it is large and never committed."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("widgets", None)
        if cell.cell_type == "code":
            cell.metadata.pop("execution", None)


def main(argv: list[str]) -> int:
    execute = "--execute" in argv
    NOTEBOOKS.mkdir(exist_ok=True)
    for name, build in BUILDERS.items():
        names = [a for a in argv if a.endswith(".ipynb")]
        if names and name not in names:
            continue
        notebook = build()
        if execute:
            from nbclient import NotebookClient

            os.environ["AUTHVIZ_NOTEBOOK_MODE"] = "local"
            NotebookClient(
                notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
            ).execute()
        strip_widget_state(notebook)
        nbformat.write(notebook, NOTEBOOKS / name)
        print("wrote", NOTEBOOKS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
