"""Known solutions for the planted 3-SAT task (test fixtures, run only in the sandbox)."""

# WalkSAT (Selman, Kautz and Cohen's variant) with incremental bookkeeping: how many true
# literals each clause has, and the list of false clauses with each one's position in it, so a
# flip costs only the clauses its variable occurs in. A move picks a false clause at random;
# flips a variable whose flip breaks no clause if there is one, else a random variable of the
# clause with probability 0.4, else the one that breaks the fewest clauses.
WALKSAT = '''
import random


def algorithm(formula, max_flips=20000, noise=0.4):
    n = max(abs(lit) for clause in formula for lit in clause)
    value = [False] + [random.random() < 0.5 for _ in range(n)]
    occurs = [[] for _ in range(n + 1)]
    for index, clause in enumerate(formula):
        for lit in clause:
            occurs[abs(lit)].append((index, lit > 0))
    n_true = [sum(value[abs(lit)] == (lit > 0) for lit in clause) for clause in formula]
    false, where = [], [-1] * len(formula)
    for index, count in enumerate(n_true):
        if count == 0:
            where[index] = len(false)
            false.append(index)

    def breaks(var):
        # clauses whose only true literal is var's: they turn false if var flips
        return sum(1 for index, positive in occurs[var] if n_true[index] == 1 and value[var] == positive)

    def flip(var):
        value[var] = not value[var]
        for index, positive in occurs[var]:
            if value[var] == positive:
                n_true[index] += 1
                if n_true[index] == 1:  # it was false: remove it (swap with the last)
                    last = false.pop()
                    if last != index:
                        false[where[index]] = last
                        where[last] = where[index]
                    where[index] = -1
            else:
                n_true[index] -= 1
                if n_true[index] == 0:
                    where[index] = len(false)
                    false.append(index)

    for _ in range(max_flips):
        if not false:
            break
        clause = formula[random.choice(false)]
        scored = [(breaks(abs(lit)), abs(lit)) for lit in clause]
        best = min(scored)
        if best[0] > 0 and random.random() < noise:
            var = abs(random.choice(clause))
        else:
            var = random.choice([v for b, v in scored if b == best[0]])
        flip(var)
    return [int(v) for v in value[1:]]
'''

# DPLL: unit propagation, then branch on a variable of a shortest open clause, trying first
# the value that satisfies more open clauses. Complete: it finds a solution if there is one.
DPLL = '''
import sys


def algorithm(formula):
    n = max(abs(lit) for clause in formula for lit in clause)
    sys.setrecursionlimit(max(1000, 10 * n))

    def simplify(clauses, lit):
        out = []
        for clause in clauses:
            if lit in clause:
                continue
            if -lit in clause:
                clause = [x for x in clause if x != -lit]
                if not clause:
                    return None
            out.append(clause)
        return out

    def solve(clauses, chosen):
        while True:  # unit propagation
            unit = next((c[0] for c in clauses if len(c) == 1), None)
            if unit is None:
                break
            chosen = chosen + [unit]
            clauses = simplify(clauses, unit)
            if clauses is None:
                return None
        if not clauses:
            return chosen
        shortest = min(clauses, key=len)
        var = abs(shortest[0])
        pos = sum(var in c for c in clauses)
        neg = sum(-var in c for c in clauses)
        for lit in ((var, -var) if pos >= neg else (-var, var)):
            reduced = simplify(clauses, lit)
            if reduced is not None:
                found = solve(reduced, chosen + [lit])
                if found is not None:
                    return found
        return None

    chosen = solve([list(c) for c in formula], []) or []
    value = [0] * n
    for lit in chosen:
        value[abs(lit) - 1] = int(lit > 0)
    return value
'''

ALL_TRUE = '''
def algorithm(formula):
    n = max(abs(lit) for clause in formula for lit in clause)
    return [1] * n
'''

# The same assignments DPLL finds, in other formats. As booleans they are valid (and solve the
# same formulas); every other format must score 0 although the assignment inside is right.
_DPLL_RETURN = "    return value\n"
assert DPLL.endswith(_DPLL_RETURN)


def _dpll_returning(expression: str, imports: str = "") -> str:
    return imports + DPLL[: -len(_DPLL_RETURN)] + f"    return {expression}\n"


AS_BOOLEANS = _dpll_returning("[bool(v) for v in value]")
AS_FLOATS = _dpll_returning("[float(v) for v in value]")

MALFORMED = {
    "n + 1 values with slot 0 (the reference's format)": _dpll_returning("[0] + value"),
    "twice as long": _dpll_returning("value + value"),
    "values in {-1, +1}": _dpll_returning("[2 * v - 1 for v in value]"),
    "signed literals": _dpll_returning("[i + 1 if v else -(i + 1) for i, v in enumerate(value)]"),
    "dict by variable": _dpll_returning("{i + 1: v for i, v in enumerate(value)}"),
    "string of digits": _dpll_returning("''.join(map(str, value))"),
    "nested one-element lists": _dpll_returning("[[v] for v in value]"),
    "NumPy column": _dpll_returning("np.array(value)[:, None]", "import numpy as np\n"),
    "NumPy row matrix": _dpll_returning("np.array([value])", "import numpy as np\n"),
    "scalar": _dpll_returning("1"),
    "None": _dpll_returning("None"),
}

SLEEPS_PAST_LIMIT = _dpll_returning("value", "import time\n").replace(
    "    return value\n", "    time.sleep(2.0)\n    return value\n")
