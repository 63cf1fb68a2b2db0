"""The `stop-tui` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import __version__
from .engine.config import ACCEPT_ANY, ACCEPT_IMPROVED, RunConfig
from .engine.lm.models import ModelError, make_backend
from .engine.sandbox.pool import SandboxError
from .engine.session import SessionError, default_sessions_root, prepare_session_dir, read_session
from .engine.tasks import TaskError, discover_tasks, load_task, load_task_folder, task_search_dirs

EXIT_USAGE = 2
DEFAULTS = RunConfig()
# The scripted backend answers at once, so an improver that runs longer than this is stuck.
SCRIPTED_TIMEOUTS = {"improver_timeout_s": 120.0, "trial_timeout_s": 15.0}


class UsageError(Exception):
    """Bad input from the user: reported as one sentence, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence, exit 2, no usage dump
        raise UsageError(message[0].upper() + message[1:] + f" (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stop-tui", description="Run and watch STOP recursive self-improvement of code.")
    parser.add_argument("--version", action="version", version=f"stop-tui {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run STOP")
    _add_run_options(run)
    run.add_argument("--headless", action="store_true", help="no TUI: progress bars and a final table")

    demo = commands.add_parser("demo", help="a short scripted run, to see what stop-tui does")
    demo.add_argument("--session", type=Path, help="session directory (default: a new one under ./stop-sessions)")
    demo.add_argument("--iterations", type=int, default=3)

    evaluate = commands.add_parser("eval", help="score a solution with a task's hidden scorer")
    evaluate.add_argument("--task", required=True)
    evaluate.add_argument("--solution", required=True, type=Path)
    evaluate.add_argument("--split", choices=("val", "test"), default="val")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--tasks-dir", type=Path, action="append", default=[])

    tasks = commands.add_parser("tasks", help="list tasks")
    tasks.add_argument("--tasks-dir", type=Path, action="append", default=[])
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
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


def _config_from(args: argparse.Namespace) -> RunConfig:
    positive = {"iterations": args.iterations, "lm-calls": args.lm_calls, "samples-per-call": args.samples_per_call,
                "utility-budget": args.utility_budget, "meta-utility-budget": args.meta_utility_budget,
                "meta-tests": args.meta_tests, "max-tokens": args.max_tokens, "max-concurrency": args.max_concurrency}
    for name, value in positive.items():
        if value < 1:
            raise UsageError(f"--{name} must be at least 1, not {value}.")
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


def _new_session_dir(task: str) -> Path:
    return default_sessions_root() / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}"


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    config = _config_from(args)
    # Validate everything before creating anything, so bad input leaves nothing behind.
    task = load_task(config.task, task_search_dirs(args.tasks_dir))
    backend = make_backend(config.model, seed=config.seed)
    if not getattr(args, "headless", True):
        console.print("[yellow]The TUI is not part of this version yet; running headless.[/]")
    log_path = prepare_session_dir(args.session or _new_session_dir(config.task))
    return _run_headless(config, task, backend, log_path, console)


def _run_headless(config, task, backend, log_path: Path, console: Console) -> int:
    from .engine.runner import run_session
    from .engine.summary import generation_table
    from .headless import HeadlessProgress, generation_table_view

    console.print(f"session log: {log_path}")
    with HeadlessProgress(console, config) as view:
        summary = asyncio.run(run_session(config=config, task=task, backend=backend, log_path=log_path,
                                          subscribers=[view.handle]))
    _, events = read_session(log_path)
    console.print(generation_table_view(generation_table(events), backend.label))
    console.print(f"run {summary.state}: {summary.reason}; current improver {summary.current_sha[:8]} "
                  f"(val {summary.current_val:.3f}, test {summary.current_test:.3f}); log: {log_path}")
    return 0 if summary.state != "failed" else 1


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    if args.iterations < 1:
        raise UsageError(f"--iterations must be at least 1, not {args.iterations}.")
    config = RunConfig(model="scripted", iterations=args.iterations, **SCRIPTED_TIMEOUTS)
    task = load_task(config.task, task_search_dirs())
    backend = make_backend("scripted", seed=config.seed)
    console.print("[bold]stop-tui demo[/]: STOP on learning parity with noise, answered by the "
                  "[bold]scripted[/] backend (hand-written responses, not a language model).")
    log_path = prepare_session_dir(args.session or _new_session_dir("demo"))
    return _run_headless(config, task, backend, log_path, console)


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from .engine.evaluation import Evaluator, ProgramRegistry
    from .engine.bus import EventBus
    from .engine.sandbox.pool import SandboxPool

    task = load_task(args.task, task_search_dirs(args.tasks_dir))
    try:
        source = args.solution.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read solution file {args.solution}: {reason}.") from None
    try:
        compile(source, str(args.solution), "exec")  # parses only; nothing runs here
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise UsageError(f"{args.solution} has a syntax error{f' at line {line}' if line else ''}: {getattr(exc, 'msg', exc)}.") from None

    async def evaluate():
        bus = EventBus()
        async with SandboxPool() as pool:
            return await Evaluator(pool, bus, ProgramRegistry(bus)).evaluate(task, source, args.split, "eval")

    result = asyncio.run(evaluate())
    if args.json:
        print(json.dumps({"task": task.name, "split": args.split, "utility": result.utility,
                          "instances": result.instances, "failures": result.failures,
                          "failure_reasons": list(result.failure_reasons)}))
    else:
        console.print(f"{task.name} ({args.split}, {result.instances} instances): utility [bold]{result.utility:.4f}[/], "
                      f"{result.failures} failed")
        for reason in result.failure_reasons:
            console.print(f"  failure: {reason}")
    return 0


def cmd_tasks(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="Tasks", title_justify="left")
    for column in ("name", "title", "signature", "val / test", "limit", "summary"):
        table.add_column(column)
    for name, folder in discover_tasks(task_search_dirs(args.tasks_dir)).items():
        try:
            task = load_task_folder(folder)
        except TaskError as exc:
            table.add_row(name, "[red]invalid[/]", "", "", "", str(exc))
            continue
        splits = f"{task.splits['val'].count} / {task.splits['test'].count}"
        table.add_row(task.name, task.title, task.signature, splits, f"{task.time_limit_s:g} s", task.summary)
    console.print(table)
    return 0


COMMANDS = {"run": cmd_run, "demo": cmd_demo, "eval": cmd_eval, "tasks": cmd_tasks}


def main(argv: list[str] | None = None) -> int:
    console = Console()
    errors = Console(stderr=True)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, console)
    except (UsageError, TaskError, SessionError, ModelError, SandboxError) as exc:
        errors.print(f"stop-tui: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("stop-tui: interrupted; everything completed is in the session log.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
