import random
import time


def utility(algorithm_str: str) -> float:
    """Mean score of `algorithm(numbers) -> labels` on random number-partitioning problems.

    Each problem is a list of 10 to 30 random integers from 1 to 1000. The algorithm returns
    one label per number, each 0 or 1, splitting the numbers into two groups. With d the
    absolute difference between the two groups' sums, the score is 1 / (1 + d): 1.0 for a
    perfect split, 0.5 for a difference of 1, and so on. A wrong length or label, an
    exception, or more than 0.5 seconds per problem scores 0 on that problem.
    """
    namespace = {}
    try:
        exec(algorithm_str, namespace)
        algorithm = namespace["algorithm"]
    except Exception:
        return 0.0

    n_problems = 20
    total = 0.0
    for _ in range(n_problems):
        numbers = [random.randint(1, 1000) for _ in range(random.randint(10, 30))]
        started = time.time()
        try:
            labels = list(algorithm(numbers))
        except Exception:
            continue
        if time.time() - started > 0.5:
            continue
        if len(labels) != len(numbers) or any(label not in (0, 1) for label in labels):
            continue
        difference = abs(sum(n if label else -n for n, label in zip(numbers, labels)))
        total += 1.0 / (1.0 + difference)
    return total / n_problems
