"""What each widget shows: feed rows, totals and filter; country chart and map; session events;
chat. Every user-controlled string must come out as text, never markup."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from authviz.widgets import ChatWidget, CountryChart, LiveFeed, SessionEvents, topojson_path, topojson_url
from authviz.widgets.countries import log_scale
from authviz.widgets.html import fmt_time, time_html
from authviz.widgets.topojson import URL_ENV
from widgets_support import event, tags, visible_text

NASTY = [
    "<script>alert(1)</script>@evil.example",
    '"><img src=x onerror=alert(1)>',
    "O'Brien & <b>Sons</b>",
    "&lt;already escaped&gt;",
    "\u202eunicode\u00e9\u4e2d",
]


# -- LiveFeed --------------------------------------------------------------------------------
def test_feed_is_newest_first_like_the_tutorial():
    feed = LiveFeed()
    feed.consume(
        [
            event("signup", n=1, email="ann@example.com", country="Germany"),
            event("login_success", n=2, email="bob@example.com", country="France"),
        ]
    )
    feed.refresh(float("inf"))
    text = visible_text(feed.view.value)
    assert text.index("Log In: bob@example.com") < text.index("Sign Up: ann@example.com")
    assert "From France" in text and "From Germany" in text and "10:00:02" in text


def test_failures_and_other_categories_have_their_own_look():
    feed = LiveFeed()
    feed.consume([event("login_failure", n=1), event("blocked", n=2), event("signup", n=3), event("mfa", n=4)])
    feed.refresh(float("inf"))
    html = feed.view.value
    assert 'class="av-row av-fail av-cat-login_failure"' in html
    assert 'class="av-row av-warn av-cat-blocked"' in html
    assert 'class="av-row av-ok av-cat-signup"' in html
    assert 'class="av-row av-info av-cat-mfa"' in html
    assert "Failed Log In:" in visible_text(html) and "Wrong email or password." in visible_text(html)


def test_feed_renders_at_most_max_rows_but_counts_everything():
    feed = LiveFeed(max_rows=50)
    feed.consume([event("login_success", n=i) for i in range(1000)])
    feed.consume([event("signup", n=i) for i in range(10)])
    feed.refresh(float("inf"))
    assert feed.view.value.count('<li class="av-row') == 50
    assert feed.total == 1010 and feed.counts == {"login_success": 1000, "signup": 10}
    assert "1,010 events" in visible_text(feed.view.value)


def test_category_filter_shows_only_that_category_and_fills_from_its_own_history():
    feed = LiveFeed(max_rows=20)
    feed.consume([event("login_failure", n=i) for i in range(5)])
    feed.consume([event("login_success", n=100 + i) for i in range(500)])  # pushes failures out of "all"
    feed.refresh(float("inf"))
    assert "av-cat-login_failure" not in feed.view.value  # newest 20 are all log-ins
    feed.filter.value = "Failures"  # the observer re-renders at once
    html = feed.view.value
    assert html.count('<li class="av-row') == 5 and "av-cat-login_success" not in html
    feed.filter.value = "All events"
    assert feed.view.value.count('<li class="av-row') == 20


@pytest.mark.parametrize("nasty", NASTY)
def test_feed_escapes_every_user_controlled_string(nasty):
    feed = LiveFeed()
    feed.consume([event("login_failure", email=nasty, country=nasty, description=nasty)])
    feed.refresh(float("inf"))
    html = feed.view.value
    assert set(tags(html)) <= {"div", "style", "b", "ul", "li", "span"}
    assert nasty in visible_text(html)  # shown as text, exactly


def test_unknown_category_and_missing_fields_still_show():
    feed = LiveFeed()
    feed.consume([{"category": "not-a-category"}, {}])
    feed.refresh(float("inf"))
    assert feed.counts == {"other": 2}
    assert visible_text(feed.view.value).count("Other: unknown user") == 2


def test_feed_sends_nothing_when_nothing_changed():
    feed = LiveFeed()
    feed.refresh(float("inf"))
    assert feed.refresh(float("inf")) is False
    feed.consume([event()])
    assert feed.refresh(float("inf")) is True


# -- CountryChart ----------------------------------------------------------------------------
def test_country_chart_top_n_stacked_by_category():
    chart = CountryChart(top_n=2)
    chart.consume(
        [event("login_success", country="France", iso3="FRA")] * 3
        + [event("signup", country="France", iso3="FRA")]
        + [event("login_failure", country="Brazil", iso3="BRA")] * 2
        + [event("logout", country="Brazil", iso3="BRA")] * 3
        + [event("login_success", country="Chile", iso3="CHL")]
    )
    chart.refresh(float("inf"))
    by_name = {trace.name: dict(zip(trace.x, trace.y)) for trace in chart.bar.data}
    # log-ins, sign-ups and failures only: Brazil's three log-outs are out of the way
    assert list(chart.bar.data[0].x) == ["France", "Brazil"]
    assert chart.top() == [("France", 4), ("Brazil", 2)]
    assert set(by_name) == {"Log In", "Sign Up", "Failed Log In"}
    assert by_name["Log In"] == {"Brazil": 0, "France": 3}
    assert by_name["Sign Up"] == {"Brazil": 0, "France": 1}
    assert by_name["Failed Log In"] == {"Brazil": 2, "France": 0}
    assert chart.ignored == 3
    assert chart.bar.layout.title.text == "Log-ins, sign-ups and failed log-ins by country (top 2)"
    world = chart.map.data[0]
    # a logarithmic colour scale (small countries stay visible), the counts in the hover text
    assert {loc: round(10**z) for loc, z in zip(world.locations, world.z)} == {"BRA": 2, "CHL": 1, "FRA": 4}
    assert list(world.text) == ["Brazil: 2 events", "Chile: 1 events", "France: 4 events"]
    assert world.locationmode == "ISO-3"


def test_map_log_scale_ticks_read_as_counts():
    assert log_scale([1, 5, 2_500]) == (math.log10(2_500), [0.0, 1.0, 2.0, 3.0], ["1", "10", "100", "1,000"])
    assert log_scale([]) == (1.0, [0.0, 1.0], ["1", "10"])


def test_country_chart_can_stack_the_other_events_when_asked():
    chart = CountryChart(stacks=("login_success", "other"))
    chart.consume([event("logout", country="Brazil", iso3="BRA"), event("login_success", country="Brazil", iso3="BRA")])
    chart.refresh(float("inf"))
    assert [(t.name, list(t.y)) for t in chart.bar.data] == [("Log In", [1]), ("Other", [1])]


def test_country_chart_escapes_names_for_plotly_and_counts_unknown():
    chart = CountryChart()
    chart.consume(
        [event("login_success", country="<b>Atlantis</b>", iso3=""), event("login_success", country="", iso3="")]
    )
    chart.refresh(float("inf"))
    assert list(chart.bar.data[0].x) == ["&lt;b&gt;Atlantis&lt;/b&gt;"]
    assert chart.unknown_country == 1 and list(chart.map.data[0].locations) == []


def test_map_points_plotly_at_the_local_topology(monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    assert topojson_url() == "/user/ann/authviz/static/topojson/"
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9/topo")
    chart = CountryChart()
    assert chart.map._config["topojsonURL"] == "http://127.0.0.1:9/topo/"


def test_packaged_topology_is_the_documented_file_with_countries_by_iso3():
    path = topojson_path()
    provenance = (path.parent / "PROVENANCE.md").read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in provenance
    topo = json.loads(path.read_text())
    assert topo["type"] == "Topology"
    ids = {g.get("id") for g in topo["objects"]["countries"]["geometries"]}
    assert {"FRA", "BRA", "USA", "JPN", "AUS"} <= ids
    assert {"land", "ocean", "coastlines"} <= set(topo["objects"])


def test_chart_parameters_are_checked():
    with pytest.raises(ValueError, match="top_n"):
        CountryChart(top_n=0)
    with pytest.raises(ValueError, match="unknown categories"):
        CountryChart(stacks=("logins",))


# -- SessionEvents ---------------------------------------------------------------------------
def test_session_events_keep_only_logouts_password_changes_and_blocks():
    view = SessionEvents()
    view.consume(
        [
            event("login_success", n=1),
            event("logout", n=2, email="ann@example.com"),
            event("password_change", n=3),
            event("blocked", n=4, email=NASTY[0]),
            event("signup", n=5),
        ]
    )
    view.refresh(float("inf"))
    text = visible_text(view.view.value)
    assert view.counts == {"logout": 1, "password_change": 1, "blocked": 1}
    assert text.index("Blocked: " + NASTY[0]) < text.index("Log Out: ann@example.com")
    assert "Log In:" not in text and "<script>" not in view.view.value


# -- ChatWidget ------------------------------------------------------------------------------
class FakeBackend:
    def __init__(self, history=(), fail_send=None, fail_history=None):
        self._history = list(history)
        self.fail_send = fail_send
        self.fail_history = fail_history
        self.sent: list[str] = []

    def history(self):
        if self.fail_history:
            raise self.fail_history
        return self._history

    def send(self, text):
        if self.fail_send:
            raise self.fail_send
        self.sent.append(text)
        return {"id": 100 + len(self.sent), "author": "me", "text": text, "created_at": "2026-03-01T10:00:00Z"}


def test_chat_loads_history_on_open_and_dedupes_live_messages():
    history = [{"id": 1, "author": "ann", "text": "hello", "created_at": "2026-03-01T09:00:00Z"}]
    chat = ChatWidget(FakeBackend(history))
    chat.consume([history[0], {"id": 2, "author": "bob", "text": "hi ann", "created_at": "2026-03-01T09:01:00Z"}])
    chat.refresh(float("inf"))
    text = visible_text(chat.view.value)
    assert text.count("hello") == 1 and text.index("hello") < text.index("hi ann")
    when = fmt_time(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))  # date, time and zone of this machine
    assert ("ann" + when).replace(" ", "") in text.replace(" ", "")


def test_chat_send_clears_the_input_and_errors_show_inside_the_widget():
    backend = FakeBackend()
    chat = ChatWidget(backend)
    chat.input.value = "first"  # Enter in the browser sets value (continuous_update=False)
    assert backend.sent == ["first"] and chat.input.value == ""
    assert "first" in visible_text(chat.view.value)
    backend.fail_send = RuntimeError("the bridge answered 403: not signed in")
    chat.input.value = "second"
    assert "Your message was not sent: the bridge answered 403: not signed in" in visible_text(chat.view.value)
    assert chat.input.value == "second"  # kept so the person can retry
    backend.fail_send = None
    chat.send_button.click()
    assert backend.sent == ["first", "second"] and "not sent" not in visible_text(chat.view.value)


def test_chat_history_failure_is_shown_not_raised():
    chat = ChatWidget(FakeBackend(fail_history=ConnectionError("connection refused")))
    assert "Could not load the chat history: connection refused" in visible_text(chat.view.value)


@pytest.mark.parametrize("nasty", NASTY)
def test_chat_escapes_authors_texts_and_members(nasty):
    chat = ChatWidget()
    chat.consume([{"id": 1, "author": nasty, "text": nasty}, {"members": [nasty, "bob"]}])
    chat.refresh(float("inf"))
    html = chat.view.value
    assert set(tags(html)) <= {"div", "style", "ul", "li", "span", "br"}
    assert visible_text(html).count(nasty) == 3
    assert "Online (2)" in visible_text(html)


def test_chat_orders_messages_by_time_whatever_the_arrival_order():
    chat = ChatWidget(max_messages=2)
    chat.consume(
        [
            {"id": 3, "author": "c", "text": "third", "created_at": "2026-03-01T10:00:03Z"},
            {"id": 1, "author": "a", "text": "first", "created_at": "2026-03-01T10:00:01Z"},
            {"id": 2, "author": "b", "text": "second", "created_at": "2026-03-01T10:00:02Z"},
        ]
    )
    assert [text for _, text, _ in chat.messages.values()] == ["second", "third"]


def test_charts_resend_their_final_state_once_after_the_data_goes_quiet():
    from authviz.widgets.commcount import counting_comms

    with counting_comms() as comms:
        chart = CountryChart(settle=2.0)
        chart.consume([event(country="France", iso3="FRA")])
        comms.reset()
        assert chart.refresh(100.0) is True  # bars and map drawn
        drawn = comms.messages
        assert chart.refresh(101.0) is False  # quiet, not yet due
        assert chart.refresh(102.5) is True  # the one settle resend: clear, then redraw
        assert comms.messages == 3 * drawn
        assert dict(zip(chart.map.data[0].locations, chart.map.data[0].text)) == {"FRA": "France: 1 events"}
        assert list(chart.bar.data[0].x) == ["France"]
        assert chart.refresh(105.0) is False and chart.refresh(200.0) is False  # and only one


# -- honest time, simulated rows, chat of two people, placeholders -----------------------------
def test_times_carry_date_and_zone_and_the_full_time_on_hover():
    t = datetime(2026, 12, 3, 14, 5, 11, 250000, tzinfo=timezone.utc)
    assert fmt_time(t, timezone.utc) == "2026-12-03 14:05:11 UTC"
    assert fmt_time(t, timezone(timedelta(hours=1), "CET")) == "2026-12-03 15:05:11 CET"
    html = time_html(t, tz=timezone.utc)
    assert 'title="2026-12-03T14:05:11.250+00:00"' in html and "simulated" not in html
    assert "simulated" in time_html(t, simulated=True, tz=timezone.utc)
    assert fmt_time(None) == "" and time_html(None) == ""


def test_simulated_rows_are_marked_and_real_ones_are_not():
    from authviz.simulator import TrafficGenerator

    assert TrafficGenerator().tenant == "acme-prod"  # the tenant the widgets call simulated
    feed = LiveFeed()
    feed.consume([event(n=1, tenant="acme-prod"), event(n=2, email="real@example.com", tenant="my-tenant")])
    feed.refresh(float("inf"))
    rows = feed.visible_rows()
    assert "real@example.com" in rows[0] and "av-sim" not in rows[0]
    assert "av-sim" in rows[1]


def test_own_chat_messages_are_drawn_apart_from_the_others():
    backend = FakeBackend(
        [{"id": 1, "author": "Bob", "user_id": "dev|bob", "text": "hi", "created_at": "2026-03-01T09:00:00Z"}]
    )
    backend.send = lambda text: {
        "id": 2,
        "author": "Alice",
        "user_id": "dev|alice",
        "text": text,
        "created_at": "2026-03-01T09:01:00Z",
    }
    chat = ChatWidget(backend)
    assert chat.me is None
    assert chat.send("hello")
    assert chat.me == "dev|alice"  # learnt from the bridge's answer
    html = chat.view.value
    rows = html.split("<li ")[1:]
    assert [("av-mine" in row, ">hello<" in row) for row in rows] == [(False, False), (True, True)]
    other = ChatWidget(backend, me="dev|bob")
    assert "av-mine" in other.view.value and "(you)" in visible_text(other.view.value)


@pytest.mark.parametrize("make", [LiveFeed, CountryChart, SessionEvents, ChatWidget])
def test_a_saved_notebook_shows_a_placeholder_not_a_repr(make):
    widget = make()
    text = widget._repr_mimebundle_()["text/plain"]
    assert text.startswith("(") and "when the cell runs" in text
    assert "children" not in text and "HTML(" not in text


# -- the dashboard's HTML/SVG country views, the alerts panel ------------------------------------
def test_country_board_draws_bars_and_a_log_scale_map_without_javascript():
    from authviz.widgets.worldmap import CountryBoard, country_paths, log_share

    board = CountryBoard(top_n=2)
    board.consume(
        [event("login_success", country="France", iso3="FRA")] * 100
        + [event("signup", country="<b>Brazil</b>", iso3="BRA")] * 1
        + [event("logout", country="Chile", iso3="CHL")] * 50
    )
    board.refresh(float("inf"))
    assert board.top() == [("France", 100), ("<b>Brazil</b>", 1)] and board.ignored == 50
    assert "&lt;b&gt;Brazil&lt;/b&gt;" in board.bars.value and "<b>Brazil" not in board.bars.value
    assert "<script" not in board.bars.value + board.map.value
    assert len(country_paths()) > 150 and "ATA" not in country_paths()
    assert 'data-iso3="FRA" data-count="100"' in board.map.value
    assert 'data-iso3="BRA" data-count="1"' in board.map.value and "Chile" not in board.map.value
    # one event is still visibly coloured beside a hundred
    assert log_share(1, 100) == pytest.approx(0.15) and log_share(100, 100) == 1.0 and log_share(0, 100) == 0
    assert board.refresh(1.0) is False  # nothing new


def test_alerts_panel_shows_evidence_and_what_to_do_and_updates_in_place():
    from authviz.widgets.alerts import AlertsPanel

    class Alert:
        def __init__(self, count, update=False):
            self.detection, self.severity, self.key = "credential_stuffing", "high", "203.0.113.7"
            self.start = datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)
            self.end = datetime(2026, 12, 3, 14, 2, tzinfo=timezone.utc)
            self.count, self.update = count, update
            self.evidence_ids = tuple(f"id{i}<x>" for i in range(count))
            self.summary = f"credential stuffing from 203.0.113.7: {count} users"

    class Detector:
        def __init__(self):
            self.fed = []

        def feed(self, events):
            self.fed.append(list(events))
            return [Alert(14)] if len(self.fed) == 1 else [Alert(28, update=True)]

    detector = Detector()
    panel = AlertsPanel(detector, interval=2.0)
    assert "No alerts" in panel.view.value
    panel.consume([{"event_id": "a"}, {"event_id": "b"}])
    assert panel.refresh(10.0) and detector.fed == [[{"event_id": "a"}, {"event_id": "b"}]]
    text = visible_text(panel.view.value)
    assert "HIGH" in text and "What to do:" in text and "and 9 more" in text and "id0<x>" in text
    panel.consume([{"event_id": "c"}])
    assert panel.refresh(11.0) is False and len(detector.fed) == 1  # at most every 2 s
    assert panel.refresh(12.5) and len(panel.alerts) == 1 and "(updated)" in panel.view.value
    assert "28 events" in visible_text(panel.view.value)
