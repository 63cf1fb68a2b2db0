from concurrent.futures import ThreadPoolExecutor

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
