import math

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """A UCB bandit over prompt styles: the model budget goes to the style that pays off."""
    expertise = "You are an expert computer scientist."
    styles = [
        "Make the algorithm more accurate.",
        "Make the algorithm robust to label noise.",
        "Rewrite the algorithm from scratch with a better idea.",
    ]
    pulls = [0] * len(styles)
    rewards = [0.0] * len(styles)
    best, best_score = initial_solution, utility(initial_solution)
    for t in range(1, min(len(styles) + 2, language_model.budget) + 1):
        def ucb(arm):
            if pulls[arm] == 0:
                return float("inf")
            return rewards[arm] / pulls[arm] + math.sqrt(2 * math.log(t) / pulls[arm])

        arm = max(range(len(styles)), key=ucb)
        message = f"""{styles[arm]}
```python
{best}
```
The score:
```python
{utility.str}
```
Answer with the full program."""
        programs = [p for p in extract_code(language_model.prompt(expertise, message, n_responses=2)) if p]
        gain = 0.0
        for program in programs:
            score = utility(program)
            gain = max(gain, score - best_score)
            if score > best_score:
                best, best_score = program, score
        pulls[arm] += 1
        rewards[arm] += gain
    return best
