"""Known solutions for the string grid distance task (test fixtures, run only in the sandbox)."""

# Exact: grid_dist(s, t) = changes(t) + sum over i of ([s_i != t_i] + [s_i != s_{i-1}]), so s
# must make the part that depends on it equal to dist - changes(t). A forward pass records, for
# each prefix length and last letter of s, which values of that part are reachable (as bits of
# an int); a backward pass spells out one s that reaches the target exactly.
EXACT_DP = '''
def algorithm(t, dist):
    n = len(t)
    target = dist - sum(a != b for a, b in zip(t, t[1:]))
    letters = "AB"
    reach = [[0, 0] for _ in range(n)]
    for c in (0, 1):
        reach[0][c] = 1 << (letters[c] != t[0])
    for i in range(1, n):
        for c in (0, 1):
            before = reach[i - 1][c] | (reach[i - 1][1 - c] << 1)
            reach[i][c] = before << (letters[c] != t[i])
    if target < 0 or not any(reach[n - 1][c] >> target & 1 for c in (0, 1)):
        return t  # unreachable target: never happens for the task's instances
    c = 0 if reach[n - 1][0] >> target & 1 else 1
    out = [c]
    for i in range(n - 1, 0, -1):
        target -= letters[c] != t[i]
        if reach[i - 1][c] >> target & 1:
            pass
        else:
            target -= 1
            c = 1 - c
        out.append(c)
    return "".join(letters[c] for c in reversed(out))
'''

SEED_LIKE = '''
def algorithm(t, dist):
    return t
'''

# The exact answer in other formats: each must score 0 although the letters inside are right.
_EXACT_RETURN = '    return "".join(letters[c] for c in reversed(out))\n'
assert EXACT_DP.endswith(_EXACT_RETURN)


def _exact_returning(expression: str, imports: str = "") -> str:
    body = EXACT_DP[: -len(_EXACT_RETURN)]
    return imports + body + '    s = "".join(letters[c] for c in reversed(out))\n' + f"    return {expression}\n"


MALFORMED = {
    "one letter longer": _exact_returning('s + "A"'),
    "one letter shorter": _exact_returning("s[:-1]"),
    "lower case": _exact_returning("s.lower()"),
    "letters 0/1": _exact_returning('s.replace("A", "0").replace("B", "1")'),
    "list of letters": _exact_returning("list(s)"),
    "nested list": _exact_returning("[list(s)]"),
    "NumPy column of letters": _exact_returning("np.array(list(s))[:, None]", "import numpy as np\n"),
    "bytes-like list of codes": _exact_returning("[ord(c) for c in s]"),
    "the distance instead": _exact_returning("dist"),
    "None": _exact_returning("None"),
}

SLEEPS_PAST_LIMIT = _exact_returning("s", "import time\n").replace("    return s\n", "    time.sleep(2.0)\n    return s\n")
