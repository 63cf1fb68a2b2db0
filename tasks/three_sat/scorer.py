"""Hidden scorer for planted random 3-SAT (runs in the engine, never shown to the LM).

An instance draws n uniformly from 5..50 and m = 4n clauses over variables 1..n. A hidden
assignment is drawn first (fair coins); each clause takes 3 distinct variables at random and
one of the 7 sign patterns that the hidden assignment satisfies, each equally likely (the same
distribution as drawing all 8 patterns and rejecting the one it falsifies). So every formula
is satisfiable. Every variable 1..n occurs in some clause (the rare formula where one does not
is drawn again), so n is the largest variable in the formula.

Output format: a list of exactly n values, each 0 or 1 (booleans and 0.0/1.0 accepted), where
entry i is the value of variable i + 1. Anything else (n + 1 entries with an unused slot 0, a
dict, a string, nested lists, other values) scores 0 for that instance. Utility of one
instance: 1.0 if the assignment satisfies every clause, else 0. The 0.1 s limit per instance
is enforced by the engine.
"""

from __future__ import annotations

import numpy as np

from stop_tui.scoring import as_vector

MIN_VARS, MAX_VARS = 5, 50
CLAUSES_PER_VAR = 4


def planted_formula(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(clauses as an (m, 3) array of signed literals, hidden assignment as n booleans)."""
    m = CLAUSES_PER_VAR * n
    hidden = rng.random(n) < 0.5
    while True:
        # 3 distinct variables per clause: the first 3 of a random permutation of 0..n-1.
        variables = np.argsort(rng.random((m, n)), axis=1)[:, :3]
        if len(np.unique(variables)) == n:
            break
    # Bit k of a pattern in 1..7 says whether literal k agrees with the hidden assignment;
    # pattern 0 (all three false) is the one excluded.
    pattern = rng.integers(1, 8, size=m)
    agrees = ((pattern[:, None] >> np.arange(3)) & 1).astype(bool)
    positive = agrees == hidden[variables]  # a literal is true iff it agrees
    literals = np.where(positive, variables + 1, -(variables + 1))
    return literals, hidden


def satisfies(literals: np.ndarray, values: np.ndarray) -> bool:
    """Whether the assignment (values[i] for variable i + 1) makes every clause true."""
    truth = values[np.abs(literals) - 1] == (literals > 0)
    return bool(truth.any(axis=1).all())


def generate(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(MIN_VARS, MAX_VARS + 1))
    literals, hidden = planted_formula(rng, n)
    return [literals.tolist()], {"n": n, "hidden": hidden.astype(int).tolist()}


def score(args, answer, output, elapsed_s: float) -> float:
    (formula,) = args
    values = as_vector(output, answer["n"], allowed={0, 1})
    if values is None:
        return 0.0
    return 1.0 if satisfies(np.asarray(formula), np.asarray(values, dtype=bool)) else 0.0
