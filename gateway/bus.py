"""In-process async event bus: typed events fanned out to bounded per-subscriber queues.

Topics are dot-separated (``device.scanner-1.scan``, ``ledger.sale.finished``). A subscriber
gives a pattern where ``*`` matches one segment and a trailing ``#`` matches the rest. A slow
subscriber never blocks the publisher: when its queue is full the oldest event is dropped and
its ``dropped`` counter grows, which the status page shows.

A *listener* (:meth:`Bus.listen`) is called synchronously inside ``publish`` instead: for
forwarders whose work per event is short and bounded (the MQTT bridge), which saves the queue
and a wake-up of the event loop per event. A listener that raises is logged and counted; the
publisher never sees it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One event on the bus. ``data`` is JSON-serialisable; ``seq`` is set for ledger events."""

    topic: str
    data: dict[str, Any]
    seq: int | None = None
    ts: float = field(default_factory=time.time)
    event_id: int = field(default_factory=lambda: next(_ids))


def topic_matches(pattern: str, topic: str) -> bool:
    """True when ``topic`` matches ``pattern`` (``*`` one segment, final ``#`` any rest)."""
    pp = pattern.split(".")
    tp = topic.split(".")
    for i, p in enumerate(pp):
        if p == "#" and i == len(pp) - 1:
            return True
        if i >= len(tp) or (p != "*" and p != tp[i]):
            return False
    return len(pp) == len(tp)


class Subscription:
    """A bounded queue of events matching one pattern; iterate it or call :meth:`get`."""

    def __init__(self, bus: Bus, pattern: str, maxsize: int) -> None:
        self.bus = bus
        self.pattern = pattern
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        """Wait for the next matching event."""
        return await self.queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        self.bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Listener:
    """A function called synchronously for each matching event; see :meth:`Bus.listen`."""

    def __init__(self, bus: Bus, pattern: str, fn: Callable[[Event], None]) -> None:
        self.bus = bus
        self.pattern = pattern
        self.fn = fn
        self.failed = 0

    def _deliver(self, event: Event) -> None:
        try:
            self.fn(event)
        except Exception:
            self.failed += 1
            log.exception("bus listener for %s failed on %s", self.pattern, event.topic)

    def close(self) -> None:
        """Stop being called."""
        self.bus.unlisten(self)


class Bus:
    """Publish/subscribe within the process. Must be used from the event loop's thread."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._listeners: list[Listener] = []
        self.published = 0

    def listen(self, pattern: str, fn: Callable[[Event], None]) -> Listener:
        """Call ``fn(event)`` inside every ``publish`` of a matching topic; ``fn`` must not block."""
        listener = Listener(self, pattern, fn)
        self._listeners.append(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        """Remove a listener (idempotent)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def subscribe(self, pattern: str = "#", maxsize: int = 1000) -> Subscription:
        """A new subscription for ``pattern``; close it when done."""
        sub = Subscription(self, pattern, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscription (idempotent)."""
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, topic: str, data: dict[str, Any], seq: int | None = None) -> Event:
        """Deliver an event to every matching subscriber without waiting."""
        event = Event(topic, data, seq)
        self.publish_event(event)
        return event

    def publish_event(self, event: Event) -> None:
        """Deliver an already built event."""
        self.published += 1
        for sub in list(self._subs):
            if topic_matches(sub.pattern, event.topic):
                sub._offer(event)
        for listener in list(self._listeners):
            if topic_matches(listener.pattern, event.topic):
                listener._deliver(event)
