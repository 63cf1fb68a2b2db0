def improve_algorithm(initial_solution, utility, language_model):
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
