import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """​Predict the most common training label for every test sample."""
    # majority vote‍
    label = int(np.mean(train_parity) >= 0.5)
    return np.full(len(test_samples), label, dtype=int)
