"""What the screen shows, folded from events only (live, or read back from a session log).

No Textual here: the TUI, replay and the benchmarks feed the same RunModel, and the widgets
render from it. Every change marks what it touched as dirty, so the app repaints only that,
at its own pace, however fast events arrive (24 streams can send hundreds of chunks a
second; the screen needs about ten frames a second).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ..engine.events import (
    CandidateScored, CandidateStarted, EngineError, Event, GenerationDecided, GenerationProposed,
    GenerationStarted, ImproverRunFinished, LMChunk, LMRequestFinished, LMRequestRefused, LMRequestReused,
    LMRequestStarted, MetaTrialFinished, Notice, ProgramRecorded, RunBudgetReached, RunFinished, RunPaused,
    RunResumed, RunStarted, RunUnpaused, SandboxViolation, SolutionEvaluated,
)
from ..engine.evaluation import program_sha
from ..engine.lm.base import estimate_tokens
from ..engine.sandbox.extraction import Extraction, extract_program

# Run states, as the header shows them.
STARTING, RUNNING, PAUSED, AWAITING, FINISHED, STOPPED, FAILED = (
    "starting", "running", "paused", "waiting for approval", "finished", "stopped", "failed")
ENDED = (FINISHED, STOPPED, FAILED)


@dataclass
class RequestView:
    """One LM request and its samples as they stream in."""

    request_id: str
    purpose: str
    model: str
    n: int
    generation: int
    context: str
    started: float
    chunks: list[list[str]] = field(default_factory=list)  # per choice
    attempts: list[int] = field(default_factory=list)  # per choice: a retry's text replaces the last
    outcome: str = ""  # "reused" (answered from the log by resume) or "refused" (never sent)
    finished: float | None = None
    responses: list[str] = field(default_factory=list)
    error: str | None = None
    completion_tokens: int = 0
    prompt_tokens: int = 0
    cost_usd: float | None = None

    def text(self, choice: int) -> str:
        if self.responses and choice < len(self.responses) and self.responses[choice]:
            return self.responses[choice]
        return "".join(self.chunks[choice]) if choice < len(self.chunks) else ""

    @property
    def tokens(self) -> int:
        if self.finished is not None:
            return self.completion_tokens
        return sum(estimate_tokens("".join(c)) for c in self.chunks)

    @property
    def status(self) -> str:
        if self.finished is None:
            return "streaming"
        return self.outcome or ("failed" if self.error else "done")

    def elapsed(self, now: float) -> float:
        return (self.finished if self.finished is not None else now) - self.started


@dataclass
class CandidateView:
    """An improver scored by the meta-utility: a row of the leaderboard."""

    generation: int
    candidate_id: str
    sha: str
    started: float
    val: float | None = None
    test: float | None = None
    trials_done: int = 0
    failed_trials: int = 0
    finished: float | None = None
    tokens: int = 0
    cost_usd: float | None = 0.0  # None once a request it made has no known price
    verdict: str = ""  # "proposed", "accepted", "rejected" once the generation says so

    @property
    def status(self) -> str:
        return self.verdict or ("scored" if self.finished is not None else "scoring")

    def elapsed(self, now: float) -> float:
        return (self.finished if self.finished is not None else now) - self.started


@dataclass
class GenerationView:
    generation: int
    attempt: int
    improver_sha: str  # the improver that ran the step
    proposed_sha: str | None = None
    proposed_val: float | None = None
    proposed_test: float | None = None
    decided: bool = False
    accepted: bool = False
    decided_by: str = ""
    action: str = ""
    reason: str = ""
    current_sha: str | None = None  # current improver after the decision
    current_val: float | None = None
    current_test: float | None = None
    improver_error: str | None = None


@dataclass
class Dirty:
    """What changed since the screen last looked."""

    requests: set[str] = field(default_factory=set)
    candidates: set[str] = field(default_factory=set)
    generations: bool = False
    status: bool = False
    programs: bool = False
    scores: bool = False  # a solution was evaluated: followed samples may show a score now

    def any(self) -> bool:
        return bool(self.requests or self.candidates or self.generations or self.status or self.programs
                    or self.scores)


class RunModel:
    """The state of one run, as far as its events say."""

    def __init__(self) -> None:
        self.run_id = ""
        self.task = ""
        self.model = ""
        self.config: dict[str, Any] = {}
        self.state = STARTING
        self.state_reason = ""
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.last_event_at: float | None = None
        self.seed_sha: str | None = None
        self.current_sha: str | None = None
        self.current_val: float | None = None
        self.current_test: float | None = None
        self.programs: dict[str, str] = {}  # sha -> source
        self.program_kinds: dict[str, str] = {}
        self.requests: dict[str, RequestView] = {}
        self.candidates: dict[str, CandidateView] = {}  # by candidate id
        self._candidate_by_sha8: dict[str, str] = {}
        self.generations: list[GenerationView] = []
        self.solution_scores: dict[str, float] = {}  # program sha -> val utility
        self._extractions: dict[tuple[str, int], Extraction] = {}  # finished samples, extracted once
        self.errors: list[str] = []
        self.notices: list[str] = []
        self.violations: list[SandboxViolation] = []  # what sandboxed programs tried and were refused
        self.lm_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = 0.0  # None once a request has no known price, as headless says
        self.paused = False
        self.events_seen = 0
        self.dirty = Dirty()

    # --- folding events ---------------------------------------------------------------

    def apply(self, event: Event) -> None:
        self.events_seen += 1
        self.last_event_at = event.ts
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _run_started(self, e: RunStarted) -> None:
        self.run_id, self.task, self.model, self.config = e.run_id, e.task, e.model, dict(e.config)
        self.started_at = e.ts
        self.seed_sha = self.current_sha = e.seed_improver_sha
        self.state = RUNNING
        self.dirty.status = self.dirty.generations = True

    def _run_finished(self, e: RunFinished) -> None:
        self.state = {"finished": FINISHED, "stopped": STOPPED}.get(e.state, FAILED)
        self.state_reason = e.reason
        self.finished_at = e.ts
        self.paused = False
        self.dirty.status = True

    def _engine_error(self, e: EngineError) -> None:
        self.errors.append(e.message)
        self.state, self.state_reason = FAILED, e.message
        self.dirty.status = True

    def _notice(self, e: Notice) -> None:
        self.notices.append(e.message)
        self.dirty.status = True

    def _paused(self, e: RunPaused) -> None:
        self.paused = True
        self.dirty.status = True

    def _unpaused(self, e: RunUnpaused) -> None:
        self.paused = False
        self.dirty.status = True

    def _program(self, e: ProgramRecorded) -> None:
        self.programs[e.sha] = e.source
        self.program_kinds[e.sha] = e.kind
        self.dirty.programs = True

    def _request_started(self, e: LMRequestStarted) -> None:
        self.requests[e.request_id] = RequestView(
            request_id=e.request_id, purpose=e.purpose, model=e.model, n=e.n, generation=e.generation,
            context=e.context, started=e.ts, chunks=[[] for _ in range(e.n)],
        )
        self.dirty.requests.add(e.request_id)

    def _chunk(self, e: LMChunk) -> None:
        request = self.requests.get(e.request_id)
        if request is None:
            return
        while len(request.chunks) <= e.choice:
            request.chunks.append([])
        while len(request.attempts) <= e.choice:
            request.attempts.append(1)
        if e.attempt > request.attempts[e.choice]:  # retried: what the failed attempt wrote is void
            request.attempts[e.choice] = e.attempt
            request.chunks[e.choice] = []
        request.chunks[e.choice].append(e.text)
        self.dirty.requests.add(e.request_id)

    def _request_finished(self, e: LMRequestFinished) -> None:
        request = self.requests.get(e.request_id)
        self.lm_calls += 1
        self.prompt_tokens += e.prompt_tokens
        self.completion_tokens += e.completion_tokens
        self.cost_usd = add_cost(self.cost_usd, e)
        self.dirty.status = True
        if request is None:
            return
        request.finished = e.ts
        request.responses = list(e.responses)
        request.error = e.error
        request.prompt_tokens, request.completion_tokens = e.prompt_tokens, e.completion_tokens
        request.cost_usd = e.cost_usd
        self.dirty.requests.add(e.request_id)
        # Meta-utility trials ask with context g<gen>/<sha8>/t<trial>: charge their candidate.
        parts = request.context.split("/")
        candidate_id = self._candidate_by_sha8.get(parts[1]) if len(parts) == 3 else None
        if candidate_id is not None:
            candidate = self.candidates[candidate_id]
            candidate.tokens += e.prompt_tokens + e.completion_tokens
            candidate.cost_usd = add_cost(candidate.cost_usd, e)
            self.dirty.candidates.add(candidate_id)

    def _request_reused(self, e: LMRequestReused) -> None:
        original = self.requests.get(e.original_request_id)
        self.requests[e.request_id] = RequestView(
            request_id=e.request_id, purpose=e.purpose, model=original.model if original else self.model, n=e.n,
            generation=e.generation, context=e.context, started=e.ts, finished=e.ts,
            responses=list(original.responses) if original else [], outcome="reused",
            error=None if original else f"answered from {e.original_request_id} of the log",
        )
        self.dirty.requests.add(e.request_id)

    def _request_refused(self, e: LMRequestRefused) -> None:
        self.requests[e.request_id] = RequestView(
            request_id=e.request_id, purpose=e.purpose, model=self.model, n=e.n, generation=e.generation,
            context=e.context, started=e.ts, finished=e.ts, error=e.reason, outcome="refused",
        )
        self.dirty.requests.add(e.request_id)

    def _budget_reached(self, e: RunBudgetReached) -> None:
        self.notices.append(e.message)
        self.dirty.status = True

    def _resumed(self, e: RunResumed) -> None:
        """A resumed run goes on in the same log: it is running again."""
        self.state, self.state_reason, self.finished_at = RUNNING, "", None
        self.notices.append(f"resumed at generation {e.generation} (the run before was {e.previous_state})")
        self.dirty.status = True

    def _violation(self, e: SandboxViolation) -> None:
        self.violations.append(e)
        self.dirty.generations = True

    def _evaluated(self, e: SolutionEvaluated) -> None:
        if e.split == "val":
            self.solution_scores[e.program_sha] = e.utility
            self.dirty.scores = True

    def _candidate_started(self, e: CandidateStarted) -> None:
        self.candidates[e.candidate_id] = CandidateView(
            generation=e.generation, candidate_id=e.candidate_id, sha=e.program_sha, started=e.ts)
        self._candidate_by_sha8[e.program_sha[:8]] = e.candidate_id
        self.dirty.candidates.add(e.candidate_id)

    def _trial_finished(self, e: MetaTrialFinished) -> None:
        candidate = self.candidates.get(e.candidate_id)
        if candidate is not None:
            candidate.trials_done += 1
            self.dirty.candidates.add(e.candidate_id)

    def _candidate_scored(self, e: CandidateScored) -> None:
        candidate = self.candidates.get(e.candidate_id)
        if candidate is None:
            return
        candidate.val, candidate.test = e.val, e.test
        candidate.failed_trials, candidate.finished = e.failed_trials, e.ts
        self.dirty.candidates.add(e.candidate_id)
        if e.generation == 0 and e.program_sha == self.current_sha and self.current_val is None:
            self.current_val, self.current_test = e.val, e.test
            self.dirty.status = self.dirty.generations = True

    def _generation_started(self, e: GenerationStarted) -> None:
        view = GenerationView(generation=e.generation, attempt=e.attempt, improver_sha=e.improver_sha)
        last = self.generations[-1] if self.generations else None
        if last is not None and (last.generation, last.attempt) == (e.generation, e.attempt) and not last.decided:
            self.generations[-1] = view  # a resumed run starts its unfinished generation again
        else:
            self.generations.append(view)
        self.dirty.generations = self.dirty.status = True

    def _improver_finished(self, e: ImproverRunFinished) -> None:
        if self.generations:
            self.generations[-1].improver_error = e.error
            self.dirty.generations = True

    def _proposed(self, e: GenerationProposed) -> None:
        view = self._generation_view(e.generation, e.attempt)
        view.proposed_sha, view.proposed_val, view.proposed_test = e.program_sha, e.val, e.test
        self._set_verdict(e.program_sha, "proposed")
        self.dirty.generations = self.dirty.status = True

    def _decided(self, e: GenerationDecided) -> None:
        view = self._generation_view(e.generation, e.attempt)
        view.decided, view.accepted, view.decided_by = True, e.accepted, e.decided_by
        view.action, view.reason = e.action, e.reason
        view.current_sha, view.current_val, view.current_test = e.current_sha, e.current_val, e.current_test
        if view.proposed_sha:
            self._set_verdict(view.proposed_sha, "accepted" if e.accepted else "rejected")
        self.current_sha, self.current_val, self.current_test = e.current_sha, e.current_val, e.current_test
        self.dirty.generations = self.dirty.status = True

    def _generation_view(self, generation: int, attempt: int) -> GenerationView:
        for view in reversed(self.generations):
            if view.generation == generation and view.attempt == attempt:
                return view
        view = GenerationView(generation=generation, attempt=attempt, improver_sha=self.current_sha or "")
        self.generations.append(view)
        return view

    def _set_verdict(self, sha: str, verdict: str) -> None:
        for candidate in self.candidates.values():
            if candidate.sha == sha:
                candidate.verdict = verdict
                self.dirty.candidates.add(candidate.candidate_id)

    # --- questions the screen asks ------------------------------------------------------

    @property
    def awaiting_decision(self) -> GenerationView | None:
        """The generation whose proposal waits for a decision, if any."""
        last = self.generations[-1] if self.generations else None
        return last if last is not None and last.proposed_sha and not last.decided else None

    @property
    def display_state(self) -> str:
        if self.state in ENDED or self.state == STARTING:
            return self.state
        if self.paused:
            return PAUSED
        return AWAITING if self.awaiting_decision is not None else RUNNING

    @property
    def generation_number(self) -> int:
        return self.generations[-1].generation if self.generations else 0

    @property
    def iterations(self) -> int:
        return int(self.config.get("iterations", 0))

    def elapsed(self, now: float) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def in_flight(self) -> list[RequestView]:
        return [r for r in self.requests.values() if r.finished is None]

    def improver_versions(self) -> list[tuple[str, str]]:
        """(label, sha) of every improver worth viewing: the seed, then each decided or pending
        generation's proposal and the improver current after it."""
        versions: list[tuple[str, str]] = []
        if self.seed_sha:
            versions.append(("seed (generation 0)", self.seed_sha))
        for view in self.generations:
            tag = f"generation {view.generation}" + (f" attempt {view.attempt}" if view.attempt > 1 else "")
            if view.proposed_sha:
                verdict = "accepted" if view.accepted else ("rejected" if view.decided else "proposed")
                versions.append((f"{tag}: proposal ({verdict})", view.proposed_sha))
        seen: set[str] = set()
        unique = []
        for label, sha in versions:
            if sha not in seen:
                seen.add(sha)
                unique.append((label, sha))
        return unique

    def default_diff_pair(self) -> tuple[str | None, str | None]:
        """Current vs proposed while a proposal waits; otherwise the last change made."""
        pending = self.awaiting_decision
        if pending is not None:
            return self.current_sha, pending.proposed_sha
        for view in reversed(self.generations):
            if view.decided and view.proposed_sha:
                return view.improver_sha, view.proposed_sha
        return self.seed_sha, self.current_sha

    def diff(self, old_sha: str | None, new_sha: str | None) -> list[str]:
        old = self.programs.get(old_sha or "", "")
        new = self.programs.get(new_sha or "", "")
        return list(difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=(old_sha or "")[:8],
                                         tofile=(new_sha or "")[:8], lineterm=""))

    def sample_code_and_score(self, request: RequestView, choice: int) -> tuple[Extraction, float | None]:
        """A finished sample's extraction (the engine's rules, so it matches the log's
        SamplesExtracted) and, once its program is evaluated on val, its utility."""
        key = (request.request_id, choice)
        extraction = self._extractions.get(key)
        if extraction is None:
            extraction = extract_program(request.text(choice))
            if request.finished is not None:  # a finished sample's text no longer changes
                self._extractions[key] = extraction
        if not extraction.code:
            return extraction, None
        sha = program_sha(extraction.code)
        if sha in self.solution_scores:
            return extraction, self.solution_scores[sha]
        candidate = next((c for c in self.candidates.values() if c.sha == sha), None)
        return extraction, candidate.val if candidate is not None else None

    def budget(self) -> tuple[float | None, int | None]:
        """The run's cost and token budgets, if its config sets them."""
        cost = self.config.get("max_cost_usd")
        tokens = self.config.get("max_total_tokens")
        return (float(cost) if cost else None), (int(tokens) if tokens else None)


def add_cost(total: float | None, e: LMRequestFinished) -> float | None:
    """A running cost with one more request: unknown (None) from the first request that used
    tokens at a price nobody knows, the same rule as the headless summary's."""
    if total is None or (e.cost_usd is None and (e.prompt_tokens or e.completion_tokens)):
        return None
    return total + (e.cost_usd or 0.0)


_HANDLERS = {
    RunStarted: RunModel._run_started,
    RunFinished: RunModel._run_finished,
    EngineError: RunModel._engine_error,
    Notice: RunModel._notice,
    RunPaused: RunModel._paused,
    RunUnpaused: RunModel._unpaused,
    ProgramRecorded: RunModel._program,
    LMRequestStarted: RunModel._request_started,
    LMChunk: RunModel._chunk,
    LMRequestFinished: RunModel._request_finished,
    LMRequestReused: RunModel._request_reused,
    LMRequestRefused: RunModel._request_refused,
    RunBudgetReached: RunModel._budget_reached,
    RunResumed: RunModel._resumed,
    SolutionEvaluated: RunModel._evaluated,
    SandboxViolation: RunModel._violation,
    CandidateStarted: RunModel._candidate_started,
    MetaTrialFinished: RunModel._trial_finished,
    CandidateScored: RunModel._candidate_scored,
    GenerationStarted: RunModel._generation_started,
    ImproverRunFinished: RunModel._improver_finished,
    GenerationProposed: RunModel._proposed,
    GenerationDecided: RunModel._decided,
}
