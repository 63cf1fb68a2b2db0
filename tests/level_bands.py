"""Checking a scripted library's quality levels against measured utilities.

The bands of a task's test were measured on one draw of its hidden instances. Instances are
drawn from seeds keyed by the engine's secret (engine/instance_secret.py), so another draw moves
a program's utility by a few points: a level's band is kept with a margin at its inner edges,
and the levels must still order the programs (each level's mean above the one below), which is
what the scripted backend relies on. Broken (-1) programs score exactly 0 and a perfect level 1.0.
"""

from __future__ import annotations

from statistics import mean

MARGIN = 0.15


def check_levels(bands: dict[int, tuple[float, float]], measured: list[tuple[str, int, float]]) -> None:
    """measured: (slug, level, utility) for every library response of one task."""
    for slug, level, utility in measured:
        low, high = bands[level]
        if level < 0 or low == high:  # broken programs and an exact level: no draw moves them
            assert low <= utility <= high, (slug, level, utility)
        else:
            assert low - MARGIN <= utility <= high + MARGIN, (slug, level, utility, (low, high))
    by_level = {level: mean(u for _, lv, u in measured if lv == level) for level in {lv for _, lv, _ in measured}}
    ordered = [by_level[level] for level in sorted(by_level) if level >= 0]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered), by_level
