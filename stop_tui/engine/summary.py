"""Derived views of a run, computed from its events only (live or read back from the log)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .events import (
    CandidateScored, Event, GenerationDecided, GenerationProposed, LMRequestFinished,
    LMRequestStarted, RunFinished,
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


def generation_table(events: Iterable[Event]) -> list[GenerationRow]:
    """One row per generation: what was proposed, the decision, and the improver kept."""
    rows: list[GenerationRow] = []
    proposals: dict[int, GenerationProposed] = {}
    request_generation: dict[str, int] = {}
    calls: dict[int, int] = {}
    tokens: dict[int, int] = {}
    seed: CandidateScored | None = None
    decisions: list[GenerationDecided] = []
    for event in events:
        if isinstance(event, CandidateScored) and event.generation == 0 and seed is None:
            seed = event
        elif isinstance(event, LMRequestStarted):
            request_generation[event.request_id] = event.generation
        elif isinstance(event, LMRequestFinished):
            g = request_generation.get(event.request_id, 0)
            calls[g] = calls.get(g, 0) + 1
            tokens[g] = tokens.get(g, 0) + event.completion_tokens
        elif isinstance(event, GenerationProposed):
            proposals[event.generation] = event
        elif isinstance(event, GenerationDecided):
            decisions.append(event)
    if seed is not None:
        rows.append(GenerationRow(
            generation=0, proposed_sha=seed.program_sha, proposed_val=seed.val, proposed_test=seed.test,
            accepted=True, decided_by="rule", reason="seed improver", current_sha=seed.program_sha,
            current_val=seed.val, current_test=seed.test, lm_calls=calls.get(0, 0), completion_tokens=tokens.get(0, 0),
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
            current_test=decision.current_test, lm_calls=calls.get(g, 0), completion_tokens=tokens.get(g, 0),
        ))
    return rows


def final_state(events: Iterable[Event]) -> RunFinished | None:
    finished = None
    for event in events:
        if isinstance(event, RunFinished):
            finished = event
    return finished
