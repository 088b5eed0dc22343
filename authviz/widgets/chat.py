"""``ChatWidget``: the presence-channel chat of the tutorial, with identity checked by the bridge.

History is loaded from the backend when the widget opens; new messages arrive through the pump
(topic ``"chat"``: the ``message-added`` payloads) and who is online through it too (topic
``"presence"``: ``{"members": [names]}`` snapshots). Sending calls the backend (the bridge's
``POST /chat/messages``), whose answer or error is shown inside the widget. Messages are
de-duplicated by id, since history and the live channel overlap.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import ipywidgets as W

from authviz.widgets.html import esc, style_block, time_html
from authviz.widgets.records import parse_timestamp


class ChatBackend(Protocol):
    """Where chat messages are stored and sent (the bridge, or a test double)."""

    def history(self) -> list[Mapping[str, Any]]: ...

    def send(self, text: str) -> Mapping[str, Any] | None: ...


def message_fields(message: Mapping[str, Any]) -> tuple[str, str, str, Any]:
    """``(id, author, text, time)`` of a chat message, whichever common key names it uses."""
    author = message.get("author") or message.get("name") or message.get("user_name") or message.get("user_id") or "?"
    if isinstance(author, Mapping):
        author = author.get("name") or author.get("id") or "?"
    text = message.get("text")
    if text is None:
        text = message.get("message", "")
    when = message.get("created_at") or message.get("timestamp") or message.get("time")
    ident = message.get("id")
    if ident is None:
        ident = f"{author}|{when}|{text}"
    return str(ident), str(author), str(text), when


def _order_key(item: tuple[str, tuple[str, str, Any]]) -> tuple[Any, ...]:
    ident, (_author, _text, when) = item
    stamp = parse_timestamp(when)
    return (stamp.timestamp() if stamp else float("-inf"), int(ident) if ident.isdigit() else 0, ident)


class ChatWidget(W.VBox):
    """Message list (author, time, text), an input with a Send button, and who is online.

    ``max_messages`` bounds what is kept and drawn; the oldest go first.
    """

    topics = frozenset({"chat", "presence"})

    def __repr__(self) -> str:
        # what a saved notebook shows where the widget will be (widget state is never saved)
        return "(the chat appears here when the cell runs: messages, who is online, a box to type in)"

    def __init__(
        self,
        backend: ChatBackend | None = None,
        *,
        max_messages: int = 200,
        title: str = "Chat",
        placeholder: str = "Say something and press Enter",
        me: str | None = None,
    ) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        self.backend = backend
        self.max_messages = max_messages
        self._lock = threading.RLock()
        self.messages: OrderedDict[str, tuple[str, str, Any]] = OrderedDict()
        #: the user id this widget speaks as (messages by it are drawn as "mine"); learnt from the
        #: bridge's answer to the first message sent when not given
        self.me = me
        self._user_ids: dict[str, str] = {}
        self.online: list[str] = []
        self.error: str | None = None
        self.sent = 0
        self._dirty = True
        self.view = W.HTML(value="")
        self.input = W.Text(placeholder=placeholder, continuous_update=False, layout=W.Layout(width="70%"))
        self.send_button = W.Button(description="Send", button_style="primary", icon="paper-plane")
        self.input.observe(self._on_enter, names="value")
        self.send_button.on_click(lambda _button: self.send(self.input.value))
        self.view.value = self._render()
        super().__init__([W.HTML(f"<b>{esc(title)}</b>"), self.view, W.HBox([self.input, self.send_button])])
        if backend is not None:
            self.load_history()

    # -- backend calls (run on the kernel thread: button and input handlers) -----------------
    def load_history(self) -> None:
        """Fetch the history from the backend; a failure is shown in the widget, not raised."""
        try:
            history = list(self.backend.history()) if self.backend is not None else []
        except Exception as exc:  # shown to the person, never a traceback in a thread
            self._show_error(f"Could not load the chat history: {exc}")
            return
        self.consume_messages(history)
        self.refresh(float("inf"))

    def send(self, text: str) -> bool:
        """Send ``text`` through the backend; returns whether it was accepted."""
        text = (text or "").strip()
        if not text:
            return False
        if self.backend is None:
            self._show_error("This chat has no backend: it cannot send messages.")
            return False
        try:
            answer = self.backend.send(text)
        except Exception as exc:
            self._show_error(f"Your message was not sent: {exc}")
            return False
        with self._lock:
            self.error = None
            self.sent += 1
            if answer:
                if self.me is None and isinstance(answer, Mapping) and answer.get("user_id"):
                    self.me = str(answer["user_id"])
                self.consume_messages([answer])
            self._dirty = True
        if self.input.value:
            self.input.value = ""
        self.refresh(float("inf"))
        return True

    def _on_enter(self, change: dict) -> None:
        if change["new"]:
            self.send(change["new"])

    def _show_error(self, message: str) -> None:
        with self._lock:
            self.error = message
            self._dirty = True
        self.refresh(float("inf"))

    # -- pump interface ---------------------------------------------------------------------
    def consume_messages(self, messages: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for message in messages:
                if not isinstance(message, Mapping):
                    continue
                ident, author, text, when = message_fields(message)
                if ident in self.messages:
                    continue
                self.messages[ident] = (author, text, when)
                if message.get("user_id"):
                    self._user_ids[ident] = str(message["user_id"])
            # history, own answers and the live channel interleave: keep (time, id) order
            ordered = sorted(self.messages.items(), key=_order_key)[-self.max_messages :]
            self.messages = OrderedDict(ordered)
            self._user_ids = {k: v for k, v in self._user_ids.items() if k in self.messages}
            self._dirty = True

    def consume(self, items: Iterable[Any]) -> None:
        with self._lock:
            for item in items:
                if isinstance(item, Mapping) and "members" in item:
                    self.online = sorted({str(m) for m in item["members"]})
                    self._dirty = True
                else:
                    self.consume_messages([item])

    def refresh(self, now: float) -> bool:
        with self._lock:
            if not self._dirty:
                return False
            html = self._render()
            with self.view.hold_sync():
                self.view.value = html
            self._dirty = False
            return True

    def _render(self) -> str:
        online = ", ".join(f'<span class="av-online">{esc(name)}</span>' for name in self.online)
        header = f'<div class="av-totals">Online ({len(self.online)}): {online or "nobody yet"}</div>'
        rows = []
        for ident, (author, text, when) in self.messages.items():
            mine = self.me is not None and self._user_ids.get(ident) == self.me
            you = '<span class="av-you"> (you)</span>' if mine else ""
            rows.append(
                f'<li class="av-row av-chat{" av-mine" if mine else ""}"><span class="av-author">'
                f"{esc(author)}</span>{you}"
                f"{time_html(parse_timestamp(when))}<br>"
                f'<span class="av-text">{esc(text)}</span></li>'
            )
        body = "".join(rows) or '<li class="av-empty">No messages yet.</li>'
        error = f'<div class="av-error">{esc(self.error)}</div>' if self.error else ""
        return f'<div class="authviz authviz-chat">{style_block()}{header}<ul class="av-rows">{body}</ul>{error}</div>'
