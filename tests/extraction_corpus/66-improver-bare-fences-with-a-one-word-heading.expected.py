from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve the program below.
```
{initial_solution}
```
Scoring
```
{utility.str}
```
Answer with the complete improved program."""
    responses = language_model.batch_prompt(expertise, [message] * 3)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
