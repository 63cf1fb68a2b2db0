"""`stop-tui run`: STOP on a task with a model, in the TUI or headless."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from ..engine.config import ACCEPT_ANY, ACCEPT_IMPROVED, RunConfig
from ..engine.lm.models import make_backend
from ..engine.session import prepare_session_dir, read_session
from ..engine.tasks import load_task, task_search_dirs
from .common import new_session_dir, require_positive

NAME = "run"
HELP = "run STOP"
DEFAULTS = RunConfig()
# The scripted backend answers at once, so an improver that runs longer than this is stuck.
SCRIPTED_TIMEOUTS = {"improver_timeout_s": 120.0, "trial_timeout_s": 15.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument("--headless", action="store_true", help="no TUI: progress bars and a final table")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--task", default=d.task)
    parser.add_argument("--tasks-dir", type=Path, action="append", default=[], help="extra task folders (repeatable)")
    parser.add_argument("--model", default=d.model, help="the language model ('scripted' for the deterministic test backend)")
    parser.add_argument("--session", type=Path, help="session directory (default: a new one under ./stop-sessions)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help="generations T")
    parser.add_argument("--lm-calls", type=int, default=d.lm_calls, help="LM calls per improver run")
    parser.add_argument("--samples-per-call", type=int, default=d.samples_per_call)
    parser.add_argument("--utility-budget", type=int, default=d.utility_budget, help="downstream utility calls per improver run")
    parser.add_argument("--meta-utility-budget", type=int, default=d.meta_utility_budget, help="meta-utility calls per step")
    parser.add_argument("--meta-tests", type=int, default=d.meta_tests, help="improver runs averaged by the meta-utility")
    parser.add_argument("--temperature", type=float, default=d.temperature)
    parser.add_argument("--max-tokens", type=int, default=d.max_tokens)
    parser.add_argument("--accept", choices=(ACCEPT_IMPROVED, ACCEPT_ANY), default=d.accept,
                        help="'improved': keep the current improver unless a candidate beats it on val; 'any': the reference's rule")
    parser.add_argument("--improver-timeout", type=float, help="seconds for the improvement step")
    parser.add_argument("--trial-timeout", type=float, help="seconds for one meta-utility trial")
    parser.add_argument("--max-concurrency", type=int, default=d.max_concurrency, help="concurrent LM requests")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the scripted backend")


def config_from(args: argparse.Namespace) -> RunConfig:
    require_positive(iterations=args.iterations, lm_calls=args.lm_calls, samples_per_call=args.samples_per_call,
                     utility_budget=args.utility_budget, meta_utility_budget=args.meta_utility_budget,
                     meta_tests=args.meta_tests, max_tokens=args.max_tokens, max_concurrency=args.max_concurrency)
    timeouts = SCRIPTED_TIMEOUTS if args.model == "scripted" else {}
    improver_timeout = args.improver_timeout or timeouts.get("improver_timeout_s", DEFAULTS.improver_timeout_s)
    trial_timeout = args.trial_timeout or timeouts.get("trial_timeout_s", DEFAULTS.trial_timeout_s)
    return RunConfig(
        task=args.task, model=args.model, iterations=args.iterations, lm_calls=args.lm_calls,
        samples_per_call=args.samples_per_call, utility_budget=args.utility_budget,
        meta_utility_budget=args.meta_utility_budget, meta_tests=args.meta_tests,
        temperature=args.temperature, max_tokens=args.max_tokens, accept=args.accept,
        improver_timeout_s=improver_timeout, trial_timeout_s=trial_timeout,
        max_concurrency=args.max_concurrency, seed=args.seed,
    )


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
