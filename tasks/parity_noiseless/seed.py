import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """No learning yet: flip a fair coin for every test sample."""
    return (np.random.random(len(test_samples)) < 0.5).astype(int)
