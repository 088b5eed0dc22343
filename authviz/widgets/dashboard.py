"""``Dashboard``: the one-page live view, laid out for a 1366x768 screen (served by Voilà).

    ┌ authviz · status line · [Stop] ─────────────── attack: [scenario ▾] [Launch] ┐
    │ live feed        │ log-ins by country (bars)   │ alerts (evidence, what to do) │
    │                  │ map (log scale)             │ session events                │
    └──────────────────┴─────────────────────────────┴───────────────────────────────┘

Built by :meth:`authviz.widgets.LiveSession.dashboard`; every part is the session's own widget,
driven by its one pump. The attack control posts a scenario of the simulator through the bridge's
real webhook (see :meth:`LiveSession.launch_attack`), so a room can watch a detection fire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as W

from authviz.widgets.html import esc

#: Height of one grid row, in pixels: two rows and the header fit a 1366x768 screen in a browser.
ROW_PX = 330

DASHBOARD_CSS = """
<style>
.authviz-dashboard .authviz ul.av-rows{max-height:none}
.authviz-dashboard .av-cell{overflow:auto;border:1px solid #e0e0e0;border-radius:4px;padding:2px 6px;background:#fff}
.authviz-dashboard .authviz{font-size:12px}
.authviz-dashboard .av-head{font-size:18px;font-weight:600;margin-right:12px}
</style>
"""


class Dashboard(W.VBox):
    """Header (title, status, Stop, attack control) over a 3-column grid of the live widgets."""

    def __repr__(self) -> str:
        return "(the live dashboard appears here when the cell runs)"

    def __init__(
        self,
        *,
        feed: W.Widget,
        bars: W.Widget,
        map_: W.Widget | None,
        alerts: W.Widget,
        session_events: W.Widget,
        status: W.Widget,
        scenarios: Mapping[str, str],
        launch: Callable[[str], str],
        title: str = "authviz live",
    ) -> None:
        self.launch_fn = launch
        self.scenario = W.Dropdown(
            options=[(f"{name}: {text}", name) for name, text in scenarios.items()],
            layout=W.Layout(width="360px"),
            description="Attack",
            style={"description_width": "50px"},
        )
        self.launch_button = W.Button(
            description="Launch",
            icon="bolt",
            button_style="danger",
            tooltip="Post this attack of the simulator through the bridge's webhook",
            layout=W.Layout(width="90px"),
        )
        self.launch_result = W.HTML(value="")
        self.launch_result.add_class("authviz-launch-result")
        self.launch_button.on_click(lambda _b: self.launch(self.scenario.value))
        header = W.HBox(
            [
                W.HTML(f'<span class="av-head">{esc(title)}</span>'),
                status,
                W.HBox(
                    [self.scenario, self.launch_button, self.launch_result],
                    layout=W.Layout(margin="0 0 0 auto", align_items="center"),
                ),
            ],
            layout=W.Layout(align_items="center", width="100%"),
        )

        def cell(widget: W.Widget, area: str) -> W.Box:
            widget.layout.width = "100%"
            box = W.Box([widget], layout=W.Layout(grid_area=area, overflow="auto", height="100%"))
            box.add_class("av-cell")
            return box

        cells = [cell(feed, "feed"), cell(bars, "bars"), cell(alerts, "alerts"), cell(session_events, "session")]
        areas = '"feed bars alerts" "feed bars session"'
        if map_ is not None:
            cells.append(cell(map_, "map"))
            areas = '"feed bars alerts" "feed map session"'
        grid = W.GridBox(
            cells,
            layout=W.Layout(
                grid_template_columns="30% 38% 32%",
                grid_template_rows=f"{ROW_PX}px {ROW_PX}px",
                grid_template_areas=areas,
                grid_gap="6px",
                width="100%",
            ),
        )
        super().__init__([W.HTML(DASHBOARD_CSS), header, grid], layout=W.Layout(width="100%"))
        self.add_class("authviz-dashboard")

    def launch(self, name: str) -> str:
        """Launch scenario ``name``; the outcome (or the error) is shown beside the button."""
        try:
            text = self.launch_fn(name)
        except Exception as exc:  # shown to the person, never a traceback
            text = f"Could not launch {name}: {exc}"
            self.launch_result.value = f'<span class="authviz av-error">{esc(text)}</span>'
            return text
        self.launch_result.value = f'<span class="authviz">{esc(text)}</span>'
        return text
