"""Options of a STOP run, with the paper's defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ACCEPT_IMPROVED = "improved"  # keep the current improver unless a candidate scores higher on val
ACCEPT_ANY = "any"  # the reference: take any proposal of non-zero meta-utility


@dataclass(frozen=True)
class RunConfig:
    task: str = "lpn"
    model: str = "scripted"
    iterations: int = 3
    lm_calls: int = 4  # per improver run
    samples_per_call: int = 6
    utility_budget: int = 25  # downstream utility calls per improver run (n*m+1)
    meta_utility_budget: int = 25  # meta-utility calls per improvement step
    meta_tests: int = 5  # improver runs averaged by the meta-utility
    temperature: float = 0.7
    max_tokens: int = 1024
    accept: str = ACCEPT_IMPROVED
    improver_timeout_s: float = 600.0  # the improvement step (current improver on itself)
    trial_timeout_s: float = 300.0  # one meta-utility trial (candidate improver on a task seed)
    max_concurrency: int = 16  # concurrent LM requests
    improver_slots: int = 16  # concurrent meta-utility trials
    seed: int = 0  # the scripted backend's draws

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
