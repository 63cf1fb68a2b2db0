"""The event bus: every subscriber sees every event in order; a failing one is reported, once."""

from stop_tui.engine.bus import EventBus
from stop_tui.engine.events import EngineError, Notice


async def test_a_failing_subscriber_is_reported_once_and_the_others_go_on():
    bus = EventBus()
    seen = []

    def broken(event):
        if isinstance(event, Notice):
            raise ValueError("disk full")

    bus.subscribe(seen.append)
    bus.subscribe(broken)
    for i in range(3):
        bus.publish(Notice(message=f"n{i}"))
    await bus.drain()
    await bus.drain()  # the error report is published while draining
    await bus.close()
    notices = [e.message for e in seen if isinstance(e, Notice)]
    errors = [e.message for e in seen if isinstance(e, EngineError)]
    assert notices == ["n0", "n1", "n2"]
    assert len(errors) == 1 and "broken" in errors[0] and "ValueError: disk full" in errors[0]
    assert len(bus.subscriber_errors) == 3
