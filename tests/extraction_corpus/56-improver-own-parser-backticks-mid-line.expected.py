def improve_algorithm(initial_solution, utility, language_model):
    """Parses answers itself: the text between ```python and the next ``` ."""
    expertise = "You are an expert programmer."
    message = "Improve this program; answer with one ```python block.\n```python\n" + initial_solution + "\n```"
    candidates = [initial_solution]
    for response in language_model.batch_prompt(expertise, [message] * 4):
        if "```python" in response:
            code = response.split("```python", 1)[1].split("```", 1)[0].strip("\n") + "\n"
            candidates.append(code)
    return max(candidates, key=utility)
