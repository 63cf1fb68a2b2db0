from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve the first program; the second is how it is scored.
```
{initial_solution}
```
```
{utility.str}
```
Reply with the improved program."""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
