def algorithm(t: str, dist: int) -> str:
    """Answer with t itself: right only when dist happens to be grid_dist(t, t)."""
    return t
