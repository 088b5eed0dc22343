"""The Sigma engine in general: modifiers, JSON types, conditions, correlations, bad rule files, inputs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from authviz.auth0 import read_logs
from authviz.detections import (
    DetectionEngine,
    RuleError,
    TenantSettings,
    load_rule_text,
    load_rules,
    load_settings,
    matches,
    packaged_rules,
    rule_tree,
)
from detection_cases import ev, sapi


def findings(rule_text: str, records: list[dict], settings: TenantSettings | None = None):
    loaded = load_rule_text(rule_text, "test.yml")
    assert not loaded.problems, [str(p) for p in loaded.problems]
    with DetectionEngine() as engine:
        engine.add_frame(read_logs(records).frame)
        engine.define_events()
        report = engine.run(loaded.rules, settings)
        assert not report.failed, report.failed
        return engine.findings()


def fired(rule_text: str, records: list[dict], settings=None) -> set[str]:
    found = findings(rule_text, records, settings)
    by_sql = set().union(*map(set, found["event_ids"])) if len(found) else set()
    # the live side's Python matcher agrees with the SQL on every event rule
    (loaded,) = load_rule_text(rule_text, "test.yml").rules
    tree = rule_tree(loaded, settings)
    events = read_logs(records).frame.to_dict("records")
    assert {e["event_id"] for e in events if matches(tree, e)} == by_sql
    return by_sql


def rule(detection: str, extra: str = "") -> str:
    return f"title: t\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n    product: auth0\n{extra}detection:\n{detection}"


def test_modifiers_wildcards_and_case():
    a = ev("s", user_agent="Mozilla/5.0 Firefox", user_name="Ann@Example.com")
    b = ev("s", user_agent="curl/8.1", user_name="bob@test.org")
    text = rule("    sel:\n        data.user_agent|contains: FIREFOX\n    condition: sel\n")
    assert fired(text, [a, b]) == {a["log_id"]}
    text = rule("    sel:\n        data.user_name|endswith: '@example.com'\n    condition: sel\n")
    assert fired(text, [a, b]) == {a["log_id"]}
    text = rule("    sel:\n        data.user_agent: 'curl/*'\n    condition: sel\n")
    assert fired(text, [a, b]) == {b["log_id"]}
    text = rule("    sel:\n        data.user_name|cased: Ann@Example.com\n    condition: sel\n")
    assert fired(text, [a, b]) == {a["log_id"]}
    text = rule("    sel:\n        data.user_name|cased: ann@example.com\n    condition: sel\n")
    assert fired(text, [a, b]) == set()


def test_json_types_null_exists_numbers_and_cidr():
    t = sapi("x", response={"enabled": False, "n": 7, "gone": None, "ip": "10.1.2.3"})
    f = sapi("x", response={"enabled": "false", "n": "12", "ip": "10.2.0.1"})
    y = sapi("x", response={"enabled": True, "n": 3, "gone": "here", "ip": "not an ip"})
    body = "data.details.response.body"
    assert fired(rule(f"    sel:\n        {body}.enabled: false\n    condition: sel\n"), [t, f, y]) == {
        t["log_id"],
        f["log_id"],
    }
    assert fired(rule(f"    sel:\n        {body}.enabled: 'false'\n    condition: sel\n"), [t, f, y]) == {
        t["log_id"],
        f["log_id"],
    }
    assert fired(rule(f"    sel:\n        {body}.gone: null\n    condition: sel\n"), [t, f, y]) == {
        t["log_id"],
        f["log_id"],
    }
    assert fired(rule(f"    sel:\n        {body}.gone|exists: true\n    condition: sel\n"), [t, f, y]) == {y["log_id"]}
    assert fired(rule(f"    sel:\n        {body}.n: 12\n    condition: sel\n"), [t, f, y]) == {f["log_id"]}
    assert fired(rule(f"    sel:\n        {body}.n|gt: 5\n    condition: sel\n"), [t, f, y]) == {
        t["log_id"],
        f["log_id"],
    }
    assert fired(rule(f"    sel:\n        {body}.ip|cidr: 10.1.0.0/16\n    condition: sel\n"), [t, f, y]) == {
        t["log_id"]
    }


def test_arrays_any_element_and_nested_paths():
    a = sapi("x", request={"scopes": [{"name": "read:users"}, {"name": "delete:users"}]})
    b = sapi("x", request={"scopes": [{"name": "read:users"}]})
    text = rule("    sel:\n        data.details.request.body.scopes{}.name|startswith: 'delete:'\n    condition: sel\n")
    assert fired(text, [a, b]) == {a["log_id"]}
    text = rule("    sel:\n        data.details.request.body.scopes{}.name: null\n    condition: sel\n")
    none = sapi("x")
    assert fired(text, [a, none]) == {none["log_id"]}


def test_regular_expressions_re2_and_python_fallback():
    a = ev("s", user_name="ab12@x.example")
    b = ev("s", user_name="abab@x.example")
    assert fired(rule("    sel:\n        data.user_name|re: '^[a-z]+\\d+@'\n    condition: sel\n"), [a, b]) == {
        a["log_id"]
    }
    # a back-reference RE2 lacks: run with Python's re
    assert fired(rule("    sel:\n        data.user_name|re: '^(ab)\\1@'\n    condition: sel\n"), [a, b]) == {
        b["log_id"]
    }
    # ... also on the connections that run rules side by side
    texts = [
        rule("    sel:\n        data.user_name|re: '^(ab)\\1@'\n    condition: sel\n").replace(
            "555555555555", f"{n:012d}"
        )
        for n in range(4)
    ]
    rules = [r for text in texts for r in load_rule_text(text, "test.yml").rules]
    with DetectionEngine(threads=4) as engine:
        engine.add_frame(read_logs([a, b]).frame)
        engine.define_events()
        report = engine.run(rules)
        assert not report.failed, report.failed
        assert sorted(engine.findings()["event_ids"].map(tuple)) == [(b["log_id"],)] * 4


def test_keywords_quantifiers_and_not():
    a = ev("f", "Wrong email or password.", ip="192.0.2.1")
    b = ev("fp", "Wrong password", ip="192.0.2.2")
    c = ev("s", "Successful login", ip="192.0.2.3")
    assert fired(rule("    keywords:\n        - 'wrong email'\n    condition: keywords\n"), [a, b, c]) == {a["log_id"]}
    text = rule(
        "    selection_a:\n        data.type: f\n    selection_b:\n        data.type: fp\n"
        "    condition: 1 of selection_*\n"
    )
    assert fired(text, [a, b, c]) == {a["log_id"], b["log_id"]}
    text = rule(
        "    one:\n        data.type|startswith: f\n    two:\n        data.ip: 192.0.2.2\n    condition: all of them\n"
    )
    assert fired(text, [a, b, c]) == {b["log_id"]}
    text = rule(
        "    sel:\n        data.type|startswith: f\n    hidden:\n        data.details.x: 1\n"
        "    condition: sel and not hidden\n"
    )
    assert fired(text, [a, b, c]) == {a["log_id"], b["log_id"]}


CORRELATED = """title: base a
name: a
id: aaaaaaaa-0000-0000-0000-000000000001
logsource: {product: auth0}
detection: {sel: {data.type: gd_send_pn}, condition: sel}
---
title: base b
name: b
id: aaaaaaaa-0000-0000-0000-000000000002
logsource: {product: auth0}
detection: {sel: {data.type: gd_auth_succeed}, condition: sel}
---
title: push then accept
id: aaaaaaaa-0000-0000-0000-0000000000ff
correlation:
    type: temporal
    rules: [a, b]
    group-by: [data.user_id]
    timespan: 10m
level: high
"""


def test_temporal_correlation_needs_every_rule_in_the_window():
    push = ev("gd_send_pn", user_id="u1", at="2025-03-01T10:00:00Z")
    ok = ev("gd_auth_succeed", user_id="u1", at="2025-03-01T10:04:00Z")
    late = ev("gd_auth_succeed", user_id="u2", at="2025-03-01T10:30:00Z")
    other = ev("gd_send_pn", user_id="u2", at="2025-03-01T10:00:00Z")
    found = findings(CORRELATED, [push, ok, late, other])
    assert list(found["rule_id"]) == ["aaaaaaaa-0000-0000-0000-0000000000ff"]
    assert found.iloc[0]["group"] == {"data.user_id": "u1"} and found.iloc[0]["level"] == "high"
    assert set(found.iloc[0]["event_ids"]) == {push["log_id"], ok["log_id"]}


def test_base_rules_of_a_correlation_do_not_fire_alone_unless_generate():
    loaded = load_rule_text(CORRELATED, "c.yml")
    assert [r.kind for r in loaded.rules] == ["correlation"]
    loaded = load_rule_text(CORRELATED.replace("    type: temporal", "    type: temporal\n    generate: true"), "c.yml")
    assert sorted(r.kind for r in loaded.rules) == ["correlation", "sigma", "sigma"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("title: [unclosed", "is not valid YAML"),
        ("just text", "is not a Sigma rule"),
        ("title: t\nlogsource: {product: auth0}\ndetection: {sel: {data.type: s}}\n", "is not valid Sigma"),
        (
            "title: t\nlogsource: {product: auth0}\ndetection: {sel: {data.type|nosuch: s}, condition: sel}\n",
            "is not valid Sigma",
        ),
        (
            "title: t\nlogsource: {product: auth0}\ndetection: {sel: {data.type: s}, condition: sel and nope}\n",
            "is not valid Sigma",
        ),
        ("title: t\nlogsource: {product: windows}\ndetection: {sel: {Image: x}, condition: sel}\n", "'windows' logs"),
    ],
)
def test_a_bad_rule_file_is_one_sentence_naming_it_and_the_others_still_load(tmp_path, text, problem):
    (tmp_path / "bad.yml").write_text(text)
    (tmp_path / "good.yml").write_text(rule("    sel:\n        data.type: s\n    condition: sel\n"))
    loaded = load_rules([tmp_path])
    assert len(loaded.rules) == 1 and len(loaded.problems) == 1
    message = str(loaded.problems[0])
    assert str(tmp_path / "bad.yml") in message and problem in message
    assert "\n" not in message and "Traceback" not in message


def test_a_missing_rule_path_is_an_error():
    with pytest.raises(RuleError, match="does not exist"):
        load_rules(["/nonexistent/rules"])


def test_settings_file(tmp_path):
    path = tmp_path / "tenant.yml"
    path.write_text("placeholders:\n  '{your-tenant-url}': acme.eu.auth0.com\n  trusted-client_id-1: [a, b]\n")
    settings = load_settings(path)
    assert settings.placeholders == {"your-tenant-url": ("acme.eu.auth0.com",), "trusted-client_id-1": ("a", "b")}
    path.write_text("- a\n- b\n")
    with pytest.raises(RuleError, match="mapping"):
        load_settings(path)
    with pytest.raises(RuleError, match="cannot be read"):
        load_settings(tmp_path / "nope.yml")


def test_settings_template_lists_what_is_unset_and_loads_back(tmp_path):
    from authviz.detections.load import settings_template

    rules = packaged_rules()
    text = settings_template(rules.rules)
    waiting = {name for _, missing in rules.needing_configuration(None) for name in missing}
    assert {line[:-1] for line in text.splitlines() if line.endswith(":")} == waiting
    assert "needed by: Risk for misconfiguration - use of Auth0 tenant name URL." in text
    assert "Global Client Information" in text  # what the value is and where to find it
    path = tmp_path / "tenant.yml"
    path.write_text(text)  # nothing filled in: every rule still waits, none runs with ''
    assert load_settings(path).placeholders == {}
    path.write_text(text.replace("your-tenant-url:", "your-tenant-url: acme.eu.auth0.com"))
    settings = load_settings(path)
    assert settings.placeholders == {"your-tenant-url": ("acme.eu.auth0.com",)}
    assert "your-tenant-url:" not in settings_template(rules.rules, settings)


def test_parquet_archive_with_time_bounds_and_management_api_shape(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    early = ev("gd_send_sms", "Guardian - Second factor sms sent", at="2025-03-01T10:00:00Z")
    late = ev("gd_send_sms", "Guardian - Second factor sms sent", at="2025-03-02T10:00:00Z")
    flat = {
        "_id": "mgmt-1",
        "date": "2025-03-02T11:00:00Z",
        "type": "gd_send_sms",
        "description": "Guardian - Second factor sms sent",
    }
    frame = read_logs([early, late, flat]).frame
    for day, part in frame.groupby(frame["timestamp"].dt.strftime("%Y-%m-%d")):
        folder = tmp_path / f"date={day}"
        folder.mkdir()
        pq.write_table(
            pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), folder / "part-0.parquet"
        )
    rules = [r for r in packaged_rules(["catalog"]) if r.id == "74a1ddea-7172-11f0-ace0-723487b9527c"]
    with DetectionEngine(memory_limit="256MB") as engine:
        engine.add_parquet(tmp_path)
        engine.define_events(since=datetime(2025, 3, 2, tzinfo=timezone.utc))
        assert engine.count_events() == 2
        engine.run(rules)
        assert {i for ids in engine.findings()["event_ids"] for i in ids} == {late["log_id"], "mgmt-1"}


def test_a_problem_names_a_relative_path_unchanged(tmp_path, monkeypatch):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.yml").write_text("title: [unclosed")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    (problem,) = load_rules(["../rules"]).problems
    assert str(problem).startswith("../rules/bad.yml is not valid YAML") and str(problem).endswith(").")
