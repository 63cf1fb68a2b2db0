"""A run's history read back from its log: each decision, the improvers, LM use and cost.

Built in one pass over the events, keeping only what the views need (improver sources, one
record per decision, counters), so a log of any size is read in constant memory apart from
the improvers' sources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..engine.events import (
    CandidateScored, EngineError, Event, GenerationDecided, GenerationProposed, GenerationStarted,
    ImproverRunFinished, LMRequestFinished, LMRequestReused, LMRequestStarted, Notice, ProgramRecorded, RunFinished,
    RunResumed, RunStarted, SamplesExtracted, SandboxViolation,
)
from ..engine.sandbox.extraction import FAILED, NOT_COMPILING
from ..engine.session import SessionHeader, find_run_log, iter_session
from .strategies import METHOD, Strategy, detect_strategies

SEED = "seed"  # the action of the seed improver's record: it is current before any decision


@dataclass
class ExtractionCounts:
    """What was taken from the LM samples of one generation (SamplesExtracted events)."""

    samples: int = 0
    programs: int = 0  # a program that compiles
    not_compiling: int = 0  # a program was found but does not compile (scored as its SyntaxError)
    no_code: int = 0  # no program at all
    reasons: dict[str, int] = field(default_factory=dict)  # why, for the last two, by count

    def add(self, event: SamplesExtracted) -> None:
        for sample in event.samples:
            self.samples += 1
            status = sample.get("status")
            if status == FAILED:
                self.no_code += 1
                reason = str(sample.get("failure") or "no code")
            elif status == NOT_COMPILING:
                self.not_compiling += 1
                reason = "does not compile"
            else:
                self.programs += 1
                continue
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


@dataclass
class LMUsage:
    """LM requests finished, and what they cost. cost_usd sums the requests whose price is
    known; unpriced counts those whose price is not (the total is then a lower bound)."""

    calls: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0

    def add(self, finished: LMRequestFinished) -> None:
        self.calls += 1
        self.failed += finished.error is not None
        self.prompt_tokens += finished.prompt_tokens
        self.completion_tokens += finished.completion_tokens
        if finished.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += finished.cost_usd

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class GenerationRecord:
    """One decision: what the generation's attempt proposed, what was decided, what is current.

    The seed improver has the first record (generation 0, action "seed"). A generation the
    user rejected and retried has one record per attempt.
    """

    generation: int
    attempt: int
    proposed_sha: str | None  # None: the improver failed to return a program
    proposed_val: float | None
    proposed_test: float | None
    action: str  # "seed" | "approve" | "reject" | "retry" | "stop"
    accepted: bool
    decided_by: str  # "rule" | "user"
    reason: str
    current_sha: str  # the improver current after this decision
    current_val: float
    current_test: float
    usage: LMUsage  # LM requests made for this attempt (its improvement step and every score in it)
    started_ts: float | None
    decided_ts: float
    improver_error: str | None = None  # why the current improver's run failed, if it did

    @property
    def duration_s(self) -> float | None:
        return None if self.started_ts is None else self.decided_ts - self.started_ts


@dataclass
class SessionHistory:
    log: Path
    header: SessionHeader
    run: RunStarted | None = None
    finished: RunFinished | None = None
    records: list[GenerationRecord] = field(default_factory=list)
    improvers: dict[str, str] = field(default_factory=dict)  # sha -> source, every improver logged
    usage: LMUsage = field(default_factory=LMUsage)  # the whole run
    in_progress: int | None = None  # a generation started and not decided when the log ends
    engine_errors: list[str] = field(default_factory=list)
    engine_notices: list[str] = field(default_factory=list)
    reader_notices: list[str] = field(default_factory=list)  # e.g. a cut-off last line was skipped
    last_ts: float | None = None
    resumptions: list[RunResumed] = field(default_factory=list)  # `stop-tui resume`, in order
    reused_requests: int = 0  # LM requests of resumed stretches answered from the log (not sent again)
    extraction: dict[int, ExtractionCounts] = field(default_factory=dict)  # generation -> samples' fate
    violations: list[SandboxViolation] = field(default_factory=list)  # what sandboxed programs tried, refused

    @property
    def state(self) -> str:
        """finished / stopped / failed from the run's end, or "incomplete" if the log has none."""
        return self.finished.state if self.finished else "incomplete"

    @property
    def seed_sha(self) -> str | None:
        if self.run is not None:
            return self.run.seed_improver_sha
        return self.records[0].current_sha if self.records else None

    @property
    def last_generation(self) -> int:
        """The last generation decided (0: none; the seed counts as generation 0)."""
        return max((r.generation for r in self.records), default=0)

    def best_approved(self) -> GenerationRecord | None:
        """The record that made the best approved improver current.

        Best approved: of the improvers that were ever current (the seed, and every proposal
        approved by the rule or the user), the one with the highest val; ties go to the
        earliest. Selection uses val only: test is held out. Under the default rule
        ("improved") this is the improver current at the end; under "any", or when a user
        approved a worse proposal, it may be an earlier one.
        """
        best = None
        for record in self.records:
            if record.accepted and (best is None or record.current_val > best.current_val):
                best = record
        return best

    def current_after(self, generation: int) -> GenerationRecord | None:
        """The last record of a generation: its current_sha is the improver current after it."""
        found = None
        for record in self.records:
            if record.generation == generation:
                found = record
        return found

    def strategies(self, shas: Iterable[str] | None = None) -> dict[str, list[Strategy]]:
        """Heuristic strategy labels for the given improvers (default: every one the records
        name, seed first) whose source the log holds."""
        labels: dict[str, list[Strategy]] = {}
        for sha in self.named_improvers() if shas is None else shas:
            if sha in self.improvers:
                labels[sha] = detect_strategies(self.improvers[sha])
        return labels

    def named_improvers(self) -> list[str]:
        """Improver shas the records propose or make current, in order of first appearance."""
        shas = [self.seed_sha] if self.seed_sha else []
        for record in self.records:
            shas += [record.proposed_sha, record.current_sha]
        return [sha for sha in dict.fromkeys(shas) if sha]


def build_history(log: Path, items: Iterable[SessionHeader | Event]) -> SessionHistory:
    """The history of one log from its header and events, in log order."""
    iterator = iter(items)
    header = next(iterator)
    assert isinstance(header, SessionHeader)
    history = SessionHistory(log=log, header=header)
    attempt_of: dict[int, int] = {}  # generation -> its attempt in progress
    started: dict[tuple[int, int], float] = {}
    request_attempt: dict[str, tuple[int, int]] = {}
    usage: dict[tuple[int, int], LMUsage] = {}
    proposals: dict[tuple[int, int], GenerationProposed] = {}
    improver_errors: dict[tuple[int, int], str] = {}
    decisions: list[GenerationDecided] = []
    seed: CandidateScored | None = None
    for event in iterator:
        history.last_ts = event.ts
        if isinstance(event, LMRequestStarted):
            request_attempt[event.request_id] = (event.generation, attempt_of.get(event.generation, 1))
        elif isinstance(event, LMRequestFinished):
            history.usage.add(event)
            key = request_attempt.pop(event.request_id, None)
            if key is not None:
                usage.setdefault(key, LMUsage()).add(event)
        elif isinstance(event, ProgramRecorded):
            if event.kind == "improver":
                history.improvers[event.sha] = event.source
        elif isinstance(event, CandidateScored):
            if event.generation == 0 and seed is None:
                seed = event
        elif isinstance(event, GenerationStarted):
            attempt_of[event.generation] = event.attempt
            started[(event.generation, event.attempt)] = event.ts
            history.in_progress = event.generation
        elif isinstance(event, ImproverRunFinished):
            if event.error is not None:
                improver_errors[(event.generation, attempt_of.get(event.generation, 1))] = event.error
        elif isinstance(event, GenerationProposed):
            proposals[(event.generation, event.attempt)] = event
        elif isinstance(event, SandboxViolation):
            history.violations.append(event)
        elif isinstance(event, GenerationDecided):
            decisions.append(event)
            history.in_progress = None
        elif isinstance(event, RunStarted):
            history.run = event
        elif isinstance(event, RunFinished):
            history.finished = event
        elif isinstance(event, RunResumed):  # an end logged before no longer holds
            history.resumptions.append(event)
            history.finished = None
        elif isinstance(event, LMRequestReused):
            history.reused_requests += 1
        elif isinstance(event, SamplesExtracted):
            history.extraction.setdefault(event.generation, ExtractionCounts()).add(event)
        elif isinstance(event, EngineError):
            history.engine_errors.append(event.message)
        elif isinstance(event, Notice):
            history.engine_notices.append(event.message)
    if seed is not None:
        history.records.append(GenerationRecord(
            generation=0, attempt=1, proposed_sha=seed.program_sha, proposed_val=seed.val, proposed_test=seed.test,
            action=SEED, accepted=True, decided_by="rule", reason="seed improver", current_sha=seed.program_sha,
            current_val=seed.val, current_test=seed.test, usage=usage.get((0, 1), LMUsage()),
            started_ts=history.run.ts if history.run else None, decided_ts=seed.ts,
        ))
    for decision in decisions:
        key = (decision.generation, decision.attempt)
        proposal = proposals.get(key)
        history.records.append(GenerationRecord(
            generation=decision.generation, attempt=decision.attempt,
            proposed_sha=proposal.program_sha if proposal else None,
            proposed_val=proposal.val if proposal else None, proposed_test=proposal.test if proposal else None,
            action=decision.action or ("approve" if decision.accepted else "reject"),
            accepted=decision.accepted, decided_by=decision.decided_by, reason=decision.reason,
            current_sha=decision.current_sha, current_val=decision.current_val, current_test=decision.current_test,
            usage=usage.get(key, LMUsage()), started_ts=started.get(key), decided_ts=decision.ts,
            improver_error=improver_errors.get(key),
        ))
    return history


def load_history(log: Path) -> SessionHistory:
    """Read a log (see iter_session for what it tolerates); reader notices go to reader_notices."""
    notices: list[str] = []
    history = build_history(log, iter_session(log, on_notice=notices.append))
    history.reader_notices = list(dict.fromkeys(notices))
    return history


def summary_dict(history: SessionHistory) -> dict:
    """The history as plain data (what `stop-tui export --json` prints)."""
    run, finished, best = history.run, history.finished, history.best_approved()
    final = history.records[-1] if history.records else None
    return {
        "session": str(history.log),
        "run_id": history.header.run_id,
        "created": history.header.created,
        "task": run.task if run else None,
        "model": run.model if run else None,
        "config": run.config if run else None,
        "state": history.state,
        "reason": finished.reason if finished else None,
        "generations_decided": history.last_generation,
        "generation_in_progress": history.in_progress,
        "seed_sha": history.seed_sha,
        "final": _improver_ref(final),
        "best_approved": _improver_ref(best),
        "generations": [
            {**{k: v for k, v in asdict(record).items() if k != "usage"}, "duration_s": record.duration_s,
             "lm": asdict(record.usage)}
            for record in history.records
        ],
        "lm": asdict(history.usage),
        "lm_reused_requests": history.reused_requests,
        "resumptions": [
            {"ts": r.ts, "generation": r.generation, "attempt": r.attempt, "previous_state": r.previous_state,
             "previous_reason": r.previous_reason, "generations_done": r.generations_done,
             "lm_requests_in_flight": r.lm_requests_in_flight, "truncated_bytes": r.truncated_bytes}
            for r in history.resumptions
        ],
        "strategies_method": f"{METHOD} and AST pattern in the source; heuristic, not verified by running it",
        "strategies": [
            {"sha": sha, "labels": [s.label for s in labels], "evidence": {s.label: s.evidence for s in labels}}
            for sha, labels in history.strategies().items()
        ],
        "sandbox_violations": [  # what sandboxed programs tried and were refused, as trusted code saw it
            {k: v for k, v in v.to_dict().items() if k != "type"} for v in history.violations
        ],
        "engine_errors": history.engine_errors,
        "engine_notices": history.engine_notices,
        "reader_notices": history.reader_notices,
    }


def _improver_ref(record: GenerationRecord | None) -> dict | None:
    if record is None:
        return None
    return {"sha": record.current_sha, "generation": record.generation, "attempt": record.attempt,
            "val": record.current_val, "test": record.current_test}


def open_history(spec: str | Path, warn: Callable[[str], None]) -> SessionHistory:
    """The history of the session a user named (directory, log file, or name under the
    sessions root), telling warn each reader notice once. SessionError if there is none."""
    history = load_history(find_run_log(spec))
    for notice in history.reader_notices:
        warn(notice)
    return history
