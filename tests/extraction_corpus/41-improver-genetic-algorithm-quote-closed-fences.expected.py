import random

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """A small genetic algorithm: the model mutates and crosses over; utility selects."""
    expertise = "You are an expert programmer. You improve algorithms by careful, tested changes."
    rng = random.Random(0)
    population = [(utility(initial_solution), initial_solution)]
    for generation in range(2):
        parents = [p for _, p in sorted(population, reverse=True)[:2]]
        messages = [f"""Mutate this program into a better one:
```python
{rng.choice(parents)}
```
Score function:
```python
{utility.str}
```""" for _ in range(2)]
        if len(parents) > 1:
            messages.append(f"""Combine the best ideas of these two programs into one:
```python
{parents[0]}
```
```python
{parents[1]}
```""")
        for child in extract_code(language_model.batch_prompt(expertise, messages, temperature=1.0)):
            if child:
                population.append((utility(child), child))
    return max(population)[1]
