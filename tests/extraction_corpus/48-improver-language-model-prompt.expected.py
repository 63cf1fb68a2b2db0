def improve_algorithm(initial_solution, utility, language_model):
    """One careful answer at a low temperature, kept only if it beats the input."""
    from helpers import extract_code

    expertise = "You are a meticulous engineer."
    request = f"""Find the weakest part of this program and fix it.
```python
{initial_solution}
```
Score:
```python
{utility.str}
```
"""
    answers = language_model.prompt(expertise, request, n_responses=1, temperature=0.2)
    candidate = extract_code(answers[0])
    if candidate and utility(candidate) > utility(initial_solution):
        return candidate
    return initial_solution
