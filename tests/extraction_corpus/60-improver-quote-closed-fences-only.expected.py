from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    messages = [f"""Improve this program:
```python
{initial_solution}
```""", f"""Rewrite this program with a better algorithm:
```python
{initial_solution}
```"""]
    responses = language_model.batch_prompt(expertise, messages)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
