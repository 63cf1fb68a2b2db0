from helpers import extract_code


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
