import textwrap

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    template = textwrap.dedent("""\
        Improve this program:
        ```python
        {program}
        ```
        It is scored by:
        ```python
        {score}
        ```
        Answer with the complete program.""")
    message = template.format(program=initial_solution, score=utility.str)
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
