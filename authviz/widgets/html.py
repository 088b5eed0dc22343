"""Small HTML building blocks shared by the widgets. Every user-controlled value goes through
:func:`esc`; CSS is scoped under one class per widget so notebooks' styles are untouched."""

from __future__ import annotations

import html
from datetime import datetime, tzinfo

#: Colours per tone, readable on the light and dark JupyterLab themes.
TONE_CSS = """
.authviz{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.45}
.authviz .av-totals{margin:2px 0 6px 0;color:var(--jp-ui-font-color1,#222)}
.authviz .av-totals b{font-weight:600}
.authviz ul.av-rows{list-style:none;margin:0;padding:0;max-height:420px;overflow-y:auto}
.authviz li.av-row{padding:3px 6px;margin:1px 0;border-left:4px solid #9e9e9e;background:rgba(158,158,158,.08)}
.authviz li.av-ok{border-left-color:#2e7d32;background:rgba(46,125,50,.08)}
.authviz li.av-fail{border-left-color:#c62828;background:rgba(198,40,40,.10)}
.authviz li.av-warn{border-left-color:#ef6c00;background:rgba(239,108,0,.10)}
.authviz .av-label{font-weight:600}
.authviz .av-time{color:#757575;margin-left:.5em;font-variant-numeric:tabular-nums}
.authviz .av-country{color:#1565c0;margin-left:.5em}
.authviz .av-detail{color:#616161;margin-left:.5em}
.authviz .av-empty{color:#757575;font-style:italic}
.authviz .av-error{color:#c62828;font-weight:600}
.authviz .av-sim{font-size:11px;color:#6a1b9a;border:1px solid #ce93d8;border-radius:3px;padding:0 3px;margin-left:.3em}
.authviz .av-author{font-weight:600}
.authviz li.av-mine{border-left-color:#1565c0;background:rgba(21,101,192,.10);margin-left:15%}
.authviz li.av-mine .av-author{color:#1565c0}
.authviz .av-online{color:#2e7d32}
.authviz .av-chart-title{font-weight:600;margin:2px 0 4px 0}
.authviz .av-legend{margin-bottom:4px;color:#616161}
.authviz .av-key{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px;vertical-align:middle}
.authviz .av-bar-row{display:flex;align-items:center;margin:2px 0}
.authviz .av-bar-name{width:120px;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.authviz .av-bar-track{flex:1;display:flex;height:14px;background:rgba(158,158,158,.12)}
.authviz .av-seg{display:block;height:100%;transition:width .4s}
.authviz .av-bar-total{width:48px;flex:none;text-align:right;font-variant-numeric:tabular-nums}
.authviz .av-todo{color:#1b5e20}
.authviz .av-evidence{color:#616161;font-size:11px;word-break:break-all}
"""


def esc(value: object) -> str:
    """HTML-escape any value (quotes included): the only way text reaches our HTML."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_time(value: datetime | None, tz: tzinfo | None = None) -> str:
    """``2026-12-03 14:05:11 CET``: date, time and zone in ``tz`` (default: this machine's zone,
    the viewer's when the notebook runs on their machine), or ``""``."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or local.strftime("UTC%z"))


def time_html(value: datetime | None, *, simulated: bool = False, tz: tzinfo | None = None) -> str:
    """The time of an event as a span (full ISO time with offset on hover); simulated events say so."""
    if value is None:
        return ""
    iso = value.astimezone(tz).isoformat(timespec="milliseconds")
    mark = ' <span class="av-sim" title="made by the authviz simulator">simulated</span>' if simulated else ""
    return f'<span class="av-time" title="{esc(iso)}">{esc(fmt_time(value, tz))}</span>{mark}'


def style_block() -> str:
    return f"<style>{TONE_CSS}</style>"
