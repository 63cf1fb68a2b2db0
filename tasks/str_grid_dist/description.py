import random
import time


def grid_dist(s: str, t: str) -> int:
    """Mismatched positions between s and t, plus adjacent changes along s, plus along t.

    Example: grid_dist("AAB", "ABB") = 1 (position 1) + 1 ("AB" in s) + 1 ("AB" in t) = 3.
    """
    if not (isinstance(s, str) and len(s) == len(t) and set(s) <= {"A", "B"}):
        raise ValueError("s must be a str of len(t) over the letters 'A' and 'B'")
    mismatches = sum(a != b for a, b in zip(s, t))
    return mismatches + sum(a != b for a, b in zip(s, s[1:])) + sum(a != b for a, b in zip(t, t[1:]))


def utility(algorithm_str: str) -> float:
    """Mean score of `algorithm(t, dist) -> s` on random strings (between 0 and 1).

    t is a random string of 1 to 30 letters 'A'/'B'; dist is grid_dist(s_hidden, t) for another
    random string s_hidden of the same length, so some answer is always exact. The algorithm
    returns a str s of len(t) over 'A'/'B'. Score per test: 1.0 if grid_dist(s, t) == dist,
    otherwise 0.5 - abs(grid_dist(s, t) - dist) / (6 * len(t)). A wrong type, length or letter,
    an exception, or more than 0.1 seconds scores 0.
    """
    namespace = {}
    try:
        exec(algorithm_str, namespace)
        algorithm = namespace["algorithm"]
    except Exception:
        return 0.0

    n_tests = 50
    total = 0.0
    for _ in range(n_tests):
        length = random.randint(1, 30)
        t = "".join(random.choice("AB") for _ in range(length))
        s_hidden = "".join(random.choice("AB") for _ in range(length))
        dist = grid_dist(s_hidden, t)

        started = time.time()
        try:
            s = algorithm(t, dist)
            d = grid_dist(s, t)
        except Exception:
            continue
        if time.time() - started > 0.1:
            continue
        total += 1.0 if d == dist else max(0.0, 0.5 - abs(d - dist) / (6 * length))
    return total / n_tests
