"""Budgets of one sandboxed program run, counted and enforced in the engine.

The child holds only a proxy; nothing it does changes these numbers (the paper saw an improver
try to build itself a language model with a larger budget).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


class BudgetExceeded(Exception):
    def __init__(self, resource: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.resource, self.limit = resource, limit


@dataclass
class LMBudget:
    calls: int
    max_samples_per_call: int
    used_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, samples: int) -> None:
        """Reserve one call of `samples` samples, or raise BudgetExceeded."""
        with self._lock:
            if samples > self.max_samples_per_call:
                raise BudgetExceeded(
                    "lm_samples", self.max_samples_per_call,
                    f"a call may ask for at most {self.max_samples_per_call} responses; it asked for {samples}",
                )
            if samples < 1:
                raise BudgetExceeded("lm_samples", self.max_samples_per_call, "a call must ask for at least one response")
            if self.used_calls >= self.calls:
                raise BudgetExceeded(
                    "lm_calls", self.calls,
                    f"language model budget exhausted: {self.calls} calls allowed and all were used",
                )
            self.used_calls += 1


@dataclass
class UtilityBudget:
    calls: int
    uses: int = 0

    def take(self) -> bool:
        """Count one use; False once the budget is spent (the utility then returns 0)."""
        if self.uses >= self.calls:
            return False
        self.uses += 1
        return True
