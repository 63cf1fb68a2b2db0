"""Derived views of a run, computed from its events only (live or read back from the log)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .events import (
    CandidateScored, Event, GenerationDecided, GenerationProposed, LMRequestFinished,
    LMRequestRefused, LMRequestStarted, RunFinished, RunResumed,
)


@dataclass(frozen=True)
class GenerationRow:
    generation: int
    proposed_sha: str | None
    proposed_val: float | None
    proposed_test: float | None
    accepted: bool
    decided_by: str
    reason: str
    current_sha: str
    current_val: float
    current_test: float
    lm_calls: int
    completion_tokens: int
    prompt_tokens: int = 0
    cost_usd: float | None = 0.0  # None: the model's price is unknown

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class LMUsage:
    """Language-model use, summed from LMRequestFinished events."""

    requests: int = 0
    failed_requests: int = 0  # requests with at least one failed sample
    refused_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    known_cost_usd: float = 0.0
    cost_unknown: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_usd(self) -> float | None:
        return None if self.cost_unknown else self.known_cost_usd

    def add(self, event: LMRequestFinished) -> None:
        self.requests += 1
        self.failed_requests += 1 if event.error else 0
        self.prompt_tokens += event.prompt_tokens
        self.completion_tokens += event.completion_tokens
        if event.cost_usd is None:
            self.cost_unknown = self.cost_unknown or bool(event.prompt_tokens or event.completion_tokens)
        else:
            self.known_cost_usd += event.cost_usd


def lm_usage(events: Iterable[Event]) -> LMUsage:
    """The run's language-model use so far."""
    usage = LMUsage()
    for event in events:
        if isinstance(event, LMRequestFinished):
            usage.add(event)
        elif isinstance(event, LMRequestRefused):
            usage.refused_requests += 1
    return usage


def generation_table(events: Iterable[Event]) -> list[GenerationRow]:
    """One row per generation: what was proposed, the decision, and the improver kept."""
    rows: list[GenerationRow] = []
    proposals: dict[int, GenerationProposed] = {}
    request_generation: dict[str, int] = {}
    usage: dict[int, LMUsage] = {}
    seed: CandidateScored | None = None
    decisions: list[GenerationDecided] = []
    for event in events:
        if isinstance(event, CandidateScored) and event.generation == 0 and seed is None:
            seed = event
        elif isinstance(event, LMRequestStarted):
            request_generation[event.request_id] = event.generation
        elif isinstance(event, LMRequestFinished):
            usage.setdefault(request_generation.get(event.request_id, 0), LMUsage()).add(event)
        elif isinstance(event, GenerationProposed):
            proposals[event.generation] = event
        elif isinstance(event, GenerationDecided):
            decisions.append(event)
    if seed is not None:
        rows.append(GenerationRow(
            generation=0, proposed_sha=seed.program_sha, proposed_val=seed.val, proposed_test=seed.test,
            accepted=True, decided_by="rule", reason="seed improver", current_sha=seed.program_sha,
            current_val=seed.val, current_test=seed.test, **_usage_fields(usage.get(0)),
        ))
    for decision in decisions:
        g = decision.generation
        proposal = proposals.get(g)
        rows.append(GenerationRow(
            generation=g,
            proposed_sha=proposal.program_sha if proposal else None,
            proposed_val=proposal.val if proposal else None,
            proposed_test=proposal.test if proposal else None,
            accepted=decision.accepted, decided_by=decision.decided_by, reason=decision.reason,
            current_sha=decision.current_sha, current_val=decision.current_val,
            current_test=decision.current_test, **_usage_fields(usage.get(g)),
        ))
    return rows


def _usage_fields(usage: LMUsage | None) -> dict:
    usage = usage or LMUsage()
    return {"lm_calls": usage.requests, "completion_tokens": usage.completion_tokens,
            "prompt_tokens": usage.prompt_tokens, "cost_usd": usage.cost_usd}


def final_state(events: Iterable[Event]) -> RunFinished | None:
    """The run's end: the last RunFinished, unless the run was resumed after it (None: no end yet)."""
    finished = None
    for event in events:
        if isinstance(event, RunFinished):
            finished = event
        elif isinstance(event, RunResumed):
            finished = None
    return finished
