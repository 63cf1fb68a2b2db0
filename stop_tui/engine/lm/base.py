"""What a language-model backend is: a streaming completion of a batch of prompts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LMRequest:
    """One call: one sample per message (a batch of identical messages gives n samples)."""

    request_id: str
    purpose: str  # "improve-improver" | "improve-solution"
    expertise: str
    messages: list[str]
    temperature: float
    max_tokens: int
    context: str  # stable, content-derived: which program run asked
    generation: int


@dataclass
class LMResult:
    responses: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None


ChunkCallback = Callable[[int, str], None]  # (choice index, text)


class LMBackend(Protocol):
    label: str  # how the model shows on screens and in logs ("scripted", a model string...)

    async def complete(self, request: LMRequest, on_chunk: ChunkCallback) -> LMResult: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """Rough token count (about 4 characters a token) for backends that report none."""
    return max(1, len(text) // 4) if text else 0
