"""Wires one STOP run together: bus, session log, sandbox pool, LM gateway, outer loop.

The headless CLI, the TUI, the tests and the benchmarks all start runs through here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from ..paths import bundled_tasks_dir
from .bus import EventBus, Handler
from .config import RunConfig
from .events import EngineError
from .lm.base import LMBackend
from .lm.base import ModelError
from .lm.gateway import LMGateway, RetryPolicy, RunBudget
from .sandbox.pool import SandboxPool
from .session import SessionWriter
from .stop import Approver, RunSummary, StopRun
from .tasks import Task


def seed_improver_source() -> str:
    return (bundled_tasks_dir() / "improvers" / "seed.py").read_text(encoding="utf-8")


async def run_session(
    *,
    config: RunConfig,
    task: Task,
    backend: LMBackend,
    log_path: Path,
    seed_improver: str | None = None,
    subscribers: list[Handler] = (),
    approver: Approver | None = None,
    on_run: Callable[[StopRun], None] | None = None,
) -> RunSummary:
    """Run STOP to the end, logging every event to log_path (which must not exist yet)."""
    run_id = uuid.uuid4().hex[:12]
    bus = EventBus()
    writer = SessionWriter(log_path)
    await writer.open(run_id)
    bus.subscribe(writer.write)
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    # A backend with a server to launch (the local model) starts while the sandbox pool does.
    starting = asyncio.ensure_future(_start(backend))
    try:
        async with SandboxPool(improver_slots=config.improver_slots) as pool:
            try:
                await starting
            except ModelError as exc:
                bus.publish(EngineError(message=str(exc)))
                raise
            gateway = LMGateway(
                backend, bus, max_concurrency=config.max_concurrency,
                retry=RetryPolicy(retries=config.retries, backoff_s=config.retry_backoff_s,
                                  timeout_s=config.request_timeout_s),
                budget=RunBudget(max_cost_usd=config.max_cost_usd, max_tokens=config.max_total_tokens),
            )
            run = StopRun(config=config, task=task, seed_improver=seed_improver or seed_improver_source(),
                          gateway=gateway, pool=pool, bus=bus, approver=approver, run_id=run_id)
            if on_run is not None:
                on_run(run)
            try:
                return await run.run()
            except Exception as exc:
                bus.publish(EngineError(message=f"{type(exc).__name__}: {exc}"))
                raise
    finally:
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await backend.aclose()
        await bus.drain()
        await bus.close()
        await writer.close()


async def _start(backend: LMBackend) -> None:
    start = getattr(backend, "start", None)
    if start is not None:
        await start()
