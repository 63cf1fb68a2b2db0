from helpers import extract_code

EXAMPLE = """
```python
def improve_algorithm(initial_solution, utility, language_model):
    message = f'''Improve:
```python
{initial_solution}
```'''
    return initial_solution
```
"""


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert in programs that improve programs."
    message = f"""An improver looks like this:
{EXAMPLE}
Now, instead of an improver, improve this program directly:
```python
{initial_solution}
```
Scored by:
```python
{utility.str}
```"""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
