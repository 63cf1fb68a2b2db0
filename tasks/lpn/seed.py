import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """Guess: one random bit per test sample."""
    return np.random.randint(0, 2, len(test_samples))
