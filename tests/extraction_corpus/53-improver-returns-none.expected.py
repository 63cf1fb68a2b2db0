from helpers import extract_code


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
