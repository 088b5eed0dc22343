"""Country views drawn as plain HTML and SVG: stacked bars and a world map, no JavaScript.

Used by the dashboard (served by Voila), where a page must draw from its first update and stay light:
each view is ONE ``HTML`` widget re-rendered per refresh, like the feed. The map's country shapes
come from the packaged world topology (``assets/topojson/world_110m.json``, see PROVENANCE.md
there), decoded once into SVG paths (equirectangular projection); colours follow a logarithmic scale
so small countries stay visible, and each country's count is in its tooltip.

:func:`country_paths`, :func:`bars_html` and :func:`map_html` are pure (data in, markup out); every
name that reaches the markup is escaped.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import ipywidgets as W

from authviz.widgets.html import esc, style_block
from authviz.widgets.records import CATEGORY_LABELS, to_record
from authviz.widgets.topojson import topojson_path

#: What the bars stack, in order, and their colours (the rest of the traffic stays out of the way).
STACKS: tuple[str, ...] = ("login_success", "signup", "login_failure")
COLOURS = {"login_success": "#2e7d32", "signup": "#1565c0", "login_failure": "#c62828"}
#: Latitudes drawn (Antarctica left out).
LAT_TOP, LAT_BOTTOM = 84.0, -58.0


def _decode_arcs(topo: Mapping[str, Any]) -> list[list[tuple[float, float]]]:
    scale_x, scale_y = topo["transform"]["scale"]
    shift_x, shift_y = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * scale_x + shift_x, y * scale_y + shift_y))
        arcs.append(points)
    return arcs


def _ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def _project(lon: float, lat: float) -> tuple[float, float]:
    return lon + 180.0, LAT_TOP - max(LAT_BOTTOM, min(LAT_TOP, lat))


@lru_cache(maxsize=1)
def country_paths() -> dict[str, str]:
    """ISO-3 code -> SVG path data (viewBox ``0 0 360 142``), decoded once from the topology."""
    topo = json.loads(topojson_path().read_text())
    arcs = _decode_arcs(topo)
    paths: dict[str, str] = {}
    for geometry in topo["objects"]["countries"]["geometries"]:
        code = geometry.get("id")
        if not code or code == "ATA" or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        parts = []
        for polygon in polygons:
            for ring in polygon:
                points = [_project(lon, lat) for lon, lat in _ring(arcs, ring)]
                if len(points) < 3:
                    continue
                # a ring crossing the antimeridian jumps across the map: start a new subpath there
                path, last_x = [], None
                for x, y in points:
                    move = last_x is None or abs(x - last_x) > 180
                    path.append(f"{'M' if move else 'L'}{x:.1f},{y:.1f}")
                    last_x = x
                parts.append("".join(path) + "Z")
        if parts:
            paths[str(code)] = paths.get(str(code), "") + "".join(parts)
    return paths


def log_share(count: int, top: int) -> float:
    """0..1 on a logarithmic scale: 1 event -> a visible 0.15, the largest count -> 1."""
    if count <= 0:
        return 0.0
    if top <= 1:
        return 1.0
    return 0.15 + 0.85 * math.log10(count) / math.log10(top)


def _blue(share: float) -> str:
    # from a light to a deep blue; 0 is the land's grey
    if share <= 0:
        return "#e8e8e8"
    low, high = (198, 219, 239), (8, 48, 107)
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(low, high))
    return f"#{r:02x}{g:02x}{b:02x}"


def map_html(
    totals: Mapping[str, tuple[str, int]], *, title: str = "Log-ins, sign-ups and failed log-ins on the map"
) -> str:
    """An SVG world map; ``totals`` maps ISO-3 codes to (country name, count)."""
    top = max((n for _name, n in totals.values()), default=0)
    shapes = []
    for code, path in country_paths().items():
        name, n = totals.get(code, ("", 0))
        tip = f"{name}: {n:,} events" if n else ""
        shapes.append(
            f'<path class="av-country-shape" data-iso3="{esc(code)}" data-count="{n}" d="{path}" '
            f'fill="{_blue(log_share(n, top))}">' + (f"<title>{esc(tip)}</title>" if tip else "") + "</path>"
        )
    legend = ""
    if top:
        decades = [10**d for d in range(0, int(math.log10(top)) + 1)]
        legend = " ".join(
            f'<span class="av-key" style="background:{_blue(log_share(v, top))}"></span>{v:,}' for v in decades
        )
    return (
        f'<div class="authviz authviz-map">{style_block()}<div class="av-chart-title">{esc(title)} '
        f'<span class="av-detail">(log scale: {legend or "no events yet"})</span></div>'
        f'<svg viewBox="0 0 360 142" width="100%" style="max-width:900px" preserveAspectRatio="xMidYMid meet" '
        f'stroke="#ffffff" stroke-width="0.25">{"".join(shapes)}</svg></div>'
    )


def bars_html(
    rows: list[tuple[str, Mapping[str, int]]],
    *,
    stacks: tuple[str, ...] = STACKS,
    title: str = "Log-ins, sign-ups and failed log-ins by country",
) -> str:
    """Horizontal stacked bars, one per (country, counts by stack), longest first as given."""
    top = max((sum(c.get(s, 0) for s in stacks) for _n, c in rows), default=0)
    legend = " ".join(
        f'<span class="av-key" style="background:{COLOURS.get(s, "#9e9e9e")}"></span>{esc(CATEGORY_LABELS.get(s, s))}'
        for s in stacks
    )
    lines = []
    for name, counts in rows:
        total = sum(counts.get(s, 0) for s in stacks)
        segments = "".join(
            f'<span class="av-seg av-seg-{esc(s)}" title="{esc(CATEGORY_LABELS.get(s, s))}: {counts.get(s, 0):,}" '
            f'style="width:{100.0 * counts.get(s, 0) / top:.2f}%;background:{COLOURS.get(s, "#9e9e9e")}"></span>'
            for s in stacks
            if counts.get(s, 0) and top
        )
        lines.append(
            f'<div class="av-bar-row"><span class="av-bar-name" title="{esc(name)}">{esc(name)}</span>'
            f'<span class="av-bar-track">{segments}</span><span class="av-bar-total">{total:,}</span></div>'
        )
    body = "".join(lines) or '<div class="av-empty">Waiting for log-ins…</div>'
    return (
        f'<div class="authviz authviz-bars">{style_block()}<div class="av-chart-title">{esc(title)}</div>'
        f'<div class="av-legend">{legend}</div>{body}</div>'
    )


class CountryBoard(W.VBox):
    """Live bars (top ``top_n`` countries) and a world map, as two ``HTML`` widgets.

    Counts only the ``stacks`` categories; redraws the bars at most every ``bar_interval`` seconds
    and the map every ``map_interval`` (the heavier message: ~100 KB of SVG).
    """

    topics = frozenset({"auth"})
    #: a session puts its status line first (the bars carry their own title)
    status_index = 0

    def __repr__(self) -> str:
        return "(the live bars and map of log-ins by country appear here when the cell runs)"

    def __init__(
        self, *, top_n: int = 10, stacks: tuple[str, ...] = STACKS, bar_interval: float = 0.5, map_interval: float = 2.0
    ) -> None:
        if top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {top_n}")
        self.top_n = top_n
        self.stacks = tuple(stacks)
        self.bar_interval = bar_interval
        self.map_interval = map_interval
        self._lock = threading.RLock()
        self.by_country: dict[str, Counter[str]] = defaultdict(Counter)
        self.iso3: dict[str, str] = {}
        #: events consumed, and those not drawn (other categories, or no country)
        self.total = 0
        self.ignored = 0
        self._bars_dirty = self._map_dirty = False
        self._bars_last = self._map_last = float("-inf")
        self.bars = W.HTML(value=bars_html([], stacks=self.stacks), layout=W.Layout(width="100%"))
        self.map = W.HTML(value=map_html({}), layout=W.Layout(width="100%"))
        super().__init__([self.bars, self.map])

    def consume(self, items: Iterable[Any]) -> None:
        with self._lock:
            for item in items:
                record = to_record(item)
                self.total += 1
                if record.category not in self.stacks or not record.country_name:
                    self.ignored += 1
                    continue
                self.by_country[record.country_name][record.category] += 1
                if record.country_iso3:
                    self.iso3[record.country_name] = record.country_iso3
            self._bars_dirty = self._map_dirty = True

    def top(self) -> list[tuple[str, int]]:
        with self._lock:
            totals = [(name, sum(c.values())) for name, c in self.by_country.items()]
        totals.sort(key=lambda t: (-t[1], t[0]))
        return totals[: self.top_n]

    def mapped(self) -> dict[str, tuple[str, int]]:
        """ISO-3 code -> (country name, count) of the countries coloured on the map."""
        with self._lock:
            return {self.iso3[n]: (n, sum(c.values())) for n, c in self.by_country.items() if n in self.iso3}

    def refresh(self, now: float) -> bool:
        sent = False
        with self._lock:
            if self._bars_dirty and now - self._bars_last >= self.bar_interval:
                rows = [(name, self.by_country[name]) for name, _ in self.top()]
                self.bars.value = bars_html(rows, stacks=self.stacks)
                self._bars_dirty, sent = False, True
                self._bars_last = now if now != float("inf") else self._bars_last
            if self._map_dirty and now - self._map_last >= self.map_interval:
                self.map.value = map_html(self.mapped())
                self._map_dirty, sent = False, True
                self._map_last = now if now != float("inf") else self._map_last
        return sent
