"""`stop-tui tasks`: list the tasks a run can use."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..engine.tasks import TaskError, discover_tasks, load_task_folder, task_search_dirs

NAME = "tasks"
HELP = "list tasks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks-dir", type=Path, action="append", default=[])


def run(args: argparse.Namespace, console: Console) -> int:
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
