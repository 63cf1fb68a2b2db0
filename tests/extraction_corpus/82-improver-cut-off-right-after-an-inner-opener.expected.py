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
