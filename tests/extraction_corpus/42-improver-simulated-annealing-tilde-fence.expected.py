import math
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
