"""Writes notebooks 05 (a month of logs, scored by the detection rules) and 06 (writing a
detection rule) from the cells below; ``--execute`` runs it in
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
    return nb(
        [
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
            new_code_cell(
                """\
fig = px.bar(tuning.reset_index(), x="threshold", y=["attacks caught", "noise"], barmode="group",
             title="Attacks caught and noise per threshold",
             labels={"threshold": "failed log-ins per user per hour (threshold)", "value": "findings",
                     "variable": ""})
fig.show()""",
                metadata=IGNORE,
            ),
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
        ]
    )


def auth_analytics():
    return nb(
        [
            new_markdown_cell("""\
# Auth analytics: a month of logs, trends and attacks

A live feed shows what is happening now; this notebook answers what happened over a month and
whether any of it was an attack. It runs the detection rules of `authviz detect` on DuckDB: the
built-in detections (brute force, credential stuffing, impossible travel, breached passwords,
lockout spikes, sign-up fraud, MFA push fatigue, refresh-token reuse) and Auth0's own Security
Detection Catalog (Sigma rules: settings turned off, MFA downgrades, SMS bombing, ...).

**Data.** By default: a month of seeded, simulated traffic (`authviz.simulator`) with fifteen
attacks injected at known times (ten for the built-in detections, five from the catalog), so the
last cells can check what was found. To analyse your own tenant instead, pull its logs with
`authviz logs pull --domain ... -o DIR` and set `AUTHVIZ_LOGS_PARQUET=DIR` before starting Jupyter."""),
            new_code_cell("""\
import os
from pathlib import Path

import pandas as pd
import plotly.express as px

from authviz.analytics import new_vs_returning, score_rule_findings, time_series, top
from authviz.auth0 import conform, read_logs
from authviz.alerts import HUNTING_RULES
from authviz.detections import detect, packaged_rules
from authviz.simulator import month_of_traffic

pd.set_option("display.max_colwidth", 120)
pd.set_option("display.width", 200)
percent = "{:.1%}".format"""),
            new_markdown_cell("""\
## Load the events

Either the Parquet directory written by `authviz logs pull` (partitioned by day), or 30 days of
simulated traffic (seed 7, about 2,000 events a day, 500 users in 25 countries) parsed by the same
reader that reads real exports."""),
            new_code_cell("""\
parquet = os.environ.get("AUTHVIZ_LOGS_PARQUET")
if parquet:
    events = conform(pd.read_parquet(parquet))
    attacks = None
else:
    month = month_of_traffic(seed=7, days=30, catalog=True)
    events = read_logs(month.records).frame
    attacks = month.attacks
print(f"{len(events):,} events from {events['timestamp'].min():%Y-%m-%d} to {events['timestamp'].max():%Y-%m-%d}")"""),
            new_markdown_cell("""\
## Activity over time

Log-ins, sign-ups and failed log-ins per hour, and the failure rate (failures / (failures + log-ins)).
The daily rhythm follows each user's local time of day."""),
            new_code_cell("""\
hourly = time_series(events, "1h")
daily = time_series(events, "1D")
summary = daily[["logins", "signups", "failures", "failure_rate"]].describe().round(1)
summary["failure_rate"] = daily["failure_rate"].describe().map(percent)
summary.loc["count", "failure_rate"] = f"{daily['failure_rate'].count()} days"
summary"""),
            new_code_cell(
                """\
fig = px.line(hourly.reset_index(), x="timestamp", y=["logins", "signups", "failures"], title="Events per hour",
              labels={"timestamp": "time (UTC)", "value": "events per hour", "variable": ""})
fig.show()""",
                metadata=IGNORE,
            ),
            new_code_cell(
                """\
fig = px.line(daily.reset_index(), x="timestamp", y="failure_rate", title="Daily failure rate",
              labels={"timestamp": "day (UTC)", "failure_rate": "failed log-ins / all log-in attempts"})
fig.update_yaxes(tickformat=".0%")
fig.show()""",
                metadata=IGNORE,
            ),
            new_markdown_cell("""\
## Who and where

Top countries, clients and connections (with their share of all events), and new versus returning
users per day (a user is *new* on the first day this data set sees them log in)."""),
            new_code_cell("""\
def shares(table):
    return table.assign(**{c: table[c].map(percent) for c in table.columns if c in ("share", "fraction", "percent")})


shares(top(events, "country_name", 8))"""),
            new_code_cell('shares(top(events, "client_name", 3))'),
            new_code_cell('shares(top(events, "connection", 3))'),
            new_code_cell(
                """\
users = new_vs_returning(events, "1D")
fig = px.bar(users.reset_index(), x="timestamp", y=["new", "returning"], title="Users logging in per day",
             labels={"timestamp": "day (UTC)", "value": "users", "variable": ""})
fig.show()""",
                metadata=IGNORE,
            ),
            new_markdown_cell("""\
## Detections

Every packaged rule runs over the month on DuckDB (`authviz detect` does the same from the command
line). A finding is one incident: the rule, the group it is about (a user, an IP, the tenant), how
many events, when, and the ids of its evidence. Rules whose placeholders need tenant settings
(`{your-tenant-url}`...) are listed and skipped."""),
            new_code_cell("""\
rules = packaged_rules()
findings = detect(events, rules.runnable(None))
about = {r.id: r for r in rules.rules}
findings["origin"] = [about[i].origin for i in findings["rule_id"]]
findings["rule"] = [about[i].name or about[i].title for i in findings["rule_id"]]
print(f"{len(rules.rules)} rules, {len(rules.needing_configuration(None))} need tenant settings; {len(findings):,} findings")
builtin = findings[findings["origin"] == "builtin"]
builtin[["rule", "level", "group", "count", "first"]].assign(
    group=[", ".join(f"{k} = {v}" for k, v in g.items()) for g in builtin["group"]],
    first=builtin["first"].dt.strftime("%Y-%m-%d %H:%M UTC"),
).reset_index(drop=True)"""),
            new_code_cell(
                """\
fig = px.scatter(builtin, x="first", y="rule", color="level", hover_data=["group", "count"],
                 title="Built-in detections over the month", labels={"first": "first event (UTC)", "rule": "rule"},
                 category_orders={"level": ["informational", "low", "medium", "high", "critical"]})
fig.show()""",
                metadata=IGNORE,
            ),
            new_markdown_cell("""\
## Did the rules find the injected attacks?

For simulated data the ground truth is known. A built-in attack is found by a finding of its
detection whose group is the attacked user, IP or tenant and whose time span overlaps the attack; a
catalog attack by a finding of one of the catalog rules it was built to trip that lists its
records. No finding of a built-in rule may be left unexplained."""),
            new_code_cell("""\
if attacks is None:
    print("Your own logs: no ground truth to compare with.")
else:
    table, unexpected = score_rule_findings(findings, attacks, {r.id: r.name for r in rules.rules})
    for row in table.itertuples():
        rule = about.get(row.rule_id)
        what = f"{rule.title} ({Path(rule.source).name})" if rule else "(no finding of its rules)"
        print(f"{'found' if row.found else 'MISSED':<6} {row.kind:<22} {what}")
    built = table["kind"].isin([a.kind for a in attacks if a.detection])
    print(f"built-in: {int(table[built]['found'].sum())} of {int(built.sum())} attacks found, "
          f"{int((unexpected['origin'] == 'builtin').sum())} unexplained findings")
    print(f"catalog: {int(table[~built]['found'].sum())} of {int((~built).sum())} attacks found")"""),
            new_markdown_cell("""\
The catalog's other findings, rule by rule (named by file: two catalog rules share the title
*Surge in signup events*). Most come from the catalog's *hunting* queries: they
select ordinary activity (every successful log-in, every sign-up, every MFA push) with a threshold of
1 and leave the real threshold to a per-tenant Splunk query, so live alerts do not use them (see
`authviz.alerts.HUNTING_RULES`). The others list records of the injected attacks: several catalog
rules trip on one attack."""),
            new_code_cell("""\
if attacks is not None:
    injected = {i for a in attacks for i in a.log_ids}
    catalog = unexpected[unexpected["origin"] == "catalog"]
    why = ["same injected attack" if injected & set(ids) else "hunting query" if r in HUNTING_RULES else "other"
           for r, ids in zip(catalog["rule_id"], catalog["event_ids"])]
    files = [Path(about[r].source).name for r in catalog["rule_id"]]  # two catalog rules share a title
    by_rule = catalog.assign(why=why, file=files).groupby(["why", "file"]).size().rename("findings").reset_index()
    print(by_rule.to_string(index=False))"""),
        ]
    )


BUILDERS = {"05_auth_analytics.ipynb": auth_analytics, "06_writing_a_rule.ipynb": writing_a_rule}


def main(argv: list[str]) -> int:
    execute = "--execute" in argv
    names = [a for a in argv if a.endswith(".ipynb")]
    for name, build in BUILDERS.items():
        if names and name not in names:
            continue
        notebook = build()
        if execute:
            from nbclient import NotebookClient

            NotebookClient(
                notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
            ).execute()
        strip_widget_state(notebook)
        nbformat.write(notebook, NOTEBOOKS / name)
        print("wrote", NOTEBOOKS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
