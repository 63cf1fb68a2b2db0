import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    # A column: (n, 1) is not the (n,) the scorer asks for.
    return np.zeros((len(test_samples), 1), dtype=int)
