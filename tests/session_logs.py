"""Small session logs written with the real event classes and SessionWriter, for tests of the
commands that read logs: every score, decision, token and cost is chosen, so a test knows
what a report or an export must say."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from stop_tui.engine.config import RunConfig
from stop_tui.engine.evaluation import program_sha
from stop_tui.engine.events import (
    CandidateScored, Event, GenerationDecided, GenerationProposed, GenerationStarted, ImproverRunFinished,
    LMRequestFinished, LMRequestStarted, ProgramRecorded, RunFinished, RunStarted,
)
from stop_tui.engine.session import LOG_NAME, SessionWriter

SEED_SOURCE = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Best of n: one batch of samples, the best by utility."""
    responses = language_model.batch_prompt("expert", ["improve"] * 4, temperature=0.7)
    return max(extract_code(responses), key=utility)
'''


def improver(name: str, body: str) -> str:
    return f'''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """{name}"""
{body}'''


BEAM = improver("Beam search over programs.", '''    beam = [initial_solution]
    for _ in range(language_model.budget):
        responses = language_model.batch_prompt("expert", beam * 2, temperature=0.8)
        beam = sorted(extract_code(responses) + beam, key=utility, reverse=True)[:2]
    return beam[0]
''')
ANNEALING = improver("Simulated annealing with LM-proposed neighbours.", '''    current = initial_solution
    for step in range(language_model.budget):
        t = 1.0 / (step + 1)
        candidates = extract_code(language_model.batch_prompt("expert", [current] * 3, temperature=0.5 + t))
        current = max(candidates + [current], key=utility)
    return current
''')
WORSE = improver("Asks once and returns the first answer.", '''    return extract_code(language_model.prompt("expert", initial_solution, n_responses=1)[0])
''')


@dataclass
class Step:
    """One decided attempt of a generation, with the LM requests made for it."""

    generation: int
    source: str | None  # the proposal; None: the improver failed (or, with unchanged, returned itself)
    val: float = 0.0
    test: float = 0.0
    action: str = ""  # default: what the rule says (approve when val beats the current one)
    decided_by: str = "rule"
    attempt: int = 1
    requests: list[tuple[int, int, float | None]] = field(default_factory=list)  # (prompt, completion, cost)
    unchanged: bool = False  # the improver returned itself unchanged (no error, nothing proposed)


@dataclass
class Scenario:
    seed_val: float
    seed_test: float
    steps: list[Step]
    seed_requests: list[tuple[int, int, float | None]] = field(default_factory=list)
    accept: str = "improved"
    finished: str | None = "finished"  # None: no RunFinished (a killed run)
    task: str = "lpn"
    model: str = "fake-model"


def scenario_events(s: Scenario, t0: float = 1_700_000_000.0) -> list[Event]:
    """The events of a run that goes as the scenario says, in the engine's order."""
    clock = iter(range(10**6))

    def ts() -> float:
        return t0 + next(clock)

    numbers = iter(range(1, 10**6))
    events: list[Event] = []

    def requests(generation: int, spec: list[tuple[int, int, float | None]]) -> None:
        for prompt, completion, cost in spec:
            rid = f"r{next(numbers):05d}"
            events.append(LMRequestStarted(ts=ts(), request_id=rid, purpose="improve-improver", model=s.model, n=1,
                                           temperature=0.7, max_tokens=100, expertise="e", messages=["m"],
                                           context=f"g{generation}/step", generation=generation))
            events.append(LMRequestFinished(ts=ts(), request_id=rid, responses=["r"], prompt_tokens=prompt,
                                            completion_tokens=completion, cost_usd=cost, latency_s=0.1))

    seed_sha = program_sha(SEED_SOURCE)
    config = RunConfig(model=s.model, iterations=max([st.generation for st in s.steps], default=0),
                       accept=s.accept).to_dict()
    events.append(ProgramRecorded(ts=ts(), sha=seed_sha, kind="improver", source=SEED_SOURCE))
    events.append(RunStarted(ts=ts(), run_id="testrun", task=s.task, model=s.model, config=config,
                             seed_improver_sha=seed_sha, sandbox_isolation=["no-network"]))
    requests(0, s.seed_requests)
    events.append(CandidateScored(ts=ts(), generation=0, candidate_id="g0-seed", program_sha=seed_sha,
                                  val=s.seed_val, test=s.seed_test, trials=2, failed_trials=0))
    current = (seed_sha, s.seed_val, s.seed_test)
    for step in s.steps:
        g = step.generation
        events.append(GenerationStarted(ts=ts(), generation=g, improver_sha=current[0], attempt=step.attempt))
        requests(g, step.requests)
        if step.unchanged:  # as the engine logs it: decided by the rule, the user is not asked
            events.append(ImproverRunFinished(ts=ts(), generation=g, improver_sha=current[0], returned_sha=current[0],
                                              lm_calls=len(step.requests), utility_calls=1, duration_s=1.0, error=None))
            events.append(GenerationDecided(ts=ts(), generation=g, accepted=False, decided_by="rule",
                                            reason="the improver returned itself unchanged", current_sha=current[0],
                                            current_val=current[1], current_test=current[2], attempt=step.attempt,
                                            action="reject"))
            continue
        if step.source is None:
            events.append(ImproverRunFinished(ts=ts(), generation=g, improver_sha=current[0], returned_sha=None,
                                              lm_calls=len(step.requests), utility_calls=0, duration_s=1.0,
                                              error="Traceback ...\nZeroDivisionError: division by zero"))
            events.append(GenerationDecided(ts=ts(), generation=g, accepted=False, decided_by="rule",
                                            reason="the improver failed: ZeroDivisionError: division by zero",
                                            current_sha=current[0], current_val=current[1], current_test=current[2],
                                            attempt=step.attempt, action="reject"))
            continue
        sha = program_sha(step.source)
        events.append(ProgramRecorded(ts=ts(), sha=sha, kind="improver", source=step.source))
        events.append(CandidateScored(ts=ts(), generation=g, candidate_id=f"g{g}-c1", program_sha=sha,
                                      val=step.val, test=step.test, trials=2, failed_trials=0))
        events.append(ImproverRunFinished(ts=ts(), generation=g, improver_sha=current[0], returned_sha=sha,
                                          lm_calls=len(step.requests), utility_calls=1, duration_s=1.0, error=None))
        events.append(GenerationProposed(ts=ts(), generation=g, candidate_id=f"g{g}-c1", program_sha=sha,
                                         val=step.val, test=step.test, current_sha=current[0], current_val=current[1],
                                         current_test=current[2], attempt=step.attempt))
        action = step.action or ("approve" if step.val > current[1] else "reject")
        accepted = action == "approve"
        if accepted:
            current = (sha, step.val, step.test)
        events.append(GenerationDecided(
            ts=ts(), generation=g, accepted=accepted, decided_by=step.decided_by,
            reason=f"{action} by {step.decided_by}", current_sha=current[0], current_val=current[1],
            current_test=current[2], attempt=step.attempt, action=action))
    if s.finished:
        events.append(RunFinished(ts=ts(), run_id="testrun", state=s.finished, reason=f"run {s.finished}",
                                  current_improver_sha=current[0], generations=max([st.generation for st in s.steps], default=0)))
    return events


async def _write(path: Path, events: list[Event], created_run_id: str) -> None:
    writer = SessionWriter(path)
    await writer.open(created_run_id)
    for event in events:
        await writer.write(event)
    await writer.close()


def write_session(directory: Path, events: list[Event], run_id: str = "testrun") -> Path:
    """A session directory holding a log of these events; returns the log's path."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / LOG_NAME
    asyncio.run(_write(log, events, run_id))
    return log


# A run with everything a report must handle: an approval, a rule rejection, a failed
# improver, a user rejection then a retried attempt the user approved, priced and unpriced calls.
FULL = Scenario(
    seed_val=0.40, seed_test=0.38, seed_requests=[(1000, 200, 0.01)],
    steps=[
        Step(1, BEAM, val=0.62, test=0.60, requests=[(5000, 900, 0.05), (4000, 700, 0.04)]),
        Step(2, WORSE, val=0.30, test=0.35, requests=[(3000, 300, 0.02)]),
        Step(3, None, requests=[(2000, 100, None)]),
        Step(4, WORSE, val=0.70, test=0.20, action="retry", decided_by="user", requests=[(1500, 150, 0.015)]),
        Step(4, ANNEALING, val=0.75, test=0.71, action="approve", decided_by="user", attempt=2,
             requests=[(2500, 500, 0.03), (2500, 400, None)]),
    ],
)
