"""The in-process bus: queued subscriptions and synchronous listeners."""

from __future__ import annotations

import logging

import pytest

from gateway.bus import Bus, Event


async def test_listener_runs_inside_publish_for_matching_topics_only() -> None:
    bus = Bus()
    seen: list[str] = []
    listener = bus.listen("device.*.evt.#", lambda e: seen.append(e.topic))
    bus.publish("device.scanner-1.evt.scan", {"code": "1"})
    assert seen == ["device.scanner-1.evt.scan"]  # already delivered: no await in between
    bus.publish("device.scanner-1.status", {})
    bus.publish("ledger.sale.finished", {}, seq=1)
    assert seen == ["device.scanner-1.evt.scan"]
    listener.close()
    listener.close()  # idempotent
    bus.publish("device.scanner-1.evt.scan", {"code": "2"})
    assert seen == ["device.scanner-1.evt.scan"]


async def test_failing_listener_is_counted_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    good: list[Event] = []

    def bad(event: Event) -> None:
        raise ValueError("cannot encode")

    failing = bus.listen("#", bad)
    bus.listen("#", good.append)
    sub = bus.subscribe("#")
    with caplog.at_level(logging.ERROR):
        event = bus.publish("device.x.evt.scan", {"code": "1"})
    assert failing.failed == 1
    assert good == [event]
    assert sub.queue.get_nowait() is event
    assert "bus listener for # failed on device.x.evt.scan" in caplog.text
