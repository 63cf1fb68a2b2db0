from helpers import extract_code


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
