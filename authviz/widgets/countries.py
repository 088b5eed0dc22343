"""``CountryChart``: where log-ins come from, as a live stacked bar chart and a choropleth map.

The bars are log-ins, sign-ups and failed log-ins (``stacks``); every other kind of event stays out
of the way (counted in :attr:`CountryChart.ignored`, not drawn). The map colours countries on a
logarithmic scale, so a country with 3 log-ins is visible beside one with 3,000; hovering shows the
count.

Both are plotly ``FigureWidget``s updated inside ``fig.batch_update()`` (one update message per
figure per refresh; plotly has no append API, so each refresh resends the top-N arrays only). The
map's topology comes from the Jupyter server (see :mod:`authviz.widgets.topojson`), so countries draw
with no internet access.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from authviz.widgets.html import esc
from authviz.widgets.records import CATEGORY_LABELS, to_record
from authviz.widgets.topojson import topojson_url

#: Default stacks of the bar chart; other categories are not drawn (add ``"other"`` to stack them).
DEFAULT_STACKS: tuple[str, ...] = ("login_success", "signup", "login_failure")
STACK_COLOURS = {"login_success": "#2e7d32", "signup": "#1565c0", "login_failure": "#c62828", "other": "#9e9e9e"}


def _stack_title(stacks: tuple[str, ...]) -> str:
    names = {"login_success": "Log-ins", "signup": "sign-ups", "login_failure": "failed log-ins"}
    words = [names.get(s, CATEGORY_LABELS.get(s, "other events")) for s in stacks]
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return text[:1].upper() + text[1:]


def log_scale(totals: list[int]) -> tuple[float, list[float], list[str]]:
    """``(zmax, tickvals, ticktext)`` of a log10 colour scale for counts ``totals`` (each >= 1):
    ticks at 1, 10, 100... up to the largest, labelled with the counts."""
    top = max(totals, default=1)
    zmax = max(1.0, math.log10(top))
    decades = range(0, int(math.floor(zmax)) + 1)
    return zmax, [float(d) for d in decades], [f"{10**d:,}" for d in decades]


class CountryChart(W.VBox):
    """Events by country: top ``top_n`` countries stacked by category, and a world map of totals.

    ``bar_interval`` / ``map_interval`` are the least seconds between two redraws of each figure
    (the map redraws less often: it is the heavier update for the browser).
    """

    topics = frozenset({"auth"})

    def __repr__(self) -> str:
        # what a saved notebook shows where the widget will be (widget state is never saved)
        return "(the live chart of log-ins by country and the world map appear here when the cell runs)"

    def __init__(
        self,
        *,
        top_n: int = 15,
        stacks: tuple[str, ...] = DEFAULT_STACKS,
        show_map: bool = True,
        bar_interval: float = 0.5,
        map_interval: float = 1.0,
        height: int = 360,
        settle: float = 2.0,
    ) -> None:
        if top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {top_n}")
        unknown = [s for s in stacks if s not in CATEGORY_LABELS and s != "other"]
        if unknown:
            raise ValueError(f"unknown categories in stacks: {unknown}; choose from {list(CATEGORY_LABELS)}")
        self.top_n = top_n
        if not stacks:
            raise ValueError("stacks must name at least one category")
        self.stacks = tuple(stacks)
        self._stack_set = frozenset(self.stacks)
        self.bar_interval = bar_interval
        self.map_interval = map_interval
        self._lock = threading.RLock()
        # country display name -> stack -> count; iso3 per name for the map
        self.by_country: dict[str, Counter[str]] = defaultdict(Counter)
        self.iso3: dict[str, str] = {}
        self.total = 0
        self.unknown_country = 0
        #: events of categories not in ``stacks`` (not drawn)
        self.ignored = 0
        self._bar_dirty = self._map_dirty = False
        self._bar_last = self._map_last = float("-inf")
        #: seconds after a redraw when the figures' final state is sent once more (see refresh)
        self.settle = settle
        self._bar_settle: float | None = None
        self._map_settle: float | None = None

        self.bar = go.FigureWidget(
            data=[
                go.Bar(name=CATEGORY_LABELS.get(s, "Other"), x=[], y=[], marker_color=STACK_COLOURS.get(s, "#6a1b9a"))
                for s in self.stacks
            ],
            layout=go.Layout(
                barmode="stack",
                height=height,
                title=f"{_stack_title(self.stacks)} by country (top {top_n})",
                margin=dict(l=40, r=10, t=60, b=80),
                legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"),
                xaxis=dict(title=None),
                yaxis=dict(title="events", rangemode="tozero"),
            ),
        )
        self.map = None
        children: list[W.Widget] = [self.bar]
        if show_map:
            self.map = go.FigureWidget(
                data=[
                    go.Choropleth(
                        locations=[],
                        z=[],
                        text=[],
                        locationmode="ISO-3",
                        colorscale="Blues",
                        zmin=0,
                        zmax=1,
                        hovertemplate="%{text}<extra></extra>",
                        colorbar=dict(title="events", tickvals=[0], ticktext=["1"]),
                        marker_line_color="#ffffff",
                    )
                ],
                layout=go.Layout(
                    height=height,
                    title=f"{_stack_title(self.stacks)} on the map (log scale)",
                    margin=dict(l=0, r=0, t=40, b=0),
                    geo=dict(
                        showframe=False,
                        showcoastlines=True,
                        showcountries=True,
                        resolution=110,
                        projection=dict(type="natural earth", rotation=dict(lon=0)),
                        center=dict(lon=0, lat=15),
                        lonaxis=dict(range=[-180, 180]),
                    ),
                ),
            )
            self.map._config = {**self.map._config, "topojsonURL": topojson_url()}
            children.append(self.map)
        super().__init__(children)

    # -- pump interface ---------------------------------------------------------------------
    def consume(self, items: Iterable[Any]) -> None:
        with self._lock:
            for item in items:
                record = to_record(item)
                self.total += 1
                if not record.country_name:
                    self.unknown_country += 1
                    continue
                if record.category in self._stack_set:
                    stack = record.category
                elif "other" in self._stack_set:
                    stack = "other"
                else:
                    self.ignored += 1
                    continue
                self.by_country[record.country_name][stack] += 1
                if record.country_iso3:
                    self.iso3[record.country_name] = record.country_iso3
            self._bar_dirty = self._map_dirty = True

    def top(self) -> list[tuple[str, int]]:
        """The ``top_n`` countries with their totals, largest first (ties by name)."""
        with self._lock:
            totals = [(name, sum(c.values())) for name, c in self.by_country.items()]
        totals.sort(key=lambda t: (-t[1], t[0]))
        return totals[: self.top_n]

    def refresh(self, now: float) -> bool:
        sent = False
        with self._lock:
            # Updates that reach the browser while anywidget is still loading plotly's module are
            # lost (the model has no listener yet), and plotly skips assignments of equal values:
            # so once the data goes quiet, clear and redraw each figure once (``settle`` s later).
            bar_resend = map_resend = False
            if not self._bar_dirty and self._bar_settle is not None and now >= self._bar_settle:
                self._bar_dirty, self._bar_settle, bar_resend = True, None, True
                self._bar_last = float("-inf")
            if (
                self.map is not None
                and not self._map_dirty
                and self._map_settle is not None
                and now >= self._map_settle
            ):
                self._map_dirty, self._map_settle, map_resend = True, None, True
                self._map_last = float("-inf")
            settling = now != float("inf")
            if self._bar_dirty and now - self._bar_last >= self.bar_interval:
                names = [name for name, _ in self.top()]
                if bar_resend:
                    with self.bar.batch_update():
                        for trace in self.bar.data:
                            trace.x, trace.y = [], []
                with self.bar.batch_update():
                    for trace, stack in zip(self.bar.data, self.stacks):
                        trace.x = [esc(n) for n in names]  # plotly reads <b>, <a>...: escape
                        trace.y = [self.by_country[n][stack] for n in names]
                self._bar_dirty = False
                self._bar_last = now
                self._bar_settle = now + self.settle if settling and not bar_resend else None
                sent = True
            if self.map is not None and self._map_dirty and now - self._map_last >= self.map_interval:
                named = sorted((n, sum(c.values())) for n, c in self.by_country.items() if n in self.iso3)
                if map_resend:
                    with self.map.batch_update():
                        self.map.data[0].locations, self.map.data[0].z = [], []
                zmax, tickvals, ticktext = log_scale([total for _, total in named])
                with self.map.batch_update():
                    trace = self.map.data[0]
                    trace.locations = [self.iso3[n] for n, _ in named]
                    trace.z = [math.log10(total) for _, total in named]
                    trace.text = [f"{esc(n)}: {total:,} events" for n, total in named]
                    trace.zmin, trace.zmax = 0, zmax
                    trace.colorbar.tickvals, trace.colorbar.ticktext = tickvals, ticktext
                self._map_dirty = False
                self._map_last = now
                self._map_settle = now + self.settle if settling and not map_resend else None
                sent = True
        return sent
