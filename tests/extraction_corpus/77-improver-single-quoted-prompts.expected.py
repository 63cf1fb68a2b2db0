from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = 'You are an expert programmer.'
    messages = [f'''Improve this program:
```python
{initial_solution}
```''', f'''Make this program more robust to noise:
```python
{initial_solution}
```
Judged by:
```python
{utility.str}
```''']
    responses = language_model.batch_prompt(expertise, messages)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
