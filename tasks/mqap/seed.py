import math
import random

import numpy as np


def algorithm(F, D, P):
    """Simulated annealing: swap the locations of two random facilities, keep the swap if it
    lowers the cost or, with probability exp(-increase / temperature), if it raises it."""
    n = len(F)
    lambda_value = 0.5

    def cost(assignment):
        return (F * D[np.ix_(assignment, assignment)]).sum() - lambda_value * P[np.arange(n), assignment].sum()

    assignment = np.random.permutation(n)
    current = cost(assignment)
    best, best_cost = assignment.copy(), current
    temperature = 1.0
    for _ in range(2000):
        i, j = random.sample(range(n), 2)
        assignment[i], assignment[j] = assignment[j], assignment[i]
        new = cost(assignment)
        if new < current or random.random() < math.exp((current - new) / temperature):
            current = new
            if new < best_cost:
                best, best_cost = assignment.copy(), new
        else:
            assignment[i], assignment[j] = assignment[j], assignment[i]
        temperature *= 0.997
    return best.tolist()
