"""Hidden scorer for weighted MaxCut (runs in the engine, never shown to the LM).

An instance draws n uniformly from 50..200 nodes; each pair of nodes is joined with
probability 0.4 by an edge of integer weight 1..10 (uniform). The adjacency matrix is
symmetric with a zero diagonal and reaches the program as an integer NumPy array.

Output format: a partition as a flat list of exactly n labels, each 0 or 1 (booleans and
0.0/1.0 accepted); label i is the side of node i. Putting every node on one side is a valid
partition that cuts nothing. Anything else (another length, a third label, labels such as
'a'/'b' or -1/+1, nested lists, a (n, 1) column) scores 0 for that instance.

Utility of one instance: how far the cut goes from a random partition towards an upper bound,

    u = (cut - W/2) / (B - W/2),   clamped to [0, 1],

where W is the total edge weight, W/2 is the expected cut of a uniformly random partition, and
B = W/2 + n * |lambda_min(A)| / 4 is the spectral upper bound on the maximum cut: for signs
x in {-1, +1}^n, cut = W/2 - x'Ax/4 and x'Ax >= n * lambda_min(A). So u <= 1 always, and 1
is out of reach: on dense random graphs B - W/2 is about sigma * n^1.5 / 2 (sigma: spread of
the entries) while an optimal cut exceeds W/2 by about 0.76 of that (the Parisi constant),
so the best cuts score about 0.76 here (a 20 ms tabu search reaches 0.76 on val and test; the
greedy seed 0.55; a random partition about 0.03). A partition no better than random scores 0.

Why not the reference's "mean cut weight / 10": that number grows with the graph (hundreds
of units for these sizes), so it is no percentage and mixes graph size with solution
quality; this ratio is scale-free, provably within [0, 1], and a random partition, the
greedy seed and a strong local search land far apart on it.
"""

from __future__ import annotations

import numpy as np

from stop_tui.scoring import as_vector

MIN_NODES, MAX_NODES = 50, 200
EDGE_PROBABILITY = 0.4
MAX_WEIGHT = 10


def random_graph(rng: np.random.Generator, n: int) -> np.ndarray:
    """Symmetric (n, n) int64 adjacency matrix, zero diagonal, weights 1..MAX_WEIGHT on edges."""
    edges = rng.random((n, n)) < EDGE_PROBABILITY
    weights = rng.integers(1, MAX_WEIGHT + 1, size=(n, n))
    upper = np.triu(np.where(edges, weights, 0), 1)
    return upper + upper.T


def cut_weight(matrix: np.ndarray, sides: np.ndarray) -> int:
    """Total weight of the edges whose ends have different sides (sides: 0/1 per node)."""
    x = sides.astype(np.int64)
    return int(x @ matrix @ (1 - x))


def spectral_bound(matrix: np.ndarray) -> float:
    """B = W/2 + n |lambda_min| / 4, an upper bound on the maximum cut."""
    total = matrix.sum() / 2
    lowest = float(np.linalg.eigvalsh(matrix.astype(np.float64))[0])
    return float(total / 2 - len(matrix) * min(lowest, 0.0) / 4)


def answer_for(matrix: np.ndarray) -> dict:
    """What score() needs about a graph: an engine-side copy, its total weight and its bound."""
    return {
        "n": len(matrix),
        "matrix": matrix.astype(np.int16),  # weights 0..10 fit; converted back when scoring
        "total": int(matrix.sum()) // 2,
        "bound": spectral_bound(matrix),
    }


def generate(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(MIN_NODES, MAX_NODES + 1))
    matrix = random_graph(rng, n)
    return [matrix.tolist()], answer_for(matrix)


def utility_of_cut(cut: float, total: float, bound: float) -> float:
    gap = bound - total / 2
    if gap <= 0:
        return 0.0
    return min(1.0, max(0.0, (cut - total / 2) / gap))


def score(args, answer, output, elapsed_s: float) -> float:
    sides = as_vector(output, answer["n"], allowed={0, 1})
    if sides is None:
        return 0.0
    cut = cut_weight(answer["matrix"].astype(np.int64), np.asarray(sides, dtype=np.int64))
    return utility_of_cut(cut, answer["total"], answer["bound"])
