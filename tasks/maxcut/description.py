import time

import numpy as np


def utility(algorithm_str: str) -> float:
    """Mean normalised cut of `algorithm` on fresh random weighted graphs (higher is better).

    Each graph has n nodes, n drawn from 50..200; each pair of nodes is joined with
    probability 0.4 by an edge of integer weight 1..10. `algorithm(adjacency_matrix)` gets the
    symmetric integer matrix (zero diagonal) as a NumPy array and must return a partition:
    n labels, each 0 or 1 (label i is the side of node i), within 0.1 seconds per graph.
    Anything else scores 0 on that graph.

    A graph's score is how far the cut goes from a random partition (expected cut W/2, W the
    total edge weight) towards an upper bound on any cut (W/2 + n * |smallest eigenvalue| / 4),
    clipped to [0, 1]. The bound is never reached: the best cuts score about 0.75.
    """
    namespace = {}
    try:
        exec(algorithm_str, namespace)
        algorithm = namespace["algorithm"]
    except Exception:
        return 0.0

    n_graphs = 20
    total = 0.0
    for _ in range(n_graphs):
        n = np.random.randint(50, 201)
        weights = np.random.randint(1, 11, (n, n)) * (np.random.rand(n, n) < 0.4)
        adjacency_matrix = np.triu(weights, 1) + np.triu(weights, 1).T

        started = time.time()
        try:
            partition = algorithm(adjacency_matrix)
        except Exception:
            continue
        if time.time() - started > 0.1:
            continue
        partition = np.asarray(partition)
        if partition.shape != (n,) or not np.isin(partition, (0, 1)).all():
            continue  # wrong shape or labels: no credit, never broadcasting
        x = partition.astype(int)
        cut = x @ adjacency_matrix @ (1 - x)
        total_weight = adjacency_matrix.sum() / 2
        bound = total_weight / 2 - n * np.linalg.eigvalsh(adjacency_matrix)[0] / 4
        total += min(1.0, max(0.0, (cut - total_weight / 2) / (bound - total_weight / 2)))
    return total / n_graphs
