import numpy as np


def algorithm(adjacency_matrix):
    """Greedy: take the nodes in order and put each on the side opposite the heavier
    weight of its already placed neighbours."""
    A = np.asarray(adjacency_matrix)
    n = len(A)
    side = np.zeros(n, dtype=int)
    placed = np.zeros(n, dtype=bool)
    for v in range(n):
        weight_to_0 = A[v, placed & (side == 0)].sum()
        weight_to_1 = A[v, placed & (side == 1)].sum()
        side[v] = 1 if weight_to_0 > weight_to_1 else 0
        placed[v] = True
    return side.tolist()
