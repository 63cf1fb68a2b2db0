"""Turning a --model string into a backend."""

from __future__ import annotations

from .base import LMBackend


class ModelError(Exception):
    """An unknown or unusable model; the message is one sentence for a user."""


SCRIPTED = "scripted"


def make_backend(model: str, *, seed: int = 0, chunk_delay_s: float = 0.0) -> LMBackend:
    if model == SCRIPTED:
        from .scripted import ScriptedBackend

        return ScriptedBackend(seed=seed, chunk_delay_s=chunk_delay_s)
    raise ModelError(
        f"unknown model {model!r}; this version supports --model scripted "
        "(hosted and local models come with the litellm gateway)."
    )
