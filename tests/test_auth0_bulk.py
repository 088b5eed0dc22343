"""The bulk reader: schema conformance, inputs, and agreement with the per-record parser."""

import gzip
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import authviz.auth0.bulk as bulk
from authviz.auth0 import (
    ParseError,
    empty_frame,
    events_to_frame,
    parse_body,
    read_log_files,
    read_logs,
)
from authviz.auth0.parse import is_one_document
from authviz.auth0.schema import COLUMNS
from auth0_support import FIXTURES, SAMPLES, lines, stream_record
from test_auth0_parse import ACTION_EVENT, RULE_SIGNUP


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Make the columnar reader work in tiny blocks so splitting and fallbacks happen on small inputs."""
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 600)
    monkeypatch.setattr(bulk, "MIN_COLUMNAR_LINES", 1)
    monkeypatch.setattr(bulk, "SPLIT_PARTS", 2)


def assert_same_as_per_record(body: bytes, *, dedup: bool = True) -> None:
    """read_logs(body) equals the per-record parser's events, rejects and duplicate count."""
    got = read_logs(body, dedup=dedup)
    expected = parse_body(body, dedup=dedup)
    want = events_to_frame(expected.events)
    pd.testing.assert_frame_equal(got.frame.drop(columns="raw"), want.drop(columns="raw"))
    assert [(r.position, r.reason, r.raw) for r in got.rejects] == [
        (r.position, r.reason, r.raw) for r in expected.rejects
    ]
    assert got.duplicates == expected.duplicates


def assert_schema(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(COLUMNS)
    for name, dtype in COLUMNS.items():
        assert frame[name].dtype == dtype, name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_agree_with_the_per_record_parser(name):
    assert_same_as_per_record((FIXTURES / name).read_bytes())
    assert_schema(read_logs(FIXTURES / name).frame)


def test_raw_is_the_original_line_text():
    records = [stream_record("a", description="<b>é</b>"), stream_record("b")]
    body = b"  " + lines(*records).replace(b"\n", b"\r\n", 1) + b"\n   \n"
    frame = read_logs(body).frame
    assert frame["raw"].tolist() == ["  " + json.dumps(records[0], ensure_ascii=False), json.dumps(records[1])]
    assert json.loads(frame["raw"][1]) == records[1]


def test_paths_gzip_bytes_and_iterables(tmp_path):
    records = [stream_record(f"id{i}", type=code) for i, code in enumerate(["s", "f", "fsa", "zzz"])]
    body = lines(*records)
    plain, packed = tmp_path / "logs.jsonl", tmp_path / "logs.jsonl.gz"
    plain.write_bytes(body)
    packed.write_bytes(gzip.compress(body))
    array = tmp_path / "logs.json"
    array.write_text(json.dumps(records, indent=2))
    frames = [
        read_logs(plain).frame,
        read_logs(str(packed)).frame,
        read_logs(array).frame,
        read_logs(body).frame,
        read_logs(records).frame,
        read_logs([json.dumps(r) for r in records]).frame,
    ]
    for frame in frames:
        assert frame["event_id"].tolist() == ["id0", "id1", "id2", "id3"]
        assert frame["category"].tolist() == ["login_success", "login_failure", "silent_auth", "other"]
        assert_schema(frame)


def test_missing_file_and_bad_gzip_say_so(tmp_path):
    with pytest.raises(bulk.LogInputError, match="does not exist"):
        read_logs(tmp_path / "nope.jsonl")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(bulk.LogInputError, match="cannot be decompressed"):
        read_logs(broken)


def test_empty_inputs_give_an_empty_schema_frame():
    for source in (b"", b"\n\n", []):
        result = read_logs(source)
        assert len(result.frame) == 0 and not result.rejects
        assert_schema(result.frame)
    pd.testing.assert_frame_equal(read_logs(b"").frame, empty_frame())


@pytest.mark.parametrize("blocks", ["default", "tiny"])
def test_heterogeneous_lines_every_shape(blocks, request):
    if blocks == "tiny":
        request.getfixturevalue("tiny_blocks")
    records = [
        stream_record("a"),
        RULE_SIGNUP,
        ACTION_EVENT,
        {"_id": "m", "date": "2024-05-01T00:00:00Z", "type": "slo", "isMobile": False},
        {"detail": {"log_id": "e", "data": {"date": "2024-05-01T00:00:00Z", "type": "ss"}}},
        {"NAMED": {"detail": {"log_id": "w", "data": {"date": "2024-05-01T00:00:00Z", "type": "s"}}}},
    ]
    mixed = [
        {
            "log_id": "both",
            "data": {"date": "2024-05-01T00:00:00Z", "type": "s"},
            "detail": {"log_id": "both-e", "data": {"date": "2024-05-01T00:00:00Z", "type": "f"}},
        },
        {"_id": "flat-with-data", "date": "2024-05-01T00:00:00Z", "type": "s", "data": "x", "log_id": "q"},
    ]
    for first in (stream_record("a"), records[3], records[4]):  # each log shape leads a block once
        body = lines(first, *records[1:], *mixed, *records)
        assert_same_as_per_record(body)
        assert_same_as_per_record(body, dedup=False)
    frame = read_logs(lines(*records)).frame
    assert frame["source"].tolist() == ["log_stream", "rule", "action", "management_api", "eventbridge", "eventbridge"]
    both = read_logs(lines(*mixed))
    assert both.frame["event_id"].tolist() == ["both-e"]  # an EventBridge envelope wins over `data`
    assert "'data' should be an object, not text" in both.rejects[0].reason


def test_bad_lines_in_a_large_block_are_isolated(tiny_blocks):
    good = [stream_record(f"id{i}", user_name=f"user{i}@example.com") for i in range(40)]
    body_lines = [json.dumps(record) for record in good]
    body_lines[7] = '{"log_id": "id7", "data": {"date": 5, "type": "s"}}'  # wrong type for pyarrow
    body_lines[20] = "not json at all"
    body_lines[21] = "null"  # pyarrow must never see a leading null (it crashes on it)
    body_lines[30] = json.dumps(stream_record("id30", date="31/12/2024"))
    body_lines[33] = '{"a": 1} {"b": 2}'  # two objects on one line
    body = ("\n".join(body_lines) + "\n").encode()
    assert_same_as_per_record(body)
    result = read_logs(body)
    assert [reject.position for reject in result.rejects] == [8, 21, 22, 31, 34]
    assert len(result.frame) == 35


def test_invalid_utf8_line_is_rejected_and_the_rest_parse(tiny_blocks):
    body = lines(stream_record("a")) + b'{"log_id": "b\xff", "data": {}}\n' + lines(stream_record("c"))
    result = read_logs(body)
    assert result.frame["event_id"].tolist() == ["a", "c"]
    (reject,) = result.rejects
    assert reject.position == 2 and reject.reason.startswith("record 2: not valid UTF-8 text")


def test_duplicates_and_conflicts_across_files(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(lines(stream_record("x"), stream_record("y")))
    second.write_bytes(lines(stream_record("x"), stream_record("y", type="f"), stream_record("z")))
    result = read_log_files([first, second])
    assert result.frame["event_id"].tolist() == ["x", "y", "z"]
    assert result.duplicates == 1
    (reject,) = result.rejects
    assert reject.input == str(second) and reject.position == 2
    assert f"already seen in {first} record 2 with different content" in reject.reason
    assert len(read_log_files([first, second], dedup=False).frame) == 5


def test_strict_raises_and_shape_override():
    with pytest.raises(ParseError, match="record 2: not valid JSON"):
        read_logs(lines(stream_record("a"), "nope"), strict=True)
    flat = lines({"date": "2024-05-01T00:00:00Z", "type": "s", "log_id": "f"})
    assert read_logs(flat, source_shape="management_api").frame["source"].tolist() == ["management_api"]
    assert "'data' should be an object" in read_logs(flat, source_shape="log_stream").rejects[0].reason
    with pytest.raises(ParseError, match="unknown shape"):
        read_logs(flat, source_shape="nope")


# --- property: whatever the records, both paths agree ----------------------------------------

_text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", "a@b.c", "<i>x</i>", "ü"]))
_scalar = st.one_of(_text, st.integers(-5, 5), st.booleans(), st.floats(allow_nan=False, allow_infinity=False))
_date = st.one_of(
    st.sampled_from(
        [
            "2024-05-01T12:00:00.123Z",
            "2024-05-01 12:00:00.123456789",
            "2024-05-01T12:00:00+02:00",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "",
            "3000-01-01T00:00:00Z",
        ]
    ),
    st.none(),
    st.integers(0, 10),
)
_location = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "country_code": st.one_of(_text, st.sampled_from(["US", "de", "XK"])),
            "country_name": st.one_of(_text, st.sampled_from(["Russia", "Atlantis"])),
            "latitude": st.one_of(st.none(), st.floats(-90, 90), st.text(max_size=4)),
            "city_name": _text,
        },
    ),
)
_entry = st.fixed_dictionaries(
    {},
    optional={
        "date": _date,
        "type": st.one_of(st.sampled_from(["s", "f", "fsa", "ss", "gd_send_pn", "zz", ""]), _scalar),
        "log_id": st.one_of(st.sampled_from(["L1", "L2", "L3", ""]), _scalar),
        "_id": st.one_of(st.none(), st.sampled_from(["L1", "M9"])),
        "user_name": _scalar,
        "user_id": _scalar,
        "description": _scalar,
        "ip": _text,
        "hostname": st.one_of(_text, st.sampled_from(["t1.auth0.com", "t2.eu.auth0.com", "login.acme.com"])),
        "tenant_name": _text,
        "is_mobile": st.one_of(st.none(), st.booleans(), st.sampled_from(["true", "x"])),
        "isMobile": st.one_of(st.none(), st.booleans()),
        "location_info": _location,
        "details": st.recursive(
            _scalar,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
            max_leaves=6,
        ),
    },
)
_record = st.one_of(
    st.builds(lambda entry, log_id: {"log_id": log_id, "data": entry}, _entry, st.sampled_from(["L1", "L2", None])),
    st.builds(lambda entry: {"detail": {"log_id": "E1", "data": entry}}, _entry),
    _entry,
    st.just(RULE_SIGNUP),
    st.just(ACTION_EVENT),
)
_line = st.one_of(
    _record.map(lambda record: json.dumps(record, ensure_ascii=False)),
    st.sampled_from(["null", "[1, 2]", "{bad json", '"text"', "{}", '{"a": 1} {"b": 2}', "   "]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_line, min_size=1, max_size=12), st.booleans())
def test_bulk_and_per_record_paths_agree_on_anything(tiny_blocks, tmp_path, body_lines, dedup):
    body = ("\n".join(body_lines) + "\n").encode("utf-8")
    if is_one_document(body):
        return  # one JSON document: not the JSON-lines path under test
    assert_same_as_per_record(body, dedup=dedup)
    result = read_logs(body, dedup=dedup)
    path = tmp_path / "body.jsonl"  # the same, streamed from a file in 600-byte reads
    path.write_bytes(body)
    for engine in bulk.ENGINES:
        from_file = read_logs(path, dedup=dedup, engine=engine)
        pd.testing.assert_frame_equal(from_file.frame, result.frame)
        assert from_file.rejects == result.rejects and from_file.duplicates == result.duplicates
    non_blank = sum(1 for line in body_lines if line.strip())
    assert len(result.frame) + len(result.rejects) + result.duplicates == non_blank
    if dedup:
        assert result.frame["event_id"].is_unique


@pytest.mark.parametrize("engine", bulk.ENGINES)
@pytest.mark.parametrize("compress", [False, True])
def test_files_are_streamed_in_chunks_with_line_numbers_kept(tmp_path, monkeypatch, compress, engine):
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 300)  # several chunks, lines cut across reads
    records = [stream_record(f"id{i}", description="x" * (i * 40)) for i in range(12)]
    body_lines = [json.dumps(record) for record in records]
    body_lines[5] = "broken {"
    body = ("\r\n".join(body_lines[:6]) + "\n\n  \n" + "\n".join(body_lines[6:])).encode()
    path = tmp_path / ("logs.jsonl.gz" if compress else "logs.jsonl")
    path.write_bytes(gzip.compress(body) if compress else body)
    result = read_logs(path, engine=engine)
    assert [reject.position for reject in result.rejects] == [6]
    assert result.frame["event_id"].tolist() == [f"id{i}" for i in range(12) if i != 5]
    assert result.frame["raw"].tolist() == [line for i, line in enumerate(body_lines) if i != 5]
    whole = read_logs(body)
    pd.testing.assert_frame_equal(result.frame, whole.frame)
    assert result.rejects == whole.rejects
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert len(read_logs(empty).frame) == 0


# --- files: runs of lines read ahead and taken whole when ordinary, the general path otherwise -----


def _mixed_file_body() -> tuple[bytes, list[str]]:
    """Runs of ordinary log-stream lines, and runs each holding one thing that is not ordinary."""
    body_lines = [json.dumps(stream_record(f"id{i}", user_name=f"u{i}@example.com")) for i in range(80)]
    body_lines[12] = "not json {"  # a broken line
    body_lines[30] = json.dumps({"_id": "flat30", "date": "2024-05-01T00:00:00Z", "type": "slo"})  # another shape
    body_lines[45] = json.dumps(stream_record("id44"))  # a conflict with line 45's id (other content)
    body_lines[46] = body_lines[40]  # a duplicate of line 41
    body_lines[60] = "null"  # not framed {...}
    body_lines[70] = json.dumps(stream_record("id70", date=5))  # a field of another type
    return ("\n".join(body_lines[:50]) + "\r\n\n  \n" + "\n".join(body_lines[50:]) + "\n").encode(), body_lines


@pytest.mark.parametrize("compress", [False, True])
def test_file_runs_taken_whole_and_runs_read_the_general_way_agree(tmp_path, monkeypatch, compress):
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 1500)  # runs of a dozen lines
    body, _ = _mixed_file_body()
    path = tmp_path / ("mixed.jsonl.gz" if compress else "mixed.jsonl")
    path.write_bytes(gzip.compress(body) if compress else body)
    taken: list[bool] = []
    prepare = bulk._prepare

    def spy(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        taken.append(prepared is not None)
        return prepared

    monkeypatch.setattr(bulk, "_prepare", spy)
    got = read_logs(path)
    assert True in taken and False in taken  # both paths ran
    whole = read_logs(body)  # bytes: the general path only
    pd.testing.assert_frame_equal(got.frame, whole.frame)
    assert got.rejects == whole.rejects and got.duplicates == whole.duplicates == 1
    assert [reject.position for reject in got.rejects] == [13, 46, 63, 73]  # 3 more lines before index 50
    assert_same_as_per_record(body)


def test_file_runs_forced_the_general_way_give_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 1500)
    body, _ = _mixed_file_body()
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(body)
    fast = read_logs(path)
    monkeypatch.setattr(bulk, "_prepare", lambda *args, **kwargs: None)  # no run is ordinary
    forced = read_logs(path)
    pd.testing.assert_frame_equal(forced.frame, fast.frame)
    assert forced.rejects == fast.rejects and forced.duplicates == fast.duplicates


def test_file_run_with_invalid_utf8_in_a_skipped_field_goes_the_general_way(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 1500)
    good = [stream_record(f"id{i}") for i in range(30)]
    bad = b'{"log_id": "b", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "details": "\xff"}}\n'
    body = lines(*good[:15]) + bad + lines(*good[15:])
    path = tmp_path / "utf8.jsonl"
    path.write_bytes(body)
    got = read_logs(path)
    assert got.frame["event_id"].tolist() == [f"id{i}" for i in range(30)]
    (reject,) = got.rejects
    assert reject.position == 16 and reject.reason.startswith("record 16: not valid UTF-8 text")
    whole = read_logs(body)
    pd.testing.assert_frame_equal(got.frame, whole.frame)
    assert got.rejects == whole.rejects


def test_file_errors_in_the_read_ahead_reach_the_caller(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 1500)
    body, _ = _mixed_file_body()
    packed = gzip.compress(body)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) // 2])  # a gzip stream ending half way
    with pytest.raises(bulk.LogInputError, match="cannot be decompressed"):
        read_logs(cut)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(body)
    with pytest.raises(ParseError, match="record 13: not valid JSON"):
        read_logs(path, strict=True)


# --- the DuckDB engine: where its JSON reader is more lenient than orjson, lines go per record -----

LENIENT_LINES = [
    '{"log_id": "n1", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "x": NaN}}',
    '{"log_id": "n2", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "x": -Infinity}}',
    '{"log_id": "n3", "data": {"date": "2024-05-01T00:00:00Z", "type": "s",}}',
    '{"log_id": "n4", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "x": [1,]}}',
    '{"log_id": "n5", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "Type": "f", "IP": 5}}',
    '{"log_id": "n6", "data": {"date": "2024-05-01T00:00:00Z", "type": ["s"], "is_mobile": "yes"}}',
    '{"log_id": "n7", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "location_info": "Paris"}}',
    '{"log_id": "n8", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "location_info": {"latitude": true}}}',
    '{"log_id": "n9", "data": "not an object", "date": "2024-05-01T00:00:00Z", "type": "s"}',
    '{"log_id": "n10", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "user_id": 42, "description": "a\\"b"}}',
    '{"a": 1} {"b": 2}',
    '{"log_id": "n12", "data": {"date": "2024-05-01T00:00:00Z", "type": "s", "x": [1,\t ]} , }',
]


@pytest.mark.parametrize("engine", bulk.ENGINES)
def test_lenient_json_and_odd_types_agree_with_the_per_record_parser(tmp_path, monkeypatch, engine):
    monkeypatch.setattr(bulk, "_Misaligned", type("Never", (Exception,), {}))  # no silent fallback here
    body = "\ufeff" + "\n".join(
        LENIENT_LINES + [json.dumps(stream_record("ok")), "\ufeff" + json.dumps(stream_record("bom"))]
    )
    body = (body + "\n").encode()
    path = tmp_path / "lenient.jsonl"
    path.write_bytes(body)
    got = read_logs(path, engine=engine)
    expected = parse_body(body)
    pd.testing.assert_frame_equal(got.frame.drop(columns="raw"), events_to_frame(expected.events).drop(columns="raw"))
    assert [(r.position, r.reason) for r in got.rejects] == [(r.position, r.reason) for r in expected.rejects]
    assert {r.position for r in got.rejects} >= {1, 2, 3, 4, 12, 14}  # BOM, NaN, Infinity, trailing commas: not JSON


def test_lines_duckdb_splits_otherwise_are_read_again_with_pyarrow(tmp_path):
    # A form feed alone is a blank line to us and a malformed row to DuckDB: rows and lines do
    # not pair up, so the file is read again the other way, with nothing lost or doubled.
    body = (json.dumps(stream_record("a")) + "\n\x0c\nnot json\n" + json.dumps(stream_record("b")) + "\n").encode()
    path = tmp_path / "ff.jsonl"
    path.write_bytes(body)
    got = read_logs(path, engine="duckdb")
    assert got.frame["event_id"].tolist() == ["a", "b"] and [r.position for r in got.rejects] == [3]
    assert got.rejects == read_logs(path).rejects


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown engine"):
        read_logs(b"", engine="polars")
