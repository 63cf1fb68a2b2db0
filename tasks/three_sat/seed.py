import random


def algorithm(formula):
    """A WalkSAT-style random walk (only its random move, no greedy choice): start from coin
    flips; while some clause is false, pick a false clause at random and flip one of its
    variables at random. Gives up after 50 flips.
    Returns n values (0 or 1), entry i for variable i + 1."""
    n = max(abs(literal) for clause in formula for literal in clause)
    values = [random.random() < 0.5 for _ in range(n + 1)]  # values[0] is unused
    for _ in range(50):
        false_clauses = [c for c in formula if not any(values[abs(lit)] == (lit > 0) for lit in c)]
        if not false_clauses:
            break
        variable = abs(random.choice(random.choice(false_clauses)))
        values[variable] = not values[variable]
    return [int(v) for v in values[1:]]
