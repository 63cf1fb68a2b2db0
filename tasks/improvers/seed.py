from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Ask the language model for several improved versions at once; return the best by utility."""
    expertise = (
        "You are an expert computer science researcher and programmer, "
        "especially skilled at optimizing algorithms."
    )
    message = f"""Here is a solution to improve:
```python
{initial_solution}
```

It will be scored by this utility function:
```python
{utility.str}
```

Return an improved version of the solution. Aim for a novel, non-trivial improvement and be as
creative as the constraints allow. First describe your idea, then implement it in full."""
    n_messages = min(language_model.max_responses_per_call, utility.budget)
    responses = language_model.batch_prompt(expertise, [message] * n_messages, temperature=0.7)
    candidates = extract_code(responses)
    return max(candidates, key=utility)
