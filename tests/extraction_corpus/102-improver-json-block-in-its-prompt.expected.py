from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve the program below.
```python
{initial_solution}
```
First state your plan as
```json
{{"plan": "...", "risk": "low"}}
```
then give the whole program in a ```python block."""
    candidates = [initial_solution]
    for answer in language_model.batch_prompt(expertise, [message] * 2):
        code = extract_code(answer)
        if code:
            candidates.append(code)
    return max(candidates, key=utility)
