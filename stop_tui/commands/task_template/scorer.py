"""Hidden scorer (runs in the engine, never shown to the language model).

generate(seed) makes one instance from its seed alone, so a split is the same every time.
score() judges a solution's output, which arrives as plain data (lists, numbers, strings),
never as the solution's own objects. Validate it before scoring: anything malformed scores
the lowest utility (0), it does not raise. The time limit is enforced by the engine.
"""

from __future__ import annotations

import random

from stop_tui.scoring import as_vector

MIN_LENGTH, MAX_LENGTH = 10, 30
MAX_NUMBER = 1000


def generate(seed: int):
    """(args, answer): args are the solution's arguments as plain JSON data; answer is what
    score() needs besides them (nothing here) and never leaves the engine."""
    rng = random.Random(seed)
    numbers = [rng.randint(1, MAX_NUMBER) for _ in range(rng.randint(MIN_LENGTH, MAX_LENGTH))]
    return [numbers], None


def score(args, answer, output, elapsed_s: float) -> float:
    """1 / (1 + |sum of group 1 - sum of group 0|); 0 for anything but one 0/1 label per number."""
    (numbers,) = args
    labels = as_vector(output, len(numbers), allowed={0, 1})
    if labels is None:
        return 0.0
    difference = abs(sum(n if label else -n for n, label in zip(numbers, labels)))
    return 1.0 / (1.0 + difference)
