"""Writes notebook 06 (writing a detection rule) from the cells below; ``--execute`` runs it in
place (local, seeded: its outputs are compared strictly by nbval in ``make test``).

    .venv/bin/python tests/notebooks_build_rules.py --execute
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks_build import NOTEBOOKS, nb, strip_widget_state  # noqa: E402

IGNORE = {"tags": ["nbval-ignore-output"]}


def writing_a_rule():
    return nb([
        new_markdown_cell("""\
# Writing a detection rule

An analyst suspects password guessing against single accounts and wants an alert for it. This
notebook writes the rule in Sigma (the format Auth0's own Security Detection Catalog uses), tests it
on a month of history ("what would have fired?"), tunes its threshold against known attacks, and
runs the tuned rule live. Everything here runs on this laptop: DuckDB for history, the same rule
evaluated incrementally for the live stream."""),
        new_code_cell("""\
import pandas as pd
import plotly.express as px

from authviz.alerts import LiveDetector
from authviz.auth0 import read_logs
from authviz.detections import detect, load_rule_text
from authviz.simulator import month_of_traffic

month = month_of_traffic(seed=7, days=30)          # 30 days of seeded traffic with attacks injected
events = read_logs(month.records).frame
guessing = [a for a in month.attacks if a.kind == "brute-force"]
print(f"{len(events):,} events; {len(guessing)} password-guessing attacks injected")"""),
        new_markdown_cell("""\
## The rule

Two documents: a Sigma rule that selects the events (failed log-ins), and a correlation that counts
them per user (`user_key`: the user name, else the e-mail, else the user id) within an hour.
`{threshold}` is filled in below so we can try several."""),
        new_code_cell('''\
RULE = """
title: Repeated failed log-ins for one user
id: 9b1f7c3a-0d2e-4f5a-8b6c-7d8e9f0a1b2c
name: failed_logins
logsource: {{product: auth0}}
detection:
    failure:
        category: login_failure
    condition: failure
prevention:
    - Check the IPs of the failures; block them with Auth0 Network ACL if they are not the user's.
level: medium
---
title: Repeated failed log-ins for one user
name: password_guessing
correlation:
    type: event_count
    rules: [failed_logins]
    group-by: [user_key]
    timespan: 1h
    condition: {{gte: {threshold}}}
level: medium
"""


def rule(threshold):
    loaded = load_rule_text(RULE.format(threshold=threshold), "password_guessing.yml")
    assert not loaded.problems, loaded.problems
    return loaded.rules


print([(r.title, r.kind) for r in rule(5)])'''),
        new_markdown_cell("""\
## What would have fired?

Run the rule over the month with a first guess of **3 failures an hour**. Each finding is one
incident: the user, how many failures, and when."""),
        new_code_cell("""\
findings = detect(events, rule(3))
print(f"{len(findings)} findings")
findings[["group", "count", "first", "last"]].head(8)"""),
        new_markdown_cell("""\
## Tune the threshold

For each threshold: how many findings, how many of the injected attacks they catch (a finding of
the attacked user overlapping the attack), and how many findings are *noise* (ordinary users who
mistyped their password a few times)."""),
        new_code_cell("""\
def caught(findings, attack):
    return any(f["group"].get("user_key") == attack.key and f["first"] <= pd.Timestamp(attack.end)
               and f["last"] >= pd.Timestamp(attack.start) for _, f in findings.iterrows())


rows = []
for threshold in range(2, 9):
    found = detect(events, rule(threshold))
    hits = sum(caught(found, a) for a in guessing)
    attacked = {a.key for a in guessing}
    noise = sum(f["group"].get("user_key") not in attacked for _, f in found.iterrows())
    rows.append({"threshold": threshold, "findings": len(found), "attacks caught": hits, "noise": noise})
tuning = pd.DataFrame(rows).set_index("threshold")
tuning["share of attacks caught"] = (tuning["attacks caught"] / len(guessing)).map("{:.0%}".format)
tuning"""),
        new_code_cell("""\
fig = px.bar(tuning.reset_index(), x="threshold", y=["attacks caught", "noise"], barmode="group",
             title="Attacks caught and noise per threshold",
             labels={"threshold": "failed log-ins per user per hour (threshold)", "value": "findings",
                     "variable": ""})
fig.show()""", metadata=IGNORE),
        new_markdown_cell("""\
The lowest threshold with no noise that still catches every attack is the one to ship: higher
thresholds only let slower attacks through."""),
        new_code_cell("""\
quiet = tuning[(tuning["noise"] == 0) & (tuning["attacks caught"] == len(guessing))]
best = int(quiet.index.min())
print(f"threshold {best}: {int(tuning.loc[best, 'attacks caught'])} of {len(guessing)} attacks, no noise")"""),
        new_markdown_cell("""\
## Run it live

The same rule, evaluated incrementally: `LiveDetector` keeps a count per user and fires on the event
that crosses the threshold. Replaying the month in one-day batches (event time, so it takes seconds)
raises one alert per incident, the same incidents the batch run found."""),
        new_code_cell("""\
live = LiveDetector(rule(best))
days = events.groupby(events["timestamp"].dt.floor("1D"))
alerts = [a for _, day in days for a in live.feed(day) if not a.update]
batch = detect(events, rule(best))
print(f"{len(alerts)} live alerts, {len(batch)} findings in the batch run")
for alert in alerts:
    print(alert.start.strftime("%Y-%m-%d %H:%M"), alert.message)"""),
        new_markdown_cell("""\
To use the rule for real, save the two documents as a `.yml` file and pass it to
`authviz detect --rules FILE logs/` for history, or `LiveDetector(load_rules(["FILE"]).rules)` for
the live stream (`authviz tail` alerts with the packaged rules)."""),
    ])


BUILDERS = {"06_writing_a_rule.ipynb": writing_a_rule}


def main(argv: list[str]) -> int:
    execute = "--execute" in argv
    for name, build in BUILDERS.items():
        notebook = build()
        if execute:
            from nbclient import NotebookClient

            NotebookClient(notebook, timeout=120, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        strip_widget_state(notebook)
        nbformat.write(notebook, NOTEBOOKS / name)
        print("wrote", NOTEBOOKS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
