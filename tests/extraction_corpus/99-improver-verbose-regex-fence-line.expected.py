import re

PATTERN = re.compile(r"""
```(?:python)?
(.*?)
```""", re.S)


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = "Improve this program; answer with one fenced block.\n\n" + initial_solution
    candidates = [initial_solution]
    for answer in language_model.batch_prompt(expertise, [message] * 3):
        found = PATTERN.findall("\n" + answer)
        if found:
            candidates.append(found[-1].strip("\n") + "\n")
    return max(candidates, key=utility)
