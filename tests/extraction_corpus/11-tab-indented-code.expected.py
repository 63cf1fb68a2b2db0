import itertools

import numpy as np


def algorithm(train_samples, train_parity, test_samples):
	bits = train_samples.shape[1]
	best, best_errors = None, None
	for subset in itertools.product((0, 1), repeat=bits):
		subset = np.array(subset)
		errors = int(((train_samples @ subset) % 2 != train_parity).sum())
		if best_errors is None or errors < best_errors:
			best, best_errors = subset, errors
	return (test_samples @ best) % 2
