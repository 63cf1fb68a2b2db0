"""Known MaxCut solutions for the tests (trusted fixtures, still run only in the sandbox)."""

# Greedy start, then tabu search over single-node moves: a fixed 1500 moves (about 20 ms on
# a 200-node graph), with a 50 ms cap so a loaded machine cannot push it past the 0.1 s limit.
TABU = '''
import time
import numpy as np

def algorithm(adjacency_matrix, moves=1500, cap_s=0.05):
    started = time.perf_counter()
    A = np.asarray(adjacency_matrix, dtype=np.int64)
    n = len(A)
    x = np.ones(n, dtype=np.int64)          # +1 / -1 sides
    field = np.zeros(n, dtype=np.int64)     # field[v] = sum_j A[v, j] x[j]
    for v in range(n):
        x[v] = -1 if field[v] > 0 else 1
        field += x[v] * A[v]
    cut = int((A.sum() - x @ field) // 4)
    best_cut, best_x = cut, x.copy()
    free_at = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(1)
    for step in range(moves):
        if step % 100 == 0 and time.perf_counter() - started > cap_s:
            break
        gain = x * field                     # cut gained by moving v to the other side
        allowed = (free_at <= step) | (cut + gain > best_cut)
        v = int(np.argmax(np.where(allowed, gain, np.iinfo(np.int64).min)))
        cut += int(gain[v])
        x[v] = -x[v]
        field += 2 * x[v] * A[v]
        free_at[v] = step + 8 + int(rng.integers(0, max(2, n // 10)))
        if cut > best_cut:
            best_cut, best_x = cut, x.copy()
    return ((best_x + 1) // 2).tolist()
'''

# The greedy sweep of the seed, returning its partition in other valid spellings.
_GREEDY = '''
import numpy as np

def greedy(adjacency_matrix):
    A = np.asarray(adjacency_matrix)
    n = len(A)
    side = np.zeros(n, dtype=int)
    placed = np.zeros(n, dtype=bool)
    for v in range(n):
        to_0 = A[v, placed & (side == 0)].sum()
        to_1 = A[v, placed & (side == 1)].sum()
        side[v] = 1 if to_0 > to_1 else 0
        placed[v] = True
    return side
'''

AS_BOOLEANS = _GREEDY + '''
def algorithm(adjacency_matrix):
    return [bool(v) for v in greedy(adjacency_matrix)]
'''

AS_FLOATS = _GREEDY + '''
def algorithm(adjacency_matrix):
    return greedy(adjacency_matrix).astype(float)
'''

ALL_ONE_SIDE = '''
def algorithm(adjacency_matrix):
    return [0] * len(adjacency_matrix)
'''

# Each returns the greedy partition (or one as good) in a form the scorer must refuse.
MALFORMED = {
    "three labels": _GREEDY + "\ndef algorithm(a):\n    s = greedy(a)\n    s[0] = 2\n    return s\n",
    "letters": _GREEDY + "\ndef algorithm(a):\n    return ['ab'[v] for v in greedy(a)]\n",
    "signs": _GREEDY + "\ndef algorithm(a):\n    return (2 * greedy(a) - 1).tolist()\n",
    "column": _GREEDY + "\ndef algorithm(a):\n    return greedy(a)[:, None]\n",
    "row": _GREEDY + "\ndef algorithm(a):\n    return greedy(a)[None, :]\n",
    "one short": _GREEDY + "\ndef algorithm(a):\n    return greedy(a)[:-1]\n",
    "one long": _GREEDY + "\ndef algorithm(a):\n    return list(greedy(a)) + [0]\n",
    "nested": _GREEDY + "\ndef algorithm(a):\n    return [[int(v)] for v in greedy(a)]\n",
    "halves": _GREEDY + "\ndef algorithm(a):\n    return (greedy(a) + 0.5).tolist()\n",
    "string": _GREEDY + "\ndef algorithm(a):\n    return ''.join(map(str, greedy(a)))\n",
    "two node lists": _GREEDY + (
        "\ndef algorithm(a):\n    s = greedy(a)\n"
        "    return [[i for i in range(len(s)) if s[i] == 0], [i for i in range(len(s)) if s[i] == 1]]\n"),
    "dict": _GREEDY + "\ndef algorithm(a):\n    return {str(i): int(v) for i, v in enumerate(greedy(a))}\n",
    "none": "def algorithm(a):\n    return None\n",
}

SLEEPS_PAST_LIMIT = _GREEDY + '''
import time

def algorithm(adjacency_matrix):
    side = greedy(adjacency_matrix)
    time.sleep(2.0)
    return side.tolist()
'''
