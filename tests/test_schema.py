import pandas as pd

from authviz.auth0.schema import CATEGORIES, COLUMNS, conform, empty_frame


def test_empty_frame_has_schema_dtypes():
    frame = empty_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert list(frame["category"].cat.categories) == list(CATEGORIES)


def test_conform_adds_missing_and_drops_extra_columns():
    frame = pd.DataFrame({"event_id": ["a"], "timestamp": ["2024-01-01T00:00:00+02:00"], "junk": [1]})
    out = conform(frame)
    assert list(out.columns) == list(COLUMNS)
    assert out.loc[0, "timestamp"] == pd.Timestamp("2023-12-31T22:00:00Z")
    assert pd.isna(out.loc[0, "email"])
