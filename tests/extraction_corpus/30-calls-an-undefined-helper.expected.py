import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    subset = fit_subset(train_samples, train_parity)
    return (test_samples @ subset) % 2
