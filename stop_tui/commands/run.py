"""`stop-tui run`: STOP on a task with a model, in the TUI or headless."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from ..engine.lm.models import make_backend
from ..engine.session import prepare_session_dir, read_session
from ..engine.tasks import load_task, task_search_dirs
from .common import new_session_dir
from .run_options import add_run_options, config_from

NAME = "run"
HELP = "run STOP"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument("--headless", action="store_true", help="no TUI: progress bars and a final table")


def run(args: argparse.Namespace, console: Console) -> int:
    config = config_from(args)
    # Validate everything before creating anything, so bad input leaves nothing behind.
    task = load_task(config.task, task_search_dirs(args.tasks_dir))
    backend = make_backend(config.model, seed=config.seed)
    if not getattr(args, "headless", True):
        console.print("[yellow]The TUI is not part of this version yet; running headless.[/]")
    log_path = prepare_session_dir(args.session or new_session_dir(config.task))
    return run_headless(config, task, backend, log_path, console)


def run_headless(config, task, backend, log_path: Path, console: Console) -> int:
    from ..engine.runner import run_session
    from ..engine.summary import generation_table
    from ..headless import HeadlessProgress, generation_table_view

    console.print(f"session log: {log_path}")
    with HeadlessProgress(console, config) as view:
        summary = asyncio.run(run_session(config=config, task=task, backend=backend, log_path=log_path,
                                          subscribers=[view.handle]))
    _, events = read_session(log_path)
    console.print(generation_table_view(generation_table(events), backend.label))
    console.print(f"run {summary.state}: {summary.reason}; current improver {summary.current_sha[:8]} "
                  f"(val {summary.current_val:.3f}, test {summary.current_test:.3f}); log: {log_path}")
    return 0 if summary.state != "failed" else 1
