def algorithm(numbers):
    """Alternate the groups: 0, 1, 0, 1, ... (a weak start for the improvers to beat)."""
    return [i % 2 for i in range(len(numbers))]
