"""Helpers importable by improvers: `from helpers import extract_code`.

Inside the sandbox this module is registered as `helpers`. The rules by which code is taken
from an answer live in extraction.py, which the engine uses too (the candidate stream and the
extraction record of every sample), so an improver and the engine always agree.
"""

from __future__ import annotations

from .extraction import extract_code

__all__ = ["extract_code"]
