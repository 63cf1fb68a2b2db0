"""Building the TUI for tests: on the recorded fixture session, with frozen time and config."""

from __future__ import annotations

from pathlib import Path

from stop_tui.engine.events import Event, GenerationProposed
from stop_tui.engine.session import read_session
from stop_tui.ui.app import StopApp
from stop_tui.ui.settings import Settings
from stop_tui.ui.sources import RecordedRun

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "small_session.jsonl"
SIZE = (160, 48)


def fixture_events() -> list[Event]:
    _, events = read_session(FIXTURE)
    return events


def recorded_app(config_dir: Path, events: list[Event] | None = None) -> StopApp:
    """The app on recorded events; its clock stands still at the last event, so nothing on
    screen depends on when the test runs."""
    events = events if events is not None else fixture_events()
    frozen = events[-1].ts
    return StopApp(RecordedRun(events, "tests/fixtures/small_session.jsonl"),
                   settings=Settings(path=config_dir / "config.toml"), clock=lambda: frozen)


def events_until_last_proposal() -> list[Event]:
    """The fixture cut just after generation 2's proposal, before anyone decided."""
    events = fixture_events()
    last = max(i for i, e in enumerate(events) if isinstance(e, GenerationProposed))
    return events[: last + 1]
