import numpy as np

FENCE = "```"
DOC = "answers come in ```python blocks; this one is not a fence: ```"


def algorithm(train_samples, train_parity, test_samples):
    assert FENCE * 2 == "``````" and DOC.count(FENCE) == 2
    bits = train_samples.shape[1]
    best, best_errors = np.zeros(bits, dtype=int), None
    for mask in range(1 << bits):
        subset = np.array([(mask >> i) & 1 for i in range(bits)])
        errors = int(((train_samples @ subset) % 2 != train_parity).sum())
        if best_errors is None or errors < best_errors:
            best, best_errors = subset, errors
    return (test_samples @ best) % 2
