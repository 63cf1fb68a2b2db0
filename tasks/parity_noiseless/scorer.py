"""Hidden scorer for parity without noise (runs in the engine, never shown to the LM).

10-bit samples; each bit belongs to the secret subset with probability 0.3 (the subset may be
empty); 100 training samples and 20 test samples, all labelled exactly (no noise). The LM's
description shows 80 training samples, as in the reference; the hidden scorer gives 100.
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


def generate(seed: int):
    rng = np.random.default_rng(seed)
    # Samples first, then the subset: the same seed gives other problems than the LPN task's.
    samples = rng.integers(0, 2, size=(N_TRAIN + N_TEST, N_BITS))
    secret = rng.random(N_BITS) < P_IN_SUBSET
    parity = samples[:, secret].sum(axis=1) % 2
    args = [samples[:N_TRAIN].tolist(), parity[:N_TRAIN].tolist(), samples[N_TRAIN:].tolist()]
    return args, parity[N_TRAIN:].tolist()


def score(args, answer, output, elapsed_s: float) -> float:
    predictions = as_vector(output, len(answer), allowed={0, 1})
    if predictions is None:
        return 0.0
    return sum(p == a for p, a in zip(predictions, answer)) / len(answer)
