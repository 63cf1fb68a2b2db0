import time

import numpy as np


def utility(algorithm_str: str) -> float:
    """Mean test accuracy of `algorithm` on fresh noise-free parity problems.

    Each problem hides a random subset of 10 bits (each bit is in it with probability 0.3);
    the subset may be empty. The label of a sample is the parity (XOR) of its bits in the
    hidden subset, with no noise: every training label is exact. The algorithm sees 80
    labelled training samples and must return one prediction (0 or 1) for each of the 20
    test samples, within 2 seconds per problem; anything else scores 0 on that problem.
    """
    namespace = {}
    try:
        exec(algorithm_str, namespace)
        algorithm = namespace["algorithm"]
    except Exception:
        return 0.0

    n_problems, n_bits, n_train, n_test = 20, 10, 80, 20
    total = 0.0
    for _ in range(n_problems):
        subset = np.random.rand(n_bits) < 0.3
        samples = np.random.randint(0, 2, (n_train + n_test, n_bits))
        parity = samples[:, subset].sum(axis=1) % 2
        train_samples, test_samples = samples[:n_train], samples[n_train:]
        train_parity, test_parity = parity[:n_train], parity[n_train:]

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
