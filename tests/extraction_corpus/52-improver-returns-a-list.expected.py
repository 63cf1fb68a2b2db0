from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    message = f"""Improve:
```python
{initial_solution}
```"""
    responses = language_model.batch_prompt("You are an expert.", [message] * 3)
    return extract_code(responses)
