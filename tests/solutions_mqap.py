"""Known MQAP solutions for the tests (trusted fixtures, still run only in the sandbox)."""

# A strong 2-swap local search: best-improvement descent from 160 random starts, 32 side by
# side; the cost change of every swap of every start comes from a few matrix products (only
# rows and columns r, s change). About 60 ms; a 0.2 s cap keeps a loaded machine well inside
# the 0.5 s limit.
MULTISTART_DESCENT = '''
import time
import numpy as np

def algorithm(F, D, P, batches=5, batch=32, cap_s=0.2):
    started = time.perf_counter()
    F, D, P = (np.asarray(m, dtype=float) for m in (F, D, P))
    n = len(F)
    idx = np.arange(n)
    f = np.diagonal(F)

    def cost(a):
        return (F * D[np.ix_(a, a)]).sum() - 0.5 * P[idx, a].sum()

    def swap_deltas(perms):
        X = D[perms[:, :, None], perms[:, None, :]]          # X[b, i, j] = D[a_i, a_j]
        XT = X.transpose(0, 2, 1)
        # G[r, s] = sum_k F[k, r] X[k, s] + F[r, k] X[s, k]
        G = F.T @ X + F @ XT
        g = np.diagonal(G, axis1=1, axis2=2)
        # all k, rows and columns r and s: (F[k,r]-F[k,s])(X[k,s]-X[k,r]) + (F[r,k]-F[s,k])(X[s,k]-X[r,k])
        total = G + G.transpose(0, 2, 1) - g[:, :, None] - g[:, None, :]
        x = np.diagonal(X, axis1=1, axis2=2)
        xr, xs = x[:, :, None], x[:, None, :]
        fr, fs = f[:, None], f[None, :]
        # the k = r and k = s terms above, replaced by the true change of the 2x2 block
        wrong = ((fr - F) * (X - xr) + (F.T - fs) * (xs - XT)
                 + (fr - F.T) * (XT - xr) + (F - fs) * (xs - X))
        block = (fr - fs) * (xs - xr) + (F - F.T) * (XT - X)
        Q = P[:, perms].transpose(1, 0, 2)                   # Q[b, r, s] = P[r, a_s]
        q = np.diagonal(Q, axis1=1, axis2=2)
        prefs = Q + Q.transpose(0, 2, 1) - q[:, :, None] - q[:, None, :]
        out = total - wrong + block - 0.5 * prefs
        out[:, idx, idx] = 0.0
        return out.reshape(len(perms), -1)

    rng = np.random.default_rng(0)
    best, best_cost = None, np.inf
    rows = np.arange(batch)
    for _ in range(batches):
        if best is not None and time.perf_counter() - started > cap_s:
            break
        perms = np.argsort(rng.random((batch, n)), axis=1)
        while True:
            deltas = swap_deltas(perms)
            k = deltas.argmin(axis=1)
            moving = deltas[rows, k] < -1e-12
            if not moving.any():
                break
            b = rows[moving]
            r, s = np.divmod(k[moving], n)
            perms[b, r], perms[b, s] = perms[b, s], perms[b, r]
        for p in perms:
            c = cost(p)
            if c < best_cost:
                best, best_cost = p.copy(), c
    return best.tolist()
'''

IDENTITY = '''
def algorithm(F, D, P):
    return list(range(len(F)))
'''

# The seed's annealing, returning its assignment as floats (integral): still a permutation.
_ANNEAL = '''
import math
import random
import numpy as np

def anneal(F, D, P):
    n = len(F)
    def cost(a):
        return (F * D[np.ix_(a, a)]).sum() - 0.5 * P[np.arange(n), a].sum()
    a = np.random.permutation(n)
    current = cost(a)
    best, best_cost = a.copy(), current
    temperature = 1.0
    for _ in range(2000):
        i, j = random.sample(range(n), 2)
        a[i], a[j] = a[j], a[i]
        new = cost(a)
        if new < current or random.random() < math.exp((current - new) / temperature):
            current = new
            if new < best_cost:
                best, best_cost = a.copy(), new
        else:
            a[i], a[j] = a[j], a[i]
        temperature *= 0.997
    return best
'''

AS_FLOATS = _ANNEAL + '''
def algorithm(F, D, P):
    return anneal(F, D, P).astype(float)
'''

# Each returns the annealed assignment (or a close relative) in a form the scorer must refuse.
MALFORMED = {
    "one-indexed": _ANNEAL + "\ndef algorithm(F, D, P):\n    return (anneal(F, D, P) + 1).tolist()\n",
    "duplicates": "def algorithm(F, D, P):\n    return [0] * len(F)\n",
    "extra entry": _ANNEAL + "\ndef algorithm(F, D, P):\n    a = anneal(F, D, P).tolist()\n    return a + [a[0]]\n",
    "one short": _ANNEAL + "\ndef algorithm(F, D, P):\n    return anneal(F, D, P)[:-1]\n",
    "column": _ANNEAL + "\ndef algorithm(F, D, P):\n    return anneal(F, D, P)[:, None]\n",
    "permutation matrix": _ANNEAL + "\ndef algorithm(F, D, P):\n    return np.eye(len(F), dtype=int)[anneal(F, D, P)]\n",
    "nested": _ANNEAL + "\ndef algorithm(F, D, P):\n    return [[int(v)] for v in anneal(F, D, P)]\n",
    "halves": _ANNEAL + "\ndef algorithm(F, D, P):\n    return (anneal(F, D, P) + 0.5).tolist()\n",
    "negative": _ANNEAL + "\ndef algorithm(F, D, P):\n    return (anneal(F, D, P) - len(F)).tolist()\n",
    "strings": _ANNEAL + "\ndef algorithm(F, D, P):\n    return [str(v) for v in anneal(F, D, P)]\n",
    "dict": _ANNEAL + "\ndef algorithm(F, D, P):\n    return {str(i): int(v) for i, v in enumerate(anneal(F, D, P))}\n",
    "booleans": "def algorithm(F, D, P):\n    return [i % 2 == 1 for i in range(len(F))]\n",
    "none": "def algorithm(F, D, P):\n    return None\n",
}

SLEEPS_PAST_LIMIT = _ANNEAL + '''
import time

def algorithm(F, D, P):
    a = anneal(F, D, P)
    time.sleep(4.0)
    return a.tolist()
'''
