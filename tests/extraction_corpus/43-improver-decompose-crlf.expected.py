import ast

from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Decompose the program into its functions, improve each part alone, reassemble, compare."""
    expertise = "You are a careful software engineer who improves code one part at a time."
    tree = ast.parse(initial_solution)
    header = [ast.get_source_segment(initial_solution, node) for node in tree.body
              if isinstance(node, (ast.Import, ast.ImportFrom))]
    parts = [ast.get_source_segment(initial_solution, node) for node in tree.body
             if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    messages = []
    for part in parts:
        messages.append(f"""This function is one part of a larger program:
```python
{initial_solution}
```
Rewrite only this part so that the whole program scores higher:
```python
{part}
```
Scoring:
```python
{utility.str}
```
""")
    improved = [code or part for code, part in zip(extract_code(language_model.batch_prompt(expertise, messages)), parts)]
    assembled = "\n".join(header) + "\n\n\n" + "\n\n\n".join(improved) + "\n"
    candidates = [initial_solution, assembled]
    return max(candidates, key=utility)
