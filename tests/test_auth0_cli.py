"""`authviz logs convert`: formats, summary, rejects file and exit statuses."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from authviz.auth0 import read_logs
from authviz.cli.logs_convert import rejects_path
from authviz.auth0.archive import DERIVED
from authviz.auth0.schema import COLUMNS, conform
from authviz.cli import main
from auth0_support import FIXTURES, SAMPLES, lines, stream_record


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "authviz", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_exit_statuses_through_the_real_command(tmp_path):
    clean = run(
        "logs",
        "convert",
        FIXTURES / "elastic_auth0_logstream_webhook.ndjson",
        FIXTURES / "mgmt_api_user_logs_MG177_sso.json",
        "-o",
        tmp_path / "out.parquet",
        cwd=tmp_path,
    )
    assert clean.returncode == 0, clean.stderr
    assert "wrote 72 events" in clean.stdout and "silent_auth" in clean.stdout
    assert "Traceback" not in clean.stderr

    some_rejected = run(
        "logs", "convert", FIXTURES / "panther_auth0_rule_tests.ndjson", "-o", tmp_path / "p.csv", cwd=tmp_path
    )
    assert some_rejected.returncode == 1
    assert "duplicates dropped: 13" in some_rejected.stdout and "rejected records: 33" in some_rejected.stdout
    assert (tmp_path / "p.csv.rejects.jsonl").exists()

    unknown_extension = run(
        "logs",
        "convert",
        FIXTURES / "elastic_auth0_logstream_webhook.ndjson",
        "-o",
        tmp_path / "out.xlsx",
        cwd=tmp_path,
    )
    assert unknown_extension.returncode == 2
    assert "cannot tell the output format" in unknown_extension.stderr
    assert "Traceback" not in unknown_extension.stderr


def test_usage_errors_and_strict_mode_in_process(tmp_path, capsys):
    assert main(["logs", "convert", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # a missing output directory is created
    assert (
        main(
            [
                "logs",
                "convert",
                str(FIXTURES / "elastic_auth0_logstream_webhook.ndjson"),
                "-o",
                str(tmp_path / "new" / "dir" / "o.csv"),
            ]
        )
        == 0
    )
    assert (tmp_path / "new" / "dir" / "o.csv").exists()
    capsys.readouterr()
    (tmp_path / "afile").write_text("x")
    assert (
        main(
            [
                "logs",
                "convert",
                str(FIXTURES / "elastic_auth0_logstream_webhook.ndjson"),
                "-o",
                str(tmp_path / "afile" / "o.csv"),
            ]
        )
        == 2
    )
    assert "output directory" in capsys.readouterr().err
    assert (
        main(
            [
                "logs",
                "convert",
                str(FIXTURES / "datadog_integrations_extras_auth0_tests.ndjson"),
                "-o",
                str(tmp_path / "d.csv"),
            ]
        )
        == 1
    )
    assert "--keep-duplicates keeps every record" in capsys.readouterr().out
    assert (
        main(
            [
                "logs",
                "convert",
                str(FIXTURES / "datadog_integrations_extras_auth0_tests.ndjson"),
                "--strict",
                "-o",
                str(tmp_path / "s.jsonl"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "stopped (--strict)" in err and "record 2:" in err
    assert not (tmp_path / "s.jsonl").exists()  # strict writes nothing


def in_order_of(back: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """``back`` (read from an archive file, rows sorted by type and time) in ``expected``'s row order."""
    assert back["event_id"].is_unique and sorted(back["event_id"]) == sorted(expected["event_id"])
    position = {event_id: index for index, event_id in enumerate(expected["event_id"])}
    return back.iloc[sorted(range(len(back)), key=lambda row: position[back["event_id"].iloc[row]])].reset_index(
        drop=True
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_every_sample_converts_to_every_format(tmp_path, suffix, capsys):
    out = tmp_path / f"all{suffix}"
    inputs = [FIXTURES / name for name in sorted(SAMPLES)]
    status = main(["logs", "convert", *map(str, inputs), "-o", str(out)])
    assert status == 1  # the Panther and Datadog samples reuse log_ids with different content
    text = capsys.readouterr().out
    assert "rejected records: 39" in text and "panther_auth0_rule_tests.ndjson: record 3:" in text
    rejects = [json.loads(line) for line in rejects_path(out).read_text().splitlines()]
    assert len(rejects) == 39 and all(r["reason"] and r["raw"] and r["input"] for r in rejects)
    if suffix == ".parquet":
        back = pd.read_parquet(out)
    elif suffix == ".csv":
        back = pd.read_csv(out)
    else:
        back = pd.read_json(out, lines=True, dtype=False)
    # Parquet is the archive layout: the schema columns, then the derived columns rules read
    assert list(back.columns) == list(COLUMNS) + (list(DERIVED) if suffix == ".parquet" else []) and len(back) == 86
    assert all(isinstance(json.loads(raw), dict) for raw in back["raw"])  # raw stays a JSON string


def test_parquet_keeps_the_schema_dtypes(tmp_path):
    out = tmp_path / "x.parquet"
    assert (
        main(["logs", "convert", str(FIXTURES / "sumologic_docs_auth0_s_with_location_info.json"), "-o", str(out)]) == 0
    )
    back = pd.read_parquet(out)
    expected = read_logs(FIXTURES / "sumologic_docs_auth0_s_with_location_info.json").frame
    pd.testing.assert_frame_equal(in_order_of(back[list(COLUMNS)], expected), expected)
    assert not rejects_path(out).exists()


def test_format_flag_overrides_the_extension(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(stream_record("a")))
    out = tmp_path / "table.out"
    assert main(["logs", "convert", str(source), "-o", str(out), "--format", "csv"]) == 0
    assert pd.read_csv(out)["event_id"].tolist() == ["a"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["s", "f", "ss", "fsa"]),
            st.sampled_from(["US", "Russia", None, "Atlantis"]),
            st.sampled_from(["x", "<b>é</b>", None]),
        ),
        max_size=8,
    )
)
def test_round_trip_through_convert(tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("rt")
    body = lines(
        *[
            stream_record(log_id, type=code, user_name=name, location_info={"country_name": country})
            for log_id, code, country, name in records
        ]
    )
    source = folder / "in.jsonl"
    source.write_bytes(body)
    expected = read_logs(source)
    out = folder / "out.parquet"
    status = main(["logs", "convert", str(source), "-o", str(out)])
    assert status == (1 if expected.rejects else 0)
    back = in_order_of(conform(pd.read_parquet(out)), expected.frame)
    pd.testing.assert_frame_equal(back, expected.frame)
    # The raw column alone is enough to rebuild the same events.
    again = folder / "again.jsonl"
    again.write_text("\n".join(back["raw"]) + "\n", encoding="utf-8")
    pd.testing.assert_frame_equal(read_logs(again).frame, expected.frame)


@pytest.mark.parametrize(
    "text", ["hello, this is not JSON\nsecond line\n", "user,type\nalice,s\n", "<html><body>login page</body></html>\n"]
)
def test_a_file_that_is_not_json_is_said_so_and_nothing_is_written(tmp_path, text):
    # #12 item 9: this said "wrote 1 events" and wrote an empty CSV.
    source = tmp_path / "notes.txt"
    source.write_text(text)
    output = tmp_path / "out.csv"
    done = run("logs", "convert", source, "-o", output, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"{str(source)!r} is not JSON" in done.stderr and "nothing was written" in done.stderr
    assert "Traceback" not in done.stderr and "wrote" not in done.stdout
    assert not output.exists()
    rejects = [json.loads(line) for line in rejects_path(output).read_text().splitlines()]
    assert [r["position"] for r in rejects] == list(range(1, text.count("\n") + 1))  # nothing disappears
    assert all("not valid JSON" in r["reason"] for r in rejects)


def test_json_without_a_single_auth0_event_writes_nothing_and_keeps_an_older_output(tmp_path):
    source = tmp_path / "other.jsonl"
    source.write_text('{"hello": "world"}\n[1, 2]\n')
    output = tmp_path / "out.parquet"
    output.write_bytes(b"an earlier result")
    done = run("logs", "convert", source, "-o", output, cwd=tmp_path)
    assert done.returncode == 1
    assert f"no Auth0 events in {str(source)!r}: all 2 records were rejected" in done.stderr
    assert output.read_bytes() == b"an earlier result"
    assert len(rejects_path(output).read_text().splitlines()) == 2


def test_the_parquet_archive_carries_the_raw_record_for_rules_to_read(tmp_path, capsys):
    # Rules name any field of Auth0's `data` object: the archive keeps the record whole (`raw`).
    import duckdb
    from datetime import UTC, datetime

    from authviz.simulator import TrafficGenerator

    source, output = tmp_path / "admin.jsonl", tmp_path / "events.parquet"
    records = TrafficGenerator(seed=3).scenario("attack-protection-off", datetime(2026, 11, 2, tzinfo=UTC))
    source.write_bytes(lines(*records))
    assert main(["logs", "convert", str(source), "-o", str(output)]) == 0
    with duckdb.connect() as connection:
        rows = connection.execute(
            "SELECT category, raw->>'$.data.description', (raw->'$.data.details.response.body.enabled')::BOOLEAN "
            f"FROM read_parquet('{output}') WHERE raw->>'$.data.details.request.path' LIKE '/api/v2/attack-protection/%'"
        ).fetchall()
    assert len(rows) == 4 and {row[0] for row in rows} == {"management_api"}
    assert [row[2] for row in rows] == [False, False, False, None]  # bot detection has policies, not `enabled`
