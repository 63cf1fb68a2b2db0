"""Helpers importable by improvers: `from helpers import extract_code`.

Inside the sandbox this module is registered as `helpers`; the engine uses it too, to show
the code extracted from each streamed sample.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(responses):
    """The largest fenced code block of each response (a str gives a str, a list a list).

    A response without a fence is taken as code as it is, the way the reference does.
    """
    if isinstance(responses, str):
        return _largest_block(responses)
    return [_largest_block(r) for r in responses]


def _largest_block(text: str) -> str:
    if not isinstance(text, str):
        return ""
    matches = list(_FENCE.finditer(text))
    python_blocks = [m.group(2) for m in matches if m.group(1).lower() in ("", "python", "py", "python3")]
    candidates = python_blocks or [m.group(2) for m in matches]
    if not candidates:
        return text.strip()
    return max(candidates, key=len).strip("\n") + "\n"
