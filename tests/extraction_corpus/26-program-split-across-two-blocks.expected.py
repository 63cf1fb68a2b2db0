import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """Fit the subset on the training samples (helper above), then predict the test parities."""
    train_samples = np.asarray(train_samples, dtype=int)
    test_samples = np.asarray(test_samples, dtype=int)
    subset = fit_subset(train_samples, np.asarray(train_parity, dtype=int))
    return (test_samples @ subset) % 2
