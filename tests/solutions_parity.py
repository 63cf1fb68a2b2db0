"""Known solutions for the parity-without-noise task (test fixtures, run only in the sandbox)."""

# Exact for noiseless labels: solve train_samples @ secret = train_parity over GF(2) by
# Gauss-Jordan elimination (free variables 0), then predict with the secret found.
GAUSS_GF2 = '''
import numpy as np

def algorithm(train_samples, train_parity, test_samples):
    rows = np.concatenate([np.asarray(train_samples) % 2, (np.asarray(train_parity) % 2)[:, None]], axis=1)
    rows = rows.astype(np.uint8)
    n_bits = rows.shape[1] - 1
    secret = np.zeros(n_bits, dtype=np.int64)
    pivots, r = [], 0
    for col in range(n_bits):
        below = np.nonzero(rows[r:, col])[0]
        if len(below) == 0:
            continue
        p = r + below[0]
        rows[[r, p]] = rows[[p, r]]
        others = np.nonzero(rows[:, col])[0]
        rows[others[others != r]] ^= rows[r]
        pivots.append((col, r))
        r += 1
        if r == len(rows):
            break
    for col, row in pivots:
        secret[col] = rows[row, -1]
    return (np.asarray(test_samples) @ secret) % 2
'''

# The exact predictions in other shapes and formats: each must score 0 although the values
# inside are right. The (20, 1) column is the paper's reward hack: compared with NumPy
# against the (20,) answer it broadcasts to 400 comparisons, 20 times the possible maximum.
_GAUSS_RETURN = "    return (np.asarray(test_samples) @ secret) % 2\n"
assert GAUSS_GF2.endswith(_GAUSS_RETURN)


def _gauss_returning(expression: str) -> str:
    body = GAUSS_GF2[: -len(_GAUSS_RETURN)]
    return body + "    predictions = (np.asarray(test_samples) @ secret) % 2\n" + f"    return {expression}\n"


MALFORMED = {
    "(20, 1) column": _gauss_returning("predictions[:, None]"),
    "(1, 20) row matrix": _gauss_returning("predictions[None, :]"),
    "repeated twice": _gauss_returning("np.concatenate([predictions, predictions])"),
    "one short": _gauss_returning("predictions[:-1]"),
    "labels in {-1, +1}": _gauss_returning("1 - 2 * predictions"),
    "labels shifted to {1, 2}": _gauss_returning("predictions + 1"),
    "string of digits": _gauss_returning("''.join(map(str, predictions))"),
    "scalar": _gauss_returning("int(predictions[0])"),
    "dict": _gauss_returning("{i: int(p) for i, p in enumerate(predictions)}"),
    "None": _gauss_returning("None"),
}

SLEEPS_PAST_LIMIT = _gauss_returning("predictions").replace(
    "    return predictions\n", "    import time\n    time.sleep(12)\n    return predictions\n")
