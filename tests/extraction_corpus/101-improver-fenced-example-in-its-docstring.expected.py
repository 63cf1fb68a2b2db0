from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Asks for improvements; an answer is expected to look like

```python
def algorithm(train_samples, train_parity, test_samples):
    ...
```
    """
    message = f"""Improve:
```python
{initial_solution}
```"""
    responses = language_model.batch_prompt("You are an expert.", [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
