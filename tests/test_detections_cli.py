"""`authviz detect` and `authviz rules`, run as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from authviz.cli import main as _main
from detection_cases import cases, ev


def main(argv: list[str]) -> int:
    """The command's exit status, whether argparse exits or the handler returns."""
    try:
        return _main(argv)
    except SystemExit as done:
        return int(done.code or 0)


MINE = """title: my failed password rule
id: 12345678-1234-1234-1234-123456789012
logsource: {product: auth0}
detection: {sel: {data.type: fp}, condition: sel}
level: low
"""


@pytest.fixture()
def logs(tmp_path):
    records = [r for firing, misses in cases().values() for r in firing + misses]
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture()
def rules_dir(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "mine.yml").write_text(MINE)
    (folder / "broken.yml").write_text("title: broken\ndetection: {sel: {data.type: s}}\n")
    return folder


def test_detect_json_lines_with_my_rules_and_a_broken_file(logs, rules_dir, capsys):
    assert main(["detect", "--rules", str(rules_dir), str(logs), "--json"]) == 0
    out, err = capsys.readouterr()
    findings = [json.loads(line) for line in out.splitlines()]
    assert findings
    for finding in findings:
        assert {"rule_id", "title", "level", "group", "count", "first", "last", "event_ids"} <= set(finding)
        assert finding["first"].endswith("Z") and isinstance(finding["event_ids"], list)
    mine = [f for f in findings if f["rule_id"] == "12345678-1234-1234-1234-123456789012"]
    assert mine and all(f["level"] == "low" and f["count"] == 1 for f in mine)
    assert any(f["group"] == {"data.ip": "203.0.113.9"} for f in findings)  # a catalog correlation
    broken = [line for line in err.splitlines() if "broken.yml" in line]
    assert len(broken) == 1 and "is not valid Sigma" in broken[0]
    assert "need configuration" in err and "{your-tenant-url}" in err
    assert "Traceback" not in err


def test_detect_with_settings_runs_the_configured_rules(logs, tmp_path, capsys):
    settings = tmp_path / "tenant.yml"
    settings.write_text("your-tenant-url: acme.eu.auth0.com\n")
    assert main(["detect", str(logs), "--json", "--settings", str(settings)]) == 0
    out, err = capsys.readouterr()
    ids = {json.loads(line)["rule_id"] for line in out.splitlines()}
    assert "466073e8-7171-11f0-858f-723487b9527c" in ids
    assert "{your-tenant-url}" not in err


def test_detect_since_until_and_table(logs, capsys):
    assert main(["detect", str(logs), "--since", "2025-03-01T10:00Z", "--until", "2025-03-01T10:30"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["level", "first", "count"]
    assert len(lines) > 10 and all(" 2025-03-01 10:0" in line for line in lines[1:])
    assert main(["detect", str(logs), "--since", "2030-01-01"]) == 0
    out, _ = capsys.readouterr()
    assert out == "no findings\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["detect", "/nonexistent/logs.jsonl"], "does not exist"),
        (["detect", "{logs}", "--since", "yesterday"], "ISO 8601"),
        (["detect", "{logs}", "--rules", "/nonexistent/rules"], "does not exist"),
        (["detect", "{logs}", "--settings", "/nonexistent/tenant.yml"], "cannot be read"),
        (["detect", "{logs}", "--since", "2025-03-02", "--until", "2025-03-01"], "--since must be before --until"),
        (["detect"], "INPUT"),
    ],
)
def test_detect_usage_errors_exit_2_with_one_sentence(logs, argv, message, capsys):
    argv = [str(logs) if a == "{logs}" else a for a in argv]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert message in err and "Traceback" not in err


def test_detect_reads_an_archive_directory(tmp_path, capsys):
    from authviz.auth0 import read_logs

    frame = read_logs([ev("gd_send_sms", "Guardian - Second factor sms sent")]).frame
    folder = tmp_path / "archive" / "date=2025-03-01"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "part-1.parquet", index=False)
    assert main(["detect", str(tmp_path / "archive"), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert [json.loads(line)["rule_id"] for line in out.splitlines()] == ["74a1ddea-7172-11f0-ace0-723487b9527c"]


def test_rules_list_and_check(rules_dir, tmp_path, capsys):
    assert main(["rules", "list"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 + 38
    assert "[needs {your-tenant-url}]" in out
    assert sum(line.startswith("ready ") for line in out.splitlines()) == 34
    assert "38 rules, 34 ready, 4 need configuration" in err and "no settings file given" in err
    assert "authviz rules settings > tenant.yml" in err
    assert main(["rules", "list", "--json", "--rules", str(rules_dir)]) == 0
    out, err = capsys.readouterr()
    listed = [json.loads(line) for line in out.splitlines()]
    assert {r["origin"] for r in listed} == {"builtin", "catalog", "user"}
    assert "broken.yml" in err
    assert main(["rules", "check"]) == 0
    out, _ = capsys.readouterr()
    assert out.count("ok ") == 34 and out.count("needs ") == 4
    assert main(["rules", "check", str(rules_dir)]) == 1
    out, _ = capsys.readouterr()
    assert "invalid" in out and "broken.yml" in out and "ok       12345678" in out


def test_the_installed_command_runs(logs):
    done = subprocess.run(
        [sys.executable, "-m", "authviz", "detect", str(logs), "--json"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") >= 27


def test_detect_on_records_that_are_not_logs_says_so_and_exits_0(tmp_path, capsys):
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"hello": "world"}\n[1, 2]\nnot json\n')
    assert main(["detect", str(junk)]) == 0
    out, err = capsys.readouterr()
    assert out == "no findings\n"
    assert "3 record(s) could not be read" in err


def test_rules_settings_writes_a_file_to_fill_in(tmp_path, capsys):
    assert main(["rules", "settings"]) == 0
    template, _ = capsys.readouterr()
    path = tmp_path / "tenant.yml"
    path.write_text(template.replace("your-tenant-url:", "your-tenant-url: acme.eu.auth0.com"))
    assert main(["rules", "list", "--settings", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "[needs {your-tenant-url}]" not in out
    assert f"settings from {path} (1 placeholder(s) set)" in err and "35 ready" in err
    assert main(["rules", "settings", "--settings", str(path)]) == 0
    rest, _ = capsys.readouterr()
    assert "your-tenant-url:" not in rest and "global_client_id:" in rest
