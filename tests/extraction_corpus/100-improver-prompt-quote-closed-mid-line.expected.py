from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve this program:
```python
{initial_solution}```
Answer with the improved program only."""
    responses = language_model.batch_prompt(expertise, [message] * 3)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
