from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Spend exactly the budgets given: ask while model calls remain, score while utility calls remain."""
    expertise = "You are an expert researcher."
    best, best_score = initial_solution, utility(initial_solution)
    calls = 0
    while calls < language_model.budget and utility.uses < utility.budget:
        message = f"""Current best program (score {best_score:.3f}):
```python
{best}
```
Scoring function:
```python
{utility.str}
```
Write a better one."""
        n = min(language_model.max_responses_per_call, utility.budget - utility.uses)
        responses = language_model.batch_prompt(expertise, [message] * n, temperature=0.9)
        calls += 1
        for candidate in extract_code(responses):
            if not candidate or utility.uses >= utility.budget:
                continue
            score = utility(candidate)
            if score > best_score:
                best, best_score = candidate, score
    return best
