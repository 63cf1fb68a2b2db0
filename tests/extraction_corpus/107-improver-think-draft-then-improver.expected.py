from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Beam search: keep the best few programs, ask for improvements of each, for a few rounds."""
    expertise = ("You are an expert computer science researcher and programmer, "
                 "especially skilled at optimizing algorithms.")
    beam_width, rounds = 2, 2
    scored = {initial_solution: utility(initial_solution)}
    beam = [initial_solution]
    for _ in range(rounds):
        messages = []
        for program in beam:
            messages.append(f"""Improve the following solution.
```python
{program}
```

You will be evaluated based on this score function:
```python
{utility.str}
```

Return only the improved solution, in a single ```python block.""")
        responses = language_model.batch_prompt(expertise, messages, temperature=0.8)
        for candidate in extract_code(responses):
            if candidate and candidate not in scored:
                scored[candidate] = utility(candidate)
        beam = sorted(scored, key=scored.get, reverse=True)[:beam_width]
    return beam[0]
