from helpers import extract_code


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
