import random
import time


def planted_3sat(n: int) -> list[list[int]]:
    """A random satisfiable formula: 4n clauses of 3 distinct variables out of 1..n.

    A literal is a nonzero int: v means "variable v is true", -v means "variable v is false".
    A hidden assignment is drawn first, and only clauses it satisfies are kept, so every
    formula has a solution. Every variable 1..n occurs somewhere, so n is the largest one.
    """
    while True:
        hidden = [None] + [random.random() < 0.5 for _ in range(n)]
        formula = []
        while len(formula) < 4 * n:
            clause = [v if random.random() < 0.5 else -v for v in random.sample(range(1, n + 1), 3)]
            if any(hidden[abs(lit)] == (lit > 0) for lit in clause):
                formula.append(clause)
        if {abs(lit) for clause in formula for lit in clause} == set(range(1, n + 1)):
            return formula


def satisfies(formula: list[list[int]], assignment) -> bool:
    """assignment must be a list of exactly n values, each 0/1 or False/True:
    assignment[i] is the value of variable i + 1 (there is no unused slot 0)."""
    n = max(abs(lit) for clause in formula for lit in clause)
    if not isinstance(assignment, list) or len(assignment) != n:
        return False
    if not all(isinstance(v, (bool, int)) and v in (0, 1) for v in assignment):
        return False
    return all(any(bool(assignment[abs(lit) - 1]) == (lit > 0) for lit in clause) for clause in formula)


def utility(algorithm_str: str) -> float:
    """Fraction of random planted 3-SAT formulas that `algorithm(formula)` solves.

    Each test draws n from 5 to 50 variables and a formula of 4n clauses (see planted_3sat).
    The algorithm returns an assignment in the format of `satisfies`. A test counts as solved
    only if the assignment satisfies every clause within 0.1 seconds; an exception, a
    timeout or a malformed assignment counts as unsolved.
    """
    namespace = {}
    try:
        exec(algorithm_str, namespace)
        algorithm = namespace["algorithm"]
    except Exception:
        return 0.0

    n_tests = 30
    solved = 0
    for _ in range(n_tests):
        n = random.randint(5, 50)
        formula = planted_3sat(n)
        started = time.time()
        try:
            assignment = algorithm([list(clause) for clause in formula])
        except Exception:
            continue
        if time.time() - started > 0.1:
            continue
        solved += satisfies(formula, assignment)
    return solved / n_tests
