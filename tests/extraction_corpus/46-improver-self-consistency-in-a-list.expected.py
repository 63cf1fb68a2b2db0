from collections import Counter

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Self-consistency: sample several answers, vote for the programs they agree on, check them."""
    expertise = "You are an expert programmer."
    message = f"""Improve the program below. Answer with the complete program only.
```python
{initial_solution}
```
It is scored by:
```python
{utility.str}
```"""
    programs = [p for p in extract_code(language_model.batch_prompt(expertise, [message] * 4, temperature=0.7)) if p]
    if not programs:
        return initial_solution
    votes = Counter("\n".join(line.rstrip() for line in p.strip().splitlines()) + "\n" for p in programs)
    ranked = [p for p, _ in votes.most_common(2)]
    return max(ranked + [initial_solution], key=utility)
