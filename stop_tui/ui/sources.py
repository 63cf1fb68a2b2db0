"""Where the app's events come from: a live engine run, or a recorded list of events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..engine.config import RunConfig
from ..engine.events import Event
from ..engine.lm.base import LMBackend
from ..engine.stop import Approver, StopRun
from ..engine.tasks import Task

EventSink = Callable[[Event], None]


class LiveRun:
    """Runs STOP through the engine; the app sees its events and answers its approvals."""

    controllable = True

    def __init__(self, *, config: RunConfig, task: Task, backend: LMBackend, log_path: Path, gate: bool = True,
                 seed_improver: str | None = None, resume_state=None) -> None:
        self.config, self.task, self.backend, self.log_path = config, task, backend, log_path
        self.gate, self.seed_improver = gate, seed_improver
        # engine.resume.ResumeState: go on with the run in log_path (its earlier events come first).
        self.resume_state = resume_state
        self.run: StopRun | None = None
        self._pause_when_ready = False

    @property
    def label(self) -> str:
        return "live" + ("" if self.gate else ", no gate")

    async def drive(self, sink: EventSink, approver: Approver) -> None:
        from ..engine.runner import run_session  # the sandbox pool starts only when a run does

        await run_session(config=self.config, task=self.task, backend=self.backend, log_path=self.log_path,
                          seed_improver=self.seed_improver, subscribers=[sink],
                          approver=approver if self.gate else None, on_run=self._started,
                          resume_state=self.resume_state)

    def _started(self, run: StopRun) -> None:
        self.run = run
        if self._pause_when_ready:
            run.pause()

    @property
    def paused(self) -> bool:
        return self.run.paused if self.run is not None else self._pause_when_ready

    def pause(self) -> None:
        if self.run is None:
            self._pause_when_ready = True
        else:
            self.run.pause()

    def resume(self) -> None:
        self._pause_when_ready = False
        if self.run is not None:
            self.run.resume()

    def request_stop(self) -> None:
        if self.run is not None:
            self.run.request_stop()


class RecordedRun:
    """Events already recorded (a session log, a test fixture): shown, never re-run."""

    controllable = False
    gate = False
    paused = False

    def __init__(self, events: Sequence[Event], log_path: Path | str = "", label: str = "recorded") -> None:
        self.events, self.log_path, self.label = list(events), log_path, label

    async def drive(self, sink: EventSink, approver: Approver) -> None:
        for event in self.events:
            sink(event)

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def request_stop(self) -> None:
        pass
