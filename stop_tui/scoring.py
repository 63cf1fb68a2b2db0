"""Validation helpers for hidden scorers (trusted code, run in the engine).

A program's output reaches the scorer as plain JSON data (lists, numbers). Validate its type,
length, shape and value set before scoring: the paper's one real reward hack came from a
scorer comparing arrays of different shapes, where NumPy broadcasting gave accuracy above 1000%.
Each helper returns None for anything invalid, and the scorer then scores 0.
"""

from __future__ import annotations

import math
from typing import Any


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and not math.isfinite(value))


def as_vector(output: Any, length: int, allowed: set[int] | None = None) -> list[int] | None:
    """A flat list of exactly `length` integers (bools and integral floats accepted), optionally from `allowed`."""
    if not isinstance(output, list) or len(output) != length:
        return None
    values = []
    for item in output:
        if not _is_number(item) or item != int(item):
            return None
        value = int(item)
        if allowed is not None and value not in allowed:
            return None
        values.append(value)
    return values


def as_permutation(output: Any, n: int) -> list[int] | None:
    values = as_vector(output, n)
    if values is None or sorted(values) != list(range(n)):
        return None
    return values


def as_labels(output: Any, length: int, n_labels: int = 2) -> list[Any] | None:
    """A flat list of `length` hashable scalars using at most `n_labels` distinct values."""
    if not isinstance(output, list) or len(output) != length:
        return None
    if not all(isinstance(v, (bool, int, float, str)) for v in output):
        return None
    if len(set(output)) > n_labels:
        return None
    return output


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def as_string(output: Any, length: int, alphabet: str) -> str | None:
    """A str of exactly `length` characters, each one of `alphabet` (case-sensitive); no lists of characters."""
    if not isinstance(output, str) or len(output) != length:
        return None
    if not set(output) <= set(alphabet):
        return None
    return output
