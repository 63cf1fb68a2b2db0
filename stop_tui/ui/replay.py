"""Replaying a session log: the recorded events, fed to the app at a chosen speed.

Replay only reads: it never calls a language model, never runs code and never writes to the
log, so a session that a live run is still writing can be replayed too (new lines are
picked up as they are flushed). Position, speed and playing/paused are the replay's own
state; everything the screen shows still comes from the events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from ..engine.events import Event, GenerationDecided, GenerationStarted, RunFinished, UnknownEventError, event_from_dict
from ..engine.session import SessionError, read_session

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0)
MAX_GAP_S = 5.0  # a recorded pause longer than this plays as this long (at 1x)
FOLLOW_POLL_S = 0.5  # how often a replay at the end of a live log looks for new lines


class ReplayRun:
    """A session log as an event source with play, pause, speed, step and seek."""

    controllable = False  # the engine's controls (pause the run, stop, approve) do not apply
    gate = False
    replay = True

    def __init__(self, log_path: Path, *, speed: float = 10.0, playing: bool = True,
                 start_at_end: bool = False) -> None:
        self.log_path = log_path
        notices: list[str] = []
        self.header, self.events = read_session(log_path, on_notice=notices.append)
        self.notices = notices
        self.position = 0  # events[:position] have been shown
        self.speed = speed if speed in SPEEDS else 10.0
        self.playing = playing
        self.start_at_end = start_at_end
        self._wake = asyncio.Event()
        self._sink: Callable[[Event], None] | None = None
        self._reset: Callable[[], None] | None = None
        self._offset = _end_of_complete_lines(log_path)  # where following a live log resumes reading
        self.on_decision: Callable[[GenerationDecided], None] | None = None  # played, not sought

    # --- what the header shows ----------------------------------------------------------

    @property
    def label(self) -> str:
        state = "playing" if self.playing else "paused"
        if self.at_end:
            state = "at the end" + (", following the live log" if self.live else "")
        return f"replay {self.speed:g}x, {state}, event {self.position:,} of {len(self.events):,}"

    @property
    def at_end(self) -> bool:
        return self.position >= len(self.events)

    @property
    def live(self) -> bool:
        """Whether the log may still grow (its run has not finished)."""
        return not any(isinstance(e, RunFinished) for e in self.events[-3:])

    @property
    def paused(self) -> bool:
        return not self.playing

    # --- the loop the app runs ------------------------------------------------------------

    async def drive(self, sink: Callable[[Event], None], approver, reset: Callable[[], None] | None = None) -> None:
        """Feed events to sink in recorded time, scaled by the speed; never returns while the
        log may grow (the app cancels it when it closes)."""
        self._sink, self._reset = sink, reset
        if self.start_at_end:
            self._emit(len(self.events))
        while True:
            if self.at_end:
                if not self.live:
                    self.playing = False
                    await self._wait(None)
                    continue
                await self._wait(FOLLOW_POLL_S)
                self._follow()
                continue
            if not self.playing:
                await self._wait(None)
                continue
            gap = self._gap_before(self.position)
            if gap > 0 and await self._wait(gap / self.speed):
                continue  # a control changed something: look again
            event = self.events[self.position]
            self._emit(self.position + 1)
            if isinstance(event, GenerationDecided) and event.decided_by == "user" and self.on_decision:
                self.on_decision(event)

    def _gap_before(self, index: int) -> float:
        if index == 0:
            return 0.0
        return max(0.0, min(MAX_GAP_S, self.events[index].ts - self.events[index - 1].ts))

    async def _wait(self, timeout: float | None) -> bool:
        """Sleep up to timeout (None: until woken); True if a control woke us."""
        self._wake.clear()
        try:
            if timeout is None:
                await self._wake.wait()
            else:
                await asyncio.wait_for(self._wake.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def _emit(self, until: int) -> None:
        assert self._sink is not None
        for event in self.events[self.position:until]:
            self._sink(event)
        self.position = until

    def _follow(self) -> None:
        """Append the lines a live run has flushed since we last looked (complete lines only)."""
        try:
            with open(self.log_path, "rb") as handle:  # read-only, as everywhere in replay
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                self.events.append(event_from_dict(json.loads(line)))
            except (ValueError, UnknownEventError) as exc:
                raise SessionError(f"{self.log_path}: a new line is corrupt ({exc}).") from None

    # --- controls -------------------------------------------------------------------------

    def toggle_play(self) -> None:
        if self.at_end and not self.live:
            self.seek(0)
        self.playing = not self.playing
        self._wake.set()

    def pause(self) -> None:
        self.playing = False
        self._wake.set()

    def resume(self) -> None:
        self.playing = True
        self._wake.set()

    def request_stop(self) -> None:
        self.pause()

    def faster(self) -> None:
        self.speed = SPEEDS[min(len(SPEEDS) - 1, SPEEDS.index(self.speed) + 1)]
        self._wake.set()

    def slower(self) -> None:
        self.speed = SPEEDS[max(0, SPEEDS.index(self.speed) - 1)]
        self._wake.set()

    def step(self) -> None:
        """Show the next event, and stay paused."""
        self.playing = False
        if not self.at_end:
            self._emit(self.position + 1)
        self._wake.set()

    def next_generation(self) -> None:
        """Play up to the start of the next generation (or the end), and stay paused."""
        self.playing = False
        target = next((i + 1 for i in range(self.position, len(self.events))
                       if isinstance(self.events[i], GenerationStarted)), len(self.events))
        self.seek(target)

    def seek(self, position: int) -> None:
        """Show exactly events[:position]: forward by applying the events between, backward by
        rebuilding the screen's model from the first event."""
        position = max(0, min(len(self.events), position))
        if position < self.position:
            if self._reset is not None:
                self._reset()
            self.position = 0
        if self._sink is not None:
            self._emit(position)
        else:
            self.position = position
        self._wake.set()

    def seek_fraction(self, fraction: float) -> None:
        self.seek(round(fraction * len(self.events)))

    def to_end(self) -> None:
        self.seek(len(self.events))

    def generation_starts(self) -> list[int]:
        """Positions where generations start: marks on the timeline."""
        return [i for i, e in enumerate(self.events) if isinstance(e, GenerationStarted)]


def _end_of_complete_lines(path: Path) -> int:
    """The byte offset just past the log's last newline: a partial last line is still being
    written, and is read again once it is complete."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        position = size
        while position > 0:
            step = min(position, 1 << 16)
            position -= step
            handle.seek(position)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position + newline + 1
        return 0
