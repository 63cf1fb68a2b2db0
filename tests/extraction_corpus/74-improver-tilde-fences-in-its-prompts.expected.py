from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Tilde fences in the prompt, so that the answer's own backtick fences stay unambiguous."""
    expertise = "You are an expert programmer."
    message = f"""Improve the program below.
~~~python
{initial_solution}
~~~
It is scored by:
~~~
{utility.str}
~~~
Answer with the complete program in a ~~~python block."""
    responses = language_model.batch_prompt(expertise, [message] * 3, temperature=0.7)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
