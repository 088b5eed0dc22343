"""Events as a DataFrame conforming to :mod:`authviz.auth0.schema`, and the bulk reader's result."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from authviz.auth0.model import AuthEvent, Reject
from authviz.auth0.parse import dumps_text
from authviz.auth0.schema import COLUMNS, conform, empty_frame


@dataclass(slots=True)
class LogFrame:
    """The bulk reader's result: the events as a schema DataFrame, the rejects, the duplicates.

    Invariant: every input record is one row of ``frame``, one of ``rejects`` or one of the
    ``duplicates`` counted (same ``event_id`` and same content as a row kept).
    """

    frame: pd.DataFrame = field(default_factory=empty_frame)
    rejects: list[Reject] = field(default_factory=list)
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.frame)


def events_to_frame(events: Iterable[AuthEvent], raw_texts: Sequence[str | None] | None = None) -> pd.DataFrame:
    """A schema-conforming DataFrame of ``events`` (``raw`` as JSON text).

    ``raw_texts``, when given, holds the original text of each event (e.g. its JSON line) to keep
    in ``raw`` instead of re-serialising the parsed object.
    """
    events = list(events)
    if not events:
        return empty_frame()
    columns: dict[str, list[object]] = {name: [] for name in COLUMNS}
    names = [name for name in COLUMNS if name != "raw"]
    for index, event in enumerate(events):
        for name in names:
            columns[name].append(getattr(event, name))
        text = raw_texts[index] if raw_texts is not None else None
        columns["raw"].append(text if text is not None else dumps_text(event.raw))
    columns["timestamp"] = pd.to_datetime(columns["timestamp"], utc=True)
    return conform(pd.DataFrame(columns))
