"""Hidden scorer for learning parity with noise (runs in the engine, never shown to the LM).

10-bit samples; each bit belongs to the secret subset with probability 0.3; 100 training
samples whose labels are flipped with probability 0.05; 20 noise-free test samples.
Utility of one instance: accuracy on the test samples. Anything but a flat sequence of exactly
20 values in {0, 1} scores 0.
"""

from __future__ import annotations

import numpy as np

from stop_tui.scoring import as_vector

N_BITS = 10
N_TRAIN = 100
N_TEST = 20
P_IN_SUBSET = 0.3
NOISE = 0.05


def generate(seed: int):
    rng = np.random.default_rng(seed)
    secret = rng.random(N_BITS) < P_IN_SUBSET
    train = rng.integers(0, 2, size=(N_TRAIN, N_BITS))
    test = rng.integers(0, 2, size=(N_TEST, N_BITS))
    train_parity = (train[:, secret].sum(axis=1) + (rng.random(N_TRAIN) < NOISE)) % 2
    test_parity = test[:, secret].sum(axis=1) % 2
    return [train.tolist(), train_parity.tolist(), test.tolist()], test_parity.tolist()


def score(args, answer, output, elapsed_s: float) -> float:
    predictions = as_vector(output, len(answer), allowed={0, 1})
    if predictions is None:
        return 0.0
    return sum(p == a for p, a in zip(predictions, answer)) / len(answer)
