from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """The seed improver's idea, with bare fences in its prompt."""
    expertise = "You are an expert computer science researcher and programmer."
    message = f"""Here is a solution:
```
{initial_solution}
```
It is scored by:
```
{utility.str}
```
Improve it and answer with the whole program."""
    responses = language_model.batch_prompt(expertise, [message] * 3, temperature=0.7)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
