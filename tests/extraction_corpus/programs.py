"""The programs the corpus answers carry: lpn solutions and improvers in the shapes the STOP paper
reports. build.py wraps each in the way a model writes an answer; the program itself is what
extraction must give back. Improvers quote programs in their prompts with fence lines at the
start of a line inside f-strings, as models write them."""

# --- lpn solutions -----------------------------------------------------------------------------

GAUSS_GF2 = '''import numpy as np


def solve_gf2(a, b):
    """Solve a @ x = b over GF(2) by Gaussian elimination; None if the system is inconsistent."""
    a = a.copy() % 2
    b = b.copy() % 2
    rows, cols = a.shape
    pivots = []
    r = 0
    for c in range(cols):
        hits = np.nonzero(a[r:, c])[0]
        if len(hits) == 0:
            continue
        p = r + hits[0]
        a[[r, p]] = a[[p, r]]
        b[[r, p]] = b[[p, r]]
        for i in range(rows):
            if i != r and a[i, c]:
                a[i] ^= a[r]
                b[i] ^= b[r]
        pivots.append(c)
        r += 1
        if r == rows:
            break
    if b[r:].any():
        return None
    x = np.zeros(cols, dtype=int)
    for i, c in enumerate(pivots):
        x[c] = b[i]
    return x


def algorithm(train_samples, train_parity, test_samples):
    """Noise handling: solve many small random subsystems, keep the subset that fits most labels."""
    train_samples = np.asarray(train_samples, dtype=int)
    train_parity = np.asarray(train_parity, dtype=int)
    n, bits = train_samples.shape
    rng = np.random.default_rng(0)
    best, best_errors = np.zeros(bits, dtype=int), n + 1
    for _ in range(60):
        rows = rng.choice(n, size=min(n, bits + 3), replace=False)
        x = solve_gf2(train_samples[rows], train_parity[rows])
        if x is None:
            continue
        errors = int(((train_samples @ x) % 2 != train_parity).sum())
        if errors < best_errors:
            best, best_errors = x, errors
        if best_errors <= n // 10:  # about the noise rate: this is the subset
            break
    return (np.asarray(test_samples, dtype=int) @ best) % 2
'''

BRUTE_FORCE = '''import itertools

import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    # With only 10 bits there are 1024 candidate subsets: score them all against the noisy labels.
    bits = train_samples.shape[1]
    subsets = np.array(list(itertools.product((0, 1), repeat=bits)))
    disagreements = ((train_samples @ subsets.T) % 2 != train_parity[:, None]).sum(axis=0)
    subset = subsets[int(np.argmin(disagreements))]
    return (test_samples @ subset) % 2
'''

# The same search with tab indentation (some models answer with tabs).
BRUTE_FORCE_TABS = (
    "import itertools\n\nimport numpy as np\n\n\n"
    "def algorithm(train_samples, train_parity, test_samples):\n"
    "\tbits = train_samples.shape[1]\n"
    "\tbest, best_errors = None, None\n"
    "\tfor subset in itertools.product((0, 1), repeat=bits):\n"
    "\t\tsubset = np.array(subset)\n"
    "\t\terrors = int(((train_samples @ subset) % 2 != train_parity).sum())\n"
    "\t\tif best_errors is None or errors < best_errors:\n"
    "\t\t\tbest, best_errors = subset, errors\n"
    "\treturn (test_samples @ best) % 2\n"
)

MAJORITY = '''import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """Predict the most common training label for every test sample."""
    label = int(np.mean(train_parity) >= 0.5)
    return np.full(len(test_samples), label, dtype=int)
'''

# A solution that mentions ``` inside strings, in the middle of lines: code, not fences.
FENCE_IN_STRING = '''import numpy as np

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
'''

# Broken solutions.
BROADCAST_COLUMN = '''import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    # A column: (n, 1) is not the (n,) the scorer asks for.
    return np.zeros((len(test_samples), 1), dtype=int)
'''

UNDEFINED_HELPER = '''import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    subset = fit_subset(train_samples, train_parity)
    return (test_samples @ subset) % 2
'''

# A program split across two blocks by the model: the helper first, then the main function.
SPLIT_HELPER = '''import numpy as np


def fit_subset(train_samples, train_parity):
    bits = train_samples.shape[1]
    masks = np.array([[(m >> i) & 1 for i in range(bits)] for m in range(1 << bits)])
    errors = ((train_samples @ masks.T) % 2 != train_parity[:, None]).sum(axis=0)
    return masks[int(np.argmin(errors))]
'''

SPLIT_MAIN = '''import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """Fit the subset on the training samples (helper above), then predict the test parities."""
    train_samples = np.asarray(train_samples, dtype=int)
    test_samples = np.asarray(test_samples, dtype=int)
    subset = fit_subset(train_samples, np.asarray(train_parity, dtype=int))
    return (test_samples @ subset) % 2
'''

# --- improvers -----------------------------------------------------------------------------------

BEAM_SEARCH = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Beam search: keep the best few programs, ask for improvements of each, for a few rounds."""
    expertise = ("You are an expert computer science researcher and programmer, "
                 "especially skilled at optimizing algorithms.")
    beam_width, rounds = 2, 2
    scored = {initial_solution: utility(initial_solution)}
    beam = [initial_solution]
    for _ in range(rounds):
        messages = []
        for program in beam:
            messages.append(f"""Improve the following solution.
```python
{program}
```

You will be evaluated based on this score function:
```python
{utility.str}
```

Return only the improved solution, in a single ```python block.""")
        responses = language_model.batch_prompt(expertise, messages, temperature=0.8)
        for candidate in extract_code(responses):
            if candidate and candidate not in scored:
                scored[candidate] = utility(candidate)
        beam = sorted(scored, key=scored.get, reverse=True)[:beam_width]
    return beam[0]
'''

GENETIC = '''import random

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """A small genetic algorithm: the model mutates and crosses over; utility selects."""
    expertise = "You are an expert programmer. You improve algorithms by careful, tested changes."
    rng = random.Random(0)
    population = [(utility(initial_solution), initial_solution)]
    for generation in range(2):
        parents = [p for _, p in sorted(population, reverse=True)[:2]]
        messages = [f"""Mutate this program into a better one:
```python
{rng.choice(parents)}
```
Score function:
```python
{utility.str}
```""" for _ in range(2)]
        if len(parents) > 1:
            messages.append(f"""Combine the best ideas of these two programs into one:
```python
{parents[0]}
```
```python
{parents[1]}
```""")
        for child in extract_code(language_model.batch_prompt(expertise, messages, temperature=1.0)):
            if child:
                population.append((utility(child), child))
    return max(population)[1]
'''

ANNEALING = '''import math
import random

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Simulated annealing over programs: a worse program is accepted with a cooling probability."""
    expertise = "You are an expert in optimization and in writing fast, correct Python."
    rng = random.Random(1)
    current = best = initial_solution
    current_score = best_score = utility(initial_solution)
    steps = min(4, language_model.budget)
    for step in range(steps):
        temperature = 1.0 - step / steps
        message = f"""Make one focused change that improves this program:
```python
{current}
```
The change is judged by:
```python
{utility.str}
```
"""
        answers = language_model.batch_prompt(expertise, [message], temperature=0.4 + temperature)
        candidates = [c for c in extract_code(answers) if c]
        if not candidates:
            continue
        candidate = candidates[0]
        score = utility(candidate)
        if score > current_score or rng.random() < math.exp((score - current_score) / max(temperature, 1e-3)):
            current, current_score = candidate, score
        if score > best_score:
            best, best_score = candidate, score
    return best
'''

DECOMPOSE = '''import ast

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Decompose the program into its functions, improve each part alone, reassemble, compare."""
    expertise = "You are a careful software engineer who improves code one part at a time."
    tree = ast.parse(initial_solution)
    header = [ast.get_source_segment(initial_solution, node) for node in tree.body
              if isinstance(node, (ast.Import, ast.ImportFrom))]
    parts = [ast.get_source_segment(initial_solution, node) for node in tree.body
             if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    messages = []
    for part in parts:
        messages.append(f"""This function is one part of a larger program:
```python
{initial_solution}
```
Rewrite only this part so that the whole program scores higher:
```python
{part}
```
Scoring:
```python
{utility.str}
```
""")
    improved = [code or part for code, part in zip(extract_code(language_model.batch_prompt(expertise, messages)), parts)]
    assembled = "\\n".join(header) + "\\n\\n\\n" + "\\n\\n\\n".join(improved) + "\\n"
    candidates = [initial_solution, assembled]
    return max(candidates, key=utility)
'''

BANDIT = '''import math

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """A UCB bandit over prompt styles: the model budget goes to the style that pays off."""
    expertise = "You are an expert computer scientist."
    styles = [
        "Make the algorithm more accurate.",
        "Make the algorithm robust to label noise.",
        "Rewrite the algorithm from scratch with a better idea.",
    ]
    pulls = [0] * len(styles)
    rewards = [0.0] * len(styles)
    best, best_score = initial_solution, utility(initial_solution)
    for t in range(1, min(len(styles) + 2, language_model.budget) + 1):
        def ucb(arm):
            if pulls[arm] == 0:
                return float("inf")
            return rewards[arm] / pulls[arm] + math.sqrt(2 * math.log(t) / pulls[arm])

        arm = max(range(len(styles)), key=ucb)
        message = f"""{styles[arm]}
```python
{best}
```
The score:
```python
{utility.str}
```
Answer with the full program."""
        programs = [p for p in extract_code(language_model.prompt(expertise, message, n_responses=2)) if p]
        gain = 0.0
        for program in programs:
            score = utility(program)
            gain = max(gain, score - best_score)
            if score > best_score:
                best, best_score = program, score
        pulls[arm] += 1
        rewards[arm] += gain
    return best
'''

TEMPERATURE_SWEEP = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Sample at several temperatures: low ones refine, high ones explore. Keep the best."""
    expertise = "You are an expert algorithm designer."
    message = f"""Improve this solution:
```python
{initial_solution}
```
Utility:
```python
{utility.str}
```
Explain briefly, then give the complete program."""
    candidates = [initial_solution]
    for temperature in (0.2, 0.6, 1.0):
        answers = language_model.batch_prompt(expertise, [message] * 2, temperature=temperature)
        candidates += [c for c in extract_code(answers) if c]
    scores = {c: utility(c) for c in dict.fromkeys(candidates)}
    return max(scores, key=scores.get)
'''

SELF_CONSISTENCY = '''from collections import Counter

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Self-consistency: sample several answers, vote for the programs they agree on, check them."""
    expertise = "You are an expert programmer."
    message = f"""Improve the program below. Answer with the complete program only.
```python
{initial_solution}
```
It is scored by:
```python
{utility.str}
```"""
    programs = [p for p in extract_code(language_model.batch_prompt(expertise, [message] * 4, temperature=0.7)) if p]
    if not programs:
        return initial_solution
    votes = Counter("\\n".join(line.rstrip() for line in p.strip().splitlines()) + "\\n" for p in programs)
    ranked = [p for p, _ in votes.most_common(2)]
    return max(ranked + [initial_solution], key=utility)
'''

THREADED_UTILITY = '''from concurrent.futures import ThreadPoolExecutor

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Score the candidates from a thread pool: utility calls are slow; the budget is what counts."""
    expertise = "You are an expert computer science researcher."
    message = f"""Propose a better version of this program.
```python
{initial_solution}
```
```python
{utility.str}
```"""
    n = min(language_model.max_responses_per_call, utility.budget - 1)
    answers = language_model.batch_prompt(expertise, [message] * n)
    candidates = [initial_solution] + [c for c in extract_code(answers) if c]
    with ThreadPoolExecutor(max_workers=4) as pool:
        scores = list(pool.map(utility, candidates))
    return candidates[scores.index(max(scores))]
'''

SINGLE_PROMPT = '''def improve_algorithm(initial_solution, utility, language_model):
    """One careful answer at a low temperature, kept only if it beats the input."""
    from helpers import extract_code

    expertise = "You are a meticulous engineer."
    request = f"""Find the weakest part of this program and fix it.
```python
{initial_solution}
```
Score:
```python
{utility.str}
```
"""
    answers = language_model.prompt(expertise, request, n_responses=1, temperature=0.2)
    candidate = extract_code(answers[0])
    if candidate and utility(candidate) > utility(initial_solution):
        return candidate
    return initial_solution
'''

DISTINCT_MESSAGES = '''def improve_algorithm(initial_solution, utility, language_model):
    """Different instructions in one batch: one call, several directions."""
    from helpers import extract_code

    expertise = "You are an expert programmer."
    directions = ["Make it faster.", "Make it more accurate.", "Handle noisy labels.", "Simplify it."]
    messages = [f"""{direction}
```python
{initial_solution}
```
Judged by:
```python
{utility.str}
```""" for direction in directions]
    responses = language_model.batch_prompt(expertise, messages, temperature=0.7)
    candidates = [c for c in extract_code(responses) if c] + [initial_solution]
    return max(candidates, key=utility)
'''

BUDGET_AWARE = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Spend exactly the budgets given: ask while model calls remain, score while utility calls remain."""
    expertise = "You are an expert researcher."
    best, best_score = initial_solution, utility(initial_solution)
    calls = 0
    while calls < language_model.budget and utility.uses < utility.budget:
        message = f"""Current best program (score {best_score:.3f}):
```python
{best}
```
Scoring function:
```python
{utility.str}
```
Write a better one."""
        n = min(language_model.max_responses_per_call, utility.budget - utility.uses)
        responses = language_model.batch_prompt(expertise, [message] * n, temperature=0.9)
        calls += 1
        for candidate in extract_code(responses):
            if not candidate or utility.uses >= utility.budget:
                continue
            score = utility(candidate)
            if score > best_score:
                best, best_score = candidate, score
    return best
'''

RETURNS_INPUT = '''def improve_algorithm(initial_solution, utility, language_model):
    """Asking costs budget and the program already works: return it as it is."""
    message = f"""Is there anything worth improving here?
```python
{initial_solution}
```"""
    del message
    return initial_solution
'''

RETURNS_LIST = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    message = f"""Improve:
```python
{initial_solution}
```"""
    responses = language_model.batch_prompt("You are an expert.", [message] * 3)
    return extract_code(responses)
'''

RETURNS_NONE = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Keeps a candidate only if it is far better; forgets the input otherwise."""
    message = f"""Improve:
```python
{initial_solution}
```
Score:
```python
{utility.str}
```"""
    baseline = utility(initial_solution)
    best = None
    for candidate in extract_code(language_model.batch_prompt("You are an expert.", [message] * 2)):
        if candidate and utility(candidate) > baseline + 1.0:
            best = candidate
    return best
'''

RAISES = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    message = f"""Improve:
```python
{initial_solution}
```"""
    candidates = [c for c in extract_code(language_model.batch_prompt("You are an expert.", [message])) if c]
    improved = [c for c in candidates if utility(c) > 2.0]
    if not improved:
        raise ValueError("no candidate improved on the input")
    return improved[0]
'''

RECURSIVE = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model, depth=0):
    """Improve, then improve the improvement: recursion with a depth limit."""
    message = f"""Improve this program:
```python
{initial_solution}
```
Score:
```python
{utility.str}
```"""
    answers = language_model.batch_prompt("You are an expert.", [message] * 2, temperature=0.7)
    candidates = [initial_solution] + [c for c in extract_code(answers) if c]
    improved = max(candidates, key=utility)
    if depth < 1 and improved != initial_solution:
        return improve_algorithm(improved, utility, language_model, depth + 1)
    return improved
'''

# Parses answers itself, with ``` in strings in the middle of lines.
OWN_PARSER = '''def improve_algorithm(initial_solution, utility, language_model):
    """Parses answers itself: the text between ```python and the next ``` ."""
    expertise = "You are an expert programmer."
    message = "Improve this program; answer with one ```python block.\\n```python\\n" + initial_solution + "\\n```"
    candidates = [initial_solution]
    for response in language_model.batch_prompt(expertise, [message] * 4):
        if "```python" in response:
            code = response.split("```python", 1)[1].split("```", 1)[0].strip("\\n") + "\\n"
            candidates.append(code)
    return max(candidates, key=utility)
'''

# Its prompt quotes programs between *bare* fences: nesting alone cannot read it.
BARE_INNER_FENCES = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """The seed improver's idea, with bare fences in its prompt."""
    expertise = "You are an expert computer science researcher and programmer."
    message = f"""Here is a solution:
```
{initial_solution}
```
It is scored by:
```
{utility.str}
```
Improve it and answer with the whole program."""
    responses = language_model.batch_prompt(expertise, [message] * 3, temperature=0.7)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Two bare-fenced quotes back to back: between them an empty stretch, which is not a program.
BARE_BACK_TO_BACK = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve the first program; the second is how it is scored.
```
{initial_solution}
```
```
{utility.str}
```
Reply with the improved program."""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Bare-fenced quotes with a one-word heading between them (a bare name: it compiles on its own).
BARE_FENCES_WITH_HEADING = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve the program below.
```
{initial_solution}
```
Scoring
```
{utility.str}
```
Answer with the complete improved program."""
    responses = language_model.batch_prompt(expertise, [message] * 3)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Its prompt ends with an opening ```python for the model to continue: a tagged fence never closed.
OPEN_ENDED_PROMPT = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Primes the model with an opening fence, so that it answers with code straight away."""
    expertise = "You are an expert programmer."
    message = f"""Scoring function:
```python
{utility.str}
```
Current program:
```python
{initial_solution}
```
Improved program:
```python
"""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Closes its quotes with ```""" on one line: an info string of quotes makes that a *tagged* fence.
QUOTE_CLOSED_FENCES = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    messages = [f"""Improve this program:
```python
{initial_solution}
```""", f"""Rewrite this program with a better algorithm:
```python
{initial_solution}
```"""]
    responses = language_model.batch_prompt(expertise, messages)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

ALL_IMPROVERS = [BEAM_SEARCH, GENETIC, ANNEALING, DECOMPOSE, BANDIT, TEMPERATURE_SWEEP, SELF_CONSISTENCY,
                 THREADED_UTILITY, SINGLE_PROMPT, DISTINCT_MESSAGES, BUDGET_AWARE, RETURNS_INPUT, RETURNS_LIST,
                 RETURNS_NONE, RAISES, RECURSIVE, OWN_PARSER, BARE_INNER_FENCES, BARE_BACK_TO_BACK,
                 OPEN_ENDED_PROMPT, QUOTE_CLOSED_FENCES]

# --- improvers the fake server proposes in end-to-end runs (tests/test_http_end_to_end.py) ---------

# Points the model at the structure of the problem; keeps the input among the candidates.
HINTED = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Samples with a hint about the problem's structure; the best by utility, the input included."""
    expertise = "You are an expert in learning theory and in fast NumPy code."
    message = f"""Improve this solution:
```python
{initial_solution}
```
It is scored by:
```python
{utility.str}
```
Hint: labels that are parities of a hidden subset can be learned by Gaussian elimination over GF(2);
handle label noise by solving many small random subsystems. Answer with the complete program."""
    n = min(language_model.max_responses_per_call, utility.budget)
    responses = language_model.batch_prompt(expertise, [message] * n, temperature=0.7)
    candidates = [initial_solution] + [c for c in extract_code(responses) if c]
    return max(candidates, key=utility)
'''

# Two rounds (hinted samples, then a refinement of the best), within both budgets.
HINTED_BEAM = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Two rounds: hinted samples, then a refinement of the best; never past the utility budget."""
    expertise = "You are an expert computer scientist."

    def ask(program, n):
        message = f"""Here is a program:
```python
{program}
```
Its utility:
```python
{utility.str}
```
Recover the hidden subset with Gaussian elimination over GF(2), robust to noisy labels.
Return the whole program in a ```python block."""
        answers = language_model.batch_prompt(expertise, [message] * n, temperature=0.8)
        return [c for c in extract_code(answers) if c]

    scored = {initial_solution: utility(initial_solution)}
    for _ in range(min(2, language_model.budget)):
        room = utility.budget - utility.uses
        if room <= 0:
            break
        best = max(scored, key=scored.get)
        for candidate in ask(best, min(language_model.max_responses_per_call, room)):
            if candidate not in scored and utility.uses < utility.budget:
                scored[candidate] = utility(candidate)
    return max(scored, key=scored.get)
'''

# --- cases 67 on: improvers written the ways other models write them ---------------------------------

# Its prompts quote programs between ~~~ fences (the other character): content inside a ``` block.
TILDE_PROMPTS = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Tilde fences in the prompt, so that the answer's own backtick fences stay unambiguous."""
    expertise = "You are an expert programmer."
    message = f"""Improve the program below.
~~~python
{initial_solution}
~~~
It is scored by:
~~~
{utility.str}
~~~
Answer with the complete program in a ~~~python block."""
    responses = language_model.batch_prompt(expertise, [message] * 3, temperature=0.7)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Fence lines in its prompt carry trailing spaces (as an editor or a model leaves them).
TRAILING_SPACE_PROMPT = (
    "from helpers import extract_code\n\n\n"
    "def improve_algorithm(initial_solution, utility, language_model):\n"
    "    expertise = \"You are an expert programmer.\"\n"
    "    message = f\"\"\"Improve this program:\n"
    "```python  \n"
    "{initial_solution}\n"
    "```   \n"
    "Scored by:\n"
    "```python \n"
    "{utility.str}\n"
    "``` \n"
    "Return the whole program.\"\"\"\n"
    "    responses = language_model.batch_prompt(expertise, [message] * 2)\n"
    "    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)\n"
)

# Prompts in ''' strings; two of them in one list, the first closed as ```''', f'''... on one line.
SINGLE_QUOTED_PROMPTS = """from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = 'You are an expert programmer.'
    messages = [f'''Improve this program:
```python
{initial_solution}
```''', f'''Make this program more robust to noise:
```python
{initial_solution}
```
Judged by:
```python
{utility.str}
```''']
    responses = language_model.batch_prompt(expertise, messages)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
"""

# Fences built from strings with \\n in them, lines that start with a quote: no fence lines at all.
CONCATENATED_FENCES = '''from helpers import extract_code

FENCE = "```"


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = (
        "Improve this program:\\n"
        "```python\\n"
        f"{initial_solution}\\n"
        "```\\n"
        "Scored by:\\n" + FENCE + "python\\n" + utility.str + "\\n" + FENCE + "\\n"
        "Reply with one ```python block."
    )
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# The prompt's closing fence has words after it on the same line ("``` Score it with:"): to the
# fence rules that is a tagged fence, which opens a level instead of closing one.
FENCE_WITH_TEXT_AFTER = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve this program:
```python
{initial_solution}
``` Score it with:
```python
{utility.str}
```
Return only code."""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Three levels: its prompt shows the model an example improver, which has fenced prompts of its own.
NESTED_THREE_LEVELS = '''from helpers import extract_code

EXAMPLE = """
```python
def improve_algorithm(initial_solution, utility, language_model):
    message = f\'\'\'Improve:
```python
{initial_solution}
```\'\'\'
    return initial_solution
```
"""


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert in programs that improve programs."
    message = f"""An improver looks like this:
{EXAMPLE}
Now, instead of an improver, improve this program directly:
```python
{initial_solution}
```
Scored by:
```python
{utility.str}
```"""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# textwrap.dedent style (Claude's habit): the prompt's fence lines are indented eight spaces.
DEDENTED_PROMPT = '''import textwrap

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    template = textwrap.dedent("""\\
        Improve this program:
        ```python
        {program}
        ```
        It is scored by:
        ```python
        {score}
        ```
        Answer with the complete program.""")
    message = template.format(program=initial_solution, score=utility.str)
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Parses answers itself with a verbose regex: its first line "```(?:python)?" is a bare fence.
VERBOSE_REGEX = '''import re

PATTERN = re.compile(r"""
```(?:python)?
(.*?)
```""", re.S)


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = "Improve this program; answer with one fenced block.\\n\\n" + initial_solution
    candidates = [initial_solution]
    for answer in language_model.batch_prompt(expertise, [message] * 3):
        found = PATTERN.findall("\\n" + answer)
        if found:
            candidates.append(found[-1].strip("\\n") + "\\n")
    return max(candidates, key=utility)
'''

# The prompt closes its quote mid-line: "{initial_solution}```" (not a fence line).
CLOSED_MID_LINE = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve this program:
```python
{initial_solution}```
Answer with the improved program only."""
    responses = language_model.batch_prompt(expertise, [message] * 3)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# A fenced example answer in its docstring, at column 0.
FENCED_DOCSTRING = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Asks for improvements; an answer is expected to look like

```python
def algorithm(train_samples, train_parity, test_samples):
    ...
```
    """
    message = f"""Improve:
```python
{initial_solution}
```"""
    responses = language_model.batch_prompt("You are an expert.", [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
'''

# Its prompt shows the expected answer format as a ```json block.
JSON_FORMAT_PROMPT = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve the program below.
```python
{initial_solution}
```
First state your plan as
```json
{{"plan": "...", "risk": "low"}}
```
then give the whole program in a ```python block."""
    candidates = [initial_solution]
    for answer in language_model.batch_prompt(expertise, [message] * 2):
        code = extract_code(answer)
        if code:
            candidates.append(code)
    return max(candidates, key=utility)
'''


def long_program(helpers: int = 400) -> str:
    """A legitimate 2,000-line program: many small helpers, then MAJORITY's algorithm."""
    parts = ["import numpy as np\n\n"]
    for i in range(helpers):
        parts.append(f"\ndef helper_{i}(x):\n    # helper {i} of {helpers}\n    y = x + {i}\n    return y - {i}\n")
    parts.append("\n\ndef algorithm(train_samples, train_parity, test_samples):\n"
                 "    label = int(np.mean(train_parity) >= 0.5)\n"
                 "    assert helper_7(label) == label\n"
                 "    return np.full(len(test_samples), label, dtype=int)\n")
    return "".join(parts)


LONG_PROGRAM = long_program()
