from helpers import extract_code


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
