"""Hidden scorer for string grid distance (runs in the engine, never shown to the LM).

An instance draws a length uniformly from 1..30 and two strings s and t of that length over
{A, B}, every letter a fair coin; it gives the program t and dist = grid_dist(s, t), and keeps
s to itself, so a string at exactly that distance always exists. Utility of one instance:
1.0 if the program's string is at exactly `dist`, otherwise 0.5 - |d - dist| / (6 * len(t))
(at most 0.5, never below 0). The output must be a str of exactly len(t) characters, each
"A" or "B" (upper case): a list of letters, a string of another length or other letters
scores 0, as in the reference, whose grid_dist rejects them. The 0.1 s limit per instance is
enforced by the engine.
"""

from __future__ import annotations

import numpy as np

from stop_tui.scoring import as_string, clamp

MAX_LENGTH = 30
LETTERS = "AB"


def changes(x: str) -> int:
    """How many adjacent pairs of x differ."""
    return sum(a != b for a, b in zip(x, x[1:]))


def grid_dist(s: str, t: str) -> int:
    """Hamming(s, t) + changes along s + changes along t; s and t of equal length."""
    if len(s) != len(t):
        raise ValueError("grid_dist needs strings of equal length")
    return sum(a != b for a, b in zip(s, t)) + changes(s) + changes(t)


def generate(seed: int):
    rng = np.random.default_rng(seed)
    length = int(rng.integers(1, MAX_LENGTH + 1))
    letters = rng.integers(0, 2, size=(2, length))
    s, t = ("".join(LETTERS[b] for b in row) for row in letters)
    dist = grid_dist(s, t)
    return [t, dist], {"dist": dist, "hidden_s": s}


def score(args, answer, output, elapsed_s: float) -> float:
    t, dist = args
    s = as_string(output, len(t), LETTERS)
    if s is None:
        return 0.0
    d = grid_dist(s, t)
    if d == dist:
        return 1.0
    return clamp(0.5 - abs(d - dist) / (6 * len(t)))
