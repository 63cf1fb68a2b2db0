import time

import numpy as np


def utility(algorithm_str: str) -> float:
    """Mean test accuracy of `algorithm` on fresh learning-parity-with-noise problems.

    Each problem hides a random subset of 10 bits (each bit is in it with probability 0.3).
    The label of a sample is the parity (XOR) of its bits in the hidden subset. Training
    labels are flipped with probability 0.05; test labels are exact. The algorithm must
    return one prediction (0 or 1) per test sample, within 2 seconds per problem;
    anything else scores 0 on that problem.
    """
    namespace = {}
    try:
        exec(algorithm_str, namespace)
        algorithm = namespace["algorithm"]
    except Exception:
        return 0.0

    n_problems, n_bits, n_train, n_test = 20, 10, 100, 20
    total = 0.0
    for _ in range(n_problems):
        subset = np.random.rand(n_bits) < 0.3
        train_samples = np.random.randint(0, 2, (n_train, n_bits))
        test_samples = np.random.randint(0, 2, (n_test, n_bits))
        flips = np.random.rand(n_train) < 0.05
        train_parity = (train_samples[:, subset].sum(axis=1) + flips) % 2
        test_parity = test_samples[:, subset].sum(axis=1) % 2

        started = time.time()
        try:
            predictions = algorithm(train_samples, train_parity, test_samples)
        except Exception:
            continue
        if time.time() - started > 2.0:
            continue
        predictions = np.asarray(predictions)
        if predictions.shape != (n_test,) or not np.isin(predictions, (0, 1)).all():
            continue  # wrong shape or labels: no credit, never broadcasting
        total += float((predictions == test_parity).mean())
    return total / n_problems
