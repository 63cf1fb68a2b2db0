from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    expertise = "You are an expert programmer."
    message = f"""Improve this program:
```python  
{initial_solution}
```   
Scored by:
```python 
{utility.str}
``` 
Return the whole program."""
    responses = language_model.batch_prompt(expertise, [message] * 2)
    return max([initial_solution] + [c for c in extract_code(responses) if c], key=utility)
