from helpers import extract_code

FENCE = "```"


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = (
        "Improve this program:\n"
        "```python\n"
        f"{initial_solution}\n"
        "```\n"
        "Scored by:\n" + FENCE + "python\n" + utility.str + "\n" + FENCE + "\n"
        "Reply with one ```python block."
    )
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
