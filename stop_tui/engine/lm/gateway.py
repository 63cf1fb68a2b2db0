"""The one door to language models: concurrency limit, events for every request and chunk."""

from __future__ import annotations

import asyncio
import itertools
import time

from ..bus import EventBus
from ..events import LMChunk, LMRequestFinished, LMRequestStarted
from .base import LMBackend, LMRequest, LMResult


class LMGateway:
    def __init__(self, backend: LMBackend, bus: EventBus, *, max_concurrency: int = 16) -> None:
        self.backend = backend
        self.bus = bus
        self._slots = asyncio.Semaphore(max_concurrency)
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._ids = itertools.count(1)
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0

    @property
    def label(self) -> str:
        return self.backend.label

    def new_request_id(self) -> str:
        return f"r{next(self._ids):05d}"

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def pause(self) -> None:
        """Hold new requests at the door; requests already sent finish."""
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    async def complete(self, request: LMRequest) -> LMResult:
        """Run one request; failures come back as an LMResult with error set and empty samples."""
        await self._unpaused.wait()
        async with self._slots:
            await self._unpaused.wait()  # paused while this request queued for a slot
            self.bus.publish(LMRequestStarted(
                request_id=request.request_id, purpose=request.purpose, model=self.backend.label,
                n=len(request.messages), temperature=request.temperature, max_tokens=request.max_tokens,
                expertise=request.expertise, messages=request.messages, context=request.context,
                generation=request.generation,
            ))
            started = time.monotonic()

            def on_chunk(choice: int, text: str) -> None:
                self.bus.publish(LMChunk(request_id=request.request_id, choice=choice, text=text))

            try:
                result = await self.backend.complete(request, on_chunk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed request is a failed sample, not a crashed run
                result = LMResult(responses=[""] * len(request.messages), error=f"{type(exc).__name__}: {exc}")
            self.calls += 1
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens
            self.cost_usd += result.cost_usd or 0.0
            self.bus.publish(LMRequestFinished(
                request_id=request.request_id, responses=result.responses,
                prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                cost_usd=result.cost_usd, latency_s=time.monotonic() - started, error=result.error,
            ))
            return result
