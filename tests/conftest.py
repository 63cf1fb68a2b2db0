from __future__ import annotations

import os

# One seed secret for every process of the suite (engine subprocesses inherit it), so a program
# evaluated here and in a `stop-tui` subprocess gets the same derived seeds.
os.environ.setdefault("STOP_TUI_SEED_SECRET", "stop-tui tests")

from pathlib import Path

import pytest

from stop_tui.engine.sandbox.pool import SandboxPool
from stop_tui.engine.tasks import load_task, task_search_dirs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def pool():
    async with SandboxPool(solution_slots=2) as sandbox_pool:
        yield sandbox_pool


@pytest.fixture(scope="session")
def lpn():
    return load_task("lpn", task_search_dirs())
